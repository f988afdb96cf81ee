"""Single-echelon base-stock solver by Monte Carlo.

Each stage is treated on its own: supplied with its learned lead-time distribution by a
reliable upstream, facing its own (or its downstream stages' aggregated) demand.  The
base-stock level is the smallest that meets the stage's service target on simulated
paths, or the level of least holding + stockout cost when the target is cost-optimal
(``target_mode = "cost"`` or a null ``service_target``).  The simulation is
:func:`platform_core.simulation.single_stage.optimise_base_stock`.

A planner's override (``StageProblem.level_min`` / ``level_max``) clamps the level to its
corridor: fill and cycle service rise with the level, so for a target the clamped level
is the least in the corridor that meets it (the max when even the max misses it: the
row's fill then shows by how much). In cost mode it is
the corridor's bound nearest the unconstrained optimum, the best level in the corridor
whenever the cost is unimodal in the level (as it is for base-stock with backorders).
Clamped stages are evaluated again at their level on the same paths (same seeds).
"""

from __future__ import annotations

from dataclasses import fields
from typing import ClassVar

import numpy as np
import pyarrow as pa

from echelon_solvers.kit.tables import base_stock_table
from platform_core.components import Solver, StagePolicies, StageProblem
from platform_core.simulation.single_stage import (
    TARGET_COST,
    TARGET_CYCLE,
    TARGET_FILL,
    SingleStageResult,
    evaluate_base_stock,
    optimise_base_stock,
)

# base_stock_table: re-exported from echelon_solvers.kit.tables (its home)
__all__ = ["SingleEchelonSolver", "base_stock_table"]


