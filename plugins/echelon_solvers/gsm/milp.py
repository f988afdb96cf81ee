"""GSM on general acyclic networks as a MILP (HiGHS through :func:`scipy.optimize.milp`).

Variables per stage ``j`` (time measured in grid steps of ``delta`` days): outbound service
time ``S_j``, inbound service time ``SI_j`` and, where the stage has a cost, the increments
``d_jk`` of the incremental piecewise-linear (PWL) formulation of ``sqrt(NRT_j)`` with binaries
``y_jk`` (``y_jk = 1`` when segment ``k`` is full):

* ``SI_j >= S_i`` for every arc ``i -> j``; ``SI_j >= external_j``; ``S_j <= max_service_time_j``;
* ``SI_j + T_j - S_j = sum_k d_jk`` (so ``NRT_j >= 0``);
* ``d_jk >= L_k y_jk`` and ``d_j,k+1 <= L_k+1 y_jk``;
* minimise ``sum_j coef_j sum_k slope_jk d_jk``.

Bound honesty: ``sqrt`` is concave, so its PWL interpolation lies *below* it everywhere on the
breakpoint range; the MILP objective therefore never exceeds the true cost of any feasible
policy and HiGHS' dual bound is a valid lower bound on the true optimum. When all time data
are multiples of the grid step the service times are integer in grid units and the
breakpoints include every reachable NRT value up to ``max_segments`` (then the MILP is exact);
otherwise service times are continuous and the interpolation error shows up in the reported
gap, which is always computed against the policy's exact square-root cost.
"""

from __future__ import annotations

import math
import time

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from .network import GSMNetwork, choose_resolution, require_square_root
from .solution import GSMSolution, make_solution
from .tree_dp import repair_service_times

__all__ = ["solve_milp", "breakpoints"]

FloatArray = npt.NDArray[np.float64]


def breakpoints(top: float, max_segments: int, integer: bool) -> FloatArray:
    """PWL breakpoints on ``[0, top]`` (in grid steps).

    All integers when there are at most ``max_segments`` of them, else integers that grow
    geometrically (dense near 0 where ``sqrt`` bends most).

    Args:
        top: largest net replenishment time [grid steps].
        max_segments: largest number of segments.
        integer: whether NRT values are integers (otherwise fractions are added near 0).
    """
    if top <= 0:
        return np.array([0.0])
    if top <= max_segments:
        pts = np.arange(0.0, math.floor(top) + 1.0)
    else:
        ratio = top ** (1.0 / max(max_segments - 3, 1))
        pts_l: list[float] = [0.0, 1.0]
        x = 1.0
        while x < top:
            x = max(x + 1.0, math.floor(x * ratio))
            pts_l.append(min(x, math.floor(top)))
        pts = np.unique(np.asarray(pts_l))
    if not integer:
        pts = np.unique(np.concatenate([[0.0, 0.25, 0.5], pts]))
    if pts[-1] < top:
        pts = np.append(pts, top)
    return pts[pts <= top + 1e-9]


