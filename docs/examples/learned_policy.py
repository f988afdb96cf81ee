"""Lost sales with lead time 1: exact optimum, capped base stock, and a policy learned by simulation.

Zipkin's (2008) instance: Poisson(5) demand, holding cost 1, lost-sale penalty 4,
lead time 1 (his Table 3 prints an optimal cost of 4.04). Runs in a few seconds.
"""

import numpy as np
from echelon_solvers.kit.lost_sales_api import paired_cost_difference, train_policy
from echelon_solvers.kit.lost_sales_dp import (
    LostSalesInstance,
    best_base_stock,
    best_capped_base_stock,
    evaluate_lost_sales_policy,
    solve_optimal,
)
from echelon_solvers.lost_sales_env import LostSalesVectorEnv

inst = LostSalesInstance.poisson(5.0, lead_time_periods=1, holding_cost=1.0, lost_sale_cost=4.0)

opt = solve_optimal(inst)  # relative value iteration, exact
plain = best_base_stock(inst)  # exhaustive search, exact Markov-chain costs
capped = best_capped_base_stock(inst)
print(f"optimal {opt.cost_per_period:.4f} per period")
print(f"base stock S={plain.level_units}: {plain.cost_per_period:.4f}")
print(f"capped base stock S={capped.level_units}, r={capped.cap_units}: {capped.cost_per_period:.4f}")

# learn by simulation (the DP is not used), starting from the capped base-stock policy
pol = train_policy(inst, seed=1, generations=4, states=400, selection_paths=16, selection_periods=5000,
                   rollout_budget=0)
learned = evaluate_lost_sales_policy(inst, pol.orders, pol.bound)  # exact cost of the learned table
print(f"learned (generation {pol.generation}, {pol.training_seconds:.1f} s): {learned:.4f}, "
      f"gap {100 * (learned / opt.cost_per_period - 1):.2f} %")

# recommend it only if it wins on held-out common random numbers beyond the noise
cmp = paired_cost_difference(inst, pol.orders, pol.baseline_orders, pol.bound, seed=99, paths=16, periods=5000)
verdict = "learned" if cmp.difference < -2 * cmp.difference_se else "capped base stock"
print(f"learned - capped = {cmp.difference:+.4f} ± {cmp.difference_se:.4f} per period -> recommend {verdict}")

# the same policy stepped through the Gymnasium vector environment (64 copies)
env = LostSalesVectorEnv(inst, num_envs=64, episode_periods=10**9)
obs, _ = env.reset(seed=7)
total = np.zeros(64)
for t in range(2100):
    orders = np.array([pol.order(o.astype(np.int64)) for o in obs])
    obs, reward, _, _, _ = env.step(orders)
    if t >= 100:
        total -= reward
print(f"env: {total.mean() / 2000:.3f} ± {total.std(ddof=1) / 2000 / 8:.3f} per period")
