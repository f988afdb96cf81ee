"""Small synthetic inputs the conformance kit builds itself (fixed seeds, fast to fit).

* demand: six series of 30 periods (smooth, high, intermittent, with missing values,
  censored by stockouts), plus the edge cases every forecaster must survive;
* receipts: four lanes of 15 receipts each (three suppliers) and a lane with a single
  receipt, in the ``RECEIPTS`` schema; lanes to predict, known and unknown;
* stages: four rows of the ``STAGES`` schema and a ``COSTS`` override table;
* solver problems: a 3-stage problem, an analytic single-stage case, a two-stage network
  and a stage without demand, all built by :func:`make_problem` - the only place in the
  kit that constructs a :class:`~platform_core.components.StageProblem`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from platform_core.components import DemandSeries, StageCosts, StageProblem
from platform_core.distributions import DiscreteDistribution
from platform_core.seeds import stage_seeds

__all__ = [
    "PERIODS",
    "SERIES",
    "SMOOTH_SERIES",
    "EDGE_CASES",
    "demand_series",
    "edge_case_series",
    "censoring_pair",
    "lead_times",
    "review_periods",
    "series_seeds",
    "receipts",
    "lanes",
    "KNOWN_LANES",
    "stages",
    "cost_overrides",
    "StageInput",
    "make_problem",
    "three_stage_problem",
    "analytic_problem",
    "two_stage_network",
    "zero_demand_problem",
    "ANALYTIC_MEAN",
    "ANALYTIC_LEAD_TIME",
    "ANALYTIC_TARGETS",
]

PERIODS = 30
#: names of the series of :func:`demand_series`, in order
SERIES = ("smooth_low", "smooth", "high", "intermittent", "with_missing", "censored")
#: indices of the series without gaps, censoring or intermittence (i.i.d. Poisson / NB)
SMOOTH_SERIES = (0, 1, 2)
#: edge cases of :func:`edge_case_series`
EDGE_CASES = ("empty", "all_zero", "all_missing", "one_period", "censored")


def _series(keys: Sequence[str], rows: Sequence[np.ndarray], flags: Sequence[np.ndarray] | None = None) -> DemandSeries:
    lengths = [r.size for r in rows]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    values = np.concatenate(rows).astype(np.float64) if rows else np.zeros(0)
    if flags is None:
        stocked = np.zeros(values.size, dtype=bool)
    else:
        stocked = np.concatenate(flags).astype(bool) if flags else np.zeros(0, dtype=bool)
    return DemandSeries(keys=list(keys), values=values, stocked_out=stocked, indptr=indptr)


def _history() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(20_240_601)
    T = PERIODS
    smooth_low = rng.poisson(3.0, T).astype(np.float64)
    smooth = rng.poisson(8.0, T).astype(np.float64)
    high = rng.negative_binomial(10, 10 / 30, T).astype(np.float64)  # mean 20, var 60
    intermittent = (rng.random(T) < 0.3) * (1 + rng.poisson(2.0, T))
    with_missing = rng.poisson(5.0, T).astype(np.float64)
    with_missing[[3, 11, 12, 25]] = np.nan
    true = rng.poisson(10.0, T)
    censored = np.minimum(true, 10).astype(np.float64)  # 10 units on the shelf each period
    rows = [smooth_low, smooth, high, intermittent.astype(np.float64), with_missing, censored]
    flags = [np.zeros(T, dtype=bool)] * 5 + [true >= 10]
    return rows, flags


def demand_series() -> DemandSeries:
    """The kit's standard batch: the six series of :data:`SERIES`, 30 periods each."""
    rows, flags = _history()
    return _series([f"{name}@DC1" for name in SERIES], rows, flags)


def edge_case_series(case: str, with_regular: bool = True) -> DemandSeries:
    """A batch holding the edge case ``case`` (after a regular series when ``with_regular``).

    Cases: ``empty`` (no periods at all), ``all_zero``, ``all_missing`` (every value
    NaN), ``one_period`` (a single observed period) and ``censored`` (every period
    flagged stocked out, some of them at zero sales).
    """
    rows, _ = _history()
    regular = rows[1]
    T = PERIODS
    if case == "empty":
        edge, flag = np.zeros(0), np.zeros(0, dtype=bool)
    elif case == "all_zero":
        edge, flag = np.zeros(T), np.zeros(T, dtype=bool)
    elif case == "all_missing":
        edge, flag = np.full(T, np.nan), np.zeros(T, dtype=bool)
    elif case == "one_period":
        edge, flag = np.array([4.0]), np.zeros(1, dtype=bool)
    elif case == "censored":
        edge = rows[5].copy()
        edge[::5] = 0.0
        flag = np.ones(T, dtype=bool)
    else:
        raise ValueError(f"unknown edge case {case!r}; known: {EDGE_CASES}")
    if not with_regular:
        return _series([f"{case}@DC1"], [edge], [flag])
    return _series(["smooth@DC1", f"{case}@DC1"], [regular, edge], [np.zeros(T, dtype=bool), flag])


