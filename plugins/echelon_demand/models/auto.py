"""Automatic per-series model choice with a fallback.

``select="class"`` (default, fast) maps each series' ADI/CV² class to a model:

=============  ==================  ===================================================
class          model               why
=============  ==================  ===================================================
smooth         ``negbin``          over-dispersion captured; Poisson when under-dispersed
erratic        ``negbin``          heavy variance of sizes
intermittent   ``tsb``             Bernoulli x shifted-NB, occurrence decays (obsolescence)
lumpy          ``negbin``          zero mass and size variance in one over-dispersed law
none           Jeffreys Poisson    no demand seen: mean ``0.5 / (n + 1)`` per period
=============  ==================  ===================================================

Series with any period flagged ``stocked_out`` use ``censored_negbin`` instead of
``negbin`` (``censored_for``).  ``select="backtest"`` chooses, per demand class, the
candidate with the lowest mean CRPS of ``horizon``-period demand over ``origins``
rolling origins inside the training data (``per_series=True`` chooses per series,
which is noisier).  A model that raises on a group of series, or yields a non-finite
distribution for a series, is replaced by ``fallback`` for those series.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from echelon_demand.models._common import point_lead_times, subset, truncate
from platform_core.components import DemandSeries, Forecaster
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.batch import BatchForecaster, compound_batch
from platform_core.forecasting.classes import classify
from platform_core.forecasting.scores import crps

__all__ = ["AutoForecaster", "DEFAULT_CLASS_MODELS"]

DEFAULT_CLASS_MODELS: dict[str, str] = {
    "smooth": "negbin",
    "erratic": "negbin",
    "intermittent": "tsb",
    "lumpy": "negbin",
}


def _make(name: str) -> Forecaster:
    from echelon_demand.models import FORECASTERS

    return FORECASTERS[name]()


def _fit_dists(name: str, demand: DemandSeries) -> list[DiscreteDistribution]:
    return _make(name).fit(demand).period_demand()


class AutoForecaster(BatchForecaster):
    """Chooses a model per series by demand class or by an inner backtest.

    Args:
        select: ``class`` or ``backtest``.
        class_models: class -> model name (defaults :data:`DEFAULT_CLASS_MODELS`).
        censored_model: model for series with stocked-out periods (replaces the class
            model when that is ``negbin`` or ``poisson``); None to disable.
        candidates: model names tried by ``select="backtest"``.
        horizon: periods summed per backtest origin [periods].
        origins: rolling origins of the inner backtest.
        per_series: choose per series instead of per class (``backtest`` only).
        fallback: model used where the chosen one fails.
        max_history: at most this many periods are read per series [periods].

    Attributes:
        classes_: ADI/CV² class per series.
        model_: chosen model name per series.
        fallback_used_: True where the fallback replaced the chosen model.
        choice_: class -> model chosen (``backtest``) or configured (``class``).
        period_dists_: per-period distribution per series.
    """

    handles_intermittent: ClassVar[bool] = True
    handles_censoring: ClassVar[bool] = True

    def __init__(
        self,
        select: str = "class",
        class_models: dict[str, str] | None = None,
        censored_model: str | None = "censored_negbin",
        candidates: tuple[str, ...] = ("negbin", "poisson", "croston", "sba", "tsb"),
        horizon: int = 3,
        origins: int = 2,
        per_series: bool = False,
        fallback: str = "poisson",
        max_history: int | None = 520,
    ) -> None:
        self.select = select
        self.class_models = class_models
        self.censored_model = censored_model
        self.candidates = candidates
        self.horizon = horizon
        self.origins = origins
        self.per_series = per_series
        self.fallback = fallback
        self.max_history = max_history

    # ------------------------------------------------------------------------------
    def _inner_backtest(self, demand: DemandSeries, labels: np.ndarray) -> np.ndarray:
        """Per-series mean CRPS (n, n_candidates) of ``horizon``-period demand."""
        h = int(self.horizon)
        n = len(demand)
        lengths = np.diff(np.asarray(demand.indptr))
        score = np.zeros((n, len(self.candidates)))
        count = np.zeros(n)
        for k in range(int(self.origins)):
            cut = h * (k + 1)
            usable = lengths - cut >= max(2 * h, 4)
            if not usable.any():
                continue
            idx = np.flatnonzero(usable)
            sub = subset(demand, idx)
            train = truncate(sub, np.full(idx.size, cut))
            starts = np.asarray(sub.indptr)[1:] - cut
            vals = np.asarray(sub.values, dtype=np.float64)
            y = np.array([np.nansum(vals[s : s + h]) for s in starts])
            lts = point_lead_times(np.full(idx.size, h))
            for j, name in enumerate(self.candidates):
                try:
                    dists = _fit_dists(name, train)
                    ltd = compound_batch(dists, lts, np.zeros(idx.size, dtype=np.int64))
                    score[idx, j] += crps(ltd, y)
                except Exception:  # a failing candidate is never chosen
                    score[idx, j] += np.inf
            count[idx] += 1
        return np.where(count[:, None] > 0, score / np.maximum(count, 1)[:, None], np.nan)

    def fit(self, demand: DemandSeries) -> Self:
        """Classify, choose and fit every series of ``demand``; returns self."""
        n = len(demand)
        cls = classify(demand, max_history=self.max_history)
        labels = cls.label
        self.classes_ = labels
        class_models = dict(DEFAULT_CLASS_MODELS if self.class_models is None else self.class_models)
        model = np.array([class_models.get(str(c), self.fallback) for c in labels], dtype=object)
        if self.select == "backtest":
            scores = self._inner_backtest(demand, labels)
            ok = np.isfinite(scores).all(axis=1)
            if self.per_series:
                best = np.argmin(np.where(np.isfinite(scores), scores, np.inf), axis=1)
                chosen = np.array([self.candidates[b] for b in best], dtype=object)
                model = np.where(ok & (labels != "none"), chosen, model)
            else:
                for c in np.unique(labels):
                    rows = (labels == c) & ok
                    if c == "none" or not rows.any():
                        continue
                    mean_score = scores[rows].mean(axis=0)
                    class_models[str(c)] = self.candidates[int(np.argmin(mean_score))]
                    model = np.where(labels == c, class_models[str(c)], model)
        elif self.select != "class":
            raise ValueError(f"select must be 'class' or 'backtest', not {self.select!r}")
        so = np.asarray(demand.stocked_out)
        if self.censored_model is not None and so.size and so.any():
            ptr = np.asarray(demand.indptr)
            any_cens = np.add.reduceat(so.astype(np.int64), ptr[:-1]) if so.size else np.zeros(n)
            any_cens = np.where(np.diff(ptr) > 0, any_cens, 0) > 0
            model = np.where(any_cens & np.isin(model, ["negbin", "poisson"]), self.censored_model, model)
        self.choice_ = class_models
        dists: list[DiscreteDistribution | None] = [None] * n
        used_fb = np.zeros(n, dtype=bool)
        none_rows = np.flatnonzero(labels == "none")
        if none_rows.size:
            lengths = np.diff(np.asarray(demand.indptr))[none_rows]
            for i, L in zip(none_rows, lengths, strict=True):
                dists[i] = DiscreteDistribution.poisson(0.5 / (float(L) + 1.0))
            model[none_rows] = "jeffreys_poisson"
        for name in np.unique(model[labels != "none"]):
            rows = np.flatnonzero((model == name) & (labels != "none"))
            try:
                got = _fit_dists(str(name), subset(demand, rows))
            except Exception:
                got = [None] * rows.size  # type: ignore[list-item]
            for i, d in zip(rows, got, strict=True):
                if d is not None and np.isfinite(d.mean()):
                    dists[i] = d
                else:
                    used_fb[i] = True
        bad = np.flatnonzero(used_fb)
        if bad.size:
            try:
                fb = _fit_dists(self.fallback, subset(demand, bad))
            except Exception:
                fb = [DiscreteDistribution.point(0)] * bad.size
            for i, d in zip(bad, fb, strict=True):
                dists[i] = d if np.isfinite(d.mean()) else DiscreteDistribution.point(0)
            model[bad] = self.fallback
        self.model_ = model
        self.fallback_used_ = used_fb
        self.period_dists_ = [d if d is not None else DiscreteDistribution.point(0) for d in dists]
        return self
