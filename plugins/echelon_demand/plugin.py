"""Registers the built-in forecasters (loaded through the ``echelon`` entry point)."""

from __future__ import annotations

from echelon_demand.bootstrap import BootstrapForecaster
from platform_core.hookspecs import Register, hookimpl


@hookimpl
def register_forecasters(register: Register) -> None:
    """Register the bootstrap forecaster and the models of ``echelon_demand.models``."""
    register("bootstrap", BootstrapForecaster)
    try:
        from echelon_demand.models import FORECASTERS
    except ImportError:  # pragma: no cover - models package optional during development
        FORECASTERS = {}
    for name, cls in FORECASTERS.items():
        register(name, cls)
