"""The core's own plugin.

It registers the in-process executor and the core CLI commands that live outside
:mod:`platform_core.cli` (``simulate``), through the ``echelon`` entry point like every
other plugin.
"""

from __future__ import annotations

import argparse

from platform_core.executor import InProcessExecutor
from platform_core.hookspecs import Register, hookimpl


@hookimpl
def register_executors(register: Register) -> None:
    """Register ``in_process``: batches run sequentially in the driver."""
    register("in_process", InProcessExecutor)


@hookimpl
def register_cli_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``echelon simulate`` when the simulation CLI is available."""
    try:
        from platform_core.simulation.cli import add_simulate_command
    except ImportError:  # pragma: no cover - engine CLI optional during development
        return
    add_simulate_command(subparsers)
