"""Calibrated forecaster: any base model, recalibrated so its lead-time-demand promises hold.

The solvers combine a forecaster's *per-period* distribution as if periods were
independent: the lead-time demand they plan for is the ``L``-fold i.i.d. sum of the
per-period PMF (``L`` = lead time + review [periods]).  This wrapper scores exactly that
sum in rolling-origin backtests inside the training history and corrects the per-period
distribution so that the sum's 80 / 90 / 95 % quantiles are exceeded as often as they
claim.

Method (all from the training history; nothing from the periods being planned):

1. ``origins`` rolling origins ``o_k = T - horizon - k * step``: the base model is fitted
   on the periods before ``o_k``; the realised demand of the next ``horizon`` periods is
   kept (stocked-out and missing periods are not scored).
2. **Mean factor** per series: realised / forecast demand over the scored periods.  The
   factor of a demand class (ADI/CV², pooled over its series) is shrunk towards per
   series by Bühlmann credibility ``z = tau^2 / (tau^2 + w_i)``: ``tau^2`` is the
   between-series variance of the factor beyond noise, ``w_i`` the noise variance of the
   series' own factor (per-period variance / mean² / scored periods).  This corrects the
   level bias (trend, season, censoring) the base model leaves.
3. **Dispersion stretch** per demand class: every window of ``L`` consecutive scored
   periods inside the horizon gives a realised sum ``y``; its base distribution is the
   i.i.d. ``L``-fold sum scaled by the mean factor.  On the continuous (jittered)
   version of both, the stretch ``s`` about the mean is chosen on a grid so that the
   stretched sum's 80 / 90 / 95 % quantiles are exceeded at rates closest to 20 / 10 /
   5 % (squared error weighted by the binomial variance).
4. The final base fit (all periods) is transformed per period: ``s <= 1`` shrinks the
   PMF affinely about its mean (``m (mu + s (x - mu))``); ``s > 1`` multiplies each
   period's demand by an independent mean-one factor ``U`` whose variance gives the
   per-period variance ``s^2 var(X)``, so the i.i.d. ``L``-sum's spread is ``s`` times
   the base's about its mean.  Values are split linearly onto the two nearest integers
   (the mean is kept).

``L`` is each stage's mean lead time plus review period, rounded, when the run tells
the forecaster (:meth:`set_replenishment`, called before the solvers read
``period_demand``), else ``lead_periods``.  The calibration also yields the spread of the
next ``horizon`` periods' demand level around the forecast (``level_sd`` per class, the
variance of realised horizon means beyond sampling noise), which the fill-rate interval
of each recommendation uses (:meth:`demand_level_ratios`).

Determinism: the jitter of step 3 is drawn per series from a stream keyed by the series
key and ``seed``.  The class-pooled quantities depend on the series fitted together;
give ``class_params`` (e.g. from :meth:`class_calibration` of a fit on all series) to
make every series' result independent of its batch.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar, Self

import numpy as np
from scipy import stats

from echelon_demand.models._common import subset, truncate
from platform_core.components import DemandSeries, Forecaster
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.batch import BatchForecaster, compound_batch
from platform_core.forecasting.classes import classify

__all__ = ["CalibratedForecaster", "DEFAULT_BASE", "LEVELS", "calibrate_period", "continuous_quantiles"]

#: Members of the default base: a linear pool whose weights per demand class are chosen by
#: the backtest (``bootstrap`` wins on the generated benchmark data, ``negbin`` on car parts).
DEFAULT_BASE: tuple[str, ...] = ("bootstrap", "negbin")
#: Quantile levels whose exceedance rates the stretch matches [-].
LEVELS = (0.8, 0.9, 0.95)
_STRETCH_GRID = np.exp(np.linspace(np.log(0.4), np.log(4.0), 93))
_MAX_PAIRS = 200
#: Weights of the estimated class level factor tried against 1 (factor ``1 + w (m - 1)``).
_MEAN_FACTOR_WEIGHTS = (1.0, 0.5, 0.0)
#: Series-origins per class that choose the members' weights.
_MAX_WEIGHT_PAIRS = 2000
_U_POINTS = 8
_TAILS = ("gamma", "normal")
#: Weight of the mean-excess term against the exceedance term of the stretch criterion.
_EXCESS_WEIGHT = 0.1


def _make(name: str, params: Mapping[str, Any] | None) -> Forecaster:
    """The base forecaster ``name``: a built-in of ``echelon_demand``, else any registered one."""
    from echelon_demand.bootstrap import BootstrapForecaster
    from echelon_demand.models import FORECASTERS

    known: dict[str, type[Forecaster]] = {"bootstrap": BootstrapForecaster, **FORECASTERS}
    if name == "calibrated":
        raise ValueError("calibrated cannot wrap itself")
    cls = known.get(name)
    if cls is None:
        from platform_core.plugin_host import PluginHost

        cls = PluginHost().forecaster(name)
    return cls(**dict(params or {}))


def _remap(values: np.ndarray, probs: np.ndarray) -> DiscreteDistribution:
    """PMF of non-negative real ``values`` split linearly onto their two nearest integers."""
    v = np.maximum(values, 0.0)
    lo = np.floor(v)
    w = v - lo
    lo_i = lo.astype(np.int64)
    size = int(lo_i.max()) + 2
    pmf = np.zeros(size)
    np.add.at(pmf, lo_i, probs * (1.0 - w))
    np.add.at(pmf, lo_i + 1, probs * w)
    pmf[pmf < 1e-15] = 0.0
    nz = np.flatnonzero(pmf)
    return DiscreteDistribution(pmf[nz[0] : nz[-1] + 1], int(nz[0]))


def calibrate_period(
    dist: DiscreteDistribution, mean_factor: float, stretch: float, tail: str = "gamma"
) -> DiscreteDistribution:
    """The per-period PMF scaled by ``mean_factor`` with its spread stretched by ``stretch``.

    ``stretch <= 1``: values ``m (mu + s (x - mu))``; ``stretch > 1``: ``m x U`` with
    ``U`` independent, mean one and variance ``c = (s^2 - 1) var(X) / E[X^2]`` (eight
    equally likely points: mid-quantiles of a gamma (``tail="gamma"``, skewed right) or
    normal (``tail="normal"``, symmetric) law, rescaled to variance ``c``; where that
    would make a point negative, ``U`` is 0 with the probability that gives variance
    ``c`` and the points divided by the remaining probability otherwise).  The mean is
    ``m mu`` and the variance ``m^2 s^2 var(X)`` (before the integer split).
    """
    x = dist.support.astype(np.float64)
    p = dist.pmf
    mu = float(np.dot(x, p))
    var = float(np.dot((x - mu) ** 2, p))
    m = float(mean_factor)
    s = float(stretch)
    if var <= 0.0 or abs(s - 1.0) < 1e-9:
        return _remap(m * x, p) if abs(m - 1.0) > 1e-12 else dist
    if s <= 1.0:
        p0 = float(p[x == 0].sum())
        if p0 > 0.0 and p0 < 1.0:
            # intermittent: shrink the sizes about their own mean and keep the zeros (an
            # affine shrink would move the no-demand periods onto small positive demand);
            # the sizes' shrink k gives variance s^2 var(X) where the occurrence allows
            pos = x > 0
            q = 1.0 - p0
            mu_s = mu / q
            var_s = float(np.dot((x[pos] - mu_s) ** 2, p[pos])) / q
            floor = q * p0 * mu_s**2  # variance left when every size equals mu_s
            k2 = (s * s * var - floor) / (q * var_s) if var_s > 0 else 0.0
            k = float(np.sqrt(min(max(k2, 0.0), 1.0)))
            return _remap(m * np.where(pos, mu_s + k * (x - mu_s), 0.0), p)
        return _remap(m * (mu + s * (x - mu)), p)
    c = (s * s - 1.0) * var / float(np.dot(x * x, p))
    # U: mid-quantiles of a gamma law with mean 1 and variance c, deviations rescaled to
    # variance c exactly where that keeps U >= 0 (else the gamma points as they are)
    g = _u_points(tail, round(float(np.log(c)), 2))  # shape on a 1 % grid of c; variance exact below
    dev = g - 1.0
    v_g = float(np.mean(dev**2))
    k = np.sqrt(c / max(v_g, 1e-300))
    pu = np.full(_U_POINTS, 1.0 / _U_POINTS)
    if float(np.min(1.0 + dev * k)) >= 0.0:
        u = 1.0 + dev * k
    else:  # U = 0 w.p. pi, else g / (1 - pi): mean 1, variance (1 + v_g) / (1 - pi) - 1 = c
        keep = (1.0 + v_g) / (1.0 + c)
        u = np.concatenate(([0.0], g / keep))
        pu = np.concatenate(([1.0 - keep], pu * keep))
    vals = (m * x[:, None] * u[None, :]).ravel()
    probs = (p[:, None] * pu[None, :]).ravel()
    return _remap(vals, probs)


def _mix(dists: list[DiscreteDistribution], w: np.ndarray) -> DiscreteDistribution:
    """Linear pool ``sum_k w_k P_k`` of the members' PMFs (weights summing to one)."""
    if len(dists) == 1:
        return dists[0]
    nz = [k for k in range(len(dists)) if w[k] > 0]
    if len(nz) == 1:
        return dists[nz[0]]
    lo = min(dists[k].offset for k in nz)
    hi = max(dists[k].offset + dists[k].pmf.size for k in nz)
    pmf = np.zeros(hi - lo)
    for k in nz:
        d = dists[k]
        pmf[d.offset - lo : d.offset - lo + d.pmf.size] += float(w[k]) * d.pmf
    return DiscreteDistribution(pmf / pmf.sum(), lo)


