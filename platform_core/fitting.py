"""Fit the driver-side models of a run: lead times per stage and costs per stage.

Demand models are fitted inside the batches (per network, where the data is); lead-time
and cost models are fitted once on the driver, on the whole receipts and cost tables.
Planning (:mod:`platform_core.plan`) receives what these functions return and fits
nothing itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats

from platform_core.components import CostModel, LeadTimeModel, StageCosts
from platform_core.data.columns import float_column
from platform_core.data.schemas import Dataset
from platform_core.data.stage_index import StageIndex
from platform_core.distributions import DiscreteDistribution
from platform_core.networks import NetworkStructure

__all__ = ["StageLeadTimes", "fit_lead_times", "fit_costs", "primary_lanes", "lead_time_distribution"]

#: Upper-tail mass of a gamma lead time left out of its PMF [-].
_TAIL = 1e-12


@dataclass(frozen=True)
class StageLeadTimes:
    """One replenishment lead-time distribution per stage, in input order (CSR).

    Attributes:
        pmf, ptr, offset: stage ``i``'s PMF is ``pmf[ptr[i]:ptr[i+1]]`` over periods
            ``offset[i], offset[i] + 1, ...`` [periods].
        source: where each came from: ``receipts``, ``edge_transit_days``,
            ``stage_lead_time_days`` or ``default_lead_time_days``.
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


def lead_time_distribution(mean_days: float, sd_days: float | None, period_days: float) -> DiscreteDistribution:
    """Lead time [periods] from its mean and standard deviation [days].

    Without a spread (``sd_days`` None or NaN) the lead time is fixed: a point at
    ``round(mean_days / period_days)`` whole periods (as ``transit_days`` and
    ``default_lead_time_days`` have always been read). With a spread it is a gamma
    distribution of mean ``m = mean_days / period_days`` and standard deviation
    ``s = sd_days / period_days`` [periods], discretised by linear interpolation: each
    value ``x`` puts weight ``1 - |x - k|`` on the two periods ``k`` around it, so
    ``P(K = k) = E[max(0, 1 - |X - k|)]``. The mean is then exactly ``m`` (up to the
    1e-12 tail left out) and the variance is ``s**2`` plus less than 1/4 period**2. With
    ``sd_days = 0`` this is the split of ``m`` between its two neighbouring periods.

    Args:
        mean_days: mean lead time [days], >= 0.
        sd_days: its standard deviation [days] (>= 0), or None/NaN for a fixed lead time.
        period_days: length of a period [days], > 0.

    Returns:
        The distribution over whole periods.

    Raises:
        ValueError: a negative mean or spread, or a positive spread with mean 0.
    """
    if sd_days is None or math.isnan(sd_days):
        return DiscreteDistribution.point(int(round(mean_days / period_days)))
    if mean_days < 0 or sd_days < 0:
        raise ValueError(f"lead time mean and spread must be >= 0, got {mean_days} and {sd_days} days")
    m, s = mean_days / period_days, sd_days / period_days
    if s == 0:
        lo = math.floor(m)
        w = m - lo
        return DiscreteDistribution.point(lo) if w == 0 else DiscreteDistribution(np.array([1.0 - w, w]), lo)
    if m == 0:
        raise ValueError(f"a lead time of mean 0 cannot have a spread (got {sd_days} days)")
    shape, scale = (m / s) ** 2, s * s / m
    hi = int(math.ceil(stats.gamma.isf(_TAIL, shape, scale=scale))) + 1
    t = np.arange(-1, hi + 2, dtype=np.float64)
    # G(t) = integral of the CDF from 0 to t = t F(t) - E[X; X <= t]; P(K = k) is its second difference
    g = t * stats.gamma.cdf(t, shape, scale=scale) - m * stats.gamma.cdf(t, shape + 1.0, scale=scale)
    g[t <= 0] = 0.0
    pmf = np.maximum(g[2:] - 2.0 * g[1:-1] + g[:-2], 0.0)  # k = 0 .. hi
    return DiscreteDistribution(pmf, 0)


def _inbound_transit_sd(dataset: Dataset, structure: NetworkStructure) -> np.ndarray:
    """Per stage, ``transit_days_sd`` of its first inbound arc [days] (NaN: none or not given)."""
    out = np.full(structure.n_stages, np.nan)
    edges = dataset.get("edges")
    if edges is None or "transit_days_sd" not in edges.column_names or structure.down.size == 0:
        return out
    sd = float_column(edges, "transit_days_sd", np.nan)
    firsts, first_arc = np.unique(structure.down, return_index=True)  # the arc networks.py names
    out[firsts] = sd[first_arc]
    return out


def fit_lead_times(
    dataset: Dataset,
    structure: NetworkStructure,
    model: LeadTimeModel,
    period_days: float,
    default_lead_time_days: float,
) -> StageLeadTimes:
    """Lead-time distribution [periods] of every stage.

    The first that applies (the ``source`` label in brackets):

    1. the receipts of the stage's primary lane, when ``model`` knows the lane (``receipts``);
    2. the ``transit_days`` (and ``transit_days_sd``) of the stage's first inbound arc, an
       internal lane (``edge_transit_days``);
    3. the stage's own ``lead_time_days`` (and ``lead_time_days_sd``), its external
       supplier's lead time (``stage_lead_time_days``);
    4. ``default_lead_time_days`` (``default_lead_time_days``).

    A mean with a spread becomes a gamma distribution with that mean exactly, a mean
    without one a fixed lead time rounded to whole periods (:func:`lead_time_distribution`).
    """
    n = structure.n_stages
    stage_mean = float_column(dataset.stages, "lead_time_days", np.nan)
    stage_sd = float_column(dataset.stages, "lead_time_days_sd", np.nan)
    arc_sd = _inbound_transit_sd(dataset, structure)
    cache: dict[tuple[float, float], DiscreteDistribution] = {}

    def from_days(mean: float, sd: float) -> DiscreteDistribution:
        key = (float(mean), -1.0 if math.isnan(sd) else float(sd))
        if key not in cache:
            cache[key] = lead_time_distribution(mean, sd, period_days)
        return cache[key]

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
            d = from_days(structure.upstream_transit_days[i], arc_sd[i])
            sources[i] = "edge_transit_days"
        elif np.isfinite(stage_mean[i]):
            d = from_days(stage_mean[i], stage_sd[i])
            sources[i] = "stage_lead_time_days"
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
    return model.fit(dataset, period_days).stage_costs(dataset.stages, dataset.get("costs"), period_days)
