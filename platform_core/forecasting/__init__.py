"""Forecasting vocabulary shared by the plugins.

Plugins import the core, never each other: what more than one plugin needs to fit,
score or monitor a forecast lives here.

* :mod:`~platform_core.forecasting.batch` — :class:`BatchForecaster`, the base of
  forecasters that fit all series at once, and FFT compounding of lead-time demand.
* :mod:`~platform_core.forecasting.classes` — demand classes by ADI and CV² (``smooth``,
  ``erratic``, ``intermittent``, ``lumpy``, ``none``).
* :mod:`~platform_core.forecasting.quantile_pmf` — an integer PMF from predicted
  quantiles.
* :mod:`~platform_core.forecasting.scores` — CRPS, pinball loss, interval coverage and
  quantiles of discrete distributions.
* :mod:`~platform_core.forecasting.series` — :class:`~platform_core.components.DemandSeries`
  from a demand table, and its right-aligned padded matrix.
"""

from platform_core.forecasting.batch import BatchForecaster, compound_batch
from platform_core.forecasting.classes import (
    ADI_CUTOFF,
    CLASSES,
    CV2_CUTOFF,
    DemandClasses,
    classify,
    classify_matrix,
)
from platform_core.forecasting.quantile_pmf import quantiles_to_pmf
from platform_core.forecasting.scores import coverage, crps, pinball, quantiles
from platform_core.forecasting.series import demand_series_from_table, padded

__all__ = [
    "ADI_CUTOFF",
    "BatchForecaster",
    "CLASSES",
    "CV2_CUTOFF",
    "DemandClasses",
    "classify",
    "classify_matrix",
    "compound_batch",
    "coverage",
    "crps",
    "demand_series_from_table",
    "padded",
    "pinball",
    "quantiles",
    "quantiles_to_pmf",
]
