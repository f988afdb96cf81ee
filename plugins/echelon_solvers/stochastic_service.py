"""Stochastic-service optimisation of multi-echelon base-stock levels by simulation.

Every stage of a SKU network (distribution tree, serial line or general acyclic network)
holds an installation base-stock level; upstream shortages delay downstream orders
(stochastic service).  The levels are chosen by simulation optimisation with the network
engine (:func:`platform_core.simulation.simulate`):

* **common random numbers**: every candidate vector of levels is simulated with the same
  seed, so the objective is one deterministic sample-average function of the levels and
  two candidates differ only by their policy;
* **batched neighbourhoods**: all neighbours of the incumbent (each stage ``+-step``) are
  simulated in one engine call, as many copies of the network;
* **start**: a decomposition heuristic - each stage's level is a quantile of the demand
  over its lead time plus review period (customer-facing stages at the multi-echelon
  critical ratio, internal stages at ``internal_start_ratio``);
* **search**: best-improvement coordinate descent with step sizes halving from about
  half a standard deviation of lead-time demand down to one unit.

Objectives:

* ``"cost"``: expected holding cost (on-hand and in transit to customers, at local rates)
  + stockout cost per unit short at customer-facing stages [currency/period];
* ``"target"``: least holding cost such that every stage with a target meets its fill
  rate: the internal stages are searched as above while the customer-facing levels are
  re-fitted to their targets for every internal candidate.

:func:`sim_optimise` is the single-network API.  The pipeline solver
:class:`StochasticServiceSolver` instead searches all networks of a batch together,
depth by depth, one engine call per search pass (:mod:`echelon_solvers.kit.search`),
so its cost is linear in the number of networks and its numbers do not depend on the
batch split.

The building blocks it shares with other solvers (network decomposition, the
:class:`NetworkProblem`, the batched search, critical ratios, the output table) live in
:mod:`echelon_solvers.kit`; the names that used to be defined here are re-exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from echelon_solvers.kit.decompose import own_demand, problem_networks
from echelon_solvers.kit.lead_time_demand import lead_time_demand_moments
from echelon_solvers.kit.network_problem import NetworkProblem, network_problem
from echelon_solvers.kit.search import fit_depthwise, moment_start
from echelon_solvers.kit.search_network import METRICS, SearchNetwork, search_networks
from echelon_solvers.kit.service import critical_ratio, multi_echelon_critical_ratio
from echelon_solvers.kit.tables import policy_table
from platform_core.components import Solver, StageProblem, compound
from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Costs, Policy, SimulationResult, simulate

__all__ = [
    "SimOptResult",
    "evaluate_levels",
    "decomposition_start",
    "sim_optimise",
    "StochasticServiceSolver",
    # re-exported from echelon_solvers.kit (their home since the kit was gathered)
    "NetworkProblem",
    "critical_ratio",
    "multi_echelon_critical_ratio",
    "policy_table",
    "problem_networks",
    "own_demand",
    "network_problem",
    "search_networks",
]


@dataclass
class SimOptResult:
    """Outcome of :func:`sim_optimise`.

    Attributes:
        base_stock: installation base-stock level per stage [units].
        objective: value of the objective at ``base_stock`` [currency/period].
        holding_cost: expected holding cost [currency/period].
        stockout_cost: expected stockout cost [currency/period].
        fill_rate: fill rate of external demand per stage [-] (NaN without demand).
        inventory_investment: mean on-hand value per stage [currency].
        evaluations: number of network simulations spent.
        start: the starting levels [units].
        result: the engine result at ``base_stock``.
    """

    base_stock: np.ndarray
    objective: float
    holding_cost: float
    stockout_cost: float
    fill_rate: np.ndarray
    inventory_investment: np.ndarray
    evaluations: int
    start: np.ndarray
    result: SimulationResult | None = field(default=None, repr=False)


def _lead_time_dist(x: int | DiscreteDistribution) -> DiscreteDistribution:
    return x if isinstance(x, DiscreteDistribution) else DiscreteDistribution.point(int(x))


def _echelon_demand(problem: NetworkProblem) -> list[DiscreteDistribution]:
    """Demand per period seen by each stage: own external + its customers' (independent sum)."""
    net = problem.network
    out: list[DiscreteDistribution | None] = [None] * net.n_stages
    for j in reversed(net.topological_order):
        acc = problem.demand.get(j, DiscreteDistribution.point(0))
        for u, d, q in net.arcs:
            if u == j:
                child = out[d]
                assert child is not None
                if q != 1.0:
                    child = DiscreteDistribution(child.pmf, 0) if child.offset == 0 else child
                    vals = np.rint(child.support * q).astype(np.int64)
                    pmf = np.bincount(vals, weights=child.pmf)
                    child = DiscreteDistribution(pmf, 0)
                acc = acc.convolve(child)
        out[j] = acc
    return [d if d is not None else DiscreteDistribution.point(0) for d in out]


