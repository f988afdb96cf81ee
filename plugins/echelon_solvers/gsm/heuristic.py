"""Fast GSM heuristic for large acyclic networks: spanning-tree DP plus local search.

1. The Graves-Willems DP on a maximum-weight spanning tree gives service times that are
   optimal for the tree relaxation; :func:`~.tree_dp.repair_service_times` makes them feasible
   on the full network (an upper bound). The DP of the *relaxed* grid problem on the same tree
   is a valid lower bound on the network optimum (dropping arcs relaxes constraints).
2. Coordinate descent: each stage's outbound service time ``S_j`` is set to the (real) value
   that minimises the exact cost of the stage and all its customers given everyone else's
   service times, sweeping in topological order until no stage improves. It runs from the repaired
   tree solution, from ``S = 0`` (stock everywhere) and from the largest service times
   (stock only where forced), and keeps the best.
"""

from __future__ import annotations

import math
import time

import numpy as np
import numpy.typing as npt
from numba import njit

from .network import GSMNetwork, require_square_root
from .solution import GSMSolution, make_solution
from .tree_dp import GridData, repair_service_times, spanning_tree, tree_dp

__all__ = ["solve_heuristic", "local_search"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@njit(cache=True)
def _local_search_real(s, topo, in_ptr, in_src, out_ptr, out_dst, t, coef, ext, maxs,
                       max_sweeps):  # pragma: no cover - compiled
    """Exact coordinate descent over real service times.

    With the others fixed, the cost as a function of ``S_j`` is concave between the inbound
    times ``o_k`` its customers get from their other suppliers, so the best ``S_j`` is one of
    the interval ends or one of those ``o_k``.
    """
    n = s.shape[0]
    other = np.zeros(n)
    cands = np.zeros(n + 2)
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        improved = False
        for pos in range(n):
            j = topo[pos]
            si_j = ext[j]
            for p in range(in_ptr[j], in_ptr[j + 1]):
                if s[in_src[p]] > si_j:
                    si_j = s[in_src[p]]
            hi = min(maxs[j], si_j + t[j])
            lo = 0.0
            nout = out_ptr[j + 1] - out_ptr[j]
            for p in range(out_ptr[j], out_ptr[j + 1]):
                k = out_dst[p]
                v = ext[k]
                for q in range(in_ptr[k], in_ptr[k + 1]):
                    i = in_src[q]
                    if i != j and s[i] > v:
                        v = s[i]
                other[p - out_ptr[j]] = v
                need = s[k] - t[k]
                if v < need and need > lo:
                    lo = need
            if lo > hi:
                continue
            nc = 0
            cands[nc] = lo
            nc += 1
            cands[nc] = hi
            nc += 1
            for q in range(nout):
                if lo < other[q] < hi:
                    cands[nc] = other[q]
                    nc += 1
            cur = s[j]
            cur_val = 0.0
            best_val = np.inf
            best_c = cur
            for ci in range(nc + 1):
                c = cur if ci == nc else cands[ci]
                nrt = si_j + t[j] - c
                val = coef[j] * math.sqrt(nrt) if nrt > 0.0 else 0.0
                for q in range(nout):
                    k = out_dst[out_ptr[j] + q]
                    sik = other[q]
                    if c > sik:
                        sik = c
                    nrt = sik + t[k] - s[k]
                    if nrt > 0.0:
                        val += coef[k] * math.sqrt(nrt)
                if ci == nc:
                    cur_val = val
                elif val < best_val:
                    best_val = val
                    best_c = c
            if best_val < cur_val - 1e-9 * (1.0 + abs(cur_val)):
                s[j] = best_c
                improved = True
        if not improved:
            break
    return s, sweeps


def _csr(network: GSMNetwork) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    in_ptr = network._in_start.astype(np.int64)
    in_src = network.edge_up[network._in_edges].astype(np.int64)
    out_ptr = network._out_start.astype(np.int64)
    out_dst = network.edge_down[network._out_edges].astype(np.int64)
    return in_ptr, in_src, out_ptr, out_dst


def local_search(network: GSMNetwork, holding_rate: float, service_times: FloatArray,
                 grid: GridData | None = None, max_sweeps: int = 200) -> FloatArray:
    """Coordinate descent on outbound service times, from a (repaired) start.

    Each move sets one stage's ``S_j`` to its exact best value given all other service
    times (over the reals, see :func:`_local_search_real`); sweeps run in topological order
    until no stage improves.

    Args:
        network: the network.
        holding_rate: annual holding rate [1/year].
        service_times: starting outbound service times [days]; repaired first.
        grid: unused (kept for call compatibility).
        max_sweeps: largest number of passes over all stages.

    Returns:
        Feasible service times [days] no costlier than the repaired start.
    """
    require_square_root(network)
    start = repair_service_times(network, service_times)
    in_ptr, in_src, out_ptr, out_dst = _csr(network)
    s, _ = _local_search_real(start.copy(), network.topological_order.astype(np.int64), in_ptr,
                              in_src, out_ptr, out_dst, network.stage_time,
                              network.cost_coefficients(holding_rate), network.external_inbound,
                              network.max_service_time, max_sweeps)
    out = repair_service_times(network, s)
    if network.total_cost(out, holding_rate) > network.total_cost(start, holding_rate):
        return start
    return out


def tree_bounds(network: GSMNetwork, holding_rate: float, tree: IntArray | None = None,
                grid: GridData | None = None) -> tuple[FloatArray, float]:
    """Repaired spanning-tree DP service times [days] and the tree-relaxation lower bound [currency/year]."""
    gd = grid if grid is not None else GridData(network, holding_rate)
    edges = spanning_tree(network, holding_rate) if tree is None else tree
    res = tree_dp(network, holding_rate, tree_edges=edges, grid=gd)
    if gd.exact:
        bound = res.value
    else:
        bound = tree_dp(network, holding_rate, tree_edges=edges, step=gd.step, lower=True).value
    return repair_service_times(network, res.service_times), float(bound)


def solve_heuristic(network: GSMNetwork, holding_rate: float, max_sweeps: int = 200,
                    perturb_seconds: float = 1.0, seed: int = 0,
                    max_stale_rounds: int = 1000) -> GSMSolution:
    """Spanning-tree DP plus multi-start local search and perturbation rounds.

    After the three starts, rounds of iterated local search reset a few random stages to
    ``S = 0`` or to their largest service time, repair and descend again, keeping
    improvements, until ``perturb_seconds`` have passed or ``max_stale_rounds`` rounds in a
    row brought nothing.

    Args:
        network: the network (any acyclic structure).
        holding_rate: annual holding rate [1/year].
        max_sweeps: local-search passes per start.
        perturb_seconds: time for perturbation rounds [s]; 0 disables them.
        seed: random seed of the perturbations.
        max_stale_rounds: stop after this many rounds without improvement.

    Returns:
        The best policy found; ``lower_bound`` is the spanning-tree relaxation bound.
    """
    require_square_root(network)
    t0 = time.perf_counter()
    gd = GridData(network, holding_rate)
    s_tree, bound = tree_bounds(network, holding_rate, grid=gd)
    starts = {
        "tree": s_tree,
        "zero": np.zeros(network.n_stages),
        "max": network.max_outbound.copy(),
    }
    best: FloatArray | None = None
    best_cost = math.inf
    best_name = ""
    for name, s0 in starts.items():
        s = local_search(network, holding_rate, s0, grid=gd, max_sweeps=max_sweeps)
        cost = network.total_cost(s, holding_rate)
        if cost < best_cost:
            best, best_cost, best_name = s, cost, name
    assert best is not None
    rng = np.random.default_rng(seed)
    rounds = 0
    stale = 0
    t1 = time.perf_counter()
    n = network.n_stages
    while (perturb_seconds > 0 and time.perf_counter() - t1 < perturb_seconds and n > 1
           and stale < max_stale_rounds):
        rounds += 1
        stale += 1
        cand = best.copy()
        k = int(rng.integers(1, max(2, n // 10) + 1))
        idx = rng.choice(n, size=min(k, n), replace=False)
        cand[idx] = np.where(rng.random(idx.size) < 0.5, 0.0, network.max_outbound[idx])
        cand = local_search(network, holding_rate, cand, grid=gd, max_sweeps=max_sweeps)
        cost = network.total_cost(cand, holding_rate)
        if cost < best_cost * (1 - 1e-12):
            best, best_cost, best_name = cand, cost, "perturbation"
            stale = 0
    seconds = time.perf_counter() - t0
    return make_solution(network, best, holding_rate, method="heuristic", seconds=seconds,
                         lower_bound=bound,
                         info={"step_days": gd.step, "exact_grid": gd.exact, "best_start": best_name,
                               "tree_bound": bound, "perturbation_rounds": rounds})