def _moments(members: list[list[DiscreteDistribution]]) -> tuple[np.ndarray, np.ndarray]:
    """Means and second moments (members, series) of the members' per-period PMFs."""
    means = np.array([[d.mean() for d in md] for md in members], dtype=np.float64).reshape(len(members), -1)
    second = np.array([[d.var() + d.mean() ** 2 for d in md] for md in members],
                      dtype=np.float64).reshape(len(members), -1)
    return means, second


def _simplex_grid(members: int, steps: int) -> np.ndarray:
    """Weight vectors with entries in multiples of ``1 / steps`` summing to one."""
    import itertools

    rows = [c for c in itertools.product(range(steps + 1), repeat=members) if sum(c) == steps]
    rows.sort(key=lambda c: tuple(-x for x in c))  # (steps, 0, ...) first
    return np.array(rows, dtype=np.float64) / steps


@lru_cache(maxsize=4096)
def _u_points(tail: str, log_c: float) -> np.ndarray:
    """Eight mean-one points of the ``tail`` law with variance about ``exp(log_c)``."""
    c = float(np.exp(log_c))
    mid = (np.arange(_U_POINTS) + 0.5) / _U_POINTS
    if tail == "gamma":
        g = stats.gamma.ppf(mid, 1.0 / c, scale=c)
    elif tail == "normal":
        z = stats.norm.ppf(mid)
        g = 1.0 + z * min(np.sqrt(c) / float(np.std(z)), 1.0 / float(-z.min()))
    else:
        raise ValueError(f"tail must be 'gamma' or 'normal', not {tail!r}")
    out = np.asarray(g / g.mean(), dtype=np.float64)
    out.setflags(write=False)
    return out


