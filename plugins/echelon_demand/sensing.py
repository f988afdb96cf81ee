"""Demand sensing: CUSUM change-point detection on forecast residuals, refit from the change.

The implementation lives in :mod:`echelon_demand.models.sensing` (so that the
``sensing`` forecaster can be registered with the other models); see its docstring for
the method, the threshold calibration and the tested detection delay.
"""

from __future__ import annotations

from echelon_demand.models.sensing import SensingForecaster, SensingResult, cusum, detect_changes

__all__ = ["SensingResult", "detect_changes", "cusum", "SensingForecaster"]
