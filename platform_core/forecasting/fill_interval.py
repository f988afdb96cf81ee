"""An interval of the fill rate the next periods will realise at a recommended level.

A recommendation's ``expected_fill_rate`` is a long-run average.  What a planner sees is
the fill of the next ``horizon`` periods, which scatters around it for two reasons:

* **finite-window demand noise**: 26 weeks hold only a few stockout chances, so the
  realised fill of a good plan is often 1.0 and sometimes far below the promise;
* **forecast uncertainty**: the demand level of the coming periods differs from the
  forecast.  A forecaster that knows how much (``calibrated``, from its rolling-origin
  backtests) gives equally likely level ratios per series
  (:meth:`platform_core.components.Forecaster.demand_level_ratios`); other forecasters
  give none, and the interval then holds demand noise only.

Method: per stage, ``windows`` windows of ``horizon`` periods are simulated (one random
stream per stage from its seed, so a row never depends on its batch; a batch's stages in
one compiled pass, :mod:`._fill_kernels`, with the numbers of the per-stage NumPy
functions below, which also serve stages it does not take): window
``j`` draws every period's demand from the stage's per-period PMF scaled by level ratio
``j mod k`` (``floor(theta x + u)``), under the periodic-review base-stock policy at the
stage's level ``S`` with its mean lead time ``L`` (rounded) and review period ``R``: the
net inventory at the end of period ``t`` is ``S`` minus the demand since the last review
whose order has arrived, and the period's short units are ``min(D_t, max(0, -NI_t))``.
The window's fill is ``1 - short / demand``.  The simulated windows ignore what the
solver's own evaluation adds (upstream delays of a multi-echelon network, lead-time
variability, the solver's policy details); those move the long-run fill, which the
solver measured.  So the windows are read at the *effective level*: the level (real,
found by bisection on the same paths) at which their pooled fill equals the solver's
``expected_fill_rate``; the interval is the central quantiles of the windows' fills
there: its centre is the solver's promise, its spread the windows'.
"""

from __future__ import annotations

import numpy as np

from platform_core.distributions import DiscreteDistribution, pack_distributions
from platform_core.forecasting._fill_kernels import window_fills

__all__ = ["window_fill_rates", "fill_rate_interval", "DEFAULT_HORIZON_PERIODS", "DEFAULT_WINDOWS"]

#: Periods of the interval's window when the forecaster does not say [periods].
DEFAULT_HORIZON_PERIODS = 26
#: Simulated windows per stage [-].
DEFAULT_WINDOWS = 64


