"""Policies learned by simulation where base stock is weak: a perishable stage and a shared plant capacity.

Small versions of ``benchmarks/learned_cases.py`` (seconds): search the best base stock,
learn a policy from it, compare both on held-out common random numbers.
"""

import numpy as np
from echelon_solvers.kit.capacity_learned import (
    CapacityInstance,
    paired_costs,
    search_base_stock,
    train_capacity_policy,
)
from echelon_solvers.kit.perishable_dp import PerishableInstance, evaluate_policy, optimal_policy
from echelon_solvers.kit.perishable_learned import (
    search_heuristics,
    simulate_perishable_costs,
    train_perishable_policy,
)
from echelon_solvers.learned_envs import CapacityTwoEchelonEnv, PerishableEnv

from platform_core.distributions import DiscreteDistribution

# --- perishable: shelf life 2, lead time 1, freshest-first (LIFO) issuing, lost sales ---
inst = PerishableInstance(DiscreteDistribution.poisson(3.0), shelf_life=2, lead_time=1, holding=1.0,
                          shortage=8.0, waste=4.0, issuing="lifo", max_order=10)
search = search_heuristics(inst, seed=1, paths=4, periods=3000, max_level_units=12)  # base stock, (s, S), ...
pol = train_perishable_policy(inst, search.tables["base_stock"], seed=0, generations=2, states=600, rollouts=400,
                              selection_paths=4, selection_periods=4000)
held_learned = simulate_perishable_costs(inst, pol.orders, seed=99, paths=8, periods=5000)  # held-out random numbers
held_bs = simulate_perishable_costs(inst, search.tables["base_stock"], seed=99, paths=8, periods=5000)
diff = held_learned - held_bs
print(f"perishable: base stock S={search.base_stock_level[0]} {held_bs.mean():.3f}, learned {held_learned.mean():.3f} "
      f"({100 * diff.mean() / held_bs.mean():+.1f} % ± {100 * diff.std(ddof=1) / np.sqrt(8) / held_bs.mean():.1f}), "
      f"trained in {pol.training_seconds:.1f} s")
print(f"  exact: optimum {optimal_policy(inst).gain:.3f}, learned {evaluate_policy(inst, pol.orders).cost:.3f}")
env = PerishableEnv(inst, episode_periods=5)  # the same dynamics for any RL library
obs, _ = env.reset(seed=0)
obs, reward, _, _, _ = env.step(pol.order(inst, obs.astype(np.int64)))

# --- capacity: 3 SKUs with correlated demand share a plant making 13 units a period ---
cap = CapacityInstance(mean_demand=(4.0, 4.0, 4.0), capacity_units=13, production_lead_periods=2,
                       shipping_lead_periods=4, warehouse_holding=0.5, store_holding=1.0, lost_sale_cost=4.0)
best = search_base_stock(cap, seed=1, echelon_levels=range(23, 29), store_levels=range(19, 25), paths=2,
                         periods=2000, with_s_S=False)
learned = train_capacity_policy(cap, best.base_stock, seed=3, iterations=8, population=16, elite=4, paths=2,
                                periods=2000, selection_paths=2, selection_periods=4000)
a, b, d, se = paired_costs(cap, learned.theta, best.base_stock, seed=777, paths=6, periods=5000)
print(f"capacity (demand correlation {cap.demand_correlation():.2f}): base stock "
      f"(S_e={best.base_stock.echelon_level:.0f}, S_r={best.base_stock.store_level:.0f}) {b:.3f}, learned {a:.3f} "
      f"({100 * d / b:+.1f} % ± {100 * se / b:.1f}), trained in {learned.training_seconds:.1f} s")
cenv = CapacityTwoEchelonEnv(cap, episode_periods=5)
obs, _ = cenv.reset(seed=0)
obs, reward, _, _, info = cenv.step(cenv.action_space.sample())
print(f"  env step: production {info['production']}, shipments {info['shipments']}, reward {reward:.1f}")
