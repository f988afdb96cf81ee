"""Fault injection for testing a deployment: forecasters that crash or stall.

Not registered by default.  Register this module explicitly
(``PluginHost(plugins=[echelon_ray.faults])``) to get two forecasters that wrap a real
one:

* ``crash_once`` — the first time it sees ``crash_key`` it kills its own worker process
  (``os._exit``), exactly like a node losing a worker; later attempts (Ray's retry)
  proceed normally.  A marker file records that the crash happened.
* ``slow`` — sleeps ``delay_s`` per fit, so a test can interrupt a run mid-way.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

import numpy as np

from platform_core.components import DemandSeries, Forecaster
from platform_core.distributions import DiscreteDistribution
from platform_core.hookspecs import Register, hookimpl

__all__ = ["CrashOnceForecaster", "SlowForecaster"]


@lru_cache(maxsize=1)
def _host() -> Any:
    from platform_core.plugin_host import PluginHost

    return PluginHost()


class _Wrapper(Forecaster):
    def __init__(self, inner: str = "bootstrap", **inner_params: Any) -> None:
        self.inner = inner
        self.inner_params = inner_params
        self._model: Forecaster = _host().forecaster(inner)(**inner_params)

    def fit(self, demand: DemandSeries) -> Self:
        self._model.fit(demand)
        self.fallback_ = getattr(self._model, "fallback_", None)
        return self

    def period_demand(self) -> list[DiscreteDistribution]:
        return self._model.period_demand()

    def lead_time_demand(
        self, lead_times: list[DiscreteDistribution], review_periods: np.ndarray, seeds: np.ndarray
    ) -> list[DiscreteDistribution]:
        return self._model.lead_time_demand(lead_times, review_periods, seeds)


class CrashOnceForecaster(_Wrapper):
    """Kills its process the first time it fits a batch containing ``crash_key``.

    Args:
        marker: path of the file that records the crash (must not exist at start).
        crash_key: ``"sku@location"`` whose batch triggers the crash.
        inner: the real forecaster's name; further keyword arguments go to it.
    """

    def __init__(self, marker: str, crash_key: str, inner: str = "bootstrap", **inner_params: Any) -> None:
        super().__init__(inner, **inner_params)
        self.marker = marker
        self.crash_key = crash_key

    def fit(self, demand: DemandSeries) -> Self:
        """Crash once (process exit), then fit the inner forecaster."""
        if self.crash_key in demand.keys and not Path(self.marker).exists():
            Path(self.marker).write_text(f"crashed in pid {os.getpid()}\n")
            os._exit(17)
        return super().fit(demand)


class SlowForecaster(_Wrapper):
    """Sleeps ``delay_s`` [s] per fit, then fits the inner forecaster."""

    def __init__(self, delay_s: float = 0.5, inner: str = "bootstrap", **inner_params: Any) -> None:
        super().__init__(inner, **inner_params)
        self.delay_s = delay_s

    def fit(self, demand: DemandSeries) -> Self:
        """Stall, then fit."""
        time.sleep(self.delay_s)
        return super().fit(demand)


@hookimpl
def register_forecasters(register: Register) -> None:
    """Register ``crash_once`` and ``slow``."""
    register("crash_once", CrashOnceForecaster)
    register("slow", SlowForecaster)
