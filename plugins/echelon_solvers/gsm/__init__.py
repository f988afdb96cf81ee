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
    write_chain_tables,
)
from .cli import add_gsm_commands
from .heuristic import local_search, solve_heuristic
from .milp import solve_milp
from .network import GSMNetwork, choose_resolution
from .solution import GSMSolution, make_solution
from .solve import METHODS, solve_gsm
from .tree_dp import repair_service_times, solve_tree, spanning_tree, tree_dp

__all__ = [
    "GSMNetwork",
    "GSMSolution",
    "METHODS",
    "add_gsm_commands",
    "choose_resolution",
    "import_chain",
    "load_network",
    "local_search",
    "make_solution",
    "network_from_dict",
    "network_from_tables",
    "repair_service_times",
    "solve_bnb",
    "solve_gsm",
    "solve_heuristic",
    "solve_milp",
    "solve_tree",
    "spanning_tree",
    "tree_dp",
    "write_chain_tables",
]
