"""CUSUM thresholds whose false-alarm rate is set, calibrated by simulation.

A CUSUM raises an alarm when its statistic crosses a threshold ``h``; how often it does
so on noise depends on the noise's distribution, on how well the baseline it compares
against was estimated, and on how long it watches. Every threshold here is the
``1 - alpha`` quantile of the largest statistic over one year of monitoring, found by
simulating that year on noise drawn from the series' own fitted distribution, with the
baseline re-estimated on a simulated history of the same length (estimation error is part
of the noise). A series without change then alarms with probability ``alpha`` per year.

Simulating every one of a million series separately would cost minutes, so the series
are snapped to a grid of distribution shapes (demand: mean [units/period] and dispersion
index variance/mean; lead times: the CUSUM allowance, the receipts in the baseline and
the receipts per year) and each grid cell is simulated once, with 2,000 years of noise,
from a seed derived from the cell itself: the thresholds depend only on the cell, never
on which other series are in the run. Cells are cached for the life of the process.

Lead times are watched as normal scores (:func:`lead_time_score`): a receipt standardised
by a baseline of ``n`` receipts is Student-t distributed (``n - 1`` degrees of freedom,
scale ``sqrt(1 + 1/n)``) when log lead times are normal, and its score
``Phi^-1(F_t(.))`` is exactly standard normal.  A supplier's detector pools the scores
of many lanes, each standardised by its own baseline; when a lane's receipts come far
apart in the stream (many more lanes than the receipts a CUSUM remembers), the scores it
sees are independent N(0, 1) draws whatever the baselines' errors.  A supplier with more
than :data:`MANY_LANES` lanes gets the threshold of i.i.d. N(0, 1) scores: simulated up to
the top of the receipts-per-year grid, and above it raised by the growth of Siegmund's
closed form (:func:`normal_cusum_threshold`), whose slope ``d h / d log N = 1 / (2 k)``
is exact for high thresholds.  So the false-alarm rate stays set at any volume.  Lanes
and suppliers with fewer lanes get their simulated cell (16 lanes for 17 to 256: their
baselines' errors persist over more receipts, a higher threshold), raised the same way
above the grid (an approximation for them: persistent baseline errors grow the alarm
rate faster than independent scores do).
"""

from __future__ import annotations

import argparse
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

__all__ = [
    "DemandThresholds", "DEMAND_K_LEVEL", "DEMAND_K_VARIABILITY", "DEMAND_K_ZERO", "N_SIM",
    "demand_thresholds", "lead_time_threshold", "demand_cell", "lead_time_cell", "snap_k",
    "demand_baseline", "demand_statistics", "zero_indicator", "lead_time_statistics", "zero_thresholds",
    "lead_time_score", "normal_cusum_threshold",
]

#: Noise years simulated per grid cell [-].
N_SIM = 2000
#: CUSUM allowance of the level detector [baseline sd]: tuned to a shift of 2 sd.
DEMAND_K_LEVEL = 1.0
#: Allowance of the variability detector (CUSUM of ``(z**2 - 1) / sqrt(2)``, upwards) [-].
DEMAND_K_VARIABILITY = 1.0
#: Allowance of the intermittency detector (CUSUM of the standardised zero indicator) [-].
DEMAND_K_ZERO = 0.75
#: Share of the yearly false-alarm budget of each demand detector: level, variability, zeros.
DEMAND_ALPHA_SHARES = (0.8, 0.1, 0.1)
#: Zero-demand rate range in which the intermittency detector runs [-].
ZERO_RATE_RANGE = (0.05, 0.95)

_MEAN_GRID = np.array([0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 35.0, 60.0, 100.0])
_DISPERSION_GRID = np.array([1.0, 1.25, 1.5, 2.0, 3.0, 4.5, 7.0, 10.0, 16.0, 25.0])
_HISTORY_GRID = np.array([8, 13, 26, 39, 52])
_ZERO_GRID = np.array([0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95])
_K_GRID = np.array([0.25, 0.375, 0.5, 0.75, 1.0, 1.25, 1.5])
_RECEIPTS_GRID = np.array([5, 8, 12, 20, 35, 60, 100])
_LANES_GRID = np.array([1, 2, 4, 8, 16])
_YEAR_GRID = np.array([10, 15, 25, 40, 60, 100, 150, 250, 400, 1000, 2500])
#: A supplier with more lanes than this pools independent scores (see the module docstring) [-]:
#: far more than the receipts a CUSUM remembers (``h / k``: up to ~120 receipts, at k = 0.25 and 470,000 a year).
MANY_LANES = 256
#: Siegmund's overshoot correction of a CUSUM of N(0, 1) scores, ``-2 zeta(1/2) / sqrt(2 pi)`` [-].
_SIEGMUND_RHO = 1.166


