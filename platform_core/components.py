"""Base classes of the four plugin families: forecaster, lead-time model, cost model, solver.

Components follow the estimator style: ``__init__`` stores parameters, ``fit`` returns
``self``, fitted state ends in ``_``; class attributes are capability flags.  A plugin
registers component *classes* under a name (see :mod:`platform_core.hookspecs`); the
configuration picks one by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

import numpy as np
import pyarrow as pa

from platform_core.distributions import DiscreteDistribution

if TYPE_CHECKING:
    from platform_core.artefacts import Artefact
    from platform_core.data.schemas import Dataset
    from platform_core.run_context import RunContext

__all__ = [
    "Component",
    "ComponentSpec",
    "DemandSeries",
    "Forecaster",
    "LeadTimeModel",
    "StageCosts",
    "CostModel",
    "StageProblem",
    "Solver",
    "StagePolicies",
    "RECOMMENDATION_SCHEMA",
]


class Component:
    """What every component class (forecaster, lead-time model, cost model, solver) has.

    Two optional class-level steps, both run on the driver, never in a batch:

    * ``prepare(params, run)`` settles the component's parameters before batches start
      (e.g. pins a registry alias to a version so that every batch uses the same one);
      it returns the parameters the batches will use.  The default returns them as given.
    * ``warm_up()`` runs once per worker while the driver loads and plans (load compiled
      kernels, build lookup tables).  The default does nothing.

    One optional instance method, called on a fitted (or solved) component:

    * ``fitted_artefacts()`` returns what it learned that a tracking plugin should
      version (:class:`platform_core.artefacts.Artefact`); the default returns none.
      Components fitted in batches (forecasters, solvers) must return per-stage
      artefacts (see :mod:`platform_core.artefacts`).
    """

    @classmethod
    def prepare(cls, params: Mapping[str, Any], run: RunContext) -> dict[str, Any]:
        """The parameters batches use, settled on the driver (default: unchanged)."""
        return dict(params)

    @classmethod
    def warm_up(cls) -> None:
        """Make the first batch on a worker fast (default: nothing)."""

    def fitted_artefacts(self) -> list[Artefact]:
        """Fitted state to version in a model registry (default: none)."""
        return []


C = TypeVar("C")


@dataclass(frozen=True)
class ComponentSpec(Generic[C]):
    """A chosen component: its registered name, its class and its (prepared) parameters."""

    name: str
    cls: type[C]
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> C:
        """A new instance with the parameters."""
        return self.cls(**self.params)


@dataclass
class DemandSeries:
    """Many demand series as flat arrays plus offsets (CSR), oldest period first.

    Attributes:
        keys: one key per series (``"sku@location"``).
        values: demand [units/period], NaN where missing.
        stocked_out: True where the period was censored by a stockout.
        indptr: ``values[indptr[i]:indptr[i+1]]`` is series ``i``.
        attributes: optional per-series attributes (item features) for global models.
        exogenous: optional signals beyond the history, ``(values.size, k)`` aligned with
            ``values`` (row ``j`` is the period of ``values[j]``) [signal units], NaN where
            not observed; None without signals.
        exogenous_names: the name of each of the ``k`` signal columns.
    """

    keys: list[str]
    values: np.ndarray
    stocked_out: np.ndarray
    indptr: np.ndarray
    attributes: pa.Table | None = None
    exogenous: np.ndarray | None = None
    exogenous_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.keys)

    def series(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Values and censoring flags of series ``i``."""
        a, b = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.values[a:b], self.stocked_out[a:b]


