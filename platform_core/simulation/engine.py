"""The typed public wrapper around the network-simulation kernel.

:func:`simulate` validates and packs many SKU networks into flat CSR arrays, derives one
64-bit seed per network, calls the parallel Numba kernels, and returns a
:class:`SimulationResult` with per-stage metrics and their standard errors across
replications.

Each network runs on one of three kernels (:func:`_kernel_choice`), all giving the same
numbers bit for bit: the stage-major tree kernel (:mod:`._stage_major`: installation
base-stock trees with backorders in exact mode, i.e. integer levels so every quantity is
an exact integer and the order of the sums cannot change a bit; order streams bottom-up
from the draws, then one stage's whole path at a time), the fast tree kernel
(:mod:`._fast_kernels`: other trees of base-stock stages) and the general kernel
(:mod:`._kernels`: everything else).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from platform_core.distributions import DiscreteDistribution, pack_distributions
from platform_core.seeds import stage_seed

from . import _fast_kernels as FK
from . import _kernels as K
from . import _stage_major as SM
from ._packed import DemandTables, LeadTimeTables, Networks, Policies, PositionBuffers, RunSettings
from ._rng import guide_table, threshold_tables
from ._sampling_tables import sampling_tables
from .joint_demand import JointDemand
from .network import Network, Policy
from .positions import PositionHistograms

__all__ = ["Costs", "DemandSchedule", "SimulationResult", "simulate", "METRICS", "LeadTimeSpec", "DemandSpec"]

#: kernel metrics in output order, with units
KERNEL_METRICS: tuple[tuple[str, str], ...] = (
    ("demand", "[units/period]"),
    ("fill_rate", "[-]"),
    ("cycle_service_level", "[-]"),
    ("ready_rate", "[-]"),
    ("on_hand", "[units]"),
    ("backorders", "[units]"),
    ("owed_downstream", "[units]"),
    ("lost_sales", "[units/period]"),
    ("in_transit_out", "[units]"),
    ("in_transit_in", "[supplier units]"),
    ("order_frequency", "[orders/period]"),
    ("order_quantity", "[units/period]"),
)
#: metrics derived from the kernel metrics and :class:`Costs`
DERIVED_METRICS: tuple[tuple[str, str], ...] = (
    ("inventory_investment", "[currency]"),
    ("holding_cost", "[currency/period]"),
    ("backorder_cost", "[currency/period]"),
    ("lost_sales_cost", "[currency/period]"),
    ("ordering_cost", "[currency/period]"),
    ("total_cost", "[currency/period]"),
)
METRICS: tuple[str, ...] = tuple(m for m, _ in KERNEL_METRICS + DERIVED_METRICS)

LeadTimeSpec = (
    int
    | DiscreteDistribution
    | Sequence[int | DiscreteDistribution]
    | Mapping[tuple[int, int], int | DiscreteDistribution]
)


@dataclass(frozen=True, init=False)
class DemandSchedule:
    """Per-period demand of one stage: a cycle of distributions, one per period.

    Period ``t`` of a replication (counted from the first warm-up period, ``t = 0``)
    draws its demand from ``distributions[t % len(distributions)]``, with the same single
    uniform draw per stage-period as stationary demand (common random numbers carry
    over: a schedule of identical distributions gives exactly the stationary numbers).
    Use it wherever :func:`simulate` takes a demand distribution.

    Attributes:
        distributions: one :class:`DiscreteDistribution` per period of the cycle
            [units/period]; e.g. 7 for a weekly pattern of daily demand, 52 for weeks of
            a year, or ``warmup + periods`` entries for a finite planning horizon.
    """

    distributions: tuple[DiscreteDistribution, ...]

    def __init__(self, distributions: Sequence[DiscreteDistribution]) -> None:
        dists = tuple(distributions)
        if not dists:
            raise ValueError("DemandSchedule needs at least one distribution")
        if not all(isinstance(d, DiscreteDistribution) for d in dists):
            raise TypeError("DemandSchedule entries must be DiscreteDistribution objects")
        object.__setattr__(self, "distributions", dists)

    @classmethod
    def poisson(cls, means: Sequence[float] | np.ndarray) -> DemandSchedule:
        """Poisson demand with one mean per period of the cycle [units/period]."""
        memo: dict[float, DiscreteDistribution] = {}  # equal means share one table
        dists = []
        for m in np.asarray(means, dtype=np.float64).ravel():
            if float(m) not in memo:
                memo[float(m)] = DiscreteDistribution.poisson(float(m))
            dists.append(memo[float(m)])
        return cls(dists)

    def __len__(self) -> int:
        return len(self.distributions)

    def means(self) -> np.ndarray:
        """Mean demand of each period of the cycle [units/period]."""
        return np.array([d.mean() for d in self.distributions])


StageDemand = DiscreteDistribution | DemandSchedule
DemandSpec = StageDemand | Sequence[StageDemand | Sequence[DiscreteDistribution] | None] | Mapping[
    int, StageDemand | Sequence[DiscreteDistribution]]

_ALLOCATION = {"fifo": K.ALLOC_FIFO, "proportional": K.ALLOC_PROPORTIONAL}
_POINTS: dict[int, DiscreteDistribution] = {}  # shared deterministic lead times


@dataclass(frozen=True)
class Costs:
    """Per-stage cost rates of one network (scalars broadcast to every stage).

    Attributes:
        holding: [currency/unit/period] on end-of-period on-hand stock and on units in
            transit from the stage to its customers (the in-transit convention of
            Clark-Scarf echelon accounting).
        backorder: [currency/unit/period] on end-of-period customer backorders.
        lost_sale: [currency/unit] per unit of demand lost.
        ordering: [currency/order] per order placed.
        unit_value: [currency/unit] for inventory investment (mean on-hand x value).
    """

    holding: float | Sequence[float] | np.ndarray = 0.0
    backorder: float | Sequence[float] | np.ndarray = 0.0
    lost_sale: float | Sequence[float] | np.ndarray = 0.0
    ordering: float | Sequence[float] | np.ndarray = 0.0
    unit_value: float | Sequence[float] | np.ndarray = 0.0

    def arrays(self, n: int) -> dict[str, np.ndarray]:
        """The rates as float arrays of length ``n``."""
        out = {}
        for name in ("holding", "backorder", "lost_sale", "ordering", "unit_value"):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            a = np.full(n, float(a)) if a.ndim == 0 else a
            if a.shape != (n,):
                raise ValueError(f"Costs.{name} must be a scalar or one value per stage ({n})")
            out[name] = a
        return out


@dataclass(frozen=True)
class SimulationResult:
    """Per-stage metrics of a :func:`simulate` call.

    Rows are all stages of all networks, network by network, each network's stages in
    its own index order: rows ``network_ptr[i]:network_ptr[i+1]`` belong to network ``i``.

    Attributes:
        network_ptr: CSR offsets of each network's rows.
        network: network index of each row.
        stage: stage index (within its network) of each row.
        stage_name: stage label of each row.
        replicates: ``{metric: array (replications, rows)}``, one value per replication.
        mean: ``{metric: array (rows,)}``, mean over replications.
        se: ``{metric: array (rows,)}``, standard error of the mean over replications
            (``nan`` with a single replication).
        network_cost: total cost per period of each network [currency/period].
        network_cost_se: its standard error.
        units: ``{metric: unit string}``.
        positions: position histograms (``simulate(position_histograms=True)``, else
            ``None``): every applicable stage's fill rate, backlog and on hand at any
            level from this one run, see :class:`.PositionHistograms`.
    """

    network_ptr: np.ndarray
    network: np.ndarray
    stage: np.ndarray
    stage_name: tuple[str, ...]
    replicates: dict[str, np.ndarray]
    mean: dict[str, np.ndarray]
    se: dict[str, np.ndarray]
    network_cost: np.ndarray
    network_cost_se: np.ndarray
    units: dict[str, str]
    positions: PositionHistograms | None = None

    def __getitem__(self, metric: str) -> np.ndarray:
        """The mean of ``metric`` per row."""
        return self.mean[metric]

    def for_network(self, i: int) -> dict[str, np.ndarray]:
        """Means of every metric for the stages of network ``i`` (keys ``*_se``: SEs)."""
        sl = slice(int(self.network_ptr[i]), int(self.network_ptr[i + 1]))
        out = {m: v[sl] for m, v in self.mean.items()}
        out.update({f"{m}_se": v[sl] for m, v in self.se.items()})
        return out

    def to_arrow(self) -> pa.Table:
        """One row per stage: ids, then ``metric`` and ``metric_se`` columns."""
        cols: dict[str, Any] = {
            "network": pa.array(self.network, pa.int64()),
            "stage": pa.array(self.stage, pa.int64()),
            "stage_name": pa.array(list(self.stage_name), pa.string()),
        }
        for m in METRICS:
            cols[m] = pa.array(self.mean[m], pa.float64())
            cols[f"{m}_se"] = pa.array(self.se[m], pa.float64())
        meta = {f"unit.{m}": u for m, u in self.units.items()}
        return pa.table(cols).replace_schema_metadata(meta)


def _as_list(obj: Any, n: int, single: bool, what: str) -> list[Any]:
    if single:
        return [obj]
    if isinstance(obj, list | tuple):
        if len(obj) != n:
            raise ValueError(f"{what}: expected one entry per network ({n}), got {len(obj)}")
        return list(obj)
    return [obj] * n


def _as_dist(x: int | float | DiscreteDistribution, what: str) -> DiscreteDistribution:
    if isinstance(x, DiscreteDistribution):
        return x
    v = float(x)
    if v < 0 or v != round(v):
        raise ValueError(f"{what}: a deterministic value must be a non-negative integer, got {x}")
    dist = _POINTS.get(int(v))
    if dist is None:
        dist = _POINTS.setdefault(int(v), DiscreteDistribution.point(int(v)))
    return dist


def _schedule(entry: Any) -> tuple[DiscreteDistribution, ...] | None:
    """A stage's demand entry as a tuple of per-period distributions (``None``: no demand)."""
    if entry is None:
        return None
    if isinstance(entry, DiscreteDistribution):
        return (entry,)
    if isinstance(entry, DemandSchedule):
        return entry.distributions
    if isinstance(entry, list | tuple):
        return DemandSchedule(entry).distributions
    raise TypeError("demand entries must be DiscreteDistribution, DemandSchedule, a list of "
                    "DiscreteDistribution (one per period) or None")


