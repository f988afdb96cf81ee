"""GSM benchmark: the 38 Willems (2008) chains, random trees and stockpyl's tree DP.

Usage:
    python benchmarks/gsm.py [--quick] [--time-limit SEC] [--holding-rate R]

Prints a table and writes benchmarks/results/gsm.json. The chains are read from
../shared/data/willems2008 (skipped with a message when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "cluster"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from echelon_solvers.gsm import (  # noqa: E402
    GSMNetwork,
    load_network,
    network_from_dict,
    solve_gsm,
    solve_tree,
)

WILLEMS = ROOT.parent / "shared" / "data" / "willems2008"
REFERENCE = ROOT.parent / "shared" / "data" / "gsm_reference"
if not REFERENCE.is_dir():  # the copy shipped with the repository (all 38 Willems chains are not)
    REFERENCE = ROOT / "tests" / "reference_data" / "gsm_reference"
OUT = ROOT / "benchmarks" / "results" / "gsm.json"


def random_tree(n: int, seed: int, max_time: int = 10) -> GSMNetwork:
    """Random tree: stage k attaches to a random earlier stage in a random direction."""
    rng = np.random.default_rng(seed)
    up, down = [], []
    for k in range(1, n):
        p = int(rng.integers(0, k))
        if rng.random() < 0.5:
            up.append(p)
            down.append(k)
        else:
            up.append(k)
            down.append(p)
    sinks = set(range(n)) - set(up)
    std = np.array([float(rng.integers(1, 20)) if i in sinks else 0.0 for i in range(n)])
    maxs = np.array([float(rng.integers(0, 5)) if i in sinks else np.inf for i in range(n)])
    return GSMNetwork(
        ids=[str(i) for i in range(n)], stage_time=rng.integers(1, max_time + 1, n).astype(float),
        added_cost=rng.integers(1, 100, n).astype(float), edge_up=np.array(up, dtype=np.int64),
        edge_down=np.array(down, dtype=np.int64), quantity_per=np.ones(n - 1),
        max_service_time=maxs, external_inbound=np.zeros(n), avg_demand=std * 4,
        std_demand=std, z=np.full(n, 1.645), name=f"random-tree-{n}")


def stockpyl_compare(n: int, rate: float) -> dict[str, float | int | str]:
    """Solve the same random tree with stockpyl 1.0.2's Graves-Willems DP and ours."""
    try:
        from stockpyl.gsm_tree import optimize_committed_service_times
        from stockpyl.supply_chain_network import network_from_edges
    except ImportError as exc:  # pragma: no cover - optional dev dependency
        return {"skipped": f"stockpyl not installed ({exc})"}
    net = random_tree(n, seed=2024)
    holding = rate * net.value
    sinks = set(range(n)) - set(net.edge_up.tolist())
    kwargs = {
        "processing_time": {i: int(net.stage_time[i]) for i in range(n)},
        "holding_cost": {i: float(holding[i]) for i in range(n)},
        "demand_bound_constant": {i: 1.645 for i in range(n)},
        "external_inbound_cst": {i: 0 for i in range(n)},
        "external_outbound_cst": {i: int(net.max_service_time[i]) for i in sinks},
        "demand_type": {i: "N" for i in sinks},
        "mean": {i: float(net.avg_demand[i]) for i in sinks},
        "standard_deviation": {i: float(net.std_demand[i]) for i in sinks},
    }
    edges = list(zip(net.edge_up.tolist(), net.edge_down.tolist(), strict=True))
    sp_tree = network_from_edges(edges, **kwargs)
    t0 = time.perf_counter()
    _, sp_cost = optimize_committed_service_times(sp_tree)
    sp_seconds = time.perf_counter() - t0
    solve_tree(net, rate)  # compile / warm up
    t0 = time.perf_counter()
    ours = solve_tree(net, rate)
    our_seconds = time.perf_counter() - t0
    return {
        "stages": n,
        "cost_echelon": ours.total_cost,
        "cost_stockpyl": float(sp_cost),
        "relative_difference": abs(ours.total_cost - float(sp_cost)) / max(float(sp_cost), 1e-12),
        "seconds_echelon": our_seconds,
        "seconds_stockpyl": sp_seconds,
        "speedup": sp_seconds / max(our_seconds, 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short time limits, small random trees")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="time limit per chain [s] (default 20, quick 2; the largest chain gets 60)")
    ap.add_argument("--holding-rate", type=float, default=0.25, help="annual holding rate [1/year]")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    limit = args.time_limit if args.time_limit is not None else (2.0 if args.quick else 20.0)
    rate = args.holding_rate
    try:  # the shared benchmark helpers, when present
        from _harness import machine as harness_machine  # type: ignore[import-not-found]

        machine_info = harness_machine()
    except ImportError:
        machine_info = {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()}
    result: dict[str, object] = {
        "benchmark": "gsm",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info,
        "command": "python benchmarks/gsm.py" + (" --quick" if args.quick else ""),
        "holding_rate_per_year": rate,
        "time_limit_seconds": limit,
    }
    # warm up the JIT so compile time is not billed to the first chain
    solve_tree(random_tree(20, seed=1), rate)

    refs: list[dict[str, object]] = []
    if REFERENCE.is_dir():
        for name in ("bulldozer", "battery", "digital_camera"):
            data = json.loads((REFERENCE / f"{name}.json").read_text())
            exp = data["expected"]
            cases = exp.get("scenarios") or [{"scenario": 0, "max_service_time_overrides": {},
                                              "optimal_annual_cost": exp["optimal_total_annual_ss_holding_cost"]}]
            for sc in cases:
                d = json.loads(json.dumps(data))
                for st in d["stages"]:
                    if st["id"] in sc["max_service_time_overrides"]:
                        st["max_service_time"] = sc["max_service_time_overrides"][st["id"]]
                net = network_from_dict(d, name)
                t0 = time.perf_counter()
                sol = solve_gsm(net, exp["holding_cost_rate"])
                seconds = time.perf_counter() - t0
                pub = float(sc["optimal_annual_cost"])
                refs.append({"instance": name if not sc["scenario"] else f"{name}-{sc['scenario']}",
                             "stages": net.n_stages, "cost": sol.total_cost, "published_cost": pub,
                             "difference_percent": 100 * (sol.total_cost - pub) / pub,
                             "seconds": seconds})
                print(f"{refs[-1]['instance']:>18}: cost {sol.total_cost:>12,.0f}  published "
                      f"{pub:>10,.0f}  ({refs[-1]['difference_percent']:+.3f} %)  {seconds:.4f} s")
    result["reference_instances"] = refs

    chains: list[dict[str, object]] = []
    if WILLEMS.is_dir():
        files = sorted(WILLEMS.glob("chain_*.json"))
        print(f"{'chain':>5} {'stages':>6} {'arcs':>6} {'method':>12} {'cost':>14} "
              f"{'lower bound':>14} {'gap %':>7} {'seconds':>8}")
        for f in files:
            net = load_network(f)
            largest = net.n_stages >= 2000
            tl = 60.0 if largest and not args.quick else limit
            t0 = time.perf_counter()
            sol = solve_gsm(net, rate, method="auto", time_limit=tl)
            seconds = time.perf_counter() - t0
            row = {
                "chain": f.stem.split("_")[1], "stages": net.n_stages, "arcs": net.n_edges,
                "method": sol.method, "cost": sol.total_cost, "lower_bound": sol.lower_bound,
                "gap_percent": 100 * sol.gap, "seconds": seconds, "time_limit_seconds": tl,
                "grid_step_days": sol.info.get("step_days"),
                "exact_grid": sol.info.get("exact_grid"),
            }
            chains.append(row)
            print(f"{row['chain']:>5} {net.n_stages:>6} {net.n_edges:>6} {sol.method:>12} "
                  f"{sol.total_cost:>14,.0f} {sol.lower_bound:>14,.0f} {100 * sol.gap:>7.3f} "
                  f"{seconds:>8.2f}", flush=True)
        gaps = np.array([c["gap_percent"] for c in chains], dtype=float)
        secs = np.array([c["seconds"] for c in chains], dtype=float)
        result["chains_summary"] = {
            "solved": len(chains), "gap_percent_max": float(gaps.max()),
            "gap_percent_median": float(np.median(gaps)),
            "proven_within_0_01_percent": int((gaps <= 0.01).sum()),
            "within_1_percent": int((gaps <= 1.0).sum()), "seconds_total": float(secs.sum()),
        }
        big = max(chains, key=lambda c: int(c["stages"]))  # type: ignore[arg-type]
        result["largest_chain"] = big
        print(f"summary: {result['chains_summary']}")
    else:
        print(f"skipping Willems chains: {WILLEMS} absent")
    result["chains"] = chains

    trees = []
    for n in ((1000, 2000) if args.quick else (1000, 10000)):
        net = random_tree(n, seed=n)
        t0 = time.perf_counter()
        sol = solve_tree(net, rate)
        seconds = time.perf_counter() - t0
        trees.append({"stages": n, "seconds": seconds, "cost": sol.total_cost,
                      "grid_steps": int(np.ceil(np.max(net.max_inbound + net.stage_time)))})
        print(f"random tree {n:>6} stages: {seconds:.3f} s  cost {sol.total_cost:,.0f}")
    result["random_trees"] = trees

    cmp = stockpyl_compare(200, rate)
    result["stockpyl"] = cmp
    if "skipped" not in cmp:
        print(f"stockpyl 200-stage tree: cost {cmp['cost_stockpyl']:,.2f} vs ours "
              f"{cmp['cost_echelon']:,.2f} (rel. diff {cmp['relative_difference']:.2e}); "
              f"time {cmp['seconds_stockpyl']:.3f} s vs {cmp['seconds_echelon']:.4f} s "
              f"-> {cmp['speedup']:.0f}x faster")
    else:
        print(cmp["skipped"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
