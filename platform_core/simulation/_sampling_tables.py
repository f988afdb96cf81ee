"""The engine's sampling tables of many distributions in one compiled pass.

:func:`sampling_tables` gives, for every distribution ``cdf[ptr[b]:ptr[b + 1]]``, what
:func:`._rng.guide_table` and :func:`._rng.threshold_tables` give (the same integers:
tests compare them), without their Python loop over distributions: a solver's batch brings
thousands of new distributions (demand and lead time per stage) to the engine, each used
in many runs but tabulated once (``engine._tables_of``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._rng import _TWO53, guide_bits

__all__ = ["sampling_tables"]


@nb.njit(cache=True, nogil=True)
def sampling_tables(cdf: np.ndarray, ptr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """Guide tables, thresholds and threshold guide tables of the distributions ``cdf`` (CSR ``ptr``).

    Returns:
        guide: ``int64``, CSR ``ptr``: per block, :func:`._rng.guide_table`'s entries.
        thr: ``int64``, CSR ``ptr``: ``ceil(cdf * 2**53)``.
        g_ptr: ``int64 [blocks + 1]`` CSR offsets of the threshold guide tables.
        tguide: ``int64``, CSR ``g_ptr``: block-relative start indices (:func:`._rng.threshold_tables`).
        g_shift: ``int64 [blocks]``: ``64 - bits`` of each block's threshold guide table.
    """
    n_b = ptr.size - 1
    guide = np.empty(cdf.size, dtype=np.int64)
    thr = np.empty(cdf.size, dtype=np.int64)
    g_ptr = np.zeros(n_b + 1, dtype=np.int64)
    g_shift = np.empty(n_b, dtype=np.int64)
    for b in range(n_b):
        lo, hi = ptr[b], ptr[b + 1]
        m = hi - lo
        bits = guide_bits(m)
        g_ptr[b + 1] = g_ptr[b] + (1 << bits)
        g_shift[b] = 64 - bits
        j = 0
        for k in range(m):  # searchsorted(block, k / m - 1e-12, side="right"), at most m - 1
            q = k / m - 1e-12
            while j < m and cdf[lo + j] <= q:
                j += 1
            guide[lo + k] = min(j, m - 1)
            thr[lo + k] = np.int64(np.ceil(cdf[lo + k] * _TWO53))
    tguide = np.empty(g_ptr[n_b], dtype=np.int64)
    for b in range(n_b):
        lo, hi = ptr[b], ptr[b + 1]
        m = hi - lo
        n_guide = g_ptr[b + 1] - g_ptr[b]
        g_bits = 64 - g_shift[b]
        j = 0
        for k in range(n_guide):  # searchsorted(thr[lo:hi], k << (53 - bits), side="right")
            start = np.int64(k) << np.int64(53 - g_bits)
            while j < m and thr[lo + j] <= start:
                j += 1
            tguide[g_ptr[b] + k] = j
    return guide, thr, g_ptr, tguide, g_shift