def _stage_demand(net: Network, spec: DemandSpec | None) -> list[tuple[DiscreteDistribution, ...] | None]:
    """Per stage, the demand distribution of each period of its cycle (``None``: none)."""
    n = net.n_stages
    out: list[tuple[DiscreteDistribution, ...] | None] = [None] * n
    if spec is None:
        raise ValueError("demand is required")
    if isinstance(spec, DiscreteDistribution | DemandSchedule):
        sched = _schedule(spec)
        for j in net.customer_facing:
            out[j] = sched
    elif isinstance(spec, Mapping):
        for j, d in spec.items():
            if not 0 <= int(j) < n:
                raise ValueError(f"demand given for unknown stage {j}")
            out[int(j)] = _schedule(d)
    else:
        seq = list(spec)
        if len(seq) != n:
            raise ValueError(f"demand: expected one entry per stage ({n})")
        out = [_schedule(d) for d in seq]
    return out


def _arc_lead_times(net: Network, spec: LeadTimeSpec, arcs: list[tuple[int, int, float]]) -> list[DiscreteDistribution]:
    """Lead-time PMF of each (internal or external, ``upstream = -1``) arc."""
    if isinstance(spec, Mapping):
        out = []
        for u, d, _ in arcs:
            if (u, d) not in spec:
                raise ValueError(f"lead_times: no lead time for lane ({u}, {d}) (-1 = external supplier)")
            out.append(_as_dist(spec[(u, d)], f"lead time of lane ({u}, {d})"))
        return out
    if isinstance(spec, DiscreteDistribution | int | float | np.integer):
        dist = _as_dist(spec, "lead_times")
        return [dist] * len(arcs)
    seq = list(spec)
    if len(seq) != net.n_stages:
        raise ValueError(f"lead_times: expected one entry per stage ({net.n_stages})")
    per_stage = [_as_dist(x, f"lead time of stage {j}") for j, x in enumerate(seq)]
    return [per_stage[d] for _, d, _ in arcs]


_STAGE_FIELDS = ("st_key", "st_process", "st_init", "pol_type", "pol_s", "pol_big_s", "pol_q",
                 "pol_review", "pol_moq", "pol_mult", "pol_cap")


@dataclass
class _Block:
    """One network packed with local indices (stages in topological order)."""

    n_stages: int
    position: np.ndarray  # topological position of each user stage
    stage: dict[str, np.ndarray]  # _STAGE_FIELDS, in topological order
    st_demand: np.ndarray  # index into ``demand`` (stationary), into ``schedule`` (cycle) or -1
    st_dlen: np.ndarray  # length of the stage's demand cycle (1: stationary)
    demand: list[DiscreteDistribution]
    schedule: np.ndarray  # per-period demand cycles: indices into ``demand``, concatenated
    in_counts: np.ndarray
    out_counts: np.ndarray
    out_arcs: np.ndarray  # local arc positions, grouped by upstream stage
    arc_src: np.ndarray  # local stage position or -1 (external supplier)
    arc_dst: np.ndarray
    arc_qp: np.ndarray
    arc_key: np.ndarray
    arc_lt: np.ndarray  # index into ``lead``
    lead: list[DiscreteDistribution]
    calendar: int
    process_calendar: int
    echelon: bool
    fast: bool  # eligible for the fast tree kernel (see ``_fast_kernels``)
    integral: bool  # integer levels and initial stock (integer arithmetic is exact)
    magnitude: float  # sum of |levels| and |initial stock| [units]
    max_demand: int  # largest external demand of one period [units]
    fast_shape: bool = False  # the network's part of ``fast`` (one inbound arc per stage, ...)


