"""What makes a distribution valid, shared by the forecaster and lead-time checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from platform_core.distributions import DiscreteDistribution

__all__ = ["SUM_TOLERANCE", "distribution_problem"]

#: tolerance on the total probability of a PMF [-]
SUM_TOLERANCE = 1e-6


def distribution_problem(where: str, d: Any) -> str | None:
    """What is wrong with ``d`` (None when it is a valid distribution).

    Valid: a :class:`~platform_core.distributions.DiscreteDistribution` whose PMF is a
    non-empty 1-D array of finite probabilities >= 0 summing to one, on a support of
    non-negative integers, with a finite mean.
    """
    if not isinstance(d, DiscreteDistribution):
        return f"{where} is a {type(d).__name__}, expected a DiscreteDistribution"
    pmf = np.asarray(d.pmf, dtype=np.float64)
    if pmf.ndim != 1 or pmf.size == 0:
        return f"{where} has a PMF of shape {pmf.shape}, expected a non-empty 1-D array"
    if not np.all(np.isfinite(pmf)):
        return f"{where} has non-finite probabilities, expected finite ones"
    if np.any(pmf < 0):
        return f"{where} has a negative probability ({pmf.min():.3g}), expected all >= 0"
    total = float(pmf.sum())
    if abs(total - 1.0) > SUM_TOLERANCE:
        return f"{where} sums to {total:.6g}, expected 1 (PMFs must sum to one)"
    if int(d.offset) < 0:
        return f"{where} starts at {d.offset}, expected a support of non-negative integers"
    if not np.isfinite(d.mean()):
        return f"{where} has mean {d.mean()}, expected a finite mean"
    return None
