"""One entry point that picks a GSM method for a network."""

from __future__ import annotations

import time
from typing import Literal

import numpy as np

from .bnb import solve_bnb
from .heuristic import solve_heuristic
from .milp import solve_milp
from .network import GSMNetwork
from .solution import GSMSolution, make_solution
from .tree_dp import solve_tree

__all__ = ["solve_gsm", "Method", "METHODS"]

Method = Literal["auto", "tree", "milp", "heuristic", "bnb"]
METHODS: tuple[str, ...] = ("auto", "tree", "milp", "heuristic", "bnb")


def _combine(network: GSMNetwork, holding_rate: float, a: GSMSolution, b: GSMSolution,
             seconds: float) -> GSMSolution:
    best = a if a.total_cost <= b.total_cost else b
    bound = max(a.lower_bound, b.lower_bound)
    return make_solution(network, best.service_times, holding_rate, method=f"{a.method}+{b.method}",
                         seconds=seconds, lower_bound=bound,
                         info={a.method: a.info, b.method: b.info, "policy_from": best.method})


def solve_gsm(
    network: GSMNetwork,
    holding_rate: float,
    method: Method | str = "auto",
    time_limit: float = 60.0,
) -> GSMSolution:
    """Optimise committed service times of a guaranteed-service network.

    ``auto`` uses the exact tree DP when the network has no undirected cycle; otherwise branch
    and bound over spanning-tree DP bounds (started from the heuristic), and for small networks
    (at most 60 stages) also the MILP if a gap remains, keeping the best policy and the best
    bound.

    Args:
        network: the network.
        holding_rate: annual holding rate [1/year].
        method: ``auto``, ``tree``, ``milp``, ``heuristic`` or ``bnb``.
        time_limit: wall-clock limit for ``milp`` / ``bnb`` / ``auto`` [s].

    Returns:
        The policy with its exact cost, a proven lower bound and the gap.

    Raises:
        ValueError: for an unknown method, or ``tree`` on a network with undirected cycles.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "tree":
        return solve_tree(network, holding_rate)
    if method == "milp":
        return solve_milp(network, holding_rate, time_limit=time_limit)
    if method == "heuristic":
        return solve_heuristic(network, holding_rate)
    if method == "bnb":
        return solve_bnb(network, holding_rate, time_limit=time_limit)
    t0 = time.perf_counter()
    if network.is_spanning_forest():
        return solve_tree(network, holding_rate)
    small = network.n_stages <= 60
    sol = solve_bnb(network, holding_rate, time_limit=time_limit / 2 if small else time_limit)
    # an inexact grid leaves a discretisation gap: refine while time remains
    while (sol.gap > 1e-4 and not sol.info.get("exact_grid", True)
           and sol.info.get("status") == "optimal"):
        step = float(sol.info["step_days"]) / 2
        left = time_limit / (2 if small else 1) - (time.perf_counter() - t0)
        # DP work ~ sum_j (#SI values) x (#S values); ~2e8 of them per second; a few DPs
        ops = float(np.sum((network.max_inbound / step + 1) * (network.max_outbound / step + 1)))
        if left < 1.0 or 4 * ops / 2.0e8 > left or network.n_stages * (
                float(network.max_inbound.max()) + float(network.stage_time.max())) / step > 2.0e7:
            break
        # the finer search starts from the incumbent and keeps its bound
        finer = solve_bnb(network, holding_rate, time_limit=left, initial=sol, step=step)
        finer.info["coarser_steps_days"] = [*sol.info.get("coarser_steps_days", []),
                                            sol.info["step_days"]]
        finer.seconds = time.perf_counter() - t0
        sol = finer
    if small and sol.gap > 1e-4:
        left = max(1.0, time_limit - (time.perf_counter() - t0))
        other = solve_milp(network, holding_rate, time_limit=left)
        sol = _combine(network, holding_rate, sol, other, time.perf_counter() - t0)
    return sol
