"""Registers the built-in forecasters (loaded through the ``echelon`` entry point)."""

from __future__ import annotations

import argparse

from echelon_demand.bootstrap import BootstrapForecaster
from echelon_demand.models import FORECASTERS
from platform_core.hookspecs import Register, hookimpl


@hookimpl
def register_forecasters(register: Register) -> None:
    """Register the bootstrap forecaster and the models of ``echelon_demand.models``."""
    register("bootstrap", BootstrapForecaster)
    for name, cls in FORECASTERS.items():
        register(name, cls)


@hookimpl
def register_cli_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``echelon backtest``."""
    from echelon_demand.backtest_cli import add_backtest_command

    add_backtest_command(subparsers)
