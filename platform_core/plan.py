"""Plan a run: group stages into independent SKU networks and cut batches.

It also gathers the per-stage inputs the batches share (demand matrix, lead times,
costs).

Everything here runs on the driver and is vectorised; the batch function
(:mod:`platform_core.batch`) receives only a :class:`BatchSpec` and the shared arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from platform_core.components import CostModel, LeadTimeModel
from platform_core.config import RunConfig
from platform_core.data.columns import float_column
from platform_core.data.schemas import Dataset
from platform_core.data.stage_index import StageIndex
from platform_core.distributions import DiscreteDistribution

__all__ = ["BatchSpec", "SharedInputs", "cut_batches", "network_work", "plan_run"]


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
        settings: component names and parameters, run seed.
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
    settings: dict[str, Any]

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


def _primary_lanes(dataset: Dataset, index: StageIndex, upstream_row: np.ndarray) -> pa.Table:
    """Pick the lane ``(sku, location, supplier)`` of every stage (vectorised).

    The supplier is the most frequent one in the stage's receipts (ties: the first by
    name), else the location of the stage's first upstream stage (``upstream_row``,
    -1 for none), else null.
    """
    stages = dataset.stages
    locations = stages.column("location").combine_chunks()
    upstream = locations.take(pa.array(upstream_row, mask=upstream_row < 0))
    supplier = upstream
    receipts = dataset.get("receipts")
    if receipts is not None and receipts.num_rows:
        counts = receipts.group_by(["sku", "location", "supplier"]).aggregate([("order_id", "count")])
        counts = counts.sort_by([("sku", "ascending"), ("location", "ascending"), ("order_id_count", "descending"), ("supplier", "ascending")])
        rows = index.lookup(counts)
        known = np.flatnonzero(rows >= 0)
        stage_rows, first = np.unique(rows[known], return_index=True)  # first = most frequent
        pick = np.full(stages.num_rows, -1, dtype=np.int64)
        pick[stage_rows] = known[first]
        best = counts.column("supplier").combine_chunks().take(pa.array(pick, mask=pick < 0))
        supplier = pc.coalesce(best, upstream)
    return pa.table({"sku": stages.column("sku"), "location": stages.column("location"), "supplier": supplier})


def network_work(solver: object, sizes: np.ndarray) -> np.ndarray:
    """Estimated work of networks of ``sizes`` stages [simulated stage-periods].

    ``work_factor * replications * (periods + warmup) * stages ** work_exponent``, with the
    solver's ``replications``, ``periods`` and ``warmup`` parameters (1, 1 and 0 when it
    has none) and its optional class attributes ``work_factor`` (relative cost of one
    simulated stage-period, default 1) and ``work_exponent`` (how a network's cost grows
    with its size, default 1; 2 for a search that simulates the whole network once per
    stage and round).
    """
    reps = float(getattr(solver, "replications", 1) or 1)
    periods = float(getattr(solver, "periods", 1) or 1) + float(getattr(solver, "warmup", 0) or 0)
    factor = float(getattr(solver, "work_factor", 1.0))
    exponent = float(getattr(solver, "work_exponent", 1.0))
    return factor * reps * periods * np.asarray(sizes, dtype=np.float64) ** exponent


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
    config: RunConfig,
    lead_time_model: LeadTimeModel,
    cost_model: CostModel,
    component_classes: dict[str, type],
) -> tuple[SharedInputs, list[BatchSpec]]:
    """Build the shared inputs and the batches of a run.

    ``component_classes`` maps ``"forecaster"`` and ``"solver"`` to the classes the
    driver's plugin host resolved; batches instantiate them with the configured
    parameters (classes travel to workers by reference).
    """
    run = config["run"]
    period_days = float(run["period_days"])
    stages = dataset.stages
    n = stages.num_rows
    index = StageIndex(stages)

    # --- network: components and planned order ------------------------------------
    edges = dataset.get("edges")
    if edges is not None and edges.num_rows:
        up = index.lookup(edges, "upstream_sku", "upstream_location")
        down = index.lookup(edges, "downstream_sku", "downstream_location")
        qty = edges.column("quantity_per").to_numpy(zero_copy_only=False).astype(np.float64)
        transit = float_column(edges, "transit_days", np.nan)
    else:
        up = down = np.zeros(0, dtype=np.int64)
        qty = transit = np.zeros(0)
    graph = coo_matrix((np.ones(up.size), (up, down)), shape=(n, n))
    _, comp = connected_components(graph, directed=True, connection="weak")
    order = np.lexsort((np.arange(n), comp))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)

    # --- batches: whole networks, sized by estimated work ------------------------------
    comp_sorted = comp[order]
    stops = np.append(np.flatnonzero(np.diff(comp_sorted)) + 1, n) if n else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.concatenate(([0], stops)))
    solver = component_classes["solver"](**config["solver"])
    # ``batch_stages`` single-stage networks make one batch's worth of work
    target = max(1, int(run["batch_stages"])) * float(network_work(solver, np.ones(1))[0])
    batches = cut_batches(network_work(solver, sizes), stops, target)

    # --- lead times ------------------------------------------------------------------
    # the first arc into a stage (in input order) names its upstream stage
    firsts, first_arc = np.unique(down, return_index=True)
    upstream_row = np.full(n, -1, dtype=np.int64)
    upstream_row[firsts] = up[first_arc]
    upstream_transit = np.full(n, np.nan)
    upstream_transit[firsts] = transit[first_arc]
    lanes = _primary_lanes(dataset, index, upstream_row)
    receipts = dataset.get("receipts")
    predicted: list[DiscreteDistribution | None] = [None] * n
    if receipts is not None and receipts.num_rows:
        lead_time_model.fit(receipts)
        predicted = lead_time_model.predict(lanes, period_days)
    sources = np.empty(n, dtype=object)
    default_days = float(run["default_lead_time_days"])
    dists: list[DiscreteDistribution] = []
    for i in range(n):
        d = predicted[i]
        if d is not None:
            sources[i] = "receipts"
        elif np.isfinite(upstream_transit[i]):
            d = DiscreteDistribution.point(int(round(upstream_transit[i] / period_days)))
            sources[i] = "edge_transit_days"
        else:
            d = DiscreteDistribution.point(int(round(default_days / period_days)))
            sources[i] = "default_lead_time_days"
        dists.append(d)
    dists_planned = [dists[i] for i in order]
    sizes = np.array([d.pmf.size for d in dists_planned], dtype=np.int64)
    lt_ptr = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    lt_pmf = np.concatenate([d.pmf for d in dists_planned]) if n else np.zeros(0)
    lt_off = np.array([d.offset for d in dists_planned], dtype=np.int64)

    # --- costs and targets ----------------------------------------------------------
    costs = cost_model.stage_costs(stages, dataset.get("costs"), period_days)
    target_col = float_column(stages, "service_target", np.nan)
    review = float_column(stages, "review_period", 1.0).astype(np.int64)

    # --- demand --------------------------------------------------------------------------
    # last: the matrix is the largest array, so the lead-time work above (15 M receipts at
    # a million SKU-locations) does not run while it exists
    del lanes, predicted, dists, dists_planned
    matrix, flags, has = _demand_matrix(dataset.demand, index, rank, period_days)

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
        edge_qty=qty[e_order],
        lt_pmf=lt_pmf,
        lt_ptr=lt_ptr,
        lt_off=lt_off,
        lead_time_source=np.asarray(sources[order], dtype=str) if n else np.zeros(0, dtype=str),
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
        network_id=comp_sorted.astype(np.int64),
        settings={
            "period_days": period_days,
            "seed": int(run["seed"]),
            "forecaster": config["components"]["forecaster"],
            "forecaster_params": dict(config["forecaster"]),
            "forecaster_cls": component_classes["forecaster"],
            "solver_cls": component_classes["solver"],
            "solver": config["components"]["solver"],
            "solver_params": dict(config["solver"]),
            "lead_time_model": config["components"]["lead_time_model"],
        },
    )
    return shared, batches
