"""Automatic per-series model choice with a fallback.

``select="series"`` (default) chooses **per series by a rolling backtest on the series' own
history**: for origin ``k = 0 .. origins-1`` (``origins = 2``) the last
``horizon * (k + 1)`` periods are held out, every candidate is fitted on the rest (all
series at once) and forecasts the demand summed over the next ``horizon`` periods (its
lead-time demand for a lead time of ``horizon`` periods, what the solvers consume).  The
score of a candidate on a series is the mean over origins of its scaled CRPS
(``score="crps"``: CRPS / scale, scale = ``horizon x`` mean absolute one-period change of
the training part, 1 where that is 0); ``score="pinball"`` uses the scaled pinball loss
at 0.9 and 0.95 instead (what the benchmarks report, but two quantiles of a few origins
are a noisier guide: on car parts choosing by it gave scaled pinball 0.315 at 0.9 against
0.308 choosing by CRPS).  The series' class
model (the map below) is the incumbent: the best-scoring candidate replaces it only when
its score is below ``(1 - margin)`` times the incumbent's (``margin = 0.1``; with 2
origins a series' scores are noisy, and on car parts choosing the plain minimum loses to
the class map).  Ties go to the first in ``candidates``.  A series with no origin whose
training part has ``min_train`` periods (a short history) keeps the class map's model.
The rule looks at each series alone, so a series' model does not depend on the other
series of the batch; ``selection_`` says which rule chose each series.

``select="class"`` (fast, fixed) maps each series' ADI/CV² class to a model:

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
rolling origins inside the training data (``per_series=True`` chooses per series by
CRPS).  A model that raises on a group of series, or yields a non-finite
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
from platform_core.forecasting.scores import crps, pinball, quantiles
from platform_core.forecasting.series import padded

__all__ = ["AutoForecaster", "DEFAULT_CLASS_MODELS", "DEFAULT_SERIES_CANDIDATES"]

#: candidates of ``select="series"``: Echelon's models first (ties go to them), then the
#: statsforecast intermittent methods; ``sf_ets`` / ``sf_imapa`` are slower (opt in)
DEFAULT_SERIES_CANDIDATES: tuple[str, ...] = ("negbin", "tsb", "sf_croston_sba", "sf_adida")
#: quantile levels of the per-series score [-]
SCORE_LEVELS: tuple[float, ...] = (0.9, 0.95)

DEFAULT_CLASS_MODELS: dict[str, str] = {
    "smooth": "negbin",
    "erratic": "negbin",
    "intermittent": "tsb",
    "lumpy": "negbin",
}


def _make(name: str) -> Forecaster:
    from echelon_demand.models import FORECASTERS

    if name == "bootstrap":  # echelon run's default forecaster, a candidate too
        from echelon_demand.bootstrap import BootstrapForecaster

        return BootstrapForecaster()
    return FORECASTERS[name]()


def _fit_dists(name: str, demand: DemandSeries) -> list[DiscreteDistribution]:
    return _make(name).fit(demand).period_demand()


def sum_quantiles(
    period: list[DiscreteDistribution], h: int, levels: np.ndarray, y: np.ndarray | None = None,
    max_cells: int = 1 << 22,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles (n, len(levels)) and CRPS of the sum of ``h`` i.i.d. periods, many series.

    The same distribution :func:`~platform_core.forecasting.batch.compound_batch` builds for
    a point lead time of ``h`` periods, without building it: the PMFs are raised to the
    ``h``-th power with real FFTs long enough for the whole support (no aliasing) and the
    quantile is the smallest ``x`` with ``F(x) >= level``.  With outcomes ``y`` [units]
    the CRPS ``sum_k (F(k) - 1{k >= y})^2`` is returned too (else zeros).
    """
    n = len(period)
    levels = np.asarray(levels, dtype=np.float64)
    out = np.zeros((n, levels.size))
    crps_out = np.zeros(n)
    if n == 0:
        return out, crps_out
    sizes = np.fromiter((d.pmf.size for d in period), dtype=np.int64, count=n)
    offs = np.fromiter((d.offset for d in period), dtype=np.int64, count=n)
    need = int(h) * (offs + sizes - 1) + 1
    N = (1 << np.ceil(np.log2(np.maximum(need, 2))).astype(np.int64)).astype(np.int64)
    for size in np.unique(N):
        members = np.flatnonzero(N == size)
        rows_per = max(1, int(max_cells // int(size)))
        for a in range(0, members.size, rows_per):
            grp = members[a : a + rows_per]
            flat = np.concatenate([period[i].pmf for i in grp])
            sz = sizes[grp]
            row = np.repeat(np.arange(grp.size), sz)
            col = np.repeat(offs[grp], sz) + np.arange(flat.size) - np.repeat(np.cumsum(sz) - sz, sz)
            P = np.zeros((grp.size, int(size)))
            P[row, col] = flat
            res = np.fft.irfft(np.fft.rfft(P, axis=1) ** int(h), n=int(size), axis=1)
            cdf = np.cumsum(np.maximum(res, 0.0), axis=1)
            cdf /= cdf[:, -1:]
            for j, q in enumerate(levels):
                out[grp, j] = np.argmax(cdf >= q - 1e-9, axis=1)
            if y is not None:
                yg = np.asarray(y, dtype=np.float64)[grp]
                k = np.arange(int(size))[None, :]
                inner = ((cdf - (k >= yg[:, None])) ** 2).sum(axis=1)
                crps_out[grp] = inner + np.maximum(yg - int(size), 0.0)  # F = 1 beyond the grid
    return out, crps_out


def _uses_iid_compounding(f: Forecaster) -> bool:
    return isinstance(f, BatchForecaster) and type(f).lead_time_demand is BatchForecaster.lead_time_demand


class AutoForecaster(BatchForecaster):
    """Chooses a model per series by its own rolling backtest, by demand class, or per class.

    Args:
        select: ``series`` (default), ``class`` or ``backtest``.
        class_models: class -> model name (defaults :data:`DEFAULT_CLASS_MODELS`).
        censored_model: model for series with stocked-out periods (replaces the class
            model when that is ``negbin`` or ``poisson``); None to disable.
        candidates: model names tried by ``select="series"`` / ``"backtest"`` (None:
            :data:`DEFAULT_SERIES_CANDIDATES` / ``negbin, poisson, croston, sba, tsb``).
        horizon: periods summed per backtest origin [periods].
        origins: rolling origins of the inner backtest (None: 2).
        min_train: shortest training part of a scored origin (``series``) [periods].
        margin: ``series`` only: the class map's model is kept unless a candidate's
            score is below ``(1 - margin)`` times its score on the series [-].
        score: ``series`` only: ``crps`` (scaled CRPS of the horizon sum, default) or
            ``pinball`` (scaled pinball loss at 0.9 and 0.95).
        per_series: choose per series instead of per class (``backtest`` only).
        fallback: model used where the chosen one fails.
        max_history: at most this many periods are read per series [periods].

    Attributes:
        classes_: ADI/CV² class per series.
        model_: chosen model name per series.
        fallback_used_: True where the fallback replaced the chosen model.
        choice_: class -> model chosen (``backtest``) or configured (``class``, ``series``).
        selection_: per series, the rule that chose its model: ``backtest`` (own rolling
            backtest), ``class_map`` (short history), ``none`` (no
            demand), ``censored`` (class model replaced by ``censored_model``) or
            ``class`` / ``class_backtest`` in the other modes.
        scores_: (n, n_candidates) mean scaled pinball score (``series``; NaN = short).
        period_dists_: per-period distribution per series.
    """

    handles_intermittent: ClassVar[bool] = True
    handles_censoring: ClassVar[bool] = True

    def __init__(
        self,
        select: str = "series",
        class_models: dict[str, str] | None = None,
        censored_model: str | None = "censored_negbin",
        candidates: tuple[str, ...] | None = None,
        horizon: int = 3,
        origins: int | None = None,
        min_train: int = 8,
        margin: float = 0.1,
        score: str = "crps",
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
        self.min_train = min_train
        self.margin = margin
        self.score = score
        self.per_series = per_series
        self.fallback = fallback
        self.max_history = max_history

    # ------------------------------------------------------------------------------
    def _candidates(self) -> tuple[str, ...]:
        if self.candidates is not None:
            return tuple(self.candidates)
        if self.select == "series":
            return DEFAULT_SERIES_CANDIDATES
        return ("negbin", "poisson", "croston", "sba", "tsb")

    def _origins(self) -> int:
        if self.origins is not None:
            return int(self.origins)
        return 2

    def _series_scores(self, demand: DemandSeries) -> tuple[np.ndarray, np.ndarray]:
        """Per-series mean scaled pinball score (n, n_candidates; NaN rows: no origin), origins."""
        h = int(self.horizon)
        cands = self._candidates()
        n = len(demand)
        lengths = np.diff(np.asarray(demand.indptr))
        score = np.zeros((n, len(cands)))
        count = np.zeros(n)
        lv = np.asarray(SCORE_LEVELS)
        for k in range(self._origins()):
            cut = h * (k + 1)
            idx = np.flatnonzero(lengths - cut >= int(self.min_train))
            if idx.size == 0:
                continue
            sub = subset(demand, idx)
            starts = np.asarray(sub.indptr)[1:] - cut
            win = np.asarray(sub.values, dtype=np.float64)[starts[:, None] + np.arange(h)[None, :]]
            good = ~np.isnan(win).any(axis=1)
            if not good.any():
                continue
            idx, win = idx[good], win[good]
            train = truncate(subset(demand, idx), np.full(idx.size, cut))
            y = np.rint(np.maximum(win.sum(axis=1), 0.0))
            Ytr, _ = padded(train, self.max_history)
            d = np.abs(np.diff(Ytr, axis=1))
            okd = ~np.isnan(d)
            scale = h * np.where(okd, d, 0.0).sum(axis=1) / np.maximum(okd.sum(axis=1), 1)
            scale = np.where(scale > 0, scale, 1.0)
            zeros = np.zeros(idx.size, dtype=np.int64)
            for j, name in enumerate(cands):
                try:
                    f = _make(name).fit(train)
                    if _uses_iid_compounding(f):  # the same distribution, built faster
                        Q, c_rps = sum_quantiles(f.period_demand(), h, lv, y)
                    else:
                        lts = point_lead_times(np.full(idx.size, h))
                        ltd = f.lead_time_demand(lts, zeros, zeros.astype(np.uint64) + np.uint64(k))
                        Q, c_rps = quantiles(ltd, lv), crps(ltd, y)
                    if self.score == "crps":
                        s = c_rps
                    else:
                        s = np.mean([pinball(Q[:, c], y, float(q)) for c, q in enumerate(lv)], axis=0)
                    score[idx, j] += np.where(np.isfinite(s), s / scale, np.inf)
                except Exception:  # a failing candidate is never chosen
                    score[idx, j] += np.inf
            count[idx] += 1
        return np.where(count[:, None] > 0, score / np.maximum(count, 1)[:, None], np.nan), count

    def _inner_backtest(self, demand: DemandSeries, labels: np.ndarray) -> np.ndarray:
        """Per-series mean CRPS (n, n_candidates) of ``horizon``-period demand."""
        h = int(self.horizon)
        cands = self._candidates()
        n = len(demand)
        lengths = np.diff(np.asarray(demand.indptr))
        score = np.zeros((n, len(cands)))
        count = np.zeros(n)
        for k in range(self._origins()):
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
            for j, name in enumerate(cands):
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
        selection = np.where(labels == "none", "none", "class").astype(object)
        cands = self._candidates()
        if self.select == "series":
            scores, count = self._series_scores(demand)
            self.scores_ = scores
            finite = np.where(np.isnan(scores), np.inf, scores)
            scored = ~np.isnan(scores).all(axis=1) & np.isfinite(finite).any(axis=1) & (labels != "none")
            best = np.argmin(finite, axis=1)
            # the class map's model stays unless a candidate is clearly better on the series
            keep = 1.0 - float(self.margin)
            inc = np.array([cands.index(m) if m in cands else -1 for m in model], dtype=np.int64)
            inc_score = np.where(inc >= 0, finite[np.arange(n), np.maximum(inc, 0)], np.inf)
            beats = finite[np.arange(n), best] < keep * inc_score
            best = np.where((inc >= 0) & ~beats, inc, best)
            chosen = np.array([cands[b] for b in best], dtype=object)
            model = np.where(scored, chosen, model)
            selection = np.where(scored, "backtest", np.where(labels == "none", "none", "class_map"))
        elif self.select == "backtest":
            scores = self._inner_backtest(demand, labels)
            ok = np.isfinite(scores).all(axis=1)
            if self.per_series:
                best = np.argmin(np.where(np.isfinite(scores), scores, np.inf), axis=1)
                chosen = np.array([cands[b] for b in best], dtype=object)
                model = np.where(ok & (labels != "none"), chosen, model)
            else:
                for c in np.unique(labels):
                    rows = (labels == c) & ok
                    if c == "none" or not rows.any():
                        continue
                    mean_score = scores[rows].mean(axis=0)
                    class_models[str(c)] = cands[int(np.argmin(mean_score))]
                    model = np.where(labels == c, class_models[str(c)], model)
            selection = np.where(labels == "none", "none", "class_backtest").astype(object)
        elif self.select != "class":
            raise ValueError(f"select must be 'series', 'class' or 'backtest', not {self.select!r}")
        so = np.asarray(demand.stocked_out)
        if self.censored_model is not None and so.size and so.any():
            ptr = np.asarray(demand.indptr)
            any_cens = np.add.reduceat(so.astype(np.int64), ptr[:-1]) if so.size else np.zeros(n)
            any_cens = np.where(np.diff(ptr) > 0, any_cens, 0) > 0
            swap = any_cens & np.isin(model, ["negbin", "poisson"])
            model = np.where(swap, self.censored_model, model)
            selection = np.where(swap, "censored", selection)
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
        self.selection_ = np.asarray(selection, dtype=object)
        self.fallback_used_ = used_fb
        self.period_dists_ = [d if d is not None else DiscreteDistribution.point(0) for d in dists]
        return self
