"""Registers the built-in cost models (loaded through the ``echelon`` entry point)."""

from __future__ import annotations

from echelon_cost.learned import LearnedCostModel
from echelon_cost.margin_risk import EXTRA_COST_MODELS
from echelon_cost.standard import StandardCostModel
from platform_core.hookspecs import Register, hookimpl


@hookimpl
def register_cost_models(register: Register) -> None:
    """Register the standard, margin-risk and learned cost models."""
    register("standard", StandardCostModel)
    for name, cls in EXTRA_COST_MODELS.items():
        register(name, cls)
    register("learned", LearnedCostModel)
