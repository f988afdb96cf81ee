"""Censored-demand (unconstraining) forecasters: Poisson and negative binomial by EM.

A period flagged ``stocked_out`` only tells that demand was *at least* the observed
sales ``y``.  The EM algorithm replaces such a period by its conditional moments
given ``D >= y`` under the current fit and re-estimates from the completed data:

* Poisson(l): ``E[D; D >= y] = l P(D >= y - 1)`` and
  ``E[D(D-1); D >= y] = l^2 P(D >= y - 2)``; the M-step ``l = mean`` makes this the
  exact censored maximum-likelihood estimate (Tobit-style for counts).
* NB(r, p) with mean m: ``E[D; D >= y] = m P(D' >= y - 1)`` with ``D' ~ NB(r + 1, p)`` and
  ``E[D(D-1); D >= y] = m^2 (r + 1) / r P(D'' >= y - 2)`` with ``D'' ~ NB(r + 2, p)``;
  mean and variance are re-estimated from the completed first and second moments
  (moment EM), falling back to Poisson when the completed data are under-dispersed.

Periods are weighted as in the parametric forecasters (exponential weights).
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from scipy import stats

from echelon_demand.models._common import ew_weights, family_dists
from platform_core.components import DemandSeries
from platform_core.forecasting.batch import BatchForecaster
from platform_core.forecasting.series import padded

__all__ = ["CensoredPoissonForecaster", "CensoredNegBinForecaster", "censored_moments"]


def censored_moments(
    Y: np.ndarray,
    C: np.ndarray,
    weights: np.ndarray,
    family: str = "negbin",
    max_iter: int = 200,
    tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EM estimates of mean and variance per row under right-censoring.

    Args:
        Y: observed sales (n, T), NaN where missing [units/period].
        C: True where the value is censored (demand >= value).
        weights: column weights (T,).
        family: ``poisson`` or ``negbin``.
        max_iter: EM iterations at most.
        tol: stop when no mean moves by more than this relative amount [-].

    Returns:
        ``(mean, var, iterations)`` per row; ``iterations`` is the same for all rows.
    """
    ok = ~np.isnan(Y)
    W = np.where(ok, weights[None, :], 0.0)
    Y0 = np.where(ok, np.maximum(Y, 0.0), 0.0)
    cens = C & ok & (Y0 > 0)  # a censored zero carries no information beyond D >= 0
    sw = W.sum(axis=1)
    safe = np.where(sw > 0, sw, 1.0)
    rows, cols = np.nonzero(cens)
    yc = Y0[rows, cols]
    wc = W[rows, cols]
    # start from the naive moments
    m = (W * Y0).sum(axis=1) / safe
    s2 = (W * Y0**2).sum(axis=1) / safe
    v = np.maximum(s2 - m**2, 0.0)
    base1 = (W * np.where(cens, 0.0, Y0)).sum(axis=1)
    base2 = (W * np.where(cens, 0.0, Y0**2)).sum(axis=1)
    it = 0
    active = np.ones(Y.shape[0], dtype=bool)
    for it in range(1, max_iter + 1):  # noqa: B007 - it is returned
        sel = active[rows]
        rs, ys, ws = rows[sel], yc[sel], wc[sel]
        mr = np.maximum(m[rs], 1e-9)
        if family == "poisson":
            p_ge_y = stats.poisson.sf(ys - 1, mr)
            e1 = mr * stats.poisson.sf(ys - 2, mr)
            e2 = mr**2 * stats.poisson.sf(ys - 3, mr)
        else:
            vr = v[rs]
            over = vr > mr * (1 + 1e-6)
            vs = np.where(over, vr, 2.0 * mr)
            r = mr**2 / (vs - mr)
            p = mr / vs
            p_ge_y = np.where(over, stats.nbinom.sf(ys - 1, r, p), stats.poisson.sf(ys - 1, mr))
            e1 = mr * np.where(over, stats.nbinom.sf(ys - 2, r + 1, p), stats.poisson.sf(ys - 2, mr))
            e2 = mr**2 * np.where(
                over, (r + 1) / r * stats.nbinom.sf(ys - 3, r + 2, p), stats.poisson.sf(ys - 3, mr)
            )
        tiny = p_ge_y < 1e-300
        cond1 = np.where(tiny, ys, e1 / np.where(tiny, 1.0, p_ge_y))
        cond2 = np.where(tiny, ys * (ys - 1), e2 / np.where(tiny, 1.0, p_ge_y))  # E[D(D-1)|.]
        cond1 = np.maximum(cond1, ys)
        add1 = np.bincount(rs, weights=ws * cond1, minlength=Y.shape[0])
        add2 = np.bincount(rs, weights=ws * (cond2 + cond1), minlength=Y.shape[0])
        m_new = np.where(active, (base1 + add1) / safe, m)
        s2_new = (base2 + add2) / safe
        v = np.where(active, np.maximum(s2_new - m_new**2, 0.0), v)
        delta = np.abs(m_new - m) / np.maximum(m_new, 1e-9)
        m = m_new
        active &= delta >= tol
        if not active[rows].any():
            break
    # small-sample correction of the variance (as the unbiased weighted variance)
    sw2 = (W**2).sum(axis=1)
    corr = np.where(sw - sw2 / safe > 1e-12, sw / np.maximum(sw - sw2 / safe, 1e-12), 1.0)
    v = v * corr
    return np.where(sw > 0, m, 0.0), np.where(sw > 0, v, 0.0), np.full(Y.shape[0], it)


class CensoredNegBinForecaster(BatchForecaster):
    """Negative binomial whose moments are unconstrained by EM over stocked-out periods.

    Args:
        alpha: exponential weight of the periods [-]; None for equal weights.
        window: only the last ``window`` periods count [periods].
        max_history: at most this many periods are read per series [periods].
        max_iter: EM iterations at most.

    Attributes:
        mean_: unconstrained mean demand per series [units/period].
        var_: unconstrained variance per series.
        naive_mean_: mean of the observed sales (biased low under stockouts).
        censored_fraction_: share of the periods flagged stocked out [-].
        period_dists_: fitted per-period distribution per series.
    """

    handles_censoring: ClassVar[bool] = True
    family: ClassVar[str] = "negbin"

    def __init__(self, alpha: float | None = 0.1, window: int | None = None,
                 max_history: int | None = 520, max_iter: int = 200) -> None:
        self.alpha = alpha
        self.window = window
        self.max_history = max_history
        self.max_iter = max_iter

    def fit(self, demand: DemandSeries) -> Self:
        """Fit every series of ``demand``; returns self."""
        Y, C = padded(demand, self.max_history)
        w = ew_weights(Y.shape[1], self.alpha, self.window)
        m, v, it = censored_moments(Y, C, w, self.family, self.max_iter)
        ok = ~np.isnan(Y)
        self.naive_mean_ = np.where(ok, Y, 0.0).sum(axis=1) / np.maximum(ok.sum(axis=1), 1)
        self.censored_fraction_ = (C & ok).sum(axis=1) / np.maximum(ok.sum(axis=1), 1)
        self.mean_ = m
        self.var_ = m if self.family == "poisson" else v
        self.n_iter_ = int(it.max(initial=0))
        self.period_dists_ = family_dists(self.family, m, self.var_)
        return self


class CensoredPoissonForecaster(CensoredNegBinForecaster):
    """Poisson fitted by censored maximum likelihood (EM) over stocked-out periods."""

    family = "poisson"
