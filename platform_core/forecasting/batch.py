"""Base class of batch forecasters, and lead-time demand of many series with FFTs.

A batch forecaster fits all series at once and keeps one per-period PMF per series;
lead-time demand over ``L + r`` i.i.d. periods is compounded for the whole batch with
real FFTs (:func:`compound_batch`).  Forecaster plugins subclass
:class:`BatchForecaster`; the FFT compounding is shared by every subclass.
"""

from __future__ import annotations

import numpy as np

from platform_core.components import Forecaster
from platform_core.distributions import DiscreteDistribution

__all__ = ["BatchForecaster", "compound_batch"]


class BatchForecaster(Forecaster):
    """A forecaster whose fit leaves ``period_dists_`` (one PMF per series).

    Lead-time demand assumes i.i.d. periods and is compounded for all series at once with
    FFTs (:func:`compound_batch`), which is exact up to a tail mass below 1e-10 and much
    faster than pairwise convolution.
    """

    period_dists_: list[DiscreteDistribution]

    def _check_fitted(self) -> None:
        if not hasattr(self, "period_dists_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")

    def period_demand(self) -> list[DiscreteDistribution]:
        """Per-period demand distribution [units/period] of each fitted series."""
        self._check_fitted()
        return list(self.period_dists_)

    def lead_time_demand(
        self,
        lead_times: list[DiscreteDistribution],
        review_periods: np.ndarray,
        seeds: np.ndarray,
    ) -> list[DiscreteDistribution]:
        """Demand over lead time + review period [units] per series (i.i.d. periods)."""
        self._check_fitted()
        if len(lead_times) != len(self.period_dists_):
            raise ValueError("one lead-time distribution per fitted series is required")
        return compound_batch(self.period_dists_, lead_times, np.asarray(review_periods))

    def mean(self) -> np.ndarray:
        """Mean demand per period [units/period] of each fitted series."""
        self._check_fitted()
        return np.array([d.mean() for d in self.period_dists_])


def _next_pow2(x: int) -> int:
    return 1 << max(int(np.ceil(np.log2(max(x, 2)))), 1)


def compound_batch(
    period: list[DiscreteDistribution],
    lead_times: list[DiscreteDistribution],
    review_periods: np.ndarray,
    max_cells: int = 1 << 22,
) -> list[DiscreteDistribution]:
    """Demand over ``L + r`` i.i.d. periods for many series at once.

    The PGF of the sum is ``sum_l P(L=l) G(z)^(l+r)``; it is evaluated with real FFTs of a
    common length per group of series, long enough that the aliased tail mass is
    negligible (mean + 12 standard deviations of the sum, or the exact maximum when
    smaller).

    Args:
        period: per-period demand distribution per series [units/period].
        lead_times: lead-time distribution per series [periods].
        review_periods: review period per series [periods].
        max_cells: memory cap of one FFT block [complex cells].

    Returns:
        Lead-time-demand distribution per series [units].
    """
    n = len(period)
    rev = np.asarray(review_periods, dtype=np.int64).reshape(-1)
    if rev.size == 1 and n != 1:
        rev = np.full(n, int(rev[0]))
    pm = np.array([d.mean() for d in period]) if n else np.zeros(0)
    pv = np.array([d.var() for d in period]) if n else np.zeros(0)
    pmax = np.array([d.offset + d.pmf.size - 1 for d in period], dtype=np.int64)
    lmin = np.array([lt.offset for lt in lead_times], dtype=np.int64) + rev
    lmax = np.array([lt.offset + lt.pmf.size - 1 for lt in lead_times], dtype=np.int64) + rev
    lm = np.array([lt.mean() for lt in lead_times]) + rev
    lv = np.array([lt.var() for lt in lead_times])
    mean = lm * pm
    sd = np.sqrt(lm * pv + lv * pm**2)
    need = np.minimum(lmax * pmax, np.ceil(mean + 12.0 * sd + 8.0 * np.sqrt(np.maximum(mean, 1.0)) + 16))
    need = np.maximum(need, 1).astype(np.int64) + 1
    out: list[DiscreteDistribution | None] = [None] * n
    trivial = (lmax == 0) | (pmax == 0)
    for i in np.flatnonzero(trivial):
        out[i] = DiscreteDistribution.point(0)  # no periods, or demand always zero
    sizes = np.array([_next_pow2(int(x)) for x in need], dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    for N in np.unique(sizes[~trivial]):
        members = np.flatnonzero((sizes == N) & ~trivial)
        rows = max(1, int(max_cells // int(N)))
        for s in range(0, members.size, rows):
            grp = members[s : s + rows]
            P = np.zeros((grp.size, int(N)))
            for j, i in enumerate(grp):
                d = period[i]
                m = min(d.pmf.size, int(N) - d.offset)
                if m > 0:
                    P[j, d.offset : d.offset + m] = d.pmf[:m]
            G = np.fft.rfft(P, axis=1)
            Lmax = int(lmax[grp].max())
            W = np.zeros((grp.size, Lmax + 1))
            for j, i in enumerate(grp):
                lt = lead_times[i]
                W[j, lt.offset + rev[i] : lt.offset + rev[i] + lt.pmf.size] = lt.pmf
            acc = np.zeros_like(G)
            powk = np.ones_like(G)
            lo_g = int(lmin[grp].min())
            for k in range(Lmax + 1):
                if k >= lo_g:
                    wk = W[:, k]
                    if np.any(wk):
                        acc += wk[:, None] * powk
                if k < Lmax:
                    powk = powk * G
            res = np.fft.irfft(acc, n=int(N), axis=1)
            res[res < 1e-13] = 0.0
            for j, i in enumerate(grp):
                row = res[j]
                if row.sum() <= 0:
                    out[i] = DiscreteDistribution.point(int(round(mean[i])))
                else:
                    out[i] = DiscreteDistribution(row, 0)
    return [d if d is not None else DiscreteDistribution.point(0) for d in out]
