"""Parametric forecasters: Poisson, negative binomial, discretised gamma and normal.

Mean and variance per series are exponentially weighted moments of the recent history
(weights ``(1 - alpha)^age``, optionally limited to a window), computed for all series
at once on a right-aligned padded matrix.  Missing values (NaN) carry no weight.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from echelon_demand.models._common import ew_weights, family_dists
from platform_core.components import DemandSeries
from platform_core.forecasting.batch import BatchForecaster
from platform_core.forecasting.series import padded

__all__ = [
    "ParametricForecaster",
    "PoissonForecaster",
    "NegBinForecaster",
    "GammaForecaster",
    "NormalForecaster",
    "weighted_moments",
]


def weighted_moments(
    Y: np.ndarray, weights: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean and (reliability-weighted, unbiased) variance per row.

    Args:
        Y: values (n, T); NaN entries are ignored.
        weights: column weights (T,).
        mask: optional extra bool mask (n, T) of entries to use.

    Returns:
        ``(mean, var, n_eff)``: mean and variance per row, and the effective number of
        observations ``(sum w)^2 / sum w^2``; rows without data get 0, 0, 0.
    """
    ok = ~np.isnan(Y)
    if mask is not None:
        ok &= mask
    W = np.where(ok, weights[None, :], 0.0)
    Y0 = np.where(ok, Y, 0.0)
    sw = W.sum(axis=1)
    sw2 = (W**2).sum(axis=1)
    safe = np.where(sw > 0, sw, 1.0)
    m = (W * Y0).sum(axis=1) / safe
    dev2 = (W * (Y0 - m[:, None]) ** 2).sum(axis=1)
    denom = sw - sw2 / safe
    v = np.where(denom > 1e-12, dev2 / np.where(denom > 1e-12, denom, 1.0), 0.0)
    n_eff = np.where(sw2 > 0, sw**2 / np.where(sw2 > 0, sw2, 1.0), 0.0)
    return np.where(sw > 0, m, 0.0), v, n_eff


class ParametricForecaster(BatchForecaster):
    """Fits one family per series from smoothed mean and variance.

    Args:
        alpha: exponential smoothing weight of the moments [-]; None for equal weights.
        window: only the last ``window`` periods count [periods]; None for all.
        max_history: at most this many periods are read per series [periods].

    Attributes:
        mean_: mean demand per series [units/period].
        var_: variance per series [units^2/period^2].
        period_dists_: fitted per-period distribution per series.
    """

    family: ClassVar[str] = "negbin"

    def __init__(self, alpha: float | None = 0.1, window: int | None = None,
                 max_history: int | None = 520) -> None:
        self.alpha = alpha
        self.window = window
        self.max_history = max_history

    def moments(self, demand: DemandSeries) -> tuple[np.ndarray, np.ndarray]:
        """Smoothed mean [units/period] and variance per series (no distribution)."""
        Y, _ = padded(demand, self.max_history)
        w = ew_weights(Y.shape[1], self.alpha, self.window)
        m, v, _ = weighted_moments(Y, w)
        return m, v

    def fit(self, demand: DemandSeries) -> Self:
        """Fit every series of ``demand``; returns self."""
        m, v = self.moments(demand)
        self.mean_ = m
        self.var_ = v
        self.period_dists_ = family_dists(self.family, m, v)
        return self


class PoissonForecaster(ParametricForecaster):
    """Poisson with the smoothed mean (variance = mean)."""

    family = "poisson"


class NegBinForecaster(ParametricForecaster):
    """Negative binomial with smoothed mean and variance (Poisson when under-dispersed)."""

    family = "negbin"


class GammaForecaster(ParametricForecaster):
    """Gamma with smoothed mean and variance, discretised to the integers."""

    family = "gamma"


class NormalForecaster(ParametricForecaster):
    """Normal with smoothed mean and variance, discretised and truncated at 0."""

    family = "normal"
