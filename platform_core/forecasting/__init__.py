"""Forecasting vocabulary shared by the plugins.

Plugins import the core, never each other: what more than one plugin needs to fit,
score or monitor a forecast lives here.

* :mod:`~platform_core.forecasting.scores` — CRPS, pinball loss, interval coverage and
  quantiles of discrete distributions.
"""

from platform_core.forecasting.scores import coverage, crps, pinball, quantiles

__all__ = [
    "coverage",
    "crps",
    "pinball",
    "quantiles",
]
