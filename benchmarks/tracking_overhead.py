"""Wall time of `echelon run` with and without MLflow tracking, same data and config.

    python benchmarks/tracking_overhead.py [--quick] [--sku-locations N] [--repeats R]

Generates one dataset (100,000 SKU-locations; 10,000 with --quick), creates the SQLite
tracking store once (as in steady use), then runs `echelon run` alternately with
`--tracking-uri none` and `--tracking-uri sqlite:///…/mlflow.db` (R pairs, default 1),
on the Ray executor with 2 workers.  Reports the median wall time of each, the overhead
[%], the calibration time and the elapsed time of the tracking plugin's background
thread (`tracking.seconds`; it runs at low priority overlapped with the run, so this is
not added wall time) read back from MLflow.  Writes
benchmarks/results/tracking_overhead.json (tracking_overhead_quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_command, write_result  # noqa: E402

BIN = Path(sys.executable).parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10,000 SKU-locations")
    ap.add_argument("--sku-locations", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=1, help="pairs of runs (with / without)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    n = args.sku_locations or (10_000 if args.quick else 100_000)
    work = Path(tempfile.mkdtemp(prefix="echelon-track-"))
    try:
        run_command([str(BIN / "echelon"), "generate", str(work / "data"), "--sku-locations", str(n), "--seed", "7"])
        uri = f"sqlite:///{work / 'mlflow.db'}"
        import mlflow

        mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()  # create the store
        walls: dict[str, list[float]] = {"none": [], "sqlite": []}
        phases: dict[str, list[dict[str, float]]] = {"none": [], "sqlite": []}
        for i in range(args.repeats):
            order = ("none", "sqlite") if i % 2 == 0 else ("sqlite", "none")
            for mode in order:
                out = work / f"out-{mode}-{i}"
                cmd = [str(BIN / "echelon"), "run", str(work / "data"), "--out", str(out),
                       "--executor", "ray", "--num-workers", str(args.workers),
                       "--tracking-uri", "none" if mode == "none" else uri]
                wall, _, _ = run_command(cmd)
                walls[mode].append(wall)
                m = json.loads((out / "summary.json").read_text())["metrics"]
                phases[mode].append({k: round(v, 2) for k, v in m.items() if k.endswith("_seconds") or k.endswith("_total")})
                shutil.rmtree(out, ignore_errors=True)
                print(f"{mode:7s} run {i}: {wall:8.2f} s", flush=True)
        client = mlflow.MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name("echelon")
        runs = client.search_runs([exp.experiment_id]) if exp is not None else []
        cal = [r.data.metrics.get("tracking.calibration_seconds", float("nan")) for r in runs]
        hook = [r.data.metrics.get("tracking.seconds", float("nan")) for r in runs]
        base, tracked = statistics.median(walls["none"]), statistics.median(walls["sqlite"])
        row = {
            "sku_locations": n,
            "ray_workers": args.workers,
            "repeats": args.repeats,
            "wall_seconds_without_tracking": [round(w, 2) for w in walls["none"]],
            "wall_seconds_with_tracking": [round(w, 2) for w in walls["sqlite"]],
            "median_without_s": round(base, 2),
            "median_with_s": round(tracked, 2),
            "overhead_percent": round(100.0 * (tracked - base) / base, 2),
            "phases_without_tracking": phases["none"],
            "phases_with_tracking": phases["sqlite"],
            "calibration_seconds": [round(c, 2) for c in cal],
            "tracking_hook_seconds": [round(c, 2) for c in hook],
            "tracking_hook_percent_of_wall": round(100.0 * statistics.median(hook) / base, 2) if hook else None,
            "calibration_percent_of_wall": round(100.0 * statistics.median(cal) / base, 2) if cal else None,
            "command": f"echelon run DATA --out OUT --num-workers {args.workers} --tracking-uri none|{uri.split(':')[0]}:///mlflow.db",
        }
        print()
        print(f"{'':34s} {'without':>10s} {'with':>10s}")
        print(f"{'wall time (median) [s]':34s} {base:10.2f} {tracked:10.2f}")
        print(f"{'overhead [%]':34s} {row['overhead_percent']:>21.2f}")
        print(f"{'tracker calibration time [s]':34s} {statistics.median(cal) if cal else float('nan'):>21.2f}")
        print(f"{'tracking thread elapsed [s]':34s} {statistics.median(hook) if hook else float('nan'):>21.2f}")
        write_result("tracking_overhead_quick" if args.quick else "tracking_overhead", row)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
