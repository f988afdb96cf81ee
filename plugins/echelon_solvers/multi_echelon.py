"""Joint multi-echelon base-stock levels: the default solver of ``echelon run``.

Every stage of a SKU network (distribution tree, serial line, assembly, any acyclic
network) holds an installation base-stock level, and all levels of a network are set
together: how much a DC holds decides the delays its stores see, and the stores' levels
are set for those delays.

**Why one run gives every level.** Under installation base-stock with full backordering a
stage orders exactly what is demanded of it, whatever its level ``S``; with common random
numbers its demand, lead-time and allocation paths depend only on its *ancestors'*
levels. The engine's position histograms (:mod:`platform_core.simulation.positions`)
record, per measured period, ``X = S - NI`` and ``Y = X - d``, both independent of ``S``,
from which the stage's fill rate, backlog and on hand at *every* level follow exactly on
the simulated paths. So:

1. **search, depth by depth** (short runs, ``search_replications x search_periods``, a
   seed of their own): an internal stage (one with customers) is described by the fill
   rate it gives its customers, one of ``internal_fills``; a *scenario* gives every depth
   that holds internal stages one of those fill rates. Pass ``p`` simulates one copy of
   each network per distinct choice for the internal depths above ``p`` (all networks of
   the batch in one engine call) and reads, from the histograms of the depth-``p``
   stages, the level of each internal stage for each candidate fill (the smallest level
   meeting it) and the level of each leaf for its target (the smallest meeting it, or in
   cost mode the least holding + stockout cost), with their investment (or cost);
2. **choice**: on trees a dynamic programme over the tree picks, per internal stage, the
   candidate fill that minimises the investment (cost) of its whole subtree given its
   ancestors' choice (siblings' subtrees do not interact); on other networks the
   scenario of least total investment (cost);
3. **final run** (the configured ``replications x periods``, the network's own seed):
   internal stages at their chosen levels; every leaf's level is read off its position
   histogram on these paths (the smallest meeting its target exactly on the final
   sample, as ``single_echelon`` does for one stage), and the reported fill, on hand and
   backorders are the simulated ones with standard errors (batch means over
   ``final_groups`` replication groups for leaves, replications for internal stages).

Candidate fills of internal stages are the "service level the network finds cheapest";
the chosen one is reported per internal stage in ``message``.

**Correlated demand.** With ``correlation="auto"`` and a demand history in the problem
(:attr:`StageProblem.demand_history`), the stages of a network draw their demand from an
empirical copula of that history (:class:`platform_core.simulation.JointDemand`): the
per-stage marginals stay the forecaster's distributions and whole historical periods
are resampled across the stages, so stores that rise and fall together do so in the
search and in the final check. What was assumed is in ``message``.

**Overrides.** A planner's corridor ``[level_min, level_max]`` per stage
(:attr:`StageProblem.level_min`; a pin is a corridor of one level) restricts the search:
an internal stage's candidate levels are clamped into it (a pinned one has a single
level, whatever the candidate fill), a leaf's level is the best one inside it (the least
meeting its target, or the least cost), and every other stage is set as usual for the
delays the overridden ones cause, so the rest of the network is re-optimised around them.
A leaf held below its target by a max, or an internal stage held below its own customers'
target, says so in ``message``.

Limits: base-stock policies with full backordering and FIFO allocation; fill-rate targets
(``service_metric`` ``"fill_rate"``); internal stages with demand of their own meet their
target on the fill of everything demanded of them (external demand and customers'
orders together).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from echelon_solvers.kit.lead_time_demand import lead_time_demand_moments
from echelon_solvers.kit.search_network import SearchNetwork, search_networks
from echelon_solvers.kit.tables import policy_table
from platform_core.components import Solver, StagePolicies, StageProblem
from platform_core.overrides import describe_override
from platform_core.simulation import Policy, PositionHistograms, simulate

__all__ = ["MultiEchelonSolver"]

#: mixed into a network's seed for the search runs (the final run uses the seed itself)
_SEARCH_SALT = 0x5EA2C4_0000_0001
#: mixed into a network's seed for the fresh run (``fresh_on_hand``): paths independent of the final run's
_FRESH_SALT = 0xF4E5_0000_0000_0002
#: default target shifts of the efficient frontier (docs/report.md)
FRONTIER_SHIFTS = (-0.15, -0.10, -0.06, -0.04, -0.02, -0.01, 0.0, 0.005, 0.01, 0.02, 0.03)
#: the fresh run's figures at every frontier level (``fresh_on_hand``), side columns ``frontier_<key>``
_FRESH_KEYS = ("fresh_on_hand", "fresh_on_hand_sd", "fresh_on_hand_k3", "fresh_on_hand_se")
#: highest fill target a frontier point asks of a stage [-]
_FRONTIER_MAX_TARGET = 0.999
#: histogram floats per engine call (x and y counts each) before the networks are split
_MAX_BINS = 4_000_000


@dataclass(eq=False)
class _Net:
    """One network of the batch during the search."""

    comp: np.ndarray  # batch indices of its stages
    sn: SearchNetwork
    internal: np.ndarray  # bool per stage: has customers
    depth: np.ndarray
    int_depths: list[int]  # depths that hold internal stages, ascending
    scenarios: list[tuple[int, ...]]  # one candidate index per internal depth
    tree: bool
    children: list[list[int]]
    target: np.ndarray  # fill target per stage (NaN: none)
    placeholder: np.ndarray  # level of stages not yet fitted (sets their histogram range)
    cost_leaf: np.ndarray  # bool per stage: a leaf set at its least holding + stockout cost
    has_demand: np.ndarray  # bool per stage: has external demand of its own
    lo: np.ndarray  # least level allowed per stage (a planner's override; 0 when free)
    hi: np.ndarray  # largest level allowed per stage (inf when free)
    joint: Any = None
    joint_note: str = ""
    bounds: list[tuple[float, float]] = field(default_factory=list)  # (lo, hi) per stage as Python floats
    # (stage, prefix, k) -> level / cost of an internal stage; (stage, prefix) -> leaf
    int_level: dict[tuple[int, tuple[int, ...], int], float] = field(default_factory=dict)
    int_cost: dict[tuple[int, tuple[int, ...], int], float] = field(default_factory=dict)
    leaf_level: dict[tuple[int, tuple[int, ...]], float] = field(default_factory=dict)
    leaf_cost: dict[tuple[int, tuple[int, ...]], float] = field(default_factory=dict)
    choice: dict[int, int] = field(default_factory=dict)  # internal stage -> chosen candidate
    int_curve: dict[tuple[int, tuple[int, ...]], Any] = field(default_factory=dict)
    refined: dict[int, tuple[float, float]] = field(default_factory=dict)  # stage -> (fill, level)
    refined_value: dict[int, float] = field(default_factory=dict)
    levels: np.ndarray | None = None
    final_run_levels: np.ndarray | None = None  # the levels the final run simulated (leaves: histogram ranges)
    note: list[str] = field(default_factory=list)
    prm: np.ndarray | None = None  # float64 [stages, len(_PRM)]: what a leaf's level is read with
    prm_at: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # depth -> (stages, prm rows)

    def at_depth(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        """The stages at depth ``d`` and their rows of :attr:`prm` (computed once per depth)."""
        hit = self.prm_at.get(d)
        if hit is None:
            js = np.flatnonzero(self.depth == d)
            assert self.prm is not None
            hit = self.prm_at[d] = (js, self.prm[js])
        return hit

    def read_final(self) -> tuple[np.ndarray, np.ndarray]:
        """The stages the final run reads off histograms (leaves, stages with demand) and their :attr:`prm` rows."""
        hit = self.prm_at.get(-1)
        if hit is None:
            js = np.flatnonzero(~self.internal | self.has_demand)
            assert self.prm is not None
            hit = self.prm_at[-1] = (js, self.prm[js])
        return hit

    def n_prefix(self, d: int) -> int:
        """Number of internal depths above depth ``d`` (the length of a depth-d prefix)."""
        return sum(1 for x in self.int_depths if x < d)


class MultiEchelonSolver(Solver):
    """Installation base-stock levels of every network, set jointly (see module doc).

    Args:
        objective: ``"target"`` (least inventory investment such that every
            customer-facing stage meets its fill target; null targets: cost-optimal
            service) or ``"cost"`` (least holding + stockout cost).
        replications: replications of the final Monte Carlo run.
        periods: measured periods per replication of the final run.
        warmup: warm-up periods per replication (final and search runs).
        search_replications: replications of each search run.
        search_periods: measured periods per replication of each search run.
        internal_fills: candidate fill rates of internal stages [-].
        max_scenarios: largest number of candidate combinations over a network's internal
            depths that are all tried (then the choice is per internal stage, by the tree
            DP); above it, a "star" around the reference candidate (the one nearest 0.8):
            every depth's candidates with the other depths at the reference, and the best
            of those (one choice per depth).
        correlation: ``"auto"`` (empirical copula of the demand history when the
            problem has one) or ``"none"`` (stages' demand independent).
        crossing: allow order crossing with stochastic lead times.
        final_groups: replication groups of the final run's histograms (batch means for
            the leaves' standard errors); the largest divisor of ``replications`` not
            above it is used.
        target_margin_se: a leaf's level is the smallest whose fill on the final run is
            at least its target plus this many standard errors of that fill (0: the
            smallest meeting it on the sample). The smallest level that meets a target on
            one sample is, at the margin, one whose paths happened to be kind; on fresh
            paths it falls short by a fraction of a standard error on average (measured
            in ``tests/solvers/test_multi_echelon_acceptance.py``).
        frontier_shifts: target shifts [-] of the efficient frontier (must include 0;
            empty: none). Each customer-facing stage's level is read off its final-run
            histogram for its own target plus the shift (capped at 0.999; leaves set by
            cost: the fill their level gives, plus the shift), internal stages at their
            chosen levels; returned as side columns (:mod:`platform_core.frontier`).
        compare_replications: replications on which :meth:`evaluate_policies` simulates a
            given policy (today's): the first ones of the final run's (the engine's draws
            are a function of the replication's index, not of how many there are, so they
            are the same paths); capped at ``replications``.
        fresh_on_hand: also simulate every network once more at its final levels on an
            independent stream (the same ``replications x periods``, another seed) and
            return the customer-facing stages' on hand at every frontier level as measured
            on those fresh paths (side columns ``frontier_fresh_on_hand``, ``_sd``, ``_k3``,
            ``_se``). The final run's on hand at a level read off the same paths that chose
            the level is biased low by a fraction of its SE; the fresh estimate is not
            (the coupling constraints hold their limits on it, :mod:`platform_core.constraints`).
            None: off here; a run turns it on when its ``constraints`` count on-hand
            estimates (:func:`platform_core.constraints.with_fresh_estimates`). Costs one more
            final run per network.
    """

    network_aware: ClassVar[bool] = True
    honours_overrides: ClassVar[bool] = True
    work_factor: ClassVar[float] = 1.6

    def __init__(
        self,
        objective: str = "target",
        replications: int = 100,
        periods: int = 365,
        warmup: int = 50,
        search_replications: int = 2,
        search_periods: int = 400,
        internal_fills: tuple[float, ...] | list[float] = (0.0, 0.3, 0.6, 0.8, 0.9, 0.97),
        max_scenarios: int = 8,
        correlation: str = "auto",
        crossing: bool = True,
        final_groups: int = 10,
        target_margin_se: float = 1.0,
        frontier_shifts: tuple[float, ...] | list[float] = FRONTIER_SHIFTS,
        compare_replications: int = 20,
        fresh_on_hand: bool | None = None,
    ) -> None:
        if objective not in ("target", "cost"):
            raise ValueError(f"objective must be 'target' or 'cost', got {objective!r}")
        if correlation not in ("auto", "none"):
            raise ValueError(f"correlation must be 'auto' or 'none', got {correlation!r}")
        fills = tuple(float(f) for f in internal_fills)
        if not fills or any(not 0.0 <= f < 1.0 for f in fills):
            raise ValueError(f"internal_fills must be fill rates in [0, 1), got {list(internal_fills)!r}")
        if min(replications, periods, search_replications, search_periods, final_groups, max_scenarios,
               compare_replications) < 1 \
                or warmup < 0:
            raise ValueError("replications, periods, search sizes, final_groups and max_scenarios must be >= 1 "
                             "and warmup >= 0")
        self.objective = objective
        self.replications = int(replications)
        self.periods = int(periods)
        self.warmup = int(warmup)
        self.compare_replications = min(int(compare_replications), self.replications)
        self.search_replications = int(search_replications)
        self.search_periods = int(search_periods)
        self.internal_fills = tuple(sorted(set(fills)))
        self.max_scenarios = int(max_scenarios)
        self.correlation = correlation
        self.crossing = bool(crossing)
        self.final_groups = max(g for g in range(1, min(int(final_groups), self.replications) + 1)
                                if self.replications % g == 0)
        if not 0.0 <= float(target_margin_se) <= 5.0:
            raise ValueError(f"target_margin_se must be in [0, 5], got {target_margin_se!r}")
        self.target_margin_se = float(target_margin_se)
        shifts = tuple(sorted({float(x) for x in frontier_shifts}))
        if any(not -1.0 < x < 1.0 for x in shifts) or (shifts and 0.0 not in shifts):
            raise ValueError(f"frontier_shifts must be target shifts in (-1, 1) that include 0 (the "
                             f"recommendation), or empty; got {list(frontier_shifts)!r}")
        self.frontier_shifts = shifts
        self.fresh_on_hand = bool(fresh_on_hand) and bool(shifts)
        self.engine_calls_ = 0
        self._shapes: dict[tuple[int, ...], Any] = {}
        self._solved: tuple[StageProblem, list[np.ndarray], list[SearchNetwork], list[Any],
                            dict[tuple[int, ...], Any]] | None = None

    @classmethod
    def warm_up(cls) -> None:
        """Load the compiled engine kernels (a two-stage line with histograms, a few periods)."""
        from platform_core.distributions import DiscreteDistribution
        from platform_core.simulation import Network

        net = Network(2, ((0, 1, 1.0),))
        simulate(net, Policy.base_stock(np.array([2.0, 2.0])), {1: DiscreteDistribution.poisson(1.0)},
                 replications=1, periods=4, warmup=1, position_histograms=True)

    def _reference_candidate(self) -> int:
        fills = np.asarray(self.internal_fills)
        return int(np.argmin(np.abs(fills - 0.8)))

    # ------------------------------------------------------------------ solve ----
    def solve(self, problem: StageProblem) -> pa.Table:
        """Jointly set installation base-stock levels of every network of the batch."""
        n = len(problem.keys)
        comps, _nps, sns = search_networks(problem, "target")
        mean, sd = lead_time_demand_moments(problem, np.arange(n))
        nets = [self._network(problem, comp, sn, mean[comp], sd[comp]) for comp, sn in zip(comps, sns, strict=True)]
        self.engine_calls_ = 0
        self._shapes = {}  # packed networks, re-used by every run of this solve
        self._search(nets)
        for net in nets:
            self._choose(net)
        self._refine([net for net in nets if len(net.int_depths) == 1])
        metrics = self._final(nets)
        # kept for evaluate_policies of the same problem (the pipeline's comparison with today):
        # its networks, copulas and packed networks
        self._solved = (problem, comps, sns, [net.joint for net in nets], self._shapes)
        self._shapes = {}
        return self._table(problem, nets, metrics)

    def _network(self, problem: StageProblem, comp: np.ndarray, sn: SearchNetwork, mean: np.ndarray,
                 sd: np.ndarray) -> _Net:
        ns = comp.size
        children: list[list[int]] = [[] for _ in range(ns)]
        n_par = np.zeros(ns, dtype=np.int64)
        for u, d, _q in sn.network.arcs:
            children[u].append(d)
            n_par[d] += 1
        internal = np.array([bool(c) for c in children])
        depth = sn.depth
        int_depths = sorted({int(depth[j]) for j in np.flatnonzero(internal)})
        k = len(self.internal_fills)
        scen = _scenarios(k, len(int_depths), self.max_scenarios, self._reference_candidate())
        raw = np.asarray(problem.service_target, dtype=np.float64)[comp]
        by_cost = np.isnan(raw) | (self.objective == "cost")
        # leaves with a target meet it; leaves without one (or in cost mode) take their least
        # holding + stockout cost; internal stages with customers of their own meet their
        # target (or the critical ratio) on everything demanded of them
        tgt = np.where(internal & np.isnan(raw), problem.costs.cost_optimal_service[comp], raw)
        has_demand = np.zeros(ns, dtype=bool)
        has_demand[list(sn.demand)] = True
        # a stage's histogram covers levels 0 .. 2 S + 32: start generously above its
        # lead-time-demand quantiles (leaves may face upstream delays on top)
        hi = np.ceil(mean + 4.0 * sd) + 1.0
        placeholder = np.where(internal, hi, 2.0 * hi)
        lo_o = np.zeros(ns) if problem.level_min is None else np.nan_to_num(
            np.asarray(problem.level_min, dtype=np.float64)[comp], nan=0.0)
        hi_o = np.full(ns, np.inf) if problem.level_max is None else np.nan_to_num(
            np.asarray(problem.level_max, dtype=np.float64)[comp], nan=np.inf)
        placeholder = np.maximum(placeholder, lo_o)  # a histogram range that holds the override's min
        net = _Net(comp=comp, sn=sn, internal=internal, depth=depth, int_depths=int_depths, scenarios=scen,
                   tree=bool(np.all(n_par <= 1)), children=children,
                   target=np.where(has_demand | ~internal, tgt, np.nan), placeholder=placeholder,
                   cost_leaf=~internal & by_cost, has_demand=has_demand, lo=lo_o, hi=hi_o)
        net.prm = _stage_params(net)
        if self.correlation == "auto":
            net.joint, net.joint_note = _joint_demand(problem, comp, sn)
        return net

    # ----------------------------------------------------------------- search ----
    def _search(self, nets: list[_Net]) -> None:
        """Passes depth by depth: each reads the depth's stages off their histograms."""
        max_depth = max((int(n.depth.max()) for n in nets), default=-1)
        for p in range(max_depth + 1):
            jobs: list[tuple[_Net, tuple[int, ...], np.ndarray]] = []
            for net in nets:
                if not net.int_depths or not np.any(net.depth == p):
                    continue  # a single-level network: the final run sets it
                m = net.n_prefix(p)
                for prefix in sorted({s[:m] for s in net.scenarios}):
                    jobs.append((net, prefix, self._copy_levels(net, prefix, p)))
            if not jobs:
                continue
            for chunk in _chunks(jobs, lambda jb: _bins(jb[2], 1)):
                # only the depth-p stages' histograms are read: only they and their
                # suppliers are simulated, no metrics
                res = self._run([jb[0] for jb in chunk], [jb[2] for jb in chunk], search=True,
                                stages=[jb[0].at_depth(p)[0] for jb in chunk])
                need: list[np.ndarray] = []
                prm: list[np.ndarray] = []
                row = 0
                for net, _prefix, _lv in chunk:  # only the depth-p stages' curves are read
                    js, pr = net.at_depth(p)
                    need.append(row + js)
                    prm.append(pr)
                    row += net.sn.network.n_stages
                fc = _flat_curves(res, np.concatenate(need), self.target_margin_se)
                _check_histograms(fc, [(jb[0], jb[0].at_depth(p)[0]) for jb in chunk])
                lvl, val = self._leaf_levels(fc, np.concatenate(prm), smooth=True)
                lvl_l, val_l = lvl.tolist(), val.tolist()
                i = 0
                for net, prefix, _lv in chunk:
                    for j in net.at_depth(p)[0].tolist():
                        if net.internal[j]:
                            self._record_internal(net, j, prefix, fc.curve(i))
                        else:
                            net.leaf_level[(j, prefix)] = float(lvl_l[i])
                            net.leaf_cost[(j, prefix)] = val_l[i]
                        i += 1

    def _copy_levels(self, net: _Net, prefix: tuple[int, ...], p: int) -> np.ndarray:
        """Levels of one search copy: internal stages above depth ``p`` at their candidate."""
        lv = net.placeholder.copy()
        for j in np.flatnonzero(net.internal & (net.depth < p)):
            d = int(net.depth[j])
            i = net.int_depths.index(d)
            lv[j] = net.int_level[(int(j), prefix[:i], prefix[i])]
        return lv

    def _stage_value(self, net: _Net, j: int, curve: Any, level: int) -> float:
        """Investment (target mode) or holding + stockout cost (cost mode) at ``level``."""
        sn = net.sn
        if self.objective == "target":
            return float(curve.on_hand[level]) * float(sn.unit_value[j])
        cost = float(curve.on_hand[level]) * float(sn.holding_cost[j])
        if j in sn.demand:
            cost += (1.0 - float(curve.fill[level])) * curve.demand * float(sn.stockout_cost[j])
        return cost

    @staticmethod
    def _cost_curve(net: _Net, j: int, curve: Any) -> np.ndarray:
        """Holding + stockout cost at every level of the curve [currency/period]."""
        sn = net.sn
        cost = curve.on_hand * float(sn.holding_cost[j])
        if j in sn.demand:
            short = (1.0 - curve.fill) * curve.demand
            cost = cost + short * float(sn.stockout_cost[j])
        return np.asarray(cost, dtype=np.float64)

    def _record_internal(self, net: _Net, j: int, prefix: tuple[int, ...], curve: Any) -> None:
        """An internal stage's level and value for each candidate fill, given its ancestors' ``prefix``."""
        net.int_curve[(j, prefix)] = curve
        own = _min_level(curve, net.target[j]) if np.isfinite(net.target[j]) else 0
        first = _min_levels(curve, self.internal_fills)
        for k, f in enumerate(self.internal_fills):
            lvl = int(first[k])
            if lvl < 0 or own < 0:
                lvl = len(curve.level) - 1  # not reached within the histogram: its top
            bound = own > lvl
            lvl = max(lvl, own)
            kept = _clamp(net, j, lvl)
            net.int_level[(j, prefix, k)] = float(kept)
            net.int_cost[(j, prefix, k)] = (
                self._smooth_value(net, j, curve, lvl, float(net.target[j]) if bound else f) if kept == lvl
                else self._stage_value(net, j, curve, kept))

    def _leaf_value(self, net: _Net, j: int, curve: Any) -> tuple[int, float]:
        """A leaf's level and the value the search compares (at its target's crossing)."""
        lvl, val = self._leaf_level(net, j, curve)
        if not math.isfinite(val) or net.cost_leaf[j] or j not in net.sn.demand:
            return lvl, val
        if lvl >= net.hi[j]:
            # capped by an override: valued at the level its target needs, so that the rest
            # of the network is still set to bring it as near its target as it can be
            free = _min_level(curve, net.target[j], self.target_margin_se)
            if free > lvl:
                return lvl, self._smooth_value(net, j, curve, free, float(net.target[j]))
            if free < 0:
                return lvl, math.inf
        if net.lo[j] < lvl < net.hi[j]:
            val = self._smooth_value(net, j, curve, lvl, float(net.target[j]))
        return lvl, val

    def _smooth_value(self, net: _Net, j: int, curve: Any, lvl: int, target: float) -> float:
        """The value at the (fractional) level where the fill curve crosses ``target``.

        Integer levels overshoot a target by up to one unit's worth of fill, a step that
        would dominate the comparison of candidates for slow movers; interpolating the
        value between ``lvl - 1`` and ``lvl`` compares them at the target itself.
        """
        v1 = self._stage_value(net, j, curve, lvl)
        if lvl <= 0:
            return v1
        f0 = float(curve.fill[lvl - 1])
        f1 = float(curve.fill[lvl])
        if f1 <= f0:
            return v1
        w = min(max((target - f0) / (f1 - f0), 0.0), 1.0)
        v0 = self._stage_value(net, j, curve, lvl - 1)
        return v0 + w * (v1 - v0)

    def _leaf_level(self, net: _Net, j: int, curve: Any) -> tuple[int, float]:
        """A leaf's level for its target (or least cost) and its value; inf when out of range.

        Within its override's corridor: the least level meeting the target there (the
        corridor's max when none does), or the least cost there.
        """
        top = len(curve.level) - 1 if curve is not None else 0
        if j not in net.sn.demand:
            s = _clamp(net, j, 0)
            if s == 0:
                return 0, 0.0
            return (s, self._stage_value(net, j, curve, s)) if s <= top else (top, math.inf)
        if net.lo[j] > top:
            return top, math.inf  # the corridor starts above the histogram's range
        if net.cost_leaf[j]:
            cost = self._cost_curve(net, j, curve)
            first = int(net.lo[j])
            last = int(min(net.hi[j], top))
            s = first + int(np.argmin(cost[first:last + 1]))
            return s, self._stage_value(net, j, curve, s)
        lvl = _min_level(curve, net.target[j], self.target_margin_se)
        if lvl < 0:
            if net.hi[j] > top:
                return top, math.inf
            lvl = int(net.hi[j])
        lvl = _clamp(net, j, lvl)
        return lvl, self._stage_value(net, j, curve, lvl)

    def _leaf_levels(self, fc: _FlatCurves, prm: np.ndarray, smooth: bool) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_leaf_level` (``smooth``: :meth:`_leaf_value`) of every row of ``fc`` at once.

        ``prm``: the rows' stage parameters (:func:`_stage_params`). Row by row the same
        rules and the same floating-point operations as those methods (so the same
        numbers to the bit), as array operations over all rows' bins; rows that are
        not leaves get meaningless values (callers read leaves only).
        """
        target, lo, hi = prm[:, _P_TARGET], prm[:, _P_LO], prm[:, _P_HI]
        demand_own = prm[:, _P_DEMAND] > 0.0
        cost_leaf = prm[:, _P_COST_LEAF] > 0.0
        start = fc.ptr[:-1]
        size = np.diff(fc.ptr)
        top = size - 1
        cost_mode = self.objective == "cost"

        def value(level: np.ndarray) -> np.ndarray:  # _stage_value at ``level`` (per row)
            at = start + np.clip(level, 0, top)
            if not cost_mode:
                return fc.on_hand[at] * prm[:, _P_VALUE]
            cost = fc.on_hand[at] * prm[:, _P_HOLD]
            return np.where(demand_own, cost + (1.0 - fc.fill[at]) * fc.demand * prm[:, _P_STOCKOUT], cost)

        lvl = np.zeros(size.size, dtype=np.int64)
        val = np.zeros(size.size)
        # no demand of its own: the corridor's least level (0 when free)
        s0 = np.minimum(np.maximum(lo, 0.0), hi).astype(np.int64)
        a = ~demand_own
        lvl[a] = np.where(s0 <= top, s0, top)[a]
        val[a] = np.where(s0 == 0, 0.0, np.where(s0 <= top, value(s0), math.inf))[a]
        out = demand_own & (lo > top)  # the corridor starts above the histogram's range
        lvl[out] = top[out]
        val[out] = math.inf
        # set by cost: the least holding + stockout cost inside the corridor
        c = demand_own & ~out & cost_leaf
        if c.any():
            rows = np.flatnonzero(c)  # the bins of these rows only
            ptr_c = np.zeros(rows.size + 1, dtype=np.int64)
            np.cumsum(size[rows], out=ptr_c[1:])
            rid = np.repeat(rows, size[rows])
            rel = np.arange(rid.size) - np.repeat(ptr_c[:-1], size[rows])
            bins = start[rid] + rel
            first = lo[rows].astype(np.int64)
            last = np.minimum(hi[rows], top[rows]).astype(np.int64)
            if np.any(last < first):
                raise ValueError("attempt to get argmin of an empty sequence")
            inside = (rel >= np.repeat(first, size[rows])) & (rel <= np.repeat(last, size[rows]))
            cost = fc.on_hand[bins] * prm[rid, _P_HOLD] + (1.0 - fc.fill[bins]) * fc.demand[rid] * prm[rid, _P_STOCKOUT]
            cost = np.where(inside, cost, math.inf)
            least = np.minimum.reduceat(cost, ptr_c[:-1])
            s_c = np.zeros(size.size, dtype=np.int64)
            s_c[rows] = _first_hit(inside & (cost == np.repeat(least, size[rows])), ptr_c)
            lvl[c] = s_c[c]
            val[c] = value(s_c)[c]
        # a target: the least level meeting it (plus the SE margin), inside the corridor
        d = demand_own & ~out & ~cost_leaf
        if d.any():
            free = _first_hit(fc.fill_margin >= np.repeat(target - 1e-12, size), fc.ptr)
            none = free < 0
            beyond = none & (hi > top)  # not met within the histogram, no max to stop at
            raw = np.where(none, np.where(beyond, 0.0, np.trunc(hi)), free.astype(np.float64))
            s_d = np.minimum(np.maximum(raw, lo), hi).astype(np.int64)
            v_d = value(s_d)
            if smooth:  # the value at the target's crossing (:meth:`_leaf_value`)
                capped = s_d >= hi
                v_d = np.where(capped & (free > s_d), self._smooth_values(fc, prm, free, target, value), v_d)
                v_d = np.where(capped & none, math.inf, v_d)
                v_d = np.where(~capped & (lo < s_d), self._smooth_values(fc, prm, s_d, target, value), v_d)
            lvl[d] = np.where(beyond, top, s_d)[d]
            val[d] = np.where(beyond, math.inf, v_d)[d]
        return lvl, val

    @staticmethod
    def _smooth_values(fc: _FlatCurves, prm: np.ndarray, level: np.ndarray, target: np.ndarray,
                       value: Any) -> np.ndarray:
        """:meth:`_smooth_value` per row at ``level`` (the same operations, all rows at once)."""
        start = fc.ptr[:-1]
        top = np.diff(fc.ptr) - 1
        v1 = value(level)
        at1 = start + np.clip(level, 0, top)
        at0 = start + np.clip(level - 1, 0, top)
        f0, f1 = fc.fill[at0], fc.fill[at1]
        rising = (level > 0) & (f1 > f0)
        w = np.minimum(np.maximum((target - f0) / np.where(rising, f1 - f0, 1.0), 0.0), 1.0)
        v0 = value(level - 1)
        return np.where(rising, v0 + w * (v1 - v0), v1)

    def _frontier_all(self, fc: _FlatCurves, prm: np.ndarray, level: np.ndarray) -> np.ndarray:
        """:meth:`_frontier_levels` of every row of ``fc`` at once (rows x shifts; NaN: none).

        ``level``: each row's recommended level; the same rule and float operations as
        :meth:`_frontier_levels`, meaningful for leaves with demand of their own.
        """
        target, lo, hi = prm[:, _P_TARGET], prm[:, _P_LO], prm[:, _P_HI]
        size = np.diff(fc.ptr)
        at = fc.ptr[:-1] + np.clip(level, 0, size - 1)
        by_cost = (prm[:, _P_COST_LEAF] > 0.0) | ~np.isfinite(target)
        base = np.where(by_cost, fc.fill[at], target)
        # a leaf set by cost shifts the fill its level gives, without the SE margin
        fill = np.where(np.repeat(by_cost, size), fc.fill, fc.fill_margin)
        out = np.full((size.size, len(self.frontier_shifts)), np.nan)
        for k, shift in enumerate(self.frontier_shifts):
            if shift == 0.0:
                out[:, k] = level
                continue
            t = np.minimum(np.maximum(base + shift, 0.0), _FRONTIER_MAX_TARGET)
            first = _first_hit(fill >= np.repeat(t - 1e-12, size), fc.ptr)
            raw = np.where(first >= 0, first.astype(np.float64), np.where(np.isfinite(hi), np.trunc(hi), np.nan))
            out[:, k] = np.trunc(np.minimum(np.maximum(raw, lo), hi))
        return out

    def _frontier_levels(self, net: _Net, j: int, curve: Any, level: int) -> np.ndarray:
        """Leaf ``j``'s level at each frontier shift (NaN: beyond the curve); ``level`` at 0.

        The same rule as the recommendation: the least level whose fill meets the shifted
        target plus ``target_margin_se`` standard errors, inside the override's corridor.
        A leaf set by cost shifts the fill its level gives (without the margin, so that
        its levels rise with the shift through ``level``). The row-by-row rule; the final
        run uses :meth:`_frontier_all` (all rows at once, the same numbers).
        """
        by_cost = bool(net.cost_leaf[j]) or not math.isfinite(float(net.target[j]))
        base = float(curve.fill[level]) if by_cost else float(net.target[j])
        margin = 0.0 if by_cost else self.target_margin_se
        out = np.full(len(self.frontier_shifts), np.nan)
        targets = [min(max(base + shift, 0.0), _FRONTIER_MAX_TARGET) for shift in self.frontier_shifts]
        first = _min_levels(curve, targets, margin)
        for k, shift in enumerate(self.frontier_shifts):
            if shift == 0.0:
                out[k] = level
                continue
            lvl = int(first[k])
            if lvl < 0:
                if not np.isfinite(net.hi[j]):
                    continue
                lvl = int(net.hi[j])
            out[k] = _clamp(net, j, lvl)
        return out

    # ----------------------------------------------------------------- choice ----
    def _choose(self, net: _Net) -> None:
        """Each internal stage's candidate fill: tree DP or the best scenario."""
        if not net.int_depths:
            return
        full = len(net.scenarios) == len(self.internal_fills) ** len(net.int_depths)
        if net.tree and full:
            roots = [j for j in range(net.sn.network.n_stages) if net.depth[j] == 0]
            for r in roots:
                self._dp(net, r, (), commit=True)
            return
        best, best_s = math.inf, net.scenarios[0]
        for s in net.scenarios:
            total = 0.0
            for j in range(net.sn.network.n_stages):
                d = int(net.depth[j])
                m = net.n_prefix(d)
                if net.internal[j]:
                    total += net.int_cost[(j, s[:m], s[m])]
                else:
                    total += net.leaf_cost.get((j, s[:m]), 0.0)
            if total < best:
                best, best_s = total, s
        for jj in np.flatnonzero(net.internal):
            net.choice[int(jj)] = best_s[net.int_depths.index(int(net.depth[jj]))]

    def _dp(self, net: _Net, j: int, prefix: tuple[int, ...], commit: bool) -> float:
        """Least value of the subtree of ``j`` given its ancestors' candidates ``prefix``."""
        if not net.internal[j]:
            return net.leaf_cost.get((j, prefix), 0.0)
        vals = []
        for k in range(len(self.internal_fills)):
            v = net.int_cost[(j, prefix, k)]
            for c in net.children[j]:
                v += self._dp(net, c, prefix + (k,), commit=False)
            vals.append(v)
        k_best = int(np.argmin(vals))
        if commit:
            net.choice[j] = k_best
            for c in net.children[j]:
                self._dp(net, c, prefix + (k_best,), commit=True)
        return float(vals[k_best])

    def _fill_of(self, net: _Net, j: int) -> float:
        """The fill an internal stage was set for (a candidate or a refinement)."""
        return net.refined[j][0] if j in net.refined else self.internal_fills[net.choice[j]]

    def _refine(self, nets: list[_Net]) -> None:
        """One more search pass for networks with one internal depth (DCs over stores).

        Each internal stage also tries the fills halfway to its chosen candidate's
        neighbours (copy ``lo`` and copy ``hi``, on the search's paths: common random
        numbers with the candidates) and keeps the cheapest of the three for its subtree
        (trees) or the network (otherwise). Candidates are coarse; the step halfway
        recovers most of what a finer grid would, for two short copies.
        """
        fills = self.internal_fills
        jobs: list[tuple[_Net, int, np.ndarray, dict[int, tuple[float, float]]]] = []
        for net in nets:
            for side in (-1, 1):
                lv = net.placeholder.copy()
                alt: dict[int, tuple[float, float]] = {}
                for j in np.flatnonzero(net.internal):
                    k = net.choice[int(j)]
                    nb = fills[k + side] if 0 <= k + side < len(fills) else (0.995 if side > 0 else None)
                    if nb is None:
                        continue
                    f = 0.5 * (fills[k] + nb)
                    curve = net.int_curve[(int(j), ())]
                    lvl = _min_level(curve, f)
                    own = _min_level(curve, net.target[j]) if np.isfinite(net.target[j]) else 0
                    if lvl < 0 or own < 0:
                        continue
                    lvl = max(lvl, own)
                    kept = _clamp(net, int(j), lvl)
                    if kept != lvl and kept == net.int_level[(int(j), (), k)]:
                        continue  # the override leaves no other level to try
                    lvl = kept
                    alt[int(j)] = (f, float(lvl))
                    lv[j] = lvl
                if alt:
                    for j in np.flatnonzero(net.internal):  # unchanged stages stay at their choice
                        if int(j) not in alt:
                            lv[j] = net.int_level[(int(j), (), net.choice[int(j)])]
                    jobs.append((net, side, lv, alt))
        if not jobs:
            return
        values: dict[tuple[int, int], dict[int, float]] = {}
        for chunk in _chunks(jobs, lambda jb: _bins(jb[2], 1)):
            res = self._run([jb[0] for jb in chunk], [jb[2] for jb in chunk], search=True, stages=[None] * len(chunk))
            curves = _curves(res, None, self.target_margin_se)
            row = 0
            for net, side, lv, _alt in chunk:
                val: dict[int, float] = {}
                for jj in range(net.sn.network.n_stages):
                    c = curves[row + jj]
                    if net.internal[jj]:
                        val[jj] = self._stage_value(net, jj, c, int(lv[jj]))
                    elif c is not None:
                        val[jj] = self._leaf_value(net, jj, c)[1]
                values[(id(net), side)] = val
                row += net.sn.network.n_stages
        for net, side, _lv, alt in jobs:
            val = values[(id(net), side)]
            groups = ([[int(j)] + net.children[int(j)] for j in np.flatnonzero(net.internal)] if net.tree
                      else [list(range(net.sn.network.n_stages))])
            for grp in groups:
                heads = [j for j in grp if net.internal[j]]
                if not all(h in alt for h in heads):
                    continue
                base = sum(net.int_cost[(j, (), net.choice[j])] if net.internal[j]
                           else net.leaf_cost.get((j, (net.choice[heads[0]],)), 0.0) for j in grp)
                cur = sum(val[j] for j in grp)
                best = min((net.refined_value.get(h, base) for h in heads), default=base)
                if cur < best - 1e-12 * max(1.0, abs(best)):
                    for h in heads:
                        net.refined[h] = alt[h]
                        net.refined_value[h] = cur

    def _final_internal_levels(self, net: _Net) -> np.ndarray:
        """Levels with every internal stage at its chosen candidate (given its ancestors')."""
        lv = net.placeholder.copy()
        prefix_of: dict[int, tuple[int, ...]] = {}
        first_at = {int(net.depth[x]): int(x) for x in np.flatnonzero(net.internal)[::-1]}
        for j in net.sn.network.topological_order:
            if not net.internal[j]:
                continue
            d = int(net.depth[j])
            i = net.int_depths.index(d)
            if net.tree:
                # the prefix is the ancestors' choices, one per internal depth above
                par = [u for u, dn, _ in net.sn.network.arcs if dn == j]
                prefix = prefix_of[par[0]] if par else ()
            else:  # one choice per internal depth, shared by its stages (the best scenario)
                prefix = tuple(net.choice[first_at[dd]] for dd in net.int_depths[:i])
            assert len(prefix) == i
            k = net.choice[int(j)]
            lv[j] = net.refined[int(j)][1] if int(j) in net.refined else net.int_level[(int(j), prefix, k)]
            prefix_of[int(j)] = prefix + (k,)
            # leaves start near their search level (histogram range covers it twice over)
            for c in net.children[j]:
                if not net.internal[c]:
                    s = net.leaf_level.get((c, prefix + (k,)))
                    if s is not None:
                        lv[c] = max(lv[c], s + 1.0)
        return lv

    # ------------------------------------------------------------------ final ----
    def _final(self, nets: list[_Net]) -> dict[str, np.ndarray]:
        """The final run; leaves' levels read off their histograms on its paths."""
        total = sum(net.comp.size for net in nets)
        k_front = len(self.frontier_shifts)
        out: dict[str, np.ndarray] = {k: np.full((total, k_front), np.nan)
                                      for k in ("fr_level", "fr_fill", "fr_on_hand", "fr_on_hand_sd", "fr_on_hand_k3",
                                                "fr_on_hand_se", *_FRESH_KEYS)}
        out |= {k: np.full(total, np.nan) for k in ("level", "fill", "fill_se", "cyc", "cyc_se", "on_hand",
                                                     "on_hand_se", "backorders", "short")}
        todo = [(net, self._final_internal_levels(net)) for net in nets]
        for attempt in range(4):
            retry: list[tuple[_Net, np.ndarray]] = []
            for chunk in _chunks(todo, lambda jb: _bins(jb[1], self.final_groups)):
                # histograms of the stages read off them (leaves, stages with demand of their own)
                read = [jb[0].read_final() for jb in chunk]
                res = self._run([jb[0] for jb in chunk], [jb[1] for jb in chunk], search=False,
                                stages=[js for js, _pr in read])
                fc = _flat_curves(res, np.concatenate([int(res.network_ptr[i]) + js for i, (js, _pr) in
                                                       enumerate(read)]), self.target_margin_se)
                _check_histograms(fc, [(jb[0], js) for jb, (js, _pr) in zip(chunk, read, strict=True)])
                prm = np.concatenate([pr for _js, pr in read])
                lvl, val = self._leaf_levels(fc, prm, smooth=False)
                fr = self._frontier_all(fc, prm, lvl)
                cyc = _no_backlog_shares(res.positions, fc.rows, np.clip(lvl, 0, np.diff(fc.ptr) - 1))
                first = 0
                for i, (net, lv) in enumerate(chunk):
                    sl = slice(int(res.network_ptr[i]), int(res.network_ptr[i + 1]))
                    rows = np.full(net.comp.size, -1, dtype=np.int64)
                    rows[read[i][0]] = first + np.arange(read[i][0].size)
                    first += read[i][0].size
                    again = self._read_final(net, lv, res, sl, _FinalRead(fc, rows, lvl, val, fr, *cyc), out,
                                             last=attempt == 3)
                    if again is not None:
                        retry.append((net, again))
            if not retry:
                break
            todo = retry
        if self.fresh_on_hand:
            self._fresh(nets, out)
        return out

    def _fresh(self, nets: list[_Net], out: dict[str, np.ndarray]) -> None:
        """On hand at every frontier level of the customer-facing stages, on fresh paths.

        Each network is simulated once more at its final run's levels (internal stages at
        their chosen levels, leaves at their histogram ranges) on a stream of its own
        (seed salted with ``_FRESH_SALT``), and the frontier levels chosen on the final
        run are read off these histograms: mean, SD, third central moment and SE of on hand.
        """
        todo = [(net, net.final_run_levels) for net in nets if net.final_run_levels is not None]
        for chunk in _chunks(todo, lambda jb: _bins(jb[1], self.final_groups)):
            # histograms only where the final run read frontier levels (leaves, stages with demand)
            res = self._run([jb[0] for jb in chunk], [jb[1] for jb in chunk], search=False, salt=_FRESH_SALT,
                            stages=[np.flatnonzero(~jb[0].internal | jb[0].has_demand) for jb in chunk])
            rows: list[int] = []
            at: list[int] = []
            for i, (net, _lv) in enumerate(chunk):
                for j in range(net.sn.network.n_stages):
                    if np.isfinite(out["fr_level"][net.comp[j]]).any():
                        rows.append(int(res.network_ptr[i]) + j)
                        at.append(int(net.comp[j]))
            curves = _curves(res, np.asarray(rows, dtype=np.int64))
            for r, g in zip(rows, at, strict=True):
                c = curves[r]
                if c is None:
                    continue
                lvl = out["fr_level"][g]
                good = np.isfinite(lvl) & (lvl <= len(c.level) - 1)
                k = np.where(good, lvl, 0).astype(np.int64)
                sd, k3 = _on_hand_moments(c.on_hand)
                out["fresh_on_hand"][g] = np.where(good, c.on_hand[k], np.nan)
                out["fresh_on_hand_sd"][g] = np.where(good, sd[k], np.nan)
                out["fresh_on_hand_k3"][g] = np.where(good, k3[k], np.nan)
                out["fresh_on_hand_se"][g] = np.where(good, c.on_hand_se[k], np.nan)

    def _read_final(self, net: _Net, lv: np.ndarray, res: Any, sl: slice, rd: _FinalRead,
                    out: dict[str, np.ndarray], last: bool) -> np.ndarray | None:
        """Write a network's final numbers to ``out``; or the levels to run it again with.

        Run again: a leaf whose target lies above its histogram's range (its start level
        doubled), or an internal stage with customers of its own whose measured fill of
        their demand misses its target (the search measured its fill of everything
        demanded of it; its level is raised to the final run's read-off for a target
        higher by the shortfall). ``rd``: the run's curves and every leaf's level and
        frontier levels read off them (rows ``rd.rows`` per stage).
        """
        ns = net.comp.size
        levels = lv.copy()
        fr = np.full((ns, len(self.frontier_shifts)), np.nan)
        ok = True
        again = lv.copy()
        fill = np.full(ns, np.nan)
        fill_se = np.full(ns, np.nan)
        oh = np.full(ns, np.nan)
        oh_se = np.full(ns, np.nan)
        bo = np.full(ns, np.nan)
        short = np.zeros(ns)
        cyc = np.nan_to_num(res.mean["cycle_service_level"][sl], nan=1.0)
        cyc_se = res.se["cycle_service_level"][sl].copy()
        # internal stages: the engine's own metrics at their levels
        inner = net.internal
        fill[inner] = res.mean["fill_rate"][sl][inner]
        fill_se[inner] = res.se["fill_rate"][sl][inner]
        oh[inner] = res.mean["on_hand"][sl][inner]
        oh_se[inner] = res.se["on_hand"][sl][inner]
        bo[inner] = res.mean["backorders"][sl][inner]
        fc = rd.fc
        for j in range(ns):
            r = int(rd.rows[j])
            if inner[j]:
                c = fc.curve(r) if r >= 0 else None
                if j in net.sn.demand and c is not None:
                    s = int(levels[j])
                    short[j] = (1.0 - float(c.fill[s])) * c.demand
                    gap = float(net.target[j]) - float(fill[j])
                    if np.isfinite(gap) and gap > 1e-12 and not last and levels[j] >= net.hi[j]:
                        net.note.append(f"{_name(net, j)}: held at the override's max {net.hi[j]:g}, below its "
                                        f"own customers' fill target {net.target[j]:.3f}")
                    elif np.isfinite(gap) and gap > 1e-12 and not last:
                        ok = False
                        want = _min_level(c, min(float(net.target[j]) + gap, 1.0 - 1e-9))
                        again[j] = min(max(float(levels[j]) + 1.0, float(want if want >= 0 else 2 * levels[j] + 1)),
                                       float(net.hi[j]))
                        net.note.append(f"level raised for its own customers' fill target {net.target[j]:.3f}")
                continue
            s, val = int(rd.level[r]), float(rd.value[r])
            if not math.isfinite(val):
                if last:  # no policy: the pipeline reports the row as an error with the note
                    levels[j] = np.nan
                    net.note.append(f"{_name(net, j)}: target not reached within 4 histogram ranges")
                else:
                    ok = False
                    again[j] = 2.0 * lv[j] + 32.0
                continue
            levels[j] = s
            at = int(fc.ptr[r]) + s
            fill[j] = float(fc.fill_rate[at]) if j in net.sn.demand else np.nan
            fill_se[j] = float(fc.fill_rate_se[at]) if j in net.sn.demand else np.nan
            oh[j] = float(fc.on_hand[at])
            oh_se[j] = float(fc.on_hand_se[at])
            bo[j] = float(fc.backlog[at])
            short[j] = (1.0 - float(fc.fill[at])) * float(fc.demand[r])
            cyc[j], cyc_se[j] = float(rd.no_backlog[r]), float(rd.no_backlog_se[r])
            if j in net.sn.demand:
                fr[j] = rd.frontier[r]
        if not ok:
            return again
        net.levels = levels
        net.final_run_levels = lv
        idx = net.comp
        out["level"][idx] = levels
        out["fill"][idx] = fill
        out["fill_se"][idx] = fill_se
        out["cyc"][idx] = cyc
        out["cyc_se"][idx] = cyc_se
        out["on_hand"][idx] = oh
        out["on_hand_se"][idx] = oh_se
        out["backorders"][idx] = bo
        out["short"][idx] = short
        for j in np.flatnonzero(np.isfinite(fr).any(axis=1)).tolist():
            r = int(rd.rows[j])
            if r < 0 or fc.ptr[r] == fc.ptr[r + 1]:
                continue
            a, b = int(fc.ptr[r]), int(fc.ptr[r + 1])
            lvl = fr[j]
            good = np.isfinite(lvl)
            k = np.where(good, lvl, 0).astype(np.int64)
            out["fr_level"][idx[j]] = lvl
            out["fr_fill"][idx[j]] = np.where(good, fc.fill_rate[a:b][k], np.nan)
            out["fr_on_hand"][idx[j]] = np.where(good, fc.on_hand[a:b][k], np.nan)
            sd, k3 = _on_hand_moments(fc.on_hand[a:b])
            out["fr_on_hand_sd"][idx[j]] = np.where(good, sd[k], np.nan)
            out["fr_on_hand_k3"][idx[j]] = np.where(good, k3[k], np.nan)
            out["fr_on_hand_se"][idx[j]] = np.where(good, fc.on_hand_se[a:b][k], np.nan)
        return None

    def _run(self, nets: list[_Net], levels: list[np.ndarray], search: bool,
             stages: list[np.ndarray | None] | None = None, salt: int = 0) -> Any:
        """One engine call of ``nets`` at ``levels``.

        ``stages``: per network, the stages whose histograms are read (``None``: all); a
        search run (``search``) computes no metrics. ``salt``: XOR-ed into a final run's
        seeds (the fresh on-hand run's independent stream).
        """
        self.engine_calls_ += 1
        sns = [n.sn for n in nets]
        seeds = np.array([int(sn.seed) ^ (_SEARCH_SALT if search else salt) for sn in sns], dtype=np.uint64)
        kw: dict[str, Any] = {}
        joints = [n.joint for n in nets]
        if any(j is not None for j in joints):
            kw["joint_demand"] = joints
        return simulate(
            [sn.network for sn in sns],
            [Policy.base_stock(np.maximum(np.rint(lv), 0.0), review_period=sn.review_period)
             for sn, lv in zip(sns, levels, strict=True)],
            [sn.demand for sn in sns],
            lead_times=[sn.lead_time for sn in sns],
            seeds=seeds,
            replications=self.search_replications if search else self.replications,
            periods=self.search_periods if search else self.periods,
            warmup=self.warmup,
            crossing=self.crossing,
            backorders=True,
            position_histograms=True,
            histogram_groups=1 if search else self.final_groups,
            histogram_stages=stages,
            metrics=not search,
            shape_cache=self._shapes,
            **kw,
        )

    def evaluate_policies(self, problem: StageProblem, policies: StagePolicies) -> pa.Table:
        """Simulate given policies as the final run simulates the chosen levels.

        Same networks, demand (the empirical copula when ``correlation="auto"``), lead
        times, seeds and periods as the final run, on its first ``compare_replications``
        replications, so a given policy (today's) meets demand paths the recommendation
        was checked on.  Any policy type the engine takes; the engine's own metrics per
        stage (no position histograms).
        """
        n = len(problem.keys)
        solved = self._solved
        shapes: dict[tuple[int, ...], Any] = {}
        if solved is not None and solved[0] is problem:  # just solved: its networks, copulas, packings
            _p, comps, sns, joints, shapes = solved
        else:
            comps, _nps, sns = search_networks(problem, "target")
            joints = [_joint_demand(problem, comp, sn)[0] if self.correlation == "auto" else None
                      for comp, sn in zip(comps, sns, strict=True)]
        kw: dict[str, Any] = {"joint_demand": joints} if any(j is not None for j in joints) else {}
        res = simulate(
            [sn.network for sn in sns],
            [Policy(kind=[policies.kind[int(g)] for g in comp], reorder_point=policies.reorder_point[comp],
                    order_up_to=policies.order_up_to[comp], order_quantity=policies.order_quantity[comp],
                    review_period=sn.review_period) for comp, sn in zip(comps, sns, strict=True)],
            [sn.demand for sn in sns],
            lead_times=[sn.lead_time for sn in sns],
            seeds=np.array([int(sn.seed) for sn in sns], dtype=np.uint64),
            replications=self.compare_replications, periods=self.periods, warmup=self.warmup,
            crossing=self.crossing, backorders=True, shape_cache=shapes, **kw,
        )
        rows = np.concatenate(comps) if comps else np.zeros(0, dtype=np.int64)
        cols = {}
        for name, metric, se in (("fill_rate", "fill_rate", False), ("fill_rate_se", "fill_rate", True),
                                 ("on_hand", "on_hand", False), ("backorders", "backorders", False)):
            out = np.full(n, np.nan)
            out[rows] = (res.se if se else res.mean)[metric]
            cols[name] = pa.array(out, pa.float64())
        return pa.table(cols)

    # ------------------------------------------------------------------ table ----
    def _table(self, problem: StageProblem, nets: list[_Net], m: dict[str, np.ndarray]) -> pa.Table:
        n = len(problem.keys)
        target = np.asarray(problem.service_target, dtype=np.float64)
        by_cost = np.isnan(target) | (self.objective == "cost")
        msg: list[str | None] = [None] * n
        fills = "/".join(f"{f:.2f}" for f in self.internal_fills)
        for net in nets:
            notes = list(net.note) + ([net.joint_note] if net.joint_note else [])
            for j, g in enumerate(net.comp):
                parts = []
                if _overridden(net, j):
                    parts.append(_override_note(net, j, m, int(g)))
                elif net.internal[j] and int(j) in net.choice:
                    f = self._fill_of(net, int(j))
                    parts.append(f"internal stage: fill {f:.2f} to its customers chosen as the network's "
                                 f"cheapest of {fills}")
                    if np.isfinite(net.target[j]):
                        parts.append(f"at least its own customers' fill target {net.target[j]:.3f}")
                elif net.int_depths:
                    parts.append("level set for the delays of its upstream stages' chosen service")
                parts += notes
                msg[int(g)] = "; ".join(parts) if parts else None
        so = np.nan_to_num(m["short"]) * problem.costs.stockout_cost
        metric = ["cost" if c else "fill_rate" for c in by_cost]
        shown = np.where(by_cost, problem.costs.cost_optimal_service, target)
        source = ["cost_optimal" if c else "input" for c in by_cost]
        for net in nets:  # internal stages without customers of their own: the network's choice
            for j, g in enumerate(net.comp):
                if net.internal[j] and int(j) in net.choice and not np.isfinite(net.target[j]):
                    metric[int(g)] = "fill_rate"
                    shown[int(g)] = self._fill_of(net, int(j))
                    source[int(g)] = "network"
                    if _overridden(net, j):  # the fill its override level gives, as measured
                        shown[int(g)] = m["fill"][int(g)]
                        source[int(g)] = "override"
        table = policy_table(
            policy_type=["base_stock"] * n,
            service_metric=metric,
            service_target=shown,
            target_source=source,
            level=m["level"],
            mean_demand=np.array([d.mean() for d in problem.period_demand]),
            mean_lead_time=np.array([lt.mean() for lt in problem.lead_time]),
            review_period=np.asarray(problem.review_period, dtype=np.float64),
            fill_rate=m["fill"], fill_rate_se=m["fill_se"],
            cycle_service=m["cyc"], cycle_service_se=m["cyc_se"],
            on_hand=m["on_hand"], backorders=m["backorders"],
            unit_cost=np.asarray(problem.unit_cost, dtype=np.float64),
            holding_cost=problem.costs.holding_cost, stockout_per_period=so,
        )
        table = table.append_column("message", pa.array(msg, pa.string()))
        if not self.frontier_shifts:
            return table
        has = np.isfinite(m["fr_level"]).any(axis=1)
        k = len(self.frontier_shifts)
        # list<double> per row, null where the row has none (built from flat arrays, no Python lists)
        offsets = pa.array(np.concatenate([[0], np.cumsum(np.where(has, k, 0))]).astype(np.int32),
                           mask=np.concatenate([~has, [False]]))

        def lists(values: np.ndarray) -> pa.Array:
            return pa.ListArray.from_arrays(offsets, pa.array(values[has].reshape(-1), pa.float64()))

        side = {"frontier_target_shift": lists(np.tile(np.asarray(self.frontier_shifts), (n, 1))),
                "frontier_level": lists(m["fr_level"]), "frontier_fill_rate": lists(m["fr_fill"]),
                "frontier_on_hand": lists(m["fr_on_hand"]), "frontier_on_hand_sd": lists(m["fr_on_hand_sd"]),
                "frontier_on_hand_k3": lists(m["fr_on_hand_k3"]),
                "frontier_on_hand_se": lists(m["fr_on_hand_se"]),
                "recommended_on_hand_se": pa.array(m["on_hand_se"], pa.float64(), mask=~np.isfinite(m["on_hand_se"]))}
        if self.fresh_on_hand:
            side |= {f"frontier_{key}": lists(m[key]) for key in _FRESH_KEYS}
        for name, col in side.items():
            table = table.append_column(name, col)
        return table


# ---------------------------------------------------------------- helpers ----
def _clamp(net: _Net, j: int, level: int) -> int:
    """``level`` moved into stage ``j``'s override corridor."""
    if not net.bounds:
        net.bounds = list(zip(net.lo.tolist(), net.hi.tolist(), strict=True))
    lo, hi = net.bounds[j]
    return int(min(max(float(level), lo), hi))


def _overridden(net: _Net, j: int) -> bool:
    return bool(net.lo[j] > 0.0 or np.isfinite(net.hi[j]))


def _override_note(net: _Net, j: int, m: dict[str, np.ndarray], g: int) -> str:
    """What an override did to stage ``j`` (batch row ``g``), for ``message``."""
    hi = float(net.hi[j]) if np.isfinite(net.hi[j]) else math.nan
    lo = float(net.lo[j]) if net.lo[j] > 0.0 or net.lo[j] == hi else math.nan  # a pin at 0 is a pin
    note = f"override {describe_override(lo, hi)}: level {m['level'][g]:g}"
    fill, target = float(m["fill"][g]), float(net.target[j])
    if not net.internal[j] and math.isfinite(target) and math.isfinite(fill) and fill < target:
        note += f", fill {fill:.3f} below its target {target:.3f}"
    elif net.internal[j]:
        note += f", fill {fill:.2f} to its customers; the rest of the network set around it"
    return note


def _scenarios(k: int, depths: int, cap: int, ref: int) -> list[tuple[int, ...]]:
    """Candidate combinations over ``depths`` internal depths (see ``max_scenarios``)."""
    if k ** depths <= cap:
        return list(itertools.product(range(k), repeat=depths))
    star = {tuple(c if d == e else ref for e in range(depths)) for d in range(depths) for c in range(k)}
    return sorted(star)


def _on_hand_moments(on_hand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviation and third central moment over periods of on hand at every level.

    On hand at level ``S`` is ``(S - X)+`` with ``X`` (integer) independent of ``S``, so with
    ``m`` the mean on hand at every level, ``E[OH(S)^2] - E[OH(S-1)^2] = m(S) + m(S-1)`` and
    ``E[OH(S)^3] - E[OH(S-1)^3] = 3 E[OH(S)^2] - 2 m(S) - m(S-1)``: the higher moments are
    cumulative sums of the curve itself.
    """
    m = np.asarray(on_hand, dtype=np.float64)
    second = m[0] + np.concatenate([[0.0], np.cumsum(m[1:] + m[:-1])])
    third = m[0] + np.concatenate([[0.0], np.cumsum(3.0 * second[1:] - 2.0 * m[1:] - m[:-1])])
    var = np.maximum(second - m * m, 0.0)
    return np.sqrt(var), third - 3.0 * m * second + 2.0 * m ** 3


def _min_level(curve: Any, target: float, margin_se: float = 0.0) -> int:
    """Smallest level whose fill rate meets ``target`` (-1: none within the curve).

    With ``margin_se > 0`` the fill must exceed the target by that many of its standard
    errors (where the curve has them: the final run's replication groups); the curve
    holds that margin's fill (:attr:`_Curve.fill_margin`), computed once per curve.
    """
    hit = _curve_fill(curve, margin_se) >= target - 1e-12
    first = int(hit.argmax())
    return first if hit[first] else -1


def _curve_fill(curve: Any, margin_se: float) -> np.ndarray:
    """The fill curve a target is compared with: less ``margin_se`` standard errors if > 0."""
    if margin_se > 0.0:
        if margin_se != curve.margin_se:
            raise ValueError(f"curve computed for a margin of {curve.margin_se} SE, asked for {margin_se}")
        return np.asarray(curve.fill_margin)
    return np.asarray(curve.fill)


def _min_levels(curve: Any, targets: Any, margin_se: float = 0.0) -> np.ndarray:
    """:func:`_min_level` of every target in ``targets`` (one comparison of the whole curve)."""
    hit = _curve_fill(curve, margin_se)[None, :] >= np.asarray(targets, dtype=np.float64)[:, None] - 1e-12
    first = hit.argmax(axis=1)
    return np.where(hit[np.arange(first.size), first], first, -1)


@dataclass(frozen=True)
class _Curve:
    """A stage's :class:`PositionCurves` with its demand per period [units/period]."""

    level: np.ndarray
    fill_rate: np.ndarray
    fill_rate_se: np.ndarray
    backlog: np.ndarray
    on_hand: np.ndarray
    on_hand_se: np.ndarray
    demand: float
    fill: np.ndarray  # fill_rate with no demand read as 1 (nothing short)
    fill_margin: np.ndarray  # fill less margin_se of its standard errors (fill when 0)
    margin_se: float


def _curves(res: Any, rows: np.ndarray | None = None, margin_se: float = 0.0) -> dict[int, _Curve | None]:
    """:func:`_flat_curves` as one :class:`_Curve` per row (views of the flat arrays), by row."""
    fc = _flat_curves(res, rows, margin_se)
    rows = np.arange(fc.ptr.size - 1) if rows is None else np.asarray(rows, dtype=np.int64)
    return {r: fc.curve(i) for i, r in enumerate(rows.tolist())}


#: columns of :func:`_stage_params`
_P_TARGET, _P_LO, _P_HI, _P_COST_LEAF, _P_DEMAND, _P_VALUE, _P_HOLD, _P_STOCKOUT = range(8)


def _stage_params(net: _Net) -> np.ndarray:
    """Per stage of ``net``, what a leaf's level is read with (columns ``_P_*``), as float64."""
    sn = net.sn
    return np.column_stack([net.target, net.lo, net.hi, net.cost_leaf, net.has_demand,
                            np.asarray(sn.unit_value, dtype=np.float64), np.asarray(sn.holding_cost, dtype=np.float64),
                            np.asarray(sn.stockout_cost, dtype=np.float64)]).astype(np.float64)


@dataclass(frozen=True)
class _FlatCurves:
    """:class:`_Curve` of many rows as flat arrays: row ``i``'s levels are bins ``ptr[i]:ptr[i + 1]``."""

    ptr: np.ndarray
    level: np.ndarray
    fill_rate: np.ndarray
    fill_rate_se: np.ndarray
    backlog: np.ndarray
    on_hand: np.ndarray
    on_hand_se: np.ndarray
    demand: np.ndarray  # per row [units/period]
    fill: np.ndarray
    fill_margin: np.ndarray
    margin_se: float
    rows: np.ndarray  # per row, its row of the simulation result

    def curve(self, i: int) -> _Curve | None:
        """Row ``i``'s curves (views of the flat arrays); None when it has no histogram."""
        a, b = int(self.ptr[i]), int(self.ptr[i + 1])
        if a == b:
            return None
        return _Curve(self.level[a:b], self.fill_rate[a:b], self.fill_rate_se[a:b], self.backlog[a:b],
                      self.on_hand[a:b], self.on_hand_se[a:b], float(self.demand[i]), self.fill[a:b],
                      self.fill_margin[a:b], self.margin_se)


@dataclass(frozen=True)
class _FinalRead:
    """One final run's curves and what was read off them, for one network's :meth:`_read_final`."""

    fc: _FlatCurves
    rows: np.ndarray  # per stage of the network, its row of ``fc`` (-1: none)
    level: np.ndarray  # per row: a leaf's level (:meth:`MultiEchelonSolver._leaf_level`)
    value: np.ndarray  # per row: its value (inf: target beyond the histogram's range)
    frontier: np.ndarray  # per row: frontier levels (rows x shifts)
    no_backlog: np.ndarray  # per row: share of periods ending without backlog at its level (mean over groups)
    no_backlog_se: np.ndarray  # its standard error over the groups (NaN with one group)


def _flat_curves(res: Any, rows: np.ndarray | None = None, margin_se: float = 0.0) -> _FlatCurves:
    """Curves and demand per period of ``rows`` (default: all) of a result's histograms, flat.

    With the fill less ``margin_se`` standard errors that :func:`_min_level` reads,
    computed once for all rows.
    """
    pos: PositionHistograms = res.positions
    if rows is None:
        rows = np.arange(pos.ptr.size - 1)
    rows = np.asarray(rows, dtype=np.int64)
    dem = pos.demand_sum[:, rows].sum(axis=0) / (pos.groups * float(pos.periods_per_group))
    flat = pos.flat_curves(rows)
    fill = np.where(np.isnan(flat.fill_rate), 1.0, flat.fill_rate)  # (fill rates are never infinite)
    # with one group every SE is NaN, read as 0: the margin leaves the fill as it is (x - 0.0 == x)
    fill_margin = (fill - margin_se * np.nan_to_num(flat.fill_rate_se, nan=0.0) if margin_se > 0.0 and pos.groups > 1
                   else fill)
    ptr = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(np.diff(pos.ptr)[rows], out=ptr[1:])
    return _FlatCurves(ptr, flat.level, flat.fill_rate, flat.fill_rate_se, flat.backlog, flat.on_hand,
                       flat.on_hand_se, dem, fill, fill_margin, margin_se, rows)


def _check_histograms(fc: _FlatCurves, parts: list[tuple[_Net, np.ndarray]]) -> None:
    """Raise when a row of ``fc`` (the stages ``parts`` lists, in order) has no histogram."""
    empty = np.flatnonzero(np.diff(fc.ptr) == 0)
    if empty.size == 0:
        return
    i = int(empty[0])
    for net, js in parts:
        if i < js.size:
            raise RuntimeError(f"{_name(net, int(js[i]))}: no position histogram (not an installation base-stock "
                               "stage)")
        i -= js.size


def _first_hit(hit: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """Per row (bins ``ptr[i]:ptr[i + 1]``), the first bin where ``hit`` is true, from the row's start; -1: none."""
    at = np.flatnonzero(hit)
    start = ptr[:-1]
    if at.size == 0:
        return np.full(start.size, -1, dtype=np.int64)
    k = np.searchsorted(at, start)
    cand = at[np.minimum(k, at.size - 1)]
    return np.where((k < at.size) & (cand < ptr[1:]), cand - start, -1)


def _name(net: _Net, j: int) -> str:
    names = net.sn.network.stage_names
    return str(names[j]) if names else f"stage {j}"


def _bins(levels: np.ndarray, groups: int) -> int:
    return int(groups * np.sum(2 * np.maximum(np.rint(levels), 0) + 33))


def _chunks(items: list[Any], size: Any) -> list[list[Any]]:
    """Consecutive runs of ``items`` whose summed ``size`` stays under the histogram budget."""
    out: list[list[Any]] = []
    cur: list[Any] = []
    acc = 0
    for it in items:
        s = size(it)
        if cur and acc + s > _MAX_BINS:
            out.append(cur)
            cur, acc = [], 0
        cur.append(it)
        acc += s
    if cur:
        out.append(cur)
    return out


def _no_backlog_share(pos: PositionHistograms | None, row: int, level: int) -> tuple[float, float]:
    """Share of measured periods ending without backlog at ``level`` (mean, SE over groups).

    The row-by-row rule; the final run uses :func:`_no_backlog_shares` (all rows at once,
    the same numbers: ``tests/solvers/test_multi_echelon_rows.py``).
    """
    if pos is None:
        return math.nan, math.nan
    a, b = int(pos.ptr[row]), int(pos.ptr[row + 1])
    x = pos.x_counts[:, a:b]
    n = float(pos.periods_per_group)
    share = x[:, : level + 1].sum(axis=1) / n
    g = share.size
    se = float(share.std(ddof=1) / math.sqrt(g)) if g > 1 else math.nan
    return float(share.mean()), se


def _no_backlog_shares(pos: PositionHistograms, rows: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_no_backlog_share` of result rows ``rows`` at ``levels``, all at once (the same numbers).

    The counts of ``X <= level`` are sums of integer counts (exact in any order); the mean
    and SE over the groups reduce each row's contiguous groups as NumPy reduces one.
    """
    n = float(pos.periods_per_group)
    cum = np.cumsum(pos.x_counts, axis=1)
    a = pos.ptr[rows]
    below = np.where(a > 0, cum[:, np.maximum(a - 1, 0)], 0.0)
    share = np.ascontiguousarray(((cum[:, a + levels] - below) / n).T)
    g = share.shape[1]
    se = share.std(axis=1, ddof=1) / math.sqrt(g) if g > 1 else np.full(rows.size, math.nan)
    return share.mean(axis=1), se


def _joint_demand(problem: StageProblem, comp: np.ndarray, sn: SearchNetwork) -> tuple[Any, str]:
    """The network's empirical copula from the demand history (None: independent), and a note."""
    hist = problem.demand_history
    if hist is None or len(sn.demand) < 2:
        return None, ""
    from platform_core.simulation.joint_demand import InsufficientHistoryError, JointDemand

    rows = np.asarray(hist, dtype=np.float64)[comp]
    own = np.full_like(rows, np.nan)
    for j in sn.demand:  # stages with demand of their own; the others draw nothing
        own[j] = rows[j]
    try:
        joint = JointDemand.from_history(own, seed=int(sn.seed), n_stages=comp.size)
    except InsufficientHistoryError as err:
        return None, f"demand correlation: independent ({err})"
    return joint, f"demand correlation: {joint.summary()}"
