"""Numba kernels of the multi-echelon network simulation.

Everything here takes flat arrays (CSR over networks, stages and arcs), packed by meaning
into the named tuples of :mod:`._packed`, and writes into a preallocated output;
validation, conversion and seeding live in :mod:`.engine`.

Layout (``g`` = global stage position, ``a`` = global arc position):

* ``net_stage_ptr[i]:net_stage_ptr[i+1]`` are the stages of network ``i`` in topological
  order (every supplier before its customers); ``net_arc_ptr`` likewise for its arcs.
* ``st_in_ptr[g]:st_in_ptr[g+1]`` are the inbound arcs of stage ``g`` (arcs are sorted
  by downstream stage); a stage without a supplier stage has one arc with ``arc_src = -1``
  (the external, uncapacitated supplier).
* ``out_arcs[st_out_ptr[g]:st_out_ptr[g+1]]`` are the outbound arcs of stage ``g``.
* distributions are CSR inverse-CDF tables ``(cdf, guide, ptr, off)``; ``guide`` (same
  layout as ``cdf``) is the Chen-Asau guide table that makes inverse-CDF sampling O(1).
* per-period demand: a stage with a demand cycle of ``n = stage_i[g, _S_DLEN] > 1``
  periods draws period ``t``'s demand from distribution ``d_sched[stage_i[g, _S_DEM] +
  t % n]``.
* correlated demand (``dtab.joint_net[i, 1] = H > 0``): in period ``t`` the common draw
  of the network picks a historical period ``h`` (:func:`._rng.history_row`), and a stage
  with ``rank = joint_rank[joint_net[i, 0] + h * stages + j] >= 0`` draws its demand from
  :func:`._rng.joint_uniform` (its own draw moved into slice ``rank`` of ``H``).

Period ``t`` of one replication:

1. shipments due at ``t`` arrive; complete kits of components (``quantity_per`` of each
   inbound arc) become finished units, after the stage's processing time;
2. at review epochs (``t % review_period == 0``), stages place orders, downstream first,
   so an upstream stage sees this period's orders of its customers in its inventory
   position; orders to the external supplier ship at once;
3. stages ship, upstream first: customer backorders first, then the owed downstream
   orders (FIFO by order period, or proportional to what is owed); a shipment on arc
   ``a`` sent in period ``t`` arrives at ``t + L`` with ``L`` drawn from the arc's
   lead-time PMF (with order crossing), or at ``max(t + L, previous arrival)``
   (without crossing); ``L = 0`` arrives at once;
4. external demand at customer-facing stages is filled from on-hand stock, the rest is
   backordered or lost;
5. end-of-period measurements (after the warm-up).

Cycle service level (type 1) is per replenishment cycle, as in :mod:`.single_stage`:
each review epoch ``t`` closes one cycle, which ends in the period before the order of
review ``t`` is available (nominally: ``t`` plus the lead time drawn for the lane in
period ``t``, the latest lane for an assembly, no earlier than the lane's last arrival
without crossing, plus the stage's processing time). The cycle is free of stock-outs when, at the end of that period, the stage
owes nothing to its customers (no backorders, no unshipped downstream orders, no demand
short in the period). With a fixed lead time ``L`` and review period ``R`` a single
stage under base-stock ``S`` thus gives ``P(demand over R + L periods <= S)``.

An order placed in period ``t`` with lead time ``L`` can therefore serve demand from
period ``t + L`` on: a single stage under base-stock ``S`` ends period ``t + L`` with net
inventory ``S - D[t..t+L]`` (``L + 1`` periods of demand).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._packed import DemandTables, LeadTimeTables, Networks, Policies, PositionBuffers, RunSettings
from ._rng import (
    _GOLDEN,
    STREAM_COMMON,
    STREAM_DEMAND,
    STREAM_LEAD_TIME,
    history_row,
    joint_uniform,
    mix64,
    sample_guided,
    stream_key,
    uniform_at,
)

# policy codes
POLICY_BASE_STOCK = 0
POLICY_ECHELON_BASE_STOCK = 1
POLICY_SS = 2
POLICY_RQ = 3

ALLOC_FIFO = 0
ALLOC_PROPORTIONAL = 1

# output metrics (per replication, per stage)
M_DEMAND = 0  # units demanded per period (external demand + downstream orders)
M_FILL_RATE = 1  # type 2
M_CYCLE_SERVICE = 2  # type 1: fraction of replenishment cycles without stock-out
M_READY_RATE = 3  # type 3: fraction of periods ending with on-hand > 0
M_ON_HAND = 4  # mean end-of-period on-hand
M_BACKORDERS = 5  # mean end-of-period customer backorders
M_OWED_DOWNSTREAM = 6  # mean end-of-period downstream orders not yet shipped
M_LOST_SALES = 7  # units lost per period
M_IN_TRANSIT_OUT = 8  # mean units in transit from this stage to its customers
M_IN_TRANSIT_IN = 9  # mean units in transit to this stage (supplier units)
M_ORDER_FREQUENCY = 10  # orders placed per period
M_ORDER_QUANTITY = 11  # units ordered per period
N_METRICS = 12
# scratch accumulators after the metrics: replenishment cycles ended, and without stock-out
A_CYCLES = N_METRICS
A_CYCLES_OK = N_METRICS + 1
N_ACC = N_METRICS + 2

# columns of the packed static arrays (see ``engine._concatenate``)
_N_S0, _N_S1, _N_A0, _N_A1, _N_CAL, _N_PCAL, _N_ECH = 0, 1, 2, 3, 4, 5, 6
N_NET_FIELDS = 7
# _S_DEM: the stage's demand distribution (-1: none) or, when its demand cycle is longer
# than one period (_S_DLEN > 1), the position of the cycle's first entry in ``d_sched``
_S_IN0, _S_IN1, _S_OUT0, _S_OUT1, _S_DEM, _S_PROC, _S_KEY, _S_TYPE, _S_REVIEW, _S_DLEN = range(10)
N_STAGE_INT_FIELDS = 10
_F_S, _F_BIGS, _F_Q, _F_MOQ, _F_MULT, _F_CAP, _F_INIT = 0, 1, 2, 3, 4, 5, 6
N_STAGE_FLOAT_FIELDS = 7
_A_SRC, _A_DST, _A_LT, _A_KEY = 0, 1, 2, 3
N_ARC_INT_FIELDS = 4

# columns of the per-stage state ``ss`` and the per-arc state ``sa`` (one 2-D array each
# keeps the number of live base pointers, hence register spills, small)
_OH, _BO, _OUT, _INP, _OWED, _ITO, _ITI, _ECH = 0, 1, 2, 3, 4, 5, 6, 7
_N_STAGE_STATE = 8
_COMP, _AOWED, _NEW, _SHIP = 0, 1, 2, 3
_N_ARC_STATE = 4

_RING = 16  # FIFO order-queue slots per arc (overflow merges into the newest entry)
_EPS = 1e-9


@nb.njit(cache=True, nogil=True)
def _order_quantity(
    ptype: int,
    s: float,
    big_s: float,
    q: float,
    moq: float,
    mult: float,
    cap: float,
    ip: float,
    echelon_ip: float,
) -> float:
    """Order size [units] of one review for the stage's policy and order modifiers."""
    x = 0.0
    if ptype == POLICY_BASE_STOCK:
        x = big_s - ip
    elif ptype == POLICY_ECHELON_BASE_STOCK:
        x = big_s - echelon_ip
    elif ptype == POLICY_SS:
        if ip <= s:
            x = big_s - ip
    elif ptype == POLICY_RQ:
        if ip <= s:
            x = (math.floor((s - ip) / q) + 1.0) * q
    if x <= _EPS:
        return 0.0
    if x < moq:
        x = moq
    if mult > 0.0:
        x = math.ceil(x / mult - _EPS) * mult
    if x > cap:
        x = cap
    return x