class Forecaster(Component, ABC):
    """Learns a demand distribution per series.

    Output per series: the per-period demand distribution (what the simulation samples)
    and the lead-time-demand distribution for a given lead-time distribution.
    """

    handles_intermittent: ClassVar[bool] = False
    handles_censoring: ClassVar[bool] = False
    is_global: ClassVar[bool] = False  # fits one model across series
    #: reads ``DemandSeries.exogenous`` (the dataset's ``signals``): a run builds the
    #: signal array only for a forecaster that declares it
    uses_signals: ClassVar[bool] = False

    @abstractmethod
    def fit(self, demand: DemandSeries) -> Self:
        """Fit on every series of ``demand``; returns self."""

    @abstractmethod
    def period_demand(self) -> list[DiscreteDistribution]:
        """Per-period demand distribution [units/period] of each fitted series."""

    def lead_time_demand(
        self,
        lead_times: list[DiscreteDistribution],
        review_periods: np.ndarray,
        seeds: np.ndarray,
    ) -> list[DiscreteDistribution]:
        """Distribution of demand over lead time + review period [units], per series.

        The default convolves the per-period distribution over a random number of periods;
        forecasters with serial dependence (bootstrap) override it.
        """
        out = []
        for dist, lt, r in zip(self.period_demand(), lead_times, review_periods, strict=True):
            out.append(compound(dist, lt, int(r)))
        return out

    def set_replenishment(self, lead_times: list[DiscreteDistribution], review_periods: np.ndarray) -> None:
        """Tell the fitted forecaster each series' lead time [periods] and review period [periods].

        A run calls it after ``fit`` and before ``period_demand``: a forecaster calibrated
        for the lead-time-demand sum the solvers form (``calibrated``) recalibrates for
        these; the default ignores them.
        """

    #: its fit pools parameters across the series fitted together (e.g. per demand
    #: class): the run then calls :meth:`pooled_params` once on the driver, so that a
    #: stage's numbers never depend on which batch it lands in
    pools_across_series: ClassVar[bool] = False

    @classmethod
    def pooled_params(
        cls, params: Mapping[str, Any], demand: DemandSeries, lead_times: list[DiscreteDistribution],
        review_periods: np.ndarray,
    ) -> dict[str, Any]:
        """``params`` with the pooled parameters fixed from ``demand`` (run-wide sample).

        Called on the driver, before any batch, for a forecaster that declares
        ``pools_across_series``; the batches build the forecaster with the returned
        parameters.  The default returns ``params`` unchanged.
        """
        return dict(params)

    def demand_level_ratios(self) -> np.ndarray | None:
        """Equally likely ratios of the next horizon's mean demand to the forecast mean [-].

        A (series, k) array from the forecaster's own backtests; None (the default) when
        unknown.  The fill-rate interval of each recommendation draws its demand level from
        them.
        """
        return None


def compound(period: DiscreteDistribution, lead_time: DiscreteDistribution, review: int) -> DiscreteDistribution:
    """Demand over ``L + review`` periods, L ~ ``lead_time``, periods i.i.d. ``period``."""
    lmax = lead_time.offset + lead_time.pmf.size - 1 + review
    acc = DiscreteDistribution.point(0)
    powers: list[DiscreteDistribution] = [acc]
    for _ in range(lmax):
        acc = acc.convolve(period)
        powers.append(acc)
    size = max(p.offset + p.pmf.size for p in powers)
    pmf = np.zeros(size)
    for k, w in zip(lead_time.support, lead_time.pmf, strict=True):
        p = powers[int(k) + review]
        pmf[p.offset : p.offset + p.pmf.size] += w * p.pmf
    return DiscreteDistribution(pmf, 0)


class LeadTimeModel(Component, ABC):
    """Learns a lead-time distribution per lane from receipts.

    A lane is ``(sku, location, supplier)``.  Lead times are returned in periods.
    """

    uses_features: ClassVar[bool] = False

    @abstractmethod
    def fit(self, receipts: pa.Table) -> Self:
        """Fit on the receipts table (schema ``platform_core.data.schemas.RECEIPTS``)."""

    @abstractmethod
    def predict(self, lanes: pa.Table, period_days: float) -> list[DiscreteDistribution | None]:
        """Lead-time distribution [periods] per lane row (None when the lane is unknown)."""

    def fit_for_lanes(self, receipts: pa.Table, lanes: pa.Table) -> Self:
        """Fit so that ``predict(lanes)`` equals what a fit on all ``receipts`` predicts for ``lanes``.

        A model whose lane predictions depend on a known part of the receipts may fit on
        that part only (an incremental run predicts a few lanes out of millions of
        receipts).  The default fits on all of them.
        """
        return self.fit(receipts)


