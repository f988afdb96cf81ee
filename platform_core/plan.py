"""Plan a run: lay the stages out network by network, cut batches, gather shared inputs.

Planning fits no model: it receives the network structure
(:mod:`platform_core.networks`), the fitted lead times and costs
(:mod:`platform_core.fitting`) and the batch settings, and builds the flat arrays every
batch reads (demand matrix, lead-time PMFs, costs) and the batches themselves.

Everything here runs on the driver and is vectorised; the batch function
(:mod:`platform_core.batch`) receives only a :class:`BatchSpec` and the shared arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.components import ComponentSpec, Forecaster, Solver, StageCosts
from platform_core.current_policy import CurrentPolicies, planned_current_policies
from platform_core.data.columns import float_column
from platform_core.data.schemas import Dataset
from platform_core.data.signals import signal_array
from platform_core.data.stage_index import StageIndex
from platform_core.distributions import DiscreteDistribution
from platform_core.fitting import StageLeadTimes
from platform_core.networks import NetworkStructure
from platform_core.overrides import override_bounds

__all__ = ["BatchSettings", "BatchSpec", "SharedInputs", "cut_batches", "plan_run"]


@dataclass(frozen=True)
class BatchSettings:
    """What every batch needs to know besides the data: seed, period and components.

    Attributes:
        seed: the run seed [-].
        period_days: length of one period [days].
        forecaster: the forecaster chosen, with its prepared parameters.
        solver: the solver chosen, with its prepared parameters.
        lead_time_model: name of the lead-time model (fitted on the driver).
    """

    seed: int
    period_days: float
    forecaster: ComponentSpec[Forecaster]
    solver: ComponentSpec[Solver]
    lead_time_model: str


@dataclass(frozen=True)
class BatchSpec:
    """A contiguous range ``[start, stop)`` of stages in planned order (whole networks).

    ``work`` is the planner's estimate of the batch's work [simulated stage-periods,
    see :func:`network_work`].
    """

    batch_id: int
    start: int
    stop: int
    work: float = 0.0


@dataclass
class SharedInputs:
    """Per-stage inputs in planned order, shared by every batch (put in Ray's store once).

    Attributes:
        sku, location: identifiers per stage (numpy unicode arrays).
        input_row: the stage's row in the input ``stages`` file (0-based).
        demand: [stages, periods] external demand [units/period], NaN = missing.
        stocked_out: [stages, periods] censoring flags.
        has_demand: stage has any external demand row.
        edge_up, edge_down, edge_qty: arcs in planned indices, sorted by ``edge_up``.
        lt_pmf, lt_ptr, lt_off: lead-time PMFs [periods] (CSR).
        lead_time_source: where each lead time came from (lane, supplier, transit, default).
        review_period: [periods].
        unit_cost: [currency/unit].
        holding_cost, stockout_cost, ordering_cost, cost_optimal_service: from the cost model.
        service_target: [-], NaN = cost-optimal.
        abc_class: "A", "B", "C" or "" per stage.
        network_id: the independent network (connected component) of each stage;
            non-decreasing in planned order, so a network is a contiguous range.
        settings: seed, period and components of the run.
        current_policy: today's policy per stage (the input's ``current_policy``), None
            without one.
        level_min, level_max: the planner's overrides [units], NaN where free (a pin sets
            both); None when the dataset has no ``overrides`` table.
        shelf_life: [periods] per stage, ``inf`` where it does not perish; None when the
            stages table has no ``shelf_life_periods`` column.
        moq, order_multiple: the stages' minimum order quantity and order multiple
            [units], 0 where none.
        signals: [stages, periods, signals] the dataset's ``signals`` on the demand grid
            [signal units], NaN = not observed; None without a ``signals`` table or when
            the forecaster does not declare ``uses_signals``.
        signal_names: the name of each signal (last axis of ``signals``).
        cost_columns: the cost model's extra output columns (:attr:`StageCosts.columns`),
            in INPUT order; batches do not read them, the driver appends them after the merge.
    """

    sku: np.ndarray
    location: np.ndarray
    input_row: np.ndarray
    demand: np.ndarray
    stocked_out: np.ndarray
    has_demand: np.ndarray
    edge_up: np.ndarray
    edge_down: np.ndarray
    edge_qty: np.ndarray
    lt_pmf: np.ndarray
    lt_ptr: np.ndarray
    lt_off: np.ndarray
    lead_time_source: np.ndarray
    review_period: np.ndarray
    unit_cost: np.ndarray
    holding_cost: np.ndarray
    stockout_cost: np.ndarray
    ordering_cost: np.ndarray
    cost_optimal_service: np.ndarray
    service_target: np.ndarray
    abc_class: np.ndarray
    network_id: np.ndarray
    settings: BatchSettings
    current_policy: CurrentPolicies | None = None
    level_min: np.ndarray | None = None
    level_max: np.ndarray | None = None
    shelf_life: np.ndarray | None = None
    moq: np.ndarray | None = None
    order_multiple: np.ndarray | None = None
    signals: np.ndarray | None = None
    signal_names: tuple[str, ...] = ()
    cost_columns: dict[str, np.ndarray] | None = None

    def lead_time(self, i: int) -> DiscreteDistribution:
        """Lead-time distribution of planned stage ``i`` [periods]."""
        return DiscreteDistribution(self.lt_pmf[self.lt_ptr[i] : self.lt_ptr[i + 1]], int(self.lt_off[i]))


def _demand_matrix(
    demand: pa.Table, index: StageIndex, rank: np.ndarray, period_days: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand [planned stages, periods] and censoring flags, filled one record batch at a time.

    No per-row array of the whole table is built (87 M rows at a million SKU-locations);
    validation has already guaranteed that every row names a stage.
    """
    n = rank.size
    period = demand.column("period")
    lo_hi = pc.min_max(period).as_py() if demand.num_rows else {"min": None, "max": None}
    if lo_hi["min"] is None:
        return np.full((n, 1), np.nan), np.zeros((n, 1), dtype=bool), np.zeros(n, dtype=bool)
    first = int(pa.scalar(lo_hi["min"], pa.date32()).cast(pa.int32()).as_py())
    last = int(pa.scalar(lo_hi["max"], pa.date32()).cast(pa.int32()).as_py())
    n_periods = int(np.floor((last - first) / float(period_days))) + 1
    matrix = np.full((n, n_periods), np.nan)
    flags = np.zeros((n, n_periods), dtype=bool)
    has = np.zeros(n, dtype=bool)
    extra = ("period", "quantity") + (("stocked_out",) if "stocked_out" in demand.column_names else ())
    for _, rows, batch in index.batches(demand, columns=extra):
        planned = rank[rows]
        days = batch.column("period").cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
        pidx = np.floor((days - first) / float(period_days)).astype(np.int64)
        matrix[planned, pidx] = batch.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64)
        if "stocked_out" in batch.schema.names:
            so = batch.column("stocked_out").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
            flags[planned, pidx] = so
        has[planned] = True
    return matrix, flags, has


