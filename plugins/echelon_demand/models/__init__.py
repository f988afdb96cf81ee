"""Echelon's learned demand models, exported by name for registration.

``FORECASTERS`` maps a configuration name to a :class:`platform_core.components.Forecaster`
subclass; ``echelon_demand.plugin`` registers all of them.
"""

from __future__ import annotations

from echelon_demand.models.auto import AutoForecaster
from echelon_demand.models.bootstrap_intermittent import WillemainBootstrapForecaster
from echelon_demand.models.calibrated import CalibratedForecaster
from echelon_demand.models.censored import CensoredNegBinForecaster, CensoredPoissonForecaster
from echelon_demand.models.global_gbm import QuantileGBMForecaster
from echelon_demand.models.intermittent import CrostonForecaster, SBAForecaster, TSBForecaster
from echelon_demand.models.parametric import (
    GammaForecaster,
    NegBinForecaster,
    NormalForecaster,
    PoissonForecaster,
)
from echelon_demand.models.sensing import SensingForecaster
from echelon_demand.models.signals import SignalsForecaster
from echelon_demand.models.statsforecast_models import SF_FORECASTERS
from platform_core.components import Forecaster

__all__ = [
    "FORECASTERS",
    "SF_FORECASTERS",
    "AutoForecaster",
    "CalibratedForecaster",
    "CensoredNegBinForecaster",
    "CensoredPoissonForecaster",
    "CrostonForecaster",
    "GammaForecaster",
    "NegBinForecaster",
    "NormalForecaster",
    "PoissonForecaster",
    "QuantileGBMForecaster",
    "SBAForecaster",
    "SensingForecaster",
    "SignalsForecaster",
    "TSBForecaster",
    "WillemainBootstrapForecaster",
]

FORECASTERS: dict[str, type[Forecaster]] = {
    "poisson": PoissonForecaster,
    "negbin": NegBinForecaster,
    "gamma": GammaForecaster,
    "normal": NormalForecaster,
    "croston": CrostonForecaster,
    "sba": SBAForecaster,
    "tsb": TSBForecaster,
    "censored_poisson": CensoredPoissonForecaster,
    "censored_negbin": CensoredNegBinForecaster,
    "willemain": WillemainBootstrapForecaster,
    "quantile_gbm": QuantileGBMForecaster,
    "sensing": SensingForecaster,
    "auto": AutoForecaster,
    "calibrated": CalibratedForecaster,
    "signals": SignalsForecaster,
    **SF_FORECASTERS,  # statsforecast models (sf_croston_sba, sf_tsb, sf_adida, sf_imapa, sf_ets)
}