def solve_milp(
    network: GSMNetwork,
    holding_rate: float,
    time_limit: float = 60.0,
    max_segments: int = 40,
    mip_rel_gap: float = 1e-4,
    step: float | None = None,
) -> GSMSolution:
    """Solve the GSM on an acyclic network by MILP with a PWL square root.

    Args:
        network: the network (any acyclic structure).
        holding_rate: annual holding rate [1/year].
        time_limit: HiGHS time limit [s].
        max_segments: largest number of PWL segments per stage.
        mip_rel_gap: relative MIP gap at which HiGHS stops [fraction].
        step: grid step [days]; automatic when ``None``.

    Returns:
        The best policy found, with ``lower_bound`` from HiGHS' dual bound and ``gap``
        against the exact cost. If HiGHS finds no solution within the time limit the trivial
        policy ``S = 0`` is returned with the bound found.
    """
    require_square_root(network)
    t0 = time.perf_counter()
    n = network.n_stages
    exact = True
    if step is None:
        step, exact = choose_resolution(network, max_steps=400)
    else:
        vals = np.concatenate([network.stage_time, network.external_inbound,
                               network.max_service_time[np.isfinite(network.max_service_time)]])
        exact = bool(np.all(np.abs(vals / step - np.round(vals / step)) < 1e-6))
    coef = network.cost_coefficients(holding_rate)
    t_u = network.stage_time / step
    ext_u = network.external_inbound / step
    si_hi = network.max_inbound / step
    s_hi = network.max_outbound / step
    if exact:
        t_u, ext_u, si_hi, s_hi = (np.round(a) for a in (t_u, ext_u, si_hi, s_hi))
    nrt_top = si_hi + t_u
    # variable layout: S (n), SI (n), then per costed stage d_jk (K_j) and y_jk (K_j - 1)
    costed = np.flatnonzero(coef > 0)
    bps = [breakpoints(float(nrt_top[j]), max_segments, exact) for j in costed.tolist()]
    nseg = np.array([len(b) - 1 for b in bps], dtype=np.int64)
    n_d = int(nseg.sum())
    n_y = int(np.maximum(nseg - 1, 0).sum())
    nv = 2 * n + n_d + n_y
    c = np.zeros(nv)
    lb = np.zeros(nv)
    ub = np.zeros(nv)
    integrality = np.zeros(nv, dtype=np.int64)
    lb[:n], ub[:n] = 0.0, s_hi
    lb[n:2 * n], ub[n:2 * n] = ext_u, np.maximum(si_hi, ext_u)
    if exact:
        integrality[:2 * n] = 1
    rows: list[FloatArray] = []
    cols: list[FloatArray] = []
    vals_l: list[FloatArray] = []
    row_lb: list[FloatArray] = []
    row_ub: list[FloatArray] = []
    nrow = 0

    def add(r: FloatArray, cc: FloatArray, v: FloatArray, lo: FloatArray, hi: FloatArray, count: int) -> None:
        nonlocal nrow
        rows.append(r + nrow)
        cols.append(cc)
        vals_l.append(v)
        row_lb.append(lo)
        row_ub.append(hi)
        nrow += count

    # arcs: SI_j - S_i >= 0
    m = network.n_edges
    if m:
        r = np.arange(m, dtype=np.float64)
        add(np.concatenate([r, r]), np.concatenate([n + network.edge_down, network.edge_up]).astype(np.float64),
            np.concatenate([np.ones(m), -np.ones(m)]), np.zeros(m), np.full(m, np.inf), m)
    # uncosted stages: SI_j - S_j >= -T_j
    free = np.flatnonzero(coef <= 0)
    if free.size:
        r = np.arange(free.size, dtype=np.float64)
        add(np.concatenate([r, r]), np.concatenate([n + free, free]).astype(np.float64),
            np.concatenate([np.ones(free.size), -np.ones(free.size)]), -t_u[free],
            np.full(free.size, np.inf), free.size)
    # costed stages
    d_pos = 2 * n
    y_pos = 2 * n + n_d
    eq_r: list[float] = []
    eq_c: list[float] = []
    eq_v: list[float] = []
    eq_rhs: list[float] = []
    inc_r: list[float] = []
    inc_c: list[float] = []
    inc_v: list[float] = []
    inc_lo: list[float] = []
    inc_hi: list[float] = []
    seg_info: list[tuple[int, int, int]] = []
    for idx, j in enumerate(costed.tolist()):
        b = bps[idx]
        k = len(b) - 1
        eq_row = len(eq_rhs)
        eq_r += [eq_row, eq_row]
        eq_c += [n + j, j]
        eq_v += [1.0, -1.0]
        eq_rhs.append(-float(t_u[j]))
        if k == 0:
            # NRT is forced to 0
            seg_info.append((j, d_pos, 0))
            continue
        seglen = np.diff(b)
        sq = np.sqrt(b * step)
        slope = np.diff(sq) / seglen
        for s_i in range(k):
            dv = d_pos + s_i
            eq_r.append(eq_row)
            eq_c.append(dv)
            eq_v.append(-1.0)
            lb[dv], ub[dv] = 0.0, seglen[s_i]
            c[dv] = coef[j] * slope[s_i]
        for s_i in range(k - 1):
            yv = y_pos + s_i
            integrality[yv] = 1
            lb[yv], ub[yv] = 0.0, 1.0
            row = len(inc_lo)
            # d_k - L_k y_k >= 0
            inc_r += [row, row]
            inc_c += [d_pos + s_i, yv]
            inc_v += [1.0, -seglen[s_i]]
            inc_lo.append(0.0)
            inc_hi.append(np.inf)
            row += 1
            # d_{k+1} - L_{k+1} y_k <= 0
            inc_r += [row, row]
            inc_c += [d_pos + s_i + 1, yv]
            inc_v += [1.0, -seglen[s_i + 1]]
            inc_lo.append(-np.inf)
            inc_hi.append(0.0)
        seg_info.append((j, d_pos, k))
        d_pos += k
        y_pos += k - 1
    if eq_rhs:
        rhs = np.asarray(eq_rhs)
        add(np.asarray(eq_r, dtype=np.float64), np.asarray(eq_c, dtype=np.float64), np.asarray(eq_v),
            rhs, rhs, len(eq_rhs))
    if inc_lo:
        add(np.asarray(inc_r, dtype=np.float64), np.asarray(inc_c, dtype=np.float64), np.asarray(inc_v),
            np.asarray(inc_lo), np.asarray(inc_hi), len(inc_lo))
    a = coo_matrix((np.concatenate(vals_l), (np.concatenate(rows).astype(np.int64),
                                             np.concatenate(cols).astype(np.int64))),
                   shape=(nrow, nv)).tocsr()
    cons = LinearConstraint(a, np.concatenate(row_lb), np.concatenate(row_ub))
    remaining = max(1.0, time_limit - (time.perf_counter() - t0))
    res = milp(c, constraints=cons, integrality=integrality, bounds=Bounds(lb, ub),
               options={"time_limit": remaining, "mip_rel_gap": mip_rel_gap, "disp": False})
    dual = getattr(res, "mip_dual_bound", None)
    if res.x is not None:
        s = repair_service_times(network, np.clip(res.x[:n], 0.0, None) * step)
        if exact:
            s = repair_service_times(network, np.round(s / step) * step)
        pwl_value = float(res.fun)
    else:
        s = np.zeros(n)
        pwl_value = math.inf
    lower = float(dual) if dual is not None and math.isfinite(float(dual)) else 0.0
    if res.status == 0 and dual is None:
        lower = pwl_value
    seconds = time.perf_counter() - t0
    info = {
        "status": int(res.status), "message": str(res.message), "step_days": float(step),
        "exact_grid": exact, "pwl_objective": pwl_value, "n_variables": int(nv),
        "n_binaries": int(integrality.sum()), "n_constraints": int(nrow),
        "nodes": int(getattr(res, "mip_node_count", 0) or 0),
    }
    return make_solution(network, s, holding_rate, method="milp", seconds=seconds,
                         lower_bound=max(lower, 0.0), info=info)
