"""Signal-aware forecaster: learns which signals lead demand and sharpens the next periods.

The dataset's optional ``signals`` table (point-of-sale, distributor orders, inquiries,
market indicators: any numeric columns per SKU-location and period) reaches the
forecaster as :attr:`platform_core.components.DemandSeries.exogenous`. The history-only
default (``calibrated``) forecasts every period alike; this forecaster updates the
distribution of the next ``signal_horizon_periods`` periods (``h = 1, 2``) from the signals
that lead demand, and keeps the base model's distribution where no signal helps.

Method (per horizon ``h``, pooled over the series fitted together, or run-wide through
:meth:`SignalsForecaster.pooled_params`):

1. **Standardised units.** Each series' demand and signals are centred and scaled by
   their own mean and standard deviation over the training periods (``y~ = (y - mu) /
   sd``; stocked-out and missing periods are not targets), so one pooled regression
   serves series of any size.
2. **Candidates.** Signal ``j`` at lag ``l`` (``h <= l <= max_lag``: observed by the
   forecast origin) predicts ``y~_t`` through ``z_j,t-l``.
3. **Selection by held-out loss.** Forward selection: the candidate that lowers the
   squared error of held-out periods most is added while it lowers it by at least
   ``min_gain`` (relative) in every fold, with a t statistic of the per-row drop of at
   least ``min_t`` in every fold. Fold ``f`` fits ordinary least squares (with an
   intercept) on the periods before its cut and scores the next ``fold_periods``
   periods, with the scaling frozen at the cut. Old and new candidate sets are compared
   on the same rows (where both are observed), so a signal's missing values never decide
   whether another one is chosen. A noise signal lowers held-out error only by chance,
   far below ``min_gain`` on pooled data, and passes ``min_t`` in two folds with
   probability about 0.023^2: it gets no weight at all.
4. **Distribution.** The forecast is ``mu + sd (b0 + sum b z)`` plus ``sd`` times the
   held-out residuals of the chosen model (pooled per demand class, ``QUANTILES``
   equally likely values), split onto the integers; below zero is zero. The quantiles
   are therefore calibrated out of sample.
5. **Fallback.** A horizon without a chosen signal, and a series without the chosen
   signals at the forecast origin (no rows in ``signals``, an internal stage, a constant
   history), keeps the base model's per-period distribution.

What a run plans with: the solvers read one per-period distribution per stage and sum it
over ``L`` = round(mean lead time + review) periods. The per-period distribution is the
base's, rescaled (:func:`~echelon_demand.models.calibrated.calibrate_period`: mean factor
and stretch) so that its ``L``-fold sum has the mean and variance of the sum of the
signal-aware first ``min(L, H)`` periods and ``L - min(L, H)`` base periods. Where no
signal is chosen the base's distribution is used unchanged, so noise signals change no
recommendation.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np

from echelon_demand.models.calibrated import _remap, calibrate_period
from platform_core.components import DemandSeries, Forecaster
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.batch import BatchForecaster
from platform_core.forecasting.classes import classify_matrix
from platform_core.forecasting.series import padded

__all__ = ["SignalsForecaster", "learn_signal_model", "QUANTILES"]

#: Equally likely residual values per class that make a forecast distribution [-].
QUANTILES = 40
#: Held-out residuals a demand class needs for its own residual distribution (else all).
_MIN_CLASS_RESIDUALS = 200
#: Ridge added to the normal equations (numerical safety only) [-].
_RIDGE = 1e-8


def _make(name: str, params: Mapping[str, Any] | None) -> Forecaster:
    """The base forecaster ``name``: a built-in of ``echelon_demand``, else any registered one."""
    from echelon_demand.bootstrap import BootstrapForecaster
    from echelon_demand.models import FORECASTERS

    if name == "signals":
        raise ValueError("signals cannot wrap itself")
    known: dict[str, type[Forecaster]] = {"bootstrap": BootstrapForecaster, **FORECASTERS}
    cls = known.get(name)
    if cls is None:
        from platform_core.plugin_host import PluginHost

        cls = PluginHost().forecaster(name)
    return cls(**dict(params or {}))


def _padded_exogenous(demand: DemandSeries, T: int) -> np.ndarray:
    """Right-aligned ``(n, T, k)`` copy of ``demand.exogenous`` (NaN before a series starts).

    The same placement as :func:`platform_core.forecasting.series.padded` (the most recent
    ``T`` periods of each series).
    """
    assert demand.exogenous is not None
    X = np.asarray(demand.exogenous, dtype=np.float64).reshape(len(demand.values), -1)
    indptr = np.asarray(demand.indptr, dtype=np.int64)
    n = indptr.size - 1
    lengths = np.minimum(np.diff(indptr), T)
    out = np.full((n, T, X.shape[1]), np.nan)
    rows = np.repeat(np.arange(n), lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    src = np.repeat(indptr[1:] - lengths, lengths) + within
    out[rows, T - np.repeat(lengths, lengths) + within] = X[src]
    return out


def _scaling(A: np.ndarray, upto: int, axis_time: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd over the first ``upto`` periods (NaN ignored); sd 0 where not defined."""
    part = np.take(A, np.arange(upto), axis=axis_time)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN series: mean 0, sd 0
        mu = np.nanmean(part, axis=axis_time)
        sd = np.nanstd(part, axis=axis_time)
    return np.nan_to_num(mu), np.nan_to_num(sd)


