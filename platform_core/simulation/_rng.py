"""Counter-based random numbers for the simulation kernels.

Every random quantity of the network simulation is a pure function of
``(stream key, period)``: the uniform for stage ``k`` in period ``t`` is
``splitmix64_mix(key_k + t * golden)``.  This is the SplitMix64 generator evaluated at
counter ``t`` (SplitMix64 *is* a counter-based generator: its state is a Weyl sequence),
so

* stage ``k``'s demand path does not depend on any other stage or on the policy
  (common random numbers across candidate policies of one SKU network);
* a lead-time draw of lane ``a`` in period ``t`` is the same whether or not other lanes
  shipped, so policies that ship in the same periods see the same lead times;
* the results cannot depend on thread counts or on how networks are grouped into calls.

Correlated demand (:class:`.joint_demand.JointDemand`) adds one stream per network and
replication, kind ``STREAM_COMMON`` (index 0): its draw in period ``t`` picks a historical
period ``h`` (:func:`history_row`), and a participating stage's own draw ``z`` is moved
into the ``rank``-th of ``H`` equal slices of the 64-bit range (:func:`joint_z`), so its
uniform is ``(rank + u) / H``: still exactly uniform, the stage's marginal unchanged.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = [
    "mix64", "stream_key", "uniform_at", "sample_table", "sample_guided", "guide_table",
    "threshold_tables", "threshold_block", "sample_threshold", "sample_block",
    "sample_drawn", "mulhi64", "history_row", "joint_z", "joint_uniform",
    "STREAM_DEMAND", "STREAM_LEAD_TIME", "STREAM_COMMON",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV53 = 1.0 / 9007199254740992.0

STREAM_DEMAND = 1
STREAM_LEAD_TIME = 2
STREAM_COMMON = 3  # one per network (index 0): the historical period of correlated demand
_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


@nb.njit(cache=True, nogil=True)
def mix64(z: np.uint64) -> np.uint64:
    """The SplitMix64 output function (a bijective 64-bit avalanche mix)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@nb.njit(cache=True, nogil=True)
def stream_key(seed: np.uint64, replication: int, kind: int, index: int) -> np.uint64:
    """The key of one random stream: network ``seed``, replication, stream kind, index."""
    sid = (
        (np.uint64(replication) << np.uint64(32))
        | (np.uint64(kind) << np.uint64(28))
        | np.uint64(index)
    )
    return mix64(seed ^ mix64(sid + _GOLDEN))


@nb.njit(cache=True, nogil=True)
def uniform_at(key: np.uint64, t: int) -> float:
    """A U[0, 1) draw for counter ``t`` of stream ``key`` (53 random bits)."""
    z = mix64(key + np.uint64(t) * _GOLDEN)
    return float(z >> np.uint64(11)) * _INV53


@nb.njit(cache=True, nogil=True)
def sample_table(cdf: np.ndarray, lo: int, hi: int, offset: int, u: float) -> int:
    """Inverse-CDF sample: ``offset + min{k : cdf[lo + k] > u}`` (binary search).

    Args:
        cdf: concatenated cumulative probabilities (see ``pack_distributions``).
        lo: first index of this distribution's block in ``cdf``.
        hi: one past the last index of the block.
        offset: smallest support value [units or periods].
        u: a uniform in [0, 1).
    """
    a = lo
    b = hi - 1
    while a < b:
        m = (a + b) >> 1
        if cdf[m] > u:
            b = m
        else:
            a = m + 1
    return a - lo + offset


@nb.njit(cache=True, nogil=True)
def sample_guided(cdf: np.ndarray, guide: np.ndarray, lo: int, hi: int, offset: int, u: float) -> int:
    """Inverse-CDF sample in O(1) expected time with a guide table (Chen & Asau, 1974).

    Returns exactly what :func:`sample_table` returns for the same ``u``.

    Args:
        cdf: concatenated cumulative probabilities.
        guide: same layout as ``cdf``; ``guide[lo + k]`` is the smallest index ``i`` of
            the block with ``cdf[lo + i] > k / (hi - lo)`` (see :func:`guide_table`).
        lo: first index of the block.
        hi: one past the last index of the block.
        offset: smallest support value [units or periods].
        u: a uniform in [0, 1).
    """
    m = hi - lo
    k = int(u * m)
    if k >= m:
        k = m - 1
    i = lo + guide[lo + k]
    while cdf[i] <= u:
        i += 1
    return i - lo + offset


