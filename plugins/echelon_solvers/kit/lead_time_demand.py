"""Moments of demand over lead time plus review period (random lead time, i.i.d. periods).

``Var = E[L + R] Var(D) + Var(L) E[D]^2`` with ``D`` the demand per period [units/period],
``L`` the lead time and ``R`` the review period [periods]; results in [units].
"""

from __future__ import annotations

import numpy as np

from platform_core.components import StageProblem
from platform_core.distributions import DiscreteDistribution

__all__ = ["lead_time_demand_moments", "lead_time_demand_sd"]


def lead_time_demand_moments(problem: StageProblem, stages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of (derived) demand over lead time + review [units].

    ``Var = E[L + R] Var(D) + Var(L) E[D]^2`` (random lead time, i.i.d. periods); the
    pipeline hands internal stages their own plus downstream demand.
    """
    mu = np.array([problem.period_demand[s].mean() for s in stages])
    var = np.array([problem.period_demand[s].var() for s in stages])
    lt_m = np.array([problem.lead_time[s].mean() for s in stages])
    lt_v = np.array([problem.lead_time[s].var() for s in stages])
    span = lt_m + np.asarray(problem.review_period, dtype=np.float64)[stages]
    return mu * span, np.sqrt(np.maximum(var * span + mu * mu * lt_v, 0.0))


def lead_time_demand_sd(
    period_demand: DiscreteDistribution, lead_time: DiscreteDistribution | int, review_period: int = 1
) -> float:
    """Standard deviation of demand over ``L + R`` periods (random ``L``) [units]."""
    lt = lead_time if isinstance(lead_time, DiscreteDistribution) else DiscreteDistribution.point(int(lead_time))
    span_mean = lt.mean() + review_period
    return float(np.sqrt(period_demand.var() * span_mean + period_demand.mean() ** 2 * lt.var()))
