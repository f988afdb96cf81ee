"""A fast kernel for the common network structure: trees of base-stock stages.

:func:`simulate_tree` covers networks in which every stage has exactly one inbound arc
(serial lines and distribution trees, each stage supplied by one stage or by the external
supplier) with ``quantity_per = 1``, no processing time, installation or echelon
base-stock policies with any review period ``R`` (a stage reviews in periods ``t`` with
``t % R == 0``) and no MOQ, order multiple or capacity.  Lead times may be deterministic
or stochastic (with or without crossing); backorders or lost sales; FIFO or proportional
allocation.

It is the general kernel (:func:`._kernels._simulate_network`) with everything that
structure makes constant folded away: no kitting, no processing calendar, no policy
switch, the review test only at stages with ``R > 1``, one flat state row per stage (a stage and its inbound arc share
the row, since arcs are sorted by downstream stage), integer-threshold sampling from the
raw 64-bit draws (:func:`._rng.sample_threshold`), and metrics accumulated in every
period and cleared at the end of the warm-up instead of a per-period ``measure`` test.
Further:

* random draws in blocks: every draw is a pure function of (stream key, period), so
  the demand and stochastic lead-time draws of 64 periods are made ahead, all stages at
  once, in vectorised loops (:func:`_fill_block`, :func:`._rng.sample_block`), and the loop
  reads them from per-stage buffers;
* unsigned (uint64) indices throughout the loop: Numba wraps signed negative indices
  around at a cost on every array access;
* a loop compiled for lines (``line=(1,)``, ``LINE`` in ``net_fast``): with at most one
  customer per stage the customer loops make at most one pass and the rationing among
  customers is compiled out (the same operations, in the same order);
* lazy FIFO queues: a customer's order enters its supplier's queue only in a period in
  which the supplier cannot ship everything it owes (usually never), not when placed;
* with a fixed lead time ``L`` (``L - 1 <= warmup``) every measured period ends exactly
  one replenishment cycle (``L = 0``: all but the last), so cycles are counted without
  the cycle calendar; order, ready and no-stock-out periods are integer counters;
* position histograms (``counting=(1,)``, a separately compiled loop): per measured
  period the same ``X`` and ``max(X - d, 0)`` counts, caps, tails and demand sums as the
  general kernel's ``_count_position``, from the same operands (the stage's demand ``d``
  summed in the same order: customers' new orders, then external demand);
* **exact mode** (``exact=True``: integer levels and initial stock, sums below 2**52, so
  every quantity is an integer and every floating-point operation exact, in any order):
  per-period sums that follow from others are derived instead (units in transit to a
  stage = on order - owed by its supplier; a supplier's units in transit out, demand from
  customers and its fill = its customers' in transit in, orders, orders less the part not
  shipped in the period ordered), and a supplier that ships everything skips the
  rationing bookkeeping.

The output is **bit-identical** to the general kernel: outside exact mode every state
variable and every accumulator receives the same floating-point operations with the
same operands in the same order; in exact mode all of them are exact integers; every
random draw is the same function of ``(seed, replication, stream, stage/arc, period)``
(tests compare the kernels on many random networks). :func:`simulate_all` dispatches
each network to this kernel or the general one.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._kernels import (
    _A_KEY,
    _A_LT,
    _A_SRC,
    _EPS,
    _F_BIGS,
    _F_INIT,
    _N_A0,
    _N_CAL,
    _N_ECH,
    _N_S0,
    _N_S1,
    _RING,
    _S_DEM,
    _S_DLEN,
    _S_KEY,
    _S_OUT0,
    _S_OUT1,
    _S_REVIEW,
    _S_TYPE,
    A_CYCLES,
    A_CYCLES_OK,
    ALLOC_FIFO,
    ALLOC_PROPORTIONAL,
    M_BACKORDERS,
    M_CYCLE_SERVICE,
    M_DEMAND,
    M_FILL_RATE,
    M_IN_TRANSIT_IN,
    M_IN_TRANSIT_OUT,
    M_LOST_SALES,
    M_ON_HAND,
    M_ORDER_FREQUENCY,
    M_ORDER_QUANTITY,
    M_OWED_DOWNSTREAM,
    M_READY_RATE,
    N_ACC,
    N_METRICS,
    POLICY_ECHELON_BASE_STOCK,
    _simulate_network,
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

__all__ = ["simulate_tree", "simulate_all", "GENERAL", "FAST_FLOAT", "FAST_INT", "FAST_FLOAT_EXACT", "LINE"]

# kernel choice per network (``simulate_all``'s ``net_fast``): one of the first four, a
# fast one possibly with the flag LINE (a line: simulate_tree's loop compiled for lines)
GENERAL, FAST_FLOAT, FAST_INT, FAST_FLOAT_EXACT = 0, 1, 2, 3
LINE = 4

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# Per-stage rows (stage j's inbound arc is arc j, arcs being sorted by downstream stage).
# Few arrays keep the hot loop's live base pointers, hence register spills, few.
# All indices are uint64 (field offsets below, stage numbers, bases): Numba wraps signed
# indices around (``a[i]`` with ``i < 0`` is ``a[len + i]``), which costs a few
# instructions per access; unsigned ones are used as they are. (Mixing int64 and uint64
# gives float64 in Numba, which cannot index an array: a mistake fails to compile.)
_U = np.uint64
_U0, _U1 = _U(0), _U(1)
# numeric row st[j * _NF + field]: state, policy level, then the metric accumulators
_OH, _BO, _OUT, _OWED, _ITO, _ITI, _ECH, _AOWED, _NEW, _SHIP, _COMP, _BIGS, _INIT = (_U(k) for k in range(13))
_N_STATE = 11  # fields reset to zero at the start of a replication
_UNF = _U(13)  # (exact mode) customers' orders not shipped in the period they were placed
_ACC = 16  # accumulators st[j * _NF + _ACC + metric]
_NF_I = 32
_NF = _U(_NF_I)
# accumulator offsets in the row
_X_DEM, _X_FILL, _X_OH, _X_BO, _X_OWD, _X_LOST, _X_ITO, _X_ITI, _X_OQ, _X_CYC, _X_CYC_OK = (
    _U(_ACC + m) for m in (M_DEMAND, M_FILL_RATE, M_ON_HAND, M_BACKORDERS, M_OWED_DOWNSTREAM, M_LOST_SALES,
                           M_IN_TRANSIT_OUT, M_IN_TRANSIT_IN, M_ORDER_QUANTITY, A_CYCLES, A_CYCLES_OK))
# integer row si[j * _NI + field]: structure, sampling offsets, integer state (_PAR: the
# supplier's stage or -1; _CH0, _CH1: the customers' range in ``chl``)
(_PAR, _CH0, _CH1, _DK, _LFIX, _FLAGS, _DLO, _DGLO, _DOFF, _LLO, _LGLO, _LOFF,
 _PEND, _RLEN, _RHEAD, _LAST, _POK, _DPH, _RNE, _CFIX, _NOK, _NRDY, _NORD, _HB, _HCAP, _REV) = (
    _U(k) for k in range(26))
# _DK: 0 no external demand, 1 deterministic, 2 one distribution (_DLO, _DGLO, _DOFF and
# ku _DSH), 3 per-period cycle (_DLO: its first entry in d_sched, _DGLO: its length,
# _DPH: the current period's position in it)
# _HB, _HCAP: (position histograms) the stage's first bin in ``hist.x_counts`` and its cap
# (-1: no histograms at this stage); _REV: the review period R [periods]
_NI_I = 32
_NI = _U(_NI_I)
_ECH_POLICY = 1  # _FLAGS bit
# unsigned row ku[j * _NK + field]: stream keys and guide-table shifts
_KD, _KL, _DSH, _LSH = (_U(k) for k in range(4))
_NK = _U(4)
_RINGU = _U(_RING)
_RMASK = _U(_RING - 1)  # _RING is a power of two
_BLOCK_I = 64  # periods whose random draws are made ahead (a power of two)
_BLOCK = _U(_BLOCK_I)
_BMASK = _U(_BLOCK_I - 1)


@nb.njit(cache=True, nogil=True)
def _fill_block(si: np.ndarray, ku: np.ndarray, dbuf: np.ndarray, lbuf: np.ndarray, zb: np.ndarray,
                tab: np.ndarray, d_sched: np.ndarray, d_tlo: np.ndarray, d_tglo: np.ndarray,
                d_gshift: np.ndarray, d_off: np.ndarray, joint_net: np.ndarray, joint_rank: np.ndarray, i: int,
                seed: np.uint64, r: int, nsu: np.uint64, tu: np.uint64, nb_: np.uint64) -> None:
    """The random draws of periods ``tu .. tu + nb_ - 1`` of every stage of network ``i`` (``simulate_tree``).

    External demand goes into ``dbuf``, stochastic lead times of the inbound lane into
    ``lbuf`` (a separate function: it keeps the simulation loop's register use low).
    With correlated demand (``joint_net[i, 1] > 0``, see :class:`._packed.DemandTables`)
    the common stream of network ``i`` (``seed``) in replication ``r`` picks each period's
    historical row, and participating stages draw through :func:`._rng.joint_z`, exactly
    as the general kernel does.
    """
    j_h = joint_net[i, 1]
    j_rank = joint_rank
    j_width = _U(joint_net[i, 2])
    rows = zb[:0]  # (no correlated demand: unused)
    if j_h > 0:
        # the historical row of each period of the block (its start in joint_rank)
        ckey = stream_key(seed, r, STREAM_COMMON, 0)
        rows = np.empty(nb_, dtype=np.uint64)
        for k in range(nb_):
            rows[k] = _U(joint_net[i, 0]) + history_row(mix64(ckey + (tu + k) * _GOLDEN), _U(j_h)) * nsu
    for j in range(nsu):
        ib = j * _NI
        jb = j * _BLOCK
        dk = si[ib + _DK]
        joint = j_h > 0 and dk >= 2 and j_rank[rows[0] + j] >= 0
        if dk == 2 and joint:
            key = ku[j * _NK + _KD]
            for k in range(nb_):
                zb[k] = joint_z(mix64(key + (tu + k) * _GOLDEN), j_rank[rows[k] + j], j_width)
            sample_drawn(dbuf, jb, nb_, tab, si[ib + _DLO], si[ib + _DGLO], ku[j * _NK + _DSH],
                         si[ib + _DOFF], zb)
        elif dk == 2:
            sample_block(dbuf, jb, nb_, tab, si[ib + _DLO], si[ib + _DGLO], ku[j * _NK + _DSH],
                        si[ib + _DOFF], ku[j * _NK + _KD], tu, zb)
        elif dk == 3:  # per-period demand: entry t % n of the cycle (phase counter)
            key = ku[j * _NK + _KD]
            ph = si[ib + _DPH]
            n_ph = si[ib + _DGLO]
            d0 = si[ib + _DLO]
            for k in range(nb_):
                di = d_sched[d0 + ph]
                ph += 1
                if ph == n_ph:
                    ph = 0
                z = mix64(key + (tu + k) * _GOLDEN)
                if joint:
                    z = joint_z(z, j_rank[rows[k] + j], j_width)
                dbuf[jb + k] = sample_threshold(tab, tab, d_tlo[di], d_tglo[di], _U(d_gshift[di]), d_off[di], z)
            si[ib + _DPH] = ph
        if si[ib + _LFIX] < 0:
            sample_block(lbuf, jb, nb_, tab, si[ib + _LLO], si[ib + _LGLO], ku[j * _NK + _LSH],
                        si[ib + _LOFF], ku[j * _NK + _KL], tu, zb)


@nb.njit(cache=True, nogil=True)
def simulate_tree(
    i: int,
    nets: Networks,
    pols: Policies,
    dtab: DemandTables,
    ltab: LeadTimeTables,
    run: RunSettings,
    out: np.ndarray,
    zero: float,
    one: float,
    eps: float,
    exact: bool,
    line: tuple,
    hist: PositionBuffers,
    counting: tuple,
) -> None:
    """Simulate network ``i`` (a tree of base-stock stages, see the module docstring).

    The arguments are packed as in :mod:`._packed`; the kernel samples with ``dtab.tab``
    (the integer inverse-CDF tables of :func:`._rng.threshold_tables` of the demand and
    lead-time distributions, thresholds and guide tables in one array; ``tlo`` /
    ``tglo`` are the positions of a distribution's thresholds / guide table in it,
    ``gshift`` its guide shift). ``zero``, ``one`` and ``eps`` fix the arithmetic:
    ``0.0, 1.0, _EPS`` simulate in float64 exactly like the general kernel; ``0, 1, 0``
    simulate in int64, which gives the same numbers when every quantity is an integer
    (integer levels and demands, sums below 2**52): the general kernel's floats then hold
    exact integers, and its ``x <= _EPS``-style tests are ``x <= 0`` tests. ``exact``
    (required with int64, allowed with float64 under the same conditions) enables the
    exact-mode shortcuts of the module docstring. ``dtab.sched`` holds the per-period
    demand cycles (see :mod:`._kernels`). ``line`` is ``()`` for any tree and ``(1,)`` for a line
    (no stage with more than one customer): its length is a compile-time constant, so a
    line gets its own compiled loop in which every customer loop has at most one pass and
    the rationing among customers (FIFO queues, proportional shares) is gone.
    ``counting`` is ``()`` or ``(1,)`` (likewise a compile-time constant): ``(1,)`` counts
    the position histograms into ``hist`` (see :class:`._packed.PositionBuffers`) exactly as
    the general kernel does, at the stages with bins; ``()`` compiles the counting out.
    """
    # the fields this kernel reads, as locals (by name: a new field changes nothing here)
    net_i, net_seed, stage_i, arc_i, out_arcs = nets.net_i, nets.net_seed, nets.stage_i, nets.arc_i, nets.out_arcs
    stage_f = pols.stage_f
    tab = dtab.tab
    d_ptr, d_tlo, d_tglo, d_gshift, d_off, d_sched = dtab.ptr, dtab.tlo, dtab.tglo, dtab.gshift, dtab.off, dtab.sched
    l_ptr, l_tlo, l_tglo, l_gshift, l_off = ltab.ptr, ltab.tlo, ltab.tglo, ltab.gshift, ltab.off
    n_reps, n_total, warmup = run.n_reps, run.n_total, run.warmup
    backorders, crossing, alloc = run.backorders, run.crossing, run.alloc
    is_line = len(line) == 1
    counts = len(counting) == 1
    h_groups, h_ptr = hist.groups, hist.ptr
    s0 = net_i[i, _N_S0]
    ns = net_i[i, _N_S1] - s0
    nsu = _U(ns)
    a0 = net_i[i, _N_A0]
    cal = net_i[i, _N_CAL]
    calu = _U(cal)
    cmask = calu - _U1
    seed = net_seed[i]
    echelon = net_i[i, _N_ECH] != 0
    fifo = alloc == ALLOC_FIFO

    # ---- static rows ----------------------------------------------------------------
    st = np.full(ns * _NF_I, zero)
    si = np.zeros(ns * _NI_I, dtype=np.int64)
    ku = np.zeros(ns * 4, dtype=np.uint64)
    chl = np.zeros(max(ns - 1, 1), dtype=np.uint64)  # the customers of each stage, in turn
    n_ch = 0
    for j in range(nsu):
        g = s0 + np.int64(j)
        ib = j * _NI
        b = j * _NF
        src = arc_i[a0 + np.int64(j), _A_SRC]
        si[ib + _PAR] = src - s0 if src >= 0 else -1
        k0 = stage_i[g, _S_OUT0]
        k1 = stage_i[g, _S_OUT1]
        si[ib + _CH0] = n_ch
        for k in range(k0, k1):
            chl[n_ch] = _U(out_arcs[k] - a0)
            n_ch += 1
        si[ib + _CH1] = n_ch
        st[b + _BIGS] = stage_f[g, _F_BIGS]
        st[b + _INIT] = stage_f[g, _F_INIT]
        if stage_i[g, _S_TYPE] == POLICY_ECHELON_BASE_STOCK:
            si[ib + _FLAGS] |= _ECH_POLICY
        di = stage_i[g, _S_DEM]
        if di >= 0 and stage_i[g, _S_DLEN] > 1:
            si[ib + _DK] = 3
            si[ib + _DLO] = di
            si[ib + _DGLO] = stage_i[g, _S_DLEN]
        else:
            if di < 0:
                si[ib + _DK] = 0
            elif d_ptr[di + 1] - d_ptr[di] == 1:
                si[ib + _DK] = 1
            else:
                si[ib + _DK] = 2
            di = max(di, 0)
            si[ib + _DLO] = d_tlo[di]
            si[ib + _DGLO] = d_tglo[di]
            si[ib + _DOFF] = d_off[di]
            ku[j * _NK + _DSH] = _U(d_gshift[di])
        li = arc_i[a0 + np.int64(j), _A_LT]
        si[ib + _LLO] = l_tlo[li]
        si[ib + _LGLO] = l_tglo[li]
        si[ib + _LOFF] = l_off[li]
        ku[j * _NK + _LSH] = _U(l_gshift[li])
        si[ib + _LFIX] = l_off[li] if l_ptr[li + 1] - l_ptr[li] == 1 else -1
        # a fixed lead time L (<= warmup + 1) with review period 1 ends exactly one
        # replenishment cycle in every measured period (L = 0: all but the last), so no
        # cycle calendar is needed
        fixed = si[ib + _LFIX]
        rev = stage_i[g, _S_REVIEW]
        si[ib + _REV] = rev
        si[ib + _CFIX] = fixed if fixed >= 0 and fixed - 1 <= warmup and rev == 1 else -1
        si[ib + _HCAP] = -1
        if counts and h_ptr[g + 1] > h_ptr[g]:
            si[ib + _HB] = h_ptr[g]
            si[ib + _HCAP] = h_ptr[g + 1] - h_ptr[g] - 1

    arrivals = np.full(ns * cal, zero)
    cyc = np.zeros(ns * cal, dtype=np.int64)  # replenishment cycles ending in a period
    ring_t = np.zeros(ns * _RING, dtype=np.int64)
    ring_q = np.full(ns * _RING, zero)
    inv = 1.0 / (n_total - warmup)
    # the random draws of a block of periods (see below), per stage
    dbuf = np.zeros(ns * _BLOCK_I, dtype=np.int64)  # external demand
    lbuf = np.zeros(ns * _BLOCK_I, dtype=np.int64)  # lead time of the inbound lane (stochastic ones)
    zb = np.zeros(_BLOCK_I, dtype=np.uint64)  # raw draws

    for r in range(n_reps):
        # this replication's group of the histograms, as flat views (x / y counts per bin;
        # tails: 5 per stage, indexed by the global stage position s0 + j)
        h_x = hist.x_counts[r % h_groups]
        h_y = hist.y_counts[r % h_groups]
        h_tail = hist.tails[r % h_groups].reshape(-1)
        for j in range(nsu):
            b = j * _NF
            for f in range(_N_STATE):
                st[b + _U(f)] = zero
            st[b + _OH] = st[b + _INIT]
            for m in range(N_ACC):
                st[b + _U(_ACC + m)] = zero
            st[b + _UNF] = zero
            ib = j * _NI
            si[ib + _PEND] = 0
            si[ib + _RLEN] = 0
            si[ib + _RHEAD] = 0
            si[ib + _LAST] = 0
            si[ib + _POK] = 1
            si[ib + _DPH] = 0
            si[ib + _RNE] = 0
            si[ib + _NOK] = 0
            si[ib + _NRDY] = 0
            si[ib + _NORD] = 0
            ku[j * _NK + _KD] = stream_key(seed, r, STREAM_DEMAND, stage_i[s0 + np.int64(j), _S_KEY])
            ku[j * _NK + _KL] = stream_key(seed, r, STREAM_LEAD_TIME, arc_i[a0 + np.int64(j), _A_KEY])
        arrivals[:] = zero
        cyc[:] = 0

        for t in range(n_total):
            if t == warmup:  # metrics cover periods warmup .. n_total-1
                for j in range(nsu):
                    for m in range(N_ACC):
                        st[j * _NF + _U(_ACC + m)] = zero
                    st[j * _NF + _UNF] = zero
                    # integer counters: periods without stock-out, ready, orders
                    si[j * _NI + _NOK] = 0
                    si[j * _NI + _NRDY] = 0
                    si[j * _NI + _NORD] = 0
            tu = _U(t)
            slot = tu & cmask
            tb = tu & _BMASK
            if tb == _U0:
                # the random draws of the next _BLOCK periods, all stages: pure functions of
                # (stream key, period), so drawn ahead in tight loops off the critical path
                # of the recursion (the lead time of a lane in period t serves both the
                # review in pass A and any shipment in pass B)
                _fill_block(si, ku, dbuf, lbuf, zb, tab, d_sched, d_tlo, d_tglo, d_gshift, d_off, dtab.joint_net,
                            dtab.joint_rank, i, seed, r, nsu, tu, _U(min(_BLOCK_I, n_total - t)))
            # ---- pass A, downstream first: receipts, orders ---------------------------
            for jr in range(nsu):
                j = nsu - _U1 - jr  # type: ignore[assignment]  # (uint64, as in the other loops)
                b = j * _NF
                ib = j * _NI
                p = si[ib + _PAR]
                pb = _U(p) * _NF  # (used only when p >= 0)
                # on hand and on order stay in registers (oh, on_order) through the
                # period's pass A: no store-to-load round trips on the critical path
                q = arrivals[j * calu + slot]
                oh = st[b + _OH]
                on_order = st[b + _OUT]
                if q != zero:
                    arrivals[j * calu + slot] = zero
                    if not exact:  # (exact: in transit in = on order - owed by the supplier)
                        st[b + _ITI] -= q
                    if p >= 0 and not exact:  # (exact: the supplier's sum is derived)
                        st[pb + _ITO] -= q
                    # one inbound arc, quantity_per 1: received units are finished units
                    # (the kit buffer is empty at the start of a period, so made = q > 0)
                    on_order -= q
                    oh += q
                    st[b + _OH] = oh
                ip = oh + zero + on_order - st[b + _BO] - st[b + _OWED]
                if echelon:
                    e = ip
                    ch0 = _U(si[ib + _CH0])
                    ch1 = _U(si[ib + _CH1])
                    if is_line:  # at most one customer
                        if ch1 > ch0:
                            e += one * st[chl[ch0] * _NF + _ECH]
                    else:
                        for k in range(ch0, ch1):
                            e += one * st[chl[k] * _NF + _ECH]
                    st[b + _ECH] = e  # (raised by the order below: e + x)
                    x = st[b + _BIGS] - (e if si[ib + _FLAGS] & _ECH_POLICY else ip)
                else:
                    x = st[b + _BIGS] - ip
                rev = si[ib + _REV]
                if rev > 1 and tu % _U(rev) != _U0:
                    # not a review period (t % R != 0): no order, nothing new for the
                    # supplier (the echelon position above is kept, as in the general kernel)
                    st[b + _OUT] = on_order
                    st[b + _NEW] = zero
                    continue
                # a review: the replenishment cycle it closes ends before this review's
                # order arrives (the lead time drawn for the lane now)
                lead = si[ib + _LFIX]
                if si[ib + _CFIX] >= 0:
                    # fixed lead time: without crossing the lane's last arrival is at most
                    # t - 1 + lead, so due = t + lead; cycles are counted in pass B
                    due = t + lead
                else:
                    if lead < 0:
                        lead = lbuf[j * _BLOCK + tb]
                    due = t + lead
                    if not crossing and due < si[ib + _LAST]:
                        due = si[ib + _LAST]
                    if due == t:  # it ended with the previous period
                        if t - 1 >= warmup:
                            st[b + _X_CYC] += one
                            st[b + _X_CYC_OK] += one if si[ib + _POK] != 0 else zero
                    else:
                        cyc[j * calu + (_U(due - 1) & cmask)] += 1
                if x <= eps:
                    st[b + _OUT] = on_order
                    st[b + _NEW] = zero  # no order: nothing new for the supplier
                    continue
                st[b + _OUT] = on_order + x
                if echelon:
                    st[b + _ECH] = e + x
                si[ib + _NORD] += 1
                st[b + _X_OQ] += x
                q = x * one
                if p < 0:
                    # external supplier: ships now, with the lead time (and due) drawn above
                    if not crossing:
                        si[ib + _LAST] = due
                    if due == t:
                        st[b + _COMP] += q
                        si[ib + _PEND] = 1
                    else:
                        arrivals[j * calu + (_U(due) & cmask)] += q
                        if not exact:
                            st[b + _ITI] += q
                else:
                    # (under FIFO rationing the order enters the supplier's queue only if
                    # the supplier cannot ship everything it owes, see pass B)
                    st[b + _AOWED] += q
                    st[b + _NEW] = q  # (zero at this point: 0 + q = q)
                    st[pb + _OWED] += q

            # ---- pass B, upstream first: shipments, demand, measurements ---------------
            for j in range(nsu):
                b = j * _NF
                ib = j * _NI
                short = False
                dnew = zero  # (histograms) units demanded of the stage this period
                oh = st[b + _OH]  # on hand and backorders in registers (oh, bo) in pass B
                bo = st[b + _BO]
                if si[ib + _PEND] != 0:
                    si[ib + _PEND] = 0
                    made = st[b + _COMP]
                    st[b + _COMP] = zero
                    if made > zero:
                        st[b + _OUT] -= made
                        oh += made
                dk = si[ib + _DK]
                if dk != 0:  # only stages with external demand have backorders
                    # branch-free: f = min(oh, bo) when both are positive, else +0, and
                    # subtracting +0 changes nothing (backorders and on hand are >= +0)
                    f = min(max(oh, zero), bo)
                    bo = bo - f
                    oh -= f
                k0 = _U(si[ib + _CH0])
                k1 = _U(si[ib + _CH1])
                has_ch = k1 > k0
                total = st[b + _OWED]
                if has_ch and total > zero:
                    if is_line:  # one customer: the loops over customers below make one pass
                        k1 = k0 + _U1
                    ship_all = False  # every customer gets what it is owed (_AOWED)
                    if is_line or k1 - k0 == _U1:
                        c = chl[k0]
                        q = total if oh >= total - eps else max(oh, zero)
                        st[c * _NF + _SHIP] = q
                        oh = max(oh - q, zero)
                        # (exact: the one customer is owed all of total, _AOWED = total)
                        ship_all = exact and q == total
                    elif oh >= total - eps:
                        # everything owed ships: the FIFO queues empty (they are non-empty
                        # only after a period of rationing, _RNE)
                        if si[ib + _RNE] != 0:
                            si[ib + _RNE] = 0
                            for k in range(k0, k1):
                                ci = chl[k] * _NI
                                si[ci + _RLEN] = 0
                                si[ci + _RHEAD] = 0
                        ship_all = True
                        oh = max(oh - total, zero)
                    else:
                        if fifo:
                            # lazy FIFO queues: this period's orders (_NEW) join the
                            # queues only now that rationing is needed (with a full
                            # shipment the queues stay empty); the queue of child c holds
                            # (period, quantity) of its unshipped orders, oldest first
                            si[ib + _RNE] = 1
                            for k in range(k0, k1):
                                c = chl[k]
                                q = st[c * _NF + _NEW]
                                if q > zero:
                                    ci = c * _NI
                                    n = si[ci + _RLEN]
                                    if n == _RING:  # full: merge into the newest entry
                                        ring_q[c * _RINGU + (_U(si[ci + _RHEAD] + n - 1) & _RMASK)] += q
                                    else:
                                        pos = c * _RINGU + (_U(si[ci + _RHEAD] + n) & _RMASK)
                                        ring_t[pos] = t
                                        ring_q[pos] = q
                                        si[ci + _RLEN] = n + 1
                        if oh <= zero:
                            for k in range(k0, k1):
                                st[chl[k] * _NF + _SHIP] = zero
                        elif alloc == ALLOC_PROPORTIONAL:
                            rem = oh
                            for k in range(k0, k1):
                                cb = chl[k] * _NF
                                f = math.floor(oh * st[cb + _AOWED] / total) * one
                                st[cb + _SHIP] = f
                                rem -= f
                            for k in range(k0, k1):
                                if rem <= zero:
                                    break
                                cb = chl[k] * _NF
                                f = min(rem, st[cb + _AOWED] - st[cb + _SHIP])
                                st[cb + _SHIP] += f
                                rem -= f
                            oh = max(rem, zero)
                        else:
                            for k in range(k0, k1):
                                st[chl[k] * _NF + _SHIP] = zero
                            rem = oh
                            while rem > eps:
                                best = nsu  # none
                                best_t = n_total + 1
                                for k in range(k0, k1):
                                    c = chl[k]
                                    ci = c * _NI
                                    if si[ci + _RLEN] > 0:
                                        tt = ring_t[c * _RINGU + _U(si[ci + _RHEAD])]
                                        if tt < best_t:
                                            best_t = tt
                                            best = c
                                if best == nsu:
                                    break
                                bi = best * _NI
                                pos = best * _RINGU + _U(si[bi + _RHEAD])
                                f = min(rem, ring_q[pos])
                                st[best * _NF + _SHIP] += f
                                rem -= f
                                ring_q[pos] -= f
                                if ring_q[pos] <= eps:
                                    si[bi + _RHEAD] = (si[bi + _RHEAD] + 1) & (_RING - 1)
                                    si[bi + _RLEN] -= 1
                            oh = max(rem, zero)
                    if ship_all and exact:
                        # exact arithmetic, every customer gets all it is owed: nothing
                        # stays owed and this period's orders are filled in full (the
                        # supplier's demand, fill and in-transit sums are derived from the
                        # customers' at the end of the replication)
                        for k in range(k0, k1):
                            c = chl[k]
                            cb = c * _NF
                            q = st[cb + _AOWED]
                            # (_NEW is left as is: the customer overwrites it in its next pass A)
                            if counts:
                                dnew += st[cb + _NEW]
                            if q > zero:
                                st[cb + _AOWED] = zero
                                ci = c * _NI
                                lead = si[ci + _LFIX]
                                if lead < 0:
                                    lead = lbuf[c * _BLOCK + tb]
                                due = t + lead
                                if not crossing:
                                    if due < si[ci + _LAST]:
                                        due = si[ci + _LAST]
                                    si[ci + _LAST] = due
                                if due == t:
                                    st[cb + _COMP] += q
                                    si[ci + _PEND] = 1
                                else:
                                    arrivals[c * calu + (_U(due) & cmask)] += q
                        st[b + _OWED] = zero
                    else:
                        owed = st[b + _OWED]
                        ito = st[b + _ITO]
                        acc_dem = st[b + _X_DEM]  # in registers for the loop
                        acc_fill = st[b + _X_FILL]
                        unf = st[b + _UNF]
                        for k in range(k0, k1):
                            c = chl[k]
                            cb = c * _NF
                            before = st[cb + _AOWED]
                            q = before if ship_all else st[cb + _SHIP]
                            if q > zero:
                                st[cb + _AOWED] = max(before - q, zero)
                                owed -= q
                                ci = c * _NI
                                lead = si[ci + _LFIX]
                                if lead < 0:
                                    lead = lbuf[c * _BLOCK + tb]
                                due = t + lead
                                if not crossing:
                                    if due < si[ci + _LAST]:
                                        due = si[ci + _LAST]
                                    si[ci + _LAST] = due
                                if due == t:
                                    st[cb + _COMP] += q
                                    si[ci + _PEND] = 1
                                else:
                                    arrivals[c * calu + (_U(due) & cmask)] += q
                                    ito += q
                                    if not exact:
                                        st[cb + _ITI] += q
                            nw = st[cb + _NEW]
                            if nw > zero:
                                filled_new = min(max(q - (before - nw), zero), nw)
                                if filled_new < nw - eps:
                                    short = True
                                if exact:
                                    unf += nw - filled_new
                                else:
                                    acc_dem += nw
                                    acc_fill += filled_new
                                if counts:
                                    dnew += nw
                                st[cb + _NEW] = zero
                        st[b + _X_DEM] = acc_dem
                        st[b + _X_FILL] = acc_fill
                        st[b + _UNF] = unf
                        if owed < eps:
                            owed = zero
                        st[b + _OWED] = owed
                        st[b + _ITO] = ito
                if dk != 0:
                    d = si[ib + _DOFF] if dk == 1 else dbuf[j * _BLOCK + tb]
                    if d > 0:
                        dem = d * one
                        f = dem if oh >= dem else max(oh, zero)
                        oh -= f
                        miss = dem - f
                        # branch-free: miss is +0 when all is filled, and adding +0 leaves
                        # the (never negative-zero) backorders and sums unchanged
                        short |= miss > zero
                        if backorders:
                            bo += miss
                        else:
                            st[b + _X_LOST] += miss
                        st[b + _X_DEM] += dem
                        st[b + _X_FILL] += f
                        if counts:
                            dnew += dem
                st[b + _OH] = oh
                st[b + _BO] = bo
                ok = (not short) & (bo <= eps) & (st[b + _OWED] <= eps)  # no branches
                nok = 1 if ok else 0
                si[ib + _POK] = nok
                si[ib + _NOK] += nok
                if si[ib + _CFIX] < 0:
                    n_end = cyc[j * calu + slot]
                    if n_end > 0:
                        cyc[j * calu + slot] = 0
                        st[b + _X_CYC] += n_end * one
                        st[b + _X_CYC_OK] += n_end * one if ok else zero
                si[ib + _NRDY] += 1 if oh > eps else 0
                st[b + _X_OH] += oh
                if exact:  # all kit buffers are empty at the end of a period
                    st[b + _X_ITI] += st[b + _OUT] - st[b + _AOWED]
                else:
                    st[b + _X_ITI] += st[b + _ITI]
                # backorders (no external demand), owed and in transit out (no customers)
                # stay +0 at such stages: adding them would not change the sums
                if dk != 0:
                    st[b + _X_BO] += bo
                if has_ch:
                    st[b + _X_OWD] += st[b + _OWED]
                    if not exact:
                        st[b + _X_ITO] += st[b + _ITO]
                if counts and t >= warmup:
                    # position histograms: X = S - net inventory and max(X - d, 0), as the
                    # general kernel's _count_position (same rounding, caps and tails)
                    hcap = si[ib + _HCAP]
                    if hcap >= 0:
                        xv = st[b + _BIGS] - (oh - bo - st[b + _OWED])
                        xi = int(round(xv))
                        yi = max(int(round(xv - dnew)), 0)
                        hb = _U(si[ib + _HB])
                        tl = (_U(s0) + j) * _U(5)
                        if xi <= hcap:
                            h_x[hb + _U(xi)] += 1.0
                        else:
                            h_tail[tl] += 1.0
                            h_tail[tl + _U1] += xi
                        if yi <= hcap:
                            h_y[hb + _U(yi)] += 1.0
                        else:
                            h_tail[tl + _U(2)] += 1.0
                            h_tail[tl + _U(3)] += yi
                        h_tail[tl + _U(4)] += dnew

        # ---- per-replication means -----------------------------------------------------
        if exact:
            # the sums the exact mode does not keep per period, from identities that hold
            # exactly in integer arithmetic: a supplier's units in transit out are its
            # customers' units in transit in, its demand from customers is what they
            # ordered, and it filled that less what it did not ship in the period ordered
            for j in range(nsu):
                b = j * _NF
                p = si[j * _NI + _PAR]
                if p >= 0:
                    pb = _U(p) * _NF
                    st[pb + _X_ITO] += st[b + _X_ITI]
                    st[pb + _X_DEM] += st[b + _X_OQ]
                    st[pb + _X_FILL] += st[b + _X_OQ]
            for j in range(nsu):
                st[j * _NF + _X_FILL] -= st[j * _NF + _UNF]
        for j in range(nsu):
            g = s0 + np.int64(j)
            a = j * _NF + _U(_ACC)
            ib = j * _NI
            # counts (sums of ones in the general kernel: exact, so identical)
            st[a + _U(M_READY_RATE)] = si[ib + _NRDY] * one
            st[a + _U(M_ORDER_FREQUENCY)] = si[ib + _NORD] * one
            if si[ib + _CFIX] == 0:  # the last period's cycle ends after the horizon
                st[a + _U(A_CYCLES)] = (n_total - warmup - 1) * one
                st[a + _U(A_CYCLES_OK)] = (si[ib + _NOK] - si[ib + _POK]) * one
            elif si[ib + _CFIX] > 0:
                st[a + _U(A_CYCLES)] = (n_total - warmup) * one
                st[a + _U(A_CYCLES_OK)] = si[ib + _NOK] * one
            for m in range(N_METRICS):
                out[m, r, g] = st[a + _U(m)] * inv
            dem = st[a + _U(M_DEMAND)]
            out[M_FILL_RATE, r, g] = st[a + _U(M_FILL_RATE)] / dem if dem > 0 else np.nan
            n_cyc = st[a + _U(A_CYCLES)]
            out[M_CYCLE_SERVICE, r, g] = st[a + _U(A_CYCLES_OK)] / n_cyc if n_cyc > 0 else np.nan


@nb.njit(cache=True, nogil=True)
def _simulate_tree_as(
    kind: int,
    line: tuple,
    i: int,
    nets: Networks,
    pols: Policies,
    dtab: DemandTables,
    ltab: LeadTimeTables,
    run: RunSettings,
    out: np.ndarray,
    hist: PositionBuffers,
    counting: tuple,
) -> None:
    """:func:`simulate_tree` in the arithmetic of ``kind`` (``FAST_INT``: int64, else float64)."""
    if kind == FAST_INT:
        simulate_tree(i, nets, pols, dtab, ltab, run, out, 0, 1, 0, True, line, hist, counting)
    else:
        simulate_tree(i, nets, pols, dtab, ltab, run, out, 0.0, 1.0, _EPS, kind == FAST_FLOAT_EXACT, line,
                      hist, counting)


@nb.njit(cache=True, nogil=True, parallel=True)
def simulate_all(
    net_fast: np.ndarray,
    nets: Networks,
    pols: Policies,
    dtab: DemandTables,
    ltab: LeadTimeTables,
    run: RunSettings,
    out: np.ndarray,
    hist: PositionBuffers,
) -> None:
    """Simulate every network (``prange``); writes ``out[metric, replication, stage]``.

    ``net_fast[i]`` picks the kernel of network ``i``: ``GENERAL`` (the general kernel),
    ``FAST_FLOAT``, ``FAST_FLOAT_EXACT`` or ``FAST_INT`` (:func:`simulate_tree` in float64, float64
    in exact mode, int64), the fast ones with ``| LINE`` for a line (no stage with more
    than one customer: :func:`simulate_tree`'s loop compiled for lines). The other
    arguments are packed as in :mod:`._packed`; ``hist`` collects the position
    histograms when ``hist.on`` (both kernels count them, identically; the fast kernel
    in a loop compiled with the counting, so a call without them pays nothing).

    Both kernels give identical numbers, each network only touches its own rows of
    ``out`` and draws only from its own streams, so results do not depend on the thread
    count, on the grouping of networks into calls or on which kernel ran.
    """
    n_net = nets.net_i.shape[0]
    for i in nb.prange(n_net):
        code = net_fast[i]
        if code == GENERAL:
            _simulate_network(i, nets, pols, dtab, ltab, run, out, hist)
        elif hist.on:
            if code & LINE:
                _simulate_tree_as(code & (LINE - 1), (1,), i, nets, pols, dtab, ltab, run, out, hist, (1,))
            else:
                _simulate_tree_as(code, (), i, nets, pols, dtab, ltab, run, out, hist, (1,))
        elif code & LINE:
            _simulate_tree_as(code & (LINE - 1), (1,), i, nets, pols, dtab, ltab, run, out, hist, ())
        else:
            _simulate_tree_as(code, (), i, nets, pols, dtab, ltab, run, out, hist, ())
