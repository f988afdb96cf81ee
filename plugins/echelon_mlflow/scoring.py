"""Scores of predicted discrete distributions against observed outcomes.

Every predicted distribution (one per row: a SKU-location's per-period demand, or one
receipt line's lead time) is scored against one or more integer outcomes:

* ``pit``: randomised probability integral transform ``F(y-1) + v (F(y) - F(y-1))``,
  ``v ~ U(0, 1)`` from a fixed seed; uniform on (0, 1) when the distribution is right [-].
* ``crps``: ``sum_k (F(k) - 1{k >= y})^2`` (exact for integer support) [units].
* ``pinball_50``, ``pinball_90``: pinball loss of the 0.5 / 0.9 quantile [units].
* ``covered_80``, ``covered_90``: 1 when ``Q(0.1) <= y <= Q(0.9)`` (``Q(0.05) .. Q(0.95)``).
* ``median``: the predicted 0.5 quantile [units] (for bias).

Units follow the distributions: [units/period] for demand, [periods] for lead times.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from platform_core.distributions import DiscreteDistribution

__all__ = ["SCORES", "score_distributions", "pit_histogram", "PIT_BINS"]

SCORES = ("pit", "crps", "pinball_50", "pinball_90", "covered_80", "covered_90", "median")
PIT_BINS = 10
_LEVELS = np.array([0.05, 0.1, 0.5, 0.9, 0.95])


def score_distributions(
    dists: Sequence[DiscreteDistribution], outcomes: np.ndarray, seed: int = 0
) -> dict[str, np.ndarray]:
    """Score each distribution against its row of outcomes (vectorised over all rows).

    Args:
        dists: one distribution per row.
        outcomes: (n, H) outcomes (rounded to integers); NaN entries are not scored.
        seed: seed of the PIT randomisation.

    Returns:
        ``{score: (n, H) array}`` for every name of :data:`SCORES`; NaN where the
        outcome is NaN.
    """
    Y = np.asarray(outcomes, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    n, H = Y.shape
    if len(dists) != n:
        raise ValueError(f"{len(dists)} distributions for {n} rows of outcomes")
    out = {k: np.full((n, H), np.nan) for k in SCORES}
    u = np.random.default_rng(seed).random((n, H))
    if n == 0:
        return out
    # all PMFs as one CSR array: row i is pmf[ptr[i]:ptr[i+1]] on offset[i], offset[i]+1, ...
    sizes = np.fromiter((d.pmf.size for d in dists), dtype=np.int64, count=n)
    offset = np.fromiter((d.offset for d in dists), dtype=np.int64, count=n)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=ptr[1:])
    pmf = np.concatenate([np.asarray(d.pmf, dtype=np.float64) for d in dists])
    row_of = np.repeat(np.arange(n), sizes)
    csum = np.cumsum(pmf)
    base = np.concatenate(([0.0], csum))[ptr[:-1]]
    total = csum[ptr[1:] - 1] - base
    cdf = np.minimum((csum - base[row_of]) / np.where(total > 0, total, 1.0)[row_of], 1.0)
    cdf[ptr[1:] - 1] = 1.0
    a = np.concatenate(([0.0], np.cumsum(cdf**2)))  # prefix sums of F^2
    b = np.concatenate(([0.0], np.cumsum((1.0 - cdf) ** 2)))  # and of (1 - F)^2

    ri, hi = np.nonzero(~np.isnan(Y))
    y = np.rint(Y[ri, hi]).astype(np.int64)
    o, K, p0 = offset[ri], sizes[ri], ptr[ri]

    def F(x: np.ndarray) -> np.ndarray:
        idx = x - o
        inside = cdf[p0 + np.clip(idx, 0, K - 1)]
        return np.where(idx < 0, 0.0, np.where(idx >= K, 1.0, inside))

    Fy, Fy1 = F(y), F(y - 1)
    out["pit"][ri, hi] = Fy1 + u[ri, hi] * (Fy - Fy1)
    j = np.clip(y - o, 0, K)  # support points below y
    crps = (a[p0 + j] - a[p0]) + (b[p0 + K] - b[p0 + j]) + np.maximum(0, o - y) + np.maximum(0, y - o - K)
    out["crps"][ri, hi] = crps
    q = {}
    for level in _LEVELS:  # smallest x with F(x) >= level = number of support points below
        below = np.add.reduceat((cdf < level - 1e-12).astype(np.int64), ptr[:-1])
        q[float(level)] = (np.minimum(below, sizes - 1) + offset)[ri]
    out["pinball_50"][ri, hi] = _pinball(q[0.5], y, 0.5)
    out["pinball_90"][ri, hi] = _pinball(q[0.9], y, 0.9)
    out["covered_80"][ri, hi] = ((y >= q[0.1]) & (y <= q[0.9])).astype(np.float64)
    out["covered_90"][ri, hi] = ((y >= q[0.05]) & (y <= q[0.95])).astype(np.float64)
    out["median"][ri, hi] = q[0.5]
    return out


def _pinball(q: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    diff = y.astype(np.float64) - q
    return np.where(diff >= 0, level * diff, (level - 1.0) * diff)


def pit_histogram(pit: np.ndarray, bins: int = PIT_BINS) -> np.ndarray:
    """Share of PIT values in each of ``bins`` equal bins of [0, 1] [-] (sums to 1)."""
    p = np.asarray(pit, dtype=np.float64)
    p = p[np.isfinite(p)]
    if p.size == 0:
        return np.full(bins, np.nan)
    h = np.bincount(np.minimum((p * bins).astype(np.int64), bins - 1), minlength=bins)
    return h / p.size
