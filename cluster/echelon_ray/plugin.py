"""Registers the Ray executor through the ``echelon`` entry point."""

from __future__ import annotations

from echelon_ray.executor import RayExecutor
from platform_core.hookspecs import Register, hookimpl


@hookimpl
def register_executors(register: Register) -> None:
    """Register ``ray``, the default executor."""
    register("ray", RayExecutor)
