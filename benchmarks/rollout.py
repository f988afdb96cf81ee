"""Gradual rollout (#19): does the effect's 95 % interval cover the known truth?

One real ``echelon run`` (generated dataset, 1,500 SKU-locations in 100 networks, seed 5,
solver 20 replications x 150 periods; or ``--run OUT`` of an earlier run), then for each
of ``--seeds`` seeds (50 by default):

1. ``plan_rollout`` — 3 waves by the ``abc`` rule, 30 % of each wave's networks held back,
   seed ``s``;
2. ``generate_outcomes`` — 13 periods before wave 1 and after wave 3, 20 % of the treated
   SKU-locations overridden, realised fill 5 pp below the promise for ``lumpy`` items
   after adoption, seed ``s``;
3. the ledger, the effect per wave (difference in differences, network-clustered CR1
   standard errors, t intervals) and the promise table.

Reported: the share of the 300 intervals (50 seeds x 3 waves x 2 outcomes) that cover
the scenario's true effect (target >= 90 %), per outcome; whether the adoption and
override rates equal the scenario's exactly in every wave of every seed; the largest
|standardised difference| of any control group; how often the promise drift is flagged
for ``lumpy`` and for any other class (the monitor's rule,
``platform_core.rollout.promise.flag_promise_drift``).

Usage: python benchmarks/rollout.py [--seeds 50] [--run OUT]
Writes benchmarks/results/rollout.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "benchmarks", ROOT, ROOT / "plugins", ROOT / "cluster"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _harness import write_result  # noqa: E402

from platform_core.rollout import (  # noqa: E402
    build_ledger,
    flag_promise_drift,
    load_units,
    plan_rollout,
    promise_by_class,
    wave_effects,
)
from platform_core.rollout.scenario import generate_outcomes  # noqa: E402


def _run(tmp: Path) -> Path:
    from platform_core.config import load_config
    from platform_core.data.generate import generate_dataset
    from platform_core.pipeline import run

    generate_dataset(tmp / "data", sku_locations=1500, seed=5)
    config = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                    "solver": {"replications": 20, "periods": 150}})
    run(tmp / "data", tmp / "out", config)
    return tmp / "out"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--run", default=None, help="an earlier run's output directory")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="echelon-rollout-bench-") as tmp:
        t0 = time.perf_counter()
        out = Path(args.run) if args.run else _run(Path(tmp))
        run_seconds = time.perf_counter() - t0
        units = load_units(out)
        covered = {"fill": [], "inventory_value": []}
        rates_exact = True
        worst_std_diff = 0.0
        lumpy_flagged = 0
        other_flagged = 0
        t1 = time.perf_counter()
        for seed in range(args.seeds):
            plan = plan_rollout(units, waves=3, rule="abc", control_fraction=0.3, seed=seed)
            worst_std_diff = max(worst_std_diff, plan.max_abs_std_diff)
            table, truth = generate_outcomes(units, plan, seed=seed, override_rate=0.2,
                                             promise_drift={"lumpy": 0.05})
            ledger = build_ledger(units, plan, table)
            for e in wave_effects(ledger):
                w = truth["waves"][str(e.wave)]
                true = w["fill_effect"] if e.outcome == "fill" else w["inventory_value_effect"]
                covered[e.outcome].append(bool(e.ci_low <= true <= e.ci_high))
                rates_exact &= (e.adoption_rate == w["adopted_units"] / w["treated_units"]
                                and e.override_rate == w["overridden_units"] / w["treated_units"])
            promise = promise_by_class(ledger)
            flags = set(promise.loc[flag_promise_drift(promise), "demand_class"])
            lumpy_flagged += "lumpy" in flags
            other_flagged += bool(flags - {"lumpy"})
        everything = covered["fill"] + covered["inventory_value"]
        result = {
            "seeds": args.seeds, "sku_locations": len(units.table),
            "networks": int(units.table["network"].nunique()),
            "coverage_95_all": float(np.mean(everything)), "intervals": len(everything),
            "coverage_95_fill": float(np.mean(covered["fill"])),
            "coverage_95_inventory_value": float(np.mean(covered["inventory_value"])),
            "adoption_override_rates_exact": bool(rates_exact),
            "max_abs_std_diff": worst_std_diff,
            "promise_drift_lumpy_flagged_share": lumpy_flagged / args.seeds,
            "promise_drift_other_class_flagged_share": other_flagged / args.seeds,
            "run_seconds": round(run_seconds, 1),
            "seconds_per_seed": round((time.perf_counter() - t1) / args.seeds, 2),
        }
    print(json.dumps(result, indent=2))
    print(f"written: {write_result('rollout', result)}")


if __name__ == "__main__":
    main()