def cut_batches(work: np.ndarray, stops: np.ndarray, target: float) -> list[BatchSpec]:
    """Cut consecutive networks into batches of about ``target`` work each.

    Args:
        work: estimated work of each network, in planned order.
        stops: planned index one past each network's last stage.
        target: work per batch aimed at (> 0).

    Returns:
        ``ceil(total / target)`` batches (fewer when there are fewer networks or a
        network is larger than a share), each a run of whole networks ending at the
        network boundary whose cumulative work is nearest to ``k * total / batches``.
        A cut is then off its ideal by at most half the work of the network the ideal
        falls in (a whole network when that is the first one), so a batch's work is
        within about the largest network's work of ``total / batches``.
    """
    n_net = int(work.size)
    if n_net == 0:
        return []
    cum = np.cumsum(work)
    total = float(cum[-1])
    n_batches = max(1, min(n_net, int(np.ceil(total / target - 1e-9)) if target > 0 else 1))
    ideal = total * np.arange(1, n_batches) / n_batches
    # network k ends where the cumulative work is cum[k]; pick the nearest end per cut
    right = np.searchsorted(cum, ideal, side="left").clip(0, n_net - 1)
    left = (right - 1).clip(0, n_net - 1)
    nearer_left = np.abs(cum[left] - ideal) <= np.abs(cum[right] - ideal)
    ends = np.unique(np.where(nearer_left, left, right))
    ends = ends[ends < n_net - 1]
    ends = np.append(ends, n_net - 1)
    batches: list[BatchSpec] = []
    first_net = 0
    for end in ends.tolist():
        start = int(stops[first_net - 1]) if first_net else 0
        w = float(cum[end] - (cum[first_net - 1] if first_net else 0.0))
        batches.append(BatchSpec(len(batches), start, int(stops[end]), w))
        first_net = end + 1
    return batches


def _strings(column: pa.ChunkedArray, order: np.ndarray) -> np.ndarray:
    """``column`` in planned ``order`` as a numpy unicode array."""
    if not order.size:
        return np.zeros(0, dtype=str)
    return np.asarray(column.take(pa.array(order)).to_numpy(zero_copy_only=False)).astype(str)


