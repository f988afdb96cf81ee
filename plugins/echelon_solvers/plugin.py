"""Registers the built-in solvers and their CLI commands (``echelon`` entry point)."""

from __future__ import annotations

import argparse

from echelon_solvers.single_echelon import SingleEchelonSolver
from platform_core.hookspecs import Register, hookimpl


@hookimpl
def register_solvers(register: Register) -> None:
    """Register the single-echelon Monte Carlo base-stock solver."""
    register("single_echelon", SingleEchelonSolver)


@hookimpl
def register_cli_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``echelon gsm solve`` and ``echelon import-chain``."""
    try:
        from echelon_solvers.gsm.cli import add_gsm_commands
    except ImportError:  # pragma: no cover - GSM package optional during development
        return
    add_gsm_commands(subparsers)
