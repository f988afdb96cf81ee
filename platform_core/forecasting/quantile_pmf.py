"""A discrete distribution from predicted quantiles.

Quantile models (e.g. a quantile gradient-boosting forecaster, or its frozen prediction
from a registered model version) predict ``q_j`` at levels ``level_j``.  The integer
PMF is read from a piecewise-linear CDF through ``(q_j, level_j)`` evaluated at
``k + 0.5`` (integer demand), extended linearly to 0 below the first level (not below
-0.5) and to 1 above the last.  Quantiles are first made non-negative and
non-decreasing (ties are broken by 1e-9 steps).
"""

from __future__ import annotations

import numpy as np

from platform_core.distributions import DiscreteDistribution

__all__ = ["quantiles_to_pmf"]


def quantiles_to_pmf(q: np.ndarray, levels: np.ndarray) -> DiscreteDistribution:
    """Integer PMF [units] from sorted quantiles ``q`` at ``levels`` (see the module docstring)."""
    lv = np.asarray(levels, dtype=np.float64)
    q = np.maximum.accumulate(np.maximum(np.asarray(q, dtype=np.float64), 0.0))
    q = q + np.arange(q.size) * 1e-9
    lo_slope = (q[1] - q[0]) / (lv[1] - lv[0]) if q.size > 1 else 0.0
    hi_slope = (q[-1] - q[-2]) / (lv[-1] - lv[-2]) if q.size > 1 else 0.0
    x0 = max(-0.5, q[0] - lo_slope * lv[0])
    x1 = max(q[-1] + hi_slope * (1.0 - lv[-1]), q[-1] + 1e-6)
    xs = np.r_[x0, q, x1]
    ps = np.r_[0.0, lv, 1.0]
    kmax = int(np.ceil(x1)) + 1
    F = np.interp(np.arange(kmax + 1) + 0.5, xs, ps, left=0.0, right=1.0)
    pmf = np.diff(np.r_[0.0, F])
    pmf[-1] += max(0.0, 1.0 - F[-1])
    pmf = np.maximum(pmf, 0.0)
    if pmf.sum() <= 0:
        return DiscreteDistribution.point(int(round(q[q.size // 2])))
    return DiscreteDistribution(pmf, 0)
