"""Lost-sales benchmark: Zipkin's (2008) 16 instances, exact optimum vs base stock, capped base stock, learned.

Usage:
    python benchmarks/lost_sales.py [--quick] [--seed 0] [--generations 2]

Poisson(5) demand, holding cost 1, lost-sale penalty p in {4, 9, 19, 39}, lead time
L in {1, 2, 3, 4}. Per instance: the optimal average cost by relative value iteration
(``echelon_solvers.kit.lost_sales_dp``), the best base-stock and the best capped base-stock
policies (exhaustive search, exact evaluation) and the policy learned by simulation
(``echelon_solvers.kit.lost_sales_api``, trained and selected without the DP), its exact
cost and its held-out paired comparison with capped base stock (common random numbers).
``--quick`` runs 4 instances. Writes benchmarks/results/lost_sales[_quick].json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "cluster", ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import write_result  # noqa: E402
from echelon_solvers.kit.lost_sales_api import (  # noqa: E402
    paired_cost_difference,
    simulate_policy_costs,
    train_policy,
)
from echelon_solvers.kit.lost_sales_dp import (  # noqa: E402
    LostSalesInstance,
    best_base_stock,
    best_capped_base_stock,
    evaluate_lost_sales_policy,
    solve_optimal,
)

#: Optimal costs printed in Zipkin (2008) Table 3, as quoted by public sources:
#: (L, p) = (1, 4), (2, 4) in DynaPlex's exact-solver test (DynaPlex/DynaPlex, gtest
#: ExactAlgorithm.LostSalesSmallInstances); (4, 4), (4, 19) in the invman lost-sales
#: benchmark card (Table 3(a), p.1261).
PUBLISHED_OPTIMAL = {(1, 4): 4.04, (2, 4): 4.40, (4, 4): 4.73, (4, 19): 8.89}

GRID = [(lt, p) for p in (4, 9, 19, 39) for lt in (1, 2, 3, 4)]
QUICK = [(1, 4), (2, 9), (3, 19), (4, 4)]


def run_instance(lt: int, p: float, seed: int, generations: int) -> dict[str, object]:
    inst = LostSalesInstance.poisson(5.0, lt, 1.0, p)
    t0 = time.perf_counter()
    opt = solve_optimal(inst)
    dp_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = best_base_stock(inst)
    capped = best_capped_base_stock(inst)
    search_s = time.perf_counter() - t0
    pol = train_policy(inst, seed=seed, generations=generations, baseline=capped)
    learned_exact = evaluate_lost_sales_policy(inst, pol.orders, pol.bound)
    held = paired_cost_difference(inst, pol.orders, pol.baseline_orders, pol.bound, seed=seed + 1_000_003)
    t0 = time.perf_counter()
    paths, periods = 16, 50_000
    simulate_policy_costs(inst, pol.orders, pol.bound, seed=seed + 7, paths=paths, periods=periods, warmup=0)
    thr = paths * periods / (time.perf_counter() - t0)
    g = opt.cost_per_period

    def gap(c: float) -> float:
        return round(100.0 * (c / g - 1.0), 3)

    return {
        "lead_time_periods": lt, "lost_sale_cost": p,
        "optimal_cost_per_period": round(g, 5),
        "optimal_bounds_per_period": [round(opt.cost_lower, 7), round(opt.cost_upper, 7)],
        "published_optimal_per_period": PUBLISHED_OPTIMAL.get((lt, int(p))),
        "dp_states": int(opt.grid.coords.shape[0]), "dp_seconds": round(dp_s, 2),
        "base_stock_level_units": plain.level_units, "base_stock_cost_per_period": round(plain.cost_per_period, 5),
        "base_stock_gap_pct": gap(plain.cost_per_period),
        "capped_level_units": capped.level_units, "capped_cap_units": capped.cap_units,
        "capped_cost_per_period": round(capped.cost_per_period, 5), "capped_gap_pct": gap(capped.cost_per_period),
        "search_seconds": round(search_s, 2),
        "learned_generation": pol.generation,
        "learned_exact_cost_per_period": round(learned_exact, 5), "learned_gap_pct": gap(learned_exact),
        "learned_minus_capped_heldout_per_period": round(held.difference, 5),
        "learned_minus_capped_heldout_se": round(held.difference_se, 5),
        "learned_recommended": bool(pol.generation > 0 and held.difference < -2.0 * held.difference_se),
        "training_seconds": round(pol.training_seconds, 2),
        "evaluation_periods_per_second": round(thr),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 instances instead of 16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generations", type=int, default=8)
    args = ap.parse_args()
    cases = QUICK if args.quick else GRID
    rows = []
    hdr = (f"{'L':>2} {'p':>3} {'optimum':>8} {'pub':>5} {'BS gap%':>8} {'CBS gap%':>8} {'learned%':>8} "
           f"{'vs CBS (SE)':>17} {'train s':>8} {'eval per/s':>11}")
    print(hdr, flush=True)
    for lt, p in cases:
        r = run_instance(lt, float(p), args.seed, args.generations)
        rows.append(r)
        pub = r["published_optimal_per_period"]
        print(f"{lt:>2} {p:>3} {r['optimal_cost_per_period']:>8.4f} {pub if pub else '':>5} "
              f"{r['base_stock_gap_pct']:>8.3f} {r['capped_gap_pct']:>8.3f} {r['learned_gap_pct']:>8.3f} "
              f"{r['learned_minus_capped_heldout_per_period']:>+8.4f} ({r['learned_minus_capped_heldout_se']:.4f}) "
              f"{r['training_seconds']:>8.1f} {r['evaluation_periods_per_second']:>11,}", flush=True)
    learned = [r["learned_gap_pct"] for r in rows]
    summary = {
        "instances": len(rows),
        "learned_within_0_5_pct": sum(g <= 0.5 for g in learned),  # type: ignore[operator]
        "learned_within_1_pct": sum(g <= 1.0 for g in learned),  # type: ignore[operator]
        "learned_not_worse_than_capped": sum(r["learned_gap_pct"] <= r["capped_gap_pct"] + 1e-9 for r in rows),  # type: ignore[operator]
        "max_learned_gap_pct": max(learned),  # type: ignore[type-var]
    }
    print(summary)
    name = "lost_sales_quick" if args.quick else "lost_sales"
    cmd = "python benchmarks/lost_sales.py" + (" --quick" if args.quick else "")
    path = write_result(name, {"command": cmd, "seed": args.seed, "generations": args.generations,
                               "instances": rows, "summary": summary})
    print("wrote", path)


if __name__ == "__main__":
    main()
