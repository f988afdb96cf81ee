"""Registers the built-in solvers and their CLI commands (``echelon`` entry point).

This hook is the one registry of the built-in solvers: each class is registered here
under its configuration name, as a third-party plugin would register its own.
"""

from __future__ import annotations

import argparse

from echelon_solvers.baseline import BlanketABCSolver
from echelon_solvers.clark_scarf import ClarkScarfSolver
from echelon_solvers.frontier import FrontierSolver
from echelon_solvers.guaranteed_service import GuaranteedServiceSolver
from echelon_solvers.learned_policy import LearnedPolicySolver
from echelon_solvers.lot_sizing import LotSizingSolver
from echelon_solvers.multi_echelon import MultiEchelonSolver
from echelon_solvers.network_frontier import NetworkFrontierSolver
from echelon_solvers.perishable import PerishableSolver
from echelon_solvers.single_echelon import SingleEchelonSolver
from echelon_solvers.stochastic_service import StochasticServiceSolver
from platform_core.hookspecs import Register, hookimpl


@hookimpl
def register_solvers(register: Register) -> None:
    """Register every built-in solver under its configuration name.

    ``multi_echelon`` (the default: every network's levels set jointly from position
    histograms), ``single_echelon`` (Monte Carlo base-stock per stage), ``clark_scarf`` (exact serial
    chains), ``stochastic_service`` (batched simulation search on any acyclic network),
    ``service_frontier`` (cost-optimal / budget / portfolio-fill allocation),
    ``network_frontier`` (curves measured on the whole network), ``blanket_abc`` (the
    98/95/90 % baseline), ``guaranteed_service`` (GSM placement of safety stock) and
    ``perishable`` (base stock trading waste against shortage for stock with a shelf life).
    ``lot_sizing`` ((s, S) / (r, nQ) with ordering costs, MOQ and order multiples).
    ``learned_policy`` (lost-sales policies trained by simulation, recommended only where
    they beat capped base stock beyond the evaluation noise).
    """
    register("multi_echelon", MultiEchelonSolver)
    register("single_echelon", SingleEchelonSolver)
    register("clark_scarf", ClarkScarfSolver)
    register("stochastic_service", StochasticServiceSolver)
    register("service_frontier", FrontierSolver)
    register("network_frontier", NetworkFrontierSolver)
    register("blanket_abc", BlanketABCSolver)
    register("guaranteed_service", GuaranteedServiceSolver)
    register("perishable", PerishableSolver)
    register("lot_sizing", LotSizingSolver)
    register("learned_policy", LearnedPolicySolver)


@hookimpl
def register_cli_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``echelon gsm solve`` and ``echelon import-chain``."""
    from echelon_solvers.gsm.cli import add_gsm_commands

    add_gsm_commands(subparsers)
