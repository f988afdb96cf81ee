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
from platform_core.distributions import DiscreteDistribution

__all__ = ["BatchSpec", "SharedInputs", "plan_run"]


@dataclass(frozen=True)
class BatchSpec:
    """A contiguous range ``[start, stop)`` of stages in planned order (whole networks)."""

    batch_id: int
    start: int
    stop: int


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


def _stage_codes(table: pa.Table, sku_col: str, loc_col: str, stage_keys: pa.Array) -> np.ndarray:
    """Row index in ``stages`` of every row's (sku, location) — vectorised hashing.

    Validation has already guaranteed that every key exists.
    """
    keys = pc.binary_join_element_wise(table.column(sku_col), table.column(loc_col), "\x1f")
    return pc.index_in(keys, value_set=stage_keys).to_numpy(zero_copy_only=False).astype(np.int64)


def _demand_matrix(demand: pa.Table, lookup_codes: np.ndarray, n: int, period_days: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dates = demand.column("period").cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    first = int(dates.min()) if dates.size else 0
    pidx = np.floor((dates - first) / float(period_days)).astype(np.int64)
    n_periods = int(pidx.max()) + 1 if pidx.size else 1
    qty = demand.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64)
    matrix = np.full((n, n_periods), np.nan)
    matrix[lookup_codes, pidx] = qty
    flags = np.zeros((n, n_periods), dtype=bool)
    if "stocked_out" in demand.column_names:
        so = demand.column("stocked_out").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        flags[lookup_codes, pidx] = so
    has = np.zeros(n, dtype=bool)
    has[lookup_codes] = True
    return matrix, flags, has


def _primary_lanes(dataset: Dataset, keys: tuple[list[str], list[str]], upstream_loc: list[str | None]) -> pa.Table:
    """Pick the lane ``(sku, location, supplier)`` of every stage.

    The supplier is the most frequent one in the stage's receipts, else the upstream
    location of the network, else null.
    """
    skus, locs = keys
    supplier: list[str | None] = list(upstream_loc)
    receipts = dataset.get("receipts")
    if receipts is not None and receipts.num_rows:
        counts = receipts.group_by(["sku", "location", "supplier"]).aggregate([("order_id", "count")])
        counts = counts.sort_by([("sku", "ascending"), ("location", "ascending"), ("order_id_count", "descending"), ("supplier", "ascending")])
        best: dict[tuple[str, str], str] = {}
        for s, loc, sup in zip(counts.column("sku").to_pylist(), counts.column("location").to_pylist(), counts.column("supplier").to_pylist(), strict=True):
            best.setdefault((s, loc), sup)
        supplier = [best.get((s, loc), u) for s, loc, u in zip(skus, locs, upstream_loc, strict=True)]
    return pa.table({"sku": skus, "location": locs, "supplier": pa.array(supplier, pa.string())})


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
    skus = stages.column("sku").to_pylist()
    locs = stages.column("location").to_pylist()
    stage_keys = pc.binary_join_element_wise(stages.column("sku"), stages.column("location"), "\x1f").combine_chunks()

    # --- network: components and planned order ------------------------------------
    edges = dataset.get("edges")
    if edges is not None and edges.num_rows:
        up = _stage_codes(edges, "upstream_sku", "upstream_location", stage_keys)
        down = _stage_codes(edges, "downstream_sku", "downstream_location", stage_keys)
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

    batches: list[BatchSpec] = []
    target = max(1, int(run["batch_stages"]))
    comp_sorted = comp[order]
    boundaries = np.flatnonzero(np.diff(comp_sorted)) + 1  # component starts (after the first)
    starts = np.concatenate(([0], boundaries, [n])) if n else np.array([0])
    b_start = 0
    for s in starts[1:]:
        if s - b_start >= target or s == n:
            batches.append(BatchSpec(len(batches), int(b_start), int(s)))
            b_start = int(s)

    # --- demand ----------------------------------------------------------------------
    demand = dataset.demand
    codes = _stage_codes(demand, "sku", "location", stage_keys)
    matrix, flags, has = _demand_matrix(demand, rank[codes], n, period_days)

    # --- lead times ------------------------------------------------------------------
    upstream_loc: list[str | None] = [None] * n
    upstream_transit = np.full(n, np.nan)
    for u, d, t in zip(up, down, transit, strict=True):
        if upstream_loc[d] is None:
            upstream_loc[d] = locs[u]
            upstream_transit[d] = t
    lanes = _primary_lanes(dataset, (skus, locs), upstream_loc)
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

    e_order = np.argsort(rank[up], kind="stable") if up.size else np.zeros(0, dtype=np.int64)
    shared = SharedInputs(
        sku=np.array(skus, dtype=str)[order] if n else np.zeros(0, dtype=str),
        location=np.array(locs, dtype=str)[order] if n else np.zeros(0, dtype=str),
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
