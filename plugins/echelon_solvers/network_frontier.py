"""Network-calibrated service frontier: customer-facing levels measured on the whole network.

The analytic curves of :mod:`echelon_solvers.kit.curves` treat a customer-facing stage as a
single stage whose lead time is stretched by its supplier's mean delay (METRIC).  The
real delay is random and correlated with demand, so the analytic fill rate of a store
can be several points off what the network actually delivers.  This module measures the
curves on the network itself with the engine
(:func:`platform_core.simulation.simulate`):

**Why one run per candidate level serves every store.**  Under installation base-stock
with full backordering a stage orders exactly its demand (per review period), whatever
its level; so a customer-facing stage's level does not change what its suppliers see.
With common random numbers (same network name and seed) the demand, lead-time and
allocation paths are the same in every run, so the fill rate and stock of a
customer-facing stage at level ``S`` are the same whatever level the other
customer-facing stages hold.  One engine run with every customer-facing stage at its
``j``-th candidate level therefore measures point ``j`` of *all* their curves at once;
``K`` runs give every customer-facing stage a curve on ``K`` levels, measured on the
multi-echelon dynamics (upstream stock-outs, rationing, order crossing).  A portfolio
built from any mix of those levels has exactly the per-stage results read off the
curves (checked in the tests against a direct run).

:func:`candidate_levels` spreads the ``K`` levels around a centre (e.g. the analytic
frontier's choice) in steps of the standard deviation of lead-time demand;
:func:`simulated_curves` runs the engine; :func:`allocate_network_fill_target` runs the
marginal analysis of :func:`echelon_solvers.kit.allocation.portfolio_frontier` on the measured
curves, so the portfolio fill rate and every stage's fill rate it reports are what the
network delivers on the demand model it was given (up to the simulation's standard
error, reported per stage).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa

from echelon_solvers.kit.allocation import (
    Allocation,
    Frontier,
    allocate_budget,
    allocate_fill_target,
    portfolio_frontier,
)
from echelon_solvers.kit.curves import StageCurve
from echelon_solvers.kit.evaluate import run_copies
from echelon_solvers.kit.lead_time_demand import lead_time_demand_moments, lead_time_demand_sd
from echelon_solvers.kit.search import fit_depthwise, moment_start
from echelon_solvers.kit.search_network import METRICS, search_networks
from echelon_solvers.kit.service import critical_ratio
from echelon_solvers.kit.tables import policy_table
from platform_core.components import Solver, StageProblem
from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Costs, Network, Policy, simulate

__all__ = [
    "SkuNetworks",
    "NetworkCurves",
    "DEFAULT_MULTIPLIERS",
    "candidate_levels",
    "simulated_curves",
    "allocate_network_fill_target",
    "NetworkFrontierSolver",
    # re-exported from echelon_solvers.kit
    "lead_time_demand_sd",
]

#: default spread of the candidate levels [standard deviations of lead-time demand]
DEFAULT_MULTIPLIERS: tuple[float, ...] = (-2.5, -1.5, -1.0, -0.6, -0.3, 0.0, 0.3, 0.6, 1.0, 1.5, 2.5, 4.0)


@dataclass(frozen=True)
class SkuNetworks:
    """A portfolio of SKU networks under installation base-stock.

    Attributes:
        networks: one :class:`Network` per SKU (the name seeds its random numbers).
        levels: base-stock level per stage of each network [units].
        demand: external demand per network, ``{stage: distribution}`` [units/period].
        lead_times: per network, the lead time of the lane into each stage [periods].
        review_period: per network, the review period of each stage [periods].
        unit_cost: per network, the unit value of each stage [currency/unit].
    """

    networks: Sequence[Network]
    levels: Sequence[np.ndarray]
    demand: Sequence[Mapping[int, DiscreteDistribution]]
    lead_times: Sequence[Sequence[DiscreteDistribution | int]]
    review_period: Sequence[np.ndarray]
    unit_cost: Sequence[np.ndarray]

    def customer_facing(self) -> list[np.ndarray]:
        """Per network, the stages with external demand and no downstream stage."""
        out = []
        for net, dem in zip(self.networks, self.demand, strict=True):
            upstream = {a[0] for a in net.arcs}
            out.append(np.array(sorted(s for s in dem if s not in upstream), dtype=np.int64))
        return out


@dataclass(frozen=True)
class NetworkCurves:
    """Measured curves of every customer-facing stage of a portfolio.

    Attributes:
        curves: one :class:`StageCurve` per customer-facing stage, on its candidate
            levels (increasing, not necessarily consecutive).
        fill_rate_se: standard error of each curve's fill rates [-] (over replications).
        network: network index of each customer-facing stage.
        stage: stage index (within its network) of each customer-facing stage.
        fixed_investment: on-hand investment of all other stages [currency] (the same
            in every run).
        fixed_stage_investment: that investment per network stage, list per network.
    """

    curves: list[StageCurve]
    fill_rate_se: list[np.ndarray]
    network: np.ndarray
    stage: np.ndarray
    fixed_investment: float
    fixed_stage_investment: list[np.ndarray]

    def lookup(self, levels: np.ndarray) -> dict[str, np.ndarray]:
        """Per customer-facing stage, the measured results at ``levels`` [units].

        Returns ``fill_rate``, ``fill_rate_se``, ``short``, ``investment`` and ``demand``;
        each level must be one of the stage's candidate levels.
        """
        out = {k: np.empty(len(self.curves)) for k in ("fill_rate", "fill_rate_se", "short", "investment", "demand")}
        for i, (c, se) in enumerate(zip(self.curves, self.fill_rate_se, strict=True)):
            k = int(np.searchsorted(c.levels, levels[i]))
            if k >= c.levels.size or c.levels[k] != levels[i]:
                raise ValueError(f"level {levels[i]} is not a candidate of customer-facing stage {i}")
            out["fill_rate"][i] = c.fill_rate[k]
            out["fill_rate_se"][i] = se[k]
            out["short"][i] = c.short[k]
            out["investment"][i] = c.investment[k]
            out["demand"][i] = c.mean_demand
        return out

    def portfolio_fill(self, levels: np.ndarray) -> float:
        """Portfolio fill rate (1 - total short / total demand) at ``levels`` [-]."""
        v = self.lookup(levels)
        dem = float(v["demand"].sum())
        return 1.0 - float(v["short"].sum()) / dem if dem > 0 else 1.0


def candidate_levels(
    centre: np.ndarray, spread: np.ndarray, multipliers: Sequence[float] = DEFAULT_MULTIPLIERS
) -> np.ndarray:
    """``K`` candidate levels per stage around ``centre`` [units], shape ``(n, K)``.

    Column ``j`` is ``centre + m_j x spread`` rounded, but at least ``|j - j0|`` units from
    the centre (``j0`` the column of multiplier 0), so small stages still get distinct
    integer levels; clipped at 0 (columns may then repeat a level).

    Args:
        centre: level per stage [units].
        spread: typically the standard deviation of lead-time demand [units].
        multipliers: increasing, containing 0.
    """
    m = np.asarray(multipliers, dtype=np.float64)
    if np.any(np.diff(m) <= 0) or 0.0 not in m:
        raise ValueError("multipliers must be increasing and contain 0")
    j0 = int(np.flatnonzero(m == 0.0)[0])
    steps = np.arange(m.size) - j0
    off = np.rint(np.asarray(spread, dtype=np.float64)[:, None] * m[None, :])
    off = np.sign(steps)[None, :] * np.maximum(np.abs(off), np.abs(steps)[None, :])
    return np.maximum(np.rint(np.asarray(centre, dtype=np.float64))[:, None] + off, 0.0)


def simulated_curves(
    portfolio: SkuNetworks,
    candidates: np.ndarray,
    seed: int,
    replications: int,
    periods: int,
    warmup: int = 52,
) -> NetworkCurves:
    """Measure every customer-facing stage's curve on its candidate levels.

    Args:
        portfolio: the networks; internal stages stay at ``portfolio.levels``.
        candidates: ``(n_customer_facing, K)`` levels [units], customer-facing stages in
            network order then stage order (as :meth:`SkuNetworks.customer_facing`).
        seed: run seed (common random numbers across the ``K`` runs).
        replications: replications per run.
        periods: measured periods per replication.
        warmup: periods discarded per replication.
    """
    cf = portfolio.customer_facing()
    net_of = np.concatenate([np.full(s.size, i, dtype=np.int64) for i, s in enumerate(cf)]) if cf else np.zeros(0, np.int64)
    stage_of = np.concatenate(cf) if cf else np.zeros(0, np.int64)
    cand = np.asarray(candidates, dtype=np.float64)
    if cand.shape[0] != stage_of.size:
        raise ValueError(f"candidates: one row per customer-facing stage ({stage_of.size}), got {cand.shape[0]}")
    k_runs = cand.shape[1]
    ptr = np.concatenate([[0], np.cumsum([s.size for s in cf])])
    n_net = len(portfolio.networks)
    costs = [Costs(unit_value=np.asarray(u, dtype=np.float64)) for u in portfolio.unit_cost]
    nets, pols, dems, lts, cst = [], [], [], [], []
    for j in range(k_runs):
        for i in range(n_net):
            lv = np.asarray(portfolio.levels[i], dtype=np.float64).copy()
            lv[cf[i]] = cand[ptr[i]:ptr[i + 1], j]
            nets.append(portfolio.networks[i])
            pols.append(Policy.base_stock(lv, review_period=np.asarray(portfolio.review_period[i])))
            dems.append(portfolio.demand[i])
            lts.append(portfolio.lead_times[i])
            cst.append(costs[i])
    res = simulate(nets, pols, dems, lead_times=lts, seeds=seed, replications=replications, periods=periods,
                   warmup=warmup, costs=cst, backorders=True)
    fill_r = np.nan_to_num(res.replicates["fill_rate"], nan=1.0)
    dem_r = res.replicates["demand"]
    short_r = (1.0 - fill_r) * dem_r
    n_stage_total = int(res.network_ptr[n_net])  # stages of one copy of the portfolio
    short = short_r.mean(axis=0).reshape(k_runs, n_stage_total)
    demand = dem_r.mean(axis=0).reshape(k_runs, n_stage_total)
    invest = res.mean["inventory_investment"].reshape(k_runs, n_stage_total)
    on_hand = res.mean["on_hand"].reshape(k_runs, n_stage_total)
    cycle = res.mean["cycle_service_level"].reshape(k_runs, n_stage_total)
    # fill-rate SE per replication ratio: 1 - short_r / demand_r, in the same definition
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # stages with < 2 replications with demand
        ratio_r = 1.0 - short_r / np.where(dem_r > 0, dem_r, np.nan)
        sd = np.nanstd(ratio_r, axis=0, ddof=1) if replications > 1 else np.full(ratio_r.shape[1], np.nan)
    n_ok = np.sum(~np.isnan(ratio_r), axis=0)
    se = (sd / np.sqrt(np.maximum(n_ok, 1))).reshape(k_runs, n_stage_total)
    first = res.network_ptr[:n_net]
    flat = first[net_of] + stage_of
    curves: list[StageCurve] = []
    ses: list[np.ndarray] = []
    for r, col in enumerate(flat):
        lv_all = cand[r]
        lv, idx = np.unique(lv_all, return_index=True)
        mu = float(demand[0, col])
        sh = short[idx, col]
        # fill and stock are monotone in the level on every common-random-number path
        sh = np.minimum.accumulate(sh)
        fill = 1.0 - sh / mu if mu > 0 else np.ones(lv.size)
        oh = np.maximum.accumulate(on_hand[idx, col])
        unit = float(portfolio.unit_cost[int(net_of[r])][int(stage_of[r])])
        curves.append(StageCurve(lv, oh, sh, fill, cycle[idx, col], oh * unit, mu, unit))
        ses.append(np.nan_to_num(se[idx, col], nan=0.0))
    fixed_stage = []
    for i in range(n_net):
        v = invest[0, first[i]:first[i] + portfolio.networks[i].n_stages].copy()
        v[cf[i]] = 0.0
        fixed_stage.append(v)
    fixed = float(sum(v.sum() for v in fixed_stage))
    return NetworkCurves(curves, ses, net_of, stage_of, fixed, fixed_stage)


def allocate_network_fill_target(
    curves: NetworkCurves, target: float, frontier: Frontier | None = None
) -> Allocation:
    """Least customer-facing investment on the measured frontier reaching a portfolio fill [-].

    The allocation's ``stage_fill_rate`` is each customer-facing stage's measured fill
    rate at its chosen level; ``investment`` excludes ``curves.fixed_investment``.
    """
    fr = portfolio_frontier(curves.curves) if frontier is None else frontier
    return allocate_fill_target(curves.curves, target, fr)


class NetworkFrontierSolver(Solver):
    """The network-calibrated frontier as a solver, per SKU network of a batch.

    1. Internal stages (suppliers of other stages) are fitted depth by depth to the
       smallest level whose simulated fill rate meets their target (null targets: the
       cost-optimal service ``p / (p + h)``), all networks of the batch in the same
       engine calls (:func:`echelon_solvers.kit.search.fit_depthwise`).
    2. Every customer-facing stage's curve is measured on its whole network at
       ``len(multipliers)`` candidate levels (:func:`candidate_levels` around the
       normal-approximation level of its target, spread = the standard deviation of its
       lead-time-plus-review demand): ONE engine call with ``K`` copies of every network.
    3. Customer-facing levels are chosen on the measured curves:

       * ``"target"``: the smallest candidate meeting the stage's fill-rate target (null
         targets: the cost-optimal candidate); the largest candidate if none does;
       * ``"cost"``: the candidate of least ``h x on_hand + p x short``;
       * ``"portfolio_fill"``: least investment reaching a fill rate of
         ``portfolio_fill`` over the batch's customer-facing stages (frontier, marginal
         analysis on the measured curves);
       * ``"budget"``: the best batch fill for ``budget`` [currency] of total inventory
         investment (internal stages' measured investment is subtracted first).

    Reported service and stock are the measured values at the chosen levels (a direct
    engine run of the chosen levels with the same seeds gives the same numbers).

    Args:
        mode: ``"target"``, ``"cost"``, ``"portfolio_fill"`` or ``"budget"``.
        portfolio_fill: batch fill-rate target [-] (``portfolio_fill`` mode).
        budget: inventory budget of the batch [currency] (``budget`` mode).
        replications: engine replications.
        periods: measured periods per replication.
        warmup: warm-up periods.
        multipliers: candidate spread multipliers (increasing, containing 0).
        candidates: candidate levels per pass of the internal-stage fit.
    """

    network_aware: ClassVar[bool] = True

    def __init__(self, mode: str = "target", portfolio_fill: float | None = None, budget: float | None = None,
                 replications: int = 8, periods: int = 500, warmup: int = 50,
                 multipliers: Sequence[float] = DEFAULT_MULTIPLIERS, candidates: int = 6) -> None:
        if mode not in ("target", "cost", "portfolio_fill", "budget"):
            raise ValueError(f"mode must be 'target', 'cost', 'portfolio_fill' or 'budget', got {mode!r}")
        if mode == "portfolio_fill" and (portfolio_fill is None or not 0 < portfolio_fill <= 1):
            raise ValueError("portfolio_fill mode needs 0 < portfolio_fill <= 1")
        if mode == "budget" and (budget is None or budget < 0):
            raise ValueError("budget mode needs budget >= 0 [currency]")
        self.mode = mode
        self.portfolio_fill = portfolio_fill
        self.budget = budget
        self.replications = int(replications)
        self.periods = int(periods)
        self.warmup = int(warmup)
        self.multipliers = tuple(float(m) for m in multipliers)
        self.candidates = int(candidates)
        self.engine_calls_ = 0

    def solve(self, problem: StageProblem) -> pa.Table:
        """Levels per stage: internal stages fitted, customer-facing stages on measured curves."""
        n = len(problem.keys)
        comps, nps, sns = search_networks(problem, "target")
        mean, sd = lead_time_demand_moments(problem, np.arange(n))
        sim = dict(replications=self.replications, periods=self.periods, warmup=self.warmup)
        targets, rules, starts = [], [], []
        for comp, np_, sn in zip(comps, nps, sns, strict=True):
            assert np_.service_target is not None
            t = np.where(np.isfinite(np_.service_target), np_.service_target,
                         critical_ratio(np_.holding_cost, np_.stockout_cost))
            targets.append(np.clip(t, 0.0, 1.0))
            rules.append(np.where(sn.leaf, 0, 1).astype(np.int64))
            starts.append(moment_start(mean[comp], sd[comp], targets[-1]))
        for sn, st in zip(sns, starts, strict=True):
            sn.levels = st.copy()
        calls = fit_depthwise(sns, rules, targets, starts, [sd[c] for c in comps], candidates=self.candidates,
                              **sim)  # type: ignore[arg-type]
        # customer-facing curves: one call, K copies of every network
        leaves = [np.flatnonzero(sn.leaf) for sn in sns]
        cand = [candidate_levels(starts[i][lf], sd[comps[i]][lf], self.multipliers) for i, lf in enumerate(leaves)]
        copies = []
        for sn, lf, c in zip(sns, leaves, cand, strict=True):
            lv = np.repeat(sn.levels[None, :], c.shape[1], axis=0)
            lv[:, lf] = c.T
            copies.append(lv)
        vals = run_copies(sns, copies, **sim)  # type: ignore[arg-type]
        calls += 1
        m = {name: k for k, name in enumerate(METRICS)}
        curves: list[StageCurve] = []
        rows: list[np.ndarray] = []  # (K', n_metrics) per leaf, on the curve's unique levels
        owner: list[tuple[int, int]] = []
        for i, (sn, lf, c) in enumerate(zip(sns, leaves, cand, strict=True)):
            for r, jj in enumerate(lf):
                j = int(jj)
                lv, idx = np.unique(c[r], return_index=True)
                v = vals[i][idx, j, :]
                sh = np.minimum.accumulate(v[:, m["short"]])
                oh = np.maximum.accumulate(v[:, m["on_hand"]])
                mu = float(v[0, m["demand"]])
                fill = 1.0 - sh / mu if mu > 0 else np.ones(lv.size)
                unit = float(sn.unit_value[j])
                curves.append(StageCurve(lv, oh, sh, fill, v[:, m["cycle_service"]], oh * unit, mu, unit))
                rows.append(v)
                owner.append((i, j))
        leaf_target = np.array([targets[i][j] for i, j in owner])
        h = np.array([sns[i].holding_cost[j] for i, j in owner])
        p = np.array([sns[i].stockout_cost[j] for i, j in owner])
        cost_idx = [int(np.argmin(hh * cv.on_hand + pp * cv.short)) for cv, hh, pp in zip(curves, h, p, strict=True)]
        if self.mode == "cost":
            pick = cost_idx
        elif self.mode == "target":
            fill_t = np.asarray(problem.service_target, dtype=np.float64)
            pick = []
            for k, (i, j) in enumerate(owner):
                if not np.isfinite(fill_t[comps[i][j]]):
                    pick.append(cost_idx[k])
                    continue
                ok = np.flatnonzero(rows[k][:, m["fill_rate"]] >= leaf_target[k] - 1e-12)
                pick.append(int(ok[0]) if ok.size else curves[k].levels.size - 1)
        else:
            if self.mode == "portfolio_fill":
                alloc = allocate_fill_target(curves, float(self.portfolio_fill or 1.0))
            else:
                fixed = sum(float(np.nansum(sn.metrics_at_levels()[~sn.leaf, m["inventory_investment"]]))
                            for sn in sns)
                alloc = allocate_budget(curves, max(float(self.budget or 0.0) - fixed, 0.0))
            pick = [int(np.searchsorted(cv.levels, x)) for cv, x in zip(curves, alloc.levels, strict=True)]
        level = np.full(n, np.nan)
        out = np.full((n, len(METRICS)), np.nan)
        for comp, sn in zip(comps, sns, strict=True):
            level[comp] = sn.levels
            out[comp] = sn.metrics_at_levels()
        for k, (i, j) in enumerate(owner):
            s = comps[i][j]
            level[s] = curves[k].levels[pick[k]]
            out[s] = rows[k][pick[k]]
            out[s, m["short"]] = curves[k].short[pick[k]]
            out[s, m["on_hand"]] = curves[k].on_hand[pick[k]]
        self.engine_calls_ = calls
        col = {name: out[:, k] for k, name in enumerate(METRICS)}
        has_demand = np.zeros(n, dtype=bool)
        for comp, sn in zip(comps, sns, strict=True):
            has_demand[comp[list(sn.demand)]] = True
        so = np.where(has_demand, np.nan_to_num(col["short"]), 0.0) * problem.costs.stockout_cost
        target_in = np.asarray(problem.service_target, dtype=np.float64)
        by_cost = np.isnan(target_in) | (self.mode == "cost")
        source = {"target": "input", "cost": "cost_optimal", "portfolio_fill": "portfolio_fill", "budget": "budget"}
        leaf_mask = np.zeros(n, dtype=bool)
        for i, j in owner:
            leaf_mask[comps[i][j]] = True
        src = [("cost_optimal" if by_cost[s] else "input") if not leaf_mask[s] or self.mode == "target"
               else source[self.mode] for s in range(n)]
        return policy_table(
            policy_type=["base_stock"] * n,
            service_metric=["fill_rate"] * n,
            service_target=np.where(by_cost, problem.costs.cost_optimal_service, target_in),
            target_source=src,
            level=level,
            mean_demand=np.array([d.mean() for d in problem.period_demand]),
            mean_lead_time=np.array([lt.mean() for lt in problem.lead_time]),
            review_period=np.asarray(problem.review_period, dtype=np.float64),
            fill_rate=col["fill_rate"], fill_rate_se=col["fill_rate_se"], cycle_service=col["cycle_service"],
            cycle_service_se=col["cycle_service_se"], on_hand=col["on_hand"], backorders=col["backorders"],
            unit_cost=np.asarray(problem.unit_cost, dtype=np.float64),
            holding_cost=problem.costs.holding_cost, stockout_per_period=so,
        )
