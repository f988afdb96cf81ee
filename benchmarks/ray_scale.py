"""Ray scale-out: parallel efficiency and scheduling overhead of `echelon run`.

    python benchmarks/ray_scale.py [--quick] [--sku-locations N]

1. Ray run with 2 workers (local instance): solve-phase wall time, the sum of the
   batches' own compute time, hence the share of wall time spent on Ray scheduling,
   serialisation and result handling.
2. The same kernel work as two independent single-process runs started side by side
   (each process runs half of the batches in process, Numba single-threaded): their
   combined throughput is the yardstick for the 2-worker Ray run (on this kind of
   machine two vCPUs deliver little more than one core when both are busy, so a raw
   1 -> 2 speed-up measures the host, not the code).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_result  # noqa: E402

BIN = Path(sys.executable).parent


def _half(data: str, part: int, parts: int) -> None:
    """Child process: plan, then time running every ``parts``-th batch in process."""
    import numba

    from platform_core.batch import run_batch
    from platform_core.config import load_config
    from platform_core.data.loaders import load_dataset
    from platform_core.plan import plan_run
    from platform_core.plugin_host import PluginHost

    numba.set_num_threads(1)
    host = PluginHost()
    cfg = load_config()
    ds = load_dataset(data)
    classes = {"forecaster": host.info("forecaster", "bootstrap").cls, "solver": host.info("solver", "single_echelon").cls}
    shared, batches = plan_run(ds, cfg, host.create("lead_time", "empirical"), host.create("cost", "standard"), classes)
    mine = batches[part::parts]
    run_batch(mine[0], shared)  # warm up (kernels are cached on disk; this loads them)
    ready = Path(data).parent / f"ready-{part}"
    ready.write_text("1")
    go = Path(data).parent / "go"
    while not go.exists():
        time.sleep(0.01)
    t0 = time.perf_counter()
    n = 0
    for b in mine:
        n += run_batch(b, shared).num_rows
    print(json.dumps({"seconds": time.perf_counter() - t0, "sku_locations": n}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20,000 SKU-locations")
    ap.add_argument("--sku-locations", type=int)
    ap.add_argument("--half", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.half:
        _half(args.half[0], int(args.half[1]), int(args.half[2]))
        return
    n = args.sku_locations or (20_000 if args.quick else 100_000)
    work = Path(tempfile.mkdtemp(prefix="echelon-ray-"))
    try:
        data = work / "data"
        subprocess.run([str(BIN / "echelon"), "generate", str(data), "--sku-locations", str(n), "--seed", "7"], check=True, capture_output=True)
        # 1. Ray, 2 workers
        subprocess.run([str(BIN / "echelon"), "run", str(data), "--out", str(work / "ray"), "--num-workers", "2",
                        "--tracking-uri", "none"], check=True, capture_output=True)
        m = json.loads((work / "ray" / "summary.json").read_text())["metrics"]
        ray_solve = m["solve_seconds"]
        compute = m["batch_compute_seconds_total"]
        # 2. two independent processes side by side, same batches
        env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
        procs = [subprocess.Popen([sys.executable, __file__, "--half", str(data), str(k), "2"], stdout=subprocess.PIPE, text=True, env=env) for k in range(2)]
        while not all((work / f"ready-{k}").exists() for k in range(2)):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a side-by-side process failed")
            time.sleep(0.05)
        (work / "go").write_text("1")
        halves = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        side_by_side_wall = max(h["seconds"] for h in halves)
        row = {
            "sku_locations": n,
            "batches": m["batches"],
            "ray_2_workers_solve_seconds": round(ray_solve, 2),
            "ray_batch_compute_seconds_total": round(compute, 2),
            "ray_overhead_share_of_wall": round(max(0.0, 1 - compute / (2 * ray_solve)), 4),
            "side_by_side_2_processes_wall_seconds": round(side_by_side_wall, 2),
            "ray_sku_locations_per_second": round(n / ray_solve, 1),
            "side_by_side_sku_locations_per_second": round(n / side_by_side_wall, 1),
            "parallel_efficiency_ratio": round(side_by_side_wall / ray_solve, 4),
            "cpu_ms_per_sku_location": round(1000 * compute / n, 3),
        }
        print(f"{'metric':42s} value")
        for k, v in row.items():
            print(f"{k:42s} {v}")
        write_result("ray_scale_quick" if args.quick else "ray_scale", row)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
