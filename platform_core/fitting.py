"""Fit the driver-side models of a run: lead times per stage and costs per stage.

Demand models are fitted inside the batches (per network, where the data is); lead-time
and cost models are fitted once on the driver, on the whole receipts and cost tables.
Planning (:mod:`platform_core.plan`) receives what these functions return and fits
nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.components import CostModel, LeadTimeModel, StageCosts
from platform_core.data.schemas import Dataset
from platform_core.data.stage_index import StageIndex
from platform_core.distributions import DiscreteDistribution
from platform_core.networks import NetworkStructure

__all__ = ["StageLeadTimes", "fit_lead_times", "fit_costs", "primary_lanes"]


@dataclass(frozen=True)
class StageLeadTimes:
    """One replenishment lead-time distribution per stage, in input order (CSR).

    Attributes:
        pmf, ptr, offset: stage ``i``'s PMF is ``pmf[ptr[i]:ptr[i+1]]`` over periods
            ``offset[i], offset[i] + 1, ...`` [periods].
        source: where each came from: ``receipts``, ``edge_transit_days`` or
            ``default_lead_time_days``.
    """

    pmf: np.ndarray
    ptr: np.ndarray
    offset: np.ndarray
    source: np.ndarray

    def reordered(self, order: np.ndarray) -> StageLeadTimes:
        """The same distributions in the stage order ``order`` (input rows)."""
        sizes = np.diff(self.ptr)[order]
        ptr = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        starts = self.ptr[order]
        gather = (np.repeat(starts - ptr[:-1], sizes) + np.arange(int(ptr[-1]))).astype(np.int64)
        return StageLeadTimes(self.pmf[gather], ptr, self.offset[order], self.source[order])


def primary_lanes(dataset: Dataset, index: StageIndex, upstream_row: np.ndarray) -> pa.Table:
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


def fit_lead_times(
    dataset: Dataset,
    structure: NetworkStructure,
    model: LeadTimeModel,
    period_days: float,
    default_lead_time_days: float,
) -> StageLeadTimes:
    """Lead-time distribution [periods] of every stage.

    From the receipts of the stage's primary lane when ``model`` knows the lane, else the
    transit time of the stage's first inbound arc, else ``default_lead_time_days``.
    """
    n = structure.n_stages
    lanes = primary_lanes(dataset, structure.index, structure.upstream_row)
    receipts = dataset.get("receipts")
    predicted: list[DiscreteDistribution | None] = [None] * n
    if receipts is not None and receipts.num_rows:
        model.fit(receipts)
        predicted = model.predict(lanes, period_days)
    sources = np.empty(n, dtype=object)
    dists: list[DiscreteDistribution] = []
    for i in range(n):
        d = predicted[i]
        if d is not None:
            sources[i] = "receipts"
        elif np.isfinite(structure.upstream_transit_days[i]):
            d = DiscreteDistribution.point(int(round(structure.upstream_transit_days[i] / period_days)))
            sources[i] = "edge_transit_days"
        else:
            d = DiscreteDistribution.point(int(round(default_lead_time_days / period_days)))
            sources[i] = "default_lead_time_days"
        dists.append(d)
    sizes = np.array([d.pmf.size for d in dists], dtype=np.int64)
    return StageLeadTimes(
        pmf=np.concatenate([d.pmf for d in dists]) if n else np.zeros(0),
        ptr=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
        offset=np.array([d.offset for d in dists], dtype=np.int64),
        source=np.asarray(sources, dtype=str) if n else np.zeros(0, dtype=str),
    )


def fit_costs(dataset: Dataset, model: CostModel, period_days: float) -> StageCosts:
    """Holding, stockout and ordering cost and the cost-optimal service of every stage."""
    return model.stage_costs(dataset.stages, dataset.get("costs"), period_days)