@dataclass
class StageCosts:
    """Costs per stage, aligned with the stages table.

    Attributes:
        holding_cost: [currency/unit/period].
        stockout_cost: [currency/unit] per unit backordered (once per unit).
        ordering_cost: [currency/order].
        cost_optimal_service: critical ratio p / (p + h) [-].
        columns: extra per-stage output columns of the cost model (name -> array aligned
            with the stages table), e.g. a learned estimate, its interval and its driver;
            a run appends them to ``recommendations.parquet``. Empty by default.
    """

    holding_cost: np.ndarray
    stockout_cost: np.ndarray
    ordering_cost: np.ndarray
    cost_optimal_service: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)


class CostModel(Component, ABC):
    """Prices holding, ordering and stockouts per stage."""

    def fit(self, dataset: Dataset, period_days: float) -> Self:
        """Learn from the whole validated dataset before :meth:`stage_costs` (default: nothing).

        A cost model that learns from history (order lines, expedites, the bill of
        materials) overrides it; the run calls it once on the driver.
        """
        return self

    @abstractmethod
    def stage_costs(
        self, stages: pa.Table, overrides: pa.Table | None, period_days: float
    ) -> StageCosts:
        """Costs of every stage row of ``stages`` (overrides keyed by sku, location)."""


@dataclass
class StageProblem:
    """What a solver receives for one batch of SKU-locations.

    Attributes:
        keys: ``"sku@location"`` per stage.
        period_demand: per-period demand distribution per stage [units/period].
        lead_time: replenishment lead time per stage [periods].
        review_period: review period per stage [periods].
        unit_cost: [currency/unit].
        costs: :class:`StageCosts` per stage.
        service_target: target per stage [-]; NaN means cost-optimal.
        upstream: per stage, indices (into this batch) of its upstream stages; empty
            for stages supplied externally.
        quantity_per: per stage, quantity per upstream arc, aligned with ``upstream``.
        seeds: per-stage uint64 seed derived from the run seed and the key.
        abc_class: ``"A"``, ``"B"``, ``"C"`` or ``""`` (not given) per stage; None when
            the problem does not come from a dataset.
        external_demand: per stage, whether it has demand rows of its own; None when
            unknown.
        period_days: length of one period [days].
        demand_history: ``float64 [stages, periods]`` each stage's own external demand
            per period of the run's period grid [units/period], the same periods (columns)
            for every stage of the batch, ``NaN`` where a stage has no demand row; None
            when the problem does not come from a dataset. Solvers that simulate a
            network jointly learn the dependence between its stages' demand from it.
        level_min, level_max: a planner's override per stage (the ``overrides`` table):
            the least and the largest base-stock level the solver may set [units], NaN
            where free; a pinned level has ``level_min == level_max``. None when no stage
            of the problem has an override. Solvers that honour them declare
            ``honours_overrides``.
        shelf_life: per stage, periods a unit can be sold from its receipt [periods],
            ``inf`` where it does not perish; None when no stage has a shelf life (the
            stages table has no ``shelf_life_periods``). Read by the ``perishable`` solver.
        moq: minimum order quantity per stage [units], 0 where none; None when unknown.
        order_multiple: orders are rounded up to a multiple of this per stage [units],
            0 where none; None when unknown.
    """

    keys: list[str]
    period_demand: list[DiscreteDistribution]
    lead_time: list[DiscreteDistribution]
    review_period: np.ndarray
    unit_cost: np.ndarray
    costs: StageCosts
    service_target: np.ndarray
    upstream: list[np.ndarray]
    quantity_per: list[np.ndarray]
    seeds: np.ndarray
    abc_class: np.ndarray | None = None
    external_demand: np.ndarray | None = None
    period_days: float = 7.0
    demand_history: np.ndarray | None = None
    level_min: np.ndarray | None = None
    level_max: np.ndarray | None = None
    shelf_life: np.ndarray | None = None
    moq: np.ndarray | None = None
    order_multiple: np.ndarray | None = None


