"""Ray scale-out: parallel efficiency and scheduling overhead of `echelon run`.

    python benchmarks/ray_scale.py [--quick] [--sku-locations N]

1. Ray run with 2 workers (local instance): solve-phase wall time (from the first
   submitted batch to the last result; the Ray start-up and the workers' warm-up run
   while the driver plans, and are reported separately), the sum of the batches' own
   compute time, hence the share of solve wall time spent on Ray scheduling,
   serialisation and result handling (including the driver writing part files).
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_result  # noqa: E402

BIN = Path(sys.executable).parent


def _half(data: str, part: int, parts: int) -> None:
    """Child process: plan, then time running every ``parts``-th batch in process."""
    import numba

    from platform_core.batch import run_batch
    from platform_core.config import load_config
    from platform_core.data.loaders import load_dataset
    from platform_core.pipeline import plan_dataset, prepare_components
    from platform_core.plugin_host import PluginHost
    from platform_core.run_context import RunContext

    numba.set_num_threads(1)
    host = PluginHost()
    cfg = load_config()
    ds = load_dataset(data)
    ctx = RunContext("bench", Path(data), Path(data), cfg)
    shared, batches = plan_dataset(ds, cfg, prepare_components(host, cfg, ctx))
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


def _ray_round(data: Path, out: Path) -> dict:
    """One `echelon run` with 2 Ray workers; its summary metrics."""
    subprocess.run([str(BIN / "echelon"), "run", str(data), "--out", str(out), "--executor", "ray",
                    "--num-workers", "2", "--tracking-uri", "none"], check=True, capture_output=True)
    return json.loads((out / "summary.json").read_text())["metrics"]


def _side_by_side_round(data: Path, work: Path) -> float:
    """Two single-process runs of alternate batches, started together; the slower's wall [s]."""
    for k in range(2):
        (work / f"ready-{k}").unlink(missing_ok=True)
    (work / "go").unlink(missing_ok=True)
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, __file__, "--half", str(data), str(k), "2"], stdout=subprocess.PIPE,
                              text=True, env=env) for k in range(2)]
    while not all((work / f"ready-{k}").exists() for k in range(2)):
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a side-by-side process failed")
        time.sleep(0.05)
    (work / "go").write_text("1")
    halves = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return max(h["seconds"] for h in halves)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20,000 SKU-locations, one round")
    ap.add_argument("--sku-locations", type=int)
    ap.add_argument("--rounds", type=int, help="alternating (Ray run, side-by-side run) pairs; medians are reported")
    ap.add_argument("--half", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.half:
        _half(args.half[0], int(args.half[1]), int(args.half[2]))
        return
    n = args.sku_locations or (20_000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="echelon-ray-"))
    try:
        data = work / "data"
        load_before = os.getloadavg()[0]
        subprocess.run([str(BIN / "echelon"), "generate", str(data), "--sku-locations", str(n), "--seed", "7"], check=True, capture_output=True)
        per_round = []
        for r in range(rounds):
            m = _ray_round(data, work / f"ray-{r}")
            shutil.rmtree(work / f"ray-{r}", ignore_errors=True)
            sbs = _side_by_side_round(data, work)
            solve, compute = m["solve_seconds"], m["batch_compute_seconds_total"]
            per_round.append({
                "ray_run_wall_seconds": m["wall_seconds"],
                "ray_start_seconds": m["executor_start_seconds"],
                "ray_shutdown_seconds": m["executor_shutdown_seconds"],
                "driver_result_handling_seconds": m["driver_result_handling_seconds"],
                "ray_2_workers_solve_seconds": solve,
                "ray_batch_compute_seconds_total": compute,
                "ray_overhead_share_of_solve_wall": max(0.0, 1 - compute / (2 * solve)),
                "side_by_side_2_processes_wall_seconds": sbs,
                "parallel_efficiency_ratio": sbs / solve,
            })
            print(f"round {r}: " + ", ".join(f"{k}={v:.3f}" for k, v in per_round[-1].items()), flush=True)
        med = {k: float(np.median([pr[k] for pr in per_round])) for k in per_round[0]}
        row = {
            "sku_locations": n,
            "batches": m["batches"],
            "rounds": rounds,
            "load_average_1min_before": round(load_before, 2),
            **{f"median_{k}": round(v, 4) for k, v in med.items()},
            "median_ray_sku_locations_per_second": round(float(np.median([n / pr["ray_2_workers_solve_seconds"] for pr in per_round])), 1),
            "median_side_by_side_sku_locations_per_second": round(float(np.median([n / pr["side_by_side_2_processes_wall_seconds"] for pr in per_round])), 1),
            "cpu_ms_per_sku_location": round(1000 * med["ray_batch_compute_seconds_total"] / n, 3),
            "per_round": per_round,
        }
        print(f"{'metric':52s} value")
        for k, v in row.items():
            if k != "per_round":
                print(f"{k:52s} {v}")
        write_result("ray_scale_quick" if args.quick else "ray_scale", row)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
