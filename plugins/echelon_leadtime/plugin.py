"""Registers the built-in lead-time models (loaded through the ``echelon`` entry point)."""

from __future__ import annotations

from echelon_leadtime.empirical import EmpiricalLeadTime
from echelon_leadtime.models import LEAD_TIME_MODELS
from platform_core.hookspecs import Register, hookimpl


@hookimpl
def register_lead_time_models(register: Register) -> None:
    """Register the empirical model and the models of ``echelon_leadtime.models``."""
    register("empirical", EmpiricalLeadTime)
    for name, cls in LEAD_TIME_MODELS.items():
        register(name, cls)
