"""Graves-Willems dynamic programme for GSM on spanning trees (exact on a time grid).

The DP follows Graves & Willems (2000): stages are labelled by peeling leaves so every stage
has at most one neighbour with a higher label (its parent); a stage whose parent is
downstream gets the function ``f_k(S)`` (least cost of its subtree given outbound service
time ``S``), one whose parent is upstream gets ``g_k(SI)``. Service times live on a grid of
step ``delta`` [days]; the grid is exact when ``delta`` divides all stage times, maximum service
times and external inbound times (see :func:`~.network.choose_resolution`).

On a network that is not a tree the DP can run on a spanning tree: dropping arcs relaxes the
constraints ``SI_j >= S_i``, so the DP value is a lower bound on the network optimum (when the
grid is exact) and its service times, repaired by :func:`repair_service_times`, are feasible.
"""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np
import numpy.typing as npt
from numba import njit

from .network import GSMNetwork, choose_resolution
from .solution import GSMSolution, make_solution

__all__ = ["solve_tree", "tree_dp", "spanning_tree", "repair_service_times", "TreeDPResult", "GridData"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_INF = np.inf


@njit(cache=True)
def _dp_kernel(order, parent, parent_down, child_ptr, child_idx, tf, treal, delta, coef,
               ext_u, simax_u, s_lo_u, smax_u, g, lin_s, lin_si, ctab, use_tab):  # pragma: no cover - compiled
    # stage cost at net replenishment time nrt: coef * sqrt(nrt), or with use_tab the
    # tabulated cost ctab[k, nrt] at the whole nrt (clamped to the table)
    last = ctab.shape[1] - 1
    n = order.shape[0]
    val = np.full((n, g + 1), np.inf)
    arg = np.zeros((n, g + 1), np.int64)
    other = np.zeros((n, g + 1), np.int64)
    a_in = np.zeros(g + 1)
    b_out = np.zeros(g + 1)
    s_sol = np.zeros(n, np.int64)
    si_sol = np.zeros(n, np.int64)
    total = 0.0
    for idx in range(n):
        k = order[idx]
        a_in[:] = 0.0
        b_out[:] = 0.0
        for c_pos in range(child_ptr[k], child_ptr[k + 1]):
            c = child_idx[c_pos]
            if parent_down[c]:
                for x in range(g + 1):
                    a_in[x] += val[c, x]
            else:
                for x in range(g + 1):
                    b_out[x] += val[c, x]
        ck = coef[k]
        tk = treal[k]
        lo_si = ext_u[k]
        hi_si = simax_u[k]
        hi_s = smax_u[k]
        if parent[k] >= 0 and parent_down[k]:
            # f_k(S) = B(S) + min_{SI} [h(SI + T - S) + A(SI)]
            for s in range(s_lo_u[k], hi_s + 1):
                best = np.inf
                best_si = -1
                start = max(lo_si, s - tf[k])
                for si in range(start, hi_si + 1):
                    nrt = (si - s) * delta + tk
                    if nrt < 0.0:
                        nrt = 0.0
                    if use_tab:
                        v = ctab[k, min(int(nrt + 0.5), last)] + a_in[si] + lin_si[k] * si
                    else:
                        v = ck * math.sqrt(nrt) + a_in[si] + lin_si[k] * si
                    if v < best:
                        best = v
                        best_si = si
                val[k, s] = best + b_out[s] + lin_s[k] * s
                other[k, s] = best_si
            # prefix minimum over S <= x
            run = np.inf
            run_arg = 0
            for x in range(g + 1):
                if val[k, x] < run:
                    run = val[k, x]
                    run_arg = x
                val[k, x] = run
                arg[k, x] = run_arg
        else:
            # g_k(SI) = A(SI) + min_{S <= SI + T} [h(SI + T - S) + B(S)]
            for si in range(lo_si, hi_si + 1):
                best = np.inf
                best_s = -1
                top = min(hi_s, si + tf[k])
                for s in range(s_lo_u[k], top + 1):
                    nrt = (si - s) * delta + tk
                    if nrt < 0.0:
                        nrt = 0.0
                    if use_tab:
                        v = ctab[k, min(int(nrt + 0.5), last)] + b_out[s] + lin_s[k] * s
                    else:
                        v = ck * math.sqrt(nrt) + b_out[s] + lin_s[k] * s
                    if v < best:
                        best = v
                        best_s = s
                val[k, si] = best + a_in[si] + lin_si[k] * si
                other[k, si] = best_s
            if parent[k] < 0:
                run = np.inf
                run_arg = 0
                for si in range(lo_si, hi_si + 1):
                    if val[k, si] < run:
                        run = val[k, si]
                        run_arg = si
                total += run
                si_sol[k] = run_arg
                s_sol[k] = other[k, run_arg]
            else:
                # suffix minimum over SI >= x
                run = np.inf
                run_arg = g
                for x in range(g, -1, -1):
                    if val[k, x] <= run:
                        run = val[k, x]
                        run_arg = x
                    val[k, x] = run
                    arg[k, x] = run_arg
    # backtrack from the roots downwards through the labels
    for idx in range(n - 1, -1, -1):
        k = order[idx]
        for c_pos in range(child_ptr[k], child_ptr[k + 1]):
            c = child_idx[c_pos]
            if parent_down[c]:
                s_c = arg[c, si_sol[k]]
                s_sol[c] = s_c
                si_sol[c] = other[c, s_c]
            else:
                si_c = arg[c, s_sol[k]]
                si_sol[c] = si_c
                s_sol[c] = other[c, si_c]
    return total, s_sol, si_sol


class TreeDPResult:
    """Raw output of :func:`tree_dp`.

    Attributes:
        value: optimal cost of the tree relaxation on the grid [currency/year].
        service_times: outbound service times from the DP (before repair) [days].
        step: grid step [days].
        exact_grid: whether the grid step divides all time data.
    """

    def __init__(self, value: float, service_times: FloatArray, step: float, exact_grid: bool):
        self.value = value
        self.service_times = service_times
        self.step = step
        self.exact_grid = exact_grid


def _peel_order(n: int, tree_up: IntArray, tree_down: IntArray) -> tuple[IntArray, IntArray, BoolArray]:
    """Leaf-peeling labels, parent of each stage (-1 for roots) and arc direction to parent."""
    adj: list[list[tuple[int, bool]]] = [[] for _ in range(n)]
    for u, v in zip(tree_up.tolist(), tree_down.tolist(), strict=True):
        adj[u].append((v, True))   # from u, neighbour v is downstream
        adj[v].append((u, False))  # from v, neighbour u is upstream
    degree = [len(a) for a in adj]
    removed = [False] * n
    parent = np.full(n, -1, dtype=np.int64)
    parent_down = np.zeros(n, dtype=np.bool_)
    order: list[int] = []
    queue = deque(i for i in range(n) if degree[i] <= 1)
    while queue:
        k = queue.popleft()
        if removed[k]:
            continue
        removed[k] = True
        order.append(k)
        for nb, is_down in adj[k]:
            if not removed[nb]:
                parent[k] = nb
                parent_down[k] = is_down
                degree[nb] -= 1
                if degree[nb] == 1:
                    queue.append(nb)
                break
    if len(order) != n:
        raise ValueError("tree_dp: the arcs given as a tree contain an undirected cycle")
    return np.asarray(order, dtype=np.int64), parent, parent_down


def spanning_tree(network: GSMNetwork, holding_rate: float = 1.0) -> IntArray:
    """Arc indices of a maximum-weight spanning forest of the undirected network.

    An arc weighs the cost coefficient of its downstream stage plus that of its upstream
    stage, so the arcs whose relaxation would distort the costliest stages are kept.

    Args:
        network: the network.
        holding_rate: annual holding rate [1/year] (only scales the weights).
    """
    coef = network.cost_coefficients(holding_rate)
    w = coef[network.edge_down] + 0.5 * coef[network.edge_up]
    order = np.argsort(-w, kind="stable")
    parent = list(range(network.n_stages))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    keep: list[int] = []
    for e in order.tolist():
        ru, rv = find(int(network.edge_up[e])), find(int(network.edge_down[e]))
        if ru != rv:
            parent[ru] = rv
            keep.append(e)
    return np.asarray(sorted(keep), dtype=np.int64)


def repair_service_times(network: GSMNetwork, service_times: FloatArray) -> FloatArray:
    """Make service times feasible on the whole network, raising no stage's NRT needlessly.

    In topological order ``SI_j`` is recomputed from all suppliers and ``S_j`` is clipped to
    ``[0, min(max_service_time_j, SI_j + T_j)]``. On the network whose constraints produced
    ``S`` this never increases the cost.

    Args:
        network: the network.
        service_times: candidate outbound service times [days].

    Returns:
        Feasible outbound service times [days].
    """
    s = np.clip(np.asarray(service_times, dtype=np.float64), 0.0, None).copy()
    up = network.edge_up
    in_start, in_edges = network._in_start, network._in_edges
    for j in network.topological_order.tolist():
        ins = in_edges[in_start[j]:in_start[j + 1]]
        si = network.external_inbound[j]
        if ins.size:
            si = max(si, float(s[up[ins]].max()))
        s[j] = min(s[j], si + network.stage_time[j], network.max_service_time[j])
    return s


class GridData:
    """Service-time grid data shared by the DP, the local search and the branch and bound.

    Attributes:
        step: grid step [days].
        exact: whether ``step`` divides all stage, maximum-service and external times.
        lower: whether the data describe the *relaxed* grid problem (valid lower bound on the
            continuous problem even when the grid is not exact) instead of the restricted one
            (whose solutions are feasible).
        tf: stage time in grid steps used in ``S_j <= SI_j + T_j``.
        tcost: stage time [days] used in the cost ``sqrt((SI - S) step + tcost)``.
        ext_u, simax_u: bounds on ``SI_j`` [grid steps].
        s_lo_u, smax_u: bounds on ``S_j`` [grid steps].
        g: largest grid index.
        coef: cost coefficient per stage [currency/year/sqrt(day)].
        ctab: with a ``safety_stock_table``, the cost of stage ``j`` at a net replenishment
            time of ``tau`` days, ``holding_rate v_j SS_j(tau)`` [currency/year]; else a
            ``(n, 1)`` placeholder.
        use_tab: whether ``ctab`` replaces ``coef sqrt(NRT)``.
    """

    def __init__(self, network: GSMNetwork, holding_rate: float, step: float | None = None,
                 lower: bool = False, max_steps: int | None = None):
        n = network.n_stages
        self.use_tab = network.has_table
        if self.use_tab:
            # the table is indexed by whole days: a grid of 1 day is exact (times are whole)
            if step is not None and step != 1.0:
                raise ValueError(f"{network.name}: a safety_stock_table needs the grid step 1 day, got {step}")
            step = 1.0
        if step is None:
            if max_steps is None:
                max_steps = int(min(4000, 5.0e6 / max(n, 1), max(60, math.sqrt(2.0e9 / max(n, 1)))))
            step, exact = choose_resolution(network, max_steps=max_steps)
        else:
            vals = np.concatenate([network.stage_time, network.external_inbound,
                                   network.max_service_time[np.isfinite(network.max_service_time)]])
            exact = bool(np.all(np.abs(vals / step - np.round(vals / step)) < 1e-6))
        eps = 1e-6
        relaxed = lower and not exact
        t = network.stage_time / step
        if relaxed:
            tf = np.ceil(t - eps)
            tcost = network.stage_time - step
        else:
            tf = np.floor(t + eps)
            tcost = network.stage_time.copy()
        ext = network.external_inbound / step
        ext_u = np.floor(ext + eps) if relaxed else np.ceil(ext - eps)
        maxs = network.max_service_time
        big = 10 ** 9
        finite = np.isfinite(maxs)
        maxs_u = np.where(finite, np.floor(np.where(finite, maxs, 0.0) / step + eps), big)
        self.tf = tf.astype(np.int64)
        self.ext_u = ext_u.astype(np.int64)
        simax_u = self.ext_u.copy()
        smax_u = np.zeros(n, dtype=np.int64)
        up = network.edge_up
        in_start, in_edges = network._in_start, network._in_edges
        for j in network.topological_order.tolist():
            ins = in_edges[in_start[j]:in_start[j + 1]]
            if ins.size:
                simax_u[j] = max(simax_u[j], int(smax_u[up[ins]].max()))
            smax_u[j] = min(int(maxs_u[j]), simax_u[j] + self.tf[j])
        self.simax_u = simax_u
        self.smax_u = smax_u
        self.s_lo_u = np.zeros(n, dtype=np.int64)
        self.g = int(max(simax_u.max(initial=0), smax_u.max(initial=0)))
        self.tcost = np.asarray(tcost, dtype=np.float64)
        self.step = float(step)
        self.exact = exact
        self.lower = lower
        self.coef = network.cost_coefficients(holding_rate)
        if network.safety_stock_table is not None:
            self.ctab = holding_rate * network.value[:, None] * network.safety_stock_table
        else:
            self.ctab = np.zeros((n, 1))


def tree_dp(
    network: GSMNetwork,
    holding_rate: float,
    tree_edges: IntArray | None = None,
    step: float | None = None,
    lower: bool = False,
    grid: GridData | None = None,
) -> TreeDPResult:
    """Run the Graves-Willems DP on the network or on a spanning tree of it.

    Args:
        network: the network.
        holding_rate: annual holding rate [1/year].
        tree_edges: indices of the arcs forming a spanning forest; all arcs when ``None``
            (then the network must be a forest).
        step: grid step [days]; chosen by :func:`choose_resolution` when ``None``.
        lower: solve the relaxed grid problem whose value bounds the continuous optimum from
            below even on an inexact grid (its service times may be infeasible).
        grid: precomputed grid data (overrides ``step`` and ``lower``).

    Returns:
        The DP value and service times on the grid.

    Raises:
        ValueError: if the arcs contain an undirected cycle.
    """
    n = network.n_stages
    if tree_edges is None:
        tree_edges = np.arange(network.n_edges, dtype=np.int64)
    gd = grid if grid is not None else GridData(network, holding_rate, step=step, lower=lower)
    order, parent, parent_down = _peel_order(n, network.edge_up[tree_edges], network.edge_down[tree_edges])
    child_order = np.argsort(parent, kind="stable")
    child_order = child_order[parent[child_order] >= 0].astype(np.int64)
    child_ptr = np.searchsorted(parent[child_order], np.arange(n + 1)).astype(np.int64)
    zeros = np.zeros(n)
    total, s_u, _ = _dp_kernel(order, parent, parent_down, child_ptr, child_order, gd.tf, gd.tcost,
                               gd.step, gd.coef, gd.ext_u, gd.simax_u, gd.s_lo_u, gd.smax_u, gd.g,
                               zeros, zeros, gd.ctab, gd.use_tab)
    return TreeDPResult(float(total), s_u.astype(np.float64) * gd.step, gd.step, gd.exact)


def solve_tree(network: GSMNetwork, holding_rate: float, step: float | None = None) -> GSMSolution:
    """Exact GSM for a network whose undirected graph is a tree (or forest).

    Args:
        network: the network (no undirected cycles).
        holding_rate: annual holding rate [1/year].
        step: grid step [days]; automatic when ``None``.

    Returns:
        The optimal policy (``gap`` 0 when the grid is exact).

    Raises:
        ValueError: if the network has an undirected cycle.
    """
    if not network.is_spanning_forest():
        raise ValueError(f"{network.name}: field 'edges' has an undirected cycle; use milp or heuristic")
    t0 = time.perf_counter()
    res = tree_dp(network, holding_rate, step=step)
    s = repair_service_times(network, res.service_times)
    bound = res.value
    if not res.exact_grid:
        bound = tree_dp(network, holding_rate, step=res.step, lower=True).value
    seconds = time.perf_counter() - t0
    return make_solution(
        network, s, holding_rate, method="tree", seconds=seconds,
        lower_bound=bound,
        info={"step_days": res.step, "exact_grid": res.exact_grid, "dp_value": res.value},
    )
