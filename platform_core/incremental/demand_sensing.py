"""Demand regime shifts per SKU-location: level, variability and intermittency.

Each series' baseline is fitted on its history (the last :data:`HISTORY_PERIODS`
periods): mean ``m``, standard deviation ``s`` (at least Poisson) and zero rate ``p0``.
Each new period ``y`` gives ``z = (y - m) / s`` and three CUSUMs run on it:

* level: two-sided, ``S+ = max(0, S+ + z - 1)``, ``S- = max(0, S- - z - 1)`` (tuned to a
  shift of two baseline sd);
* variability: upwards on ``(z**2 - 1) / sqrt(2)`` (a wider spread);
* intermittency: two-sided on the standardised zero indicator
  ``(1[y = 0] - p0) / sqrt(p0 (1 - p0))``, for series with ``0.05 <= p0 <= 0.95``.

Thresholds come from :mod:`platform_core.incremental.calibration`: per series, simulated
on its own fitted negative binomial, so that a series without change raises any of the
three alarms with the set probability per year (``false_alarm_per_year``).  The state
(baseline, thresholds, statistics) is kept between runs, so a later run reads only its
new periods.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from platform_core.incremental.calibration import (
    demand_baseline,
    demand_statistics,
    demand_thresholds,
    zero_indicator,
)

__all__ = ["DemandState", "fit_demand_state", "update_demand_state", "fill_demand_thresholds", "HISTORY_PERIODS", "MIN_HISTORY_PERIODS",
           "DEFAULT_FALSE_ALARM_PER_YEAR"]

#: Periods of history a baseline is fitted on (the latest ones) [periods].
HISTORY_PERIODS = 52
#: A series with fewer observed periods gets no detector [periods].
MIN_HISTORY_PERIODS = 8
#: Probability that a series without change alarms within a year [-].
DEFAULT_FALSE_ALARM_PER_YEAR = 0.025

LEVEL_UP, LEVEL_DOWN, VARIABILITY, INTERMITTENCY = (
    "demand_level_up", "demand_level_down", "demand_variability", "demand_intermittency")


@dataclass
class DemandState:
    """Per series (one per stage, in the caller's order) the detector's baseline and statistics.

    Attributes:
        mean, sd: baseline [units/period]; zero_rate: share of zero periods [-].
        history_periods: observed periods the baseline was fitted on [periods].
        h_level, h_variability, h_zero: calibrated thresholds [-] (inf: detector off).
        up, down, variability, zero_up, zero_down: CUSUM statistics so far [-].
    """

    mean: np.ndarray
    sd: np.ndarray
    zero_rate: np.ndarray
    history_periods: np.ndarray
    h_level: np.ndarray
    h_variability: np.ndarray
    h_zero: np.ndarray
    up: np.ndarray
    down: np.ndarray
    variability: np.ndarray
    zero_up: np.ndarray
    zero_down: np.ndarray

    def columns(self) -> dict[str, np.ndarray]:
        """The state as named columns (``demand_`` prefix), for a table."""
        return {f"demand_{f.name}": getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_columns(cls, cols: dict[str, np.ndarray]) -> DemandState:
        """Inverse of :meth:`columns`."""
        return cls(**{f.name: np.asarray(cols[f"demand_{f.name}"], dtype=np.float64) for f in fields(cls)})

    def take(self, rows: np.ndarray) -> DemandState:
        """The state of the series ``rows``."""
        return DemandState(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def put(self, rows: np.ndarray, other: DemandState) -> None:
        """Replace the series ``rows`` by ``other``'s (in place)."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(other, f.name)


def fit_demand_state(history: np.ndarray, periods_per_year: int,
                     false_alarm_per_year: float = DEFAULT_FALSE_ALARM_PER_YEAR, thresholds: bool = True) -> DemandState:
    """Baselines and thresholds of every row of ``history`` [series, periods] (NaN: missing).

    The statistics start at zero: monitoring starts after the last period of ``history``.
    With ``thresholds=False`` they are left NaN, for :func:`fill_demand_thresholds` to set
    when they are first needed (a full run does not need them).
    """
    recent = history[:, -HISTORY_PERIODS:] if history.ndim == 2 else history
    mean, sd, zero = demand_baseline(recent)
    observed = (~np.isnan(recent)).sum(axis=1).astype(np.float64)
    if thresholds:
        h_level, h_var, h_zero = demand_thresholds(mean, sd, observed, int(periods_per_year), false_alarm_per_year,
                                                   zero)
    else:
        h_level = h_var = h_zero = np.full(mean.size, np.nan)
    off = observed < MIN_HISTORY_PERIODS
    inf = np.inf
    n = mean.size
    return DemandState(
        mean=mean, sd=sd, zero_rate=zero, history_periods=observed,
        h_level=np.where(off, inf, h_level), h_variability=np.where(off, inf, h_var),
        h_zero=np.where(off, inf, h_zero),
        up=np.zeros(n), down=np.zeros(n), variability=np.zeros(n), zero_up=np.zeros(n), zero_down=np.zeros(n),
    )


def fill_demand_thresholds(state: DemandState, periods_per_year: int, false_alarm_per_year: float) -> None:
    """Set the thresholds left NaN by ``fit_demand_state(..., thresholds=False)`` (in place)."""
    rows = np.flatnonzero(np.isnan(state.h_level))
    if rows.size:
        h = demand_thresholds(state.mean[rows], state.sd[rows], state.history_periods[rows], int(periods_per_year),
                              false_alarm_per_year, state.zero_rate[rows])
        state.h_level[rows], state.h_variability[rows], state.h_zero[rows] = h


def update_demand_state(state: DemandState, new: np.ndarray) -> np.ndarray:
    """Run the detectors over the new periods ``new`` [series, periods] (in place).

    Returns:
        Per series, the reason of its first alarm (``demand_level_up``, ``..._down``,
        ``demand_variability``, ``demand_intermittency``) or "" without one.  The
        statistics of an alarmed series are left as they are (its baseline is refitted
        when its network is re-planned).
    """
    n = state.mean.size
    reason = np.full(n, "", dtype=object)
    if new.shape[1] == 0 or n == 0:
        return reason.astype(str)
    z = (new - state.mean[:, None]) / state.sd[:, None]
    zero_z = zero_indicator(new, state.zero_rate)
    stats: tuple[np.ndarray, ...] = (state.up, state.down, state.variability, state.zero_up, state.zero_down)
    for t in range(new.shape[1]):
        stats, _ = demand_statistics(z[:, t : t + 1], zero_z[:, t : t + 1], stats)
        up, dn, var, zu, zd = stats
        free = reason == ""
        for mask, label in ((up > state.h_level, LEVEL_UP), (dn > state.h_level, LEVEL_DOWN),
                            (var > state.h_variability, VARIABILITY),
                            ((zu > state.h_zero) | (zd > state.h_zero), INTERMITTENCY)):
            hit = free & mask
            reason[hit] = label
            free &= ~hit
    state.up, state.down, state.variability, state.zero_up, state.zero_down = stats
    return reason.astype(str)
