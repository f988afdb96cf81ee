"""A stage's fill rate, backlog and on hand at every level from its position histograms.

One pass per row and replication group over the row's bins, from the top level down,
carrying the counts and sums of ``X`` (and ``max(Y, 0)``) above the level; see
:mod:`.positions` for the identities. It replaces a NumPy formulation that built a dozen
``groups x bins`` temporaries (a reverse cumulative sum over all rows, then differences);
the numbers are the same to the bit: counts and sums of integer positions are integers
far below 2**53 (exact in float64 whatever the order of the additions), and every
non-integer quantity (a fill, a mean over groups) is computed with the same operations in
the same order as NumPy's reductions over the group axis (its pairwise summation).
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["position_curves"]


@nb.njit(cache=True, nogil=True)
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    """NumPy's pairwise sum of ``a[lo:lo + n]`` for ``n <= 128``: 8 running sums."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return float(res)


@nb.njit(cache=True, nogil=True)
def _pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """Sum of ``a[lo:lo + n]`` in NumPy's pairwise order.

    As ``numpy.add.reduce`` along a contiguous axis: blocks of at most 128 values, above
    that the sum of two halves (the first a multiple of 8). Without recursion: Numba
    cannot load cached recursive code (it crashed).
    """
    if n <= 128:
        return _block_sum(a, lo, n)
    node_lo = np.empty(128, dtype=np.int64)  # pending nodes (depth-first) and their state
    node_n = np.empty(128, dtype=np.int64)
    node_done = np.empty(128, dtype=np.bool_)
    vals = np.empty(128)
    top, n_vals = 0, 0
    node_lo[0], node_n[0], node_done[0] = lo, n, False
    top = 1
    while top > 0:
        top -= 1
        a_lo, a_n, done = node_lo[top], node_n[top], node_done[top]
        if a_n <= 128:
            vals[n_vals] = _block_sum(a, a_lo, a_n)
            n_vals += 1
        elif done:  # both halves summed: left + right
            n_vals -= 1
            vals[n_vals - 1] = vals[n_vals - 1] + vals[n_vals]
        else:
            n2 = a_n // 2
            n2 -= n2 % 8
            node_lo[top], node_n[top], node_done[top] = a_lo, a_n, True
            node_lo[top + 1], node_n[top + 1], node_done[top + 1] = a_lo + n2, a_n - n2, False
            node_lo[top + 2], node_n[top + 2], node_done[top + 2] = a_lo, n2, False
            top += 3
    return float(vals[0])


@nb.njit(cache=True, nogil=True)
def _one_group_row(ptr: np.ndarray, r: int, o: int, x_counts: np.ndarray, y_counts: np.ndarray,
                   x_tail_n: np.ndarray, x_tail_sum: np.ndarray, y_tail_n: np.ndarray, y_tail_sum: np.ndarray,
                   demand_sum: np.ndarray, n: float, level: np.ndarray, fill: np.ndarray, se: np.ndarray,
                   backlog: np.ndarray, on_hand: np.ndarray, on_hand_se: np.ndarray) -> None:
    """Row ``r`` of :func:`position_curves` with one replication group, into outputs ``o ..``.

    The general path's numbers without its per-group buffers: a mean over one group is
    its pairwise sum ``0.0 + v`` (which :func:`_block_sum` computes) divided by 1, exactly
    ``0.0 + v``; standard errors need two groups (NaN).
    """
    a = ptr[r]
    m = ptr[r + 1] - a
    sum_x = 0.0
    for k in range(m):
        sum_x += x_counts[0, a + k] * k
    ex = (sum_x + x_tail_sum[0, r]) / n
    dem = demand_sum[0, r]
    cnt_x = x_tail_n[0, r]
    tot_x = x_tail_sum[0, r]
    cnt_y = y_tail_n[0, r]
    tot_y = y_tail_sum[0, r]
    for k in range(m - 1, -1, -1):
        bx = tot_x - k * cnt_x
        by = tot_y - k * cnt_y
        b_g = bx / n
        level[o + k] = k
        fill[o + k] = 0.0 + (1.0 - (bx - by) / dem) if dem > 0 else np.nan
        se[o + k] = np.nan
        backlog[o + k] = 0.0 + b_g
        on_hand[o + k] = 0.0 + (k - ex + b_g)
        on_hand_se[o + k] = np.nan
        c = x_counts[0, a + k]
        cnt_x += c
        tot_x += c * k
        c = y_counts[0, a + k]
        cnt_y += c
        tot_y += c * k


