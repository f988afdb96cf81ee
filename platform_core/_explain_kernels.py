"""The analytic level search of :mod:`platform_core.explain` in one compiled pass.

:func:`platform_core.explain.analytic_safety_stock` looks for the smallest level whose
fill reaches a target (or the level of least cost) on the PMFs of the stock consumed and
in transit at the end of each period of a cycle (``X_k``, and ``Y_k`` without that
period's demand).  The NumPy formulation built, per PMF, its CDF, the sums of the CDF
(``E(S - X)+``) and the loss ``E(X - S)+`` over every level up to the largest support,
then searched them.  These loops compute the same numbers with the same operations in
the same order (cumulative sums are sequential in NumPy too; the elementwise steps are
the same IEEE operations), one level at a time, and the fill search stops at the first
level that meets the target; so the level is the same to the bit.

Layout: the ``X_k`` (and the ``Y_k``) of a stage are concatenated in ``xs`` (``ys``),
``x_ptr[k]:x_ptr[k + 1]`` holding ``X_{k+1}``; ``mean_x[k]`` is its mean as
``np.dot(np.arange(n), pmf)`` gives it (computed by the caller, BLAS order).
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["fill_rate_level", "cost_level", "quantile_level"]


@nb.njit(cache=True, nogil=True)
def _at(a: np.ndarray, lo: int, hi: int, j: int) -> float:
    """``a[lo + j]`` inside ``[lo, hi)``, else 0 (the zero padding of the NumPy version)."""
    return float(a[lo + j]) if lo + j < hi else 0.0


@nb.njit(cache=True, nogil=True)
def _curves(xs: np.ndarray, x_ptr: np.ndarray, ys: np.ndarray, y_ptr: np.ndarray, mean_x: np.ndarray,
            mean_y: np.ndarray, size: int, review: int, mu: float, threshold: float, holding: float,
            stockout: float, want_cost: bool) -> int:
    """Shared loop of :func:`fill_rate_level` (``want_cost`` False) and :func:`cost_level`."""
    r = x_ptr.size - 1
    cdf_x = np.zeros(r)
    below_x = np.zeros(r)
    cdf_y = np.zeros(r)
    below_y = np.zeros(r)
    best = 0.0
    best_j = 0
    for j in range(size):
        short = 0.0
        on_hand = 0.0
        for k in range(r):
            # E(S - X)+ at S = j is the sum of the CDF below j; the CDF then takes pmf[j]
            if j > 0:
                below_x[k] = below_x[k] + cdf_x[k] if j > 1 else cdf_x[k]
                below_y[k] = below_y[k] + cdf_y[k] if j > 1 else cdf_y[k]
            px = _at(xs, x_ptr[k], x_ptr[k + 1], j)
            py = _at(ys, y_ptr[k], y_ptr[k + 1], j)
            cdf_x[k] = cdf_x[k] + px if j > 0 else px
            cdf_y[k] = cdf_y[k] + py if j > 0 else py
            loss_x = (mean_x[k] - float(j)) + below_x[k]
            loss_y = (mean_y[k] - float(j)) + below_y[k]
            short = short + (loss_x - loss_y)
            on_hand = on_hand + below_x[k]
        short = short / float(review)
        if not want_cost:
            if 1.0 - short / mu >= threshold:
                return j
            continue
        on_hand = on_hand / float(review)
        value = holding * on_hand + stockout * short
        if value != value:  # np.argmin: the first NaN
            return j
        if j == 0 or value < best:
            best = value
            best_j = j
    return best_j if want_cost else size - 1


@nb.njit(cache=True, nogil=True)
def fill_rate_level(xs: np.ndarray, x_ptr: np.ndarray, ys: np.ndarray, y_ptr: np.ndarray, mean_x: np.ndarray,
                    mean_y: np.ndarray, size: int, review: int, mu: float, threshold: float) -> int:
    """Smallest level ``S`` in ``0..size-1`` whose fill ``1 - short(S) / mu`` reaches ``threshold``.

    ``short(S) = mean_k(E(X_k - S)+ - E(Y_k - S)+)`` [units/period]; ``size - 1`` when no
    level reaches it.
    """
    return _curves(xs, x_ptr, ys, y_ptr, mean_x, mean_y, size, review, mu, threshold, 0.0, 0.0, False)


@nb.njit(cache=True, nogil=True)
def cost_level(xs: np.ndarray, x_ptr: np.ndarray, ys: np.ndarray, y_ptr: np.ndarray, mean_x: np.ndarray,
               mean_y: np.ndarray, size: int, review: int, holding: float, stockout: float) -> int:
    """The level in ``0..size-1`` of least ``holding x on_hand(S) + stockout x short(S)`` (first on ties).

    ``on_hand(S) = mean_k E(S - X_k)+`` [units], ``short`` as in :func:`fill_rate_level`.
    """
    return _curves(xs, x_ptr, ys, y_ptr, mean_x, mean_y, size, review, 1.0, 0.0, holding, stockout, True)


@nb.njit(cache=True, nogil=True)
def quantile_level(pmf: np.ndarray, threshold: float) -> int:
    """Smallest ``S`` with ``P(X <= S) >= threshold`` (``X`` on ``0..``), else the last value."""
    cdf = 0.0
    for j in range(pmf.size):
        cdf = cdf + pmf[j] if j > 0 else float(pmf[0])
        if cdf >= threshold:
            return j
    return pmf.size - 1
