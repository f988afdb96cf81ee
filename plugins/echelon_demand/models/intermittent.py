"""Intermittent-demand forecasters with a full distribution: Croston, SBA and TSB.

Per period, demand is ``B * S`` with occurrence ``B ~ Bernoulli(p)`` and size ``S = 1 + X``
where ``X`` is negative binomial (Poisson when the sizes are under-dispersed) with mean
``z - 1`` and the variance of the observed non-zero sizes.  The methods differ in how
``p`` and ``z`` are smoothed:

* Croston: ``z`` and the inter-demand interval ``x`` are smoothed at each demand
  occurrence (weight ``alpha``); ``p = 1 / x``.
* SBA (Syntetos-Boylan approximation): Croston with ``p = (1 - alpha / 2) / x``, which
  removes Croston's positive bias of the mean.
* TSB (Teunter-Syntetos-Babai): ``p`` is smoothed every period towards the occurrence
  indicator (weight ``beta``), so it decays during long runs of zeros (obsolescence).

All three run one vectorised loop over time for all series together.  The smoothed
states are initialised with the history's mean size and mean interval (ADI), so a
short history does not hinge on its first demand.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from echelon_demand.models._common import dists_from_csr, family_csr
from platform_core.components import DemandSeries
from platform_core.forecasting.batch import BatchForecaster
from platform_core.forecasting.series import padded

__all__ = ["CrostonForecaster", "SBAForecaster", "TSBForecaster", "occurrence_size_dists"]


def occurrence_size_dists(p: np.ndarray, size_mean: np.ndarray, size_var: np.ndarray) -> list:
    """Distributions of ``B * (1 + X)``: P(0) = 1 - p, P(k) = p P(X = k - 1).

    Args:
        p: occurrence probability per series [-].
        size_mean: mean non-zero demand size per series [units] (>= 1).
        size_var: variance of the non-zero sizes [units^2].

    Returns:
        One :class:`~platform_core.distributions.DiscreteDistribution` per series.
    """
    p = np.clip(np.nan_to_num(p), 0.0, 1.0)
    xm = np.maximum(np.nan_to_num(size_mean) - 1.0, 0.0)
    pmf, ptr, _ = family_csr("negbin", xm, np.nan_to_num(size_var))
    n = p.size
    sizes = np.diff(ptr)
    new_ptr = ptr + np.arange(n + 1)
    out = np.empty(int(new_ptr[-1]))
    first = new_ptr[:-1]
    out[first] = 1.0 - p
    rest = np.ones(out.size, dtype=bool)
    rest[first] = False
    out[rest] = pmf * np.repeat(p, sizes)
    return dists_from_csr(out, new_ptr, np.zeros(n, dtype=np.int64))


class _CrostonFamily(BatchForecaster):
    """Shared fit of Croston, SBA and TSB.

    Args:
        alpha: smoothing weight of the demand size (and of the interval) [-].
        beta: smoothing weight of the occurrence probability (TSB only) [-].
        max_history: at most this many periods are read per series [periods].

    Attributes:
        p_: occurrence probability per series [-].
        size_: smoothed mean non-zero size per series [units].
        size_var_: variance of the non-zero sizes [units^2].
        mean_: mean demand per period ``p_ * size_`` [units/period].
        period_dists_: per-period distribution per series.
    """

    handles_intermittent: ClassVar[bool] = True
    method: ClassVar[str] = "croston"

    def __init__(self, alpha: float = 0.1, beta: float = 0.1, max_history: int | None = 520) -> None:
        self.alpha = alpha
        self.beta = beta
        self.max_history = max_history

    def fit(self, demand: DemandSeries) -> Self:
        """Fit every series of ``demand``; returns self."""
        Y, _ = padded(demand, self.max_history)
        Y = np.where(np.isnan(Y), np.nan, np.rint(np.maximum(Y, 0.0)))
        obs = ~np.isnan(Y)
        nz = obs & (Y > 0)
        n_obs = obs.sum(axis=1)
        n_nz = nz.sum(axis=1)
        has = n_nz > 0
        Ynz = np.where(nz, Y, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            size0 = np.where(has, np.nansum(Ynz, axis=1) / np.maximum(n_nz, 1), 1.0)
            dev = np.where(nz, (Y - size0[:, None]) ** 2, 0.0).sum(axis=1)
            size_var = np.where(n_nz > 1, dev / np.maximum(n_nz - 1, 1), 0.0)
        adi0 = np.where(has, n_obs / np.maximum(n_nz, 1), n_obs + 1.0)
        a = float(self.alpha)
        z = size0.copy()
        if self.method == "tsb":
            p = np.where(n_obs > 0, n_nz / np.maximum(n_obs, 1), 0.0)
            b = float(self.beta)
            for t in range(Y.shape[1]):
                o = obs[:, t]
                d = nz[:, t]
                p = np.where(o, p + b * (d - p), p)
                z = np.where(d, z + a * (Y[:, t] - z), z)
        else:
            x = adi0.copy()
            q = np.zeros(Y.shape[0])
            for t in range(Y.shape[1]):
                q += obs[:, t]
                d = nz[:, t]
                z = np.where(d, z + a * (Y[:, t] - z), z)
                x = np.where(d, x + a * (q - x), x)
                q = np.where(d, 0.0, q)
            factor = 1.0 - a / 2.0 if self.method == "sba" else 1.0
            with np.errstate(divide="ignore"):
                p = np.where(has, factor / np.maximum(x, 1.0), 0.0)
        z = np.maximum(z, 1.0)
        self.p_ = np.clip(p, 0.0, 1.0)
        self.size_ = z
        self.size_var_ = size_var
        self.mean_ = self.p_ * z
        self.period_dists_ = occurrence_size_dists(self.p_, z, size_var)
        return self


class CrostonForecaster(_CrostonFamily):
    """Croston's method with a Bernoulli x shifted-NB distribution."""

    method = "croston"


class SBAForecaster(_CrostonFamily):
    """Syntetos-Boylan approximation (bias-corrected Croston) with a distribution."""

    method = "sba"


class TSBForecaster(_CrostonFamily):
    """Teunter-Syntetos-Babai method (occurrence smoothed every period)."""

    method = "tsb"