RECOMMENDATION_SCHEMA = pa.schema(
    [
        pa.field("sku", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("message", pa.string()),
        pa.field("forecaster", pa.string()),
        pa.field("lead_time_model", pa.string()),
        pa.field("solver", pa.string()),
        pa.field("policy_type", pa.string()),
        pa.field("service_metric", pa.string()),
        pa.field("service_target", pa.float64()),
        pa.field("target_source", pa.string()),
        pa.field("base_stock_level", pa.float64()),
        pa.field("reorder_point", pa.float64()),
        pa.field("order_up_to", pa.float64()),
        # (r, Q)'s Q [units] (``lot_sizing``); null for other policies
        pa.field("order_quantity", pa.float64()),
        pa.field("safety_stock", pa.float64()),
        pa.field("mean_demand_per_period", pa.float64()),
        pa.field("mean_lead_time_periods", pa.float64()),
        pa.field("mean_lead_time_demand", pa.float64()),
        pa.field("expected_fill_rate", pa.float64()),
        pa.field("fill_rate_se", pa.float64()),
        pa.field("expected_cycle_service", pa.float64()),
        pa.field("cycle_service_se", pa.float64()),
        pa.field("mean_on_hand", pa.float64()),
        pa.field("mean_backorders", pa.float64()),
        pa.field("inventory_investment", pa.float64()),
        pa.field("holding_cost_per_period", pa.float64()),
        pa.field("stockout_cost_per_period", pa.float64()),
        # guaranteed-service model only (``guaranteed_service``); null for other solvers
        pa.field("committed_service_time_periods", pa.float64()),
        pa.field("net_replenishment_time_periods", pa.float64()),
        pa.field("gsm_safety_stock_cost_per_period", pa.float64()),
        # why this level (platform_core.explain, docs/explain.md): stock by purpose and
        # safety stock by cause [units], its value and the money at the level [currency],
        # days of supply [days] and a sentence
        pa.field("cycle_stock", pa.float64()),
        pa.field("pipeline_stock", pa.float64()),
        pa.field("safety_stock_from_demand_variability", pa.float64()),
        pa.field("safety_stock_from_lead_time_variability", pa.float64()),
        pa.field("safety_stock_from_review_and_lot_size", pa.float64()),
        pa.field("safety_stock_from_upstream", pa.float64()),
        pa.field("safety_stock_from_other", pa.float64()),
        pa.field("safety_stock_value", pa.float64()),
        pa.field("days_of_supply_safety_stock", pa.float64()),
        pa.field("days_of_supply_level", pa.float64()),
        pa.field("investment_at_level", pa.float64()),
        pa.field("explanation", pa.string()),
        # compared with today (platform_core.compare); null where the stage has no current policy
        pa.field("current_policy_type", pa.string()),
        pa.field("current_level", pa.float64()),
        pa.field("current_reorder_point", pa.float64()),
        pa.field("current_expected_fill_rate", pa.float64()),
        pa.field("current_fill_rate_se", pa.float64()),
        pa.field("current_mean_on_hand", pa.float64()),
        pa.field("current_investment_at_level", pa.float64()),
        pa.field("change_level_units", pa.float64()),
        pa.field("change_investment_at_level", pa.float64()),
        pa.field("change_expected_fill_rate", pa.float64()),
        pa.field("change_driver", pa.string()),
        # planner's overrides (docs/overrides.md); null where the network has none
        pa.field("override", pa.string()),
        pa.field("override_level_change", pa.float64()),
        pa.field("override_cost_per_period", pa.float64()),
        pa.field("override_investment_change", pa.float64()),
        pa.field("override_service_change", pa.float64()),
        # 80 % interval of the fill the next periods realise (docs/calibration.md)
        pa.field("fill_rate_interval_low", pa.float64()),
        pa.field("fill_rate_interval_high", pa.float64()),
        # perishable stock (``perishable`` solver, docs/optimisation.md); null for other solvers
        pa.field("expected_outdated_per_period", pa.float64()),
        pa.field("waste_cost_per_period", pa.float64()),
    ]
)
"""One row per input SKU-location. Units: levels [units], investment [currency],
costs [currency/period], service [-], times [periods].

The last three columns are the guaranteed-service model's (``guaranteed_service``, see
docs/gsm.md) and null for other solvers: the committed outbound service time ``S_j``, the
net replenishment time ``SI_j + T_j - S_j`` and the GSM objective's safety-stock holding
cost of the stage.

The columns from ``cycle_stock`` to ``explanation`` say why the level is what it is
(:mod:`platform_core.explain`, docs/explain.md); ``inventory_investment`` is the expected
on-hand value (mean on hand x unit cost), ``investment_at_level`` the money tied up at the
level (level x unit cost).

The ``current_*`` and ``change_*`` columns compare the recommendation with the policy in
use today (the input's ``current_policy`` table, simulated on the recommendation's paths;
see docs/running.md): ``current_level`` is today's order-up-to level / base-stock level /
max [units], ``current_investment_at_level`` and ``change_investment_at_level`` are
levels x unit cost [currency], ``change_*`` = recommended - current.

The ``override*`` columns describe a planner's overrides (docs/overrides.md): ``override``
is the row's own override (``"pinned at 40"``, ``"min 30"``, ``"min 30, max 50"``, ``""``
where the row has none but its network has); the other four compare the run with the
same network solved without its overrides, on common random numbers: the row's level
change [units] and, per network (the same value on each of its rows), the change of its
cost [currency/period] (holding cost, plus stockout cost where the service is
cost-optimal), of its inventory investment [currency] and of its customer-facing
demand-weighted fill rate [-]. All null for networks without one."""


@dataclass
class StagePolicies:
    """Given replenishment policies of a problem's stages, in the order of ``problem.keys``.

    Attributes:
        kind: engine policy name per stage (``base_stock``, ``sS``, ``min_max``, ``rQ``).
        reorder_point: ``s`` / ``r`` [units], NaN where the kind has none.
        order_up_to: ``S`` / base-stock level / max [units], NaN where the kind has none.
        order_quantity: ``Q`` of ``rQ`` [units], NaN elsewhere.
    """

    kind: list[str]
    reorder_point: np.ndarray
    order_up_to: np.ndarray
    order_quantity: np.ndarray


class Solver(Component, ABC):
    """Sets a policy per stage of a :class:`StageProblem`.

    Capabilities the planner reads (declare them; an instance may override the
    simulation sizes in ``__init__`` from its parameters):

    Attributes:
        network_aware: sets the stages of a network jointly (uses upstream links).
        honours_overrides: keeps every level within ``StageProblem.level_min`` /
            ``level_max`` (a run with an ``overrides`` table refuses other solvers).
        replications: simulated replications per evaluation [-].
        periods: measured periods per replication [periods].
        warmup: warm-up periods per replication [periods].
        work_factor: relative cost of one simulated stage-period [-].
        work_exponent: how a network's cost grows with its number of stages [-] (1: linear;
            2 for a search that simulates the whole network once per stage and round).
    """

    network_aware: ClassVar[bool] = False
    honours_overrides: ClassVar[bool] = False
    replications: int = 1
    periods: int = 1
    warmup: int = 0
    work_factor: ClassVar[float] = 1.0
    work_exponent: ClassVar[float] = 1.0

    def work_estimate(self, stages: np.ndarray) -> np.ndarray:
        """Estimated work of networks of ``stages`` stages [simulated stage-periods].

        ``work_factor * replications * (periods + warmup) * stages ** work_exponent``.
        """
        per_stage = float(self.replications or 1) * (float(self.periods or 1) + float(self.warmup or 0))
        return self.work_factor * per_stage * np.asarray(stages, dtype=np.float64) ** self.work_exponent

    @abstractmethod
    def solve(self, problem: StageProblem) -> pa.Table:
        """Return one row per stage, in the order of ``problem.keys``.

        Columns: ``RECOMMENDATION_SCHEMA`` minus sku/location/status/message/forecaster/
        lead_time_model, which the pipeline fills.  A stage whose policy could not be set
        gets NaNs and is reported as an error by the pipeline.
        """

    def evaluate_policies(self, problem: StageProblem, policies: StagePolicies) -> pa.Table:
        """Simulate given policies the way :meth:`solve` checks its own (same paths).

        Used to evaluate today's policy against the recommendation.  One row per stage in
        the order of ``problem.keys`` with ``fill_rate``, ``fill_rate_se`` [-],
        ``on_hand`` and ``backorders`` [units] (means over the simulated periods).

        Raises:
            NotImplementedError: the solver cannot (the default); the comparison then
                reports levels and investment without simulated service.
        """
        raise NotImplementedError(f"{type(self).__name__} does not evaluate given policies")
