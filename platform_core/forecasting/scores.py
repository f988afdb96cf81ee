"""Probabilistic forecast scores of discrete distributions (demand and lead time).

Shared by every plugin that fits or monitors a forecast (model choice, backtests,
tuning, calibration tracking):

* CRPS of a PMF on the integers against an integer outcome ``y``:
  ``sum_k (F(k) - 1{k >= y})^2`` (exact: the integrand is constant between integers).
* Pinball (quantile) loss at level ``q`` of the ``q``-quantile ``Q``:
  ``q (y - Q)`` if ``y >= Q`` else ``(1 - q)(Q - y)``.
* Central interval coverage at level ``c``: ``Q((1-c)/2) <= y <= Q((1+c)/2)``.
"""

from __future__ import annotations

import numpy as np

from platform_core.distributions import DiscreteDistribution

__all__ = ["crps", "quantiles", "pinball", "coverage"]


def crps(dists: list[DiscreteDistribution], y: np.ndarray) -> np.ndarray:
    """CRPS per distribution against integer outcomes ``y`` [units]."""
    y = np.rint(np.asarray(y, dtype=np.float64))
    out = np.empty(len(dists))
    for i, d in enumerate(dists):
        yi = y[i]
        o = d.offset
        cdf = np.cumsum(d.pmf)
        cdf[-1] = 1.0
        k = np.arange(o, o + cdf.size)
        ind = (k >= yi).astype(np.float64)
        inner = float(np.sum((cdf - ind) ** 2))
        below = max(0.0, o - yi)  # k < offset: F = 0, counts where k >= y
        above = max(0.0, yi - 1 - (o + cdf.size - 1))  # k > max: F = 1, counts where k < y
        out[i] = inner + below + above
    return out


def quantiles(dists: list[DiscreteDistribution], levels: np.ndarray) -> np.ndarray:
    """Quantiles (n, len(levels)): smallest x with F(x) >= level."""
    levels = np.asarray(levels, dtype=np.float64)
    out = np.empty((len(dists), levels.size))
    for i, d in enumerate(dists):
        cdf = np.cumsum(d.pmf)
        cdf[-1] = 1.0
        idx = np.searchsorted(cdf, levels - 1e-12, side="left")
        out[i] = np.minimum(idx, cdf.size - 1) + d.offset
    return out


def pinball(q_pred: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    """Pinball loss per row of the ``level`` quantile ``q_pred`` [units]."""
    diff = np.asarray(y, dtype=np.float64) - np.asarray(q_pred, dtype=np.float64)
    return np.where(diff >= 0, level * diff, (level - 1.0) * diff)


def coverage(lo: np.ndarray, hi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1.0 where ``lo <= y <= hi`` else 0.0."""
    y = np.asarray(y, dtype=np.float64)
    return ((y >= lo) & (y <= hi)).astype(np.float64)
