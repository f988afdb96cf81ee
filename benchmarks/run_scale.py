"""End-to-end `echelon run` on N generated SKU-locations: wall time and peak memory.

    python benchmarks/run_scale.py [--quick] [--sku-locations N] [--workers W]

Generates the dataset (timed separately), then runs `echelon run` with the Ray
executor (local instance, W CPUs) and MLflow tracking to SQLite, sampling the summed RSS
of the driver and every child process (Ray's raylet and workers).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_command, run_phases, write_result  # noqa: E402

BIN = Path(sys.executable).parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10,000 SKU-locations")
    ap.add_argument("--sku-locations", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    n = args.sku_locations or (10_000 if args.quick else 100_000)
    work = Path(tempfile.mkdtemp(prefix="echelon-scale-"))
    try:
        gen_wall, _, _ = run_command([str(BIN / "echelon"), "generate", str(work / "data"), "--sku-locations", str(n), "--seed", "7"])
        cmd = [
            str(BIN / "echelon"), "run", str(work / "data"), "--out", str(work / "out"),
            "--num-workers", str(args.workers), "--tracking-uri", f"sqlite:///{work / 'mlflow.db'}",
            "--executor", "ray",  # this benchmark measures Ray, whatever "auto" would choose
        ]
        wall, mem, out = run_command(cmd)
        summary = json.loads((work / "out" / "summary.json").read_text())["metrics"]
        row = {
            "sku_locations": n,
            "ray_workers": args.workers,
            "generate_wall_seconds": round(gen_wall, 2),
            **run_phases(wall, summary),
            "batch_compute_seconds_total": round(summary.get("batch_compute_seconds_total", float("nan")), 2),
            "ray_overhead_share_of_solve": round(1 - summary.get("batch_compute_seconds_total", float("nan")) / (args.workers * summary["solve_seconds"]), 4),
            "peak_rss_driver_bytes": mem.peak_root_bytes,
            "peak_rss_process_tree_bytes": mem.peak_tree_bytes,
            "peak_pss_process_tree_bytes": mem.peak_pss_tree_bytes,
            "sku_locations_per_second": round(n / summary["solve_seconds"], 1),
            "sku_locations_ok": summary["sku_locations_ok"],
            "command": " ".join(["echelon", *cmd[1:2], "DATA", "--out", "OUT", *cmd[5:]]),
        }
        print(f"{'metric':34s} value")
        for k, v in row.items():
            if k.endswith("_bytes"):
                v = f"{v / 2**30:.2f} GiB"
            print(f"{k:34s} {v}")
        name = "run_scale_quick" if args.quick else ("run_scale" if n == 100_000 else f"run_scale_{n}")
        write_result(name, row)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    time.sleep(0)


if __name__ == "__main__":
    main()
