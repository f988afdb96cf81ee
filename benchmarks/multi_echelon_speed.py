"""Multi-echelon by default (#14): end-to-end speed of the default solver vs `single_echelon`.

    python benchmarks/multi_echelon_speed.py [--quick] [--sku-locations N] [--workers W]
        [--solver NAME ...]

Generates N SKU-locations once (default 200,000; quick 10,000), then runs
`echelon run` on that same dataset once per solver (default: ``single_echelon``, then
``multi_echelon``), each with the solver chosen by a config file (``[components]
solver = NAME``, every other setting the default), the same executor (Ray, local
instance with W CPUs) and MLflow tracking to SQLite, as ``run_scale.py`` does.  For each
run: wall time, the run's own phase times (``summary.json``), SKU-locations per second
end to end and in the solve phase, and the peak memory of the process tree sampled every
0.2 s: summed RSS and summed PSS (``/proc/PID/smaps_rollup`` of the driver and every
descendant, e.g. Ray's raylet and workers; PSS shares each shared page among the
processes that map it, so it is the tree's real footprint).  The ratio of the default's
end-to-end throughput to ``single_echelon``'s comes from the same invocation.

``--sku-locations 1000000 --solver multi_echelon`` is the issue's million check
(<= 15 min, process-tree PSS <= 8 GB); its limits are reported next to the figures.

Writes benchmarks/results/multi_echelon_speed[_quick | _N].json.  Heavy runs belong under
``flock /tmp/echelon-bench.lock``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_command, run_phases, write_result  # noqa: E402

BIN = Path(sys.executable).parent
PEER = "single_echelon"
DEFAULT = "multi_echelon"
#: the issue's limits for the default solver
MIN_THROUGHPUT_RATIO = 0.60
MILLION_WALL_LIMIT_SECONDS = 15 * 60
MILLION_PSS_LIMIT_BYTES = 8 * 10**9


def run_solver(data: Path, work: Path, solver: str, workers: int) -> dict[str, Any]:
    """One `echelon run` of ``data`` with ``solver``; its timings and peak memory."""
    config = work / f"{solver}.toml"
    config.write_text(f'[components]\nsolver = "{solver}"\n')
    out = work / f"out-{solver}"
    cmd = [
        str(BIN / "echelon"), "run", str(data), "--out", str(out), "--config", str(config),
        "--num-workers", str(workers), "--tracking-uri", f"sqlite:///{work / f'mlflow-{solver}.db'}",
        "--executor", "ray",  # the same executor for every solver, whatever "auto" would choose
    ]
    wall, mem, _ = run_command(cmd)
    summary = json.loads((out / "summary.json").read_text())["metrics"]
    n = int(summary["sku_locations"])
    compute = summary.get("batch_compute_seconds_total", float("nan"))
    row = {
        "solver": solver,
        **run_phases(wall, summary),
        "batches": int(summary["batches"]),
        "batch_compute_seconds_total": round(compute, 2),
        "sku_locations_per_second_end_to_end": round(n / wall, 1),
        "sku_locations_per_second_solve": round(n / summary["solve_seconds"], 1),
        "peak_rss_driver_bytes": mem.peak_root_bytes,
        "peak_rss_process_tree_bytes": mem.peak_tree_bytes,
        "peak_pss_process_tree_bytes": mem.peak_pss_tree_bytes,
        "sku_locations_ok": int(summary["sku_locations_ok"]),
        "sku_locations_error": int(summary["sku_locations_error"]),
        "fill_rate_demand_weighted": summary["fill_rate_demand_weighted"],
        "customer_fill_rate_demand_weighted": summary.get("customer_fill_rate_demand_weighted", float("nan")),
        "inventory_investment_currency": summary["inventory_investment_currency"],
        "command": " ".join(["echelon", "run", "DATA", "--out", "OUT", "--config", f"{solver}.toml", *cmd[7:9],
                             "--tracking-uri", "sqlite:///mlflow.db", *cmd[11:]]),
    }
    if row["sku_locations_error"]:
        print(f"warning: {solver}: {row['sku_locations_error']} SKU-locations ended in error", file=sys.stderr)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10,000 SKU-locations")
    ap.add_argument("--sku-locations", type=int, default=None, help="default 200,000 (quick 10,000)")
    ap.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance")
    ap.add_argument("--solver", action="append", default=None,
                    help=f"a solver to run (repeatable; default: {PEER} then {DEFAULT})")
    ap.add_argument("--keep", action="store_true", help="keep the generated data and outputs")
    args = ap.parse_args()
    n = args.sku_locations or (10_000 if args.quick else 200_000)
    if n < 1:
        ap.error("--sku-locations must be >= 1")
    solvers = args.solver or [PEER, DEFAULT]
    work = Path(tempfile.mkdtemp(prefix="echelon-me-speed-"))
    try:
        gen_wall, _, _ = run_command([str(BIN / "echelon"), "generate", str(work / "data"),
                                      "--sku-locations", str(n), "--seed", "7"])
        rows = []
        for solver in solvers:
            rows.append(run_solver(work / "data", work, solver, args.workers))
            print(f"{solver}: {rows[-1]['run_wall_seconds']:.0f} s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    by = {r["solver"]: r for r in rows}
    default = next((s for s in solvers if s != PEER), None)
    ratio = {}
    if PEER in by and default is not None:
        ratio = {
            "default_solver": default,
            "end_to_end_throughput_ratio": round(by[default]["sku_locations_per_second_end_to_end"]
                                                 / by[PEER]["sku_locations_per_second_end_to_end"], 4),
            "solve_phase_throughput_ratio": round(by[default]["sku_locations_per_second_solve"]
                                                  / by[PEER]["sku_locations_per_second_solve"], 4),
            "required_end_to_end_throughput_ratio": MIN_THROUGHPUT_RATIO,
        }
    limits = {}
    if n >= 1_000_000:
        limits = {"wall_limit_seconds": MILLION_WALL_LIMIT_SECONDS, "pss_limit_bytes": MILLION_PSS_LIMIT_BYTES,
                  **{f"{r['solver']}_within_limits": bool(r["run_wall_seconds"] <= MILLION_WALL_LIMIT_SECONDS
                                                         and r["peak_pss_process_tree_bytes"] <= MILLION_PSS_LIMIT_BYTES)
                     for r in rows}}

    keys = [k for k in rows[0] if k not in ("solver", "command")]
    print(f"\n{n:,} SKU-locations, Ray with {args.workers} workers (generation {gen_wall:.0f} s)")
    print(f"{'metric':40s}" + "".join(f"{r['solver']:>20s}" for r in rows))
    for k in keys:
        vals = []
        for r in rows:
            v = r[k]
            if k.endswith("_bytes"):
                vals.append(f"{v / 2**30:.2f} GiB")
            elif isinstance(v, float):
                vals.append(f"{v:,.4f}" if abs(v) < 10 else f"{v:,.2f}")
            else:
                vals.append(f"{v:,}")
        print(f"{k:40s}" + "".join(f"{v:>20s}" for v in vals))
    for k, v in {**ratio, **limits}.items():
        print(f"{k}: {v}")

    name = "multi_echelon_speed" + ("_quick" if args.quick else ("" if n == 200_000 else f"_{n}"))
    payload = {
        "command": "python benchmarks/multi_echelon_speed.py" + (" --quick" if args.quick else "")
        + (f" --sku-locations {n}" if args.sku_locations else "")
        + (f" --workers {args.workers}" if args.workers != 2 else "")
        + "".join(f" --solver {s}" for s in (args.solver or [])),
        "sku_locations": n,
        "ray_workers": args.workers,
        "generate_wall_seconds": round(gen_wall, 2),
        "runs": rows,
        "ratio": ratio,
        "limits": limits,
    }
    path = write_result(name, payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
