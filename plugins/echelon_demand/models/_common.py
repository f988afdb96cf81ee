"""Shared vectorised helpers of the demand models.

Everything here works on many series at once, like the shared helpers of the core
(the right-aligned padded matrix of :func:`platform_core.forecasting.series.padded`,
the FFT compounding of :func:`platform_core.forecasting.batch.compound_batch`): series
are subset and truncated as CSR arrays, and PMFs of whole families are evaluated on a
CSR grid of integers in one scipy call.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from platform_core.components import DemandSeries
from platform_core.distributions import DiscreteDistribution

__all__ = [
    "subset",
    "csr_grid",
    "dists_from_csr",
    "family_dists",
    "family_csr",
    "point_lead_times",
    "ew_weights",
]

#: Tail mass below which a PMF is truncated [-].
TAIL = 1e-10


def subset(demand: DemandSeries, idx: np.ndarray) -> DemandSeries:
    """The series ``idx`` of ``demand`` as a new :class:`DemandSeries`."""
    idx = np.asarray(idx, dtype=np.int64)
    indptr = np.asarray(demand.indptr, dtype=np.int64)
    lengths = np.diff(indptr)[idx]
    new_ptr = np.zeros(idx.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    within = np.arange(int(new_ptr[-1])) - np.repeat(new_ptr[:-1], lengths)
    src = np.repeat(indptr[idx], lengths) + within
    so = np.asarray(demand.stocked_out)
    attrs = demand.attributes.take(idx) if demand.attributes is not None else None
    return DemandSeries(
        keys=[demand.keys[i] for i in idx],
        values=np.asarray(demand.values, dtype=np.float64)[src],
        stocked_out=so[src].astype(bool) if so.size else np.zeros(src.size, dtype=bool),
        indptr=new_ptr,
        attributes=attrs,
        exogenous=None if demand.exogenous is None else np.asarray(demand.exogenous)[src],
        exogenous_names=demand.exogenous_names,
    )


def truncate(demand: DemandSeries, cut: np.ndarray) -> DemandSeries:
    """Drop the last ``cut[i]`` periods of series ``i`` (for backtests)."""
    indptr = np.asarray(demand.indptr, dtype=np.int64)
    lengths = np.maximum(np.diff(indptr) - np.asarray(cut, dtype=np.int64), 0)
    return window(demand, indptr[:-1], lengths)


def window(demand: DemandSeries, start: np.ndarray, lengths: np.ndarray) -> DemandSeries:
    """Series ``i`` restricted to ``values[start[i] : start[i] + lengths[i]]`` (absolute)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    new_ptr = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    within = np.arange(int(new_ptr[-1])) - np.repeat(new_ptr[:-1], lengths)
    src = np.repeat(np.asarray(start, dtype=np.int64), lengths) + within
    so = np.asarray(demand.stocked_out)
    return DemandSeries(
        keys=list(demand.keys),
        values=np.asarray(demand.values, dtype=np.float64)[src],
        stocked_out=so[src].astype(bool) if so.size else np.zeros(src.size, dtype=bool),
        indptr=new_ptr,
        attributes=demand.attributes,
        exogenous=None if demand.exogenous is None else np.asarray(demand.exogenous)[src],
        exogenous_names=demand.exogenous_names,
    )


def ew_weights(T: int, alpha: float | None, window_len: int | None) -> np.ndarray:
    """Weights of the T columns of a right-aligned matrix, most recent weight 1.

    ``alpha`` gives exponential weights ``(1-alpha)^age``; ``window_len`` zeroes periods
    older than the window; both None gives equal weights.
    """
    age = np.arange(T - 1, -1, -1, dtype=np.float64)
    w = np.ones(T) if alpha is None else (1.0 - float(alpha)) ** age
    if window_len is not None:
        w = np.where(age < window_len, w, 0.0)
    return w


