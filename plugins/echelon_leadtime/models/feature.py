"""Feature-based lead-time model: quantile gradient boosting over a grid of quantiles.

Features per receipt: supplier, shipment_mode, country, product_group, location
(categorical), ``log(1 + quantity)`` [log units] and the month of the order date
(season).  scikit-learn's native categorical splits take at most ``MAX_CATEGORIES``
(255) levels per feature: a feature with more levels keeps a category of its own for
its 254 most frequent levels (most receipts; ties by name) and pools the rarer ones into
one shared "other" category (``pooled_levels_`` counts them), so a model fits at any
number of locations or suppliers.  A rare level has too few receipts to be split off on
its own anyway (``min_samples_leaf``); pooled, it shares the estimate of the other rare
levels, as an unseen level shares the trees' missing-value branch.  One :class:`sklearn.ensemble.HistGradientBoostingRegressor` with
``loss="quantile"`` per level of ``levels`` is trained on ``log(1 + lead days)``
(quantiles are equivariant under the monotone transform).  Per lane the predicted
quantiles are sorted (no crossing), mapped back to days and read as a piecewise-linear
CDF through ``(q_j, level_j)``, extended linearly to probability 0 and 1 beyond the
extreme levels; the PMF in periods rounds days to the nearest period.

``predict`` takes the feature columns from the lanes table when present; missing ones
are filled from the lane's most recent receipt, then from the supplier's, else left
missing (the trees route missing values).  Every lane gets a distribution.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from typing import ClassVar, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from echelon_leadtime.models._common import discretise_cdf, lane_keys, lead_days
from platform_core.components import LeadTimeModel
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.scores import crps

__all__ = [
    "QuantileGBMLeadTime",
    "TunedQuantileGBMLeadTime",
    "CATEGORICAL",
    "DEFAULT_LEVELS",
    "MAX_CATEGORIES",
    "TUNING_GRID",
    "category_codes",
]

CATEGORICAL = ("supplier", "shipment_mode", "country", "product_group", "location")
DEFAULT_LEVELS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
_LANE = ("sku", "location", "supplier")
#: Most levels of one categorical feature that scikit-learn's HistGradientBoosting takes.
MAX_CATEGORIES = 255


def category_codes(values: Iterable[Hashable | None]) -> tuple[dict[Hashable, float], int]:
    """Category code per level of one categorical feature, at most ``MAX_CATEGORIES`` codes.

    Up to ``MAX_CATEGORIES`` levels: one code each, in sorted order.  More: the
    ``MAX_CATEGORIES - 1`` levels with the most occurrences (ties by level) keep a code
    each, in sorted order, and every other level gets the shared code
    ``MAX_CATEGORIES - 1`` ("other").

    Args:
        values: the feature's value per receipt (None = missing, not a level).

    Returns:
        ``(codes, pooled)``: level -> code [-], and the number of levels pooled into
        "other" (0 when none).
    """
    counts = Counter(v for v in values if v is not None)
    levels = sorted(counts)  # type: ignore[type-var]  # one type per column
    if len(levels) <= MAX_CATEGORIES:
        return {v: float(i) for i, v in enumerate(levels)}, 0
    by_count = sorted(levels, key=lambda v: -counts[v])  # stable: ties stay sorted by level
    kept = set(by_count[: MAX_CATEGORIES - 1])
    codes = {v: float(i) for i, v in enumerate(v for v in levels if v in kept)}
    other = float(MAX_CATEGORIES - 1)
    for v in levels:
        codes.setdefault(v, other)
    return codes, len(levels) - len(kept)


def _month(table: pa.Table) -> np.ndarray:
    if "order_date" not in table.column_names:
        return np.full(table.num_rows, np.nan)
    m = pc.month(table.column("order_date"))
    return np.asarray(m.to_numpy(zero_copy_only=False), dtype=np.float64)


class QuantileGBMLeadTime(LeadTimeModel):
    """Quantile GBM over supplier features -> lead-time PMF per lane.

    Args:
        levels: quantile levels fitted [-].
        max_iter: boosting iterations per level.
        learning_rate: boosting learning rate [-].
        max_leaf_nodes: leaves per tree.
        min_samples_leaf: smallest leaf [receipts].
        seed: random seed.
        n_threads: OpenMP threads of the boosting (None = library default; 1 avoids
            oversubscription when several processes share the cores).
        half_life_days: weight receipts by ``0.5^(age / half_life_days)`` (age from the
            latest order date) so recent behaviour counts more; None weighs equally [days].

    Attributes:
        models_: one fitted regressor per level.
        categories_: per categorical feature, category -> code (at most
            ``MAX_CATEGORIES`` distinct codes; see :func:`category_codes`).
        pooled_levels_: per categorical feature, levels pooled into "other".
        lane_features_: lane -> its latest receipt's feature row.
    """

    uses_features: ClassVar[bool] = True

    def __init__(self, levels: tuple[float, ...] = DEFAULT_LEVELS, max_iter: int = 50,
                 learning_rate: float = 0.05, max_leaf_nodes: int = 15, min_samples_leaf: int = 50,
                 seed: int = 0, n_threads: int | None = 1,
                 half_life_days: float | None = None) -> None:
        self.levels = levels
        self.half_life_days = half_life_days
        self.n_threads = n_threads
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.seed = seed

    def _matrix(self, table: pa.Table, fill: bool) -> np.ndarray:
        n = table.num_rows
        X = np.full((n, len(CATEGORICAL) + 2), np.nan)
        keys = lane_keys(table, _LANE) if fill else []
        for j, c in enumerate(CATEGORICAL):
            codes = self.categories_[c]
            vals = table.column(c).to_pylist() if c in table.column_names else [None] * n
            for i, v in enumerate(vals):
                if v is None and fill:
                    row = self.lane_features_.get(keys[i]) or self.supplier_features_.get(keys[i][2])
                    v = row[c] if row else None
                X[i, j] = codes.get(v, np.nan) if v is not None else np.nan
        qcol = "quantity" if "quantity" in table.column_names else None
        q = (np.asarray(table.column(qcol).cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False))
             if qcol else np.full(n, np.nan))
        month = _month(table)
        if fill:
            for i in range(n):
                row = self.lane_features_.get(keys[i]) or self.supplier_features_.get(keys[i][2])
                if row:
                    if not np.isfinite(q[i]):
                        q[i] = row["quantity"]
                    if not np.isfinite(month[i]):
                        month[i] = row["month"]
        X[:, len(CATEGORICAL)] = np.log1p(np.maximum(q, 0.0))
        X[:, len(CATEGORICAL) + 1] = month
        return X

    def fit(self, receipts: pa.Table) -> Self:
        """Train one quantile regressor per level on ``receipts``; returns self."""
        from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: F401 - load OpenMP first
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            return self._fit(receipts)

    def _fit(self, receipts: pa.Table) -> Self:
        from sklearn.ensemble import HistGradientBoostingRegressor

        days = np.maximum(lead_days(receipts), 0.0)
        self.categories_ = {}
        self.pooled_levels_: dict[str, int] = {}
        for c in CATEGORICAL:
            vals = receipts.column(c).to_pylist() if c in receipts.column_names else []
            self.categories_[c], self.pooled_levels_[c] = category_codes(vals)
        # latest feature row per lane and per supplier (receipts ordered by date)
        order = np.argsort(receipts.column("order_date").cast(pa.int32()).to_numpy(zero_copy_only=False),
                           kind="stable")
        keys = lane_keys(receipts, _LANE)
        cols = {c: (receipts.column(c).to_pylist() if c in receipts.column_names else [None] * receipts.num_rows)
                for c in CATEGORICAL}
        qty = receipts.column("quantity").cast(pa.float64()).to_numpy(zero_copy_only=False)
        month = _month(receipts)
        self.lane_features_: dict[tuple, dict] = {}
        self.supplier_features_: dict[str, dict] = {}
        for i in order:
            row = {c: cols[c][i] for c in CATEGORICAL}
            row["quantity"] = float(qty[i])
            row["month"] = float(month[i])
            self.lane_features_[keys[i]] = row
            self.supplier_features_[keys[i][2]] = row
        X = self._matrix(receipts, fill=False)
        y = np.log1p(days)
        weight = None
        if self.half_life_days is not None and receipts.num_rows:
            od = receipts.column("order_date").cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.float64)
            weight = 0.5 ** ((od.max() - od) / float(self.half_life_days))
        cat_mask = np.r_[np.ones(len(CATEGORICAL), dtype=bool), np.zeros(2, dtype=bool)]
        self.models_ = []
        for lv in self.levels:
            m = HistGradientBoostingRegressor(
                loss="quantile", quantile=float(lv), max_iter=self.max_iter,
                learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf, categorical_features=cat_mask,
                random_state=self.seed,
            )
            self.models_.append(m.fit(X, y, sample_weight=weight))
        self.max_days_ = float(days.max()) if days.size else 1.0
        return self

    def predict_quantiles(self, lanes: pa.Table) -> np.ndarray:
        """Sorted predicted lead-time quantiles (n, levels) [days]."""
        from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: F401 - load OpenMP first
        from threadpoolctl import threadpool_limits

        X = self._matrix(lanes, fill=True)
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            Q = np.column_stack([m.predict(X) for m in self.models_])
        return np.expm1(np.sort(Q, axis=1)).clip(min=0.0)

    def predict(self, lanes: pa.Table, period_days: float) -> list[DiscreteDistribution | None]:
        """Lead-time distribution [periods] per lane row."""
        Q = self.predict_quantiles(lanes)
        lv = np.asarray(self.levels, dtype=np.float64)
        out: list[DiscreteDistribution | None] = []
        for q in Q:
            # extend linearly to F = 0 and F = 1 with the slope of the outer segments
            q = np.maximum.accumulate(q + np.arange(q.size) * 1e-6)
            lo_slope = (q[1] - q[0]) / (lv[1] - lv[0])
            hi_slope = (q[-1] - q[-2]) / (lv[-1] - lv[-2])
            x0 = max(0.0, q[0] - lo_slope * lv[0])
            x1 = q[-1] + hi_slope * (1.0 - lv[-1])
            xs = np.r_[x0, q, max(x1, q[-1] + 1e-6)]
            ps = np.r_[0.0, lv, 1.0]

            def cdf(x: np.ndarray, xs: np.ndarray = xs, ps: np.ndarray = ps) -> np.ndarray:
                return np.interp(x, xs, ps, left=0.0, right=1.0)

            out.append(discretise_cdf(cdf, float(xs[-1]), float(period_days)))
        return out


#: (max_iter, learning_rate, min_samples_leaf) candidates of :class:`TunedQuantileGBMLeadTime`.
TUNING_GRID: tuple[tuple[int, float, int], ...] = (
    (50, 0.05, 20), (50, 0.05, 50), (50, 0.05, 100), (150, 0.08, 20), (150, 0.05, 50),
)


class TunedQuantileGBMLeadTime(QuantileGBMLeadTime):
    """:class:`QuantileGBMLeadTime` whose boosting settings are chosen on the training data.

    The receipts are ordered by order date; every setting of ``grid`` is fitted on the
    first ``1 - validation_fraction`` and scored (mean CRPS in days) on the latest
    ``validation_fraction``; the best setting is refitted on all receipts.  Nothing of a
    later holdout is seen, so this is the honest way to set the regularisation.

    Args:
        grid: candidate ``(max_iter, learning_rate, min_samples_leaf)`` settings.
        validation_fraction: share of the latest training receipts used to choose [-].
        **kwargs: the other :class:`QuantileGBMLeadTime` arguments.

    Attributes:
        validation_crps_: setting -> validation CRPS [days].
        chosen_: the chosen setting.
    """

    def __init__(self, grid: tuple[tuple[int, float, int], ...] = TUNING_GRID,
                 validation_fraction: float = 0.2, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.grid = grid
        self.validation_fraction = validation_fraction

    def fit(self, receipts: pa.Table) -> Self:
        """Choose the setting on a time-ordered split of ``receipts``, refit on all."""
        t = receipts.sort_by([("order_date", "ascending")])
        n_val = max(1, int(round(t.num_rows * float(self.validation_fraction))))
        train, val = t.slice(0, t.num_rows - n_val), t.slice(t.num_rows - n_val)
        y = np.rint(np.maximum(lead_days(val), 0.0))
        self.validation_crps_: dict[tuple[int, float, int], float] = {}
        for setting in self.grid:
            it, lr, leaf = setting
            m = QuantileGBMLeadTime(levels=self.levels, max_iter=it, learning_rate=lr,
                                    max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=leaf,
                                    seed=self.seed, n_threads=self.n_threads,
                                    half_life_days=self.half_life_days).fit(train)
            pred = m.predict(val, 1.0)
            dists = [d for d in pred if d is not None]
            self.validation_crps_[setting] = float(np.mean(crps(dists, y))) if dists else np.inf
        self.chosen_ = min(self.validation_crps_, key=lambda k: self.validation_crps_[k])
        self.max_iter, self.learning_rate, self.min_samples_leaf = self.chosen_
        return super().fit(receipts)
