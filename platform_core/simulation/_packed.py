"""The network kernels' arguments, packed by meaning into Numba-compatible named tuples.

Numba takes a ``typing.NamedTuple`` of arrays (or scalars) as an argument and passes its
fields on as separate values, so a kernel that reads ``nets.stage_i`` costs what a
kernel taking ``stage_i`` does; the kernels unpack the fields they use at the top.
Grouped by meaning, a new parameter (say, a per-stage policy array) is one field here
and one assignment in :func:`.engine.simulate`, and the signatures of
``simulate_all`` / ``_simulate_network`` / ``simulate_tree`` do not change.

Array layouts (columns, CSR offsets) are described in :mod:`._kernels`; the fast
kernel's threshold tables in :func:`._rng.threshold_tables`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Networks", "Policies", "DemandTables", "LeadTimeTables", "RunSettings", "PositionBuffers"]


class Networks(NamedTuple):
    """Structure of the SKU networks of one call, and their seeds.

    Attributes:
        net_i: ``int64 [network, N_NET_FIELDS]``: stage and arc ranges, calendar sizes,
            echelon flag (columns ``_N_*``).
        net_seed: ``uint64 [network]``: each network's seed (its random streams are keyed
            by it, see :mod:`._rng`).
        stage_i: ``int64 [stage, N_STAGE_INT_FIELDS]``: inbound/outbound arc ranges,
            demand distribution, processing time [periods], stream key, policy kind,
            review period [periods], demand cycle length (columns ``_S_*``).
        arc_i: ``int64 [arc, N_ARC_INT_FIELDS]``: source and destination stage, lead-time
            distribution, stream key (columns ``_A_*``).
        out_arcs: ``int64``: outbound arcs of each stage (``stage_i[:, _S_OUT0:_S_OUT1]``).
        arc_qp: ``float64 [arc]``: quantity per [units of the source / unit].
    """

    net_i: np.ndarray
    net_seed: np.ndarray
    stage_i: np.ndarray
    arc_i: np.ndarray
    out_arcs: np.ndarray
    arc_qp: np.ndarray


class Policies(NamedTuple):
    """Policy parameters per stage (the kind and review period are ``stage_i`` columns).

    Attributes:
        stage_f: ``float64 [stage, N_STAGE_FLOAT_FIELDS]``: reorder point ``s``,
            order-up-to ``S``, order quantity ``Q``, MOQ, order multiple, capacity and
            initial on-hand stock [units] (columns ``_F_*``).
    """

    stage_f: np.ndarray


class DemandTables(NamedTuple):
    """Inverse-CDF tables of the demand distributions [units/period].

    Attributes:
        cdf, guide, ptr, off: CSR cumulative probabilities, Chen-Asau guide tables (same
            layout), block offsets and support offsets (the general kernel).
        sched: per-period demand cycles: distribution indices, concatenated (a stage's
            ``stage_i[:, _S_DEM]`` points at its cycle's first entry).
        tab: the fast kernel's integer tables of *all* distributions, demand and lead
            time, in one array (thresholds and guide tables; the same array as
            :attr:`LeadTimeTables.tab`).
        tlo, tglo, gshift: per distribution, the position of its thresholds and of its
            guide table in ``tab``, and its guide shift.
        joint_net: ``int64 [network, 3]``: correlated demand (:class:`.JointDemand`) of each
            network: the position of its ranks in ``joint_rank``, its historical periods
            ``H`` (0: every stage draws independently) and the slice width
            ``floor(2**64 / H)`` (see :func:`._rng.joint_z`).
        joint_rank: ``int64``: per network with correlated demand, ``H`` rows of one rank
            per stage in kernel (topological) order, ``-1`` for a stage drawn
            independently: row ``h`` of network ``i`` starts at ``joint_net[i, 0] + h *
            stages``.
    """

    cdf: np.ndarray
    guide: np.ndarray
    ptr: np.ndarray
    off: np.ndarray
    sched: np.ndarray
    tab: np.ndarray
    tlo: np.ndarray
    tglo: np.ndarray
    gshift: np.ndarray
    joint_net: np.ndarray
    joint_rank: np.ndarray


class LeadTimeTables(NamedTuple):
    """Inverse-CDF tables of the lead-time distributions [periods].

    Attributes: as :class:`DemandTables` (without per-period cycles or correlation).
    """

    cdf: np.ndarray
    guide: np.ndarray
    ptr: np.ndarray
    off: np.ndarray
    tab: np.ndarray
    tlo: np.ndarray
    tglo: np.ndarray
    gshift: np.ndarray


class RunSettings(NamedTuple):
    """Settings shared by every network of the call.

    Attributes:
        n_reps: replications.
        n_total: periods per replication, warm-up included.
        warmup: periods before the measurements start.
        backorders: unmet external demand is backordered (else lost).
        crossing: shipments on a lane may overtake each other.
        alloc: ``ALLOC_FIFO`` or ``ALLOC_PROPORTIONAL``.
    """

    n_reps: int
    n_total: int
    warmup: int
    backorders: bool
    crossing: bool
    alloc: int


class PositionBuffers(NamedTuple):
    """Outputs of the position histograms (``simulate(position_histograms=True)``).

    Indexed by the kernels' global stage position ``g`` (topological order). A stage with
    ``ptr[g + 1] == ptr[g]`` collects nothing (not an installation base-stock stage, or
    histograms off). With ``S`` the stage's level, ``NI`` its net inventory (on hand -
    customer backorders - downstream orders not shipped) and ``d`` the units demanded of
    it in a measured period (external demand + downstream orders placed), the kernel
    counts ``X = S - NI`` at the end of the period and ``max(Y, 0)``, ``Y = X - d``.

    Attributes:
        on: collect (``False``: every array may be a 1-element dummy).
        groups: replication groups (replication ``r`` is in group ``r % groups``).
        ptr: ``int64 [stage + 1]``: bins of stage ``g`` are ``ptr[g]:ptr[g + 1]``
            (values ``0 .. cap``).
        x_counts, y_counts: ``float64 [groups, ptr[-1]]``: periods with ``X`` (``max(Y,
            0)``) equal to the bin's value [periods].
        tails: ``float64 [groups, stage, 5]``: periods with ``X > cap``, their sum of
            ``X`` [units], the same two for ``max(Y, 0)``, and the sum of ``d`` [units].
    """

    on: bool
    groups: int
    ptr: np.ndarray
    x_counts: np.ndarray
    y_counts: np.ndarray
    tails: np.ndarray
