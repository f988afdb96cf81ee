"""Demand sensing: CUSUM change-point detection on forecast residuals, refit from the change.

For every series the first ``warmup`` periods fix a baseline forecast: mean ``m`` and
variance ``s² = max(sample variance, m)`` (at least Poisson).  Each later period gives
the standardised residual ``z_t = (y_t - m) / s`` and a two-sided CUSUM

    S+_t = max(0, S+_(t-1) + z_t - k),   S-_t = max(0, S-_(t-1) - z_t - k)

raises an alarm at the first ``t`` with ``S+_t > h`` or ``S-_t > h``.  The change point
is estimated as the period after the last time the alarming statistic was 0.

Threshold ``h`` is calibrated per series by a parametric bootstrap that includes the
estimation of the baseline: ``n_sim`` noise series of the same length are drawn from the
warm-up fit (negative binomial, Poisson when under-dispersed), the baseline is
re-estimated on each simulated warm-up, and ``h`` is the ``1 - false_alarm`` quantile of
the largest CUSUM value over the monitored horizon.  With the default
``false_alarm = 0.03`` a series without change alarms with probability ~3 % over its
whole monitored horizon, so fewer than 5 % of noise series alarm.

Detection delay (tested): a step of two baseline standard deviations (Poisson mean
5 -> 10) after a 24-period warm-up is detected within 6 periods in at least 90 % of
series.

:class:`SensingForecaster` wraps any forecaster: series with an alarm are refitted on
the periods from their change point on (at least ``min_after`` periods), and are
flagged in ``alarm_``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np

from echelon_demand.models._common import window
from platform_core.components import DemandSeries, Forecaster
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.batch import BatchForecaster
from platform_core.seeds import stage_seeds

__all__ = ["SensingResult", "detect_changes", "cusum", "SensingForecaster"]


@dataclass
class SensingResult:
    """Outcome of :func:`detect_changes` per series.

    Attributes:
        alarm: True where a change was detected.
        alarm_index: position (0 = first period of the series) of the alarm, -1 if none.
        change_index: estimated first period of the new regime, -1 if none.
        direction: +1 for an increase, -1 for a decrease, 0 without alarm.
        threshold: calibrated CUSUM threshold ``h`` per series [-].
        baseline_mean: warm-up mean per series [units/period].
    """

    alarm: np.ndarray
    alarm_index: np.ndarray
    change_index: np.ndarray
    direction: np.ndarray
    threshold: np.ndarray
    baseline_mean: np.ndarray


def _left_aligned(demand: DemandSeries) -> np.ndarray:
    ptr = np.asarray(demand.indptr, dtype=np.int64)
    lengths = np.diff(ptr)
    n = lengths.size
    T = max(int(lengths.max()) if n else 1, 1)
    Y = np.full((n, T), np.nan)
    if n:
        rows = np.repeat(np.arange(n), lengths)
        cols = np.arange(int(ptr[-1])) - np.repeat(ptr[:-1], lengths)
        Y[rows, cols] = np.asarray(demand.values, dtype=np.float64)
    return Y


def _baseline(Y: np.ndarray, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd over the first ``warmup`` columns (along the last axis)."""
    W = Y[..., :warmup]
    ok = ~np.isnan(W)
    cnt = np.maximum(ok.sum(axis=-1), 1)
    m = np.where(ok, W, 0.0).sum(axis=-1) / cnt
    v = np.where(ok, (W - m[..., None]) ** 2, 0.0).sum(axis=-1) / np.maximum(cnt - 1, 1)
    s = np.sqrt(np.maximum(np.maximum(v, m), 0.25))  # at least Poisson, floor for all-zero
    return m, s


