"""The stage-major tree kernel: installation base stock on trees, one stage's whole path at a time.

:func:`simulate_stage_major` covers the networks of the fast tree kernel
(:mod:`._fast_kernels`: every stage one inbound arc, ``quantity_per = 1``, no processing
time, no MOQ, order multiple or capacity, any review period ``R``, fixed or stochastic
lead times with or without crossing, stationary or per-period demand, correlated demand)
restricted to **installation** base-stock policies with **backorders**, FIFO rationing
where a stage has several customers, in **exact mode** (integer levels and initial stock,
every sum below 2**52, see :func:`.engine._kernel_choice`).

Why it can run stage by stage: under installation base stock with full backorders a
stage's inventory position ``IP = on hand + on order - backorders - owed to customers``
changes only by its own orders (up) and by demand on it (down: external demand, and its
customers' orders the moment they are placed); shipments, arrivals and rationing move
units between the terms of ``IP`` without changing it. So at a review ``t`` a stage orders
``max(S - IP, 0)`` with ``IP = initial stock - demand so far + orders so far``: a function
of the demand draws alone. All order streams therefore follow **bottom-up** from the
draws (a leaf's orders from its demand, an internal stage's from its external demand and
its customers' orders), and the inventory of each stage then follows **top-down**, one
stage's whole replication path at a time: the root receives its orders after its lead
times; a stage ships to its customers (backorders first, then the customers' owed orders,
FIFO, then external demand: the operations and their order of the network kernels) and
records what it shipped to each customer in each period; a customer's arrivals follow from
those shipments and its own lead-time draws.

Every random draw is a pure function of ``(seed, replication, stream, stage/arc,
period)`` (:mod:`._rng`), so drawing a stage's whole path ahead (vectorised, as the
single-stage kernel does) gives the draws of the period-major kernels. In exact mode
every quantity and every metric accumulator is an exact integer (int64 here), so the
different order of the sums leaves every bit unchanged: the output (metrics of every
replication, position histograms) is **bit-identical** to the general and the fast
kernel's (tests compare them on random trees).

Per replication and stage the period loop has no dependence on any other stage in the
same period, its state lives in registers, and its inputs (orders, shipments, draws) are
arrays contiguous in the period.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._kernels import (
    _A_KEY,
    _A_LT,
    _A_SRC,
    _F_BIGS,
    _F_INIT,
    _N_A0,
    _N_CAL,
    _N_S0,
    _N_S1,
    _RING,
    _S_DEM,
    _S_DLEN,
    _S_KEY,
    _S_OUT0,
    _S_OUT1,
    _S_REVIEW,
    A_CYCLES,
    A_CYCLES_OK,
    M_BACKORDERS,
    M_CYCLE_SERVICE,
    M_DEMAND,
    M_FILL_RATE,
    M_IN_TRANSIT_IN,
    M_IN_TRANSIT_OUT,
    M_ON_HAND,
    M_ORDER_FREQUENCY,
    M_ORDER_QUANTITY,
    M_OWED_DOWNSTREAM,
    M_READY_RATE,
    N_ACC,
    N_METRICS,
)
from ._packed import DemandTables, LeadTimeTables, Networks, Policies, PositionBuffers, RunSettings
from ._rng import (
    STREAM_COMMON,
    STREAM_DEMAND,
    STREAM_LEAD_TIME,
    history_row,
    joint_z,
    mix64,
    sample_block,
    sample_drawn,
    sample_threshold,
    stream_key,
)

__all__ = ["STAGE_MAJOR", "simulate_stage_major", "simulate_all"]

#: the kernel choice (``engine._kernel_choice``) of a network for this kernel, beside the
#: codes of :func:`._fast_kernels.simulate_all`
STAGE_MAJOR = 8

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# per-stage integer row (columns)
_PAR, _CH0, _CH1, _DK, _DLO, _DGLO, _DOFF, _DSH, _LFIX, _LLO, _LGLO, _LOFF, _LSH, _CFIX, _REV, _HB, _HCAP = range(17)
_NC = 17


@nb.njit(cache=True, nogil=True)
def _draw(si: np.ndarray, dem: np.ndarray, ltd: np.ndarray, zb: np.ndarray, rows: np.ndarray, tab: np.ndarray,
          d_sched: np.ndarray, d_tlo: np.ndarray, d_tglo: np.ndarray, d_gshift: np.ndarray, d_off: np.ndarray,
          j_rank: np.ndarray, j_h: int, j_width: np.uint64, ns: int, n_total: int, kd: np.ndarray,
          kl: np.ndarray) -> None:
    """Every stage's demand and inbound lead-time draws of one replication, whole paths.

    The same numbers as the period-major kernels' (:func:`._fast_kernels._fill_block`):
    each draw is a function of the stream key and the period only.
    """
    nt = np.uint64(n_total)
    for j in range(ns):
        o = np.uint64(j * n_total)
        dk = si[j, _DK]
        joint = j_h > 0 and dk >= 2 and j_rank[rows[0] + np.uint64(j)] >= 0
        key = kd[j]
        if dk == 1:
            dem[j * n_total:(j + 1) * n_total] = si[j, _DOFF]
        elif dk == 2 and joint:
            for t in range(n_total):
                zb[t] = joint_z(mix64(key + np.uint64(t) * _GOLDEN), j_rank[rows[t] + np.uint64(j)], j_width)
            sample_drawn(dem, o, nt, tab, si[j, _DLO], si[j, _DGLO], np.uint64(si[j, _DSH]), si[j, _DOFF], zb)
        elif dk == 2:
            sample_block(dem, o, nt, tab, si[j, _DLO], si[j, _DGLO], np.uint64(si[j, _DSH]), si[j, _DOFF], key,
                         np.uint64(0), zb)
        elif dk == 3:  # per-period demand: entry t % n of the stage's cycle
            d0 = si[j, _DLO]
            n_ph = si[j, _DGLO]
            ph = 0
            for t in range(n_total):
                di = d_sched[d0 + ph]
                ph += 1
                if ph == n_ph:
                    ph = 0
                z = mix64(key + np.uint64(t) * _GOLDEN)
                if joint:
                    z = joint_z(z, j_rank[rows[t] + np.uint64(j)], j_width)
                dem[j * n_total + t] = sample_threshold(tab, tab, d_tlo[di], d_tglo[di], np.uint64(d_gshift[di]),
                                                        d_off[di], z)
        if si[j, _LFIX] < 0:
            sample_block(ltd, o, nt, tab, si[j, _LLO], si[j, _LGLO], np.uint64(si[j, _LSH]), si[j, _LOFF], kl[j],
                         np.uint64(0), zb)


@nb.njit(cache=True, nogil=True)
def _orders(si: np.ndarray, big_s: np.ndarray, init: np.ndarray, dem: np.ndarray, xo: np.ndarray,
            cin: np.ndarray, ns: int, n_total: int) -> None:
    """Bottom-up: each stage's orders ``xo`` and the orders it receives from its customers ``cin``.

    A stage's inventory position starts at its initial stock, falls by its customers'
    orders when they are placed (before its own review in the same period) and by its
    external demand (after it), and a review raises it to ``S`` when below.
    """
    cin[:] = 0
    for j in range(ns - 1, -1, -1):
        o = j * n_total
        s = big_s[j]
        ip = init[j]
        rev = si[j, _REV]
        has_d = si[j, _DK] != 0
        rc = 0
        for t in range(n_total):
            ip -= cin[o + t]
            x = 0
            if rc == 0:
                x = max(s - ip, 0)
                ip += x
            rc += 1
            if rc == rev:
                rc = 0
            xo[o + t] = x
            if has_d:
                ip -= dem[o + t]
        p = si[j, _PAR]
        if p >= 0:
            po = p * n_total
            for t in range(n_total):
                cin[po + t] += xo[o + t]


@nb.njit(cache=True, nogil=True)
def _static_rows(i: int, nets: Networks, pols: Policies, dtab: DemandTables, ltab: LeadTimeTables, run: RunSettings,
                 hist: PositionBuffers, counts: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Network ``i``'s per-stage integer rows ``si``, its customers' arcs ``chl``, levels and initial stock."""
    net_i, stage_i, arc_i, out_arcs = nets.net_i, nets.stage_i, nets.arc_i, nets.out_arcs
    stage_f = pols.stage_f
    d_ptr, d_tlo, d_tglo, d_gshift, d_off = dtab.ptr, dtab.tlo, dtab.tglo, dtab.gshift, dtab.off
    l_ptr, l_tlo, l_tglo, l_gshift, l_off = ltab.ptr, ltab.tlo, ltab.tglo, ltab.gshift, ltab.off
    warmup = run.warmup
    h_ptr = hist.ptr
    s0 = net_i[i, _N_S0]
    ns = net_i[i, _N_S1] - s0
    a0 = net_i[i, _N_A0]
    si = np.zeros((ns, _NC), dtype=np.int64)
    chl = np.zeros(max(ns - 1, 1), dtype=np.int64)  # customers of each stage, in turn
    big_s = np.empty(ns, dtype=np.int64)
    init = np.empty(ns, dtype=np.int64)
    n_ch = 0
    for j in range(ns):
        g = s0 + j
        src = arc_i[a0 + j, _A_SRC]
        si[j, _PAR] = src - s0 if src >= 0 else -1
        si[j, _CH0] = n_ch
        for k in range(stage_i[g, _S_OUT0], stage_i[g, _S_OUT1]):
            chl[n_ch] = out_arcs[k] - a0
            n_ch += 1
        si[j, _CH1] = n_ch
        big_s[j] = np.int64(stage_f[g, _F_BIGS])
        init[j] = np.int64(stage_f[g, _F_INIT])
        di = stage_i[g, _S_DEM]
        if di >= 0 and stage_i[g, _S_DLEN] > 1:
            si[j, _DK] = 3
            si[j, _DLO] = di
            si[j, _DGLO] = stage_i[g, _S_DLEN]
        else:
            if di < 0:
                si[j, _DK] = 0
            elif d_ptr[di + 1] - d_ptr[di] == 1:
                si[j, _DK] = 1
            else:
                si[j, _DK] = 2
            di = max(di, 0)
            si[j, _DLO] = d_tlo[di]
            si[j, _DGLO] = d_tglo[di]
            si[j, _DOFF] = d_off[di]
            si[j, _DSH] = d_gshift[di]
        li = arc_i[a0 + j, _A_LT]
        si[j, _LLO] = l_tlo[li]
        si[j, _LGLO] = l_tglo[li]
        si[j, _LOFF] = l_off[li]
        si[j, _LSH] = l_gshift[li]
        fixed = l_off[li] if l_ptr[li + 1] - l_ptr[li] == 1 else -1
        si[j, _LFIX] = fixed
        rev = stage_i[g, _S_REVIEW]
        si[j, _REV] = rev
        # a fixed lead time L (<= warmup + 1) with review period 1 ends exactly one
        # replenishment cycle in every measured period (L = 0: all but the last)
        si[j, _CFIX] = fixed if fixed >= 0 and fixed - 1 <= warmup and rev == 1 else -1
        si[j, _HCAP] = -1
        if counts and h_ptr[g + 1] > h_ptr[g]:
            si[j, _HB] = h_ptr[g]
            si[j, _HCAP] = h_ptr[g + 1] - h_ptr[g] - 1
    return si, chl, big_s, init


