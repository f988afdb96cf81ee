"""`echelon run` with space and budget constraints against the same run without them.

    python benchmarks/constraints_scale.py [--quick] [--sku-locations N] [--workers W]

Generates N SKU-locations (``constraints=True``: item volumes), runs ``echelon run``
(Ray, W workers) without a ``constraints`` table, sets from its recommendations a p95
space limit at the store with the most customer-facing SKU-locations (90 % of the p95
estimate at the recommended levels, the formula of docs/optimisation.md) and a budget
(90 % of the on-hand value), and runs again with them. Reports both wall times, their
ratio (acceptance: at most 1.5), the allocation's own seconds and each constraint's
figures. ``--quick``: 10,000 SKU-locations.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_command, run_phases, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _limits(data: Path, out: Path) -> pa.Table:
    """Space (p95) at the busiest store and a budget, 90 % of what the free run's levels use."""
    rec = pq.read_table(out / "recommendations.parquet").to_pandas()
    stages = pq.read_table(data / "stages.parquet", columns=["sku", "location", "unit_cost", "unit_volume_m3"])
    rec = rec.merge(stages.to_pandas(), on=["sku", "location"])
    ok = rec[rec["status"] == "ok"]
    stores = ok[ok["location"].str.startswith("S")]
    loc = stores["location"].value_counts().index[0]
    at = ok[ok["location"] == loc]
    v, m, s = at["unit_volume_m3"], at["mean_on_hand"], at["base_stock_level"]
    p95 = float((v * m).sum() + 1.6448536269514722 * math.sqrt(float((v ** 2 * np.maximum(s * m - m ** 2, 0)).sum())))
    value = float((ok["unit_cost"] * ok["mean_on_hand"]).sum())
    return pa.table({"constraint_id": [f"space_{loc}", "budget"], "constraint_type": ["location_space", "budget"],
                     "location": [loc, None], "supplier": pa.nulls(2, pa.string()), "limit": [0.9 * p95, 0.9 * value],
                     "unit": ["m3", "currency"], "statistic": ["p95", "on_hand_value"]})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10,000 SKU-locations")
    ap.add_argument("--sku-locations", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    n = args.sku_locations or (10_000 if args.quick else 100_000)
    work = Path(tempfile.mkdtemp(prefix="echelon-constraints-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), str(REPO / "plugins"), str(REPO / "cluster"), os.environ.get("PYTHONPATH", "")])}
    cli = [sys.executable, "-m", "platform_core.cli"]
    try:
        from platform_core.data.generate import generate_dataset

        generate_dataset(work / "data", n, seed=7, constraints=True)
        os.remove(work / "data" / "constraints.parquet")  # the free run: no constraints table

        def echelon_run(out: str) -> tuple[float, dict[str, object]]:
            cmd = [*cli, "run", str(work / "data"), "--out", str(work / out), "--num-workers", str(args.workers),
                   "--tracking-uri", f"sqlite:///{work / 'mlflow.db'}", "--executor", "ray"]
            wall, _mem, _out = run_command(cmd, env=env)
            return wall, json.loads((work / out / "summary.json").read_text())

        free_wall, free = echelon_run("out_free")
        pq.write_table(_limits(work / "data", work / "out_free"), work / "data" / "constraints.parquet")
        bound_wall, bound = echelon_run("out_bound")
        alloc = bound["allocation"]
        row = {
            "sku_locations": n, "ray_workers": args.workers,
            "free": run_phases(free_wall, free["metrics"]),
            "constrained": run_phases(bound_wall, bound["metrics"]),
            "wall_ratio_constrained_to_free": round(bound_wall / free_wall, 3),
            "allocation_seconds": round(float(alloc["seconds"]), 3),
            "networks": alloc["networks"], "networks_cut": alloc["networks_cut"], "rows_cut": alloc["rows_cut"],
            "constraints": [{k: c[k] for k in ("constraint_id", "statistic", "limit", "used", "used_at_recommendation",
                                                "binds", "shadow_price", "feasible")} for c in bound["constraints"]],
            "customer_fill_free": free["metrics"]["customer_fill_rate_demand_weighted"],
            "customer_fill_constrained": bound["metrics"]["customer_fill_rate_demand_weighted"],
        }
        print(json.dumps(row, indent=2))
        name = "constraints_scale_quick" if args.quick else ("constraints_scale" if n == 100_000
                                                             else f"constraints_scale_{n}")
        write_result(name, row)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