#: Thresholds of every grid cell for the default rate, weekly periods (``python -m
#: platform_core.incremental.calibration`` writes it; without it cells are simulated on first use).
TABLE_FILE = Path(__file__).with_name("thresholds.npz")
TABLE_ALPHA = 0.025
TABLE_PERIODS_PER_YEAR = 52


def _grids() -> dict[str, np.ndarray]:
    return {"mean_grid": _MEAN_GRID, "dispersion_grid": _DISPERSION_GRID, "history_grid": _HISTORY_GRID,
            "zero_grid": _ZERO_GRID,
            "k_grid": _K_GRID, "receipts_grid": _RECEIPTS_GRID, "lanes_grid": _LANES_GRID, "year_grid": _YEAR_GRID}


@lru_cache(maxsize=1)
def _table() -> dict[str, np.ndarray] | None:
    """The precomputed thresholds, or None when absent or computed on other grids."""
    if not TABLE_FILE.is_file():
        return None
    with np.load(TABLE_FILE) as data:
        table = {k: data[k] for k in data.files}
    if not all(np.array_equal(table.get(k, np.zeros(0)), v) for k, v in _grids().items()):
        return None
    if "lead_time_iid" not in table:  # written before the lead-time scores
        return None
    return table


def build_table(path: Path = TABLE_FILE, alpha: float = TABLE_ALPHA,
                periods_per_year: int = TABLE_PERIODS_PER_YEAR, lead_time_only: bool = False) -> None:
    """Simulate every grid cell and write the table (several CPU-minutes).

    ``lead_time_only``: keep the demand cells of the table in ``path`` (same demand grids,
    rate and periods per year), simulate the lead-time cells.
    """
    t0 = time.perf_counter()
    demand_keys = ("mean_grid", "dispersion_grid", "history_grid", "zero_grid")
    old: dict[str, np.ndarray] = {}
    if lead_time_only:
        with np.load(path) as data:
            old = {k: data[k] for k in data.files}
        same = all(np.array_equal(old[k], _grids()[k]) for k in demand_keys) and float(old["alpha"]) == alpha \
            and int(old["periods_per_year"]) == periods_per_year
        if not same:
            raise SystemExit(f"{path}: demand cells of other grids, rate or periods per year; build the whole table")
        demand, zero = old["demand"], old["zero"]
    else:
        demand = np.zeros((_MEAN_GRID.size, _DISPERSION_GRID.size, _HISTORY_GRID.size, 3))
        for a, m in enumerate(_MEAN_GRID.tolist()):
            for b, d in enumerate(_DISPERSION_GRID.tolist()):
                for c, h in enumerate(_HISTORY_GRID.tolist()):
                    t = _demand_cell(m, d, int(h), periods_per_year, alpha)
                    demand[a, b, c] = (t.level, t.variability, t.zero)
        zero = zero_table(alpha, periods_per_year)
    lead, lead_iid = lead_time_table(alpha)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    arrays: dict[str, Any] = {"demand": demand, "zero": zero, "lead_time": lead, "lead_time_iid": lead_iid,
                              "alpha": np.float64(alpha),
                              "periods_per_year": np.int64(periods_per_year), **_grids()}
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    _table.cache_clear()
    print(f"wrote {path} in {time.perf_counter() - t0:.0f} s")