def csr_grid(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integers ``lo[i]..hi[i]`` of every row concatenated.

    Returns:
        ``(k, row, indptr)``: the integers, the row each belongs to, and CSR offsets.
    """
    lo = np.asarray(lo, dtype=np.int64)
    sizes = np.asarray(hi, dtype=np.int64) - lo + 1
    indptr = np.zeros(sizes.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    row = np.repeat(np.arange(sizes.size), sizes)
    k = np.arange(int(indptr[-1])) - np.repeat(indptr[:-1], sizes) + np.repeat(lo, sizes)
    return k, row, indptr


def dists_from_csr(pmf: np.ndarray, indptr: np.ndarray, lo: np.ndarray) -> list[DiscreteDistribution]:
    """One :class:`DiscreteDistribution` per CSR block (values below 1e-14 are dropped).

    The zero ends of all blocks are found at once and the distributions are built without
    repeating the constructor's checks (``_trusted``), which is several times faster for
    many small PMFs; the values are bit-identical to the checked constructor's (each block
    is divided by its own sum).  A block without positive mass becomes a point mass at
    ``max(lo, 0)``.
    """
    pmf = np.where(np.isfinite(pmf) & (pmf > 1e-14), np.asarray(pmf, dtype=np.float64), 0.0)
    ptr = np.asarray(indptr, dtype=np.int64)
    n = ptr.size - 1
    if n <= 0:
        return []
    row = np.repeat(np.arange(n), np.diff(ptr))
    pos = np.flatnonzero(pmf > 0)
    first = np.full(n, -1, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    if pos.size:
        r = row[pos]
        starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])  # pos is sorted, so rows are grouped
        ends = np.r_[starts[1:], pos.size] - 1
        first[r[starts]] = pos[starts]
        last[r[ends]] = pos[ends]
    lo = np.asarray(lo, dtype=np.int64)
    trusted = DiscreteDistribution._trusted
    out: list[DiscreteDistribution] = []
    for i in range(n):
        a = int(first[i])
        total = pmf[ptr[i] : ptr[i + 1]].sum() if a >= 0 else 0.0
        if total <= 0:
            out.append(DiscreteDistribution.point(max(int(lo[i]), 0)))
        else:
            out.append(trusted(pmf[a : int(last[i]) + 1] / total, int(lo[i]) + a - int(ptr[i])))
    return out


def family_dists(family: str, mean: np.ndarray, var: np.ndarray) -> list[DiscreteDistribution]:
    """Per-series distributions of a parametric family (see :func:`family_csr`)."""
    return dists_from_csr(*family_csr(family, mean, var))


def family_csr(
    family: str, mean: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-series PMFs of a parametric family with the given moments, as CSR arrays.

    Args:
        family: ``poisson``, ``negbin`` (Poisson where ``var <= mean``), ``gamma``
            (discretised: mass of ``[k-0.5, k+0.5)``, the negative half folded onto 0) or
            ``normal`` (discretised the same way, truncated at 0).
        mean: mean per series [units/period].
        var: variance per series [units^2/period^2] (ignored by ``poisson``).

    Returns:
        ``(pmf, indptr, lo)``: PMF values, CSR offsets and the first support value per
        series; a zero mean gives a point mass at 0.
    """
    m = np.maximum(np.nan_to_num(np.asarray(mean, dtype=np.float64)), 0.0)
    v = np.maximum(np.nan_to_num(np.asarray(var, dtype=np.float64)), 0.0)
    n = m.size
    zero = m <= 1e-12
    ms = np.where(zero, 1.0, m)
    if family == "poisson":
        hi = stats.poisson.isf(TAIL, ms)
        lo = np.zeros(n)
        hi = np.where(zero, 0, hi)
        k, row, ptr = csr_grid(lo, hi)
        pmf = stats.poisson.pmf(k, ms[row])
    elif family == "negbin":
        over = v > m * (1 + 1e-9)
        vs = np.where(over, v, ms * 2.0)
        r = ms**2 / (vs - ms)
        p = ms / vs
        hi = np.where(over, stats.nbinom.isf(TAIL, r, p), stats.poisson.isf(TAIL, ms))
        hi = np.where(zero, 0, np.minimum(hi, 1e7))
        lo = np.zeros(n)
        k, row, ptr = csr_grid(lo, hi)
        pmf = np.where(over[row], stats.nbinom.pmf(k, r[row], p[row]), stats.poisson.pmf(k, ms[row]))
    elif family in ("gamma", "normal"):
        sd = np.sqrt(np.where(v > 0, v, np.maximum(ms, 1e-6) * 1e-6))
        if family == "gamma":
            shape = (ms / sd) ** 2
            scale = sd**2 / ms
            hi = np.ceil(stats.gamma.isf(TAIL, shape, scale=scale)) + 1
            lo = np.zeros(n)
        else:
            hi = np.ceil(ms + 7.0 * sd) + 1
            lo = np.maximum(np.floor(ms - 7.0 * sd), 0)
        hi = np.where(zero, 0, np.minimum(hi, 1e7))
        lo = np.where(zero, 0, lo)
        k, row, ptr = csr_grid(lo, hi)
        if family == "gamma":
            cdf_hi = stats.gamma.cdf(k + 0.5, shape[row], scale=scale[row])
            cdf_lo = stats.gamma.cdf(k - 0.5, shape[row], scale=scale[row])
        else:
            cdf_hi = stats.norm.cdf(k + 0.5, ms[row], sd[row])
            cdf_lo = stats.norm.cdf(k - 0.5, ms[row], sd[row])
            first = k == lo[row]
            cdf_lo = np.where(first, 0.0, cdf_lo)  # fold the lower tail onto the first value
        pmf = cdf_hi - cdf_lo
        last = np.r_[ptr[1:] - 1] if n else np.zeros(0, dtype=np.int64)
        if n:
            pmf[last] += 1.0 - cdf_hi[last]  # fold the upper tail onto the last value
    else:
        raise ValueError(f"unknown family {family!r}")
    pmf = np.where(zero[row], 1.0, pmf)
    return pmf, ptr, np.asarray(lo, dtype=np.int64)


def point_lead_times(periods: np.ndarray) -> list[DiscreteDistribution]:
    """Degenerate lead-time distributions [periods]."""
    return [DiscreteDistribution.point(int(p)) for p in np.asarray(periods)]
