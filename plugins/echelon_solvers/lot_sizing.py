"""Lot-sizing solver: ``(s, S)`` / ``(r, nQ)`` per stage with fixed ordering costs, MOQ and order multiples.

Per stage (``docs/optimisation.md``, *Lot sizing*):

* **Policy kind.** ``policy = "auto"`` (default) gives ``(r, nQ)`` to a stage with an
  order multiple > 1 (``Q`` a multiple of it, so every order is a whole number of packs)
  and ``(s, S)`` to the others; ``"sS"`` / ``"rQ"`` force one kind.
* **Single stage, exact.** :mod:`echelon_solvers.kit.lot_sizing`: Zheng & Federgruen
  (1991) for the unconstrained cost-optimal ``(s, S)``, an exhaustive window search with
  constraints (``S - s >= moq``; ``Q`` a multiple of the order multiple and ``>= moq``) and
  fill-rate floors otherwise, Federgruen & Zheng (1992) for ``(r, nQ)``. Orders of these
  policies always meet the MOQ and the multiple, so the engine's order modifiers never
  change an order and the figures are exact for the model (integer demand i.i.d. per
  period, full backorders, lead-time demand compounded from the lead-time PMF).
* **Objective.** With a fill-rate target (``service_target``): least holding + ordering
  cost whose exact fill rate meets the target. Cost mode (``target_mode = "cost"`` or a
  null target): least holding + ordering + stockout cost, ``stockout_cost`` per unit short.
* **Networks.** Stages are set customers first: an internal stage faces its own demand
  plus the lumpy orders of its lot-sized customers (each customer's exact steady-state
  order-size PMF per period, independent across periods and customers — the order
  stream's autocorrelation is not kept). Every network is then simulated with the engine
  (``sS`` / ``rQ`` with the stages' MOQ and multiples); a stage whose simulated fill falls
  short of its target by more than two standard errors (the delay upstream causes, or the
  approximation of the lumpy stream) has its reorder level and order-up-to level raised
  by a step (a tenth of the standard deviation of its demand over lead time + review, at
  least one pack; doubled each further round it is still short) and the network is
  simulated again, up to ``rounds`` times. Levels are only raised, never lowered. The table reports
  the final simulated fill with its standard error, and on-hand and backorders from the
  same runs (the Monte Carlo check every final policy gets).
* **Large numbers.** A stage whose mean demand per review, economic order quantity or
  MOQ exceeds ``max_grid_units`` is solved in packs of ``f`` units (a multiple of its
  order multiple when it has one; the least ``f`` that brings the scale below the
  limit): exact in packs (demand per period rounded to packs), near-exact in units.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pyarrow as pa

from echelon_solvers.kit.decompose import own_demand, problem_networks
from echelon_solvers.kit.lot_sizing import (
    LotSizingResult,
    lot_sizing_problem,
    optimal_lot_policy,
    order_size_distribution,
)
from platform_core.components import Solver, StagePolicies, StageProblem
from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Network, Policy, simulate

__all__ = ["LotSizingSolver"]


def _scaled(dist: DiscreteDistribution, factor: int) -> DiscreteDistribution:
    """``dist`` in packs of ``factor`` units (each value rounded to the nearest pack)."""
    if factor == 1:
        return dist
    packs = np.rint(dist.support / factor).astype(np.int64)
    pmf = np.bincount(packs, weights=dist.pmf)
    return DiscreteDistribution(pmf, 0)


def _times(dist: DiscreteDistribution, q: float) -> DiscreteDistribution:
    """Distribution of ``q X`` on the integers (``q`` a quantity per, rounded)."""
    if q == 1.0:
        return dist
    vals = np.rint(dist.support * q).astype(np.int64)
    return DiscreteDistribution(np.bincount(vals, weights=dist.pmf), 0)


class LotSizingSolver(Solver):
    """Cost-optimal ``(s, S)`` / ``(r, nQ)`` per stage with ordering costs, MOQ and order multiples.

    Args:
        policy: ``"auto"`` (``rQ`` where a stage has an order multiple > 1, else ``sS``),
            ``"sS"`` or ``"rQ"``.
        target_mode: ``"target"`` (fill targets from the data; null -> cost) or ``"cost"``.
        replications, periods, warmup: the Monte Carlo check's run sizes.
        rounds: simulation rounds that raise stages short of their target in networks.
        max_grid_units: largest scale (mean demand per review, economic order quantity
            ``sqrt(2 K μ / h)`` or MOQ) solved unit by unit [units]; above it, in packs.
        crossing: allow orders to cross in the simulation.
    """

    network_aware: ClassVar[bool] = True

    def __init__(
        self,
        policy: str = "auto",
        target_mode: str = "target",
        replications: int = 20,
        periods: int = 500,
        warmup: int = 60,
        rounds: int = 4,
        max_grid_units: float = 100.0,
        crossing: bool = True,
    ) -> None:
        if policy not in ("auto", "sS", "rQ"):
            raise ValueError(f"policy must be 'auto', 'sS' or 'rQ', got {policy!r}")
        if target_mode not in ("target", "cost"):
            raise ValueError(f"target_mode must be 'target' or 'cost', got {target_mode!r}")
        self.policy = policy
        self.target_mode = target_mode
        self.replications = replications
        self.periods = periods
        self.warmup = warmup
        self.rounds = rounds
        self.max_grid_units = max_grid_units
        self.crossing = crossing

    @classmethod
    def warm_up(cls) -> None:
        """Load the compiled simulation kernel (one (s, S) stage, a few periods)."""
        simulate(Network(1), Policy.s_S(1, 3), DiscreteDistribution.poisson(1.0), lead_times=1, seeds=1,
                 replications=1, periods=4, warmup=1)

    # ---- one stage ------------------------------------------------------------------
    def _kind(self, multiple: float) -> str:
        if self.policy != "auto":
            return self.policy
        return "rQ" if multiple > 1.0 else "sS"

    def stage_policy(self, problem: StageProblem, j: int, demand: DiscreteDistribution,
                     fill_target: float | None) -> tuple[LotSizingResult, int]:
        """The exact policy of stage ``j`` facing ``demand`` [units/period], and its pack size [units].

        Returned levels are in packs; multiply by the pack size for units.
        """
        review = int(problem.review_period[j])
        moq = 0.0 if problem.moq is None else float(problem.moq[j])
        mult = 0.0 if problem.order_multiple is None else float(problem.order_multiple[j])
        kind = self._kind(mult)
        mean_review = demand.mean() * review
        pack = 1
        if mult > 1.0 and float(mult).is_integer() and mean_review / mult > 2.0:
            pack = int(mult)
        h_unit = float(problem.costs.holding_cost[j])
        eoq = math.sqrt(2.0 * float(problem.costs.ordering_cost[j]) * demand.mean() / h_unit) if h_unit > 0 else 0.0
        scale = max(mean_review, eoq, moq)
        if scale / pack > self.max_grid_units:
            pack = int(math.ceil(scale / self.max_grid_units))
            if mult > 1.0 and float(mult).is_integer():
                pack = int(mult) * int(math.ceil(pack / mult))
        d = _scaled(demand, pack)
        review_d = d.mean() * review
        span = int(math.ceil(4.0 * (review_d + 4.0 * d.std() * math.sqrt(review)) + 30 + 3.0 * max(eoq, moq) / pack))
        prob = lot_sizing_problem(d, problem.lead_time[j], review, span=span)
        h = float(problem.costs.holding_cost[j]) * pack
        k_cost = float(problem.costs.ordering_cost[j])
        pi = float(problem.costs.stockout_cost[j]) * pack
        min_q = int(math.ceil(moq / pack - 1e-9)) if moq > 0 else 1
        step = max(1, int(math.ceil(mult / pack - 1e-9))) if mult > 0 else 1
        res = optimal_lot_policy(prob, kind, holding_cost=h, fixed_cost=k_cost, shortage_cost=pi, fill_target=fill_target,
                             min_quantity=max(1, min_q), multiple=step)
        return res, pack

    # ---- the batch ------------------------------------------------------------------
    def solve(self, problem: StageProblem) -> pa.Table:
        """One lot-sizing policy per stage, checked by simulating its network."""
        n = len(problem.keys)
        target = np.asarray(problem.service_target, dtype=np.float64)
        by_cost = np.isnan(target) | (self.target_mode == "cost")
        kind = [""] * n
        s_lv = np.full(n, np.nan)
        big_lv = np.full(n, np.nan)
        q_lv = np.full(n, np.nan)
        step = np.ones(n)
        comps = problem_networks(problem)
        for comp in comps:
            kids: dict[int, list[tuple[int, float]]] = {int(c): [] for c in comp}
            for c in comp:
                for u, q in zip(problem.upstream[c], problem.quantity_per[c], strict=True):
                    kids[int(u)].append((int(c), float(q)))
            orders: dict[int, DiscreteDistribution] = {}
            for j in self._customers_first(comp, kids):
                demand = self._stage_demand(problem, j, kids[j], orders)
                if demand is None or demand.mean() <= 0.0:
                    kind[j], s_lv[j], big_lv[j], q_lv[j] = "sS", -1.0, 0.0, np.nan
                    orders[j] = DiscreteDistribution.point(0)
                    continue
                res, pack = self.stage_policy(problem, j, demand, None if by_cost[j] else float(target[j]))
                kind[j] = res.kind
                s_lv[j] = res.reorder_point * pack
                big_lv[j] = res.order_up_to * pack
                q_lv[j] = res.order_quantity * pack if res.kind == "rQ" else np.nan
                span = float(problem.lead_time[j].mean()) + int(problem.review_period[j])
                step[j] = max(1.0, float(pack), math.ceil(0.1 * demand.std() * math.sqrt(span)))
                orders[j] = self._order_stream(problem, j, demand, res, pack)
        policies = StagePolicies(kind, s_lv, big_lv, q_lv)
        sim = self._simulate(problem, comps, policies)
        goal = np.where(by_cost, np.nan, target)
        for _ in range(self.rounds):
            short = np.isfinite(goal) & (sim["fill_rate"] + 2.0 * sim["fill_rate_se"] < goal)
            if not short.any():
                break
            s_lv = np.where(short, s_lv + step, s_lv)
            big_lv = np.where(short, big_lv + step, big_lv)
            step = np.where(short, 2.0 * step, step)  # a stage still short next round moves twice as far
            policies = StagePolicies(kind, s_lv, big_lv, q_lv)
            sim = self._simulate(problem, comps, policies)
        return self._table(problem, policies, sim, by_cost, target)

    @staticmethod
    def _customers_first(comp: np.ndarray, kids: dict[int, list[tuple[int, float]]]) -> list[int]:
        done: list[int] = []
        seen: set[int] = set()
        remaining = [int(c) for c in comp]
        while remaining:
            ready = [c for c in remaining if all(k in seen for k, _ in kids[c])]
            if not ready:
                raise ValueError("the network has a cycle")
            for c in ready:
                seen.add(c)
                done.append(c)
            remaining = [c for c in remaining if c not in seen]
        return done

    @staticmethod
    def _stage_demand(problem: StageProblem, j: int, kids: list[tuple[int, float]],
                      orders: dict[int, DiscreteDistribution]) -> DiscreteDistribution | None:
        """Own demand plus the customers' lumpy orders (times quantity per) [units/period]."""
        if not kids:
            return problem.period_demand[j]
        total = own_demand(problem, j, kids)
        for c, q in kids:
            o = _times(orders[c], q)
            total = o if total is None else total.convolve(o)
        return total

    @staticmethod
    def _order_stream(problem: StageProblem, j: int, demand: DiscreteDistribution, res: LotSizingResult,
                      pack: int) -> DiscreteDistribution:
        """Stage ``j``'s orders per period [units] (a review's order spread over ``R`` periods)."""
        review = int(problem.review_period[j])
        prob = lot_sizing_problem(_scaled(demand, pack), 0, review, span=max(10, res.order_quantity * 2))
        size = order_size_distribution(prob, res.kind, res.reorder_point, res.order_up_to, res.order_quantity)
        pmf = np.zeros((size.offset + size.pmf.size - 1) * pack + 1)
        pmf[(size.support * pack)] = size.pmf
        if review > 1:
            pmf = pmf / review
            pmf[0] += 1.0 - 1.0 / review
        return DiscreteDistribution(pmf, 0)

    def _simulate(self, problem: StageProblem, comps: list[np.ndarray], policies: StagePolicies) -> dict[str, np.ndarray]:
        """Simulate every network under ``policies`` (engine, common random numbers per network)."""
        n = len(problem.keys)
        out = {k: np.full(n, np.nan) for k in ("fill_rate", "fill_rate_se", "cycle_service", "cycle_service_se",
                                                 "on_hand", "backorders", "order_frequency", "demand")}
        if n == 0:
            return out
        nets, pols, dems, lts, seeds = [], [], [], [], []
        moq = np.zeros(n) if problem.moq is None else np.nan_to_num(np.asarray(problem.moq, dtype=np.float64))
        mult = (np.zeros(n) if problem.order_multiple is None
                else np.nan_to_num(np.asarray(problem.order_multiple, dtype=np.float64)))
        for comp in comps:
            local = {int(s): k for k, s in enumerate(comp)}
            arcs: list[tuple[int, int, float]] = []
            kids: dict[int, list[tuple[int, float]]] = {int(s): [] for s in comp}
            for s in comp:
                for u, q in zip(problem.upstream[s], problem.quantity_per[s], strict=True):
                    arcs.append((local[int(u)], local[int(s)], float(q)))
                    kids[int(u)].append((int(s), float(q)))
            nets.append(Network(len(comp), tuple(arcs)))
            kinds = [policies.kind[s] for s in comp]
            pols.append(Policy(kind=kinds, reorder_point=policies.reorder_point[comp],
                               order_up_to=np.where(np.array([k == "rQ" for k in kinds]), np.nan,
                                                    policies.order_up_to[comp]),
                               order_quantity=policies.order_quantity[comp],
                               review_period=np.asarray(problem.review_period, dtype=np.int64)[comp],
                               moq=moq[comp], order_multiple=mult[comp]))
            dem: dict[int, DiscreteDistribution] = {}
            for s in comp:
                d = own_demand(problem, int(s), kids[int(s)])
                if d is not None:
                    dem[local[int(s)]] = d
            dems.append(dem)
            lts.append([problem.lead_time[s] for s in comp])
            seeds.append(int(problem.seeds[comp[0]]) & 0x7FFFFFFFFFFFFFFF)
        res = simulate(nets, pols, dems, lead_times=lts, seeds=np.array(seeds, dtype=np.uint64),
                       replications=self.replications, periods=self.periods, warmup=self.warmup,
                       crossing=self.crossing, backorders=True)
        order = np.concatenate(comps)
        out["fill_rate"][order] = np.nan_to_num(res.mean["fill_rate"], nan=1.0)
        out["fill_rate_se"][order] = np.nan_to_num(res.se["fill_rate"])
        out["cycle_service"][order] = np.nan_to_num(res.mean["cycle_service_level"], nan=1.0)
        out["cycle_service_se"][order] = np.nan_to_num(res.se["cycle_service_level"])
        out["on_hand"][order] = res.mean["on_hand"]
        out["backorders"][order] = res.mean["backorders"]
        out["order_frequency"][order] = res.mean["order_frequency"]
        out["demand"][order] = res.mean["demand"]
        return out

    def _table(self, problem: StageProblem, pol: StagePolicies, sim: dict[str, np.ndarray], by_cost: np.ndarray,
               target: np.ndarray) -> pa.Table:
        n = len(problem.keys)
        mean_d = np.array([d.mean() for d in problem.period_demand])
        mean_l = np.array([lt.mean() for lt in problem.lead_time])
        protection = mean_d * (mean_l + problem.review_period)
        level = np.where(np.array([k == "rQ" for k in pol.kind], dtype=bool), pol.reorder_point + pol.order_quantity,
                         pol.order_up_to)
        short = (1.0 - sim["fill_rate"]) * np.nan_to_num(sim["demand"])
        ext = np.ones(n, dtype=bool) if problem.external_demand is None else np.asarray(problem.external_demand, bool)
        return pa.table({
            "policy_type": pa.array(pol.kind, pa.string()),
            "service_metric": pa.array(["cost" if c else "fill_rate" for c in by_cost], pa.string()),
            "service_target": np.where(by_cost, problem.costs.cost_optimal_service, target),
            "target_source": pa.array(["cost_optimal" if c else "input" for c in by_cost], pa.string()),
            "base_stock_level": level,
            "reorder_point": pol.reorder_point,
            "order_up_to": level,
            "order_quantity": pa.array(pol.order_quantity, pa.float64(), from_pandas=True),  # null for sS
            "safety_stock": pol.reorder_point + 1.0 - protection,
            "mean_demand_per_period": mean_d,
            "mean_lead_time_periods": mean_l,
            "mean_lead_time_demand": protection,
            "expected_fill_rate": sim["fill_rate"],
            "fill_rate_se": sim["fill_rate_se"],
            "expected_cycle_service": sim["cycle_service"],
            "cycle_service_se": sim["cycle_service_se"],
            "mean_on_hand": sim["on_hand"],
            "mean_backorders": sim["backorders"],
            "inventory_investment": sim["on_hand"] * problem.unit_cost,
            "holding_cost_per_period": sim["on_hand"] * problem.costs.holding_cost,
            "stockout_cost_per_period": np.where(ext, short * problem.costs.stockout_cost, 0.0),
        })

    def evaluate_policies(self, problem: StageProblem, policies: StagePolicies) -> pa.Table:
        """Simulate given policies network by network, on the paths :meth:`solve` checks its own."""
        sim = self._simulate(problem, problem_networks(problem), policies)
        return pa.table({"fill_rate": pa.array(sim["fill_rate"], pa.float64()),
                         "fill_rate_se": pa.array(sim["fill_rate_se"], pa.float64()),
                         "on_hand": pa.array(sim["on_hand"], pa.float64()),
                         "backorders": pa.array(sim["backorders"], pa.float64())})
