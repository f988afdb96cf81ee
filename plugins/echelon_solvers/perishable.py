"""Base-stock levels for perishable stock: waste traded against shortage, by simulation.

Each stage on its own (a reliable supplier, its lead time, its demand), as
``single_echelon`` treats it, but simulated with age-tracked stock
(:mod:`platform_core.simulation.perishable`): units received fresh sell for
``shelf_life`` periods (``StageProblem.shelf_life``, from the stages table's
``shelf_life_periods``; stages without one never outdate) and are issued FIFO (or LIFO).
Every candidate level ``S = 0 .. U`` (``U`` well above the demand over lead time +
review) is simulated on common random numbers, for the plain base-stock order
``S - IP`` and, at perishable stages, for the waste-adjusted order ``S - IP + EW``
(Broekmeulen & van Donselaar, 2009; ``EW`` the stock expected to outdate before the
order's cover ends). Then:

* a fill target (``service_target``, ``target_mode = "target"``): of the (rule, level)
  pairs whose simulated fill rate meets it, the one of least holding + waste cost per
  period (for each rule that is its least such level); where none meets it, the best
  fill found;
* cost mode (a null target, or ``target_mode = "cost"``): the rule and level of least
  holding + shortage + waste cost per period.

Costs: holding ``StageCosts.holding_cost`` [currency/unit/period] on end-of-period stock,
shortage ``stockout_cost`` [currency/unit short], waste ``unit_cost + disposal_cost``
[currency/unit outdated]. The output adds the expected outdated units and the waste cost
per period (``expected_outdated_per_period``, ``waste_cost_per_period``); the row's
message names the order rule.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa

from platform_core.components import Solver, StagePolicies, StageProblem
from platform_core.distributions import DiscreteDistribution
from platform_core.simulation.perishable import (
    PerishableCosts,
    PerishableResult,
    simulate_perishable,
)

__all__ = ["PerishableSolver", "candidate_levels"]

_RULES = ("base_stock", "waste_adjusted")
_MAX_CANDIDATES = 120  # levels simulated per stage and rule in the first pass


def candidate_levels(demand: DiscreteDistribution, lead_time: DiscreteDistribution, review_period: int) -> int:
    """The largest level worth simulating [units]: mean + 6 sd of demand over lead time + review, + 2."""
    mu, var = demand.mean(), demand.var()
    horizon = lead_time.mean() + review_period
    sd = np.sqrt(var * horizon + mu * mu * lead_time.var())
    return int(np.ceil(mu * horizon + 6.0 * sd)) + 2


class PerishableSolver(Solver):
    """Base-stock levels for perishable stages (waste against shortage), by Monte Carlo.

    Args:
        target_mode: ``"target"`` (fill targets from the data; null -> cost) or ``"cost"``.
        issuing: ``"fifo"`` or ``"lifo"``.
        backorders: backorder unmet demand (the default, as every solver of a run
            assumes); ``False``: lost sales, usual for fresh products.
        waste_adjusted: also consider the waste-adjusted order rule at perishable stages.
        disposal_cost: [currency/unit] added to the unit cost for each unit outdated.
        replications: simulated runs per candidate.
        periods: periods per run after warm-up.
        warmup: periods discarded per run.
        crossing: allow orders to cross.
    """

    honours_overrides: ClassVar[bool] = False
    work_factor: ClassVar[float] = 60.0  # ~ candidates x rules simulated per stage

    def __init__(
        self,
        target_mode: str = "target",
        issuing: str = "fifo",
        backorders: bool = True,
        waste_adjusted: bool = True,
        disposal_cost: float = 0.0,
        replications: int = 20,
        periods: int = 500,
        warmup: int = 50,
        crossing: bool = True,
    ) -> None:
        if target_mode not in ("target", "cost"):
            raise ValueError(f"target_mode must be 'target' or 'cost', got {target_mode!r}")
        if issuing not in ("fifo", "lifo"):
            raise ValueError(f"issuing must be 'fifo' or 'lifo', got {issuing!r}")
        if disposal_cost < 0:
            raise ValueError(f"disposal_cost must be >= 0, got {disposal_cost}")
        self.target_mode = target_mode
        self.issuing = issuing
        self.backorders = backorders
        self.waste_adjusted = waste_adjusted
        self.disposal_cost = disposal_cost
        self.replications = replications
        self.periods = periods
        self.warmup = warmup
        self.crossing = crossing

    @classmethod
    def warm_up(cls) -> None:
        """Load the compiled kernel (two jobs, a few periods)."""
        one = DiscreteDistribution.point(1)
        simulate_perishable([one, one], [one, one], np.array([2.0, np.inf]), 2, 0,
                            policy=["base_stock", "waste_adjusted"], replications=1, periods=4, warmup=1)

    def _simulate(self, problem: StageProblem, stage: np.ndarray, level: np.ndarray, rule: list[str],
                  waste_cost: np.ndarray) -> PerishableResult:
        life = self._shelf_life(problem)
        return simulate_perishable(
            [problem.period_demand[i] for i in stage], [problem.lead_time[i] for i in stage], life[stage], level,
            np.asarray(problem.seeds, dtype=np.uint64)[stage], policy=rule, issuing=self.issuing,
            backorders=self.backorders, review_period=np.asarray(problem.review_period, dtype=np.int64)[stage],
            replications=self.replications, periods=self.periods, warmup=self.warmup, crossing=self.crossing,
            costs=PerishableCosts(holding=np.asarray(problem.costs.holding_cost, dtype=np.float64)[stage],
                                  shortage=np.asarray(problem.costs.stockout_cost, dtype=np.float64)[stage],
                                  waste=waste_cost[stage]),
        )

    @staticmethod
    def _shelf_life(problem: StageProblem) -> np.ndarray:
        n = len(problem.keys)
        if problem.shelf_life is None:
            return np.full(n, np.inf)
        life = np.asarray(problem.shelf_life, dtype=np.float64)
        return np.where(np.isfinite(life) & (life > 0), life, np.inf)  # 0 / NaN / inf: never outdates

    def _choose(self, res: PerishableResult, rows: np.ndarray, target: float, by_cost: bool,
                holding: float) -> int:
        """The row (of ``rows``) this stage's rule applies: see the module notes."""
        if by_cost:
            return int(rows[np.argmin(res.cost[rows])])
        fill = res.mean["fill_rate"][rows]
        meets = fill >= target - 1e-12
        if not meets.any():
            return int(rows[np.argmax(fill)])
        # per rule the least level meeting the target; of those, least holding + waste cost
        upkeep = holding * res.mean["on_hand"][rows] + res.waste_cost[rows]
        upkeep = np.where(meets, upkeep, np.inf)
        return int(rows[np.argmin(upkeep)])

    def solve(self, problem: StageProblem) -> pa.Table:
        """One (possibly waste-adjusted) base-stock level per stage, with service, waste and cost."""
        n = len(problem.keys)
        target = np.asarray(problem.service_target, dtype=np.float64)
        by_cost = np.isnan(target) | (self.target_mode == "cost")
        life = self._shelf_life(problem)
        waste_cost = np.asarray(problem.unit_cost, dtype=np.float64) + self.disposal_cost
        review = np.asarray(problem.review_period, dtype=np.int64)
        # first pass: a grid of levels per stage and rule (every level when the range is small)
        tops = [candidate_levels(problem.period_demand[i], problem.lead_time[i], int(review[i])) for i in range(n)]
        steps = [max(1, -(-top // _MAX_CANDIDATES)) for top in tops]
        stage, level, rule = self._grid(n, life, [(0, top, step) for top, step in zip(tops, steps, strict=True)])
        res = self._simulate(problem, stage, level, rule, waste_cost)
        best = [self._choose(res, np.flatnonzero(stage == i), target[i], bool(by_cost[i]),
                             float(problem.costs.holding_cost[i])) for i in range(n)]
        # second pass where the grid was coarse: every level around the first pass's choice
        coarse = [i for i in range(n) if steps[i] > 1]
        if coarse:
            s2, l2, r2 = self._grid(n, life, [(max(0, int(level[best[i]]) - steps[i]), int(level[best[i]]) + steps[i], 1)
                                              if i in coarse else None for i in range(n)])
            res2 = self._simulate(problem, s2, l2, r2, waste_cost)
            for i in coarse:
                rows2 = np.flatnonzero(s2 == i)
                k = self._choose(res2, rows2, target[i], bool(by_cost[i]), float(problem.costs.holding_cost[i]))
                best[i] = -1 - k  # negative: a row of the second pass
        pick = {name: np.empty(n) for name in ("level", "fill_rate", "fill_rate_se", "on_hand", "backorders",
                                               "short", "outdated", "waste_cost", "cost")}
        rules: list[str] = []
        for i, k in enumerate(best):
            r, kk, lv, rl = (res, k, level, rule) if k >= 0 else (res2, -1 - k, l2, r2)
            pick["level"][i] = lv[kk]
            for name in ("fill_rate", "on_hand", "backorders", "short", "outdated"):
                pick[name][i] = r.mean[name][kk]
            pick["fill_rate_se"][i] = r.se["fill_rate"][kk]
            pick["waste_cost"][i] = r.waste_cost[kk]
            pick["cost"][i] = r.cost[kk]
            rules.append(rl[kk])
        return self._table(problem, pick, rules, by_cost, target, life)

    def evaluate_policies(self, problem: StageProblem, policies: StagePolicies) -> pa.Table:
        """Today's base-stock policies on the perishable simulation :meth:`solve` uses (same seeds).

        Plain base stock (``S - IP``) at ``order_up_to``; other kinds (``sS``, ``rQ``,
        ``min_max``) are not modelled with a shelf life: their rows are NaN.
        """
        n = len(problem.keys)
        up_to = np.asarray(policies.order_up_to, dtype=np.float64)
        ok = np.array([k == "base_stock" for k in policies.kind], dtype=bool) & np.isfinite(up_to) & (up_to >= 0)
        cols = {name: np.full(n, np.nan) for name in ("fill_rate", "fill_rate_se", "on_hand", "backorders")}
        rows = np.flatnonzero(ok)
        if rows.size:
            waste_cost = np.asarray(problem.unit_cost, dtype=np.float64) + self.disposal_cost
            res = self._simulate(problem, rows, np.round(up_to[rows]), ["base_stock"] * rows.size, waste_cost)
            cols["fill_rate"][rows] = res.mean["fill_rate"]
            cols["fill_rate_se"][rows] = res.se["fill_rate"]
            cols["on_hand"][rows] = res.mean["on_hand"]
            cols["backorders"][rows] = res.mean["backorders"]
        return pa.table({name: pa.array(v, pa.float64()) for name, v in cols.items()})

    def _grid(self, n: int, life: np.ndarray,
              ranges: list[tuple[int, int, int] | None]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        stage: list[int] = []
        level: list[float] = []
        rule: list[str] = []
        for i in range(n):
            if ranges[i] is None:
                continue
            lo, hi, step = ranges[i]  # type: ignore[misc]
            rules = _RULES if (self.waste_adjusted and np.isfinite(life[i])) else _RULES[:1]
            for name in rules:
                for s in range(lo, hi + 1, step):
                    stage.append(i)
                    level.append(float(s))
                    rule.append(name)
        return np.array(stage, dtype=np.int64), np.array(level), rule

    def _table(self, problem: StageProblem, pick: dict[str, np.ndarray], rules: list[str], by_cost: np.ndarray,
               target: np.ndarray, life: np.ndarray) -> pa.Table:
        n = len(problem.keys)
        mean_d = np.array([d.mean() for d in problem.period_demand])
        mean_l = np.array([lt.mean() for lt in problem.lead_time])
        protection = mean_d * (mean_l + problem.review_period)
        level = pick["level"]
        stockout = pick["short"] * np.asarray(problem.costs.stockout_cost, dtype=np.float64)
        messages = [
            (f"perishable: shelf life {life[i]:g} periods, {self.issuing.upper()} issuing, "
             + ("order S - IP + expected waste" if rules[i] == "waste_adjusted" else "order S - IP")
             + f", {pick['outdated'][i]:.3g} units outdated/period")
            if np.isfinite(life[i]) else "" for i in range(n)
        ]
        return pa.table({
            "policy_type": pa.array(["base_stock"] * n, pa.string()),
            "service_metric": pa.array(["cost" if c else "fill_rate" for c in by_cost], pa.string()),
            "service_target": np.where(by_cost, problem.costs.cost_optimal_service, target),
            "target_source": pa.array(["cost_optimal" if c else "input" for c in by_cost], pa.string()),
            "base_stock_level": level,
            "reorder_point": level - 1.0,
            "order_up_to": level,
            "safety_stock": level - protection,
            "mean_demand_per_period": mean_d,
            "mean_lead_time_periods": mean_l,
            "mean_lead_time_demand": protection,
            "expected_fill_rate": np.where(np.isnan(pick["fill_rate"]) & (mean_d == 0), 1.0, pick["fill_rate"]),
            "fill_rate_se": pick["fill_rate_se"],
            "mean_on_hand": pick["on_hand"],
            "mean_backorders": pick["backorders"],
            "inventory_investment": pick["on_hand"] * problem.unit_cost,
            "holding_cost_per_period": pick["on_hand"] * problem.costs.holding_cost,
            "stockout_cost_per_period": stockout,
            "expected_outdated_per_period": pick["outdated"],
            "waste_cost_per_period": pick["waste_cost"],
            "message": pa.array(messages, pa.string()),
        })
