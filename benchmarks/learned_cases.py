"""Learned policies where base stock is not optimal: a perishable stage and a capacity-shared two-echelon network.

Usage:
    python benchmarks/learned_cases.py [--quick] [--seed 0]

**Perishable** (``kit.perishable_learned``; Poisson(3) demand, holding 1, lost sale 8,
outdating 4 per unit, lead time 1, shelf life m, FIFO or LIFO issuing, orders up to 10):
the best base stock, (s, S) and waste-adjusted base stock by exhaustive search on one set of
random numbers; a table policy learned by approximate policy iteration from the best
base stock; all four simulated on **held-out** random numbers (paired), and scored exactly
on the Markov chain with the DP optimum beside them.

**Capacity** (``kit.capacity_learned``; 3 SKUs, Poisson(4 G) demand with a common factor
G in {0.4, 1, 1.6}: correlation 0.49; a plant making at most 13 units a period in total,
production lead Lp, warehouse -> store lead Lr, lost sales at the stores): echelon base
stock with proportional or priority rationing by exhaustive search over (S_e, S_r), the
best (s, S) store rule around the best few; a 14-number state-dependent policy learned
by the cross-entropy method from the best base stock; all on held-out random numbers.

Training time, evaluation throughput and a second training from the same seed (identical
result) are reported. ``--quick``: one case of each, smaller search and training.
Writes benchmarks/results/learned_cases[_quick].json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "cluster", ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import write_result  # noqa: E402
from echelon_solvers.kit.capacity_learned import (  # noqa: E402
    CapacityInstance,
    search_base_stock,
    search_capped_base_stock,
    simulate_capacity_costs,
    train_capacity_policy,
)
from echelon_solvers.kit.perishable_dp import PerishableInstance, evaluate_policies, optimal_policy  # noqa: E402
from echelon_solvers.kit.perishable_learned import (  # noqa: E402
    search_heuristics,
    train_perishable_policy,
)
from echelon_solvers.kit.perishable_learned import simulate_perishable_costs as simulate_perishable  # noqa: E402

from platform_core.distributions import DiscreteDistribution  # noqa: E402

PERISHABLE_FULL = [(2, "lifo"), (3, "lifo"), (2, "fifo"), (3, "fifo")]
PERISHABLE_QUICK = [(2, "lifo")]
CAPACITY_FULL = [(2, 4, 4.0), (1, 4, 4.0), (1, 2, 9.0)]
CAPACITY_QUICK = [(2, 4, 4.0)]


def _paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    d = a - b
    return {"difference_per_period": round(float(d.mean()), 5),
            "difference_se": round(float(d.std(ddof=1) / np.sqrt(d.size)), 5),
            "saving_pct": round(float(-100.0 * d.mean() / b.mean()), 3)}


def perishable_case(life: int, issuing: str, seed: int, quick: bool) -> dict[str, Any]:
    inst = PerishableInstance(DiscreteDistribution.poisson(3.0), life, 1, holding=1.0, shortage=8.0, waste=4.0,
                              issuing=issuing, max_order=10)
    opt = optimal_policy(inst)
    t0 = time.perf_counter()
    search = search_heuristics(inst, seed=seed + 1, paths=4 if quick else 8, periods=5000 if quick else 10_000)
    search_s = time.perf_counter() - t0
    kw: dict[str, Any] = {"generations": 3, "rollouts": 1000} if quick else {"generations": 6, "rollouts": 2000}
    pol = train_perishable_policy(inst, search.tables["base_stock"], seed=seed, **kw)
    again = train_perishable_policy(inst, search.tables["base_stock"], seed=seed, **kw)
    held_seed, paths, periods = seed + 1_000_003, (8 if quick else 32), (10_000 if quick else 20_000)
    t0 = time.perf_counter()
    held = {"learned": simulate_perishable(inst, pol.orders, held_seed, paths, periods)}
    thr = paths * (periods + 200) / (time.perf_counter() - t0)
    for name, table in search.tables.items():
        held[name] = simulate_perishable(inst, table, held_seed, paths, periods)
    exact = dict(zip(["learned", *search.tables],
                     (e.cost for e in evaluate_policies(inst, [pol.orders, *search.tables.values()])), strict=True))
    g = opt.gain
    return {
        "shelf_life_periods": life, "lead_time_periods": 1, "issuing": issuing,
        "dp_optimal_cost_per_period": round(g, 5), "dp_states": int(opt.states.shape[0]),
        "base_stock_level_units": search.base_stock_level[0], "s_S_units": list(search.s_S[:2]),
        "waste_adjusted_level_units": search.waste_adjusted_level[0],
        "search_candidates": search.candidates, "search_seconds": round(search_s, 2),
        "heldout_cost_per_period": {k: round(float(v.mean()), 5) for k, v in held.items()},
        "learned_vs": {k: _paired(held["learned"], held[k]) for k in search.tables},
        "exact_cost_per_period": {k: round(v, 5) for k, v in exact.items()},
        "exact_gap_to_optimum_pct": {k: round(100.0 * (v / g - 1.0), 3) for k, v in exact.items()},
        "learned_generation": pol.generation, "training_seconds": round(pol.training_seconds, 2),
        "rollout_periods_simulated": pol.rollouts_simulated,
        "training_reproducible": bool(np.array_equal(pol.orders, again.orders)),
        "evaluation_periods_per_second": round(thr),
        "heldout_paths": paths, "heldout_periods": periods, "seed": seed,
    }


def capacity_case(lp: int, lr: int, lost_sale_cost: float, seed: int, quick: bool) -> dict[str, Any]:
    inst = CapacityInstance(mean_demand=(4.0, 4.0, 4.0), capacity_units=13, production_lead_periods=lp,
                            shipping_lead_periods=lr, warehouse_holding=0.5, store_holding=1.0,
                            lost_sale_cost=lost_sale_cost)
    mu = 4
    if quick:
        se_range, sr_range = range(mu * (lp + lr) - 2, mu * (lp + lr) + 6), range(mu * lr, mu * lr + 8)
    else:
        se_range, sr_range = range(mu * (lp + lr) - 8, mu * (lp + lr) + 17), range(mu * lr - 6, mu * lr + 15)
    search = search_base_stock(inst, seed=seed + 1, echelon_levels=se_range, store_levels=sr_range,
                               paths=4, periods=3000 if quick else 4000, with_s_S=not quick)
    bs = search.base_stock
    capped = None
    if not quick:  # a stronger classic benchmark: a per-SKU production cap on top of base stock
        t0 = time.perf_counter()
        capped = search_capped_base_stock(inst, seed + 1, range(int(bs.echelon_level) - 6, int(bs.echelon_level) + 7),
                                          range(int(bs.store_level) - 4, int(bs.store_level) + 5), range(1, 10))
        capped_s = time.perf_counter() - t0
    kw: dict[str, Any] = {"iterations": 15, "population": 24, "elite": 6} if quick else {"iterations": 30}
    pol = train_capacity_policy(inst, search.base_stock, seed=seed, **kw)
    again = train_capacity_policy(inst, search.base_stock, seed=seed, **kw) if quick or lp == 2 else None
    held_seed, paths, periods = seed + 1_000_003, (8 if quick else 32), (10_000 if quick else 20_000)
    t0 = time.perf_counter()
    held = {"learned": simulate_capacity_costs(inst, pol.theta, held_seed, paths, periods)}
    thr = paths * (periods + 200) / (time.perf_counter() - t0)
    held["base_stock"] = simulate_capacity_costs(inst, search.base_stock, held_seed, paths, periods)
    if search.s_S is not None:
        held["s_S"] = simulate_capacity_costs(inst, search.s_S, held_seed, paths, periods)
    if capped is not None:
        held["capped_base_stock"] = simulate_capacity_costs(inst, capped[0], held_seed, paths, periods)
    interior = (se_range.start < bs.echelon_level < se_range.stop - 1
                and sr_range.start < bs.store_level < sr_range.stop - 1)
    names = ["echelon_level", "a_pipeline", "a_warehouse", "a_transit", "a_store", "production_cap",
             "store_level", "b_transit", "b_store", "store_reorder", "shipping_cap", "rationing_priority",
             "projection_weight", "projection_sales"]
    return {
        "production_lead_periods": lp, "shipping_lead_periods": lr, "lost_sale_cost": lost_sale_cost,
        "skus": inst.skus, "capacity_units": inst.capacity_units, "mean_demand": list(inst.mean_demand),
        "demand_correlation": round(inst.demand_correlation(), 4),
        "base_stock": {"echelon_level": bs.echelon_level, "store_level": bs.store_level,
                       "rationing": "priority" if bs.rationing else "proportional",
                       "interior_of_search_grid": bool(interior)},
        "s_S": None if search.s_S is None else {"echelon_level": search.s_S.echelon_level,
                                                "store_reorder": search.s_S.store_reorder,
                                                "store_level": search.s_S.store_level},
        "capped_base_stock": None if capped is None else {
            "echelon_level": capped[0].echelon_level, "store_level": capped[0].store_level,
            "production_cap": capped[0].production_cap, "search_seconds": round(capped_s, 2),
            "interior_of_search_grid": bool(1 < capped[0].production_cap < 9
                                            and abs(capped[0].echelon_level - bs.echelon_level) < 6
                                            and abs(capped[0].store_level - bs.store_level) < 4),
            "rationing": "priority" if capped[0].rationing else "proportional"},
        "search_grid": {"echelon_levels": [se_range.start, se_range.stop - 1],
                        "store_levels": [sr_range.start, sr_range.stop - 1]},
        "search_candidates": search.candidates, "search_seconds": round(search.seconds, 2),
        "heldout_cost_per_period": {k: round(float(v.mean()), 5) for k, v in held.items()},
        "learned_vs": {k: _paired(held["learned"], held[k]) for k in held if k != "learned"},
        "learned_parameters": dict(zip(names, np.round(pol.theta, 3).tolist(), strict=True)),
        "learned_iteration": pol.iteration, "training_seconds": round(pol.training_seconds, 2),
        "training_policies_simulated": pol.policies_simulated,
        "training_reproducible": None if again is None else bool(np.array_equal(pol.theta, again.theta)),
        "evaluation_sku_periods_per_second": round(thr * inst.skus),
        "heldout_paths": paths, "heldout_periods": periods, "seed": seed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one case of each, smaller search and training")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    per_rows, cap_rows = [], []
    print(f"{'m':>2} {'issue':>5} {'DP opt':>7} {'BS':>7} {'(s,S)':>7} {'WA-BS':>7} {'learned':>7} "
          f"{'vs BS %':>8} {'vs sS %':>8} {'vs WA %':>8} {'gap %':>6} {'train s':>7}", flush=True)
    for life, issuing in (PERISHABLE_QUICK if args.quick else PERISHABLE_FULL):
        r = perishable_case(life, issuing, args.seed, args.quick)
        per_rows.append(r)
        h, v = r["heldout_cost_per_period"], r["learned_vs"]
        print(f"{life:>2} {issuing:>5} {r['dp_optimal_cost_per_period']:>7.3f} {h['base_stock']:>7.3f} "
              f"{h['s_S']:>7.3f} {h['waste_adjusted']:>7.3f} {h['learned']:>7.3f} "
              f"{v['base_stock']['saving_pct']:>8.2f} {v['s_S']['saving_pct']:>8.2f} "
              f"{v['waste_adjusted']['saving_pct']:>8.2f} {r['exact_gap_to_optimum_pct']['learned']:>6.2f} "
              f"{r['training_seconds']:>7.1f}", flush=True)
    print(f"{'Lp':>2} {'Lr':>2} {'p':>3} {'BS':>8} {'(s,S)':>8} {'capped':>8} {'learned':>8} {'vs BS % (SE)':>15} "
          f"{'vs sS %':>8} {'vs cap %':>8} {'train s':>7}", flush=True)
    for lp, lr, p in (CAPACITY_QUICK if args.quick else CAPACITY_FULL):
        r = capacity_case(lp, lr, p, args.seed, args.quick)
        cap_rows.append(r)
        h, v = r["heldout_cost_per_period"], r["learned_vs"]
        ss = v.get("s_S", {}).get("saving_pct", float("nan"))
        cp = v.get("capped_base_stock", {}).get("saving_pct", float("nan"))
        se_pct = 100 * v["base_stock"]["difference_se"] / h["base_stock"]
        print(f"{lp:>2} {lr:>2} {p:>3.0f} {h['base_stock']:>8.3f} {h.get('s_S', float('nan')):>8.3f} "
              f"{h.get('capped_base_stock', float('nan')):>8.3f} "
              f"{h['learned']:>8.3f} {v['base_stock']['saving_pct']:>7.2f} ({se_pct:.3f}) {ss:>8.2f} {cp:>8.2f} "
              f"{r['training_seconds']:>7.1f}", flush=True)
    name = "learned_cases_quick" if args.quick else "learned_cases"
    cmd = "python benchmarks/learned_cases.py" + (" --quick" if args.quick else "")
    path = write_result(name, {"command": cmd, "seed": args.seed, "perishable": per_rows, "capacity": cap_rows})
    print("wrote", path)


if __name__ == "__main__":
    main()