def decomposition_start(problem: NetworkProblem, internal_start_ratio: float = 0.8) -> np.ndarray:
    """Starting levels: per-stage quantiles of demand over lead time + review [units].

    Customer-facing stages use the multi-echelon critical ratio (or their fill-rate
    target when one is set); internal stages ``internal_start_ratio``.
    """
    net = problem.network
    ech = _echelon_demand(problem)
    levels = np.zeros(net.n_stages)
    assert problem.review_period is not None and problem.service_target is not None
    for j in range(net.n_stages):
        ltd = compound(ech[j], _lead_time_dist(problem.lead_time[j]), int(problem.review_period[j]))
        ups = net.upstream(j)
        if net.downstream(j):
            q = internal_start_ratio
        elif np.isfinite(problem.service_target[j]):
            q = float(problem.service_target[j])
        else:
            h_up = max((problem.holding_cost[u] for u in ups), default=0.0)
            q = float(multi_echelon_critical_ratio(problem.holding_cost[j], problem.stockout_cost[j], h_up))
        levels[j] = float(ltd.quantile(min(max(q, 0.0), 1.0 - 1e-9)))
    return levels


@dataclass
class _Evaluation:
    objective: np.ndarray  # (k,)
    holding: np.ndarray
    stockout: np.ndarray
    fill: np.ndarray  # (k, n)
    fill_se: np.ndarray
    investment: np.ndarray  # (k, n)
    result: SimulationResult


def _evaluate(
    problem: NetworkProblem,
    levels: np.ndarray,
    seed: int,
    replications: int,
    periods: int,
    warmup: int,
    crossing: bool,
) -> _Evaluation:
    lv = np.atleast_2d(np.asarray(levels, dtype=np.float64))
    k, n = lv.shape
    net = problem.network
    lt = list(problem.lead_time)
    res = simulate(
        [net] * k,
        [Policy.base_stock(np.maximum(row, 0.0), review_period=problem.review_period) for row in lv],
        [problem.demand] * k,
        lead_times=[lt] * k,
        seeds=np.full(k, np.uint64(seed) if seed >= 0 else np.uint64(0), dtype=np.uint64),
        replications=replications,
        periods=periods,
        warmup=warmup,
        crossing=crossing,
        costs=[Costs(holding=problem.holding_cost, unit_value=np.asarray(problem.unit_value))] * k,
    )
    demand_mask = np.zeros(n, dtype=bool)
    demand_mask[problem.demand_stages] = True
    fill_r = res.replicates["fill_rate"].reshape(replications, k, n)
    dem_r = res.replicates["demand"].reshape(replications, k, n)
    short = np.nanmean(np.where(demand_mask, (1.0 - np.nan_to_num(fill_r, nan=1.0)) * dem_r, 0.0), axis=0)
    hold = res.mean["holding_cost"].reshape(k, n).sum(axis=1)
    stockout = (short * problem.stockout_cost).sum(axis=1)
    fill = np.where(demand_mask, res.mean["fill_rate"].reshape(k, n), np.nan)
    fill_se = np.where(demand_mask, res.se["fill_rate"].reshape(k, n), np.nan)
    inv = res.mean["inventory_investment"].reshape(k, n)
    return _Evaluation(hold + stockout, hold, stockout, fill, fill_se, inv, res)


