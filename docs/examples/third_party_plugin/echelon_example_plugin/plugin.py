"""Registers ``recent_poisson``: Poisson demand with the mean of the last k periods."""

from __future__ import annotations

from typing import Self

import numpy as np

from platform_core.components import DemandSeries, Forecaster
from platform_core.distributions import DiscreteDistribution
from platform_core.hookspecs import Register, hookimpl


class RecentPoissonForecaster(Forecaster):
    """Per-period demand ~ Poisson(mean of the last ``k`` uncensored periods)."""

    def __init__(self, k: int = 13) -> None:
        self.k = k

    def fit(self, demand: DemandSeries) -> Self:
        self.means_ = []
        for i in range(len(demand)):
            values, stocked_out = demand.series(i)
            usable = values[np.isfinite(values) & ~stocked_out][-self.k :]
            self.means_.append(float(usable.mean()) if usable.size else 0.0)
        return self

    def period_demand(self) -> list[DiscreteDistribution]:
        return [DiscreteDistribution.poisson(m) for m in self.means_]


@hookimpl
def register_forecasters(register: Register) -> None:
    register("recent_poisson", RecentPoissonForecaster)
