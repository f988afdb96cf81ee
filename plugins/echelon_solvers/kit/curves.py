"""Exact investment-vs-service curves of one base-stock stage (every integer level).

For a base-stock stage with per-period demand ``D`` and lead time ``L`` (review period
``R = 1``), the net inventory at the end of a period is ``S - X`` with ``X`` the demand
over ``L + 1`` periods, and the units short in a period are
``E[(X - S)^+] - E[(Y - S)^+]`` with ``Y`` the demand over ``L`` periods.  So, for every
integer level ``S`` exactly (up to the PMF truncation):

* expected on-hand ``E[(S - X)^+]`` [units] and investment = on-hand x unit cost
  [currency];
* expected units short per period [units/period] and fill rate = 1 - short / E[D];

(for ``R > 1``, ``X`` spans ``L + R`` and ``Y`` ``L + R - 1`` periods: the per-period
average of a review cycle is approximated by its last period).

:func:`cost_optimal_levels` picks the level of least ``h x on_hand + p x short`` on each curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from platform_core.components import compound
from platform_core.distributions import DiscreteDistribution

__all__ = ["StageCurve", "stage_curve", "cost_optimal_levels"]


@dataclass(frozen=True)
class StageCurve:
    """Exact service and investment of every base-stock level 0..S_max of one stage.

    Attributes:
        levels: base-stock levels [units].
        on_hand: expected end-of-period on-hand [units].
        short: expected units short per period [units/period].
        fill_rate: 1 - short / mean demand [-].
        cycle_service: P(no backorder at the end of a review cycle) [-].
        investment: on-hand x unit cost [currency].
        mean_demand: [units/period].
        unit_cost: [currency/unit].
    """

    levels: np.ndarray
    on_hand: np.ndarray
    short: np.ndarray
    fill_rate: np.ndarray
    cycle_service: np.ndarray
    investment: np.ndarray
    mean_demand: float
    unit_cost: float


def _loss(dist: DiscreteDistribution, levels: np.ndarray) -> np.ndarray:
    """E[(X - s)^+] for every level (vectorised first-order loss)."""
    x = dist.support.astype(np.float64)
    tail = np.cumsum((dist.pmf * x)[::-1])[::-1]  # sum_{v>=k} v p_v
    ptail = np.cumsum(dist.pmf[::-1])[::-1]  # P(X >= k)
    idx = levels - dist.offset + 1  # first support index with x > s
    out = np.empty(levels.size)
    inside = (idx >= 0) & (idx < x.size)
    out[idx >= x.size] = 0.0
    below = idx < 0
    out[below] = dist.mean() - levels[below]
    k = idx[inside]
    out[inside] = tail[k] - levels[inside] * ptail[k]
    return np.maximum(out, 0.0)


def _outstanding(period: DiscreteDistribution, lead_time: DiscreteDistribution) -> DiscreteDistribution:
    """Units on order at the end of a period under i.i.d. lead times with crossing.

    The order placed ``k`` periods ago (holding one period of demand) is still
    outstanding iff its lead time exceeds ``k``: a Bernoulli(``P(L > k)``) thinning of
    an independent period demand, for ``k = 0, 1, ...``.
    """
    acc = DiscreteDistribution.point(0)
    lmax = lead_time.offset + lead_time.pmf.size - 1
    for k in range(lmax):
        q = 1.0 - lead_time.cdf(k)
        if q <= 0.0:
            continue
        if q >= 1.0:
            acc = acc.convolve(period)
            continue
        pmf = np.zeros(period.offset + period.pmf.size)
        pmf[period.offset :] = q * period.pmf
        pmf[0] += 1.0 - q
        acc = acc.convolve(DiscreteDistribution(pmf, 0))
    return acc


def stage_curve(
    period_demand: DiscreteDistribution,
    lead_time: DiscreteDistribution | int,
    unit_cost: float,
    review_period: int = 1,
    max_level: int | None = None,
) -> StageCurve:
    """Investment and service of every integer base-stock level of one stage.

    Args:
        period_demand: demand per period [units/period].
        lead_time: replenishment lead time [periods] (PMF or integer).
        unit_cost: [currency/unit].
        review_period: [periods].
        max_level: largest level [units] (default: the 1 - 1e-9 quantile of ``X``).
    """
    lt = lead_time if isinstance(lead_time, DiscreteDistribution) else DiscreteDistribution.point(int(lead_time))
    r = int(review_period)
    if r == 1:
        y = _outstanding(period_demand, lt)
        x_end = y.convolve(period_demand)
    else:
        x_end = compound(period_demand, lt, r)
        y = compound(period_demand, lt, r - 1)
    top = int(x_end.quantile(1.0 - 1e-9)) if max_level is None else int(max_level)
    levels = np.arange(top + 1)
    back_end = _loss(x_end, levels)
    short = np.maximum(back_end - _loss(y, levels), 0.0)
    on_hand = np.maximum(levels - x_end.mean() + back_end, 0.0)
    mu = period_demand.mean()
    fill = 1.0 - short / mu if mu > 0 else np.ones(levels.size)
    cdf = np.cumsum(np.concatenate([np.zeros(max(x_end.offset, 0)), x_end.pmf]))
    csl = cdf[np.minimum(levels, cdf.size - 1)]
    return StageCurve(levels.astype(np.float64), on_hand, short, fill, csl, on_hand * unit_cost, float(mu),
                      float(unit_cost))


def cost_optimal_levels(
    curves: Sequence[StageCurve], holding_cost: np.ndarray, stockout_cost: np.ndarray
) -> np.ndarray:
    """Per stage, the level minimising ``h x on_hand + p x short`` [units].

    Args:
        curves: one per stage.
        holding_cost: [currency/unit/period].
        stockout_cost: [currency/unit short].
    """
    out = np.zeros(len(curves))
    for i, c in enumerate(curves):
        out[i] = c.levels[int(np.argmin(holding_cost[i] * c.on_hand + stockout_cost[i] * c.short))]
    return out
