"""Inventory investment vs service: per-SKU curves, the portfolio frontier, budget mode.

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
from typing import ClassVar

import numpy as np
import pyarrow as pa

from platform_core.components import Solver, StageProblem, compound
from platform_core.distributions import DiscreteDistribution

__all__ = [
    "StageCurve",
    "stage_curve",
    "Frontier",
    "portfolio_frontier",
    "Allocation",
    "allocate_budget",
    "allocate_fill_target",
    "cost_optimal_levels",
    "frontier_table",
    "plot_frontier",
    "FrontierSolver",
]


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


def frontier_table(frontier: Frontier, points: int = 200) -> pa.Table:
    """The frontier as a table of at most ``points`` rows (evenly spread over steps).

    Columns: ``steps``, ``inventory_investment_currency``, ``fill_rate``.
    """
    n = frontier.investment.size
    idx = np.unique(np.linspace(0, n, min(points, n + 1)).astype(np.int64)) if n else np.zeros(1, np.int64)
    inv = np.concatenate([[frontier.base_investment], frontier.investment])
    base_fill = 1.0 - frontier.base_short / frontier.total_demand if frontier.total_demand > 0 else 1.0
    fill = np.concatenate([[base_fill], frontier.fill_rate])
    return pa.table({
        "steps": pa.array(idx, pa.int64()),
        "inventory_investment_currency": pa.array(inv[idx], pa.float64()),
        "fill_rate": pa.array(fill[idx], pa.float64()),
    })


def plot_frontier(table: pa.Table, path: str, marks: dict[str, tuple[float, float]] | None = None) -> bool:
    """Plot a :func:`frontier_table` to ``path`` (PNG); False when matplotlib is absent.

    Args:
        table: the frontier table.
        path: output file.
        marks: optional labelled points ``{label: (investment [currency], fill [-])}``.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - optional dependency
        return False
    inv = table.column("inventory_investment_currency").to_numpy()
    fill = table.column("fill_rate").to_numpy()
    # the interesting part: from 50 % fill up to 99.95 % (the tail is flat)
    keep = fill >= min(0.5, float(fill.max()))
    top = int(np.searchsorted(fill, 0.9995)) + 1
    keep[top:] = False
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(inv[keep], fill[keep], label="efficient frontier")
    for label, (x, y) in (marks or {}).items():
        ax.scatter([x], [y], label=label, zorder=3)
    ax.set_xlabel("inventory investment [currency]")
    ax.set_ylabel("portfolio fill rate [-]")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


class FrontierSolver(Solver):
    """Portfolio service allocation on the efficient frontier (stages on their own).

    Modes:

    * ``"cost"``: every stage at its cost-optimal level (least ``h x on_hand + p x
      short``, the critical-ratio service of its own costs);
    * ``"budget"``: the best portfolio fill rate for ``budget`` [currency] of inventory
      investment (:func:`allocate_budget`);
    * ``"portfolio_fill"``: the least investment reaching a portfolio fill rate of
      ``portfolio_fill`` [-] (:func:`allocate_fill_target`).

    The budget and the portfolio target apply to the stages of one batch: run the
    portfolio as one batch (or split the budget over batches) for a portfolio-wide
    budget.  Service and stock are the exact per-stage curves (no simulation).

    Args:
        mode: ``"cost"``, ``"budget"`` or ``"portfolio_fill"``.
        budget: inventory budget [currency] (budget mode).
        portfolio_fill: portfolio fill-rate target [-] (portfolio_fill mode).
    """

    network_aware: ClassVar[bool] = False

    def __init__(self, mode: str = "cost", budget: float | None = None, portfolio_fill: float | None = None) -> None:
        if mode not in ("cost", "budget", "portfolio_fill"):
            raise ValueError(f"mode must be 'cost', 'budget' or 'portfolio_fill', got {mode!r}")
        if mode == "budget" and (budget is None or budget < 0):
            raise ValueError("budget mode needs budget >= 0 [currency]")
        if mode == "portfolio_fill" and (portfolio_fill is None or not 0 < portfolio_fill <= 1):
            raise ValueError("portfolio_fill mode needs 0 < portfolio_fill <= 1")
        self.mode = mode
        self.budget = budget
        self.portfolio_fill = portfolio_fill

    def solve(self, problem: StageProblem) -> pa.Table:
        """Levels per stage from the frontier (see class doc)."""
        from echelon_solvers.stochastic_service import policy_table

        n = len(problem.keys)
        curves = [
            stage_curve(d, lt, float(c), int(r))
            for d, lt, c, r in zip(problem.period_demand, problem.lead_time, problem.unit_cost,
                                   problem.review_period, strict=True)
        ]
        if self.mode == "cost":
            levels = cost_optimal_levels(curves, problem.costs.holding_cost, problem.costs.stockout_cost)
            source = "cost_optimal"
        elif self.mode == "budget":
            levels = allocate_budget(curves, float(self.budget or 0.0)).levels
            source = "budget"
        else:
            levels = allocate_fill_target(curves, float(self.portfolio_fill or 1.0)).levels
            source = "portfolio_fill"
        idx = levels.astype(np.int64)
        fill = np.array([c.fill_rate[k] for c, k in zip(curves, idx, strict=True)])
        csl = np.array([c.cycle_service[k] for c, k in zip(curves, idx, strict=True)])
        oh = np.array([c.on_hand[k] for c, k in zip(curves, idx, strict=True)])
        short = np.array([c.short[k] for c, k in zip(curves, idx, strict=True)])
        mean_d = np.array([c.mean_demand for c in curves])
        mean_l = np.array([lt.mean() for lt in problem.lead_time])
        bo = oh - levels + mean_d * (mean_l + np.asarray(problem.review_period, dtype=np.float64))
        return policy_table(
            policy_type=["base_stock"] * n,
            service_metric=["fill_rate"] * n,
            service_target=fill,
            target_source=[source] * n,
            level=levels,
            mean_demand=mean_d,
            mean_lead_time=mean_l,
            review_period=np.asarray(problem.review_period, dtype=np.float64),
            fill_rate=fill, fill_rate_se=np.zeros(n), cycle_service=csl, cycle_service_se=np.zeros(n),
            on_hand=oh, backorders=np.maximum(bo, 0.0),
            unit_cost=np.asarray(problem.unit_cost, dtype=np.float64),
            holding_cost=problem.costs.holding_cost, stockout_per_period=short * problem.costs.stockout_cost,
        )