def evaluate_levels(
    problem: NetworkProblem,
    levels: np.ndarray,
    *,
    seed: int = 0,
    replications: int = 8,
    periods: int = 1000,
    warmup: int = 100,
    crossing: bool = True,
) -> np.ndarray:
    """Objective of the cost mode for each row of ``levels`` (k, n_stages) [currency/period].

    All rows are simulated with the same ``seed`` (common random numbers).
    """
    return _evaluate(problem, levels, seed, replications, periods, warmup, crossing).objective


def _steps(problem: NetworkProblem) -> np.ndarray:
    assert problem.review_period is not None
    ech = _echelon_demand(problem)
    sd = np.array([
        compound(ech[j], _lead_time_dist(problem.lead_time[j]), int(problem.review_period[j])).std()
        for j in range(problem.network.n_stages)
    ])
    return np.maximum(1.0, 2.0 ** np.floor(np.log2(np.maximum(sd / 2.0, 1.0))))


def _fit_targets(
    problem: NetworkProblem,
    levels: np.ndarray,
    targeted: np.ndarray,
    sim: dict[str, object],
    max_shift: int = 6,
) -> tuple[np.ndarray, _Evaluation, int]:
    """Smallest levels of the ``targeted`` stages meeting their targets (others fixed)."""
    assert problem.service_target is not None
    lv = levels.copy()
    evals = 0
    tgt = problem.service_target
    ev = None
    for _ in range(6):
        shifts = np.arange(-max_shift, max_shift + 1)
        cand = np.repeat(lv[None, :], shifts.size, axis=0)
        cand[:, targeted] += shifts[:, None]
        cand = np.maximum(cand, 0.0)
        ev = _evaluate(problem, cand, **sim)  # type: ignore[arg-type]
        evals += shifts.size
        moved = False
        for j in np.flatnonzero(targeted):
            ok = np.flatnonzero(ev.fill[:, j] >= tgt[j] - 1e-12)
            if ok.size == 0:
                lv[j] = cand[-1, j]  # still short: move to the top and search again
                moved = True
            else:
                new = cand[ok[0], j]
                if ok[0] == 0 and lv[j] > 0:
                    moved = True  # the bottom already meets it: search lower
                if new != lv[j]:
                    moved = True
                lv[j] = new
        if not moved:
            break
    final = _evaluate(problem, lv, **sim)  # type: ignore[arg-type]
    return lv, final, evals + 1