def _continuous_excess(dist: DiscreteDistribution, q: np.ndarray) -> np.ndarray:
    """E[(X + U - 1/2 - q)^+] of the jittered ``dist`` for every level in ``q`` [units]."""
    a = dist.support.astype(np.float64)[None, :] + 0.5 - np.asarray(q, dtype=np.float64)[:, None]
    e = np.where(a >= 1.0, a - 0.5, np.where(a > 0.0, 0.5 * a * a, 0.0))
    return e @ dist.pmf


def continuous_quantiles(dist: DiscreteDistribution, levels: np.ndarray) -> np.ndarray:
    """Quantiles of the jittered (continuous) version of ``dist``: ``X + U - 1/2``.

    Its CDF is linear on each cell ``[k - 1/2, k + 1/2)`` between ``F(k - 1)`` and ``F(k)``.
    """
    cdf = np.cumsum(dist.pmf)
    cdf[-1] = 1.0
    k = np.searchsorted(cdf, np.asarray(levels) - 1e-12, side="left")
    k = np.minimum(k, cdf.size - 1)
    below = np.where(k > 0, cdf[np.maximum(k - 1, 0)], 0.0)
    p = np.maximum(dist.pmf[k], 1e-300)
    return dist.offset + k - 0.5 + (np.asarray(levels) - below) / p


def _continuous_cdf(dist: DiscreteDistribution, x: np.ndarray) -> np.ndarray:
    """CDF of the jittered ``dist`` at real ``x``."""
    cdf = np.concatenate(([0.0], np.cumsum(dist.pmf)))
    cell = np.floor(x + 0.5).astype(np.int64) - dist.offset  # cell index k - offset
    frac = x + 0.5 - np.floor(x + 0.5)
    inside = (cell >= 0) & (cell < dist.pmf.size)
    c = np.clip(cell, 0, dist.pmf.size - 1)
    val = cdf[c] + frac * dist.pmf[c]
    return np.where(inside, val, np.where(cell < 0, 0.0, 1.0))


def _key_stream(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode())]))


def _mean_at_least(dist: DiscreteDistribution, sales: float) -> float:
    """``E[D | D >= sales]`` under ``dist`` [units] (``sales`` where the tail has no mass)."""
    support, pmf = dist.support, dist.pmf
    tail = support >= sales
    mass = float(pmf[tail].sum())
    if mass <= 1e-12:
        return sales
    return max(sales, float((support[tail] * pmf[tail]).sum() / mass))