class _Data:
    """Targets and lagged, standardised signals of many series for one scaling cut."""

    def __init__(self, Y: np.ndarray, usable: np.ndarray, X: np.ndarray, cut: int, extra: int = 0) -> None:
        n, T = Y.shape
        self.mu, self.sd = _scaling(np.where(usable, Y, np.nan), cut)
        self.ok = self.sd > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            self.y = np.where(self.ok[:, None], (Y - self.mu[:, None]) / np.where(self.ok, self.sd, 1.0)[:, None],
                              np.nan)
        self.y[~usable] = np.nan
        if extra:
            self.y = np.concatenate([self.y, np.full((n, extra), np.nan)], axis=1)
        # one signal at a time, from a contiguous copy: a signal's numbers are bit for bit the
        # same whatever other signals the table holds (numpy's sums depend on memory layout)
        self.Z: list[np.ndarray] = []
        for j in range(X.shape[2]):
            x = np.ascontiguousarray(X[:, :, j])
            mx, sx = _scaling(x, cut)
            z = (x - mx[:, None]) / np.where(sx > 0, sx, 1.0)[:, None]
            z = np.where((sx > 0)[:, None] | np.isnan(x), z, 0.0)  # a constant signal carries nothing
            self.Z.append(np.concatenate([z, np.full((n, extra), np.nan)], axis=1) if extra else z)

    def feature(self, j: int, lag: int) -> np.ndarray:
        """``z_j`` lagged by ``lag`` periods, as (n, T')."""
        z = self.Z[j]
        out = np.full_like(z, np.nan)
        out[:, lag:] = z[:, : z.shape[1] - lag]
        return out