@nb.njit(cache=True, nogil=True)
def simulate_stage_major(
    idx: np.ndarray,
    g0: int,
    g1: int,
    nets: Networks,
    pols: Policies,
    dtab: DemandTables,
    ltab: LeadTimeTables,
    run: RunSettings,
    out: np.ndarray,
    hist: PositionBuffers,
    want: np.ndarray,
    counting: tuple[int, ...],
) -> None:
    """Simulate networks ``idx[g0:g1]`` stage by stage (see the module docstring); writes their ``out[:, :, stages]``.

    The networks of one call are *copies*: the same structure, distributions, seed and
    correlated demand, and the same ``S - initial stock`` at every stage, so the same
    draws and order streams; only their levels (hence their inventory paths) differ. The
    draws and the bottom-up order streams are made once per replication (from
    ``idx[g0]``), then each copy's stages are simulated top-down. A stage with
    ``want[g] == 0`` (kernel stage position ``g``) is not simulated top-down (its metrics
    are left 0): the caller sets ``want`` on every stage whose results it reads and on
    their suppliers (their shipments feed it). Other arguments as
    :func:`._fast_kernels.simulate_tree`'s; ``counting`` is ``()`` or ``(1,)`` (count the
    position histograms into ``hist``, a compile-time choice).
    """
    net_i, net_seed, stage_i, arc_i = nets.net_i, nets.net_seed, nets.stage_i, nets.arc_i
    tab = dtab.tab
    d_tlo, d_tglo, d_gshift, d_off, d_sched = dtab.tlo, dtab.tglo, dtab.gshift, dtab.off, dtab.sched
    n_reps, n_total, warmup, crossing = run.n_reps, run.n_total, run.warmup, run.crossing
    counts = len(counting) == 1
    h_groups = hist.groups
    i = idx[g0]  # the copy whose draws and order streams all copies share
    s0 = net_i[i, _N_S0]
    ns = net_i[i, _N_S1] - s0
    a0 = net_i[i, _N_A0]
    cal = net_i[i, _N_CAL]
    seed = net_seed[i]
    T = n_total

    # ---- static rows: the shared structure, and each copy's levels and histogram rows -----
    si, chl, big_s, init = _static_rows(i, nets, pols, dtab, ltab, run, hist, counts)
    n_cp = g1 - g0
    cp_s0 = np.empty(n_cp, dtype=np.int64)
    cp_s = np.empty((n_cp, ns), dtype=np.int64)
    cp_init = np.empty((n_cp, ns), dtype=np.int64)
    cp_hb = np.empty((n_cp, ns), dtype=np.int64)
    cp_hcap = np.empty((n_cp, ns), dtype=np.int64)
    for m in range(n_cp):
        k = idx[g0 + m]
        si_m, _chl, s_m, init_m = _static_rows(k, nets, pols, dtab, ltab, run, hist, counts)
        cp_s0[m] = net_i[k, _N_S0]
        for j in range(ns):
            cp_s[m, j] = s_m[j]
            cp_init[m, j] = init_m[j]
            cp_hb[m, j] = si_m[j, _HB]
            cp_hcap[m, j] = si_m[j, _HCAP]

    # ---- per-replication paths, contiguous in the period ------------------------------
    dem = np.zeros(ns * T, dtype=np.int64)  # external demand
    ltd = np.zeros(ns * T, dtype=np.int64)  # lead time of the inbound lane in each period
    for j in range(ns):
        if si[j, _LFIX] >= 0:  # fixed: the same every period (stochastic ones: drawn per replication)
            ltd[j * T:(j + 1) * T] = si[j, _LFIX]
    xo = np.zeros(ns * T, dtype=np.int64)  # orders placed
    cin = np.zeros(ns * T, dtype=np.int64)  # customers' orders placed with the stage
    shp = np.zeros(ns * T, dtype=np.int64)  # units shipped to the stage by its supplier
    zb = np.zeros(T, dtype=np.uint64)
    rows = np.zeros(T, dtype=np.uint64)
    kd = np.zeros(ns, dtype=np.uint64)
    kl = np.zeros(ns, dtype=np.uint64)
    arv = np.zeros(T + cal, dtype=np.int64)  # a stage's arrivals by period
    cyv = np.zeros(T + cal + 1, dtype=np.int64)  # its replenishment cycles ending in period t - 1
    aow = np.zeros(ns, dtype=np.int64)  # owed to each customer (indexed by the customer)
    shipq = np.zeros(ns, dtype=np.int64)  # rationed shipment to each customer
    # FIFO queue of a stage's customers' unshipped orders (customer, units), oldest first;
    # per customer its entries (at most _RING) and the position of its newest
    rlen = np.zeros(ns, dtype=np.int64)
    newest = np.zeros(ns, dtype=np.int64)
    g_cap = 1
    while g_cap < ns * _RING:
        g_cap *= 2
    gmask = g_cap - 1
    gq_c = np.zeros(g_cap, dtype=np.int64)
    gq_q = np.zeros(g_cap, dtype=np.int64)
    acc = np.zeros((ns, N_ACC), dtype=np.int64)
    unf = np.zeros(ns, dtype=np.int64)  # customers' orders not shipped in the period placed
    cnt = np.zeros((ns, 4), dtype=np.int64)  # periods ok, ready, orders; ok in the last period
    inv = 1.0 / (n_total - warmup)
    j_h = dtab.joint_net[i, 1]
    j_width = np.uint64(dtab.joint_net[i, 2])
    j_rank = dtab.joint_rank
    nsu = np.uint64(ns)

    for r in range(n_reps):
        h_x = hist.x_counts[r % h_groups]
        h_y = hist.y_counts[r % h_groups]
        h_tail = hist.tails[r % h_groups].reshape(-1)
        for j in range(ns):
            kd[j] = stream_key(seed, r, STREAM_DEMAND, stage_i[s0 + j, _S_KEY])
            kl[j] = stream_key(seed, r, STREAM_LEAD_TIME, arc_i[a0 + j, _A_KEY])
        if j_h > 0:
            ckey = stream_key(seed, r, STREAM_COMMON, 0)
            for t in range(T):
                rows[t] = np.uint64(dtab.joint_net[i, 0]) + history_row(
                    mix64(ckey + np.uint64(t) * _GOLDEN), np.uint64(j_h)) * nsu
        _draw(si, dem, ltd, zb, rows, tab, d_sched, d_tlo, d_tglo, d_gshift, d_off, j_rank, j_h, j_width, ns, T,
              kd, kl)
        _orders(si, big_s, init, dem, xo, cin, ns, T)
        # ---- each copy: top-down, its own levels ------------------------------------------
        for m in range(n_cp):
            c0 = cp_s0[m]
            bs_m = cp_s[m]
            init_m = cp_init[m]
            hb_m = cp_hb[m]
            hcap_m = cp_hcap[m]
            acc[:, :] = 0
            unf[:] = 0

            # ---- top-down: each stage's whole path -----------------------------------------
            for j in range(ns):
                if want[c0 + j] == 0:
                    continue
                o = j * T
                p = si[j, _PAR]
                root = p < 0
                k0 = si[j, _CH0]
                k1 = si[j, _CH1]
                n_k = k1 - k0
                dk = si[j, _DK]
                cfix = si[j, _CFIX]
                rev = si[j, _REV]
                s = bs_m[j]
                hcap = hcap_m[j]
                hb = np.uint64(hb_m[j])
                tl = np.uint64((c0 + j) * 5)
                for k in range(k0, k1):
                    c = chl[k]
                    aow[c] = 0
                    rlen[c] = 0
                    shp[c * T:(c + 1) * T] = xo[c * T:(c + 1) * T]  # (default: shipped in full when ordered)
                rne = False
                gh = 0  # head and length of the FIFO queue
                gl = 0
                # ---- the stage's receipts and replenishment cycles, whole path ------------
                # Where the stage's orders and its supplier's shipments to it are known (all
                # of them, top-down), so are their arrivals: arv[t] units arrive in period t
                # (those shipped with lead time 0 in the period they ship: nothing uses on
                # hand between the period's receipts and its shipments), cyv[t + 1] cycles
                # end in period t (a review's cycle ends before its order arrives: in the
                # period before the lane's due date for an order placed now)
                arv[:] = 0
                cyv[:] = 0
                last = 0
                rc = 0
                for t in range(T):
                    due = t + ltd[o + t]  # (the lane's draw of period t serves both)
                    if rc == 0:  # a review
                        d1 = due if crossing else max(due, last)
                        if cfix < 0:
                            cyv[d1] += 1
                        if root:  # the external supplier ships the order at once
                            x = xo[o + t]
                            if not crossing:
                                last = d1 if x > 0 else last
                            arv[d1] += x
                    rc += 1
                    if rc == rev:
                        rc = 0
                    if not root:
                        q = shp[o + t]
                        d2 = due if crossing else max(due, last)
                        if not crossing:
                            last = d2 if q > 0 else last
                        arv[d2] += q
                oh = init_m[j]
                bo = 0
                intr = 0  # in transit to the stage
                owed = 0  # owed by this stage to its customers
                pok = 1
                x_dem = 0
                x_fill = 0
                x_oh = 0
                x_bo = 0
                x_owd = 0
                x_iti = 0
                x_oq = 0
                x_cyc = 0
                x_cyc_ok = 0
                u_nf = 0
                nok = 0
                nrdy = 0
                nord = 0
                tx_n = 0
                tx_s = 0
                ty_n = 0
                ty_s = 0
                t_dem = 0
                for t in range(T):
                    if t == warmup:  # metrics cover periods warmup .. n_total-1
                        x_dem = 0
                        x_fill = 0
                        x_oh = 0
                        x_bo = 0
                        x_owd = 0
                        x_iti = 0
                        x_oq = 0
                        x_cyc = 0
                        x_cyc_ok = 0
                        u_nf = 0
                        nok = 0
                        nrdy = 0
                        nord = 0
                    # receipts; this period's order (zero outside reviews) and the supplier's
                    # shipment to the stage
                    q = arv[t]
                    oh += q
                    x = xo[o + t]
                    nord += x > 0
                    x_oq += x
                    intr += (x if root else shp[o + t]) - q
                    if dk != 0:  # customer backorders first
                        f = min(oh, bo)
                        bo -= f
                        oh -= f
                    short = False
                    dnew = 0
                    if n_k > 0:
                        dnew = cin[o + t]
                        if owed == 0 and oh >= dnew:
                            # nothing owed from earlier periods and stock for all of this
                            # period's orders: each customer gets its order now (the default
                            # of its shipment row), no customer loop (any FIFO queue is empty)
                            oh -= dnew
                        else:
                            for k in range(k0, k1):
                                c = chl[k]
                                aow[c] += xo[c * T + t]
                            owed += dnew
                            total = owed
                            ship_all = False
                            if n_k == 1:
                                c = chl[k0]
                                q = total if oh >= total else oh
                                shipq[c] = q
                                oh -= q
                                ship_all = q == total
                            elif oh >= total:
                                if rne:  # everything owed ships: the FIFO queues empty
                                    rne = False
                                    for k in range(k0, k1):
                                        rlen[chl[k]] = 0
                                    gh = 0
                                    gl = 0
                                ship_all = True
                                oh -= total
                            else:
                                # FIFO rationing; this period's orders join the queues now.
                                # The network kernels keep one queue per customer and serve the
                                # customer whose oldest entry is oldest (ties: the first
                                # customer); every period's entries are appended in customer
                                # order, so one queue of all entries in arrival order holds
                                # them in exactly that order (a customer's queue of _RING
                                # entries, full, merges into its newest entry, wherever it is)
                                rne = True
                                for k in range(k0, k1):
                                    c = chl[k]
                                    shipq[c] = 0
                                    q = xo[c * T + t]
                                    if q > 0:
                                        if rlen[c] == _RING:
                                            gq_q[newest[c]] += q
                                        else:
                                            pos = (gh + gl) & gmask
                                            gq_c[pos] = c
                                            gq_q[pos] = q
                                            gl += 1
                                            newest[c] = pos
                                            rlen[c] += 1
                                rem = oh
                                while rem > 0 and gl > 0:
                                    c = gq_c[gh]
                                    f = min(rem, gq_q[gh])
                                    shipq[c] += f
                                    rem -= f
                                    gq_q[gh] -= f
                                    if gq_q[gh] <= 0:
                                        gh = (gh + 1) & gmask
                                        gl -= 1
                                        rlen[c] -= 1
                                oh = max(rem, 0)
                            if ship_all:
                                for k in range(k0, k1):
                                    c = chl[k]
                                    shp[c * T + t] = aow[c]
                                    aow[c] = 0
                                owed = 0
                            else:
                                for k in range(k0, k1):
                                    c = chl[k]
                                    before = aow[c]
                                    q = shipq[c]
                                    aow[c] = before - q
                                    owed -= q
                                    shp[c * T + t] = q
                                    nw = xo[c * T + t]
                                    if nw > 0:
                                        filled_new = min(max(q - (before - nw), 0), nw)
                                        if filled_new < nw:
                                            short = True
                                        u_nf += nw - filled_new
                    if dk != 0:
                        d = dem[o + t]
                        f = min(oh, d)
                        oh -= f
                        miss = d - f
                        short |= miss > 0
                        bo += miss
                        x_dem += d
                        x_fill += f
                        dnew += d
                    ok = (not short) & (bo <= 0) & (owed <= 0)
                    pok = 1 if ok else 0
                    nok += pok
                    if cfix < 0:
                        n_end = cyv[t + 1]
                        x_cyc += n_end
                        x_cyc_ok += n_end * pok
                    nrdy += oh > 0
                    x_oh += oh
                    x_iti += intr
                    x_bo += bo
                    x_owd += owed
                    if counts and t >= warmup and hcap >= 0:
                        # X = S - net inventory and max(X - d, 0), as _count_position
                        xi = s - (oh - bo - owed)
                        yi = max(xi - dnew, 0)
                        if xi <= hcap:
                            h_x[hb + np.uint64(xi)] += 1.0
                        else:
                            tx_n += 1
                            tx_s += xi
                        if yi <= hcap:
                            h_y[hb + np.uint64(yi)] += 1.0
                        else:
                            ty_n += 1
                            ty_s += yi
                        t_dem += dnew
                if counts and hcap >= 0:
                    # the tails and the demand, summed in registers (integers: the same
                    # float sums, exact below 2**53, whatever the order of the additions)
                    h_tail[tl] += tx_n
                    h_tail[tl + np.uint64(1)] += tx_s
                    h_tail[tl + np.uint64(2)] += ty_n
                    h_tail[tl + np.uint64(3)] += ty_s
                    h_tail[tl + np.uint64(4)] += t_dem
                a = acc[j]
                a[M_DEMAND] += x_dem
                a[M_FILL_RATE] += x_fill
                a[M_ON_HAND] = x_oh
                a[M_BACKORDERS] = x_bo
                a[M_OWED_DOWNSTREAM] = x_owd
                a[M_IN_TRANSIT_IN] = x_iti
                a[M_ORDER_QUANTITY] = x_oq
                a[A_CYCLES] = x_cyc
                a[A_CYCLES_OK] = x_cyc_ok
                unf[j] = u_nf
                cnt[j, 0] = nok
                cnt[j, 1] = nrdy
                cnt[j, 2] = nord
                cnt[j, 3] = pok

            # ---- per-replication means (the fast kernel's exact-mode identities) ------------
            for j in range(ns):
                p = si[j, _PAR]
                if p >= 0:
                    acc[p, M_IN_TRANSIT_OUT] += acc[j, M_IN_TRANSIT_IN]
                    acc[p, M_DEMAND] += acc[j, M_ORDER_QUANTITY]
                    acc[p, M_FILL_RATE] += acc[j, M_ORDER_QUANTITY]
            for j in range(ns):
                acc[j, M_FILL_RATE] -= unf[j]
            for j in range(ns):
                g = c0 + j
                a = acc[j]
                a[M_READY_RATE] = cnt[j, 1]
                a[M_ORDER_FREQUENCY] = cnt[j, 2]
                cf = si[j, _CFIX]
                if cf == 0:  # the last period's cycle ends after the horizon
                    a[A_CYCLES] = n_total - warmup - 1
                    a[A_CYCLES_OK] = cnt[j, 0] - cnt[j, 3]
                elif cf > 0:
                    a[A_CYCLES] = n_total - warmup
                    a[A_CYCLES_OK] = cnt[j, 0]
                for m in range(N_METRICS):
                    out[m, r, g] = a[m] * inv
                dm = a[M_DEMAND]
                out[M_FILL_RATE, r, g] = a[M_FILL_RATE] / dm if dm > 0 else np.nan
                n_cyc = a[A_CYCLES]
                out[M_CYCLE_SERVICE, r, g] = a[A_CYCLES_OK] / n_cyc if n_cyc > 0 else np.nan