def _pack_network(net: Network, pol: Any, dem_spec: Any, lt_spec: Any, proc_spec: Any) -> _Block:
    n = net.n_stages
    order = np.array(net.topological_order, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    if not isinstance(pol, Policy):
        raise TypeError("policies must be Policy objects")
    pa_ = pol.resolve(net)
    dem = _stage_demand(net, dem_spec)
    proc = np.zeros(n, dtype=np.int64) if proc_spec is None else np.asarray(proc_spec, dtype=np.int64)
    if proc.shape != (n,) or np.any(proc < 0):
        raise ValueError("processing_times: one non-negative integer per stage")
    all_arcs: list[tuple[int, int, float]] = list(net.arcs)
    for j in range(n):
        if not net.upstream(j):
            all_arcs.append((-1, j, 1.0))
    lt = _arc_lead_times(net, lt_spec, all_arcs)
    by_dst = sorted(range(len(all_arcs)), key=lambda k: (pos[all_arcs[k][1]], k))
    local_arc_pos = np.empty(len(all_arcs), dtype=np.int64)
    local_arc_pos[by_dst] = np.arange(len(all_arcs))
    arc_index = {(u, d): k for k, (u, d, _) in enumerate(all_arcs)}
    lead_ids: dict[int, int] = {}
    lead: list[DiscreteDistribution] = []
    arc_lt = np.empty(len(all_arcs), dtype=np.int64)
    for p, k in enumerate(by_dst):
        lane = lt[k]
        idx = lead_ids.setdefault(id(lane), len(lead))
        if idx == len(lead):
            lead.append(lane)
        arc_lt[p] = idx
    src = np.array([all_arcs[k][0] for k in by_dst], dtype=np.int64)
    demand_ids: dict[int, int] = {}
    demand: list[DiscreteDistribution] = []
    st_demand = np.full(n, -1, dtype=np.int64)
    st_dlen = np.ones(n, dtype=np.int64)
    schedule: list[int] = []
    out_arcs: list[int] = []
    out_counts = np.zeros(n, dtype=np.int64)
    in_counts = np.zeros(n, dtype=np.int64)
    for p in range(n):
        j = int(order[p])
        sched = dem[j]
        if sched is not None:
            ids = []
            for dist in sched:
                di = demand_ids.setdefault(id(dist), len(demand))
                if di == len(demand):
                    demand.append(dist)
                ids.append(di)
            if len(ids) == 1:  # stationary (a one-period cycle is the same thing)
                st_demand[p] = ids[0]
            else:
                st_demand[p] = len(schedule)
                st_dlen[p] = len(ids)
                schedule.extend(ids)
        kids = sorted(int(local_arc_pos[arc_index[(j, c)]]) for c in net.downstream(j))
        out_arcs.extend(kids)
        out_counts[p] = len(kids)
        in_counts[p] = max(1, len(net.upstream(j)))
    max_lt = max(dd.offset + dd.pmf.size - 1 for dd in lead)
    in_deg = np.array([len(net.upstream(j)) for j in range(n)], dtype=np.int64)
    fast_shape = bool(np.all(in_deg <= 1) and all(q == 1.0 for _, _, q in net.arcs) and not np.any(proc))
    shape = _Block(
        n_stages=n, position=pos, stage={"st_key": order.copy(), "st_process": proc[order]}, st_demand=st_demand,
        st_dlen=st_dlen, demand=demand, schedule=np.asarray(schedule, dtype=np.int64),
        in_counts=in_counts, out_counts=out_counts, out_arcs=np.asarray(out_arcs, dtype=np.int64),
        arc_src=np.where(src < 0, -1, pos[np.maximum(src, 0)]),
        arc_dst=pos[np.array([all_arcs[k][1] for k in by_dst], dtype=np.int64)],
        arc_qp=np.array([all_arcs[k][2] for k in by_dst], dtype=np.float64),
        arc_key=np.asarray(by_dst, dtype=np.int64), arc_lt=arc_lt, lead=lead,
        calendar=1 << int(max_lt).bit_length(),  # power of two > longest lead time
        process_calendar=int(proc.max()) + 1,
        echelon=False, fast=False, integral=True, magnitude=0.0,
        max_demand=max((dd.offset + dd.pmf.size - 1 for dd in demand), default=0),
        fast_shape=fast_shape,
    )
    return _with_policy(shape, pa_)


def _with_policy(shape: _Block, pa_: dict[str, np.ndarray]) -> _Block:
    """``shape`` (a packed network) with the policy fields of ``pa_`` (``Policy.resolve``).

    :func:`simulate` packs a network's structure (stages, arcs, distributions) once per
    call and re-uses it for every other policy of the same network, demand, lead times
    and processing times (e.g. a solver's candidate levels): only this part is redone.
    """
    order = shape.stage["st_key"]
    stage = {"st_key": order, "st_process": shape.stage["st_process"], "st_init": pa_["st_init"][order]}
    for name in _STAGE_FIELDS[3:]:
        stage[name] = pa_[name][order]
    fast = bool(
        shape.fast_shape
        and np.all((pa_["pol_type"] == K.POLICY_BASE_STOCK) | (pa_["pol_type"] == K.POLICY_ECHELON_BASE_STOCK))
        and np.all(pa_["pol_moq"] == 0.0)
        and np.all(pa_["pol_mult"] == 0.0)
        and np.all(np.isposinf(pa_["pol_cap"]))
    )
    return dataclasses.replace(
        shape, stage=stage,
        echelon=bool(np.any(pa_["pol_type"] == K.POLICY_ECHELON_BASE_STOCK)),
        fast=fast,
        integral=bool(np.all(pa_["pol_big_s"] == np.round(pa_["pol_big_s"]))
                      and np.all(pa_["st_init"] == np.round(pa_["st_init"]))),
        magnitude=float(np.abs(pa_["pol_big_s"]).sum() + np.abs(pa_["st_init"]).sum()),
    )


#: each live distribution's sampling tables (by identity; dropped with the distribution)
_TABLES: dict[int, tuple[weakref.ref[DiscreteDistribution], tuple[np.ndarray, ...]]] = {}


def _tables_of(dist: DiscreteDistribution) -> tuple[np.ndarray, ...]:
    """``dist``'s cdf, guide, thresholds and threshold guide (block-relative), and its shift.

    Computed once per distribution: every table is one block per distribution, so the
    tables of many are these blocks concatenated (:func:`_distribution_tables`), the same
    numbers as packing them together; solvers simulate the same distributions again and
    again (search copies, passes, the final run).
    """
    hit = _TABLES.get(id(dist))
    if hit is not None and hit[0]() is dist:
        return hit[1]
    _tabulate([dist])
    return _TABLES[id(dist)][1]


def _tabulate(dists: list[DiscreteDistribution]) -> None:
    """Compute and keep the tables of ``dists`` (distinct objects), all in one compiled pass.

    The same numbers as ``pack_distributions``, ``guide_table`` and ``threshold_tables``
    of each distribution alone (:func:`._sampling_tables.sampling_tables`).
    """
    cdf, ptr, _off = pack_distributions(dists)
    guide, thr, g_ptr, tguide, g_shift = sampling_tables(cdf, ptr)
    for i, dist in enumerate(dists):
        a, b = int(ptr[i]), int(ptr[i + 1])
        ga, gb = int(g_ptr[i]), int(g_ptr[i + 1])
        key = id(dist)

        def forget(_ref: weakref.ref[DiscreteDistribution], key: int = key) -> None:
            _TABLES.pop(key, None)

        _TABLES[key] = (weakref.ref(dist, forget), (cdf[a:b], guide[a:b], thr[a:b], tguide[ga:gb], g_shift[i:i + 1]))


def _distribution_tables(dists: list[DiscreteDistribution]) -> tuple[np.ndarray, ...]:
    """``pack_distributions``, ``guide_table`` and ``threshold_tables`` of ``dists``."""
    new = []
    for d in dists:
        hit = _TABLES.get(id(d))
        if hit is None or hit[0]() is not d:
            new.append(d)
    if new:
        _tabulate(new)
    tabs = [_tables_of(d) for d in dists]
    sizes = np.fromiter((t[0].size for t in tabs), dtype=np.int64, count=len(tabs))
    ptr = np.zeros(len(tabs) + 1, dtype=np.int64)
    np.cumsum(sizes, out=ptr[1:])
    g_sizes = np.fromiter((t[3].size for t in tabs), dtype=np.int64, count=len(tabs))
    g_ptr = np.zeros(len(tabs) + 1, dtype=np.int64)
    np.cumsum(g_sizes, out=g_ptr[1:])
    off = np.fromiter((d.offset for d in dists), dtype=np.int64, count=len(dists))
    return (np.concatenate([t[0] for t in tabs]), ptr, off, np.concatenate([t[1] for t in tabs]),
            np.concatenate([t[2] for t in tabs]), g_ptr, np.concatenate([t[3] for t in tabs]),
            np.concatenate([t[4] for t in tabs]))


def _concatenate(blocks: list[_Block]) -> dict[str, np.ndarray]:
    """Concatenate network blocks into the kernel's global CSR arrays."""
    n_net = len(blocks)
    sizes = np.fromiter((b.n_stages for b in blocks), dtype=np.int64, count=n_net)
    arcs = np.fromiter((b.arc_src.size for b in blocks), dtype=np.int64, count=n_net)
    net_stage_ptr = np.zeros(n_net + 1, dtype=np.int64)
    np.cumsum(sizes, out=net_stage_ptr[1:])
    net_arc_ptr = np.zeros(n_net + 1, dtype=np.int64)
    np.cumsum(arcs, out=net_arc_ptr[1:])
    s_off = np.repeat(net_stage_ptr[:-1], arcs)
    a_off_out = np.repeat(net_arc_ptr[:-1], [b.out_arcs.size for b in blocks])
    out: dict[str, np.ndarray] = {"net_stage_ptr": net_stage_ptr, "net_arc_ptr": net_arc_ptr}
    for name in _STAGE_FIELDS:
        out[name] = np.concatenate([b.stage[name] for b in blocks])
    src = np.concatenate([b.arc_src for b in blocks])
    out["arc_src"] = np.where(src < 0, -1, src + s_off)
    out["arc_dst"] = np.concatenate([b.arc_dst for b in blocks]) + s_off
    out["arc_qp"] = np.concatenate([b.arc_qp for b in blocks])
    out["arc_key"] = np.concatenate([b.arc_key for b in blocks])
    out["out_arcs"] = np.concatenate([b.out_arcs for b in blocks]) + a_off_out
    out["st_in_ptr"] = np.zeros(net_stage_ptr[-1] + 1, dtype=np.int64)
    np.cumsum(np.concatenate([b.in_counts for b in blocks]), out=out["st_in_ptr"][1:])
    out["st_out_ptr"] = np.zeros(net_stage_ptr[-1] + 1, dtype=np.int64)
    np.cumsum(np.concatenate([b.out_counts for b in blocks]), out=out["st_out_ptr"][1:])
    out["net_cal"] = np.array([b.calendar for b in blocks], dtype=np.int64)
    out["net_pcal"] = np.array([b.process_calendar for b in blocks], dtype=np.int64)
    out["net_echelon"] = np.array([b.echelon for b in blocks], dtype=np.bool_)
    # distributions, deduplicated by identity across blocks
    tables = []
    for kind, field_dists, field_idx, target in (("d", "demand", "st_demand", "st_demand"),
                                                 ("l", "lead", "arc_lt", "arc_lt")):
        ids: dict[int, int] = {}
        dists: list[DiscreteDistribution] = []
        maps: dict[int, np.ndarray] = {}
        parts = []
        for b in blocks:
            local = getattr(b, field_dists)  # shared by blocks of one structure (``_with_policy``)
            m = maps.get(id(local))
            if m is None:
                m = np.empty(len(local) + 1, dtype=np.int64)
                m[-1] = -1
                for k, dist in enumerate(local):
                    g = ids.setdefault(id(dist), len(dists))
                    if g == len(dists):
                        dists.append(dist)
                    m[k] = g
                maps[id(local)] = m
            idx = getattr(b, field_idx)
            if kind == "d":  # cycle stages index ``b.schedule`` (mapped below)
                idx = np.where(b.st_dlen > 1, -1, idx)
            parts.append(m[idx])
        out[target] = np.concatenate(parts)
        if kind == "d":
            # per-period cycles: global distribution ids, one block per distinct block;
            # a cycle stage's st_demand points at its first entry in d_sched
            sched_parts: list[np.ndarray] = []
            sched_at: dict[int, int] = {}
            n_sched = 0
            st_parts = []
            for b, part in zip(blocks, parts, strict=True):
                cyc = b.st_dlen > 1
                if not cyc.any():
                    st_parts.append(part)
                    continue
                at = sched_at.get(id(b))
                if at is None:
                    at = sched_at[id(b)] = n_sched
                    sched_parts.append(maps[id(b.demand)][b.schedule])
                    n_sched += b.schedule.size
                st_parts.append(np.where(cyc, b.st_demand + at, part))
            out[target] = np.concatenate(st_parts)
            out["st_dlen"] = np.concatenate([b.st_dlen for b in blocks])
            out["d_sched"] = np.concatenate(sched_parts) if sched_parts else np.zeros(1, dtype=np.int64)
        if dists:
            cdf, ptr, off, guide, thr, g_ptr, tguide, g_shift = _distribution_tables(dists)
        else:
            cdf, ptr, off = np.ones(1), np.array([0, 1], dtype=np.int64), np.zeros(1, dtype=np.int64)
            guide = guide_table(cdf, ptr)
            thr, g_ptr, tguide, g_shift = threshold_tables(cdf, ptr)
        out[f"{kind}_cdf"], out[f"{kind}_ptr"], out[f"{kind}_off"] = cdf, ptr, off
        out[f"{kind}_guide"] = guide
        tables.append((kind, ptr, thr, g_ptr, tguide, g_shift))
    # the fast kernel's sampling tables: thresholds and guide tables in one array
    parts, start = [], 0
    for kind, ptr, thr, g_ptr, tguide, g_shift in tables:
        out[f"{kind}_tlo"] = ptr[:-1] + start
        parts.append(thr)
        start += thr.size
        out[f"{kind}_tglo"] = g_ptr[:-1] + start
        parts.append(tguide)
        start += tguide.size
        out[f"{kind}_gshift"] = g_shift
    out["tab"] = np.concatenate(parts)
    # static tables, one row per network / stage / arc (columns: see _kernels)
    n_stage = int(net_stage_ptr[-1])
    net_i = np.empty((n_net, K.N_NET_FIELDS), dtype=np.int64)
    net_i[:, K._N_S0], net_i[:, K._N_S1] = net_stage_ptr[:-1], net_stage_ptr[1:]
    net_i[:, K._N_A0], net_i[:, K._N_A1] = net_arc_ptr[:-1], net_arc_ptr[1:]
    net_i[:, K._N_CAL], net_i[:, K._N_PCAL] = out.pop("net_cal"), out.pop("net_pcal")
    net_i[:, K._N_ECH] = out.pop("net_echelon")
    stage_i = np.empty((n_stage, K.N_STAGE_INT_FIELDS), dtype=np.int64)
    in_ptr, out_ptr = out.pop("st_in_ptr"), out.pop("st_out_ptr")
    stage_i[:, K._S_IN0], stage_i[:, K._S_IN1] = in_ptr[:-1], in_ptr[1:]
    stage_i[:, K._S_OUT0], stage_i[:, K._S_OUT1] = out_ptr[:-1], out_ptr[1:]
    for col, name in ((K._S_DEM, "st_demand"), (K._S_PROC, "st_process"), (K._S_KEY, "st_key"),
                      (K._S_TYPE, "pol_type"), (K._S_REVIEW, "pol_review"), (K._S_DLEN, "st_dlen")):
        stage_i[:, col] = out.pop(name)
    stage_f = np.empty((n_stage, K.N_STAGE_FLOAT_FIELDS), dtype=np.float64)
    for col, name in ((K._F_S, "pol_s"), (K._F_BIGS, "pol_big_s"), (K._F_Q, "pol_q"),
                      (K._F_MOQ, "pol_moq"), (K._F_MULT, "pol_mult"), (K._F_CAP, "pol_cap"),
                      (K._F_INIT, "st_init")):
        stage_f[:, col] = out.pop(name)
    arc_i = np.empty((int(net_arc_ptr[-1]), K.N_ARC_INT_FIELDS), dtype=np.int64)
    for col, name in ((K._A_SRC, "arc_src"), (K._A_DST, "arc_dst"), (K._A_LT, "arc_lt"),
                      (K._A_KEY, "arc_key")):
        arc_i[:, col] = out.pop(name)
    out.update(net_i=net_i, stage_i=stage_i, stage_f=stage_f, arc_i=arc_i)
    return out


def _kernel_choice(blocks: list[_Block], n_total: int, kernel: str = "auto", backorders: bool = True,
                   allocation: str = "fifo") -> np.ndarray:
    """``SM.STAGE_MAJOR``, ``FK.GENERAL``, ``FK.FAST_FLOAT``, ``FK.FAST_FLOAT_EXACT`` or ``FK.FAST_INT`` per network.

    A fast code has the flag ``FK.LINE`` on lines (no stage with more than one customer).
    ``kernel="auto"`` (and ``"stage_major"``) run the stage-major kernel (:mod:`._stage_major`)
    where it applies: a fast-kernel network in exact mode with installation base stock at
    every stage, initial stock >= 0, backorders, and FIFO allocation or no stage with
    several customers; elsewhere they choose as below.

    ``kernel="auto"`` uses integer arithmetic on lines (no stage with more than one
    customer), where it measured faster, and float64 on wider trees (``benchmarks/
    simulation.py`` cases), in exact mode (``FAST_FLOAT_EXACT``) where integer arithmetic
    would be exact; ``"fast_int"`` uses integer arithmetic wherever it is exact,
    ``"fast_float"`` never, ``"general"`` runs the general kernel only. Integer arithmetic
    and exact mode are used only when they provably give the general kernel's numbers:
    integer levels, initial stock and demands, and every quantity and sum below 2**52. A
    stage's cumulative orders are at most its cumulative demand plus its level and
    initial stock, so no quantity exceeds ``n_stages x (magnitude + n_stages x
    max_demand x n_total)`` and no sum of one replication exceeds ``n_total`` times that
    (one more factor ``n_stages`` covers echelon positions).
    """
    codes = np.full(len(blocks), FK.GENERAL, dtype=np.int64)
    if kernel == "general":
        return codes
    done: dict[int, int] = {}  # repeated blocks (same network, policy, ...) share a choice
    for k, b in enumerate(blocks):
        if id(b) in done:
            codes[k] = codes[done[id(b)]]
            continue
        done[id(b)] = k
        if not b.fast:
            continue
        n = b.n_stages
        bound = float(n_total) * n * n * (b.magnitude + n * b.max_demand * float(n_total) + 1.0)
        exact = b.integral and bound < 2.0**52
        line = int(b.out_counts.max()) <= 1
        want_int = kernel == "fast_int" or (kernel == "auto" and line)
        if exact:
            codes[k] = FK.FAST_INT if want_int else FK.FAST_FLOAT_EXACT
        else:
            codes[k] = FK.FAST_FLOAT
        if line:  # the fast kernel's loop compiled for lines
            codes[k] |= FK.LINE
        if (exact and kernel in ("auto", "stage_major") and backorders and not b.echelon
                and (allocation == "fifo" or line) and bool(np.all(b.stage["st_init"] >= 0))):
            codes[k] = SM.STAGE_MAJOR
    return codes


def simulate(
    networks: Network | Sequence[Network],
    policies: Policy | Sequence[Policy],
    demand: DemandSpec | Sequence[DemandSpec],
    lead_times: LeadTimeSpec | Sequence[LeadTimeSpec] = 1,
    seeds: int | Sequence[int] | np.ndarray = 0,
    replications: int = 10,
    periods: int = 1000,
    warmup: int = 100,
    backorders: bool = True,
    crossing: bool = True,
    allocation: str = "fifo",
    processing_times: Sequence[int] | Sequence[Sequence[int]] | None = None,
    costs: Costs | Sequence[Costs] | None = None,
    kernel: str = "auto",
    position_histograms: bool = False,
    histogram_groups: int | None = None,
    joint_demand: JointDemand | Sequence[JointDemand | None] | None = None,
    histogram_stages: Sequence[Sequence[int] | np.ndarray | None] | None = None,
    metrics: bool = True,
    shape_cache: dict[tuple[int, ...], Any] | None = None,
) -> SimulationResult:
    """Simulate many SKU networks under their policies; metrics with standard errors.

    When ``networks`` is a single :class:`Network`, every other per-network argument is
    for that network; with a sequence of networks, each per-network argument is either a
    list/tuple with one entry per network or one object shared by all.

    Args:
        networks: the SKU networks.
        policies: one :class:`Policy` per network.
        demand: per network, a :class:`DiscreteDistribution` of demand [units/period]
            applied to every customer-facing stage, or one entry per stage (``None``: no
            external demand), or ``{stage: distribution}``. Wherever a distribution is
            accepted, a :class:`DemandSchedule` gives per-period demand (period ``t``,
            counted from the start of the warm-up, uses entry ``t % len``); inside a
            per-stage list or a mapping a plain list of distributions is a schedule too.
        lead_times: per network, the lead time [periods] of every lane (an int or a
            PMF), or one entry per stage (the lead time of every lane *into* that stage,
            including from the external supplier), or ``{(upstream, downstream): ...}``
            with ``upstream = -1`` for the external supplier.
        seeds: a run seed (each network's seed is derived from it and the network's
            ``name``, or its position when unnamed), or one uint64 seed per network.
            Same seed -> same demand path (common random numbers across policies).
        replications: independent replications (each with its own warm-up).
        periods: measured periods per replication.
        warmup: periods discarded at the start of each replication.
        backorders: backorder unmet external demand (``False``: lost sales).
        crossing: lead times drawn independently per shipment, so orders can cross
            (``False``: arrival = max(previous arrival on the lane, t + L)).
        allocation: how an upstream stage rations scarce stock over its customers'
            orders: ``"fifo"`` (oldest order first) or ``"proportional"`` (to what each
            is owed).
        processing_times: per network, one integer per stage [periods] between kit
            completion and availability (default 0).
        costs: per network :class:`Costs` (default all zero).
        kernel: ``"auto"`` runs trees of base-stock stages (one inbound arc per stage with
            ``quantity_per`` 1, no processing time, any review period, no MOQ, multiple
            or capacity) on the fast tree kernel and everything else on the general kernel;
            of those trees, the ones with installation base stock everywhere, integer
            levels and initial stock >= 0, backorders and FIFO allocation run on the
            stage-major kernel (one stage's whole path at a time, see
            ``platform_core/simulation/_stage_major.py``; ``"stage_major"`` chooses the
            same way); ``"general"`` runs every network on the general kernel;
            ``"fast_float"`` / ``"fast_int"`` force the fast kernel's float64 / (where
            exact) int64 arithmetic. All give identical numbers (for checking and
            debugging).
        position_histograms: also collect, for every installation base-stock stage
            (any review period; no MOQ, order multiple or capacity), histograms from
            which its fill rate, backlog and on hand at *every* level follow exactly
            (``result.positions``, see :class:`.PositionHistograms`). Both kernels count
            them (identically): ``kernel`` chooses as without them. Needs
            ``backorders=True``, FIFO allocation (or no
            stage with several customers), integer levels >= 0 at those stages and
            integer ``quantity_per``.
        histogram_groups: replication groups of the histograms (batch means for the
            standard error of the fill-rate curve); must divide ``replications``.
            Default: one per replication (the curves then average per replication
            exactly as the engine's metrics do).
        joint_demand: per network, a :class:`.JointDemand` (correlated demand across its
            stages: each stage keeps its demand distribution, the dependence comes from
            resampling historical periods, see ``docs/simulation.md``) or ``None``
            (independent stages, the default). Its stages are the network's, by index;
            stages without external demand ignore it.
        histogram_stages: per network, the stages (indices) whose position histograms
            are collected (``None``: every applicable stage, the default); the others'
            rows of ``result.positions`` are empty.
        metrics: ``False`` when only the position histograms are wanted: ``mean``,
            ``se`` and ``replicates`` are then empty, and on the stage-major kernel only
            the histogram stages and their suppliers are simulated top-down (every
            stage's orders still are: they feed its suppliers).
        shape_cache: a dict the caller keeps between calls that simulate the same
            network, demand, lead-time and processing-time *objects* again (e.g. a
            solver's successive runs): their packed structure is then re-used. The
            caller must keep those objects alive and unchanged while it uses the dict.

    Returns:
        The per-stage metrics; see :class:`SimulationResult`.
    """
    single = isinstance(networks, Network)
    nets: list[Network] = [networks] if isinstance(networks, Network) else list(networks)
    n_net = len(nets)
    if n_net == 0:
        raise ValueError("no networks")
    pols = _as_list(policies, n_net, single, "policies")
    dems = _as_list(demand, n_net, single, "demand")
    lts = _as_list(lead_times, n_net, single, "lead_times")
    if processing_times is None:
        procs: list[Any] = [None] * n_net
    else:
        procs = _as_list(processing_times, n_net, single, "processing_times")
    cost_list = _as_list(costs if costs is not None else Costs(), n_net, single, "costs")
    if replications < 1 or periods < 1 or warmup < 0:
        raise ValueError("need replications >= 1, periods >= 1, warmup >= 0")
    if allocation not in _ALLOCATION:
        raise ValueError(f"allocation must be one of {sorted(_ALLOCATION)}")
    if kernel not in ("auto", "general", "fast_float", "fast_int", "stage_major"):
        raise ValueError("kernel must be 'auto', 'general', 'fast_float', 'fast_int' or 'stage_major'")
    groups = int(replications if histogram_groups is None else histogram_groups)
    if position_histograms:
        if not backorders:
            raise ValueError("position_histograms: needs backorders=True (under lost sales a stage's "
                             "orders depend on its own level)")
        if groups < 1 or replications % groups != 0:
            raise ValueError(f"histogram_groups must divide replications ({replications}), got {groups}")

    joints = _as_list(joint_demand, n_net, single, "joint_demand")

    # ---- seeds --------------------------------------------------------------------
    if np.ndim(seeds) == 0:
        run_seed = int(seeds)  # type: ignore[arg-type]
        net_seed = np.array(
            [stage_seed(run_seed, net.name or str(i)) for i, net in enumerate(nets)], dtype=np.uint64
        )
    else:
        net_seed = np.asarray(seeds).astype(np.uint64)
        if net_seed.shape != (n_net,):
            raise ValueError("seeds: one per network")

    # ---- pack: one block per distinct (network, policy, demand, lead times, processing)
    # (another policy of a packed network, demand, lead times, processing: its structure re-used)
    memo: dict[tuple[int, ...], _Block] = {}
    shapes: dict[tuple[int, ...], _Block] = {} if shape_cache is None else shape_cache
    blocks: list[_Block] = []
    shape_of: list[int] = []  # per network, its structure's block (copies share draws, see _copy_groups)
    for i, net in enumerate(nets):
        key = (id(net), id(pols[i]), id(dems[i]), id(lts[i]), id(procs[i]))
        blk = memo.get(key)
        if blk is None:
            same = shapes.get(key[:1] + key[2:])
            if same is None or not isinstance(pols[i], Policy):
                blk = _pack_network(net, pols[i], dems[i], lts[i], procs[i])
                shapes[key[:1] + key[2:]] = blk
            else:
                blk = _with_policy(same, pols[i].resolve(net))
            memo[key] = blk
        blocks.append(blk)
        shape_of.append(id(shapes[key[:1] + key[2:]]))
    cost_memo: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    cost_arrays = []
    for i, net in enumerate(nets):
        ck = (id(cost_list[i]), net.n_stages)
        if ck not in cost_memo:
            cost_memo[ck] = cost_list[i].arrays(net.n_stages)
        cost_arrays.append(cost_memo[ck])
    packed = _concatenate(blocks)
    joint_net, joint_rank = _pack_joint(nets, blocks, joints)
    net_stage_ptr = packed["net_stage_ptr"]

    n_total = warmup + periods
    out = np.zeros((K.N_METRICS, replications, int(net_stage_ptr[-1])), dtype=np.float64)
    net_fast = _kernel_choice(blocks, n_total, kernel, backorders, allocation)
    h_stage = None if histogram_stages is None else _stage_mask(
        _as_list(histogram_stages, n_net, single, "histogram_stages"), blocks, net_stage_ptr)
    hist = _position_buffers(packed, blocks, allocation, groups, h_stage) if position_histograms else _NO_HIST
    nets_p = Networks(net_i=packed["net_i"], net_seed=net_seed, stage_i=packed["stage_i"], arc_i=packed["arc_i"],
                      out_arcs=packed["out_arcs"], arc_qp=packed["arc_qp"])
    dtab = DemandTables(cdf=packed["d_cdf"], guide=packed["d_guide"], ptr=packed["d_ptr"], off=packed["d_off"],
                        sched=packed["d_sched"], tab=packed["tab"], tlo=packed["d_tlo"], tglo=packed["d_tglo"],
                        gshift=packed["d_gshift"], joint_net=joint_net, joint_rank=joint_rank)
    ltab = LeadTimeTables(cdf=packed["l_cdf"], guide=packed["l_guide"], ptr=packed["l_ptr"], off=packed["l_off"],
                          tab=packed["tab"], tlo=packed["l_tlo"], tglo=packed["l_tglo"], gshift=packed["l_gshift"])
    run = RunSettings(n_reps=int(replications), n_total=int(n_total), warmup=int(warmup),
                      backorders=bool(backorders), crossing=bool(crossing), alloc=int(_ALLOCATION[allocation]))
    # networks on the stage-major kernel, then the rest (rows net_i / net_seed / joint_net
    # of those only: the kernels index nothing else by network)
    sm = net_fast == SM.STAGE_MAJOR
    if sm.any():
        sm_idx, copy_ptr = _copy_groups(np.flatnonzero(sm), shape_of, net_seed, joints, blocks)
        want = np.ones(int(net_stage_ptr[-1]), dtype=np.uint8)
        if not metrics and h_stage is not None:
            want = _with_suppliers(h_stage, packed["arc_i"]).astype(np.uint8)
        SM.simulate_all(sm_idx, nets_p, Policies(stage_f=packed["stage_f"]), dtab, ltab, run, out, hist, copy_ptr,
                        want)
    if not sm.all():
        rest = np.flatnonzero(~sm) if sm.any() else slice(None)
        FK.simulate_all(net_fast[rest], nets_p._replace(net_i=packed["net_i"][rest], net_seed=net_seed[rest]),
                        Policies(stage_f=packed["stage_f"]), dtab._replace(joint_net=joint_net[rest]), ltab, run,
                        out, hist)

    # ---- back to user stage order, derived metrics ----------------------------------
    perm = np.concatenate([net_stage_ptr[i] + blk.position for i, blk in enumerate(blocks)])
    network_idx = np.repeat(np.arange(n_net), np.diff(net_stage_ptr))
    stage_idx = np.concatenate([np.arange(net.n_stages) for net in nets])
    names = tuple(s for net in nets for s in net.stage_names)
    positions = _positions(hist, perm, periods * (replications // groups)) if position_histograms else None
    if not metrics:
        return SimulationResult(
            network_ptr=net_stage_ptr, network=network_idx, stage=stage_idx, stage_name=names, replicates={},
            mean={}, se={}, network_cost=np.full(n_net, np.nan), network_cost_se=np.full(n_net, np.nan),
            units=dict(KERNEL_METRICS + DERIVED_METRICS), positions=positions)
    reps: dict[str, np.ndarray] = {}
    for m, (name, _unit) in enumerate(KERNEL_METRICS):
        reps[name] = out[m][:, perm]
    c = {k: np.concatenate([ca[k] for ca in cost_arrays]) for k in cost_arrays[0]}
    reps["inventory_investment"] = reps["on_hand"] * c["unit_value"]
    reps["holding_cost"] = (reps["on_hand"] + reps["in_transit_out"]) * c["holding"]
    reps["backorder_cost"] = reps["backorders"] * c["backorder"]
    reps["lost_sales_cost"] = reps["lost_sales"] * c["lost_sale"]
    reps["ordering_cost"] = reps["order_frequency"] * c["ordering"]
    reps["total_cost"] = (
        reps["holding_cost"] + reps["backorder_cost"] + reps["lost_sales_cost"] + reps["ordering_cost"]
    )
    mean = {}
    se = {}
    for name, v in reps.items():
        mean[name], se[name] = _mean_se(v)
    net_cost_reps = np.add.reduceat(reps["total_cost"], net_stage_ptr[:-1], axis=1)
    net_cost, net_cost_se = _mean_se(net_cost_reps)
    return SimulationResult(
        network_ptr=net_stage_ptr,
        network=network_idx,
        stage=stage_idx,
        stage_name=names,
        replicates=reps,
        mean=mean,
        se=se,
        network_cost=net_cost,
        network_cost_se=net_cost_se,
        units=dict(KERNEL_METRICS + DERIVED_METRICS),
        positions=positions,
    )


def _stage_mask(chosen: list[Any], blocks: list[_Block], net_stage_ptr: np.ndarray) -> np.ndarray:
    """Per kernel stage position, whether it is among its network's ``chosen`` stages (None: all)."""
    mask = np.zeros(int(net_stage_ptr[-1]), dtype=bool)
    for i, (sel, blk) in enumerate(zip(chosen, blocks, strict=True)):
        if sel is None:
            mask[net_stage_ptr[i]:net_stage_ptr[i + 1]] = True
            continue
        sel = np.asarray(sel, dtype=np.int64).reshape(-1)
        if sel.size and (sel.min() < 0 or sel.max() >= blk.n_stages):
            raise ValueError(f"histogram_stages of network {i}: stage indices must be in 0..{blk.n_stages - 1}")
        mask[net_stage_ptr[i] + blk.position[sel]] = True
    return mask


def _with_suppliers(mask: np.ndarray, arc_i: np.ndarray) -> np.ndarray:
    """``mask`` (per kernel stage) with every supplier of a marked stage marked, transitively."""
    src, dst = arc_i[:, K._A_SRC], arc_i[:, K._A_DST]
    inner = src >= 0
    src, dst = src[inner], dst[inner]
    out = mask.copy()
    while True:
        up = src[out[dst] & ~out[src]]
        if up.size == 0:
            return out
        out[up] = True


def _copy_groups(idx: np.ndarray, shape_of: list[int], net_seed: np.ndarray, joints: list[Any],
                 blocks: list[_Block]) -> tuple[np.ndarray, np.ndarray]:
    """Networks ``idx`` ordered so that copies are adjacent, and the groups' offsets.

    Copies: the same packed structure (network, demand, lead times), seed and correlated
    demand, and the same ``S - initial stock`` at every stage. Their draws and order
    streams are the same, so the stage-major kernel makes them once per group
    (:func:`._stage_major.simulate_stage_major`); nothing else is shared, so no number
    changes.
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i in idx.tolist():
        st = blocks[i].stage
        gap = (st["pol_big_s"] - st["st_init"]).tobytes()
        groups.setdefault((shape_of[i], int(net_seed[i]), id(joints[i]), gap), []).append(i)
    order = [i for members in groups.values() for i in members]
    ptr = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum([len(m) for m in groups.values()], out=ptr[1:])
    return np.asarray(order, dtype=np.int64), ptr


def _pack_joint(nets: list[Network], blocks: list[_Block],
                joints: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``DemandTables.joint_net`` and ``joint_rank``: each network's ranks in kernel stage order."""
    joint_net = np.zeros((len(nets), 3), dtype=np.int64)
    parts: list[np.ndarray] = []
    start = 0
    at: dict[tuple[int, int], int] = {}  # (joint model, block) already packed
    for i, (net, blk, jd) in enumerate(zip(nets, blocks, joints, strict=True)):
        if jd is None:
            continue
        if not isinstance(jd, JointDemand):
            raise TypeError(f"joint_demand of network {i}: expected JointDemand or None, got {type(jd).__name__}")
        if jd.n_stages != net.n_stages:
            raise ValueError(f"joint_demand of network {i}: built for {jd.n_stages} stages, the network has "
                             f"{net.n_stages}")
        h = jd.periods_used
        key = (id(jd), id(blk))
        if key not in at:
            order = np.empty(net.n_stages, dtype=np.int64)
            order[blk.position] = np.arange(net.n_stages)  # user stage at each kernel position
            parts.append(np.ascontiguousarray(jd.ranks[:, order]).ravel())
            at[key] = start
            start += parts[-1].size
        joint_net[i] = (at[key], h, (1 << 64) // h)
    joint_rank = np.concatenate(parts) if parts else np.full(1, -1, dtype=np.int64)
    return joint_net, joint_rank


_NO_HIST = PositionBuffers(on=False, groups=1, ptr=np.zeros(2, dtype=np.int64), x_counts=np.zeros((1, 1)),
                           y_counts=np.zeros((1, 1)), tails=np.zeros((1, 1, 5)))


def _position_buffers(packed: dict[str, np.ndarray], blocks: list[_Block], allocation: str,
                      groups: int, chosen: np.ndarray | None = None) -> PositionBuffers:
    """Histogram buffers in kernel stage order; validates what the identities assume.

    A stage gets bins ``0 .. cap`` with ``cap = 2 S + 32`` [units] (``S`` its level):
    at a level that meets a service target ``X`` rarely exceeds ``S`` by much, and values
    above the cap are kept as a count and a sum, so the curves stay exact up to ``cap``.
    """
    stage_i, stage_f = packed["stage_i"], packed["stage_f"]
    qp = packed["arc_qp"]
    if np.any(qp != np.round(qp)):
        raise ValueError("position_histograms: quantity_per must be integers (a stage's demand must be "
                         "whole units)")
    n_out = stage_i[:, K._S_OUT1] - stage_i[:, K._S_OUT0]
    if allocation != "fifo" and np.any(n_out > 1):
        raise ValueError("position_histograms: needs allocation='fifo' where a stage has several customers "
                         "(proportional rationing can short new orders before old ones)")
    big_s = stage_f[:, K._F_BIGS]
    ok = ((stage_i[:, K._S_TYPE] == K.POLICY_BASE_STOCK) & (stage_f[:, K._F_MOQ] == 0)
          & (stage_f[:, K._F_MULT] == 0) & np.isinf(stage_f[:, K._F_CAP]))
    if chosen is not None:  # only the stages asked for (``simulate(histogram_stages=...)``)
        ok &= chosen
    bad = ok & ((big_s < 0) | (big_s != np.round(big_s)))
    if np.any(bad):
        g = int(np.flatnonzero(bad)[0])
        raise ValueError(f"position_histograms: base-stock levels must be integers >= 0, got {big_s[g]}")
    caps = np.where(ok, 2 * np.round(big_s).astype(np.int64) + 32, -1)
    ptr = np.zeros(caps.size + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(caps + 1)
    return PositionBuffers(on=True, groups=groups, ptr=ptr, x_counts=np.zeros((groups, int(ptr[-1]))),
                           y_counts=np.zeros((groups, int(ptr[-1]))), tails=np.zeros((groups, caps.size, 5)))


def _positions(hist: PositionBuffers, perm: np.ndarray, periods_per_group: int) -> PositionHistograms:
    """The kernel's buffers in user row order (``perm``: kernel position of each row)."""
    kptr = hist.ptr
    sizes = np.diff(kptr)[perm]
    ptr = np.zeros(perm.size + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(sizes)
    # bins of each row in kernel order: np.arange(kptr[p], kptr[p + 1]) for p in perm, concatenated
    idx = np.repeat(kptr[perm] - ptr[:-1], sizes) + np.arange(int(ptr[-1]), dtype=np.int64)
    tails = hist.tails[:, perm, :]
    return PositionHistograms(
        ptr=ptr, x_counts=hist.x_counts[:, idx], y_counts=hist.y_counts[:, idx],
        x_tail_n=tails[:, :, 0], x_tail_sum=tails[:, :, 1], y_tail_n=tails[:, :, 2], y_tail_sum=tails[:, :, 3],
        demand_sum=tails[:, :, 4], periods_per_group=int(periods_per_group),
    )


def _mean_se(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over axis 0, ignoring NaNs (undefined fill rates)."""
    n = np.sum(~np.isnan(v), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(v, axis=0) / np.maximum(n, 1), np.nan)
        dev = np.where(np.isnan(v), 0.0, v - mean)
        var = np.sum(dev * dev, axis=0) / np.maximum(n - 1, 1)
        se = np.where(n > 1, np.sqrt(var / np.maximum(n, 1)), np.nan)
    return mean, se