def _window_paths(
    period_demand: DiscreteDistribution,
    lead_periods: int,
    review_periods: int,
    horizon_periods: int,
    level_ratios: np.ndarray | None,
    seed: int,
    windows: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per window and measured period: demand, and demand since the last arrived review [units]."""
    L = max(int(lead_periods), 0)
    R = max(int(review_periods), 1)
    H = max(int(horizon_periods), 1)
    T = L + R + H
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, 0x15CA1]))
    cdf = period_demand.inverse_cdf_table()
    x = np.searchsorted(cdf, rng.random((windows, T)), side="right") + period_demand.offset
    x = x.astype(np.float64)
    if level_ratios is not None and np.size(level_ratios):
        r = np.asarray(level_ratios, dtype=np.float64)
        theta = r[np.arange(windows) % r.size]
        x = np.floor(theta[:, None] * x + rng.random((windows, T)))
    c = np.concatenate([np.zeros((windows, 1)), np.cumsum(x, axis=1)], axis=1)
    t = np.arange(L + R, T)
    tau = ((t - L) // R) * R  # last review epoch whose order has arrived by period t
    return x[:, t], c[:, t + 1] - c[:, tau]


def _fills(demand: np.ndarray, since: np.ndarray, level: float) -> tuple[np.ndarray, float]:
    short = np.minimum(demand, np.maximum(since - float(level), 0.0))
    dem = demand.sum(axis=1)
    sh = short.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(dem > 0, 1.0 - sh / np.where(dem > 0, dem, 1.0), np.nan)
    total = float(dem.sum())
    return fill, (1.0 - float(sh.sum()) / total) if total > 0 else float("nan")


def window_fill_rates(
    period_demand: DiscreteDistribution,
    level: float,
    lead_periods: int,
    review_periods: int,
    horizon_periods: int,
    level_ratios: np.ndarray | None,
    seed: int,
    windows: int = DEFAULT_WINDOWS,
) -> tuple[np.ndarray, float]:
    """Realised fill [-] of ``windows`` simulated windows, and their pooled fill [-].

    Windows without demand have fill NaN; the pooled fill is ``1 - sum(short) / sum(demand)``
    over all windows (NaN when there is no demand at all).
    """
    demand, since = _window_paths(period_demand, lead_periods, review_periods, horizon_periods, level_ratios,
                                  seed, windows)
    return _fills(demand, since, level)


class _Hinge:
    """``sum_i (v_i - S)^+`` for any ``S`` from the sorted values and their suffix sums."""

    def __init__(self, values: np.ndarray) -> None:
        self.v = np.sort(values.ravel())
        self.suffix = np.concatenate((np.cumsum(self.v[::-1])[::-1], [0.0]))

    def __call__(self, levels: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.v, levels, side="right")
        return np.asarray(self.suffix[k] - levels * (self.v.size - k), dtype=np.float64)


def _effective_level(demand: np.ndarray, since: np.ndarray, level: float, promise: float) -> float:
    """The level whose pooled window fill equals ``promise``.

    A period's short units are ``min(x, (a - S)^+) = (a - S)^+ - (a - x - S)^+`` (``a`` the
    demand since the last arrived review, ``x`` the period's, ``a >= x``), so the pooled
    shortage is a difference of two hinge sums: continuous and non-increasing in ``S``.
    Bracketed between 0 and the largest ``a``, then narrowed by six 16-section steps.
    """
    over, before = _Hinge(since), _Hinge(since - demand)
    total = float(demand.sum())
    lo, hi = min(0.0, float(level)), max(float(since.max()) + 1.0, float(level))
    for _ in range(6):
        grid = np.linspace(lo, hi, 17)
        fill = 1.0 - (over(grid) - before(grid)) / total
        k = int(np.searchsorted(fill, promise - 1e-12, side="left"))  # first grid level reaching it
        k = min(max(k, 1), 16)
        lo, hi = float(grid[k - 1]), float(grid[k])
    return hi


def fill_rate_interval(
    period_demand: list[DiscreteDistribution],
    levels: np.ndarray,
    expected_fill_rate: np.ndarray,
    lead_periods: np.ndarray,
    review_periods: np.ndarray,
    seeds: np.ndarray,
    level_ratios: np.ndarray | None = None,
    horizon_periods: int = DEFAULT_HORIZON_PERIODS,
    coverage: float = 0.8,
    windows: int = DEFAULT_WINDOWS,
) -> tuple[np.ndarray, np.ndarray]:
    """Central ``coverage`` interval of the fill of the next ``horizon_periods``, per stage.

    Args:
        period_demand: per-period demand distribution per stage [units/period].
        levels: base-stock (order-up-to) level per stage [units]; NaN gives NaN.
        expected_fill_rate: the solver's promise per stage [-] (the interval's centre).
        lead_periods: mean lead time per stage [periods].
        review_periods: review period per stage [periods].
        seeds: per-stage seed (the stage's run seed).
        level_ratios: (stages, k) equally likely demand-level ratios, or None.
        horizon_periods: periods per window [periods].
        coverage: central probability of the interval [-].
        windows: simulated windows per stage [-].

    Returns:
        ``(low, high)`` per stage [-].
    """
    n = len(period_demand)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    q = np.array([(1.0 - coverage) / 2.0, (1.0 + coverage) / 2.0])
    lv = np.asarray(levels, dtype=np.float64)
    promise = np.asarray(expected_fill_rate, dtype=np.float64)
    lead = np.maximum(np.rint(np.nan_to_num(np.asarray(lead_periods, dtype=np.float64))).astype(np.int64), 0)
    rev = np.maximum(np.asarray(review_periods, dtype=np.int64), 1)
    horizon = max(int(horizon_periods), 1)
    valid = np.flatnonzero(np.isfinite(lv) & np.isfinite(promise))
    whole: np.ndarray
    if level_ratios is None:
        whole = np.ones(valid.size, dtype=bool)
    elif isinstance(level_ratios, np.ndarray) and level_ratios.ndim == 2:
        at_valid = level_ratios[valid]
        whole = np.asarray(((at_valid >= 0) & (at_valid <= _MAX_RATIO)).all(axis=1), dtype=bool)
    else:
        whole = np.array([not np.size(level_ratios[i]) or bool(np.all((np.asarray(level_ratios[i]) >= 0)
                                                                       & (np.asarray(level_ratios[i]) <= _MAX_RATIO)))
                          for i in valid.tolist()], dtype=bool)
    for i in valid[~whole].tolist():
        ratios = None if level_ratios is None else level_ratios[i]
        demand, since = _window_paths(period_demand[i], int(lead[i]), int(rev[i]), horizon, ratios,
                                      int(seeds[i]), windows)
        fill, pooled = _fills(demand, since, lv[i])
        if not np.any(np.isfinite(fill)) or not np.isfinite(pooled):
            low[i] = high[i] = promise[i]
            continue
        fill, _ = _fills(demand, since, _effective_level(demand, since, lv[i], float(np.clip(promise[i], 0, 1))))
        lo, hi = np.quantile(fill[np.isfinite(fill)], q)
        low[i] = float(np.clip(min(lo, promise[i]), 0.0, 1.0))
        high[i] = float(np.clip(max(hi, promise[i]), 0.0, 1.0))
    if whole.any():
        _compiled_intervals(valid[whole], period_demand, lv, promise, lead, rev, seeds,
                            level_ratios, horizon, windows, q, low, high)
    return low, high


#: level ratios above this, or negative, leave a stage to the NumPy path (demand must stay whole units)
_MAX_RATIO = 1e6


def _compiled_intervals(
    rows: np.ndarray, period_demand: list[DiscreteDistribution], lv: np.ndarray, promise: np.ndarray,
    lead: np.ndarray, rev: np.ndarray, seeds: np.ndarray, level_ratios: np.ndarray | None, horizon: int,
    windows: int, q: np.ndarray, low: np.ndarray, high: np.ndarray,
) -> None:
    """:func:`fill_rate_interval` for the stages ``rows``, into ``low`` / ``high``.

    Each stage's uniform draws come from its own stream exactly as :func:`_window_paths`
    draws them; the paths, the effective level and the window fills are computed in
    :func:`window_fills`, the quantiles by ``np.quantile`` over all rows at once.
    """
    m = rows.size
    cdf, cdf_ptr, offsets = pack_distributions([period_demand[i] for i in rows.tolist()])
    periods = lead[rows] + rev[rows] + horizon
    scaled = np.zeros(m, dtype=bool)
    theta = np.ones((m, windows))
    if isinstance(level_ratios, np.ndarray) and level_ratios.ndim == 2:
        if level_ratios.shape[1]:  # window j at ratio j mod k
            theta = np.asarray(level_ratios[rows][:, np.arange(windows) % level_ratios.shape[1]], dtype=np.float64)
            scaled[:] = True
    elif level_ratios is not None:
        for j, i in enumerate(rows.tolist()):
            if np.size(level_ratios[i]):
                r = np.asarray(level_ratios[i], dtype=np.float64)
                theta[j] = r[np.arange(windows) % r.size]
                scaled[j] = True
    sizes = windows * periods * np.where(scaled, 2, 1)
    draw_ptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(sizes, out=draw_ptr[1:])
    draws = np.empty(int(draw_ptr[-1]))
    for j, i in enumerate(rows.tolist()):
        rng = np.random.default_rng(np.random.SeedSequence([int(seeds[i]) & 0xFFFFFFFFFFFFFFFF, 0x15CA1]))
        t = int(periods[j])
        for part in range(2 if scaled[j] else 1):
            at = int(draw_ptr[j]) + part * windows * t
            rng.random(out=draws[at : at + windows * t].reshape(windows, t))
    fills = np.full((m, windows), np.nan)
    has_demand = window_fills(cdf, cdf_ptr, offsets, draws, draw_ptr, theta, scaled, lead[rows], rev[rows],
                              horizon, windows, lv[rows], np.clip(promise[rows], 0, 1), fills)
    none = rows[~has_demand]
    low[none] = high[none] = promise[none]
    finite = np.isfinite(fills)
    full = has_demand & finite.all(axis=1)
    bounds = np.full((m, 2), np.nan)
    if full.any():
        bounds[full] = np.quantile(fills[full], q, axis=1).T
    for j in np.flatnonzero(has_demand & ~full).tolist():
        bounds[j] = np.quantile(fills[j][finite[j]], q)
    got = rows[has_demand]
    p = promise[got]
    low[got] = np.clip(np.minimum(bounds[has_demand, 0], p), 0.0, 1.0)
    high[got] = np.clip(np.maximum(bounds[has_demand, 1], p), 0.0, 1.0)