@nb.njit(cache=True, nogil=True, inline="always")
def _count_position(ptr: np.ndarray, hx: np.ndarray, hy: np.ndarray, tail: np.ndarray, grp: int, g: int,
                    x: float, d: float) -> None:
    """Count ``X = x`` and ``max(X - d, 0)`` of stage ``g`` in group ``grp`` (see ``PositionBuffers``)."""
    cap = ptr[g + 1] - ptr[g] - 1
    xi = int(round(x))
    yi = max(int(round(x - d)), 0)
    if xi <= cap:
        hx[grp, ptr[g] + xi] += 1.0
    else:
        tail[grp, g, 0] += 1.0
        tail[grp, g, 1] += xi
    if yi <= cap:
        hy[grp, ptr[g] + yi] += 1.0
    else:
        tail[grp, g, 2] += 1.0
        tail[grp, g, 3] += yi
    tail[grp, g, 4] += d


@nb.njit(cache=True, nogil=True)
def _simulate_network(
    i: int,
    nets: Networks,
    pols: Policies,
    dtab: DemandTables,
    ltab: LeadTimeTables,
    run: RunSettings,
    out: np.ndarray,
    hist: PositionBuffers,
) -> None:
    # the fields this kernel reads, as locals (by name: a new field changes nothing here)
    net_i, net_seed, stage_i, arc_i = nets.net_i, nets.net_seed, nets.stage_i, nets.arc_i
    out_arcs, arc_qp = nets.out_arcs, nets.arc_qp
    stage_f = pols.stage_f
    d_cdf, d_guide, d_ptr, d_off, d_sched = dtab.cdf, dtab.guide, dtab.ptr, dtab.off, dtab.sched
    l_cdf, l_guide, l_ptr, l_off = ltab.cdf, ltab.guide, ltab.ptr, ltab.off
    n_reps, n_total, warmup = run.n_reps, run.n_total, run.warmup
    backorders, crossing, alloc = run.backorders, run.crossing, run.alloc
    h_on, h_groups, h_ptr, h_x, h_y, h_tail = hist.on, hist.groups, hist.ptr, hist.x_counts, hist.y_counts, hist.tails
    j_rank = dtab.joint_rank
    j_off = dtab.joint_net[i, 0]
    j_h = dtab.joint_net[i, 1]  # historical periods of correlated demand (0: none)
    j_width = np.uint64(dtab.joint_net[i, 2])
    s0 = net_i[i, _N_S0]
    ns = net_i[i, _N_S1] - s0
    a0 = net_i[i, _N_A0]
    na = net_i[i, _N_A1] - a0
    cal = net_i[i, _N_CAL]  # power of two > longest lead time
    cmask = cal - 1
    pcal = net_i[i, _N_PCAL]
    seed = net_seed[i]
    echelon = net_i[i, _N_ECH]

    process_cal = np.zeros(ns * pcal)
    ss = np.zeros((ns, _N_STAGE_STATE))  # per-stage state, columns _OH.._ECH
    sa = np.zeros((na, _N_ARC_STATE))  # per-arc state, columns _COMP.._SHIP
    pending = np.zeros(ns, dtype=np.bool_)
    dkeys = np.zeros(ns, dtype=np.uint64)

    arrivals = np.zeros(na * cal)
    last_arrival = np.zeros(na, dtype=np.int64)
    lkeys = np.zeros(na, dtype=np.uint64)
    lfix = np.zeros(na, dtype=np.int64)  # deterministic lead time, or -1
    ring_t = np.zeros(na * _RING, dtype=np.int64)
    ring_q = np.zeros(na * _RING)
    ring_head = np.zeros(na, dtype=np.int64)
    ring_len = np.zeros(na, dtype=np.int64)

    acc = np.zeros((ns, N_ACC))
    n_measured = n_total - warmup
    ccal = cal  # cycle-end calendar: a power of two > longest lead + processing time
    while ccal < cal + pcal:
        ccal <<= 1
    ccmask = ccal - 1
    cyc = np.zeros(ns * ccal, dtype=np.int64)  # replenishment cycles ending in a period
    prev_ok = np.zeros(ns, dtype=np.bool_)  # no stock-out at the end of the previous period
    ckey = np.uint64(0)  # the network's common stream (correlated demand)
    j_row = -1  # this period's row of ranks in j_rank (-1: independent draws)

    for r in range(n_reps):
        # ---- reset -------------------------------------------------------------------
        for j in range(ns):
            g = s0 + j
            ss[j, _OH] = stage_f[g, _F_INIT]
            ss[j, _BO] = 0.0
            ss[j, _OUT] = 0.0
            ss[j, _INP] = 0.0
            ss[j, _OWED] = 0.0
            ss[j, _ITO] = 0.0
            ss[j, _ITI] = 0.0
            pending[j] = False
            ss[j, _ECH] = 0.0
            dkeys[j] = stream_key(seed, r, STREAM_DEMAND, stage_i[g, _S_KEY])
        process_cal[:] = 0.0
        ckey = stream_key(seed, r, STREAM_COMMON, 0)
        for a in range(na):
            sa[a, _COMP] = 0.0
            sa[a, _AOWED] = 0.0
            sa[a, _NEW] = 0.0
            last_arrival[a] = 0
            ring_head[a] = 0
            ring_len[a] = 0
            lkeys[a] = stream_key(seed, r, STREAM_LEAD_TIME, arc_i[a0 + a, _A_KEY])
            li = arc_i[a0 + a, _A_LT]
            lfix[a] = l_off[li] if l_ptr[li + 1] - l_ptr[li] == 1 else -1
        arrivals[:] = 0.0
        acc[:, :] = 0.0
        cyc[:] = 0
        prev_ok[:] = True

        for t in range(n_total):
            measure = t >= warmup
            slot = t & cmask
            pslot = t % pcal if pcal > 1 else 0
            if j_h > 0:  # correlated demand: this period's historical period
                j_row = j_off + np.int64(history_row(mix64(ckey + np.uint64(t) * _GOLDEN), np.uint64(j_h))) * ns
            # ---- pass A, downstream first: 1. receipts and kitting, 2. orders ------------
            for j in range(ns - 1, -1, -1):
                g = s0 + j
                k0 = stage_i[g, _S_IN0]
                k1 = stage_i[g, _S_IN1]
                got = False
                for ag in range(k0, k1):
                    al = ag - a0
                    q = arrivals[al * cal + slot]
                    if q != 0.0:
                        arrivals[al * cal + slot] = 0.0
                        sa[al, _COMP] += q
                        ss[j, _ITI] -= q
                        src = arc_i[ag, _A_SRC]
                        if src >= 0:
                            ss[src - s0, _ITO] -= q
                        got = True
                if pcal > 1:
                    q = process_cal[j * pcal + pslot]
                    if q != 0.0:
                        process_cal[j * pcal + pslot] = 0.0
                        ss[j, _OH] += q
                        ss[j, _INP] -= q
                if got:
                    # complete kits of received components become finished units
                    # (the inventory position does not change)
                    if k1 - k0 == 1 and arc_qp[k0] == 1.0:
                        made = sa[k0 - a0, _COMP]
                        sa[k0 - a0, _COMP] = 0.0
                    else:
                        made = np.inf
                        for ag in range(k0, k1):
                            made = min(made, sa[ag - a0, _COMP] / arc_qp[ag])
                        made = np.floor(made + _EPS)  # whole kits only: a plant builds no half unit
                        if made > 0.0:
                            for ag in range(k0, k1):
                                sa[ag - a0, _COMP] = max(sa[ag - a0, _COMP] - made * arc_qp[ag], 0.0)
                    if made > 0.0:
                        ss[j, _OUT] -= made
                        p = stage_i[g, _S_PROC]
                        if p == 0:
                            ss[j, _OH] += made
                        else:
                            process_cal[j * pcal + (t + p) % pcal] += made
                            ss[j, _INP] += made

                ip = ss[j, _OH] + ss[j, _INP] + ss[j, _OUT] - ss[j, _BO] - ss[j, _OWED]
                if echelon:
                    e = ip
                    for k in range(stage_i[g, _S_OUT0], stage_i[g, _S_OUT1]):
                        ag = out_arcs[k]
                        e += arc_qp[ag] * ss[arc_i[ag, _A_DST] - s0, _ECH]
                    ss[j, _ECH] = e
                review = stage_i[g, _S_REVIEW]
                if review > 1 and t % review != 0:
                    continue
                # the replenishment cycle this review closes ends before its order is
                # available (arrival plus processing time)
                due = t
                for ag in range(k0, k1):
                    al = ag - a0
                    lead = lfix[al]
                    if lead < 0:
                        li = arc_i[ag, _A_LT]
                        lead = sample_guided(l_cdf, l_guide, l_ptr[li], l_ptr[li + 1], l_off[li],
                                             uniform_at(lkeys[al], t))
                    da = t + lead
                    if not crossing and da < last_arrival[al]:
                        da = last_arrival[al]
                    if da > due:
                        due = da
                due += stage_i[g, _S_PROC]
                if due == t:  # it ended with the previous period
                    if t - 1 >= warmup:
                        acc[j, A_CYCLES] += 1.0
                        acc[j, A_CYCLES_OK] += 1.0 if prev_ok[j] else 0.0
                else:
                    cyc[j * ccal + ((due - 1) & ccmask)] += 1
                x = _order_quantity(
                    stage_i[g, _S_TYPE], stage_f[g, _F_S], stage_f[g, _F_BIGS], stage_f[g, _F_Q],
                    stage_f[g, _F_MOQ], stage_f[g, _F_MULT], stage_f[g, _F_CAP], ip, ss[j, _ECH],
                )
                if x <= 0.0:
                    continue
                ss[j, _OUT] += x
                ss[j, _ECH] += x
                if measure:
                    acc[j, M_ORDER_FREQUENCY] += 1.0
                    acc[j, M_ORDER_QUANTITY] += x
                for ag in range(k0, k1):
                    al = ag - a0
                    q = x * arc_qp[ag]
                    src = arc_i[ag, _A_SRC]
                    if src < 0:
                        # external supplier: ships at once
                        lead = lfix[al]
                        if lead < 0:
                            li = arc_i[ag, _A_LT]
                            lead = sample_guided(l_cdf, l_guide, l_ptr[li], l_ptr[li + 1], l_off[li],
                                                 uniform_at(lkeys[al], t))
                        due = t + lead
                        if not crossing:
                            if due < last_arrival[al]:
                                due = last_arrival[al]
                            last_arrival[al] = due
                        if due == t:
                            sa[al, _COMP] += q
                            pending[j] = True
                        else:
                            arrivals[al * cal + (due & cmask)] += q
                            ss[j, _ITI] += q
                    else:
                        sa[al, _AOWED] += q
                        sa[al, _NEW] += q
                        ss[src - s0, _OWED] += q
                        if alloc == ALLOC_FIFO and stage_i[src, _S_OUT1] - stage_i[src, _S_OUT0] > 1:
                            n = ring_len[al]
                            if n == _RING:
                                ring_q[al * _RING + (ring_head[al] + n - 1) % _RING] += q
                            else:
                                pos = al * _RING + (ring_head[al] + n) % _RING
                                ring_t[pos] = t
                                ring_q[pos] = q
                                ring_len[al] = n + 1

            # ---- pass B, upstream first: 3. shipments, 4. demand, 5. measurements --------
            for j in range(ns):
                g = s0 + j
                short = False
                d_new = 0.0  # units demanded of the stage this period (position histograms)
                if pending[j]:
                    # zero-lead-time deliveries of this period
                    pending[j] = False
                    k0 = stage_i[g, _S_IN0]
                    k1 = stage_i[g, _S_IN1]
                    if k1 - k0 == 1 and arc_qp[k0] == 1.0:
                        made = sa[k0 - a0, _COMP]
                        sa[k0 - a0, _COMP] = 0.0
                    else:
                        made = np.inf
                        for ag in range(k0, k1):
                            made = min(made, sa[ag - a0, _COMP] / arc_qp[ag])
                        made = np.floor(made + _EPS)  # whole kits only: a plant builds no half unit
                        if made > 0.0:
                            for ag in range(k0, k1):
                                sa[ag - a0, _COMP] = max(sa[ag - a0, _COMP] - made * arc_qp[ag], 0.0)
                    if made > 0.0:
                        ss[j, _OUT] -= made
                        p = stage_i[g, _S_PROC]
                        if p == 0:
                            ss[j, _OH] += made
                        else:
                            process_cal[j * pcal + (t + p) % pcal] += made
                            ss[j, _INP] += made
                oh = ss[j, _OH]
                if ss[j, _BO] > 0.0 and oh > 0.0:
                    f = min(oh, ss[j, _BO])
                    ss[j, _BO] -= f
                    oh -= f
                total = ss[j, _OWED]
                if total > 0.0:
                    k0 = stage_i[g, _S_OUT0]
                    k1 = stage_i[g, _S_OUT1]
                    if k1 - k0 == 1:
                        al = out_arcs[k0] - a0
                        q = total if oh >= total - _EPS else max(oh, 0.0)
                        sa[al, _SHIP] = q
                        oh = max(oh - q, 0.0)
                    elif oh >= total - _EPS:
                        for k in range(k0, k1):
                            al = out_arcs[k] - a0
                            sa[al, _SHIP] = sa[al, _AOWED]
                            ring_len[al] = 0
                            ring_head[al] = 0
                        oh = max(oh - total, 0.0)
                    elif oh <= 0.0:
                        for k in range(k0, k1):
                            sa[out_arcs[k] - a0, _SHIP] = 0.0
                    elif alloc == ALLOC_PROPORTIONAL:
                        rem = oh
                        for k in range(k0, k1):
                            al = out_arcs[k] - a0
                            f = float(math.floor(oh * sa[al, _AOWED] / total))
                            sa[al, _SHIP] = f
                            rem -= f
                        for k in range(k0, k1):
                            if rem <= 0.0:
                                break
                            al = out_arcs[k] - a0
                            f = min(rem, sa[al, _AOWED] - sa[al, _SHIP])
                            sa[al, _SHIP] += f
                            rem -= f
                        oh = max(rem, 0.0)
                    else:
                        for k in range(k0, k1):
                            sa[out_arcs[k] - a0, _SHIP] = 0.0
                        rem = oh
                        while rem > _EPS:
                            best = -1
                            best_t = n_total + 1
                            for k in range(k0, k1):
                                al = out_arcs[k] - a0
                                if ring_len[al] > 0:
                                    tt = ring_t[al * _RING + ring_head[al]]
                                    if tt < best_t:
                                        best_t = tt
                                        best = al
                            if best < 0:
                                break
                            pos = best * _RING + ring_head[best]
                            f = min(rem, ring_q[pos])
                            sa[best, _SHIP] += f
                            rem -= f
                            ring_q[pos] -= f
                            if ring_q[pos] <= _EPS:
                                ring_head[best] = (ring_head[best] + 1) % _RING
                                ring_len[best] -= 1
                        oh = max(rem, 0.0)
                    for k in range(k0, k1):
                        ag = out_arcs[k]
                        al = ag - a0
                        q = sa[al, _SHIP]
                        before = sa[al, _AOWED]
                        if q > 0.0:
                            sa[al, _AOWED] = max(before - q, 0.0)
                            ss[j, _OWED] -= q
                            d = arc_i[ag, _A_DST] - s0
                            lead = lfix[al]
                            if lead < 0:
                                li = arc_i[ag, _A_LT]
                                lead = sample_guided(l_cdf, l_guide, l_ptr[li], l_ptr[li + 1],
                                                     l_off[li], uniform_at(lkeys[al], t))
                            due = t + lead
                            if not crossing:
                                if due < last_arrival[al]:
                                    due = last_arrival[al]
                                last_arrival[al] = due
                            if due == t:
                                sa[al, _COMP] += q
                                pending[d] = True
                            else:
                                arrivals[al * cal + (due & cmask)] += q
                                ss[j, _ITO] += q
                                ss[d, _ITI] += q
                        nw = sa[al, _NEW]
                        if nw > 0.0:
                            filled_new = min(max(q - (before - nw), 0.0), nw)
                            if filled_new < nw - _EPS:
                                short = True
                            if measure:
                                acc[j, M_DEMAND] += nw
                                acc[j, M_FILL_RATE] += filled_new
                            d_new += nw
                            sa[al, _NEW] = 0.0
                    if ss[j, _OWED] < _EPS:
                        ss[j, _OWED] = 0.0
                di = stage_i[g, _S_DEM]
                if di >= 0:
                    n_cycle = stage_i[g, _S_DLEN]
                    if n_cycle > 1:  # per-period demand: this period's distribution
                        di = d_sched[di + t % n_cycle]
                    lo = d_ptr[di]
                    hi = d_ptr[di + 1]
                    if hi - lo == 1:
                        d = d_off[di]
                    elif j_row < 0:
                        d = sample_guided(d_cdf, d_guide, lo, hi, d_off[di], uniform_at(dkeys[j], t))
                    else:
                        d = sample_guided(d_cdf, d_guide, lo, hi, d_off[di],
                                          joint_uniform(dkeys[j], t, j_rank[j_row + j], j_width))
                    if d > 0:
                        dem = float(d)
                        f = dem if oh >= dem else max(oh, 0.0)
                        oh -= f
                        miss = dem - f
                        if miss > 0.0:
                            short = True
                            if backorders:
                                ss[j, _BO] += miss
                            elif measure:
                                acc[j, M_LOST_SALES] += miss
                        if measure:
                            acc[j, M_DEMAND] += dem
                            acc[j, M_FILL_RATE] += f
                        d_new += dem
                ss[j, _OH] = oh
                ok = not short and ss[j, _BO] <= _EPS and ss[j, _OWED] <= _EPS
                prev_ok[j] = ok
                n_end = cyc[j * ccal + (t & ccmask)]
                if n_end > 0:
                    cyc[j * ccal + (t & ccmask)] = 0
                    if measure:
                        acc[j, A_CYCLES] += n_end
                        acc[j, A_CYCLES_OK] += n_end if ok else 0.0
                if measure:
                    acc[j, M_READY_RATE] += 1.0 if oh > _EPS else 0.0
                    acc[j, M_ON_HAND] += oh
                    acc[j, M_BACKORDERS] += ss[j, _BO]
                    acc[j, M_OWED_DOWNSTREAM] += ss[j, _OWED]
                    acc[j, M_IN_TRANSIT_OUT] += ss[j, _ITO]
                    acc[j, M_IN_TRANSIT_IN] += ss[j, _ITI]
                    if h_on and h_ptr[g + 1] > h_ptr[g]:
                        _count_position(h_ptr, h_x, h_y, h_tail, r % h_groups, g,
                                        stage_f[g, _F_BIGS] - (oh - ss[j, _BO] - ss[j, _OWED]), d_new)

        # ---- per-replication means -----------------------------------------------------
        inv = 1.0 / n_measured
        for j in range(ns):
            g = s0 + j
            for m in range(N_METRICS):
                out[m, r, g] = acc[j, m] * inv
            dem = acc[j, M_DEMAND]
            out[M_FILL_RATE, r, g] = acc[j, M_FILL_RATE] / dem if dem > 0.0 else np.nan
            n_cyc = acc[j, A_CYCLES]
            out[M_CYCLE_SERVICE, r, g] = acc[j, A_CYCLES_OK] / n_cyc if n_cyc > 0.0 else np.nan

