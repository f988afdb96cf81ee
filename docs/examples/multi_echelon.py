"""The default solver on one DC and its stores, against setting each stage alone.

Run: python docs/examples/multi_echelon.py   (a few seconds; the first run compiles)

A central DC (lead time 4 weeks from its supplier) serves five stores (1 week from the
DC) that each want a 95 % fill rate. ``single_echelon`` sizes the DC for 95 % as if it
were a store and each store as if the DC always shipped; ``multi_echelon`` (the default
of ``echelon run``) tries several DC service levels, sizes the stores for the delays each
one causes, and keeps the cheapest network that still gives every store its 95 %.
"""

from __future__ import annotations

import numpy as np
from echelon_solvers.multi_echelon import MultiEchelonSolver
from echelon_solvers.single_echelon import SingleEchelonSolver

from platform_core.distributions import DiscreteDistribution
from platform_core.testing.inputs import StageInput, make_problem


def main() -> None:
    stages = [StageInput("SKU1@DC", DiscreteDistribution.poisson(5 * 6.0), DiscreteDistribution.point(4),
                         unit_cost=6.0, holding_cost=0.02, external_demand=False)]
    for k in range(5):  # a store's demand: Poisson(6) per week; the DC sees the sum
        stages.append(StageInput(f"SKU1@STORE{k}", DiscreteDistribution.poisson(6.0), DiscreteDistribution.point(1),
                                 unit_cost=9.0, holding_cost=0.03, service_target=0.95, upstream=(0,),
                                 quantity_per=(1.0,)))
    problem = make_problem(stages)
    joint = MultiEchelonSolver().solve(problem)  # 100 replications x 365 weeks check
    alone = SingleEchelonSolver().solve(problem)
    for name, table in (("multi_echelon", joint), ("single_echelon", alone)):
        t = table.to_pydict()
        print(f"{name}:")
        for k, key in enumerate(problem.keys):
            print(f"  {key:<12} level {t['base_stock_level'][k]:5.0f}  fill {t['expected_fill_rate'][k]:.3f}"
                  f" +- {t['fill_rate_se'][k]:.3f}  on hand {t['mean_on_hand'][k]:6.1f}")
        print(f"  inventory investment {np.sum(t['inventory_investment']):,.0f}")
    dc = joint.to_pylist()[0]
    print(f"DC service chosen by multi_echelon: {dc['service_target']:.2f} ({dc['message']})")
    # every store keeps its promise in the joint plan, measured on the whole network
    assert min(joint.column("expected_fill_rate").to_pylist()[1:]) >= 0.95


if __name__ == "__main__":
    main()
