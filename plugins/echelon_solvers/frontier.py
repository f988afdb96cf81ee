"""Inventory investment vs service: per-SKU curves, the portfolio frontier, budget mode.

**Per-SKU curves**: exact on-hand, units short and fill rate of a base-stock stage at every
integer level, from the demand over ``L + 1`` and over ``L`` periods
(:mod:`echelon_solvers.kit.curves` says how).

**Portfolio frontier** (marginal analysis over the curves' convex hulls) and **budget
mode** (the frontier up to the budget, then a knapsack fill-up):
:mod:`echelon_solvers.kit.allocation` says how.

The curves and the allocation are shared with the network-calibrated frontier and live in
the solvers' kit (:mod:`echelon_solvers.kit.curves`, :mod:`echelon_solvers.kit.allocation`);
they are re-exported here.  This module adds the frontier table and plot and the
:class:`FrontierSolver`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa

from echelon_solvers.kit.allocation import (
    Allocation,
    Frontier,
    allocate_budget,
    allocate_fill_target,
    portfolio_frontier,
)
from echelon_solvers.kit.curves import StageCurve, cost_optimal_levels, stage_curve
from echelon_solvers.kit.tables import policy_table
from platform_core.components import Solver, StageProblem

__all__ = [
    "frontier_table",
    "plot_frontier",
    "FrontierSolver",
    # re-exported from echelon_solvers.kit
    "StageCurve",
    "stage_curve",
    "Frontier",
    "portfolio_frontier",
    "Allocation",
    "allocate_budget",
    "allocate_fill_target",
    "cost_optimal_levels",
]


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