def lead_time_table(alpha: float = TABLE_ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Lead-time thresholds of every grid cell, and of independent scores per (allowance, year)."""
    lead = np.zeros((_K_GRID.size, _RECEIPTS_GRID.size, _YEAR_GRID.size, _LANES_GRID.size))
    for b, n in enumerate(_RECEIPTS_GRID.tolist()):
        for c, y in enumerate(_YEAR_GRID.tolist()):
            for d, lanes in enumerate(_LANES_GRID.tolist()):
                lead[:, b, c, d] = _lead_time_cells(int(n), int(y), alpha, int(lanes))
    iid = np.stack([_lead_time_iid_cells(int(y), alpha) for y in _YEAR_GRID.tolist()], axis=1)
    return lead, iid


def zero_table(alpha: float = TABLE_ALPHA, periods_per_year: int = TABLE_PERIODS_PER_YEAR) -> np.ndarray:
    """Intermittency thresholds of every (zero rate, history) cell of the grid."""
    return np.array([[_zero_cell(float(p), int(h), periods_per_year, alpha) for h in _HISTORY_GRID.tolist()]
                     for p in _ZERO_GRID.tolist()])


def _nearest_log(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the grid point nearest to each value on a log scale (values clipped to the grid)."""
    v = np.log(np.clip(np.asarray(values, dtype=np.float64), grid[0], grid[-1]))
    g = np.log(grid.astype(np.float64))
    right = np.searchsorted(g, v).clip(1, g.size - 1)
    left = right - 1
    return np.where(np.abs(v - g[left]) <= np.abs(g[right] - v), left, right)


def _below(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the largest grid point not above each value (the first one for smaller values)."""
    return (np.searchsorted(grid, np.asarray(values), side="right") - 1).clip(0, grid.size - 1)


def _cell_rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _nb_noise(rng: np.random.Generator, mean: float, dispersion: float, size: tuple[int, int]) -> np.ndarray:
    """Negative binomial counts of ``mean`` and variance ``dispersion * mean`` (Poisson at 1)."""
    if dispersion <= 1.0 + 1e-9:
        return rng.poisson(mean, size).astype(np.float64)
    r = mean / (dispersion - 1.0)
    return rng.poisson(rng.gamma(r, mean / r, size)).astype(np.float64)


def demand_baseline(history: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean [units/period], sd [units/period] and zero rate [-] of each row's history (NaN skipped).

    The sd is at least Poisson (``sqrt(mean)``) and at least 0.5 (an all-zero history).
    """
    ok = ~np.isnan(history)
    count = np.maximum(ok.sum(axis=-1), 1)
    vals = np.where(ok, history, 0.0)
    mean = vals.sum(axis=-1) / count
    var = np.where(ok, (history - mean[..., None]) ** 2, 0.0).sum(axis=-1) / np.maximum(count - 1, 1)
    sd = np.sqrt(np.maximum(np.maximum(var, mean), 0.25))
    zero = (ok & (vals == 0.0)).sum(axis=-1) / count
    return mean, sd, zero


@dataclass(frozen=True)
class DemandThresholds:
    """Thresholds of the three demand detectors of one grid cell [-]."""

    level: float
    variability: float
    zero: float


def demand_statistics(
    z: np.ndarray, zero_z: np.ndarray, state: tuple[np.ndarray, ...] | None = None
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Run the demand CUSUMs over the last axis of ``z`` (standardised demand) and ``zero_z``.

    Args:
        z: ``(y - mean) / sd`` [-], NaN where the period is missing (statistics unchanged).
        zero_z: the standardised zero indicator ``(1[y == 0] - p0) / sqrt(p0 (1 - p0))``, NaN
            where the detector is off or the period missing.
        state: the statistics carried from earlier periods ``(up, down, variability,
            zero_up, zero_down)``; zeros when None.

    Returns:
        The statistics after the last period, and the largest level, variability and
        zero statistic reached along the way.
    """
    shape = z.shape[:-1]
    up, dn, var, zu, zd = state if state is not None else tuple(np.zeros(shape) for _ in range(5))
    m_level, m_var, m_zero = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    root2 = np.sqrt(2.0)
    for t in range(z.shape[-1]):
        zt = z[..., t]
        ok = ~np.isnan(zt)
        zt = np.where(ok, zt, 0.0)
        up = np.where(ok, np.maximum(0.0, up + zt - DEMAND_K_LEVEL), up)
        dn = np.where(ok, np.maximum(0.0, dn - zt - DEMAND_K_LEVEL), dn)
        var = np.where(ok, np.maximum(0.0, var + (np.minimum(zt, 1e3) ** 2 - 1.0) / root2 - DEMAND_K_VARIABILITY), var)
        xt = zero_z[..., t]
        okz = ~np.isnan(xt)
        xt = np.where(okz, xt, 0.0)
        zu = np.where(okz, np.maximum(0.0, zu + xt - DEMAND_K_ZERO), zu)
        zd = np.where(okz, np.maximum(0.0, zd - xt - DEMAND_K_ZERO), zd)
        m_level = np.maximum(m_level, np.maximum(up, dn))
        m_var = np.maximum(m_var, var)
        m_zero = np.maximum(m_zero, np.maximum(zu, zd))
    return (up, dn, var, zu, zd), (m_level, m_var, m_zero)


def zero_indicator(y: np.ndarray, zero_rate: np.ndarray) -> np.ndarray:
    """Standardised zero indicator of ``y`` (see :func:`demand_statistics`); NaN where off."""
    lo, hi = ZERO_RATE_RANGE
    p = np.asarray(zero_rate, dtype=np.float64)[..., None]
    on = (p >= lo) & (p <= hi)
    sd = np.sqrt(np.clip(p * (1.0 - p), 1e-12, None))
    x = np.where(np.isnan(y), np.nan, (y == 0.0).astype(np.float64))
    return np.where(on, (x - p) / sd, np.nan)


@lru_cache(maxsize=4096)
def _demand_cell(mean: float, dispersion: float, history: int, year: int, alpha: float) -> DemandThresholds:
    rng = _cell_rng("demand", mean, dispersion, history, year, alpha)
    noise = _nb_noise(rng, mean, dispersion, (N_SIM, history + year))
    m, s, p0 = demand_baseline(noise[:, :history])
    watch = noise[:, history:]
    z = (watch - m[:, None]) / s[:, None]
    _, (m_level, m_var, m_zero) = demand_statistics(z, zero_indicator(watch, p0))
    a_level, a_var, a_zero = (alpha * share for share in DEMAND_ALPHA_SHARES)
    return DemandThresholds(float(np.quantile(m_level, 1.0 - a_level)), float(np.quantile(m_var, 1.0 - a_var)),
                            float(np.quantile(m_zero, 1.0 - a_zero)))


def _bracket(values: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the grid points just below and just above each value (equal at the ends)."""
    v = np.clip(np.asarray(values, dtype=np.float64), grid[0], grid[-1])
    hi = np.searchsorted(grid, v, side="left").clip(0, grid.size - 1)
    lo = np.where(grid[hi] > v, hi - 1, hi).clip(0, grid.size - 1)
    return lo, hi


@lru_cache(maxsize=4096)
def _zero_cell(zero_rate: float, history: int, year: int, alpha: float) -> float:
    """Intermittency threshold for a series whose periods are zero with probability ``zero_rate``.

    The zero indicator of a series is Bernoulli whatever the sizes of its non-zero periods
    (which the level and variability detectors watch), so it is calibrated on Bernoulli
    noise, with the zero rate re-estimated on a simulated history.
    """
    rng = _cell_rng("zero", zero_rate, history, year, alpha)
    p_hat = (rng.random((N_SIM, history)) < zero_rate).mean(axis=1)
    watch = np.where(rng.random((N_SIM, year)) < zero_rate, 0.0, 1.0)
    _, (_, _, m_zero) = demand_statistics(np.zeros((N_SIM, year)), zero_indicator(watch, p_hat))
    return float(np.quantile(m_zero, 1.0 - alpha * DEMAND_ALPHA_SHARES[2]))


def zero_thresholds(zero_rate: np.ndarray, history: np.ndarray, periods_per_year: int, alpha: float) -> np.ndarray:
    """Intermittency threshold per series (linear in the zero rate between grid points; inf where off)."""
    p = np.asarray(zero_rate, dtype=np.float64)
    lo, hi = _bracket(p, _ZERO_GRID)
    h = _below(history, _HISTORY_GRID)
    table = _table()
    if table is not None and float(table["alpha"]) == float(alpha) and int(table["periods_per_year"]) == periods_per_year:
        grid_values = table["zero"]
    else:
        grid_values = np.full((_ZERO_GRID.size, _HISTORY_GRID.size), np.nan)
        for a, c in {(int(a), int(c)) for a, c in zip(np.r_[lo, hi].tolist(), np.r_[h, h].tolist(), strict=True)}:
            grid_values[a, c] = _zero_cell(float(_ZERO_GRID[a]), int(_HISTORY_GRID[c]), periods_per_year, alpha)
    pc_ = np.clip(p, _ZERO_GRID[0], _ZERO_GRID[-1])
    w = np.where(hi > lo, (pc_ - _ZERO_GRID[lo]) / np.where(hi > lo, _ZERO_GRID[hi] - _ZERO_GRID[lo], 1.0), 0.0)
    out: np.ndarray = (1 - w) * grid_values[lo, h] + w * grid_values[hi, h]
    lo_rate, hi_rate = ZERO_RATE_RANGE
    return np.where((p >= lo_rate) & (p <= hi_rate), out, np.inf)


def demand_cell(mean: np.ndarray, sd: np.ndarray, history: np.ndarray) -> np.ndarray:
    """Per series, the grid cells around its shape: ``(4, series, 3)`` indices of mean, dispersion, history.

    The four corners of mean and dispersion that bracket the series (history rounded down:
    a shorter history, a higher threshold); the series' threshold is interpolated between
    them, bilinearly in log mean and log dispersion.
    """
    dispersion = np.asarray(sd, dtype=np.float64) ** 2 / np.maximum(np.asarray(mean, dtype=np.float64), 1e-9)
    m_lo, m_hi = _bracket(np.maximum(mean, 1e-9), _MEAN_GRID)
    d_lo, d_hi = _bracket(dispersion, _DISPERSION_GRID)
    h = _below(history, _HISTORY_GRID)
    return np.stack([np.stack([m, d, h], axis=-1) for m in (m_lo, m_hi) for d in (d_lo, d_hi)])


def demand_thresholds(
    mean: np.ndarray, sd: np.ndarray, history: np.ndarray, periods_per_year: int, alpha: float,
    zero_rate: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds (level, variability, zero) per series for a false-alarm rate ``alpha`` per year.

    Level and variability are interpolated between the grid cells bracketing the series
    (:func:`demand_cell`); the intermittency threshold comes from the series' zero rate
    (:func:`zero_thresholds`; with ``zero_rate`` None, from the negative binomial cells).

    Args:
        mean: baseline mean demand [units/period].
        sd: baseline sd [units/period].
        history: periods the baseline was estimated from [periods].
        periods_per_year: periods in a year of monitoring [periods].
        alpha: probability that a series without change alarms within a year [-].
        zero_rate: share of zero periods in the baseline [-] (None: see above).
    """
    corners = demand_cell(mean, sd, history)
    n = corners.shape[1]
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    cells = corners.reshape(-1, 3)
    table = _table()
    if table is not None and float(table["alpha"]) == float(alpha) and int(table["periods_per_year"]) == periods_per_year:
        found = table["demand"][cells[:, 0], cells[:, 1], cells[:, 2]]
    else:
        unique, inverse = np.unique(cells, axis=0, return_inverse=True)
        values = np.array([
            (t.level, t.variability, t.zero)
            for t in (_demand_cell(float(_MEAN_GRID[a]), float(_DISPERSION_GRID[b]), int(_HISTORY_GRID[c]),
                                   int(periods_per_year), float(alpha)) for a, b, c in unique.tolist())
        ])
        found = values[np.asarray(inverse).reshape(-1)]
    corner = found.reshape(4, n, 3)
    wm, wd = _weights(mean, sd)
    out = ((1 - wm) * (1 - wd))[:, None] * corner[0] + ((1 - wm) * wd)[:, None] * corner[1] + \
        (wm * (1 - wd))[:, None] * corner[2] + (wm * wd)[:, None] * corner[3]
    zero = out[:, 2] if zero_rate is None else zero_thresholds(zero_rate, history, periods_per_year, alpha)
    return out[:, 0], out[:, 1], zero


def _weights(mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear weights of the upper corners in log mean and log dispersion."""
    out = []
    dispersion = np.asarray(sd, dtype=np.float64) ** 2 / np.maximum(np.asarray(mean, dtype=np.float64), 1e-9)
    for values, grid in ((np.maximum(mean, 1e-9), _MEAN_GRID), (dispersion, _DISPERSION_GRID)):
        lo, hi = _bracket(values, grid)
        v = np.log(np.clip(values, grid[0], grid[-1]))
        gl, gh = np.log(grid[lo]), np.log(grid[hi])
        out.append(np.where(hi > lo, (v - gl) / np.where(hi > lo, gh - gl, 1.0), 0.0))
    return out[0], out[1]


def lead_time_statistics(
    z: np.ndarray, k: np.ndarray, up: np.ndarray | None = None, down: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided CUSUM of standardised lead times along the last axis (NaN: no receipt).

    Returns the statistics after the last receipt and the largest value reached.
    """
    shape = z.shape[:-1]
    up = np.zeros(shape) if up is None else up
    dn = np.zeros(shape) if down is None else down
    top = np.zeros(shape)
    for t in range(z.shape[-1]):
        zt = z[..., t]
        ok = ~np.isnan(zt)
        zt = np.where(ok, zt, 0.0)
        up = np.where(ok, np.maximum(0.0, up + zt - k), up)
        dn = np.where(ok, np.maximum(0.0, dn - zt - k), dn)
        top = np.maximum(top, np.maximum(up, dn))
    return up, dn, top


@lru_cache(maxsize=4096)
def _lead_time_cells(receipts: int, year: int, alpha: float, lanes: int) -> np.ndarray:
    """Thresholds, one per allowance of the grid, of a stream of ``year`` receipts.

    The receipts are spread round-robin over ``lanes`` lanes, each standardised by its own
    baseline estimated from ``receipts`` draws and scored (:func:`lead_time_score`); every
    allowance sees the same noise.
    """
    rng = _cell_rng("lead_time", receipts, year, alpha, lanes)
    base = rng.standard_normal((N_SIM, lanes, receipts))
    m = base.mean(axis=2)
    s = np.maximum(base.std(axis=2, ddof=1), 1e-9)
    lane = np.arange(year) % lanes
    z = lead_time_score((rng.standard_normal((N_SIM, year)) - m[:, lane]) / s[:, lane], receipts)
    zs = np.broadcast_to(z, (_K_GRID.size, N_SIM, year))
    _, _, top = lead_time_statistics(zs, np.repeat(_K_GRID[:, None], N_SIM, axis=1))
    out: np.ndarray = np.quantile(top, 1.0 - alpha, axis=1)
    return out


def _lead_time_cell(k_index: int, receipts: int, year: int, alpha: float, lanes: int) -> float:
    return float(_lead_time_cells(receipts, year, alpha, lanes)[k_index])


def lead_time_cell(k: np.ndarray, receipts: np.ndarray, per_year: np.ndarray, lanes: np.ndarray) -> np.ndarray:
    """Per series its grid cell ``(k, baseline receipts per lane, receipts per year, lanes)`` as indices."""
    above = np.searchsorted(_YEAR_GRID, np.asarray(per_year, dtype=np.float64), side="left").clip(0, _YEAR_GRID.size - 1)
    return np.stack([_nearest_log(k, _K_GRID), _below(receipts, _RECEIPTS_GRID), above,
                     _below(lanes, _LANES_GRID)], axis=-1)


def snap_k(k: np.ndarray) -> np.ndarray:
    """The allowance of the grid a lead-time series is calibrated for (the one its CUSUM uses) [-]."""
    out: np.ndarray = _K_GRID[_nearest_log(k, _K_GRID)]
    return out


def lead_time_threshold(k: np.ndarray, receipts: np.ndarray, per_year: np.ndarray, alpha: float,
                        lanes: np.ndarray | None = None) -> np.ndarray:
    """CUSUM threshold per series of standardised log lead times, ``alpha`` false alarms per year.

    The noise is normal on the log scale; a series' receipts come from ``lanes`` lanes
    (1 for a lane, the supplier's lanes for a supplier), each standardised by its own
    baseline estimated from ``receipts`` draws (per lane, rounded down to the grid) and
    scored (:func:`lead_time_score`); a year holds ``per_year`` receipts (rounded up to
    the grid).  Both roundings are conservative.  More than :data:`MANY_LANES` lanes:
    independent scores; more receipts a year than the grid: see the module docstring.
    """
    lanes = np.ones(np.shape(k)) if lanes is None else np.asarray(lanes, dtype=np.float64)
    cells = lead_time_cell(k, receipts, per_year, lanes)
    if not cells.size:
        return np.zeros(0)
    table = _table()
    if table is not None and float(table["alpha"]) == float(alpha):
        found: np.ndarray = table["lead_time"][cells[:, 0], cells[:, 1], cells[:, 2], cells[:, 3]]
    else:
        unique, inverse = np.unique(cells, axis=0, return_inverse=True)
        values = np.array([_lead_time_cell(a, int(_RECEIPTS_GRID[b]), int(_YEAR_GRID[c]), float(alpha),
                                           int(_LANES_GRID[d]))
                           for a, b, c, d in unique.tolist()])
        found = values[np.asarray(inverse).reshape(-1)]
    # many lanes: independent scores; above the grid: the closed form's growth (module docstring)
    if table is not None and float(table["alpha"]) == float(alpha):
        iid: np.ndarray = table["lead_time_iid"][cells[:, 0], cells[:, 2]]
    else:
        years = np.unique(cells[:, 2])
        by_year = np.stack([_lead_time_iid_cells(int(_YEAR_GRID[c]), float(alpha)) for c in years.tolist()])
        iid = by_year[np.searchsorted(years, cells[:, 2]), cells[:, 0]]
    out: np.ndarray = np.where(lanes.reshape(-1) > MANY_LANES, iid, found)
    year = np.asarray(per_year, dtype=np.float64).reshape(-1)
    top = float(_YEAR_GRID[-1])
    beyond = np.flatnonzero(year > top)
    if beyond.size:
        k_grid = _K_GRID[cells[beyond, 0]]
        out[beyond] += normal_cusum_threshold(k_grid, year[beyond], alpha) - normal_cusum_threshold(
            k_grid, np.full(beyond.size, top), alpha)
    return out


@lru_cache(maxsize=64)
def _lead_time_iid_cells(year: int, alpha: float) -> np.ndarray:
    """Thresholds, one per allowance of the grid, of ``year`` independent N(0, 1) scores."""
    rng = _cell_rng("lead_time_iid", year, alpha)
    z = rng.standard_normal((N_SIM, year))
    _, _, top = lead_time_statistics(np.broadcast_to(z, (_K_GRID.size, N_SIM, year)),
                                     np.repeat(_K_GRID[:, None], N_SIM, axis=1))
    out: np.ndarray = np.quantile(top, 1.0 - alpha, axis=1)
    return out


def lead_time_score(z: np.ndarray, receipts: np.ndarray | float) -> np.ndarray:
    """Normal score of standardised log lead times ``z = (x - mean) / sd`` [-] (NaN kept).

    With the baseline ``mean`` and ``sd`` estimated from ``receipts`` normal draws,
    ``z / sqrt(1 + 1/receipts)`` is Student-t with ``receipts - 1`` degrees of freedom;
    the score ``Phi^-1(F_t(.))`` is then exactly N(0, 1), and a shift of ``d`` baseline
    sd about ``d`` in scores (heavier t tails are what it takes out).
    """
    n = np.maximum(np.asarray(receipts, dtype=np.float64), 2.0)
    t = np.asarray(z, dtype=np.float64) / np.sqrt(1.0 + 1.0 / n)
    tail = special.stdtr(n - 1.0, -np.abs(t))  # P(T <= -|t|): accurate far into the tails
    out: np.ndarray = np.clip(-np.sign(t) * special.ndtri(tail), -40.0, 40.0)
    return out


def normal_cusum_threshold(k: np.ndarray, per_year: np.ndarray, alpha: float) -> np.ndarray:
    """Siegmund's threshold of a two-sided CUSUM of i.i.d. N(0, 1) scores [-].

    The threshold alarms with probability ``alpha`` within ``per_year`` scores, allowance
    ``k``.  The run length without change is geometric in the limit of a high threshold,
    so ``P(alarm within N) = 1 - exp(-N / ARL)``; a side's ARL is Siegmund's
    ``(exp(2 k b) - 2 k b - 1) / (2 k^2)`` with ``b = h + 1.166``, and the two sides
    alarm independently in that limit (``ARL = ARL_side / 2``).  Its level is a few
    hundredths off a simulation for large ``k`` (the overshoot correction is a small-``k``
    one); its growth with ``N``, ``1 / (2 k)`` per factor ``e``, is exact in the limit,
    which is what :func:`lead_time_threshold` takes from it.
    """
    k = np.asarray(k, dtype=np.float64)
    arl_side = 2.0 * np.asarray(per_year, dtype=np.float64) / -np.log1p(-float(alpha))
    target = 2.0 * k**2 * arl_side + 1.0  # exp(2 k b) - 2 k b = target
    b = np.log(target) / (2.0 * k)
    for _ in range(30):  # a contraction: exp grows faster than 2 k b
        b = np.log(target + 2.0 * k * b) / (2.0 * k)
    out: np.ndarray = b - _SIEGMUND_RHO
    return out


if __name__ == "__main__":  # pragma: no cover - writes the shipped table
    parser = argparse.ArgumentParser(description="write platform_core/incremental/thresholds.npz")
    parser.add_argument("--lead-time-only", action="store_true",
                        help="keep the table's demand cells, simulate the lead-time cells (minutes, not tens)")
    build_table(lead_time_only=parser.parse_args().lead_time_only)
