"""Perishable stock: simulate waste against shortage, check with the exact DP, let the solver choose.

Run it with ``python docs/examples/perishable.py`` (a few seconds).
"""

import dataclasses

import numpy as np
from echelon_solvers.kit.perishable_dp import (
    PerishableInstance,
    base_stock_orders,
    evaluate_policy,
    optimal_policy,
)
from echelon_solvers.perishable import PerishableSolver

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation.perishable import PerishableCosts, simulate_perishable
from platform_core.testing.inputs import StageInput, make_problem

demand = DiscreteDistribution.poisson(3.0)  # [units/period]
lead = DiscreteDistribution.point(1)  # [periods]
costs = PerishableCosts(holding=1.0, shortage=8.0, waste=4.0)  # per unit held / short / outdated

# 1. Monte Carlo: base-stock levels 6..10 with a 3-period shelf life, FIFO, lost sales (one call, common numbers)
levels = np.arange(6, 11)
sim = simulate_perishable([demand] * levels.size, [lead] * levels.size, 3, levels, 7, costs=costs,
                          replications=10, periods=1000)
for s, fill, out, cost, se in zip(levels, sim["fill_rate"], sim["outdated"], sim.cost, sim.cost_se, strict=True):
    print(f"S={s:2d}  fill {fill:.3f}  outdated {out:.3f}/period  cost {cost:.3f} +- {se:.3f}")

# 2. The exact DP: the same policies' long-run cost, and the optimal policy's
inst = PerishableInstance(demand, shelf_life=3, lead_time=1, holding=1.0, shortage=8.0, waste=4.0, max_order=12)
exact = [evaluate_policy(inst, base_stock_orders(inst, int(s))).cost for s in levels]
print("exact base-stock costs:", np.round(exact, 3))
print(f"optimal policy (value iteration): {optimal_policy(inst).gain:.3f} per period")

# 3. The solver, as a run calls it (shelf life from the stages table's shelf_life_periods)
problem = make_problem([StageInput("milk@store", demand, lead, unit_cost=4.0, holding_cost=1.0, stockout_cost=8.0)])
problem = dataclasses.replace(problem, shelf_life=np.array([3.0]))
row = PerishableSolver(target_mode="cost", backorders=False, replications=10).solve(problem).to_pylist()[0]
print(f"solver: S={row['base_stock_level']:g}, fill {row['expected_fill_rate']:.3f}, "
      f"{row['expected_outdated_per_period']:.3f} outdated/period ({row['waste_cost_per_period']:.3f}/period); "
      f"{row['message']}")
