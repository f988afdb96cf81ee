"""statsforecast's point-forecast models as Echelon forecasters (``sf_*``).

statsforecast (Nixtla) fits many series at once through
``StatsForecast(models=[...], freq=1, n_jobs=1).forecast(df=..., h=..., fitted=True)``
and returns a point forecast ``f`` per series (plus in-sample one-step fitted values).
Echelon needs a per-period demand *distribution*; each wrapper turns ``f`` into one
whose mean is exactly ``f`` (up to a truncated tail below 1e-10):

* ``occurrence`` (the intermittent methods ``sf_croston_sba``, ``sf_tsb``, ``sf_adida``,
  ``sf_imapa``): demand is ``B x S`` with ``B ~ Bernoulli(p)`` and ``S`` drawn from the
  **empirical distribution of the series' observed non-zero sizes**, ``p = f / mean(S)``.
  The methods forecast a rate per period; they say nothing about the size distribution,
  so the sizes seen are the least assuming choice, and the method's rate sets how often
  one occurs. Where ``f > mean(S)`` (p would exceed 1) a negative binomial with mean ``f``
  and the variance of the observed periods is used instead.
* ``dispersion`` (``sf_ets``): negative binomial with mean ``f``
  and variance ``s²``, the mean squared in-sample one-step residual ``y_t - fitted_t``
  (Poisson where ``s² <= f``; point mass 0 where ``f = 0``).

Periods are treated as i.i.d. draws from that per-period distribution; lead-time demand
is compounded with FFTs (:class:`~platform_core.forecasting.batch.BatchForecaster`),
which is what ``echelon backtest`` scores and what the solvers consume. ``horizon > 1``
sets ``f`` to the mean of statsforecast's forecasts for the next ``horizon`` periods
(useful for trending series and a known lead time).

Missing periods (NaN) are dropped before fitting (statsforecast needs complete series);
stocked-out periods are kept as observed (these models are not censoring-aware). A
series without observed periods gets a point mass at 0. statsforecast's
``fallback_model`` (``HistoricAverage``) replaces a model that fails on a series.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np

from echelon_demand.models._common import dists_from_csr, family_csr
from platform_core.components import DemandSeries
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.batch import BatchForecaster

__all__ = [
    "SF_FORECASTERS",
    "StatsForecastForecaster",
    "SFCrostonSBAForecaster",
    "SFTSBForecaster",
    "SFADIDAForecaster",
    "SFIMAPAForecaster",
    "SFETSForecaster",
    "sf_point_forecasts",
    "observed_values",
    "occurrence_empirical_csr",
]


def observed_values(demand: DemandSeries, max_history: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The observed values of every series (NaN dropped, at most the last ``max_history``).

    Returns:
        ``(uid, y)``: series position and value [units] (rounded, >= 0) of every kept
        period, oldest first within a series.
    """
    n = len(demand)
    ptr = np.asarray(demand.indptr, dtype=np.int64)
    vals = np.asarray(demand.values, dtype=np.float64)
    lengths = np.diff(ptr)
    row = np.repeat(np.arange(n), lengths)
    ok = np.isfinite(vals)
    if max_history is not None and vals.size:
        okc = np.cumsum(ok)
        before = np.concatenate(([0], okc))[ptr[:-1]]  # observed values before each series
        total = np.concatenate(([0], okc))[ptr[1:]] - before
        rank = okc - 1 - np.repeat(before, lengths)  # 0-based rank among the observed
        ok &= np.repeat(total, lengths) - 1 - rank < int(max_history)
    return row[ok], np.rint(np.maximum(vals[ok], 0.0))