@nb.njit(cache=True, nogil=True)
def position_curves(
    ptr: np.ndarray,
    rows: np.ndarray,
    x_counts: np.ndarray,
    y_counts: np.ndarray,
    x_tail_n: np.ndarray,
    x_tail_sum: np.ndarray,
    y_tail_n: np.ndarray,
    y_tail_sum: np.ndarray,
    demand_sum: np.ndarray,
    periods_per_group: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat ``(bins,)`` level [units], fill rate [-], its SE [-], backlog [units], on hand [units], its SE.

    Arguments as the fields of :class:`.positions.PositionHistograms` (``x_counts``,
    ``y_counts``: ``float64 [groups, bins]``; tails and ``demand_sum``: ``float64
    [groups, rows]``). Row ``i``'s bins ``ptr[i]:ptr[i + 1]`` are its levels ``0 .. cap``.
    Only ``rows`` (``int64``, in that order) are computed: the outputs hold their bins one
    row after the other (offsets: the cumulative sum of their sizes).
    Means over groups: pairwise sums (as NumPy sums a group axis), divided by the count.
    Standard errors over the replication groups (NaN with one group).
    """
    groups = x_counts.shape[0]
    n_bins = 0
    for i in range(rows.size):
        n_bins += ptr[rows[i] + 1] - ptr[rows[i]]
    level = np.empty(n_bins)
    fill = np.empty(n_bins)
    se = np.empty(n_bins)
    backlog = np.empty(n_bins)
    on_hand = np.empty(n_bins)
    on_hand_se = np.empty(n_bins)
    n = periods_per_group
    o = 0  # first output bin of the row
    for i in range(rows.size):
        r = rows[i]
        a = ptr[r]
        m = ptr[r + 1] - a
        if m == 0:
            continue
        if groups == 1:
            _one_group_row(ptr, r, o, x_counts, y_counts, x_tail_n, x_tail_sum, y_tail_n, y_tail_sum, demand_sum,
                           n, level, fill, se, backlog, on_hand, on_hand_se)
            o += m
            continue
        # per bin, its groups' values side by side (each bin's reduction reads a run)
        fill_g = np.empty(m * groups)  # NaN: the group had no demand
        fill_0 = np.empty(m * groups)  # the same with 0 for NaN
        backlog_g = np.empty(m * groups)
        on_hand_g = np.empty(m * groups)
        n_fill = np.zeros(m, dtype=np.int64)
        for g in range(groups):
            sum_x = 0.0  # sum of X over the row's bins (E[X] = (sum_x + tail) / n)
            for k in range(m):
                sum_x += x_counts[g, a + k] * k
            ex = (sum_x + x_tail_sum[g, r]) / n
            dem = demand_sum[g, r]
            cnt_x = x_tail_n[g, r]  # periods with X above level k, and their sum of X
            tot_x = x_tail_sum[g, r]
            cnt_y = y_tail_n[g, r]
            tot_y = y_tail_sum[g, r]
            for k in range(m - 1, -1, -1):
                bx = tot_x - k * cnt_x  # sum over periods of (X - k)^+
                by = tot_y - k * cnt_y
                at = k * groups + g
                if dem > 0:
                    f = 1.0 - (bx - by) / dem
                    fill_g[at] = f
                    fill_0[at] = f
                    n_fill[k] += 1
                else:
                    fill_g[at] = np.nan
                    fill_0[at] = 0.0
                b_g = bx / n
                backlog_g[at] = b_g
                on_hand_g[at] = k - ex + b_g
                c = x_counts[g, a + k]
                cnt_x += c
                tot_x += c * k
                c = y_counts[g, a + k]
                cnt_y += c
                tot_y += c * k
        dev2 = np.empty(groups)
        for k in range(m):
            lo = k * groups
            level[o + k] = k
            ng = n_fill[k]
            mu = _pairwise_sum(fill_0, lo, groups) / max(ng, 1) if ng > 0 else np.nan
            fill[o + k] = mu
            if ng > 1:
                for g in range(groups):
                    f = fill_g[lo + g]
                    d = 0.0 if np.isnan(f) else f - mu
                    dev2[g] = d * d
                se[o + k] = np.sqrt(_pairwise_sum(dev2, 0, groups) / max(ng - 1, 1) / max(ng, 1))
            else:
                se[o + k] = np.nan
            backlog[o + k] = _pairwise_sum(backlog_g, lo, groups) / groups
            mu_oh = _pairwise_sum(on_hand_g, lo, groups) / groups
            on_hand[o + k] = mu_oh
            if groups > 1:
                for g in range(groups):
                    d = on_hand_g[lo + g] - mu_oh
                    dev2[g] = d * d
                on_hand_se[o + k] = np.sqrt(_pairwise_sum(dev2, 0, groups) / (groups - 1) / groups)
            else:
                on_hand_se[o + k] = np.nan
        o += m
    return level, fill, se, backlog, on_hand, on_hand_se
