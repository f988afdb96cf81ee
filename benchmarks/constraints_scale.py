"""`echelon run` with space and budget constraints against the same run without them.

    python benchmarks/constraints_scale.py [--quick] [--sku-locations N] [--workers W]
    python benchmarks/constraints_scale.py --allocation-only [--sku-locations N]

Generates N SKU-locations (``constraints=True``: item volumes), runs ``echelon run``
(Ray, W workers) without a ``constraints`` table, sets from its recommendations a p95
space limit at the store with the most customer-facing SKU-locations (the free plan's
mean on-hand volume there, so it binds) and a budget (90 % of the on-hand value), and
runs again with them. Reports both wall times, their
ratio (acceptance: at most 1.5), the allocation's own seconds and each constraint's
figures (the run's estimate ``planned``, its SE and the confidence margin included). ``--quick``: 10,000 SKU-locations.

``--allocation-only`` times the driver's allocation step alone at N SKU-locations: a run of
240 generated SKU-locations (in process) hands its merged recommendations and frontier
points to :func:`platform_core.constraints.apply_constraints`, which is then called on
copies of them tiled to N rows (each copy its own networks), without and with a binding
space limit (85 %) and budget (90 %).
"""

from __future__ import annotations

import argparse
import json
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
    mean_volume = float((at["unit_volume_m3"] * at["mean_on_hand"]).sum())
    value = float((ok["unit_cost"] * ok["mean_on_hand"]).sum())
    # a p95 limit at the free plan's mean volume there: binds whenever on hand varies
    return pa.table({"constraint_id": [f"space_{loc}", "budget"], "constraint_type": ["location_space", "budget"],
                     "location": [loc, None], "supplier": pa.nulls(2, pa.string()), "limit": [mean_volume, 0.9 * value],
                     "unit": ["m3", "currency"], "statistic": ["p95", "on_hand_value"]})


def allocation_only(n: int, work: Path) -> dict[str, object]:
    """Seconds of ``apply_constraints`` on N tiled rows of a small run's output (see module doc)."""
    import dataclasses
    import time
    import types

    import platform_core.pipeline as pipeline
    from platform_core.config import load_config
    from platform_core.data.generate import generate_dataset

    generate_dataset(work / "small", 240, seed=11, constraints=True)
    captured: list[tuple[object, ...]] = []
    real = pipeline.apply_constraints

    def capture(*args: object) -> object:
        captured.append(args)
        return real(*args)  # type: ignore[arg-type]

    pipeline.apply_constraints = capture  # type: ignore[assignment]
    config = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                    "solver": {"replications": 20, "periods": 150}})
    pipeline.run(work / "small", work / "small_out", config, progress=False)
    rec, side, shared, inputs = captured[0]
    reps = -(-n // rec.num_rows)
    rows = rec.num_rows
    off = np.repeat(np.arange(reps), rows)
    nid = np.asarray(shared.network_id)
    big_shared = types.SimpleNamespace(
        input_row=np.tile(np.asarray(shared.input_row), reps) + off * rows,
        network_id=np.tile(nid, reps) + off * (int(nid.max()) + 1),
        unit_cost=np.tile(shared.unit_cost, reps), stockout_cost=np.tile(shared.stockout_cost, reps),
        holding_cost=np.tile(shared.holding_cost, reps))
    has = np.asarray(pa.compute.is_valid(side.column("frontier_level")).to_numpy(zero_copy_only=False), dtype=bool)
    loc = max(set(inputs.location[has]), key=lambda x: int(np.sum(inputs.location[has] == x)))
    big = dataclasses.replace(inputs, unit_volume_m3=np.tile(inputs.unit_volume_m3, reps),
                              location=np.tile(inputs.location, reps), supplier=np.tile(inputs.supplier, reps))
    space, budget = (c for c in inputs.constraints if c.constraint_type in ("location_space", "budget"))
    loose = dataclasses.replace(big, constraints=(dataclasses.replace(space, location=loc, limit=1e12),
                                                  dataclasses.replace(budget, limit=1e12)))
    recs, sides = pa.concat_tables([rec] * reps), pa.concat_tables([side] * reps)
    t0 = time.perf_counter()
    _, sec = real(recs, sides, big_shared, loose)
    free_s = time.perf_counter() - t0
    used = [c["used_at_recommendation"] for c in sec["constraints"]]
    tight = dataclasses.replace(big, constraints=(dataclasses.replace(space, location=loc, limit=0.85 * used[0]),
                                                  dataclasses.replace(budget, limit=0.9 * used[1])))
    t0 = time.perf_counter()
    _, sec = real(recs, sides, big_shared, tight)
    bound_s = time.perf_counter() - t0
    return {"sku_locations": recs.num_rows, "networks": sec["allocation"]["networks"],
            "apply_seconds_nothing_binding": round(free_s, 3), "apply_seconds_binding": round(bound_s, 3),
            "allocation_seconds": round(float(sec["allocation"]["seconds"]), 3),
            "rows_cut": sec["allocation"]["rows_cut"],
            "constraints": [{k: c.get(k) for k in ("constraint_id", "limit", "used", "planned", "planned_se", "margin",
                                                    "confidence", "binds", "shadow_price", "feasible")}
                            for c in sec["constraints"] if c["constraint_type"] != "supplier_capacity"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10,000 SKU-locations")
    ap.add_argument("--sku-locations", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--allocation-only", action="store_true", help="time the allocation step alone")
    args = ap.parse_args()
    n = args.sku_locations or (10_000 if args.quick else 100_000)
    work = Path(tempfile.mkdtemp(prefix="echelon-constraints-"))
    if args.allocation_only:
        try:
            row = allocation_only(n, work)
            print(json.dumps(row, indent=2))
            write_result(f"constraints_allocation_{n}", row)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
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
            "constraints": [{k: c.get(k) for k in ("constraint_id", "statistic", "limit", "used", "used_at_recommendation",
                                                    "planned", "planned_se", "margin", "confidence", "estimated_on",
                                                    "binds", "shadow_price", "feasible")}
                            for c in bound["constraints"]],
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
