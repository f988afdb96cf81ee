"""Echelon's learned lead-time models, exported by name for registration.

``LEAD_TIME_MODELS`` maps a configuration name to a
:class:`platform_core.components.LeadTimeModel` subclass.
"""

from __future__ import annotations

from echelon_leadtime.models.feature import QuantileGBMLeadTime, TunedQuantileGBMLeadTime
from echelon_leadtime.models.parametric import (
    GammaLeadTime,
    LognormalLeadTime,
    ParametricLeadTime,
    ShiftedGammaLeadTime,
)
from platform_core.components import LeadTimeModel

__all__ = [
    "LEAD_TIME_MODELS",
    "GammaLeadTime",
    "LognormalLeadTime",
    "ParametricLeadTime",
    "QuantileGBMLeadTime",
    "ShiftedGammaLeadTime",
    "TunedQuantileGBMLeadTime",
]

LEAD_TIME_MODELS: dict[str, type[LeadTimeModel]] = {
    "gamma": GammaLeadTime,
    "lognormal": LognormalLeadTime,
    "shifted_gamma": ShiftedGammaLeadTime,
    "quantile_gbm": QuantileGBMLeadTime,
    "quantile_gbm_tuned": TunedQuantileGBMLeadTime,
}