def plan_run(
    dataset: Dataset,
    structure: NetworkStructure,
    lead_times: StageLeadTimes,
    costs: StageCosts,
    settings: BatchSettings,
    batch_stages: int,
) -> tuple[SharedInputs, list[BatchSpec]]:
    """Build the shared inputs and the batches of a run.

    Args:
        dataset: the validated input.
        structure: its networks and planned order (:func:`platform_core.networks.index_networks`).
        lead_times: fitted lead time per stage, input order (:func:`platform_core.fitting.fit_lead_times`).
        costs: fitted costs per stage, input order (:func:`platform_core.fitting.fit_costs`).
        settings: seed, period and components; batches instantiate the components from it.
        batch_stages: single-stage networks' worth of the solver's work per batch.
    """
    stages = dataset.stages
    n = structure.n_stages
    order, rank = structure.order, structure.rank
    grid = dataset.demand_grid
    if grid is not None and grid.period_days != settings.period_days:
        raise ValueError(
            f"the demand was put on a {grid.period_days:g}-day grid but the run plans {settings.period_days:g}-day "
            "periods: load the dataset with load_dataset(path, period_days=config.run.period_days)"
        )

    # --- batches: whole networks, sized by the solver's estimated work ------------------
    solver = settings.solver.build()
    bounds = override_bounds(dataset, structure.index)
    if bounds is not None and not solver.honours_overrides:
        raise ValueError(
            f"solver {settings.solver.name!r} does not honour overrides, and "
            f"{dataset.sources.get('overrides', 'the overrides table')} has {dataset.tables['overrides'].num_rows} "
            "row(s): use a solver that does (multi_echelon, single_echelon) or remove the overrides file")
    target = max(1, int(batch_stages)) * float(solver.work_estimate(np.ones(1))[0])
    batches = cut_batches(solver.work_estimate(structure.network_sizes), structure.network_stops, target)

    planned_lt = lead_times.reordered(order)
    target_col = float_column(stages, "service_target", np.nan)
    review = float_column(stages, "review_period", 1.0).astype(np.int64)
    # demand last: the matrix is the largest array
    matrix, flags, has = _demand_matrix(dataset.demand, structure.index, rank, settings.period_days)
    signal_names, signals = signal_array(
        dataset.get("signals") if settings.forecaster.cls.uses_signals else None, dataset.demand,
        structure.index, rank, matrix.shape[1], settings.period_days)

    up, down = structure.up, structure.down
    e_order = np.argsort(rank[up], kind="stable") if up.size else np.zeros(0, dtype=np.int64)
    shared = SharedInputs(
        sku=_strings(stages.column("sku"), order),
        location=_strings(stages.column("location"), order),
        input_row=order.astype(np.int64),
        demand=matrix,
        stocked_out=flags,
        has_demand=has,
        edge_up=rank[up][e_order],
        edge_down=rank[down][e_order],
        edge_qty=structure.quantity_per[e_order],
        lt_pmf=planned_lt.pmf,
        lt_ptr=planned_lt.ptr,
        lt_off=planned_lt.offset,
        lead_time_source=planned_lt.source,
        review_period=review[order],
        unit_cost=float_column(stages, "unit_cost", 0.0)[order],
        holding_cost=np.asarray(costs.holding_cost)[order],
        stockout_cost=np.asarray(costs.stockout_cost)[order],
        ordering_cost=np.asarray(costs.ordering_cost)[order],
        cost_optimal_service=np.asarray(costs.cost_optimal_service)[order],
        service_target=target_col[order],
        abc_class=(
            np.array(pc.fill_null(stages.column("abc_class"), "").to_pylist(), dtype=str)[order]
            if "abc_class" in stages.column_names and n
            else np.full(n, "", dtype=str)
        ),
        network_id=structure.network_id,
        settings=settings,
        current_policy=planned_current_policies(dataset.get("current_policy"), structure.index, rank),
        level_min=None if bounds is None else bounds[0][order],
        level_max=None if bounds is None else bounds[1][order],
        shelf_life=(float_column(stages, "shelf_life_periods", np.inf)[order]
                    if "shelf_life_periods" in stages.column_names else None),
        moq=float_column(stages, "moq", 0.0)[order],
        order_multiple=float_column(stages, "order_multiple", 0.0)[order],
        signals=signals,
        signal_names=signal_names,
        cost_columns=costs.columns or None,
    )
    return shared, batches