def sim_optimise(
    problem: NetworkProblem,
    *,
    objective: str = "cost",
    start: np.ndarray | None = None,
    seed: int = 0,
    replications: int = 8,
    periods: int = 1000,
    warmup: int = 100,
    crossing: bool = True,
    max_rounds: int = 200,
    internal_start_ratio: float = 0.8,
) -> SimOptResult:
    """Simulation-optimised installation base-stock levels of one network.

    Args:
        problem: the network, demand, lead times and costs.
        objective: ``"cost"`` (holding + stockout) or ``"target"`` (holding subject to
            fill-rate targets at stages with a finite ``service_target``).
        start: starting levels [units] (default: :func:`decomposition_start`).
        seed: simulation seed shared by every candidate (common random numbers).
        replications: engine replications per candidate.
        periods: measured periods per replication.
        warmup: warm-up periods per replication.
        crossing: allow order crossing with stochastic lead times.
        max_rounds: cap on neighbourhood evaluations.
        internal_start_ratio: quantile for internal stages in the start heuristic.

    Returns:
        The best levels found and their simulated metrics.
    """
    if objective not in ("cost", "target"):
        raise ValueError(f"objective must be 'cost' or 'target', got {objective!r}")
    assert problem.service_target is not None
    n = problem.network.n_stages
    x0 = decomposition_start(problem, internal_start_ratio) if start is None else np.asarray(start, dtype=np.float64)
    x = np.rint(x0).astype(np.float64)
    sim: dict[str, object] = dict(seed=seed, replications=replications, periods=periods, warmup=warmup, crossing=crossing)
    steps = _steps(problem)
    evals = 0
    targeted = np.isfinite(problem.service_target) if objective == "target" else np.zeros(n, dtype=bool)
    free = ~targeted

    def score(cands: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[_Evaluation]]:
        nonlocal evals
        if not targeted.any():
            ev = _evaluate(problem, cands, **sim)  # type: ignore[arg-type]
            evals += cands.shape[0]
            return ev.objective, list(cands), [ev]
        vals, rows, evs = [], [], []
        for row in cands:
            lv, ev, k = _fit_targets(problem, row, targeted, sim)
            evals += k
            vals.append(float(ev.holding[0]))
            rows.append(lv)
            evs.append(ev)
        return np.array(vals), rows, evs

    vals, rows, _ = score(x[None, :])
    best, x = float(vals[0]), rows[0]
    rounds = 0
    while rounds < max_rounds and free.any():
        rounds += 1
        idx = np.flatnonzero(free)
        cands = []
        for j in idx:
            for sgn in (-1.0, 1.0):
                c = x.copy()
                c[j] = max(0.0, c[j] + sgn * steps[j])
                if c[j] != x[j]:
                    cands.append(c)
        if not cands:
            break
        vals, rows, _ = score(np.array(cands))
        k = int(np.argmin(vals))
        if vals[k] < best - 1e-9 * max(1.0, abs(best)):
            best, x = float(vals[k]), rows[k]
        elif np.all(steps[idx] <= 1.0):
            break
        else:
            steps[idx] = np.maximum(1.0, steps[idx] / 2.0)
    final = _evaluate(problem, x, **sim)  # type: ignore[arg-type]
    evals += 1
    obj = float(final.holding[0]) if objective == "target" else float(final.objective[0])
    return SimOptResult(
        base_stock=x,
        objective=obj,
        holding_cost=float(final.holding[0]),
        stockout_cost=float(final.stockout[0]),
        fill_rate=final.fill[0],
        inventory_investment=final.investment[0],
        evaluations=evals,
        start=x0,
        result=final.result,
    )