def sf_point_forecasts(
    demand: DemandSeries,
    model: Any,
    horizon: int = 1,
    max_history: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The point forecast of statsforecast and in-sample residual variance of every series.

    Args:
        demand: the series.
        model: an unfitted statsforecast model instance (e.g. ``CrostonSBA()``).
        horizon: the forecast is the mean over the next ``horizon`` periods [periods].
        max_history: at most this many most recent observed periods are used [periods].

    Returns:
        ``(f, s2)``: forecast [units/period] (>= 0; 0 for a series without observations)
        and mean squared one-step in-sample residual [units²/period²] (0 when none).
    """
    uid, y = observed_values(demand, max_history)
    return _sf_fit(uid, y, len(demand), model, horizon)


def _sf_fit(uid: np.ndarray, y: np.ndarray, n: int, model: Any, horizon: int,
            fitted: bool = True) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import HistoricAverage

    f = np.zeros(n)
    s2 = np.zeros(n)
    if uid.size == 0:
        return f, s2
    cnt = np.bincount(uid, minlength=n)
    starts = np.concatenate(([0], np.cumsum(cnt)))[:-1]
    ds = np.arange(uid.size) - np.repeat(starts, cnt)
    df = pd.DataFrame({"unique_id": uid, "ds": ds, "y": y})
    sf = StatsForecast(models=[model], freq=1, n_jobs=1, fallback_model=HistoricAverage())
    fc = sf.forecast(df=df, h=int(horizon), fitted=fitted)
    col = [c for c in fc.columns if c not in ("unique_id", "ds")][0]
    fid = fc["unique_id"].to_numpy(dtype=np.int64)
    fval = np.nan_to_num(fc[col].to_numpy(dtype=np.float64))
    tot = np.bincount(fid, weights=fval, minlength=n)
    num = np.bincount(fid, minlength=n)
    f = np.maximum(np.where(num > 0, tot / np.maximum(num, 1), 0.0), 0.0)
    if not fitted:  # variance of the observed periods instead of the residuals
        m = np.bincount(uid, weights=y, minlength=n) / np.maximum(cnt, 1)
        s2 = np.bincount(uid, weights=(y - m[uid]) ** 2, minlength=n) / np.maximum(cnt - 1, 1)
        return f, s2
    fv = sf.forecast_fitted_values()
    vid = fv["unique_id"].to_numpy(dtype=np.int64)
    res = fv["y"].to_numpy(dtype=np.float64) - fv[col].to_numpy(dtype=np.float64)
    good = np.isfinite(res)
    ss = np.bincount(vid[good], weights=res[good] ** 2, minlength=n)
    k = np.bincount(vid[good], minlength=n)
    s2 = np.where(k > 0, ss / np.maximum(k, 1), 0.0)
    return f, s2


def occurrence_empirical_csr(
    uid: np.ndarray, y: np.ndarray, n: int, f: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PMFs of ``B x S``: ``S`` empirical non-zero sizes, ``p = f / mean(S)``, as CSR.

    Args:
        uid: series position of every observed value.
        y: the observed values [units] (non-negative integers).
        n: number of series.
        f: forecast mean per series [units/period].

    Returns:
        ``(pmf, indptr, lo, ok)``: CSR PMFs on ``0..max size`` and where the rule
        applies (``ok``: at least one non-zero size and ``p <= 1``; other rows hold a
        point mass at 0 and are replaced by the caller).
    """
    nz = y > 0
    n_nz = np.bincount(uid[nz], minlength=n)
    size_sum = np.bincount(uid[nz], weights=y[nz], minlength=n)
    size_mean = np.where(n_nz > 0, size_sum / np.maximum(n_nz, 1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(size_mean > 0, f / np.where(size_mean > 0, size_mean, 1.0), 0.0)
    ok = (n_nz > 0) & (p <= 1.0 + 1e-12)
    p = np.clip(p, 0.0, 1.0)
    ymax = np.zeros(n, dtype=np.int64)
    np.maximum.at(ymax, uid[nz], y[nz].astype(np.int64))
    hi = np.where(ok, ymax, 0)
    sizes = hi + 1
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=ptr[1:])
    pmf = np.zeros(int(ptr[-1]))
    sel = nz & ok[uid]
    np.add.at(pmf, ptr[uid[sel]] + y[sel].astype(np.int64),
              (p / np.maximum(n_nz, 1))[uid[sel]])
    pmf[ptr[:-1]] += np.where(ok, 1.0 - p, 1.0)
    return pmf, ptr, np.zeros(n, dtype=np.int64), ok


class StatsForecastForecaster(BatchForecaster):
    """A statsforecast model wrapped as a distribution forecaster (module docstring).

    Args:
        horizon: per-period mean = mean of the next ``horizon`` point forecasts [periods].
        max_history: at most this many most recent observed periods are used [periods].

    Attributes:
        mean_: statsforecast's point forecast per series [units/period].
        resid_var_: ``dispersion`` models: mean squared one-step in-sample residual;
            ``occurrence`` models: variance of the observed periods [units²/period²].
        rule_: ``occurrence`` or ``dispersion`` per series (how ``mean_`` became a PMF).
        period_dists_: per-period distribution per series.
    """

    handles_intermittent: ClassVar[bool] = True
    #: how the point forecast becomes a distribution (``occurrence`` or ``dispersion``)
    rule: ClassVar[str] = "occurrence"

    def __init__(self, horizon: int = 1, max_history: int | None = 520) -> None:
        self.horizon = horizon
        self.max_history = max_history

    def _model(self) -> Any:
        raise NotImplementedError

    def fit(self, demand: DemandSeries) -> Self:
        """Fit the statsforecast model to every series and build the PMFs; returns self."""
        n = len(demand)
        uid, y = observed_values(demand, self.max_history)
        f, s2 = _sf_fit(uid, y, n, self._model(), int(self.horizon), fitted=self.rule == "dispersion")
        self.mean_ = f
        self.resid_var_ = s2
        dist_rows = np.ones(n, dtype=bool)
        dists: list[DiscreteDistribution | None] = [None] * n
        if self.rule == "occurrence":
            pmf, ptr, lo, ok = occurrence_empirical_csr(uid, y, n, f)
            ok |= f <= 0  # zero forecast: the point mass at 0 built above is right
            for i, d in zip(np.flatnonzero(ok), dists_from_csr(*_take_csr(pmf, ptr, lo, ok)), strict=True):
                dists[i] = d
            dist_rows = ~ok
        self.rule_ = np.where(dist_rows, "dispersion", "occurrence").astype(object)
        rows = np.flatnonzero(dist_rows)
        if rows.size:
            got = dists_from_csr(*family_csr("negbin", f[rows], s2[rows]))
            for i, d in zip(rows, got, strict=True):
                dists[i] = d
        self.period_dists_ = dists  # type: ignore[assignment]
        return self


def _take_csr(pmf: np.ndarray, ptr: np.ndarray, lo: np.ndarray,
              keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``keep`` of a CSR PMF array."""
    rows = np.flatnonzero(keep)
    sizes = np.diff(ptr)[rows]
    new_ptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=new_ptr[1:])
    src = np.repeat(ptr[:-1][rows], sizes) + (np.arange(int(new_ptr[-1])) - np.repeat(new_ptr[:-1], sizes))
    return pmf[src], new_ptr, lo[rows]


class SFCrostonSBAForecaster(StatsForecastForecaster):
    """statsforecast ``CrostonSBA`` (Croston, SES 0.1, x 0.95), occurrence x empirical sizes."""

    def _model(self) -> Any:
        from statsforecast.models import CrostonSBA

        return CrostonSBA()


class SFTSBForecaster(StatsForecastForecaster):
    """statsforecast ``TSB(alpha_d, alpha_p)``, occurrence x empirical sizes.

    Args:
        alpha_d: smoothing weight of the demand size [-].
        alpha_p: smoothing weight of the occurrence probability [-].
        horizon, max_history: as :class:`StatsForecastForecaster`.
    """

    def __init__(self, alpha_d: float = 0.1, alpha_p: float = 0.1, horizon: int = 1,
                 max_history: int | None = 520) -> None:
        super().__init__(horizon, max_history)
        self.alpha_d = alpha_d
        self.alpha_p = alpha_p

    def _model(self) -> Any:
        from statsforecast.models import TSB

        return TSB(alpha_d=float(self.alpha_d), alpha_p=float(self.alpha_p))


class SFADIDAForecaster(StatsForecastForecaster):
    """statsforecast ``ADIDA`` (aggregate at the mean interval, optimised SES)."""

    def _model(self) -> Any:
        from statsforecast.models import ADIDA

        return ADIDA()


class SFIMAPAForecaster(StatsForecastForecaster):
    """statsforecast ``IMAPA`` (ADIDA averaged over aggregation levels 1..mean interval)."""

    def _model(self) -> Any:
        from statsforecast.models import IMAPA

        return IMAPA()


class SFETSForecaster(StatsForecastForecaster):
    """statsforecast ``AutoETS`` (level, trend, season chosen by AICc), negative binomial.

    About 1.5 ms per series (36 periods), so not among ``auto``'s default candidates.

    Args:
        season_length: periods per season (1: no season) [periods].
        model: ETS specification, ``"ZZZ"`` = chosen by AICc (statsforecast's notation).
        damped: None = try both, as statsforecast.
        horizon, max_history: as :class:`StatsForecastForecaster`.
    """

    handles_intermittent: ClassVar[bool] = False
    rule: ClassVar[str] = "dispersion"

    def __init__(self, season_length: int = 1, model: str = "ZZZ", damped: bool | None = None,
                 horizon: int = 1, max_history: int | None = 520) -> None:
        super().__init__(horizon, max_history)
        self.season_length = season_length
        self.model = model
        self.damped = damped

    def _model(self) -> Any:
        from statsforecast.models import AutoETS

        return AutoETS(season_length=int(self.season_length), model=str(self.model), damped=self.damped)


SF_FORECASTERS: dict[str, type[StatsForecastForecaster]] = {
    "sf_croston_sba": SFCrostonSBAForecaster,
    "sf_tsb": SFTSBForecaster,
    "sf_adida": SFADIDAForecaster,
    "sf_imapa": SFIMAPAForecaster,
    "sf_ets": SFETSForecaster,
}