def guide_table(cdf: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Guide tables (same CSR layout as ``cdf``) for :func:`sample_guided`."""
    guide = np.zeros(cdf.size, dtype=np.int64)
    for b in range(indptr.size - 1):
        lo, hi = int(indptr[b]), int(indptr[b + 1])
        block = cdf[lo:hi]
        m = hi - lo
        guide[lo:hi] = np.minimum(np.searchsorted(block, np.arange(m) / m - 1e-12, side="right"), m - 1)
    return guide


_TWO53 = 9007199254740992.0
GUIDE_FACTOR = 16  # guide entries per support point (rounded up to a power of two)


def threshold_tables(cdf: np.ndarray, indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integer inverse-CDF tables for :func:`sample_threshold` (no float per draw).

    A uniform of this module is ``u = n / 2**53`` with ``n = mix64(...) >> 11``, so
    ``cdf[i] <= u`` exactly when ``ceil(cdf[i] * 2**53) <= n`` (scaling by a power of two
    is exact). The guide table of block ``b`` has ``2**bits`` entries (the power of two
    at least ``GUIDE_FACTOR`` times the support size), indexed by the top ``bits`` bits of the
    64-bit draw; entry ``k`` is the first index whose threshold exceeds the smallest
    ``n`` of bucket ``k``, a lower bound for every draw of the bucket.

    Returns:
        thr: ``int64`` thresholds, same CSR layout as ``cdf`` (``indptr``).
        g_ptr: CSR offsets of the guide tables (one block per distribution).
        guide: block-relative start indices.
        g_shift: per block, ``64 - bits`` (bucket = draw >> g_shift).
    """
    thr = np.ceil(cdf * _TWO53).astype(np.int64)
    n_b = indptr.size - 1
    g_ptr = np.zeros(n_b + 1, dtype=np.int64)
    g_shift = np.empty(n_b, dtype=np.int64)
    parts = []
    for b in range(n_b):
        lo, hi = int(indptr[b]), int(indptr[b + 1])
        bits = max(2, int(GUIDE_FACTOR * (hi - lo) - 1).bit_length())
        m = 1 << bits
        starts = np.arange(m, dtype=np.int64) << np.int64(53 - bits)
        parts.append(np.searchsorted(thr[lo:hi], starts, side="right").astype(np.int64))
        g_ptr[b + 1] = g_ptr[b] + m
        g_shift[b] = 64 - bits
    guide = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return thr, g_ptr, guide, g_shift


@nb.njit(cache=True, nogil=True, inline="always")
def sample_threshold(
    thr: np.ndarray, guide: np.ndarray, lo: int, g_lo: int, g_shift: np.uint64, offset: int, z: np.uint64
) -> int:
    """Inverse-CDF sample from the raw 64-bit draw ``z = mix64(key + t * golden)``.

    Returns exactly what :func:`sample_guided` (and :func:`sample_table`) return for
    ``u = uniform_at(key, t)``: ``offset + min{k : cdf[lo + k] > u}``.

    Args:
        thr: thresholds of :func:`threshold_tables` (or one array holding both tables).
        guide: guide tables of :func:`threshold_tables` (or the same array as ``thr``).
        lo: first index of the distribution's block in ``thr``.
        g_lo: first index of its guide table.
        g_shift: its ``64 - bits``.
        offset: smallest support value [units or periods].
        z: the raw draw.
    """
    n = np.int64(z >> np.uint64(11))
    i = lo + guide[g_lo + np.int64(z >> g_shift)]
    i += np.int64(thr[i] <= n)  # usually the last step: without a branch to mispredict
    while thr[i] <= n:
        i += 1
    return i - lo + offset


@nb.njit(cache=True, nogil=True)
def sample_block(out: np.ndarray, o: np.uint64, n: np.uint64, tab: np.ndarray, lo: int, g_lo: int,
                 g_shift: np.uint64, offset: int, key: np.uint64, t0: np.uint64, zb: np.ndarray) -> None:
    """Draws of :func:`sample_threshold` for ``n`` consecutive periods from ``t0``.

    ``out[o + k]`` is ``sample_threshold(tab, tab, lo, g_lo, g_shift, offset, z)`` with
    ``z = mix64(key + (t0 + k) * golden)``, computed in three loops: the draws and the first
    two table steps are branch-free (they vectorise), the rarely needed further steps
    follow in a scalar loop (:func:`sample_drawn`). ``zb`` is scratch space for ``n`` raw
    draws.
    """
    for k in range(n):
        zb[k] = mix64(key + (t0 + k) * _GOLDEN)
    sample_drawn(out, o, n, tab, lo, g_lo, g_shift, offset, zb)


@nb.njit(cache=True, nogil=True, inline="always")
def sample_drawn(out: np.ndarray, o: np.uint64, n: np.uint64, tab: np.ndarray, lo: int, g_lo: int,
                 g_shift: np.uint64, offset: int, zb: np.ndarray) -> None:
    """:func:`sample_block` from ``n`` raw draws already in ``zb`` (e.g. of :func:`joint_z`)."""
    for k in range(n):
        z = zb[k]
        u = np.int64(z >> np.uint64(11))
        i = lo + tab[g_lo + np.int64(z >> g_shift)]
        i += np.int64(tab[i] <= u)
        out[o + k] = i
    for k in range(n):
        i = out[o + k]
        u = np.int64(zb[k] >> np.uint64(11))
        while tab[i] <= u:
            i += 1
        out[o + k] = i - lo + offset


@nb.njit(cache=True, nogil=True, inline="always")
def mulhi64(a: np.uint64, b: np.uint64) -> np.uint64:
    """``floor(a * b / 2**64)``: the high word of the 128-bit product, exactly (32-bit halves)."""
    a_lo = a & _M32
    a_hi = a >> _S32
    b_lo = b & _M32
    b_hi = b >> _S32
    lh = a_lo * b_hi
    hl = a_hi * b_lo
    mid = ((a_lo * b_lo) >> _S32) + (lh & _M32) + (hl & _M32)  # < 3 * 2**32: no overflow
    return a_hi * b_hi + (lh >> _S32) + (hl >> _S32) + (mid >> _S32)


@nb.njit(cache=True, nogil=True, inline="always")
def history_row(zc: np.uint64, n_periods: np.uint64) -> np.uint64:
    """The historical period ``floor(u_c * H)`` picked by the common draw ``zc`` (``u_c = zc / 2**64``).

    Exact integer arithmetic: ``floor(zc * H / 2**64)``, in ``0 .. H - 1``; each period is
    picked by ``floor`` or ``ceil`` of ``2**64 / H`` of the ``2**64`` draws.
    """
    return mulhi64(zc, n_periods)


@nb.njit(cache=True, nogil=True, inline="always")
def joint_z(z: np.uint64, rank: np.int64, width: np.uint64) -> np.uint64:
    """A stage's raw draw ``z`` moved into slice ``rank`` of ``H`` slices of the 64-bit range.

    ``width = floor(2**64 / H)``; returns ``rank * width + floor(z * width / 2**64)``, so
    ``z' / 2**64`` is ``(rank + z / 2**64) / H`` up to a relative ``H / 2**64``. No overflow:
    ``z' <= (H - 1) width + width - 1 = H width - 1 < 2**64``. With ``rank`` uniform on
    ``0 .. H - 1`` (a uniformly picked row of a rank column) and ``z`` uniform, ``z'``
    takes every value below ``H * width`` with probability ``H / 2**64`` or ``(H + 1) /
    2**64`` (fewer than ``H`` values get the latter) and none of the ``2**64 - H width < H``
    values above: uniform up to ``H / 2**64``, far below anything a simulation can see, so
    the stage's inverse-CDF sample keeps its PMF.
    """
    return np.uint64(rank) * width + mulhi64(z, width)


@nb.njit(cache=True, nogil=True, inline="always")
def joint_uniform(key: np.uint64, t: int, rank: np.int64, width: np.uint64) -> float:
    """:func:`uniform_at` of ``key`` at ``t`` through :func:`joint_z` (``rank < 0``: unchanged)."""
    z = mix64(key + np.uint64(t) * _GOLDEN)
    if rank >= 0:
        z = joint_z(z, rank, width)
    return float(z >> np.uint64(11)) * _INV53


@nb.njit(cache=True, nogil=True)
def guide_bits(m: int) -> int:
    """Bits of the threshold guide table of an ``m``-point distribution (at least 2)."""
    v = GUIDE_FACTOR * m - 1
    bits = 0
    while v > 0:
        bits += 1
        v >>= 1
    return max(2, bits)


@nb.njit(cache=True, nogil=True)
def threshold_block(cdf: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.uint64]:
    """The tables of :func:`threshold_tables` for one distribution ``cdf[lo:hi]``, jitted.

    Returns ``tab`` (the ``hi - lo`` thresholds, then the guide table: ``lo = 0``,
    ``g_lo = hi - lo`` for :func:`sample_threshold` / :func:`sample_block`) and the guide
    shift. The same integers as :func:`threshold_tables` (tests compare them), built in a
    kernel: for many distributions used once each (the single-stage kernel), a Python
    loop over distributions would cost more than the draws.
    """
    m = hi - lo
    bits = guide_bits(m)
    n_guide = 1 << bits
    tab = np.empty(m + n_guide, dtype=np.int64)
    for k in range(m):
        tab[k] = np.int64(np.ceil(cdf[lo + k] * _TWO53))
    j = 0
    for k in range(n_guide):
        start = np.int64(k) << np.int64(53 - bits)
        while j < m and tab[j] <= start:  # searchsorted(thresholds, start, side="right")
            j += 1
        tab[m + k] = j
    return tab, np.uint64(64 - bits)