# ---------------------------------------------------------------- solver plugin ----
class StochasticServiceSolver(Solver):
    """Multi-echelon base-stock levels by batched simulation search (see module doc).

    Uses the batch's upstream links (``StageProblem.upstream``): each connected
    component is one network.  All networks of the batch are searched together, one
    engine call per search pass (:mod:`echelon_solvers.network_search`): stages are
    fitted depth by depth (suppliers first), every pass simulating up to
    ``candidates`` copies of every network with its own seed.

    * ``objective="target"``: every stage at the smallest level whose simulated fill
      rate meets its target (null targets: the cost-optimal service ``p / (p + h)``),
      given its suppliers' levels;
    * ``objective="cost"``: customer-facing stages at their least holding + stockout
      cost given their suppliers; internal stages at the fill rate among
      ``internal_fills`` whose network has the least total simulated cost.

    Args:
        objective: ``"target"`` or ``"cost"``.
        replications: engine replications per candidate.
        periods: measured periods per replication.
        warmup: warm-up periods.
        candidates: candidate levels per stage and search pass.
        internal_fills: fill rates tried for internal stages in cost mode [-].
        max_rounds: cap on search passes per depth.
    """

    network_aware: ClassVar[bool] = True

    def __init__(self, objective: str = "target", replications: int = 8, periods: int = 500,
                 warmup: int = 50, candidates: int = 6,
                 internal_fills: tuple[float, ...] | list[float] = (0.5, 0.8, 0.95),
                 max_rounds: int = 40) -> None:
        if objective not in ("cost", "target"):
            raise ValueError(f"objective must be 'cost' or 'target', got {objective!r}")
        if candidates < 2:
            raise ValueError("candidates must be >= 2")
        self.objective = objective
        self.replications = int(replications)
        self.periods = int(periods)
        self.warmup = int(warmup)
        self.candidates = int(candidates)
        self.internal_fills = tuple(float(f) for f in internal_fills)
        self.max_rounds = int(max_rounds)
        self.engine_calls_ = 0

    def _sim(self) -> dict[str, Any]:
        return dict(replications=self.replications, periods=self.periods, warmup=self.warmup,
                    candidates=self.candidates, max_passes=self.max_rounds)

    def solve(self, problem: StageProblem) -> pa.Table:
        """Jointly searched installation base-stock levels of every network of the batch."""
        n = len(problem.keys)
        comps, nps, sns = search_networks(problem, self.objective)
        mean, sd = lead_time_demand_moments(problem, np.arange(n))
        if self.objective == "target":
            rule, tgt, start = [], [], []
            for comp, np_ in zip(comps, nps, strict=True):
                assert np_.service_target is not None
                t = np.where(np.isfinite(np_.service_target), np_.service_target,
                             critical_ratio(np_.holding_cost, np_.stockout_cost))
                t = np.clip(t, 0.0, 1.0)
                rule.append(np.ones(comp.size, dtype=np.int64))
                tgt.append(t)
                start.append(moment_start(mean[comp], sd[comp], t))
            self.engine_calls_ = fit_depthwise(sns, rule, tgt, start, [sd[c] for c in comps], **self._sim())
            chosen = sns
        else:
            chosen, self.engine_calls_ = self._cost_mode(problem, comps, nps, mean, sd)
        level = np.full(n, np.nan)
        vals = np.full((n, len(METRICS)), np.nan)
        so = np.zeros(n)
        for comp, sn in zip(comps, chosen, strict=True):
            level[comp] = sn.levels
            m = sn.metrics_at_levels()
            vals[comp] = m
            short = np.nan_to_num(m[:, METRICS.index("short")])
            so[comp] = np.where([k in sn.demand for k in range(comp.size)], short, 0.0) * sn.stockout_cost
        col = {name: vals[:, k] for k, name in enumerate(METRICS)}
        target = np.asarray(problem.service_target, dtype=np.float64)
        by_cost = np.isnan(target) | (self.objective == "cost")
        return policy_table(
            policy_type=["base_stock"] * n,
            service_metric=["cost" if c else "fill_rate" for c in by_cost],
            service_target=np.where(by_cost, problem.costs.cost_optimal_service, target),
            target_source=["cost_optimal" if c else "input" for c in by_cost],
            level=level,
            mean_demand=np.array([d.mean() for d in problem.period_demand]),
            mean_lead_time=np.array([lt.mean() for lt in problem.lead_time]),
            review_period=np.asarray(problem.review_period, dtype=np.float64),
            fill_rate=col["fill_rate"], fill_rate_se=col["fill_rate_se"],
            cycle_service=col["cycle_service"], cycle_service_se=col["cycle_service_se"],
            on_hand=col["on_hand"], backorders=col["backorders"],
            unit_cost=np.asarray(problem.unit_cost, dtype=np.float64),
            holding_cost=problem.costs.holding_cost, stockout_per_period=so,
        )

    def _cost_mode(self, problem: StageProblem, comps: list[np.ndarray], nps: list[NetworkProblem],
                   mean: np.ndarray, sd: np.ndarray) -> tuple[list[SearchNetwork], int]:
        """One search per internal fill rate (all in the same engine calls); best per network."""
        variants: list[list[SearchNetwork]] = []
        rule, tgt, start, spread, allnets = [], [], [], [], []
        for f in self.internal_fills:
            _, _, sns = search_networks(problem, "cost")
            variants.append(sns)
            for comp, np_, sn in zip(comps, nps, sns, strict=True):
                h_up = np.zeros(comp.size)
                for u, d, _q in np_.network.arcs:
                    h_up[d] = max(h_up[d], np_.holding_cost[u])
                q = np.where(sn.leaf, multi_echelon_critical_ratio(np_.holding_cost, np_.stockout_cost, h_up), f)
                rule.append(np.where(sn.leaf, 2, 1).astype(np.int64))
                tgt.append(np.full(comp.size, f))
                start.append(moment_start(mean[comp], sd[comp], q))
                spread.append(sd[comp])
                allnets.append(sn)
        calls = fit_depthwise(allnets, rule, tgt, start, spread, **self._sim())
        chosen = []
        for i in range(len(comps)):
            totals = [float(np.sum(v[i].stage_cost(v[i].metrics_at_levels()))) for v in variants]
            chosen.append(variants[int(np.argmin(totals))][i])
        return chosen, calls
