"""Discrete distributions on the non-negative integers.

Every demand and lead-time distribution in Echelon ends up as a discrete PMF that the
Numba kernels can sample by inverse CDF: demand in units per period, lead-time demand
in units, lead times in periods.  :class:`DiscreteDistribution` is that common currency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["DiscreteDistribution", "pack_distributions"]

_TAIL = 1e-12


@dataclass(frozen=True)
class DiscreteDistribution:
    """A PMF on ``offset, offset+1, ..., offset+len(pmf)-1``.

    Attributes:
        pmf: probabilities, non-negative, summing to one [-].
        offset: the smallest value of the support [units or periods].
    """

    pmf: np.ndarray
    offset: int = 0

    def __post_init__(self) -> None:
        pmf = np.asarray(self.pmf, dtype=np.float64)
        if pmf.ndim != 1 or pmf.size == 0:
            raise ValueError("pmf must be a non-empty 1-D array")
        if np.any(pmf < 0) or not np.all(np.isfinite(pmf)):
            raise ValueError("pmf must be finite and non-negative")
        total = pmf.sum()
        if total <= 0:
            raise ValueError("pmf must have positive mass")
        if self.offset < 0:
            raise ValueError("offset must be >= 0 (support is the non-negative integers)")
        # trim zero tails so that equal distributions compare equal
        nz = np.flatnonzero(pmf)
        lo, hi = int(nz[0]), int(nz[-1])
        object.__setattr__(self, "pmf", pmf[lo : hi + 1] / total)
        object.__setattr__(self, "offset", int(self.offset) + lo)

    # ---- constructors -------------------------------------------------------------
    @classmethod
    def point(cls, value: int) -> DiscreteDistribution:
        """A degenerate distribution at ``value``."""
        return cls(np.ones(1), int(value))

    @classmethod
    def _trusted(cls, pmf: np.ndarray, offset: int) -> DiscreteDistribution:
        """Build without checks: ``pmf`` is float64, normalised, with non-zero ends."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "pmf", pmf)
        object.__setattr__(obj, "offset", offset)
        return obj

    @classmethod
    def from_samples(cls, samples: np.ndarray) -> DiscreteDistribution:
        """The empirical distribution of integer samples (negative values are an error)."""
        x = np.asarray(samples)
        if x.size == 0:
            raise ValueError("no samples")
        xi = x if x.dtype.kind in "iu" else np.rint(x).astype(np.int64)
        lo = int(xi.min())
        if lo < 0:
            raise ValueError("samples must be non-negative")
        counts = np.bincount(xi - lo).astype(np.float64)
        return cls._trusted(counts / x.size, lo)

    @classmethod
    def poisson(cls, mean: float) -> DiscreteDistribution:
        """Poisson with the given mean, truncated where the tail is below 1e-12."""
        if mean < 0:
            raise ValueError("mean must be >= 0")
        if mean == 0:
            return cls.point(0)
        hi = int(stats.poisson.isf(_TAIL, mean)) + 1
        return cls(stats.poisson.pmf(np.arange(hi + 1), mean), 0)

    @classmethod
    def normal(cls, mean: float, sd: float) -> DiscreteDistribution:
        """Normal discretised to the integers (mass of [k-0.5, k+0.5)), truncated at 0."""
        if sd <= 0:
            return cls.point(max(0, int(round(mean))))
        lo = max(0, int(np.floor(mean - 8.0 * sd)))
        hi = max(lo + 1, int(np.ceil(mean + 8.0 * sd)))
        k = np.arange(lo, hi + 1)
        cdf_hi = stats.norm.cdf(k + 0.5, mean, sd)
        cdf_lo = stats.norm.cdf(k - 0.5, mean, sd)
        pmf = cdf_hi - cdf_lo
        pmf[0] += stats.norm.cdf(lo - 0.5, mean, sd)  # mass below 0 folded onto the floor
        return cls(pmf, lo)

    # ---- moments and quantiles ----------------------------------------------------
    @property
    def support(self) -> np.ndarray:
        """The support values ``offset .. offset+len(pmf)-1``."""
        return np.arange(self.offset, self.offset + self.pmf.size)

    def mean(self) -> float:
        """Expected value."""
        return float(np.dot(self.support, self.pmf))

    def var(self) -> float:
        """Variance."""
        m = self.mean()
        return float(np.dot((self.support - m) ** 2, self.pmf))

    def std(self) -> float:
        """Standard deviation."""
        return float(np.sqrt(self.var()))

    def cdf(self, x: float) -> float:
        """P(X <= x)."""
        k = int(np.floor(x)) - self.offset
        if k < 0:
            return 0.0
        if k >= self.pmf.size:
            return 1.0
        return float(min(1.0, self.pmf[: k + 1].sum()))

    def quantile(self, q: float | np.ndarray) -> np.ndarray | int:
        """Smallest x with P(X <= x) >= q."""
        cdf = np.cumsum(self.pmf)
        cdf[-1] = 1.0
        idx = np.searchsorted(cdf, np.asarray(q) - 1e-12, side="left")
        out = np.minimum(idx, self.pmf.size - 1) + self.offset
        return int(out) if np.ndim(out) == 0 else out

    def expected_shortfall(self, s: float) -> float:
        """First-order loss E[(X - s)^+]."""
        x = self.support
        return float(np.dot(np.maximum(x - s, 0.0), self.pmf))

    def convolve(self, other: DiscreteDistribution) -> DiscreteDistribution:
        """Distribution of the sum of two independent variables."""
        return DiscreteDistribution(np.convolve(self.pmf, other.pmf), self.offset + other.offset)

    def inverse_cdf_table(self) -> np.ndarray:
        """Cumulative probabilities, last one exactly 1, for inverse-CDF sampling."""
        cdf = np.cumsum(self.pmf)
        cdf[-1] = 1.0
        return cdf

    def sample(self, rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
        """Draw integer samples by inverse CDF."""
        u = rng.random(size)
        return np.searchsorted(self.inverse_cdf_table(), u, side="right") + self.offset


def pack_distributions(dists: list[DiscreteDistribution]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pack distributions into CSR arrays for the kernels.

    Returns:
        cdf: concatenated cumulative probabilities (last of each block is 1.0).
        indptr: ``cdf[indptr[i]:indptr[i+1]]`` belongs to distribution ``i``.
        offsets: the support offset of each distribution.
    """
    sizes = np.fromiter((d.pmf.size for d in dists), dtype=np.int64, count=len(dists))
    indptr = np.zeros(len(dists) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    cdf = np.empty(int(indptr[-1]), dtype=np.float64)
    for i, d in enumerate(dists):
        cdf[indptr[i] : indptr[i + 1]] = d.inverse_cdf_table()
    offsets = np.fromiter((d.offset for d in dists), dtype=np.int64, count=len(dists))
    return cdf, indptr, offsets
