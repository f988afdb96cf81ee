"""Registers the built-in solvers and their CLI commands (``echelon`` entry point)."""

from __future__ import annotations

import argparse

from echelon_solvers.registry_extra import EXTRA_SOLVERS
from echelon_solvers.single_echelon import SingleEchelonSolver
from platform_core.hookspecs import Register, hookimpl


@hookimpl
def register_solvers(register: Register) -> None:
    """Register the single-echelon, Clark-Scarf, stochastic-service, frontier, network-frontier and ABC solvers."""
    register("single_echelon", SingleEchelonSolver)
    for name, cls in EXTRA_SOLVERS.items():
        register(name, cls)


@hookimpl
def register_cli_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``echelon gsm solve`` and ``echelon import-chain``."""
    from echelon_solvers.gsm.cli import add_gsm_commands

    add_gsm_commands(subparsers)