@nb.njit(cache=True, nogil=True, parallel=True)
def simulate_all(
    idx: np.ndarray,
    nets: Networks,
    pols: Policies,
    dtab: DemandTables,
    ltab: LeadTimeTables,
    run: RunSettings,
    out: np.ndarray,
    hist: PositionBuffers,
    copy_ptr: np.ndarray,
    want: np.ndarray,
) -> None:
    """Simulate networks ``idx`` with :func:`simulate_stage_major`, one group of copies per task (``prange``).

    ``idx[copy_ptr[k]:copy_ptr[k + 1]]`` are the copies of group ``k`` (see
    :func:`simulate_stage_major`; a network alone is a group of one); ``want``: per
    kernel stage, 1 to simulate it top-down. The other networks of the call are left to
    :func:`._fast_kernels.simulate_all`: each network only touches its own rows of
    ``out`` and of the histograms and draws only from its own streams, so neither the
    split nor the grouping changes any number.
    """
    for k in nb.prange(copy_ptr.size - 1):
        if hist.on:
            simulate_stage_major(idx, copy_ptr[k], copy_ptr[k + 1], nets, pols, dtab, ltab, run, out, hist, want, (1,))
        else:
            simulate_stage_major(idx, copy_ptr[k], copy_ptr[k + 1], nets, pols, dtab, ltab, run, out, hist, want, ())