def censoring_pair() -> tuple[DemandSeries, DemandSeries]:
    """The same sales of two smooth series, with and without stockout flags.

    Six periods of each series with above-median sales are flagged ``stocked_out`` in
    the first batch; the second takes the same values as true demand.
    """
    rows, _ = _history()
    values = [rows[1], rows[2]]
    flags = []
    for v in values:
        f = np.zeros(v.size, dtype=bool)
        f[np.argsort(-v, kind="stable")[:6]] = True
        flags.append(f & (v > 0))
    keys = ["smooth@DC1", "high@DC1"]
    return _series(keys, values, flags), _series(keys, values, None)


def lead_times(n: int) -> list[DiscreteDistribution]:
    """Lead-time distributions [periods] for ``n`` series (fixed and random, cycling)."""
    cycle = [
        DiscreteDistribution.point(2),
        DiscreteDistribution(np.array([0.5, 0.3, 0.2]), 1),  # 1, 2 or 3 periods
        DiscreteDistribution.point(1),
        DiscreteDistribution.point(0),
    ]
    return [cycle[i % len(cycle)] for i in range(n)]


def review_periods(n: int) -> np.ndarray:
    """Review periods [periods] for ``n`` series (1, 1, 2, 1, ...)."""
    return np.array([(1, 1, 2, 1)[i % 4] for i in range(n)], dtype=np.int64)


def series_seeds(demand: DemandSeries, run_seed: int = 7) -> np.ndarray:
    """One uint64 seed per series, as the pipeline derives them."""
    return stage_seeds(run_seed, demand.keys)


# ---- lead-time inputs --------------------------------------------------------------------

#: the first KNOWN_LANES rows of :func:`lanes` have 15 receipts each
KNOWN_LANES = 4


def receipts(optional_columns: bool = True) -> pa.Table:
    """Receipts of four lanes (15 each) and one lane with a single receipt [RECEIPTS schema].

    Lead times [days]: S1 7 + Poisson(3), S2 21 + Poisson(7), S3 always 14.
    """
    rng = np.random.default_rng(20_240_602)
    lanes_ = [
        ("A1", "DC1", "S1", "Truck", "DE", "tools"),
        ("A2", "DC1", "S1", "Truck", "DE", "tools"),
        ("B1", "DC2", "S2", "Ocean", "CN", "parts"),
        ("C1", "DC1", "S3", "Air", "US", "parts"),
    ]
    rows: list[tuple[str, str, str, str, str, str, int, int, float]] = []
    start = dt.date(2024, 1, 1).toordinal()
    for sku, loc, sup, mode, country, group in lanes_:
        for k in range(15):
            base = {"S1": 7 + rng.poisson(3.0), "S2": 21 + rng.poisson(7.0), "S3": 14}[sup]
            order = start + 9 * k + int(rng.integers(0, 5))
            rows.append((sku, loc, sup, mode, country, group, order, order + int(base), float(rng.integers(5, 60))))
    rows.append(("D1", "DC2", "S2", "Ocean", "CN", "parts", start + 40, start + 68, 12.0))
    epoch = dt.date(1970, 1, 1).toordinal()
    cols: dict[str, pa.Array] = {
        "order_id": pa.array([f"PO{i:04d}" for i in range(len(rows))], pa.string()),
        "sku": pa.array([r[0] for r in rows], pa.string()),
        "location": pa.array([r[1] for r in rows], pa.string()),
        "supplier": pa.array([r[2] for r in rows], pa.string()),
        "order_date": pa.array([r[6] - epoch for r in rows], pa.int32()).cast(pa.date32()),
        "receipt_date": pa.array([r[7] - epoch for r in rows], pa.int32()).cast(pa.date32()),
        "quantity": pa.array([r[8] for r in rows], pa.float64()),
    }
    if optional_columns:
        cols["shipment_mode"] = pa.array([r[3] for r in rows], pa.string())
        cols["country"] = pa.array([r[4] for r in rows], pa.string())
        cols["product_group"] = pa.array([r[5] for r in rows], pa.string())
    return pa.table(cols)