def _ols(F: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients ``[b0, b...]`` of ``y ~ 1 + F``."""
    A = np.column_stack([np.ones(y.size), F])
    G = A.T @ A + _RIDGE * np.eye(A.shape[1])
    return np.asarray(np.linalg.solve(G, A.T @ y), dtype=np.float64)


def _design(data: _Data, feats: list[tuple[int, int]], rows: np.ndarray) -> np.ndarray:
    return np.stack([data.feature(j, lag)[rows] for j, lag in feats], axis=1) if feats else np.zeros(
        (int(rows.sum()), 0))


def _fold_errors(data: _Data, feats: list[tuple[int, int]], ref: list[tuple[int, int]], cut: int, stop: int
                 ) -> tuple[float, float, np.ndarray, np.ndarray, float]:
    """Held-out SSE of ``feats`` and of ``ref`` on the rows where both are observed.

    Fits on columns ``< cut`` and scores columns ``cut .. stop-1``. Returns both SSEs, the
    held-out residuals of ``feats`` and their series, and the t statistic of the mean
    per-row drop of squared error from ``ref`` to ``feats``.
    """
    n, T = data.y.shape
    have = np.isfinite(data.y) & data.ok[:, None]
    for j, lag in {*feats, *ref}:
        have &= np.isfinite(data.feature(j, lag))
    col = np.arange(T)[None, :]
    train, test = have & (col < cut), have & (col >= cut) & (col < stop)
    if train.sum() < 10 * (len(feats) + 1) or test.sum() == 0:
        return np.inf, np.inf, np.zeros(0), np.zeros(0, dtype=np.int64), -np.inf
    res = []
    for fs in (feats, ref):
        b = _ols(_design(data, fs, train), data.y[train])
        res.append(data.y[test] - (b[0] + _design(data, fs, test) @ b[1:]))
    drop = res[1] ** 2 - res[0] ** 2
    spread = float(np.std(drop, ddof=1)) if drop.size > 1 else 0.0
    mean = float(drop.mean())
    t = mean / (spread / np.sqrt(drop.size)) if spread > 0 else (np.inf if mean > 0 else -np.inf)
    return float(res[0] @ res[0]), float(res[1] @ res[1]), res[0], np.nonzero(test)[0], t


def learn_signal_model(
    Y: np.ndarray, usable: np.ndarray, X: np.ndarray, names: tuple[str, ...], labels: np.ndarray,
    horizons: int, max_lag: int, min_gain: float, folds: int, fold_periods: int, max_features: int = 4,
    min_t: float = 2.0,
) -> dict[str, Any]:
    """The pooled signal model: chosen (signal, lag) per horizon, coefficients, residuals.

    Args:
        Y: (n, T) demand [units/period], right-aligned (NaN before a series starts).
        usable: (n, T) periods that may be targets (observed, not stocked out).
        X: (n, T, k) signals [signal units], aligned with ``Y``.
        names: the ``k`` signal names.
        labels: demand class per series (residuals are pooled per class).
        horizons: periods ahead ``H`` [periods].
        max_lag: longest lag tried [periods].
        min_gain: least relative drop of held-out squared error, in every fold, for a
            candidate to be added [-].
        folds: held-out folds; fold ``f`` scores columns ``T - (folds - f) * fold_periods``
            onwards for ``fold_periods`` columns.
        fold_periods: periods per fold [periods].
        max_features: most (signal, lag) pairs per horizon.
        min_t: least t statistic of the per-row drop of held-out squared error, in every
            fold, for a candidate to be added (besides ``min_gain``) [-].

    Returns:
        ``{"horizons": [{"features": [[name, lag], ...], "coef": [b0, b...], "gain": [...],
        "residuals": {class: [QUANTILES values]}}, ...]}`` (JSON-able; no feature: history
        only for that horizon).
    """
    n, T = Y.shape
    k = len(names)
    cuts = [T - (folds - f) * fold_periods for f in range(folds)]
    cuts = [c for c in cuts if c > fold_periods]
    fold_data = [(_Data(Y, usable, X, c), c) for c in cuts]
    full = _Data(Y, usable, X, T)
    out: list[dict[str, Any]] = []
    for h in range(1, int(horizons) + 1):
        cands = [(j, lag) for j in range(k) for lag in range(h, int(max_lag) + 1)]
        chosen: list[tuple[int, int]] = []
        gains: list[float] = []
        while cands and len(chosen) < max_features and fold_data:
            best, best_gain = None, -np.inf
            for cand in cands:
                fold_gains, fold_t = [], []
                for data, c in fold_data:
                    new, old, _, _, t = _fold_errors(data, [*chosen, cand], chosen, c, c + fold_periods)
                    fold_gains.append(1.0 - new / old if np.isfinite(new) and old > 0 else -np.inf)
                    fold_t.append(t)
                g = min(fold_gains)
                if min(fold_t) >= float(min_t) and g > best_gain + 1e-12:
                    best, best_gain = cand, g
            if best is None or best_gain < float(min_gain):
                break
            chosen.append(best)
            gains.append(float(best_gain))
            cands.remove(best)
        entry: dict[str, Any] = {"features": [[names[j], int(lag)] for j, lag in chosen], "gain": gains}
        if chosen:
            have = np.isfinite(full.y) & full.ok[:, None]
            for j, lag in chosen:
                have &= np.isfinite(full.feature(j, lag))
            entry["coef"] = _ols(_design(full, chosen, have), full.y[have]).tolist()
            res, rows = [], []
            for data, c in fold_data:
                _, _, r, s, _ = _fold_errors(data, chosen, chosen, c, c + fold_periods)
                res.append(r)
                rows.append(s)
            r_all = np.concatenate(res) if res else np.zeros(0)
            s_all = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
            levels = (np.arange(QUANTILES) + 0.5) / QUANTILES
            resid: dict[str, list[float]] = {}
            if r_all.size:
                resid["all"] = np.quantile(r_all, levels).tolist()
                for cls in np.unique(labels):
                    sel = labels[s_all] == cls
                    if sel.sum() >= _MIN_CLASS_RESIDUALS:
                        resid[str(cls)] = np.quantile(r_all[sel], levels).tolist()
            else:
                resid["all"] = [0.0] * QUANTILES
            entry["residuals"] = resid
        out.append(entry)
    return {"signals": list(names), "horizons": out}


class SignalsForecaster(BatchForecaster):
    """The base forecaster, with the next periods sharpened by the signals that lead demand.

    Args:
        base: registered name of the history-only forecaster (default ``calibrated``).
        base_params: its parameters.
        signal_horizon_periods: periods ahead the signals update, ``H`` [periods].
        max_lag: longest lag of a signal tried [periods].
        min_gain: least relative drop of held-out squared error (every fold) for a signal
            lag to be chosen [-].
        min_t: least t statistic of that drop per held-out row (every fold) [-].
        folds: held-out folds of the selection.
        fold_periods: periods per fold [periods] (default ``max(8, T // 8)``).
        model: the pooled signal model (from :func:`learn_signal_model`, e.g. fixed on the
            driver by :meth:`pooled_params`); None learns it from the series fitted.

    Attributes:
        base_: the fitted base forecaster.
        model_: the signal model used.
        horizon_dists_: per series, the ``H`` distributions of the next periods
            [units/period] (the base's where no signal is used).
        uses_signals_: per series, whether any horizon uses a signal.
        lead_periods_: ``L`` per series [periods].
        period_dists_: the per-period distributions the solvers plan with.
    """

    handles_intermittent: ClassVar[bool] = True
    pools_across_series: ClassVar[bool] = True
    uses_signals: ClassVar[bool] = True

    def __init__(
        self,
        base: str = "calibrated",
        base_params: Mapping[str, Any] | None = None,
        signal_horizon_periods: int = 2,
        max_lag: int = 4,
        min_gain: float = 0.01,
        min_t: float = 2.0,
        folds: int = 2,
        fold_periods: int | None = None,
        model: Mapping[str, Any] | None = None,
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.signal_horizon_periods = signal_horizon_periods
        self.max_lag = max_lag
        self.min_gain = min_gain
        self.min_t = min_t
        self.folds = folds
        self.fold_periods = fold_periods
        self.model = model

    @property
    def horizon_periods(self) -> int | None:
        """The base's horizon of the fill-rate interval [periods] (``calibrated`` has one)."""
        h = getattr(getattr(self, "base_", None), "horizon_periods", None)
        return h if isinstance(h, int) else None

    # ------------------------------------------------------------------ fitting ----
    def _arrays(self, demand: DemandSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
        Y, C = padded(demand)
        names = tuple(demand.exogenous_names) if demand.exogenous is not None else ()
        X = _padded_exogenous(demand, Y.shape[1]) if names else np.zeros((*Y.shape, 0))
        return Y, np.isfinite(Y) & ~C, X, names

    def _learn(self, Y: np.ndarray, usable: np.ndarray, X: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
        H = int(self.signal_horizon_periods)
        if not names or Y.shape[0] == 0:
            return {"signals": list(names), "horizons": [{"features": [], "gain": []} for _ in range(H)]}
        T = Y.shape[1]
        fp = int(self.fold_periods) if self.fold_periods else max(8, T // 8)
        labels = classify_matrix(np.where(usable, Y, np.nan)).label
        from threadpoolctl import threadpool_limits

        # many tiny least-squares fits: one BLAS thread (a pool of threads waiting on each
        # other made them 8x slower on the shared 2-core machine), and the sums then never
        # depend on how BLAS splits them across threads
        with threadpool_limits(limits=1, user_api="blas"):
            return learn_signal_model(Y, usable, X, names, labels, H, int(self.max_lag), float(self.min_gain),
                                      int(self.folds), fp, min_t=float(self.min_t))

    def fit(self, demand: DemandSeries) -> Self:
        """Fit the base on the history and the signal model (or use the given one); returns self."""
        if int(self.signal_horizon_periods) < 1 or int(self.max_lag) < 1:
            raise ValueError("signal_horizon_periods and max_lag must be >= 1")
        n = len(demand)
        self.keys_ = list(demand.keys)
        self.base_ = _make(self.base, self.base_params).fit(demand)
        self.fallback_ = list(getattr(self.base_, "fallback_", None) or [""] * n)
        Y, usable, X, names = self._arrays(demand)
        self.model_ = dict(self.model) if self.model is not None else self._learn(Y, usable, X, names)
        self._predict(Y, usable, X, names)
        self.lead_periods_ = np.ones(n, dtype=np.int64)
        self._built_for: np.ndarray | None = None
        return self

    def _predict(self, Y: np.ndarray, usable: np.ndarray, X: np.ndarray, names: tuple[str, ...]) -> None:
        """Signal-aware distributions of the next H periods (None where a horizon uses none)."""
        n, T = Y.shape
        H = int(self.signal_horizon_periods)
        self.signal_dists_: list[list[DiscreteDistribution | None]] = [[None] * H for _ in range(n)]
        horizons = list(self.model_.get("horizons", []))
        if n == 0 or not any(e.get("features") for e in horizons):
            return
        data = _Data(Y, usable, X, T, extra=H)
        labels = classify_matrix(np.where(usable, Y, np.nan)).label
        levels = np.full(QUANTILES, 1.0 / QUANTILES)
        for h, entry in enumerate(horizons[:H], start=1):
            feats = entry.get("features") or []
            if not feats:
                continue
            missing = [f for f, _ in feats if f not in names]
            if missing:
                continue  # this dataset lacks a chosen signal: history only
            idx = [(names.index(f), int(lag)) for f, lag in feats]
            col = T + h - 1
            z = np.stack([data.feature(j, lag)[:, col] for j, lag in idx], axis=1)
            b = np.asarray(entry["coef"], dtype=np.float64)
            good = data.ok & np.all(np.isfinite(z), axis=1)
            pred = b[0] + np.where(good[:, None], z, 0.0) @ b[1:]
            resid = entry["residuals"]
            for i in np.flatnonzero(good):
                r = np.asarray(resid.get(str(labels[i]), resid["all"]), dtype=np.float64)
                values = data.mu[i] + data.sd[i] * (pred[i] + r)
                self.signal_dists_[i][h - 1] = _remap(np.maximum(values, 0.0), levels)

    # ------------------------------------------------------------------ outputs ----
    def set_replenishment(self, lead_times: list[DiscreteDistribution], review_periods: np.ndarray) -> None:
        """Pass to the base; ``L`` = round(mean lead time + review) per series [periods]."""
        if len(lead_times) != len(self.keys_):
            raise ValueError(f"{len(lead_times)} lead times for {len(self.keys_)} series")
        self.base_.set_replenishment(lead_times, review_periods)
        L = np.rint(np.array([lt.mean() for lt in lead_times]) + np.asarray(review_periods, dtype=np.float64))
        self.lead_periods_ = np.maximum(L, 1).astype(np.int64)

    def _ensure_built(self) -> None:
        if not hasattr(self, "base_"):
            raise RuntimeError("SignalsForecaster is not fitted; call fit() first")
        if self._built_for is not None and np.array_equal(self._built_for, self.lead_periods_):
            return
        base = self.base_.period_demand()
        H = int(self.signal_horizon_periods)
        self.horizon_dists_ = [[s if s is not None else p for s in sig]
                               for p, sig in zip(base, self.signal_dists_, strict=True)]
        self.uses_signals_ = np.array([any(s is not None for s in sig) for sig in self.signal_dists_], dtype=bool)
        out = []
        for i, p in enumerate(base):
            L = int(self.lead_periods_[i])
            k = min(H, L)
            mu, var = p.mean(), p.var()
            if not any(s is not None for s in self.signal_dists_[i][:k]) or mu <= 0 or var <= 0:
                out.append(p)
                continue
            near = self.horizon_dists_[i][:k]
            total_mean = sum(d.mean() for d in near) + (L - k) * mu
            total_var = sum(d.var() for d in near) + (L - k) * var
            factor = total_mean / (L * mu)
            if factor <= 0:
                out.append(DiscreteDistribution.point(0))
                continue
            stretch = float(np.sqrt(total_var / (L * factor**2 * var)))
            out.append(calibrate_period(p, factor, stretch))
        self.period_dists_ = out
        self._built_for = self.lead_periods_.copy()

    def period_demand(self) -> list[DiscreteDistribution]:
        """Per-period distributions whose L-sum has the signal-aware mean and variance [units/period]."""
        self._ensure_built()
        return list(self.period_dists_)

    def horizon_demand(self) -> list[list[DiscreteDistribution]]:
        """Distribution of each of the next ``H`` periods' demand per series [units/period]."""
        self._ensure_built()
        return [list(h) for h in self.horizon_dists_]

    def lead_time_demand(
        self, lead_times: list[DiscreteDistribution], review_periods: np.ndarray, seeds: np.ndarray,
    ) -> list[DiscreteDistribution]:
        """Demand over lead time + review [units]: the i.i.d. sum of :meth:`period_demand` for these lead times."""
        self.set_replenishment(lead_times, review_periods)
        self._ensure_built()
        return super().lead_time_demand(lead_times, review_periods, seeds)

    def demand_level_ratios(self) -> np.ndarray | None:
        """The base's ratios of the next horizon's demand level to the forecast (fill-rate interval)."""
        return self.base_.demand_level_ratios()

    @classmethod
    def pooled_params(
        cls, params: Mapping[str, Any], demand: DemandSeries, lead_times: list[DiscreteDistribution],
        review_periods: np.ndarray,
    ) -> dict[str, Any]:
        """``params`` with the base's pooled parameters and the signal ``model`` fixed run-wide.

        Called once on the driver (the run's sample of whole networks): every batch then
        uses the same chosen signals, coefficients and residuals, so a stage's numbers do
        not depend on its batch.
        """
        out = dict(params)
        probe = cls(**params)
        base_cls: type[Forecaster] = type(_make(probe.base, probe.base_params))
        if getattr(base_cls, "pools_across_series", False):
            out["base_params"] = base_cls.pooled_params(dict(probe.base_params or {}), demand, lead_times,
                                                        review_periods)
        if out.get("model") is None:
            Y, usable, X, names = probe._arrays(demand)
            out["model"] = probe._learn(Y, usable, X, names)
        return out
