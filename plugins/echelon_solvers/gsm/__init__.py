"""Guaranteed-service model (GSM) solvers: tree DP, branch and bound, MILP and heuristic.

Example:
    >>> from echelon_solvers.gsm import load_network, solve_gsm
    >>> sol = solve_gsm(load_network("chain.json"), holding_rate=0.25)  # doctest: +SKIP
"""

from .bnb import solve_bnb
from .chain_io import (
    import_chain,
    load_network,
    network_from_dict,
    network_from_tables,
    write_chain_dataset,
    write_chain_tables,
)
from .cli import add_gsm_commands
from .heuristic import local_search, solve_heuristic
from .mc_check import (
    CheckReport,
    StageTimeDistribution,
    TargetSearch,
    check_solution,
    raise_to_target,
    retune_safety_stock,
    stage_time_distributions,
)
from .milp import solve_milp
from .network import GSMNetwork, choose_resolution
from .solution import GSMSolution, make_solution
from .solve import METHODS, solve_gsm
from .tree_dp import repair_service_times, solve_tree, spanning_tree, tree_dp

__all__ = [
    "CheckReport",
    "GSMNetwork",
    "GSMSolution",
    "METHODS",
    "StageTimeDistribution",
    "TargetSearch",
    "add_gsm_commands",
    "check_solution",
    "choose_resolution",
    "import_chain",
    "load_network",
    "local_search",
    "make_solution",
    "network_from_dict",
    "network_from_tables",
    "raise_to_target",
    "repair_service_times",
    "retune_safety_stock",
    "solve_bnb",
    "solve_gsm",
    "solve_heuristic",
    "solve_milp",
    "solve_tree",
    "spanning_tree",
    "stage_time_distributions",
    "tree_dp",
    "write_chain_dataset",
    "write_chain_tables",
]
