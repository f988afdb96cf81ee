"""Global quantile gradient boosting across series.

One :class:`sklearn.ensemble.HistGradientBoostingRegressor` (``loss="quantile"``) per
quantile level is trained on the pooled history of all series.  Training rows are
(series, period) pairs; the target is the period's demand and the features are known
before it:

* lags 1..``n_lags`` [units], rolling means over 3 and 12 periods [units/period],
  share of non-zero periods over 12 [-], periods since the last demand [periods],
  the expanding mean of the series [units/period];
* calendar: position in the season ``(period index from the end) mod season_length``
  (series are assumed to end at the same calendar period);
* item attributes: numeric columns of ``DemandSeries.attributes`` (others are ignored).

Rows are subsampled to ``max_rows`` for speed.  The per-period distribution of a
series is read from its predicted quantiles (sorted) as a piecewise-linear CDF through
``(q_j, level_j)`` evaluated at ``k + 0.5`` (integer demand), extended linearly to 0
below the first level and to 1 above the last
(:func:`platform_core.forecasting.quantile_pmf.quantiles_to_pmf`).  Lead-time demand
convolves the per-period distribution (i.i.d. periods), as for the other models.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from platform_core.components import DemandSeries
from platform_core.forecasting.batch import BatchForecaster
from platform_core.forecasting.quantile_pmf import quantiles_to_pmf
from platform_core.forecasting.series import padded

__all__ = ["QuantileGBMForecaster"]

DEFAULT_LEVELS = (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


class QuantileGBMForecaster(BatchForecaster):
    """Global quantile GBM over lags, calendar and item attributes.

    Args:
        levels: quantile levels fitted [-].
        n_lags: lag features [periods].
        season_length: calendar period [periods] (12 for monthly data).
        max_rows: training rows sampled at most.
        max_iter: boosting iterations per level.
        learning_rate: boosting learning rate [-].
        max_leaf_nodes: leaves per tree.
        max_history: periods read per series [periods].
        seed: random seed (row sampling and boosting).
        n_threads: OpenMP threads of the boosting (None = library default; 1 avoids
            oversubscription when several processes share the cores).

    Attributes:
        models_: fitted regressor per level.
        quantiles_: predicted quantiles (n, levels) of the next period [units].
        period_dists_: per-period distribution per series.
    """

    handles_intermittent: ClassVar[bool] = True
    is_global: ClassVar[bool] = True

    def __init__(self, levels: tuple[float, ...] = DEFAULT_LEVELS, n_lags: int = 6,
                 season_length: int = 12, max_rows: int = 60_000, max_iter: int = 60,
                 learning_rate: float = 0.1, max_leaf_nodes: int = 15,
                 max_history: int | None = 156, seed: int = 0, n_threads: int | None = 1) -> None:
        self.levels = levels
        self.n_threads = n_threads
        self.n_lags = n_lags
        self.season_length = season_length
        self.max_rows = max_rows
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.max_history = max_history
        self.seed = seed

    def _features(self, Y: np.ndarray, csum: np.ndarray, ccnt: np.ndarray, cnz: np.ndarray,
                  last: np.ndarray, t: int, attrs: np.ndarray) -> np.ndarray:
        """Features for predicting column ``t`` from columns ``< t``."""
        n, T = Y.shape
        cols = []
        for j in range(1, self.n_lags + 1):
            cols.append(Y[:, t - j] if t - j >= 0 else np.full(n, np.nan))
        for w in (3, 12):
            a = max(t - w, 0)
            s = csum[:, t] - csum[:, a]
            c = ccnt[:, t] - ccnt[:, a]
            cols.append(np.where(c > 0, s / np.maximum(c, 1), np.nan))
        a = max(t - 12, 0)
        c = ccnt[:, t] - ccnt[:, a]
        cols.append(np.where(c > 0, (cnz[:, t] - cnz[:, a]) / np.maximum(c, 1), np.nan))
        cols.append(np.where(last >= 0, t - last, np.nan))
        cols.append(np.where(ccnt[:, t] > 0, csum[:, t] / np.maximum(ccnt[:, t], 1), np.nan))
        cols.append(np.full(n, float((T - t) % self.season_length)))
        X = np.column_stack(cols)
        return np.hstack([X, attrs]) if attrs.size else X

    def _attrs(self, demand: DemandSeries) -> np.ndarray:
        a = demand.attributes
        if a is None:
            return np.zeros((len(demand), 0))
        import pyarrow as pa

        cols = []
        for name in a.column_names:
            col = a.column(name)
            if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
                cols.append(np.asarray(col.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)))
        return np.column_stack(cols) if cols else np.zeros((len(demand), 0))

    def fit(self, demand: DemandSeries) -> Self:
        """Train the quantile models on all series and predict the next period."""
        from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: F401 - load OpenMP first
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return self._fit(demand)

    def _fit(self, demand: DemandSeries) -> Self:
        from sklearn.ensemble import HistGradientBoostingRegressor

        Y, _ = padded(demand, self.max_history)
        n, T = Y.shape
        ok = ~np.isnan(Y)
        Y0 = np.where(ok, Y, 0.0)
        csum = np.concatenate([np.zeros((n, 1)), np.cumsum(Y0, axis=1)], axis=1)
        ccnt = np.concatenate([np.zeros((n, 1)), np.cumsum(ok, axis=1)], axis=1)
        cnz = np.concatenate([np.zeros((n, 1)), np.cumsum(ok & (Y0 > 0), axis=1)], axis=1)
        attrs = self._attrs(demand)
        rng = np.random.default_rng(self.seed)
        Xs, ys = [], []
        last = np.full(n, -1.0)
        per_t = max(1, int(self.max_rows // max(T - 1, 1)))
        for t in range(T + 1):
            if 1 <= t < T:
                rows = np.flatnonzero(ok[:, t] & (ccnt[:, t] > 0))
                if rows.size > per_t:
                    rows = rng.choice(rows, per_t, replace=False)
                if rows.size:
                    X = self._features(Y, csum, ccnt, cnz, last, t, attrs)
                    Xs.append(X[rows])
                    ys.append(Y[rows, t])
            if t == T:
                self.X_next_ = self._features(Y, csum, ccnt, cnz, last, t, attrs)
            else:
                last = np.where(ok[:, t] & (Y0[:, t] > 0), float(t), last)
        X_train = np.vstack(Xs) if Xs else np.zeros((0, self.X_next_.shape[1]))
        y_train = np.concatenate(ys) if ys else np.zeros(0)
        self.models_ = []
        Q = []
        for lv in self.levels:
            m = HistGradientBoostingRegressor(
                loss="quantile", quantile=float(lv), max_iter=self.max_iter,
                learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=40, random_state=self.seed,
            )
            if y_train.size >= 50:
                m.fit(X_train, y_train)
                Q.append(m.predict(self.X_next_))
            else:  # too little data: the pooled empirical quantile
                Q.append(np.full(n, np.quantile(y_train, lv) if y_train.size else 0.0))
            self.models_.append(m)
        self.quantiles_ = np.sort(np.column_stack(Q), axis=1)
        lv_arr = np.asarray(self.levels, dtype=np.float64)
        self.period_dists_ = [quantiles_to_pmf(q, lv_arr) for q in self.quantiles_]
        return self
