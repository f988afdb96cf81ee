"""The windows of :mod:`platform_core.forecasting.fill_interval`, every stage in one compiled pass.

Per stage, from its uniform draws (drawn by the caller from the stage's own random
stream, as the NumPy version draws them): the demand paths (inverse-CDF sampling, the
level-ratio scaling ``floor(theta x + u)``, the demand since the last arrived review),
the effective level (the bisection on the pooled window fill) and each window's fill
there.  The same operations in the same order as the NumPy version, so the same bits:

* demand and its sums are whole units (integers far below ``2**53``: exact in float64
  whatever the order of the additions), so the sorted values, suffix sums and totals are
  exact;
* the non-integer steps (the hinge sums at a real level, the grid of ``np.linspace``,
  the fills) are the same IEEE operations, elementwise; ``searchsorted`` on the fill grid
  is NumPy's binary search; a window's shortage is summed period by period, as NumPy
  sums it (the window paths ``x[:, t]`` of the NumPy version are column-major, so its sum
  over the periods adds the columns in order).

A stage whose draws are not whole units (a non-finite level ratio) is left to the NumPy
version by the caller.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["window_fills"]


@nb.njit(cache=True, nogil=True)
def _guide(cdf: np.ndarray) -> np.ndarray:
    """``guide[b]``: the count of ``cdf`` values ``<= b / G`` (``G = guide.size``, a power of two).

    ``cdf`` is non-decreasing but for its last value (set to 1), so ``cdf <= u`` holds on
    a prefix for every ``u < 1`` and any search gives ``np.searchsorted``'s answer.
    """
    g = 16
    while g < cdf.size and g < 8192:
        g *= 2
    guide = np.empty(g, dtype=np.int64)
    j = 0
    for b in range(g):
        while j < cdf.size - 1 and cdf[j] <= b / g:  # b / g exact: g a power of two
            j += 1
        guide[b] = j
    return guide


@nb.njit(cache=True, nogil=True)
def _inverse_cdf(cdf: np.ndarray, guide: np.ndarray, u: float) -> int:
    """``np.searchsorted(cdf, u, side="right")`` for ``0 <= u < 1``: from the guide, then forward."""
    j = guide[min(int(u * guide.size), guide.size - 1)]  # u x G exact, its floor <= u x G
    while cdf[j] <= u:
        j += 1
    return int(j)


@nb.njit(cache=True, nogil=True)
def _count_at_most(v: np.ndarray, x: float) -> int:
    """``np.searchsorted(v, x, side="right")`` on sorted ``v`` (the count of ``v <= x``)."""
    lo, hi = 0, v.size
    while lo < hi:
        mid = lo + ((hi - lo) >> 1)
        if v[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True, nogil=True)
def _first_reaching(fill: np.ndarray, key: float) -> int:
    """``np.searchsorted(fill, key, side="left")``: NumPy's binary search, NaN sorted last."""
    lo, hi = 0, fill.size
    while lo < hi:
        mid = lo + ((hi - lo) >> 1)
        a = fill[mid]
        if a < key or (key != key and a == a):
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True, nogil=True)
def _suffix_sums(v: np.ndarray) -> np.ndarray:
    """``suffix[k] = v[k] + ... + v[-1]``, ``suffix[n] = 0`` (as ``cumsum(v[::-1])[::-1]``)."""
    n = v.size
    out = np.zeros(n + 1)
    if n:
        out[n - 1] = v[n - 1]
        for k in range(n - 2, -1, -1):
            out[k] = out[k + 1] + v[k]
    return out


