"""Exact GSM on general acyclic networks: branch and bound over spanning-tree DP relaxations.

Dropping the arcs outside a spanning tree relaxes the constraints ``SI_j >= S_i``; the
Graves-Willems DP solves the relaxation exactly on a time grid, so its value is a lower bound.
Pricing the dropped arcs with Lagrange multipliers ``lam_e >= 0`` (adding
``lam_e (S_i - SI_j)`` to the objective, which the DP absorbs as linear terms) tightens the
bound; the multipliers are set by subgradient optimisation at the root when a short plain
search does not finish. Bounds implied by normalised policies
(``SI_j = max(external_j, max_i S_i)``) are propagated at every node.
When the DP's service times violate a dropped arc ``i -> j`` (``S_i > SI_j``) the node is split
at ``x = floor((S_i + SI_j) / 2)`` into ``S_i <= x`` and ``SI_j >= x + 1``; every feasible
policy lies in one of the two children (in the spirit of Humair & Willems 2011, who also
branch on a spanning-tree relaxation). Nodes are explored best-bound first until the time
limit; the reported gap compares the best policy's exact cost with the smallest open bound.

The bound is computed on the *relaxed* grid (:class:`~.tree_dp.GridData` with
``lower=True``) so it is valid for the continuous problem even when the grid does not divide
the stage times; incumbents are repaired DP solutions polished by local search.
"""

from __future__ import annotations

import heapq
import math
import time

import numpy as np
import numpy.typing as npt
from numba import njit

from .heuristic import local_search, solve_heuristic
from .network import GSMNetwork, require_square_root
from .solution import GSMSolution, make_solution
from .tree_dp import GridData, _dp_kernel, _peel_order, repair_service_times, spanning_tree

