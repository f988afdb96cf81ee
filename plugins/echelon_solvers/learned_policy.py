"""``learned_policy``: a lost-sales ordering policy learned by simulation, where it pays.

Each stage is treated as a single-stage **lost-sales** system (its per-period demand
PMF, its lead time rounded to whole periods >= 1, holding cost and stockout cost as the
lost-sale penalty [currency/unit], review every period). Per stage the solver

1. finds the best base-stock and the best capped base-stock policy (Xin 2021) by
   exhaustive search, each evaluated exactly on the Markov chain
   (:mod:`echelon_solvers.kit.lost_sales_dp`);
2. trains a policy by approximate policy iteration on CRN rollouts
   (:mod:`echelon_solvers.kit.lost_sales_api`), reproducible from the stage's seed;
3. compares the learned policy with the capped base-stock policy on **held-out common
   random numbers** (paired paths, a seed stream training never saw) and recommends it
   only when it is cheaper by more than ``z_noise`` paired standard errors; otherwise the
   capped base-stock policy is recommended (``policy_type`` says which).

Stages whose state grid would be too large (lead time above ``max_lead_time_periods`` or
more than ``max_states`` states below the backorder base-stock level) get that level as a
plain base-stock policy, neither searched nor trained (costs ``NaN``); stages beyond
``max_lead_time_periods`` only are searched but not trained. The output has one row per stage;
the learned policy itself is a state -> order table kept on the solver
(``policies_[key]``, with its training time; the table holds only deterministic figures).

The trained policies are exposed for versioning (:meth:`LearnedPolicySolver.fitted_artefacts`,
registered by a tracking plugin as ``echelon-solver-learned_policy``): one per-stage
artefact ``policies``, each policy without its training time (which changes from run to
run; the total is in the artefact's metadata), so the same data and seed give the same
digest.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np
import pyarrow as pa

from echelon_solvers.kit.lost_sales_api import (
    LearnedLostSalesPolicy,
    paired_cost_difference,
    train_policy,
)
from echelon_solvers.kit.lost_sales_dp import (
    LostSalesInstance,
    backorder_base_stock_bound,
    best_base_stock,
    best_capped_base_stock,
)
from platform_core.artefacts import Artefact
from platform_core.components import Solver, StageProblem

__all__ = ["LearnedPolicySolver", "stage_instance"]


def stage_instance(problem: StageProblem, i: int, max_order_units: int | None = None) -> LostSalesInstance:
    """The lost-sales instance of stage ``i`` of ``problem``.

    Raises:
        ValueError: naming the stage when its demand has a negative support or its costs
            are not positive.
    """
    key = problem.keys[i]
    dist = problem.period_demand[i]
    if dist.offset < 0:
        raise ValueError(f"stage {key!r}: period_demand must be >= 0 (offset {dist.offset})")
    pmf = np.concatenate([np.zeros(dist.offset), np.asarray(dist.pmf, dtype=np.float64)])
    pmf = pmf / pmf.sum()
    lead = max(int(round(problem.lead_time[i].mean())), 1)
    h = float(problem.costs.holding_cost[i])
    p = float(problem.costs.stockout_cost[i])
    if not (h > 0 and p > 0 and math.isfinite(h) and math.isfinite(p)):
        raise ValueError(f"stage {key!r}: holding_cost and stockout_cost must be > 0 (got {h}, {p})")
    return LostSalesInstance(pmf, lead, h, p, max_order_units)


class LearnedPolicySolver(Solver):
    """Learned lost-sales policy per stage, recommended only where it beats capped base stock.

    Args:
        generations: policy-improvement rounds of training.
        states: states sampled per generation.
        rollouts: CRN rollouts per candidate order.
        horizon_periods: rollout length after the candidate order [periods].
        evaluation_paths: held-out paired paths of the final comparison.
        evaluation_periods: periods per path [periods].
        z_noise: how many paired standard errors the learned policy must win by [-].
        max_lead_time_periods: longer lead times are not trained (grid too large).
        max_order_units: per-period order capacity [units/period] (``None``: none).
        max_states: larger state grids are neither searched nor trained [-].
    """

    network_aware: ClassVar[bool] = False

    def __init__(self, generations: int = 8, states: int = 2000, rollouts: int = 1000,
                 horizon_periods: int = 20, evaluation_paths: int = 32, evaluation_periods: int = 20_000,
                 z_noise: float = 2.0, max_lead_time_periods: int = 4,
                 max_order_units: int | None = None, max_states: int = 100_000) -> None:
        self.generations = generations
        self.states = states
        self.rollouts = rollouts
        self.horizon_periods = horizon_periods
        self.evaluation_paths = evaluation_paths
        self.evaluation_periods = evaluation_periods
        self.z_noise = z_noise
        self.max_lead_time_periods = max_lead_time_periods
        self.max_order_units = max_order_units
        self.max_states = max_states
        self.policies_: dict[str, LearnedLostSalesPolicy] = {}

    def fitted_artefacts(self) -> list[Artefact]:
        """The trained policies of the solved stages (per stage; none before :meth:`solve`)."""
        if not self.policies_:
            return []
        policies = {key: dataclasses.replace(pol, training_seconds=0.0)
                    for key, pol in sorted(self.policies_.items())}
        params = {k: str(getattr(self, k)) for k in ("generations", "states", "rollouts", "horizon_periods",
                                                    "evaluation_paths", "evaluation_periods", "z_noise",
                                                    "max_order_units")}
        return [Artefact("policies", policies, params, per_stage=True)]

    def solve(self, problem: StageProblem) -> pa.Table:
        """One row per stage: the recommended policy and the evidence for it."""
        rows: dict[str, list[object]] = {k: [] for k in (
            "policy_type", "base_stock_level", "reorder_point", "order_up_to", "safety_stock",
            "order_cap_units", "lead_time_periods",
            "base_stock_cost_per_period", "capped_base_stock_cost_per_period",
            "learned_cost_per_period", "learned_minus_capped_per_period", "difference_se")}
        for i, key in enumerate(problem.keys):
            inst = stage_instance(problem, i, self.max_order_units)
            lt = inst.lead_time_periods
            bound = backorder_base_stock_bound(inst)
            level = float(bound)
            cap = base_cost = capped_cost = learned_cost = diff = se = math.nan
            kind = "base_stock"
            if math.comb(bound + lt, lt) <= self.max_states:
                plain = best_base_stock(inst)
                capped = best_capped_base_stock(inst)
                level, base_cost, capped_cost = float(capped.level_units), plain.cost_per_period, capped.cost_per_period
                if capped.cap_units is not None:
                    kind, cap = "capped_base_stock", float(capped.cap_units)
                if lt <= self.max_lead_time_periods:
                    seed = int(np.uint64(problem.seeds[i]) % np.uint64(2**31))
                    pol = train_policy(inst, seed=seed, generations=self.generations, states=self.states,
                                       rollouts=self.rollouts, horizon_periods=self.horizon_periods,
                                       baseline=capped)
                    self.policies_[key] = pol
                    held_out = paired_cost_difference(inst, pol.orders, pol.baseline_orders, pol.bound,
                                                      seed=seed + 1_000_003, paths=self.evaluation_paths,
                                                      periods=self.evaluation_periods)
                    learned_cost, diff, se = held_out.cost_a, held_out.difference, held_out.difference_se
                    if pol.generation > 0 and diff < -self.z_noise * se:
                        kind = "learned"
            rows["policy_type"].append(kind)
            rows["base_stock_level"].append(level)
            rows["reorder_point"].append(level - 1.0)
            rows["order_up_to"].append(level)
            rows["safety_stock"].append(level - inst.mean_demand * (lt + 1))
            rows["order_cap_units"].append(cap)
            rows["lead_time_periods"].append(inst.lead_time_periods)
            rows["base_stock_cost_per_period"].append(base_cost)
            rows["capped_base_stock_cost_per_period"].append(capped_cost)
            rows["learned_cost_per_period"].append(learned_cost)
            rows["learned_minus_capped_per_period"].append(diff)
            rows["difference_se"].append(se)
        table = pa.table({"key": pa.array(list(problem.keys), pa.string()), **{
            k: pa.array(v) for k, v in rows.items()}})
        units = {"base_stock_level": "[units]", "reorder_point": "[units]", "order_up_to": "[units]",
                 "safety_stock": "[units]", "order_cap_units": "[units/period]",
                 "lead_time_periods": "[periods]"}
        meta = {k.encode(): v.encode() for k, v in units.items()}
        meta.update({k.encode(): b"[currency/period]" for k in rows if "per_period" in k or k == "difference_se"})
        return table.replace_schema_metadata(meta)
