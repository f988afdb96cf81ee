"""Empirical (bootstrap) demand forecaster.

Per series, the per-period demand distribution is the empirical distribution of the
most recent ``window`` uncensored periods; lead-time demand is a circular block
bootstrap: draw a lead time ``L``, pick a random start in the window and sum ``L +
review`` consecutive periods, so serial dependence within a lead time is kept.
Periods flagged ``stocked_out`` are left out (their sales understate demand).
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from platform_core.components import DemandSeries, Forecaster
from platform_core.distributions import DiscreteDistribution

__all__ = ["BootstrapForecaster"]


class BootstrapForecaster(Forecaster):
    """Empirical per-period distribution and block-bootstrap lead-time demand.

    Args:
        window: most recent periods used [periods].
        samples: bootstrap samples of lead-time demand per series.
        min_observations: fewer usable periods than this -> the series falls back to
            all its uncensored history, then to zero demand.
    """

    handles_intermittent: ClassVar[bool] = True
    handles_censoring: ClassVar[bool] = False

    def __init__(self, window: int = 52, samples: int = 2000, min_observations: int = 8) -> None:
        self.window = window
        self.samples = samples
        self.min_observations = min_observations

    def fit(self, demand: DemandSeries) -> Self:
        """Keep the usable recent history of every series."""
        self.history_: list[np.ndarray] = []
        self.fallback_: list[str] = []
        for i in range(len(demand)):
            values, stocked_out = demand.series(i)
            usable = np.isfinite(values) & ~stocked_out
            recent = values[-self.window :][usable[-self.window :]]
            note = ""
            if recent.size < self.min_observations:
                recent = values[usable]
                note = "short history: used all uncensored periods"
            if recent.size == 0:
                recent = np.zeros(1)
                note = "no usable history: zero demand assumed"
            self.history_.append(np.rint(np.maximum(recent, 0.0)).astype(np.int64))
            self.fallback_.append(note)
        return self

    def period_demand(self) -> list[DiscreteDistribution]:
        """Empirical per-period distribution of each series."""
        return [DiscreteDistribution.from_samples(h) for h in self.history_]

    def lead_time_demand(
        self,
        lead_times: list[DiscreteDistribution],
        review_periods: np.ndarray,
        seeds: np.ndarray,
    ) -> list[DiscreteDistribution]:
        """Circular block bootstrap of demand over ``L + review`` periods."""
        out = []
        for h, lt, r, seed in zip(self.history_, lead_times, review_periods, seeds, strict=True):
            rng = np.random.default_rng(int(seed))
            lengths = lt.sample(rng, self.samples) + int(r)
            starts = rng.integers(0, h.size, self.samples)
            csum = np.concatenate(([0], np.cumsum(np.tile(h, 2 + int(lengths.max()) // h.size))))
            totals = csum[starts + lengths] - csum[starts]
            out.append(DiscreteDistribution.from_samples(totals))
        return out