class SingleEchelonSolver(Solver):
    """Periodic-review base-stock (order-up-to) level per stage (honours overrides).

    Args:
        service_metric: ``"fill_rate"`` or ``"cycle_service"`` — what a target means.
        target_mode: ``"target"`` (targets from the data; null -> cost-optimal) or
            ``"cost"`` (minimise holding + stockout cost everywhere).
        replications: simulated runs per stage.
        periods: periods per run after warm-up.
        warmup: periods discarded per run.
        crossing: allow orders to cross.
        compare_replications: replications on which :meth:`evaluate_policies` simulates a
            given policy (today's): the first of :meth:`solve`'s (same paths); capped at
            ``replications``.
    """

    honours_overrides: ClassVar[bool] = True

    def __init__(
        self,
        service_metric: str = "fill_rate",
        target_mode: str = "target",
        replications: int = 100,
        periods: int = 365,
        warmup: int = 50,
        crossing: bool = True,
        compare_replications: int = 20,
    ) -> None:
        if service_metric not in ("fill_rate", "cycle_service"):
            raise ValueError(f"service_metric must be 'fill_rate' or 'cycle_service', got {service_metric!r}")
        if target_mode not in ("target", "cost"):
            raise ValueError(f"target_mode must be 'target' or 'cost', got {target_mode!r}")
        self.service_metric = service_metric
        self.target_mode = target_mode
        self.replications = replications
        self.periods = periods
        self.warmup = warmup
        self.crossing = crossing
        if compare_replications < 1:
            raise ValueError(f"compare_replications must be >= 1, got {compare_replications!r}")
        self.compare_replications = min(int(compare_replications), int(replications))

    @classmethod
    def warm_up(cls) -> None:
        """Load the compiled simulation kernels (a one-stage problem, a few periods)."""
        from platform_core.distributions import DiscreteDistribution

        # one call, two stages (a target-mode and a cost-mode one): the same compiled kernels
        two = [DiscreteDistribution.point(1)] * 2
        optimise_base_stock(
            two, two, np.zeros(2, dtype=np.uint64), mode=np.array([TARGET_FILL, TARGET_COST], dtype=np.int64),
            target=np.full(2, 0.9), holding_cost=np.ones(2), stockout_cost=np.ones(2),
            review_period=np.ones(2, dtype=np.int64), replications=1, periods=4, warmup=1,
        )

    def solve(self, problem: StageProblem) -> pa.Table:
        """One base-stock policy per stage, with its simulated service and cost."""
        target = np.asarray(problem.service_target, dtype=np.float64)
        by_cost = np.isnan(target) | (self.target_mode == "cost")
        metric_mode = TARGET_FILL if self.service_metric == "fill_rate" else TARGET_CYCLE
        mode = np.where(by_cost, TARGET_COST, metric_mode).astype(np.int64)
        res = optimise_base_stock(
            problem.period_demand,
            problem.lead_time,
            problem.seeds,
            mode=mode,
            target=np.nan_to_num(target, nan=0.0),
            holding_cost=problem.costs.holding_cost,
            stockout_cost=problem.costs.stockout_cost,
            review_period=problem.review_period,
            replications=self.replications,
            periods=self.periods,
            warmup=self.warmup,
            crossing=self.crossing,
        )
        res = self._clamped(problem, res)
        shown_target = np.where(by_cost, problem.costs.cost_optimal_service, target)
        return base_stock_table(
            problem,
            res,
            service_metric=["cost" if c else self.service_metric for c in by_cost],
            service_target=shown_target,
            target_source=["cost_optimal" if c else "input" for c in by_cost],
        )

    def _clamped(self, problem: StageProblem, res: SingleStageResult) -> SingleStageResult:
        """``res`` with every level inside its override's corridor (re-evaluated there)."""
        n = len(problem.keys)
        lo = np.full(n, np.nan) if problem.level_min is None else np.asarray(problem.level_min, dtype=np.float64)
        hi = np.full(n, np.nan) if problem.level_max is None else np.asarray(problem.level_max, dtype=np.float64)
        level = res.base_stock_level
        want = np.clip(level, np.nan_to_num(lo, nan=-np.inf), np.nan_to_num(hi, nan=np.inf))
        moved = np.flatnonzero(want != level)
        if not moved.size:
            return res
        again = evaluate_base_stock(
            [problem.period_demand[i] for i in moved], [problem.lead_time[i] for i in moved],
            np.asarray(problem.seeds)[moved], want[moved], review_period=np.asarray(problem.review_period)[moved],
            replications=self.replications, periods=self.periods, warmup=self.warmup, crossing=self.crossing,
        )
        out = SingleStageResult(**{f.name: np.array(getattr(res, f.name), dtype=np.float64, copy=True)
                                   for f in fields(SingleStageResult)})
        for f in fields(SingleStageResult):
            getattr(out, f.name)[moved] = getattr(again, f.name)
        return out

    def evaluate_policies(self, problem: StageProblem, policies: StagePolicies) -> pa.Table:
        """Simulate given policies stage by stage, as :meth:`solve` sees each stage.

        Each stage on its own (a reliable upstream), with its per-period demand, lead
        time, review period and seed and this solver's periods, on the engine, on the
        first ``compare_replications`` of :meth:`solve`'s replications (the same paths).
        """
        from platform_core.simulation import Network, Policy, simulate

        n = len(problem.keys)
        if n == 0:
            return pa.table({c: pa.array([], pa.float64()) for c in ("fill_rate", "fill_rate_se", "on_hand",
                                                                       "backorders")})
        one = Network(1)
        res = simulate(
            [one] * n,
            [Policy(kind=policies.kind[i], reorder_point=policies.reorder_point[i],
                    order_up_to=policies.order_up_to[i], order_quantity=policies.order_quantity[i],
                    review_period=int(problem.review_period[i])) for i in range(n)],
            [[d] for d in problem.period_demand],
            lead_times=list(problem.lead_time),
            seeds=np.asarray(problem.seeds, dtype=np.uint64),
            replications=self.compare_replications, periods=self.periods, warmup=self.warmup,
            crossing=self.crossing, backorders=True,
        )
        return pa.table({"fill_rate": pa.array(res.mean["fill_rate"], pa.float64()),
                         "fill_rate_se": pa.array(res.se["fill_rate"], pa.float64()),
                         "on_hand": pa.array(res.mean["on_hand"], pa.float64()),
                         "backorders": pa.array(res.mean["backorders"], pa.float64())})