@nb.njit(cache=True, nogil=True)
def _hinge_table(values: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`_hinge` needs of whole-unit ``values``: ``(low, count_at_most, sum_at_most, v, suffix)``.

    Values spanning few units: counts and sums of the values ``<= low + j`` (no sort);
    else the sorted values and their suffix sums (``v``, ``suffix``; the tables empty).
    """
    v = values.ravel()
    n = v.size
    low, top = v.min(), v.max()
    span = int(top - low) + 1
    if span <= 4 * n:
        count = np.zeros(span, dtype=np.int64)
        total = np.zeros(span)
        for x in v:
            j = int(x - low)
            count[j] += 1
            total[j] += x
        for j in range(1, span):
            count[j] += count[j - 1]
            total[j] += total[j - 1]
        return low, count, total, np.empty(0), np.empty(0)
    w = np.sort(v)
    return low, np.empty(0, dtype=np.int64), np.empty(0), w, _suffix_sums(w)


@nb.njit(cache=True, nogil=True)
def _hinge(table: tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray], n: int, level: float) -> float:
    """``sum_i (v_i - level)^+`` as ``suffix[k] - level x (n - k)``, ``k`` the count of ``v_i <= level``.

    ``suffix[k]`` (the sum of the values above ``level``) is a whole number either way, so
    both forms of the table give the same bits.
    """
    low, count, total, v, suffix = table
    if count.size == 0:
        k = _count_at_most(v, level)
        return float(suffix[k] - level * float(n - k))
    if level < low:
        k, above = 0, total[-1]
    elif level >= low + float(count.size - 1):
        k, above = n, 0.0
    else:
        j = int(np.floor(level)) - int(low)  # low + j <= level < low + j + 1 (low whole)
        k, above = count[j], total[-1] - total[j]
    return float(above - level * float(n - k))


@nb.njit(cache=True, nogil=True)
def _effective_level(demand: np.ndarray, since: np.ndarray, level: float, promise: float, total: float) -> float:
    """The level whose pooled window fill equals ``promise`` (see ``fill_interval._effective_level``)."""
    n = since.size
    over = _hinge_table(since)
    before = _hinge_table(since - demand)
    lo = level if level < 0.0 else 0.0  # min(0.0, level)
    top = since.max() + 1.0
    hi = level if level > top else top  # max(since.max() + 1.0, level)
    grid = np.empty(17)
    fill = np.empty(17)
    key = promise - 1e-12
    for _ in range(6):
        delta = hi - lo  # np.linspace(lo, hi, 17)
        step = delta / 16
        for j in range(17):
            if step == 0:
                grid[j] = (float(j) / 16) * delta + lo
            else:
                grid[j] = float(j) * step + lo
        grid[16] = hi
        for j in range(17):
            g = grid[j]
            fill[j] = 1.0 - (_hinge(over, n, g) - _hinge(before, n, g)) / total
        k = _first_reaching(fill, key)
        k = min(max(k, 1), 16)
        lo, hi = grid[k - 1], grid[k]
    return hi


@nb.njit(cache=True, nogil=True)
def window_fills(cdf: np.ndarray, cdf_ptr: np.ndarray, offsets: np.ndarray, draws: np.ndarray,
                 draw_ptr: np.ndarray, theta: np.ndarray, scaled: np.ndarray, lead: np.ndarray,
                 review: np.ndarray, horizon: int, windows: int, level: np.ndarray, promise: np.ndarray,
                 fill_out: np.ndarray) -> np.ndarray:
    """Each stage's window fills at its effective level, into ``fill_out`` (stages, windows).

    Stage ``i``: demand PMF as inverse-CDF table ``cdf[cdf_ptr[i]:cdf_ptr[i + 1]]`` on
    ``offsets[i]..``; its uniform draws ``draws[draw_ptr[i]:]``: ``windows x T`` for the
    demand, then (``scaled[i]``) ``windows x T`` for the ratio scaling, ``T = lead + review
    + horizon``; ``theta[i]`` the ratio of each window; ``level``, ``promise`` [-] clipped
    to 0..1.  Returns per stage whether it has demand at all (no demand: ``fill_out`` row
    untouched, the caller's interval is the promise).
    """
    n = cdf_ptr.size - 1
    has_demand = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        L, R = lead[i], review[i]
        T = L + R + horizon
        table = cdf[cdf_ptr[i] : cdf_ptr[i + 1]]
        base = draw_ptr[i]
        demand = np.empty((windows, horizon))
        since = np.empty((windows, horizon))
        total = 0.0
        guide = _guide(table)
        x = np.empty(T)
        path = np.empty(T + 1)  # cumulative demand
        for w in range(windows):
            path[0] = 0.0
            for t in range(T):
                x[t] = float(_inverse_cdf(table, guide, draws[base + w * T + t]) + offsets[i])
                if scaled[i]:
                    x[t] = np.floor(theta[i, w] * x[t] + draws[base + (windows + w) * T + t])
                path[t + 1] = path[t] + x[t]
            for h in range(horizon):
                t = L + R + h
                tau = ((t - L) // R) * R  # last review epoch whose order has arrived by period t
                demand[w, h] = x[t]
                since[w, h] = path[t + 1] - path[tau]
                total += x[t]
        if not total > 0.0:
            continue
        has_demand[i] = True
        s = _effective_level(demand, since, level[i], promise[i], total)
        for w in range(windows):
            dem = 0.0
            sh = 0.0  # in period order: NumPy's sum over the periods of its (column-major) window paths
            for h in range(horizon):
                gap = since[w, h] - s
                gap = gap if gap > 0.0 else 0.0
                d = demand[w, h]
                sh += d if d < gap else gap
                dem += d
            fill_out[i, w] = 1.0 - sh / dem if dem > 0 else np.nan
    return has_demand
