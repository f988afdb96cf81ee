"""Blanket-ABC baseline: the textbook safety-stock rule every stage applies on its own.

Each stage gets a service level from its ABC class (A 98 %, B 95 %, C 90 % by default)
and the normal-approximation base-stock level::

    S = mu * (L + R) + z * sigma * sqrt(L + R),   z = Phi^-1(target)

with ``mu``, ``sigma`` the mean and standard deviation of the stage's demand per period
[units/period] (its own plus its customers' for an internal stage), ``L`` the mean lead
time and ``R`` the review period [periods].  The rule ignores lead-time variability,
intermittency and the network, which is what a run compares Echelon against (with the
same engine on the same data).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
from scipy import stats

from echelon_solvers.kit.tables import base_stock_table
from platform_core.components import Solver, StageProblem
from platform_core.simulation.single_stage import evaluate_base_stock

__all__ = ["ABC_TARGETS", "blanket_abc_levels", "BlanketABCSolver"]

#: default service level per ABC class [-]
ABC_TARGETS: dict[str, float] = {"A": 0.98, "B": 0.95, "C": 0.90}


def blanket_abc_levels(
    mean_demand: np.ndarray,
    sd_demand: np.ndarray,
    mean_lead_time: np.ndarray,
    abc_class: np.ndarray | list[str],
    review_period: np.ndarray | None = None,
    targets: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Blanket-ABC base-stock levels.

    Args:
        mean_demand: per stage [units/period].
        sd_demand: per stage [units/period].
        mean_lead_time: per stage [periods].
        abc_class: ``"A"``, ``"B"`` or ``"C"`` per stage (anything else: class C).
        review_period: per stage [periods] (default 1).
        targets: service level per class [-] (default :data:`ABC_TARGETS`).

    Returns:
        ``(levels [units], target [-])``: the levels rounded up to whole units.
    """
    tg = ABC_TARGETS if targets is None else targets
    mu = np.asarray(mean_demand, dtype=np.float64)
    sd = np.asarray(sd_demand, dtype=np.float64)
    lt = np.asarray(mean_lead_time, dtype=np.float64)
    r = np.ones(mu.size) if review_period is None else np.asarray(review_period, dtype=np.float64)
    target = np.array([tg.get(str(c), tg["C"]) for c in abc_class], dtype=np.float64)
    z = stats.norm.ppf(target)
    cover = lt + r
    levels = np.ceil(mu * cover + z * sd * np.sqrt(cover) - 1e-9)
    return np.maximum(levels, 0.0), target


class BlanketABCSolver(Solver):
    """The blanket-ABC rule as a solver (each stage on its own; metrics by simulation).

    The class of a stage is taken from ``problem.abc_class`` when given,
    otherwise from its service target (>= 0.975: A, >= 0.94: B, else C; a null target
    is class ``default_class``).

    Args:
        default_class: class of stages without a target.
        replications: simulated runs per stage for the reported metrics.
        periods: periods per run.
        warmup: warm-up periods per run.
    """

    network_aware: ClassVar[bool] = False

    def __init__(self, default_class: str = "B", replications: int = 50, periods: int = 365,
                 warmup: int = 50) -> None:
        self.default_class = default_class
        self.replications = replications
        self.periods = periods
        self.warmup = warmup

    def solve(self, problem: StageProblem) -> pa.Table:
        """One blanket-ABC base-stock level per stage, with simulated service."""
        n = len(problem.keys)
        abc = problem.abc_class
        if abc is None:
            t = np.asarray(problem.service_target, dtype=np.float64)
            abc = np.where(np.isnan(t), self.default_class, np.where(t >= 0.975, "A", np.where(t >= 0.94, "B", "C")))
        mu = np.array([d.mean() for d in problem.period_demand])
        sd = np.array([d.std() for d in problem.period_demand])
        lt = np.array([d.mean() for d in problem.lead_time])
        levels, target = blanket_abc_levels(mu, sd, lt, list(abc), problem.review_period)
        res = evaluate_base_stock(
            problem.period_demand, problem.lead_time, problem.seeds, levels,
            review_period=problem.review_period, replications=self.replications,
            periods=self.periods, warmup=self.warmup,
        )
        return base_stock_table(
            problem,
            res,
            service_metric=["cycle_service"] * n,
            service_target=target,
            target_source=["abc_class"] * n,
        )
