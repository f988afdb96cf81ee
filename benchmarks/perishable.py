"""Perishable stock: base stock (plain, waste-adjusted) and the `perishable` solver against the exact DP.

    python benchmarks/perishable.py [--quick]

Poisson(3) demand per period, holding 1, shortage 8 (per unit short), waste 4 (per unit
outdated), no ordering cost; shelf life m in {2, 3}, lead time L in {0, 1}, FIFO and LIFO
issuing, lost sales (and backorders for m = 2). For each instance: the DP's optimal
long-run cost (relative value iteration), the best plain and waste-adjusted base-stock
levels of an exhaustive search scored exactly by the DP, and the policy the solver
(cost mode, default simulation sizes) picks, scored by the same DP; plus the solver's
CPU time per stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_result  # noqa: E402
from echelon_solvers.kit.perishable_dp import (  # noqa: E402
    PerishableInstance,
    base_stock_orders,
    evaluate_policies,
    optimal_policy,
)
from echelon_solvers.perishable import PerishableSolver  # noqa: E402

from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.testing.inputs import StageInput, make_problem  # noqa: E402

HOLD, SHORT, WASTE, MEAN = 1.0, 8.0, 4.0, 3.0


def case(life: int, lead: int, issuing: str, backorders: bool) -> dict[str, object]:
    demand = DiscreteDistribution.poisson(MEAN)
    inst = PerishableInstance(demand, life, lead, holding=HOLD, shortage=SHORT, waste=WASTE, issuing=issuing,
                              backorders=backorders, max_order=12, max_backlog=10 if backorders else 0)
    opt = optimal_policy(inst)
    keys = [(wa, s) for wa in (False, True) for s in range(0, 13)]
    exact = dict(zip(keys, evaluate_policies(inst, [base_stock_orders(inst, s, wa) for wa, s in keys]), strict=True))
    plain = min((k for k in keys if not k[0]), key=lambda k: exact[k].cost)
    adjusted = min((k for k in keys if k[0]), key=lambda k: exact[k].cost)
    problem = make_problem([StageInput("p@x", demand, DiscreteDistribution.point(lead), unit_cost=WASTE,
                                       holding_cost=HOLD, stockout_cost=SHORT)])
    problem = dataclasses.replace(problem, shelf_life=np.array([float(life)]))
    solver = PerishableSolver(target_mode="cost", issuing=issuing, backorders=backorders)
    t0 = time.process_time()
    row = solver.solve(problem).to_pylist()[0]
    cpu = time.process_time() - t0
    chosen = ("expected waste" in row["message"], int(row["base_stock_level"]))
    best = min(exact[plain].cost, exact[adjusted].cost)
    return {
        "shelf_life": life, "lead_time": lead, "issuing": issuing, "backorders": backorders,
        "dp_optimal_cost": round(opt.gain, 4),
        "best_base_stock": {"level": plain[1], "cost": round(exact[plain].cost, 4),
                            "outdated": round(exact[plain].outdated, 4), "fill": round(exact[plain].fill_rate, 4)},
        "best_waste_adjusted": {"level": adjusted[1], "cost": round(exact[adjusted].cost, 4),
                                "outdated": round(exact[adjusted].outdated, 4),
                                "fill": round(exact[adjusted].fill_rate, 4)},
        "solver": {"rule": "waste_adjusted" if chosen[0] else "base_stock", "level": chosen[1],
                   "dp_cost": round(exact[chosen].cost, 4), "gap_to_best_searched": round(exact[chosen].cost / best - 1, 4),
                   "gap_to_dp_optimum": round(exact[chosen].cost / opt.gain - 1, 4), "cpu_seconds": round(cpu, 3)},
        "heuristic_gap_to_dp_optimum": round(best / opt.gain - 1, 4),
    }


def hendrix() -> list[dict[str, object]]:
    """Hendrix et al. (2019) one product: Poisson(5), price 1, order cost 0.5, L = 1, FIFO, lost sales."""
    rows = []
    demand = DiscreteDistribution.poisson(5.0)
    for life, qmax, published in ((2, 10, 2.22), (3, 15, 2.40)):
        t0 = time.process_time()
        sol = optimal_policy(PerishableInstance(demand, life, 1, holding=0.0, shortage=1.0, waste=0.0, ordering=0.5,
                                                max_order=qmax), tol=1e-6)
        profit = demand.mean() - sol.gain
        rows.append({"shelf_life": life, "max_order": qmax, "profit": round(profit, 4), "published": published,
                     "cpu_seconds": round(time.process_time() - t0, 2)})
        print(f"Hendrix et al. (2019) m={life}: optimal profit {profit:.4f} per period (published {published})")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    PerishableSolver.warm_up()
    grid = [(m, lead, iss, False) for m in (2, 3) for lead in (0, 1) for iss in ("fifo", "lifo")]
    grid += [(2, 1, "fifo", True), (2, 1, "lifo", True)]
    if args.quick:
        grid = grid[:3]
    rows = []
    for g in grid:
        r = case(*g)
        rows.append(r)
        print(f"m={g[0]} L={g[1]} {g[2]:4s} {'backorders' if g[3] else 'lost sales':10s}  DP opt {r['dp_optimal_cost']:.3f}"
              f"  base stock {r['best_base_stock']['cost']:.3f} (S={r['best_base_stock']['level']})"
              f"  waste-adj {r['best_waste_adjusted']['cost']:.3f} (S={r['best_waste_adjusted']['level']})"
              f"  solver {r['solver']['rule']} S={r['solver']['level']} {r['solver']['dp_cost']:.3f}"
              f" ({100 * r['solver']['gap_to_best_searched']:+.2f} % vs best searched, "
              f"{100 * r['solver']['gap_to_dp_optimum']:+.2f} % vs DP optimum, {r['solver']['cpu_seconds']:.2f} s CPU)")
    published = hendrix() if not args.quick else []
    path = write_result("perishable" + ("_quick" if args.quick else ""), {"cases": rows, "hendrix_2019": published,
                                                                           "costs": {
        "holding": HOLD, "shortage": SHORT, "waste": WASTE, "mean_demand": MEAN}})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