__all__ = ["solve_bnb"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@njit(cache=True)
def _propagate(topo, in_ptr, in_src, tf, ext_u, s_lo, s_hi, si_lo, si_hi):  # pragma: no cover
    """Tighten bounds in place; False when the node holds no normalised policy.

    Some optimal policy is *normalised* (``SI_j = max(external_j, max_i S_i)``) and every
    branching keeps it, so bounds implied by normalisation are valid: ``SI_j`` lies between
    the largest lower and the largest upper bound of its suppliers' ``S``, ``S_j <= SI_j + T_j``,
    and when ``SI_j`` must exceed the external time some supplier must reach it (forced when
    only one supplier can).
    """
    n = topo.shape[0]
    for _ in range(50):
        changed = False
        for pos in range(n):
            j = topo[pos]
            m_hi = ext_u[j]
            m_lo = ext_u[j]
            for p in range(in_ptr[j], in_ptr[j + 1]):
                i = in_src[p]
                if s_hi[i] > m_hi:
                    m_hi = s_hi[i]
                if s_lo[i] > m_lo:
                    m_lo = s_lo[i]
            if m_hi < si_hi[j]:
                si_hi[j] = m_hi
            if m_lo > si_lo[j]:
                si_lo[j] = m_lo
            if s_lo[j] - tf[j] > si_lo[j]:
                si_lo[j] = s_lo[j] - tf[j]
            if si_hi[j] + tf[j] < s_hi[j]:
                s_hi[j] = si_hi[j] + tf[j]
            if si_lo[j] > si_hi[j] or s_lo[j] > s_hi[j]:
                return False
            if si_lo[j] > ext_u[j]:
                count = 0
                last = -1
                for p in range(in_ptr[j], in_ptr[j + 1]):
                    i = in_src[p]
                    if s_hi[i] >= si_lo[j]:
                        count += 1
                        last = i
                if count == 0:
                    return False
                if count == 1 and s_lo[last] < si_lo[j]:
                    s_lo[last] = si_lo[j]
                    if s_lo[last] > s_hi[last]:
                        return False
                    changed = True
        if not changed:
            return True
    return True


def solve_bnb(
    network: GSMNetwork,
    holding_rate: float,
    time_limit: float = 60.0,
    rel_gap: float = 1e-6,
    max_nodes: int = 1_000_000,
    initial: GSMSolution | None = None,
    lagrangian_share: float = 0.6,
    max_lagrangian_iterations: int = 300,
    step: float | None = None,
) -> GSMSolution:
    """Branch and bound with (Lagrangian) spanning-tree DP bounds.

    Args:
        network: the network (any acyclic structure).
        holding_rate: annual holding rate [1/year].
        time_limit: wall-clock limit [s].
        rel_gap: stop when ``(upper - lower) / upper`` falls below this [fraction].
        max_nodes: largest number of DP relaxations solved in the tree search.
        initial: a feasible solution to start from (the heuristic's by default).
        lagrangian_share: share of the time left after a first plain search (which gets
            ``(1 - share) / 4`` of the limit) that goes to subgradient optimisation of the
            multipliers of the dropped arcs at the root [fraction]; 0 disables it.
        max_lagrangian_iterations: largest number of subgradient steps.
        step: grid step [days]; automatic when ``None``.

    Returns:
        The best policy with a proven lower bound.
    """
    require_square_root(network)
    t0 = time.perf_counter()
    n = network.n_stages
    inc = initial if initial is not None else solve_heuristic(
        network, holding_rate, perturb_seconds=min(5.0, 0.1 * time_limit))
    best_s = inc.service_times.copy()
    best_cost = inc.total_cost
    g_lo = GridData(network, holding_rate, step=step, lower=True)
    g_up = GridData(network, holding_rate, step=g_lo.step)
    tree = spanning_tree(network, holding_rate)
    in_tree = np.zeros(network.n_edges, dtype=bool)
    in_tree[tree] = True
    dropped = np.flatnonzero(~in_tree)
    d_up = network.edge_up[dropped]
    d_down = network.edge_down[dropped]
    order, parent, parent_down = _peel_order(n, network.edge_up[tree], network.edge_down[tree])
    child_order = np.argsort(parent, kind="stable")
    child_order = child_order[parent[child_order] >= 0].astype(np.int64)
    child_ptr = np.searchsorted(parent[child_order], np.arange(n + 1)).astype(np.int64)
    coef = g_lo.coef
    topo = network.topological_order.astype(np.int64)
    in_ptr = network._in_start.astype(np.int64)
    in_src = network.edge_up[network._in_edges].astype(np.int64)
    zero_lam = np.zeros(dropped.size)

    def tighten(b: tuple[IntArray, IntArray, IntArray, IntArray]) -> bool:
        return bool(_propagate(topo, in_ptr, in_src, g_lo.tf, g_lo.ext_u, *b))

    def relax(b: tuple[IntArray, IntArray, IntArray, IntArray], lam: FloatArray
              ) -> tuple[float, IntArray, IntArray]:
        lin_s = np.bincount(d_up, weights=lam, minlength=n).astype(np.float64)
        lin_si = -np.bincount(d_down, weights=lam, minlength=n).astype(np.float64)
        s_lo, s_hi, si_lo, si_hi = b
        total, s_u, si_u = _dp_kernel(order, parent, parent_down, child_ptr, child_order, g_lo.tf,
                                      g_lo.tcost, g_lo.step, coef, si_lo, si_hi, s_lo, s_hi, g_lo.g,
                                      lin_s, lin_si, g_lo.ctab, g_lo.use_tab)
        return float(total), s_u, si_u

    def offer(s_u: IntArray) -> None:
        nonlocal best_cost, best_s
        cand = repair_service_times(network, s_u.astype(np.float64) * g_lo.step)
        cost = network.total_cost(cand, holding_rate)
        if cost < best_cost * (1 - 1e-9):
            cand = local_search(network, holding_rate, cand, grid=g_up)
            cost = network.total_cost(cand, holding_rate)
            if cost < best_cost:
                best_cost, best_s = cost, cand

    root = (g_lo.s_lo_u.copy(), g_lo.smax_u.copy(), g_lo.ext_u.copy(), g_lo.simax_u.copy())
    tighten(root)
    nodes = 0

    def search(lam: FloatArray, root_val: float, s_u: IntArray, si_u: IntArray,
               deadline: float) -> tuple[str, float, int]:
        """Best-first search with multipliers ``lam``; returns (status, lower bound, open nodes)."""
        nonlocal nodes
        heap: list[tuple[float, int, tuple[IntArray, IntArray, IntArray, IntArray]]] = []
        counter = 0
        heapq.heappush(heap, (root_val, counter, root))
        cache = {counter: (s_u, si_u)}
        closed = math.inf  # smallest bound among nodes taken out of the search
        status = "optimal"
        while heap:
            lb = heap[0][0]
            if best_cost <= 0 or (best_cost - min(lb, closed)) <= rel_gap * best_cost:
                break
            if time.perf_counter() > deadline:
                status = "time_limit"
                break
            if nodes >= max_nodes:
                status = "node_limit"
                break
            lb, key, bounds = heapq.heappop(heap)
            s_u, si_u = cache.pop(key)
            offer(s_u)
            gapv = s_u[d_up] - si_u[d_down]
            bad = np.flatnonzero(gapv > 0)
            if bad.size == 0 and lam.any():
                # feasible for the multiplier problem: solve the node's plain relaxation
                val0, s_u, si_u = relax(bounds, zero_lam)
                nodes += 1
                offer(s_u)
                lb = max(lb, val0)
                gapv = s_u[d_up] - si_u[d_down]
                bad = np.flatnonzero(gapv > 0)
            if bad.size == 0:
                closed = min(closed, lb)  # relaxation feasible for all arcs: node solved
                continue
            weight = gapv[bad] * (coef[d_down[bad]] + coef[d_up[bad]])
            e = bad[int(np.argmax(weight))]
            i, j = int(d_up[e]), int(d_down[e])
            x = (int(s_u[i]) + int(si_u[j])) // 2
            s_lo, s_hi, si_lo, si_hi = bounds
            left = (s_lo.copy(), s_hi.copy(), si_lo.copy(), si_hi.copy())
            left[1][i] = min(left[1][i], x)
            right = (s_lo.copy(), s_hi.copy(), si_lo.copy(), si_hi.copy())
            right[2][j] = max(right[2][j], x + 1)
            for child in (left, right):
                if not tighten(child):
                    continue
                val, cs, csi = relax(child, lam)
                nodes += 1
                if not math.isfinite(val):
                    continue
                val = max(val, lb)
                if val >= best_cost * (1 - rel_gap):
                    closed = min(closed, val)
                    continue
                counter += 1
                cache[counter] = (cs, csi)
                heapq.heappush(heap, (val, counter, child))
        lower = min(best_cost, closed, heap[0][0] if heap else math.inf)
        return status, lower, len(heap)

    # phase 1: plain spanning-tree bounds for a short while (enough for easy networks)
    plain_bound, s_u, si_u = relax(root, zero_lam)
    nodes += 1
    left = time_limit - (time.perf_counter() - t0)
    status, lower, open_nodes = search(zero_lam, plain_bound, s_u, si_u,
                                       time.perf_counter() + (1 - lagrangian_share) * 0.25 * left)
    root_bound = plain_bound
    iterations = 0
    if status != "optimal" and dropped.size and lagrangian_share > 0:
        # phase 2: subgradient optimisation of the multipliers of the dropped arcs (Polyak)
        lam = zero_lam.copy()
        best_lam = zero_lam.copy()
        best_s_u, best_si_u = s_u, si_u
        theta = 1.0
        stall = 0
        budget = time.perf_counter() + lagrangian_share * (time_limit - (time.perf_counter() - t0))
        cur_s, cur_si = s_u, si_u
        while iterations < max_lagrangian_iterations and time.perf_counter() < budget:
            viol = (cur_s[d_up] - cur_si[d_down]).astype(np.float64)
            sub = np.where((lam <= 0) & (viol < 0), 0.0, viol)
            norm = float(sub @ sub)
            if norm == 0 or best_cost - max(root_bound, lower) <= rel_gap * best_cost:
                break
            lam = np.maximum(0.0, lam + theta * (best_cost - root_bound) / norm * sub)
            val, cur_s, cur_si = relax(root, lam)
            iterations += 1
            nodes += 1
            if iterations % 5 == 0:
                offer(cur_s)
            if val > root_bound + 1e-9 * abs(root_bound):
                root_bound, best_lam, best_s_u, best_si_u = val, lam.copy(), cur_s, cur_si
                stall = 0
            else:
                stall += 1
                if stall >= 5:
                    theta /= 2
                    stall = 0
                    if theta < 1e-4:
                        break
        # phase 3: the search again with the best multipliers
        status, lower3, open_nodes = search(best_lam, root_bound, best_s_u, best_si_u,
                                            t0 + time_limit)
        lower = max(lower, lower3)
    seconds = time.perf_counter() - t0
    return make_solution(network, best_s, holding_rate, method="bnb", seconds=seconds,
                         lower_bound=max(lower, inc.lower_bound),
                         info={"status": status, "nodes": nodes, "open_nodes": open_nodes,
                               "root_bound": root_bound, "plain_root_bound": plain_bound,
                               "lagrangian_iterations": iterations, "step_days": g_lo.step,
                               "exact_grid": g_lo.exact, "dropped_arcs": int(dropped.size)})