def cusum(
    Y: np.ndarray, mean: np.ndarray, sd: np.ndarray, start: int, k: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided CUSUM of standardised residuals along the last axis from column ``start``.

    Returns:
        ``(s_max, up, down, last_zero_up, last_zero_down)``: the largest statistic per row,
        and the statistics over time (..., T) with the last column at which each was zero
        (for the change-point estimate); NaN periods leave the statistics unchanged.
    """
    shape = Y.shape[:-1]
    T = Y.shape[-1]
    up = np.zeros(shape)
    dn = np.zeros(shape)
    UP = np.zeros(Y.shape)
    DN = np.zeros(Y.shape)
    LZU = np.full(Y.shape, start - 1, dtype=np.int64)
    LZD = np.full(Y.shape, start - 1, dtype=np.int64)
    lzu = np.full(shape, start - 1, dtype=np.int64)
    lzd = np.full(shape, start - 1, dtype=np.int64)
    for t in range(start, T):
        y = Y[..., t]
        ok = ~np.isnan(y)
        z = np.where(ok, (np.where(ok, y, 0.0) - mean) / sd, 0.0)
        up = np.where(ok, np.maximum(0.0, up + z - k), up)
        dn = np.where(ok, np.maximum(0.0, dn - z - k), dn)
        lzu = np.where(up == 0.0, t, lzu)
        lzd = np.where(dn == 0.0, t, lzd)
        UP[..., t], DN[..., t] = up, dn
        LZU[..., t], LZD[..., t] = lzu, lzd
    return np.maximum(UP.max(axis=-1), DN.max(axis=-1)), UP, DN, LZU, LZD


def _simulate(rng: np.random.Generator, m: np.ndarray, s: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """NB (Poisson when var <= mean) noise with mean m and sd s per row (broadcast last)."""
    mm = np.maximum(m, 1e-9)[:, None, None]
    v = (s**2)[:, None, None]
    over = v > mm * (1 + 1e-9)
    r = np.where(over, mm**2 / np.where(over, v - mm, 1.0), 1.0)
    lam = rng.gamma(np.broadcast_to(r, size), np.broadcast_to(np.where(over, mm / r, 0.0), size))
    lam = np.where(np.broadcast_to(over, size), lam, np.broadcast_to(mm, size))
    return rng.poisson(lam).astype(np.float64)


def detect_changes(
    demand: DemandSeries,
    warmup: int = 24,
    k: float = 0.5,
    false_alarm: float = 0.03,
    n_sim: int = 200,
    seed: int = 0,
    chunk: int = 500,
) -> SensingResult:
    """Detect a change of level in every series (see the module docstring).

    Args:
        demand: the series; series not longer than ``warmup`` never alarm.
        warmup: periods that fix the baseline forecast [periods].
        k: CUSUM allowance in baseline standard deviations [-] (detects ~2k shifts best).
        false_alarm: target probability of an alarm over a series' monitored horizon
            when nothing changes [-].
        n_sim: bootstrap noise series per series for the threshold.
        seed: random seed of the calibration; each series draws from its own stream,
            derived from ``seed`` and its key (:func:`platform_core.seeds.stage_seeds`).
        chunk: series per calibration block (memory: chunk x n_sim x T floats).

    Returns:
        The :class:`SensingResult`.
    """
    Y = _left_aligned(demand)
    n, T = Y.shape
    m, s = _baseline(Y, warmup)
    smax, UP, DN, LZU, LZD = cusum(Y, m, s, warmup, k)
    mask = np.isnan(Y)
    h = np.full(n, np.inf)
    # one generator per series, keyed by the series' own key: a series' threshold does not
    # depend on which other series share its batch
    seeds = stage_seeds(seed, demand.keys)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        sim = np.concatenate([
            _simulate(np.random.default_rng(int(seeds[i])), m[i : i + 1], s[i : i + 1], (1, n_sim, T))
            for i in range(a, b)
        ]) if b > a else np.zeros((0, n_sim, T))
        sim[np.broadcast_to(mask[a:b, None, :], sim.shape)] = np.nan
        ms, ss = _baseline(sim, warmup)
        smx = cusum(sim, ms, ss, warmup, k)[0]
        h[a:b] = np.quantile(smx, 1.0 - false_alarm, axis=1)
    h = np.maximum(h, 1e-9)
    cross_up = UP > h[:, None]
    cross_dn = DN > h[:, None]
    cross = cross_up | cross_dn
    alarm = cross.any(axis=1) & (np.diff(np.asarray(demand.indptr)) > warmup)
    first = np.where(alarm, np.argmax(cross, axis=1), -1)
    rows = np.arange(n)
    fi = np.maximum(first, 0)
    is_up = cross_up[rows, fi]
    lz = np.where(is_up, LZU[rows, fi], LZD[rows, fi])
    change = np.where(alarm, lz + 1, -1)
    direction = np.where(alarm, np.where(is_up, 1, -1), 0)
    return SensingResult(alarm, first, change, direction, h, m)


class SensingForecaster(BatchForecaster):
    """Wraps a forecaster: detect a change, refit alarmed series from the change point.

    Args:
        base: name in ``FORECASTERS`` or an unfitted forecaster instance.
        warmup: see :func:`detect_changes` [periods].
        k: CUSUM allowance [-].
        false_alarm: target false-alarm probability per series [-].
        n_sim: bootstrap series for the threshold.
        min_after: at least this many periods are kept when refitting [periods].
        seed: random seed of the calibration.

    Attributes:
        sensing_: the :class:`SensingResult`.
        alarm_: True for series refitted from a change point (flag for planners).
        base_: the fitted base forecaster.
    """

    handles_intermittent: ClassVar[bool] = False

    def __init__(self, base: str | Forecaster = "negbin", warmup: int = 24, k: float = 0.5,
                 false_alarm: float = 0.03, n_sim: int = 200, min_after: int = 4,
                 seed: int = 0) -> None:
        self.base = base
        self.warmup = warmup
        self.k = k
        self.false_alarm = false_alarm
        self.n_sim = n_sim
        self.min_after = min_after
        self.seed = seed

    def fit(self, demand: DemandSeries) -> Self:
        """Detect changes, cut alarmed series at the change point and fit the base."""
        res = detect_changes(demand, self.warmup, self.k, self.false_alarm, self.n_sim, self.seed)
        ptr = np.asarray(demand.indptr, dtype=np.int64)
        lengths = np.diff(ptr)
        cut = np.where(res.alarm, np.minimum(res.change_index, np.maximum(lengths - self.min_after, 0)), 0)
        trimmed = window(demand, ptr[:-1] + cut, lengths - cut)
        if isinstance(self.base, str):
            from echelon_demand.models import FORECASTERS

            base: Forecaster = FORECASTERS[self.base]()
        else:
            base = self.base
        self.base_ = base.fit(trimmed)
        self.sensing_ = res
        self.alarm_ = res.alarm
        self.period_dists_: list[DiscreteDistribution] = self.base_.period_demand()
        return self