def lanes() -> pa.Table:
    """Lanes to predict, as the planner passes them (sku, location, supplier).

    Rows: the four known lanes, the single-receipt lane, an unknown SKU of a known
    supplier, an unknown supplier, and a lane whose supplier is null.
    """
    rows = [
        ("A1", "DC1", "S1"), ("A2", "DC1", "S1"), ("B1", "DC2", "S2"), ("C1", "DC1", "S3"),
        ("D1", "DC2", "S2"), ("Z9", "DC1", "S1"), ("Z9", "DC9", "S9"), ("A1", "DC1", None),
    ]
    return pa.table({
        "sku": pa.array([r[0] for r in rows], pa.string()),
        "location": pa.array([r[1] for r in rows], pa.string()),
        "supplier": pa.array([r[2] for r in rows], pa.string()),
    })


# ---- cost inputs -------------------------------------------------------------------------


def stages(optional_columns: bool = True) -> pa.Table:
    """Four stage rows [STAGES schema]: stores, a DC with a transfer price, nulls in optional columns."""
    cols: dict[str, pa.Array] = {
        "sku": pa.array(["A1", "A1", "B1", "C1"], pa.string()),
        "location": pa.array(["STORE1", "DC1", "STORE2", "STORE3"], pa.string()),
        "unit_cost": pa.array([10.0, 8.0, 100.0, 0.5], pa.float64()),
        "price": pa.array([15.0, 8.0, 180.0, 0.6], pa.float64()),
        "carrying_rate": pa.array([0.25, 0.2, 0.3, 0.25], pa.float64()),
    }
    if optional_columns:
        cols.update({
            "location_type": pa.array(["store", "central_dc", "store", None], pa.string()),
            "service_target": pa.array([0.95, None, 0.9, None], pa.float64()),
            "ordering_cost": pa.array([20.0, None, 50.0, 0.0], pa.float64()),
            "review_period": pa.array([1, 1, 2, 1], pa.int64()),
            "moq": pa.array([None, None, 10.0, None], pa.float64()),
            "abc_class": pa.array(["A", "B", "C", None], pa.string()),
        })
    return pa.table(cols)


def cost_overrides(nulls_only: bool = False) -> pa.Table:
    """A COSTS override table for stage ``B1@STORE2`` and for a stage that does not exist.

    ``B1@STORE2`` gets holding 365 [currency/unit/year], stockout 1000 [currency/unit] and
    ordering 75 [currency/order]; ``nulls_only`` gives the same rows with every value null.
    """
    def col(values: list[float]) -> pa.Array:
        return pa.array([None] * len(values) if nulls_only else values, pa.float64())

    return pa.table({
        "sku": pa.array(["B1", "ZZ"], pa.string()),
        "location": pa.array(["STORE2", "NOWHERE"], pa.string()),
        "holding_cost": col([365.0, 1.0]),
        "stockout_cost": col([1000.0, 1.0]),
        "ordering_cost": col([75.0, 1.0]),
    })


# ---- solver problems ---------------------------------------------------------------------


@dataclass(frozen=True)
class StageInput:
    """One stage of a kit problem, in plain values (see :func:`make_problem`).

    Attributes:
        key: ``"sku@location"``.
        demand: per-period demand [units/period] (a customer-facing stage's own; an
            internal stage's is its downstream stages' demand, as the pipeline derives it).
        lead_time: replenishment lead time [periods].
        review_period: [periods].
        unit_cost: [currency/unit].
        holding_cost: [currency/unit/period].
        stockout_cost: [currency/unit].
        ordering_cost: [currency/order].
        service_target: [-]; NaN means cost-optimal.
        abc_class: ``"A"``, ``"B"``, ``"C"`` or ``""``.
        upstream: indices of the stage's upstream stages in the problem.
        quantity_per: upstream units per unit, aligned with ``upstream``.
        external_demand: the stage faces customers.
    """

    key: str
    demand: DiscreteDistribution
    lead_time: DiscreteDistribution
    review_period: int = 1
    unit_cost: float = 10.0
    holding_cost: float = 0.05
    stockout_cost: float = 2.0
    ordering_cost: float = 0.0
    service_target: float = float("nan")
    abc_class: str = ""
    upstream: tuple[int, ...] = ()
    quantity_per: tuple[float, ...] = ()
    external_demand: bool = True


