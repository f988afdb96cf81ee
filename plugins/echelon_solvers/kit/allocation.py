"""Portfolio allocation on per-stage curves (:mod:`echelon_solvers.kit.curves`).

**Portfolio frontier** (marginal analysis): on each SKU's lower convex hull of
(investment, short) points, every step from one hull vertex to the next buys a shortage
reduction at a rate [units/period per currency]; taking the steps of all SKUs in
decreasing rate order traces the efficient frontier of the portfolio (portfolio fill
rate = 1 - total short / total demand).  Every prefix is the exact optimum of the
Lagrangian relaxation ``min short + lambda x investment``, hence the best service
attainable at its spend among hull allocations.

**Budget mode**: walk the frontier up to the budget, then spend what is left on the
best remaining steps that still fit (a knapsack fill-up), never exceeding the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from echelon_solvers.kit.curves import StageCurve

__all__ = ["Frontier", "portfolio_frontier", "Allocation", "allocate_budget", "allocate_fill_target"]


def _hull(invest: np.ndarray, short: np.ndarray) -> np.ndarray:
    """Indices of the lower convex hull of (invest, short), short non-increasing."""
    keep: list[int] = []
    for i in range(invest.size):
        if keep and short[i] >= short[keep[-1]] - 1e-15:
            continue  # dominated: more money, no less short
        while len(keep) >= 2:
            a, b = keep[-2], keep[-1]
            # b is above the chord a->i: drop it
            lhs = (short[b] - short[a]) * (invest[i] - invest[a])
            rhs = (short[i] - short[a]) * (invest[b] - invest[a])
            if lhs >= rhs:
                keep.pop()
            else:
                break
        keep.append(i)
    return np.asarray(keep, dtype=np.int64)


@dataclass(frozen=True)
class Frontier:
    """The portfolio frontier: the efficient steps of all stages in rate order.

    Attributes:
        start_level: per stage, the level at the start of the frontier [units]
            (its cheapest hull vertex).
        step_stage: stage of each step.
        step_level: the level the step moves its stage to [units].
        step_cost: extra investment of the step [currency].
        step_gain: reduction of units short per period [units/period].
        investment: cumulative portfolio investment after each step [currency].
        fill_rate: portfolio fill rate after each step [-].
        base_investment: investment of ``start_level`` [currency].
        base_short: units short per period at ``start_level`` [units/period].
        total_demand: portfolio demand [units/period].
    """

    start_level: np.ndarray
    step_stage: np.ndarray
    step_level: np.ndarray
    step_cost: np.ndarray
    step_gain: np.ndarray
    investment: np.ndarray
    fill_rate: np.ndarray
    base_investment: float
    base_short: float
    total_demand: float

    def levels_at(self, n_steps: int) -> np.ndarray:
        """Levels of every stage after the first ``n_steps`` steps [units]."""
        lv = self.start_level.copy()
        k = int(n_steps)
        if k > 0:
            st = self.step_stage[:k]
            lvl = self.step_level[:k]
            # steps of one stage are in increasing level order: the last one wins
            np.maximum.at(lv, st, lvl)
        return lv


def portfolio_frontier(curves: Sequence[StageCurve], min_level: np.ndarray | None = None) -> Frontier:
    """Efficient frontier of investment vs portfolio fill rate (marginal analysis).

    Args:
        curves: one :class:`StageCurve` per stage.
        min_level: optional lowest level per stage [units] (e.g. a floor policy).
    """
    n = len(curves)
    start = np.zeros(n)
    st, lv, cost, gain = [], [], [], []
    base_inv = 0.0
    base_short = 0.0
    demand = 0.0
    for i, c in enumerate(curves):
        lo = 0 if min_level is None else int(max(0, min(min_level[i], c.levels[-1])))
        h = _hull(c.investment[lo:], c.short[lo:]) + lo
        start[i] = c.levels[h[0]]
        base_inv += float(c.investment[h[0]])
        base_short += float(c.short[h[0]])
        demand += c.mean_demand
        if h.size > 1:
            d_inv = np.maximum(np.diff(c.investment[h]), 0.0)
            d_gain = -np.diff(c.short[h])
            st.append(np.full(h.size - 1, i))
            lv.append(c.levels[h[1:]])
            cost.append(d_inv)
            gain.append(d_gain)
    if st:
        s_st, s_lv = np.concatenate(st), np.concatenate(lv)
        s_cost, s_gain = np.concatenate(cost), np.concatenate(gain)
    else:
        s_st, s_lv, s_cost, s_gain = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))
    rate = s_gain / np.maximum(s_cost, 1e-300)
    # decreasing rate; ties by stage then level keeps each stage's steps in order
    order = np.lexsort((s_lv, s_st, -rate))
    s_st, s_lv, s_cost, s_gain = s_st[order], s_lv[order], s_cost[order], s_gain[order]
    inv = base_inv + np.cumsum(s_cost)
    short = base_short - np.cumsum(s_gain)
    fill = 1.0 - short / demand if demand > 0 else np.ones(inv.size)
    return Frontier(start, s_st.astype(np.int64), s_lv, s_cost, s_gain, inv, fill,
                    base_inv, base_short, demand)


@dataclass(frozen=True)
class Allocation:
    """Levels chosen for a portfolio.

    Attributes:
        levels: base-stock level per stage [units].
        investment: portfolio investment [currency].
        fill_rate: expected portfolio fill rate [-].
        stage_fill_rate: expected fill rate per stage [-].
    """

    levels: np.ndarray
    investment: float
    fill_rate: float
    stage_fill_rate: np.ndarray


def _index(c: StageCurve, level: float) -> int:
    """Position of ``level`` in ``c.levels`` (consecutive 0.. levels, or any increasing grid)."""
    k = int(level)
    if k < c.levels.size and c.levels[k] == level:
        return k
    return int(np.searchsorted(c.levels, level))


def _allocation(curves: Sequence[StageCurve], levels: np.ndarray) -> Allocation:
    idx = [_index(c, v) for c, v in zip(curves, levels, strict=True)]
    inv = sum(float(c.investment[k]) for c, k in zip(curves, idx, strict=True))
    short = sum(float(c.short[k]) for c, k in zip(curves, idx, strict=True))
    dem = sum(c.mean_demand for c in curves)
    fills = np.array([float(c.fill_rate[k]) for c, k in zip(curves, idx, strict=True)])
    return Allocation(levels, inv, 1.0 - short / dem if dem > 0 else 1.0, fills)


def allocate_budget(curves: Sequence[StageCurve], budget: float, frontier: Frontier | None = None) -> Allocation:
    """Best portfolio fill rate for an inventory budget [currency].

    Walks the frontier while the budget allows, then fills up with the best-rate
    remaining steps that still fit (each stage's steps in order).  Never spends more
    than ``budget`` (unless the cheapest hull allocation alone exceeds it).
    """
    fr = portfolio_frontier(curves) if frontier is None else frontier
    k = int(np.searchsorted(fr.investment, budget, side="right"))
    levels = fr.levels_at(k)
    spent = float(fr.investment[k - 1]) if k > 0 else fr.base_investment
    # fill-up: remaining steps in rate order; a stage's later steps need its earlier ones
    blocked: set[int] = set()
    for j in range(k, fr.step_stage.size):
        s = int(fr.step_stage[j])
        if s in blocked:
            continue
        c = float(fr.step_cost[j])
        if spent + c <= budget:
            spent += c
            levels[s] = fr.step_level[j]
        else:
            blocked.add(s)
    return _allocation(curves, levels)


def allocate_fill_target(curves: Sequence[StageCurve], target: float, frontier: Frontier | None = None) -> Allocation:
    """Least investment on the frontier whose portfolio fill rate reaches ``target`` [-]."""
    fr = portfolio_frontier(curves) if frontier is None else frontier
    base_fill = 1.0 - fr.base_short / fr.total_demand if fr.total_demand > 0 else 1.0
    if base_fill >= target or fr.fill_rate.size == 0:
        k = 0
    else:
        k = int(np.searchsorted(fr.fill_rate, target, side="left")) + 1
        k = min(k, fr.fill_rate.size)
    return _allocation(curves, fr.levels_at(k))