class CalibratedForecaster(BatchForecaster):
    """Wraps a base forecaster and recalibrates its per-period distribution (see module doc).

    Args:
        base: registered name of the base forecaster.
        base_params: parameters of the base forecaster.
        horizon_periods: periods after each backtest origin that are scored, and the
            horizon of the fill-rate interval [periods].
        origins: rolling backtest origins inside the training history.
        origin_step: periods between origins [periods] (default half the horizon, rounded up).
        min_history_periods: periods a series needs before an origin [periods].
        lead_periods: lead time + review [periods] when the run does not say.
        pool: ``class`` (stretch and mean factor pooled per demand class, mean factor
            per series by credibility) or ``all`` (one pool).
        class_params: pooled parameters per class (from :meth:`class_calibration`);
            None estimates them from the series being fitted.
        seed: seed of the jitter.
        pool_series: at most this many series (chosen by a hash of their key) estimate
            the class-pooled stretch and tail; the mean factors use every series.

    The calibration runs on first use (``period_demand``, ``lead_time_demand``,
    ``class_calibration``, ``demand_level_ratios``) and again when
    :meth:`set_replenishment` changes ``L``; the attributes below ending in ``_`` (except
    ``base_`` and ``classes_``) exist from then on.

    Attributes:
        base_: the base forecaster fitted on all periods.
        classes_: demand class per series.
        mean_factor_: mean factor per series [-].
        stretch_: stretch per series [-] (its class's).
        level_sd_: sd of the next horizon's demand level around the forecast, per series
            [-, relative].
        lead_periods_: ``L`` per series the calibration uses [periods].
        period_dists_: calibrated per-period distribution per series.
    """

    handles_intermittent: ClassVar[bool] = True
    # stockouts are handled as its base handles them (the default `bootstrap` drops censored
    # periods, which lowers the mean): the wrapper cannot promise more. Its own backtest
    # scores a censored period at the base's E[D | D >= sales], not at the sales.
    handles_censoring: ClassVar[bool] = False

    def __init__(
        self,
        base: str | Sequence[str] = DEFAULT_BASE,
        base_params: Mapping[str, Any] | None = None,
        horizon_periods: int = 26,
        origins: int = 3,
        origin_step: int | None = None,
        min_history_periods: int = 26,
        lead_periods: int = 1,
        pool: str = "class",
        class_params: Mapping[str, Mapping[str, float]] | None = None,
        seed: int = 0,
        pool_series: int = 5_000,
    ) -> None:
        self.base = base
        self.base_params = base_params
        self.horizon_periods = horizon_periods
        self.origins = origins
        self.origin_step = origin_step
        self.min_history_periods = min_history_periods
        self.lead_periods = lead_periods
        self.pool = pool
        self.class_params = class_params
        self.seed = seed
        self.pool_series = pool_series

    # ------------------------------------------------------------------ fitting ----
    def fit(self, demand: DemandSeries) -> Self:
        """Fit the base on all periods and at every backtest origin; calibrate for ``lead_periods``."""
        if self.pool not in ("class", "all"):
            raise ValueError(f"pool must be 'class' or 'all', not {self.pool!r}")
        if int(self.horizon_periods) < 1 or int(self.origins) < 1:
            raise ValueError("horizon_periods and origins must be >= 1")
        n = len(demand)
        lengths = np.diff(np.asarray(demand.indptr, dtype=np.int64))
        H, min_history = self._backtest_span(lengths)
        self.horizon_periods_ = H
        step = self._step()
        self.keys_ = list(demand.keys)
        names = self._members()
        fitted = [_make(name, self._member_params(name)).fit(demand) for name in names]
        self.base_ = fitted[0]
        self.member_dists_ = [f.period_demand() for f in fitted]
        self.base_dists_ = self.member_dists_[0]
        self.fallback_ = list(getattr(self.base_, "fallback_", None) or [""] * n)
        labels = classify(demand).label
        self.classes_ = labels if self.pool == "class" else np.full(n, "all", dtype=object)
        starts = np.asarray(demand.indptr, dtype=np.int64)[:-1]
        vals = np.asarray(demand.values, dtype=np.float64)
        so = np.asarray(demand.stocked_out, dtype=bool)
        self.bt_: list[tuple[np.ndarray, list[DiscreteDistribution], np.ndarray]] = []
        self.bt_members_: list[list[list[DiscreteDistribution]]] = []
        self.bt_moments_: list[tuple[np.ndarray, np.ndarray]] = []
        # the class-pooled shape (stretch, tail) is estimated on a sample of at most
        # `pool_series` series chosen by a hash of their key (all of them in smaller fits)
        every = max(1, -(-n // int(self.pool_series)))
        self.in_sample_ = np.array([zlib.crc32(str(k).encode()) % every == 0 for k in self.keys_], dtype=bool)
        for k in range(int(self.origins)):
            cut = H + k * step
            idx = np.flatnonzero(lengths - cut >= min_history)
            if idx.size == 0:
                continue
            train = truncate(subset(demand, idx), np.full(idx.size, cut))
            members = [_make(name, self._member_params(name)).fit(train).period_demand() for name in names]
            dists = members[0]
            pos = (starts[idx] + lengths[idx] - cut)[:, None] + np.arange(H)[None, :]
            real = vals[pos]
            censored = so[pos] & np.isfinite(real)
            real[~np.isfinite(real)] = np.nan
            for j, h in zip(*np.nonzero(censored), strict=True):
                # a stockout: demand was at least the sales; score the base model's own
                # expectation of it given that (dropping these periods, or taking the
                # sales as demand, would teach the calibration that demand is lower)
                real[j, h] = _mean_at_least(dists[j], float(real[j, h]))
            self.bt_.append((idx, dists, np.maximum(real, 0.0)))
            self.bt_members_.append(members)
            self.bt_moments_.append(_moments(members))
        self._bt_first = list(self.bt_)
        self.lead_periods_ = np.full(n, max(int(self.lead_periods), 1), dtype=np.int64)
        self._calibrated_for: np.ndarray | None = None  # calibrated on first use, for lead_periods_
        return self

    def set_replenishment(self, lead_times: list[DiscreteDistribution], review_periods: np.ndarray) -> None:
        """Recalibrate for ``L`` = round(mean lead time + review) of each series [periods]."""
        if len(lead_times) != len(self.keys_):
            raise ValueError(f"{len(lead_times)} lead times for {len(self.keys_)} series")
        L = np.rint(np.array([lt.mean() for lt in lead_times]) + np.asarray(review_periods, dtype=np.float64))
        self.lead_periods_ = np.maximum(L, 1).astype(np.int64)

    def _ensure_calibrated(self) -> None:
        if not hasattr(self, "base_dists_"):
            raise RuntimeError("CalibratedForecaster is not fitted; call fit() first")
        if self._calibrated_for is None or not np.array_equal(self._calibrated_for, self.lead_periods_):
            self._calibrate(self.lead_periods_)
            self._calibrated_for = self.lead_periods_.copy()

    def period_demand(self) -> list[DiscreteDistribution]:
        """Calibrated per-period demand distribution [units/period] of each fitted series."""
        self._ensure_calibrated()
        return list(self.period_dists_)

    def lead_time_demand(
        self,
        lead_times: list[DiscreteDistribution],
        review_periods: np.ndarray,
        seeds: np.ndarray,
    ) -> list[DiscreteDistribution]:
        """Demand over lead time + review [units]: the i.i.d. sum of the calibrated periods.

        Calibrates for these lead times first (as :meth:`set_replenishment`), so a backtest
        that asks for ``H``-period demand scores the distribution calibrated for ``H``.
        """
        self.set_replenishment(lead_times, review_periods)
        self._ensure_calibrated()
        return super().lead_time_demand(lead_times, review_periods, seeds)

    # -------------------------------------------------------------- calibration ----
    def _windows(self, L: np.ndarray) -> dict[str, list[np.ndarray]]:
        """Every scored window of the sampled series: series, origin, realised L-sum, base mean, quantiles."""
        out: dict[str, list[Any]] = {k: [] for k in ("row", "y", "mu_sum", "lq", "pair", "pair_dist", "pair_row")}
        for idx_all, dists_all, real_all in self.bt_:
            keep = np.flatnonzero(self.in_sample_[idx_all])
            idx, real = idx_all[keep], real_all[keep]
            dists = [dists_all[j] for j in keep]
            Li = L[idx]
            ltd = compound_batch(dists, [DiscreteDistribution.point(int(x)) for x in Li], np.zeros(idx.size, dtype=np.int64))
            H = real.shape[1]
            c = np.concatenate([np.zeros((idx.size, 1)), np.cumsum(np.nan_to_num(real), axis=1)], axis=1)
            cn = np.concatenate([np.zeros((idx.size, 1)), np.cumsum(np.isnan(real), axis=1)], axis=1)
            for j, i in enumerate(idx):
                ell = int(Li[j])
                if ell > H:
                    continue
                sums = c[j, ell:] - c[j, :-ell]
                good = (cn[j, ell:] - cn[j, :-ell]) == 0
                if not good.any():
                    continue
                y = sums[good]
                out["row"].append(np.full(y.size, i))
                out["y"].append(y)
                out["mu_sum"].append(np.full(y.size, ell * dists[j].mean()))
                out["lq"].append(np.repeat(continuous_quantiles(ltd[j], np.array(LEVELS))[None, :], y.size, axis=0))
                out["pair"].append(np.full(y.size, len(out["pair_dist"])))
                out["pair_dist"].append(dists[j])
                out["pair_row"].append(i)
        return out

    def _calibrate(self, L: np.ndarray) -> None:
        n = len(self.keys_)
        self.lead_periods_ = L
        labels = self.classes_
        given = self.class_params
        params: dict[str, dict[str, float]] = {}
        weights = np.ones((n, 1))
        if len(self._members()) > 1:
            weights = self._combine(L, params)
            self.base_dists_ = [_mix([md[i] for md in self.member_dists_], weights[i]) for i in range(n)]
            self.bt_ = [(idx, [_mix([md[j] for md in members], weights[i]) if self.in_sample_[i] else members[0][j]
                               for j, i in enumerate(idx)], real)
                        for (idx, _, real), members in zip(self._bt_first, self.bt_members_, strict=True)]
        self.weights_ = weights
        # ---- mean factor: realised / forecast over the scored periods ------------------
        Y = np.zeros(n)
        F = np.zeros(n)
        W = np.zeros(n)  # noise variance numerator: sum of per-period var over scored periods
        ratio_rows, ratio_vals, ratio_noise = [], [], []
        for (idx, _, real), (means, second) in zip(self.bt_, self.bt_moments_, strict=True):
            w = weights[idx].T  # (members, rows): the pool's mean and variance from its members'
            mu = np.sum(w * means, axis=0)
            var = np.maximum(np.sum(w * second, axis=0) - mu**2, 0.0)
            cnt = np.sum(~np.isnan(real), axis=1)
            ysum = np.nansum(real, axis=1)
            Y[idx] += ysum
            F[idx] += mu * cnt
            W[idx] += var * cnt
            ok = (mu > 0) & (cnt > 0)
            ratio_rows.append(idx[ok])
            ratio_vals.append(ysum[ok] / (mu[ok] * cnt[ok]))
            ratio_noise.append(var[ok] / (mu[ok] ** 2 * cnt[ok]))
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.where(F > 0, Y / F, np.nan)
            # scored periods overlap between origins: count each distinct period once
            overlap = max(1.0, len(self.bt_) * self.horizon_periods_ / self._span())
            w_noise = np.where(F > 0, W * overlap / F**2, np.inf)
        m = np.ones(n)
        z_all = np.zeros(n)  # credibility of each series' own factor
        for c in np.unique(labels):
            rows = np.flatnonzero((labels == c) & np.isfinite(rho) & (F > 0))
            if given is not None and str(c) in given:
                p = {**dict(given[str(c)]), **params.get(str(c), {})}
            else:
                if rows.size == 0:
                    p = {"mean_factor": 1.0, "mean_factor_between_var": 0.0}
                else:
                    mc = float(Y[rows].sum() / F[rows].sum())
                    tau2 = self._persistent_var(ratio_rows, ratio_vals, labels == c)
                    if tau2 is None:
                        tau2 = max(float(np.var(rho[rows]) - np.mean(np.minimum(w_noise[rows], 1e6))), 0.0)
                    p = {"mean_factor": mc, "mean_factor_between_var": tau2}
                p = {**params.get(str(c), {}), **p}
            params[str(c)] = p
            members = np.flatnonzero(labels == c)
            tau2 = p["mean_factor_between_var"]
            ok = np.isfinite(rho[members]) & (F[members] > 0)
            z = np.where(ok, tau2 / np.maximum(tau2 + np.where(ok, w_noise[members], np.inf), 1e-300), 0.0)
            z = np.where(tau2 > 0, z, 0.0)
            z_all[members] = z
            m[members] = np.clip(z * np.nan_to_num(rho[members], nan=1.0) + (1.0 - z) * p["mean_factor"], 0.25, 4.0)

        def with_class_factor(members: np.ndarray, factor: float) -> np.ndarray:
            z = z_all[members]
            return np.clip(z * np.nan_to_num(rho[members], nan=1.0) + (1.0 - z) * factor, 0.25, 4.0)

        # ---- stretch and level spread per class --------------------------------------
        need_shape = given is None or any("stretch" not in given.get(str(c), {}) for c in np.unique(labels))
        win = self._windows(L) if need_shape else {k: [] for k in ("row", "y", "mu_sum", "lq", "pair", "pair_dist",
                                                                     "pair_row")}
        row = np.concatenate(win["row"]) if win["row"] else np.zeros(0, dtype=np.int64)
        s_row = np.ones(n)
        level_sd = np.zeros(n)
        if row.size:
            y = np.concatenate(win["y"])
            mu_sum = np.concatenate(win["mu_sum"])
            lq = np.concatenate(win["lq"])
            u = np.empty(y.size)
            order = np.argsort(row, kind="stable")
            bounds = np.searchsorted(row[order], np.arange(n + 1))
            for i in range(n):  # per-series jitter stream: independent of the batch
                a, b = int(bounds[i]), int(bounds[i + 1])
                if b > a:
                    u[order[a:b]] = _key_stream(self.seed, self.keys_[i]).random(b - a)
            b_dev = lq - mu_sum[:, None]
            wcls = labels[row]
        else:
            wcls = np.zeros(0, dtype=object)
        rr = np.concatenate(ratio_rows) if ratio_rows else np.zeros(0, dtype=np.int64)
        rv_raw = np.concatenate(ratio_vals) if ratio_rows else np.zeros(0)
        rn = np.concatenate(ratio_noise) if ratio_rows else np.zeros(0)
        target = 1.0 - np.array(LEVELS)
        weight = 1.0 / (np.array(LEVELS) * target)
        for c in np.unique(labels):
            p = params[str(c)]
            if "stretch" not in p:
                sel = wcls == c
                if sel.sum() >= 20:
                    # the class's level factor and the stretch are chosen together: the
                    # factor estimated from the means (weight 1) or shrunk towards 1, so the
                    # quantiles, not only the mean, of the backtest windows decide it
                    members = np.flatnonzero(labels == c)
                    mc = float(p["mean_factor"])
                    best: tuple[float, float, str, float, np.ndarray] | None = None
                    for lam in _MEAN_FACTOR_WEIGHTS if abs(mc - 1.0) > 1e-9 else (1.0,):
                        m_try = m.copy()
                        m_try[members] = with_class_factor(members, 1.0 + lam * (mc - 1.0))
                        a_sel = (y[sel] + u[sel] - 0.5) / m_try[row[sel]] - mu_sum[sel]
                        exceed = (a_sel[:, None, None] > _STRETCH_GRID[None, :, None] * b_dev[sel, None, :]).mean(axis=0)
                        loss = ((exceed - target[None, :]) ** 2 * weight[None, :]).sum(axis=1)
                        first = float(_STRETCH_GRID[int(np.argmin(loss))])
                        st, tail, crit = self._refine_stretch(first, win, np.flatnonzero(sel), y + u - 0.5, m_try, L)
                        if best is None or crit < best[3] - 1e-12:
                            best = (lam, st, tail, crit, m_try[members])
                    assert best is not None
                    lam, p["stretch"], tail, _, m[members] = best
                    p["tail_normal"] = float(tail == "normal")
                    p["mean_factor_estimate"] = mc
                    p["mean_factor_weight"] = float(lam)
                    p["mean_factor"] = 1.0 + lam * (mc - 1.0)
                else:
                    p["stretch"] = 1.0
                p["windows"] = float(sel.sum())
            if "level_sd" not in p:
                sel_r = labels[rr] == c
                if sel_r.sum() >= 5:
                    rv = rv_raw[sel_r] / m[rr[sel_r]]
                    lv = float(np.var(np.minimum(rv, 10.0)) - np.mean(np.minimum(rn[sel_r], 10.0)))
                    p["level_sd"] = float(np.sqrt(np.log1p(max(lv, 0.0))))  # lognormal with that variance
                else:
                    p["level_sd"] = 0.0
            members = labels == c
            s_row[members] = p["stretch"]
            level_sd[members] = p["level_sd"]
        self.class_params_ = params
        self.mean_factor_ = m
        self.stretch_ = s_row
        self.level_sd_ = level_sd
        tails = [("normal" if params[str(c)].get("tail_normal", 0.0) > 0.5 else "gamma") for c in labels]
        self.period_dists_ = [
            calibrate_period(d, float(m[i]), float(s_row[i]), tails[i]) for i, d in enumerate(self.base_dists_)
        ]

    def _members(self) -> tuple[str, ...]:
        return (self.base,) if isinstance(self.base, str) else tuple(str(b) for b in self.base)

    def _member_params(self, name: str) -> Mapping[str, Any] | None:
        if isinstance(self.base, str):
            return self.base_params
        return (self.base_params or {}).get(name)

    def _backtest_span(self, lengths: np.ndarray) -> tuple[int, int]:
        """Scored periods per origin and the history needed before an origin [periods].

        ``horizon_periods`` and ``min_history_periods`` as given, unless the median series
        is shorter than three horizons: then both are a quarter of the median length (at
        least 2), so short histories (51 months of car parts) still get their origins and
        the level drift the calibration learns is over a horizon the history can show
        more than once (a third made the car-parts means drift too far: scaled pinball
        0.9 of 3-month demand 0.375 against 0.318).
        """
        H, need = int(self.horizon_periods), int(self.min_history_periods)
        med = int(np.median(lengths)) if lengths.size else 0
        if med >= 3 * H:
            return H, need
        short = max(med // 4, 2)
        return min(H, short), min(need, short)

    def _combine(self, L: np.ndarray, params: dict[str, dict[str, float]]) -> np.ndarray:
        """Linear-pool weights of the members per series (its class's), chosen by backtest.

        Per demand class, the weights on a grid of the simplex (steps of 1/4) whose mixed
        per-period PMFs give the i.i.d. ``L``-sums with the lowest quantile (pinball) loss
        at :data:`LEVELS` over the backtest windows, each window's loss divided by its
        expected sum (at most ``_MAX_WEIGHT_PAIRS`` series-origins per class).  Ties go to
        the earlier grid point (all weight on the first member first).  Given
        ``class_params`` with ``weight_<member>`` entries are used as they are.
        """
        from echelon_demand.models.auto import sum_quantiles

        names = self._members()
        labels = self.classes_
        grid = _simplex_grid(len(names), 4)
        given = self.class_params or {}
        lv = np.array(LEVELS)
        out = np.tile(grid[0], (len(self.keys_), 1))
        for c in np.unique(labels):
            g = given.get(str(c), {})
            if all(f"weight_{nm}" in g for nm in names):
                w = np.array([float(g[f"weight_{nm}"]) for nm in names])
            else:
                w = grid[0]
                pairs: list[tuple[list[DiscreteDistribution], int, np.ndarray]] = []
                for (idx, _, real), members in zip(self._bt_first, self.bt_members_, strict=True):
                    for j in np.flatnonzero((labels[idx] == c) & self.in_sample_[idx]):
                        ell = int(L[idx[j]])
                        r = real[j]
                        if ell > r.size:
                            continue
                        cs = np.concatenate(([0.0], np.cumsum(np.nan_to_num(r))))
                        cn = np.concatenate(([0], np.cumsum(np.isnan(r))))
                        good = (cn[ell:] - cn[:-ell]) == 0
                        if good.any():
                            pairs.append(([md[j] for md in members], ell, (cs[ell:] - cs[:-ell])[good]))
                        if len(pairs) >= _MAX_WEIGHT_PAIRS:
                            break
                    if len(pairs) >= _MAX_WEIGHT_PAIRS:
                        break
                if len(pairs) >= 20:
                    loss = np.array([self._pool_loss(pairs, cand, lv, sum_quantiles) for cand in grid])
                    w = grid[int(np.argmin(loss))]
            params.setdefault(str(c), {}).update({f"weight_{nm}": float(x) for nm, x in zip(names, w, strict=True)})
            out[labels == c] = w
        return out

    @staticmethod
    def _pool_loss(pairs: list[tuple[list[DiscreteDistribution], int, np.ndarray]], w: np.ndarray,
                   lv: np.ndarray, sum_quantiles: Any) -> float:
        """Mean scaled pinball loss at ``lv`` of the mixture ``w``'s i.i.d. L-sums over ``pairs``."""
        total = 0.0
        count = 0
        ells = np.array([p[1] for p in pairs])
        for ell in np.unique(ells):
            sel = np.flatnonzero(ells == ell)
            mixed = [_mix(pairs[k][0], w) for k in sel]
            Q, _ = sum_quantiles(mixed, int(ell), lv)
            for row, k in enumerate(sel):
                y = pairs[k][2]
                scale = max(float(ell) * float(np.mean([d.mean() for d in pairs[k][0]])), 1e-9)
                diff = y[:, None] - Q[row][None, :]
                total += float(np.sum(np.maximum(lv * diff, (lv - 1.0) * diff))) / scale
                count += y.size
        return total / max(count, 1)

    def _refine_stretch(self, first: float, win: dict[str, list[Any]], sel: np.ndarray, y_jit: np.ndarray,
                        m: np.ndarray, L: np.ndarray) -> tuple[float, str, float]:
        """The stretch and tail whose *transformed* per-period PMF's i.i.d. L-sum matches best.

        Step 3's grid assumes an affine stretch of the sum; the per-period transform only
        matches its variance.  Around that first guess, each candidate is applied to the
        class's (series, origin) base PMFs (at most ``_MAX_PAIRS`` of them, the first in
        order), compounded, and scored against the windows: the exceedance criterion of
        step 3 plus ``_EXCESS_WEIGHT`` times the squared log ratio of realised to modelled
        mean excess over the 90 and 95 % quantiles (a fill rate depends on that excess).
        """
        pair = np.concatenate(win["pair"])[sel]
        pairs = np.unique(pair)[:_MAX_PAIRS]
        keep = np.isin(pair, pairs)
        pair, yj = pair[keep], y_jit[sel][keep]
        pos = np.searchsorted(pairs, pair)
        rows = np.array([win["pair_row"][k] for k in pairs], dtype=np.int64)
        lts = [DiscreteDistribution.point(int(L[r])) for r in rows]
        zeros = np.zeros(pairs.size, dtype=np.int64)
        target = 1.0 - np.array(LEVELS)
        weight = 1.0 / (np.array(LEVELS) * target)
        best, best_loss = (first, "gamma"), np.inf
        grid = sorted({1.0, *(first * np.exp(np.linspace(-0.6, 0.6, 9)))})
        for tail in _TAILS:
            for cand in grid:
                if cand <= 1.0 and tail != _TAILS[0]:
                    continue  # the tail shape matters only when stretching
                dists = [calibrate_period(win["pair_dist"][k], float(m[r]), cand, tail)
                         for k, r in zip(pairs, rows, strict=True)]
                ltd = compound_batch(dists, lts, zeros)
                q = np.array([continuous_quantiles(d, np.array(LEVELS)) for d in ltd])
                exceed = (yj[:, None] > q[pos]).mean(axis=0)
                loss = float(((exceed - target) ** 2 * weight).sum())
                # mean excess over the upper quantiles (what a fill rate depends on):
                # realised vs the model's, on the log scale
                model_excess = np.array([_continuous_excess(d, qq[1:]) for d, qq in zip(ltd, q, strict=True)])
                real_excess = np.maximum(yj[:, None] - q[pos][:, 1:], 0.0).mean(axis=0)
                mod = model_excess[pos].mean(axis=0)
                if np.all(mod > 0) and np.all(real_excess > 0):
                    loss += _EXCESS_WEIGHT * float(np.sum(np.log(real_excess / mod) ** 2))
                if loss < best_loss - 1e-12:
                    best, best_loss = (float(cand), tail), loss
        return best[0], best[1], best_loss

    def _persistent_var(self, rows: list[np.ndarray], vals: list[np.ndarray], member: np.ndarray) -> float | None:
        """Between-series variance of the mean factor that persists over time.

        The covariance of the series' ratios at the newest and the oldest origin when their
        scored periods do not overlap (noise and passing season do not covary); None without
        such origins.
        """
        if len(rows) < 2 or self._step() * (len(rows) - 1) < int(self.horizon_periods_):
            return None
        first = dict(zip(rows[0].tolist(), vals[0].tolist(), strict=True))
        pairs = [(first[i], v) for i, v in zip(rows[-1].tolist(), vals[-1].tolist(), strict=True)
                 if i in first and member[i]]
        if len(pairs) < 10:
            return None
        a = np.clip(np.array(pairs), 0.0, 10.0)
        return float(max(np.cov(a[:, 0], a[:, 1])[0, 1], 0.0))

    def _step(self) -> int:
        # half the horizon, rounded up: the newest and oldest of three origins never overlap,
        # so the persistent between-series variance can be read from them (_persistent_var)
        return int(self.origin_step) if self.origin_step else max(-(-int(self.horizon_periods_) // 2), 1)

    def _span(self) -> float:
        step = self._step()
        k = max(len(self.bt_), 1)
        return float(min(int(self.horizon_periods_) + (k - 1) * step, k * int(self.horizon_periods_)))

    pools_across_series: ClassVar[bool] = True

    @classmethod
    def pooled_params(
        cls, params: Mapping[str, Any], demand: DemandSeries, lead_times: list[DiscreteDistribution],
        review_periods: np.ndarray,
    ) -> dict[str, Any]:
        """``params`` with ``class_params`` calibrated on the run-wide sample ``demand``.

        A run calls it once on the driver: every batch then uses the same pooled stretch,
        mean factor and level spread per demand class, so a stage's numbers do not depend
        on the stages it is batched with.  Given ``class_params`` are kept.
        """
        if params.get("class_params") is not None:
            return dict(params)
        fitted = cls(**params).fit(demand)
        fitted.set_replenishment(lead_times, review_periods)
        # the backtest span the sample settled (short histories shorten it) holds for every batch
        H, need = fitted._backtest_span(np.diff(np.asarray(demand.indptr, dtype=np.int64)))
        return {**params, "horizon_periods": H, "min_history_periods": need,
                "class_params": fitted.class_calibration()}

    # ---------------------------------------------------------------- outputs ------
    def class_calibration(self) -> dict[str, dict[str, float]]:
        """The pooled parameters per class (pass as ``class_params`` to fix them)."""
        self._ensure_calibrated()
        return {c: dict(p) for c, p in self.class_params_.items()}

    def demand_level_ratios(self, count: int = 16) -> np.ndarray:
        """Equally likely ratios (series, count) of the next horizon's demand level to the forecast mean [-].

        Lognormal with mean one and the class's ``level_sd``.
        """
        self._ensure_calibrated()
        z = stats.norm.ppf((np.arange(count) + 0.5) / count)
        sd = self.level_sd_[:, None]
        return np.exp(sd * z[None, :] - 0.5 * sd**2)