def make_problem(stage_inputs: Sequence[StageInput], run_seed: int = 11, period_days: float = 7.0) -> StageProblem:
    """The :class:`StageProblem` of ``stage_inputs``: the one place the kit builds one.

    Seeds are derived from ``run_seed`` and the keys as the pipeline does; the
    cost-optimal service is the critical ratio ``p / (p + h)``.
    """
    keys = [s.key for s in stage_inputs]
    h = np.array([s.holding_cost for s in stage_inputs], dtype=np.float64)
    p = np.array([s.stockout_cost for s in stage_inputs], dtype=np.float64)
    return StageProblem(
        keys=keys,
        period_demand=[s.demand for s in stage_inputs],
        lead_time=[s.lead_time for s in stage_inputs],
        review_period=np.array([s.review_period for s in stage_inputs], dtype=np.int64),
        unit_cost=np.array([s.unit_cost for s in stage_inputs], dtype=np.float64),
        costs=StageCosts(
            holding_cost=h,
            stockout_cost=p,
            ordering_cost=np.array([s.ordering_cost for s in stage_inputs], dtype=np.float64),
            cost_optimal_service=p / (p + h),
        ),
        service_target=np.array([s.service_target for s in stage_inputs], dtype=np.float64),
        upstream=[np.array(s.upstream, dtype=np.int64) for s in stage_inputs],
        quantity_per=[np.array(s.quantity_per, dtype=np.float64) for s in stage_inputs],
        seeds=stage_seeds(run_seed, keys),
        abc_class=np.array([s.abc_class for s in stage_inputs], dtype=str),
        external_demand=np.array([s.external_demand for s in stage_inputs], dtype=bool),
        period_days=float(period_days),
    )


def three_stage_problem() -> StageProblem:
    """Three independent stages with distinct demand scales (3, 12, 40 units/period).

    A fill target with a fixed lead time, a cost-optimal stage with a random lead time,
    and a stage reviewed every two periods.
    """
    return make_problem([
        StageInput("A1@STORE1", DiscreteDistribution.poisson(3.0), DiscreteDistribution.point(1),
                   service_target=0.95, abc_class="A"),
        StageInput("B1@STORE2", DiscreteDistribution.poisson(12.0),
                   DiscreteDistribution(np.array([0.3, 0.5, 0.2]), 1),
                   holding_cost=0.1, stockout_cost=0.9, abc_class="B"),
        StageInput("C1@STORE3", DiscreteDistribution.poisson(40.0), DiscreteDistribution.point(2),
                   review_period=2, unit_cost=2.0, holding_cost=0.01, stockout_cost=0.5,
                   service_target=0.90, abc_class="C"),
    ])


#: the analytic case: Poisson demand [units/period], fixed lead time [periods], targets [-]
ANALYTIC_MEAN = 5.0
ANALYTIC_LEAD_TIME = 2
ANALYTIC_TARGETS = (0.80, 0.95, 0.99)


def analytic_problem() -> StageProblem:
    """Three copies of one single-stage case, one per target of :data:`ANALYTIC_TARGETS`.

    Poisson(5) demand per period, a fixed lead time of 2 periods, review every period;
    the costs put the cost-optimal service (0.5) below every target.
    """
    return make_problem([
        StageInput(f"P{k}@STORE", DiscreteDistribution.poisson(ANALYTIC_MEAN),
                   DiscreteDistribution.point(ANALYTIC_LEAD_TIME), holding_cost=1.0, stockout_cost=1.0,
                   service_target=t)
        for k, t in enumerate(ANALYTIC_TARGETS)
    ])


def two_stage_network() -> StageProblem:
    """A warehouse (stage 0, no customers) supplying a store (stage 1, fill target 0.95)."""
    store_demand = DiscreteDistribution.poisson(6.0)
    return make_problem([
        StageInput("A1@DC1", store_demand, DiscreteDistribution.point(2), unit_cost=8.0,
                   holding_cost=0.03, stockout_cost=0.12, external_demand=False),
        StageInput("A1@STORE1", store_demand, DiscreteDistribution.point(1), holding_cost=0.05,
                   stockout_cost=2.0, service_target=0.95, upstream=(0,), quantity_per=(1.0,)),
    ])


def zero_demand_problem() -> StageProblem:
    """A stage whose demand is zero (no history) next to a regular stage."""
    return make_problem([
        StageInput("Z1@STORE1", DiscreteDistribution.point(0), DiscreteDistribution.point(1),
                   service_target=0.95),
        StageInput("A1@STORE1", DiscreteDistribution.poisson(4.0), DiscreteDistribution.point(1),
                   service_target=0.95),
    ])
