"""The per-batch cost outside the solver (#14, #18): explain, compare, fill interval, finish.

    python benchmarks/batch_overhead.py [--quick] [--sku-locations N] [--solvers a,b] [--repeats K] [--label L]

Generates N SKU-locations (default 5,000, seed 7; quick 1,000), plans them as ``echelon
run`` does (default configuration, the solver named) and, per batch, builds the problem
and solves it once (``platform_core.batch.stage_problem``, ``solver.solve``: not timed).
Then, in one process, it times what ``platform_core.batch._solve`` does with the solver's
table, in the same order and on the same inputs, in CPU seconds (``time.process_time``,
median of K repeats, summed over the batches and divided by their number):

* ``explain_levels`` (the analytic split of each level, ``platform_core.explain``);
* ``compare_with_today`` without the solver's own simulation of today's policy
  (``evaluate_policies`` is timed apart: another issue's);
* the fill-rate interval (``_with_fill_interval``: ``platform_core.forecasting.fill_interval``);
* ``_finish`` (status, messages, the recommendation table).

Run it on another checkout (``PYTHONPATH`` naming that one's packages) to time its
functions on the same problems; ``--label before`` then writes
``batch_overhead_before.json``.  Writes benchmarks/results/batch_overhead[_quick][_LABEL].json.
Run it under the machine's benchmark lock: ``flock /tmp/echelon-bench.lock python ...``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_result  # noqa: E402

from platform_core import batch  # noqa: E402
from platform_core.compare import compare_with_today  # noqa: E402
from platform_core.config import load_config  # noqa: E402
from platform_core.data.generate import generate_dataset  # noqa: E402
from platform_core.data.loaders import load_dataset  # noqa: E402
from platform_core.explain import explain_levels  # noqa: E402
from platform_core.pipeline import plan_dataset, prepare_components  # noqa: E402
from platform_core.plugin_host import PluginHost  # noqa: E402
from platform_core.run_context import RunContext  # noqa: E402

PARTS = ("explain_levels", "compare_with_today", "fill_rate_interval", "finish")


def _batches(data_dir: Path, solver: str) -> list[dict[str, Any]]:
    """Every batch's inputs to the functions timed, as ``batch._solve`` builds them."""
    host = PluginHost()
    config = load_config(None, {"components": {"solver": solver}}, host=host)
    ctx = RunContext(run_id=uuid.uuid4().hex, data_dir=data_dir, out_dir=data_dir / "unused", config=config)
    specs = prepare_components(host, config, ctx)
    shared, plan = plan_dataset(load_dataset(data_dir, period_days=config.run.period_days), config, specs)
    out = []
    for b in plan:
        idx = np.arange(b.start, b.stop, dtype=np.int64)
        problem, forecaster = batch.stage_problem(shared, idx)
        solver_obj = shared.settings.solver.build()
        out.append({"shared": shared, "idx": idx, "problem": problem, "forecaster": forecaster,
                    "solver": solver_obj, "table": solver_obj.solve(problem),
                    "network_aware": shared.settings.solver.cls.network_aware})
    return out


class _EvaluateClock:
    """CPU seconds inside ``solver.evaluate_policies`` (taken out of compare's figure)."""

    def __init__(self, solver: Any) -> None:
        self.seconds = 0.0
        self.solver = solver
        self.original = solver.evaluate_policies

    def __enter__(self) -> _EvaluateClock:
        def timed(*args: Any, **kw: Any) -> Any:
            c = time.process_time()
            try:
                return self.original(*args, **kw)
            finally:
                self.seconds += time.process_time() - c
        self.solver.evaluate_policies = timed
        return self

    def __exit__(self, *exc: object) -> None:
        del self.solver.evaluate_policies  # the class's method again


def _time_batch(b: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of each part on one batch, in ``batch._solve``'s order."""
    shared, idx, problem, solver = b["shared"], b["idx"], b["problem"], b["solver"]
    out: dict[str, float] = {}
    c = time.process_time()
    table = explain_levels(problem, b["table"], network_aware=b["network_aware"])
    out["explain_levels"] = time.process_time() - c
    with _EvaluateClock(solver) as ev:
        c = time.process_time()
        table = compare_with_today(shared, idx, problem, solver, table)
        total = time.process_time() - c
    out["compare_with_today"] = total - ev.seconds
    out["evaluate_policies"] = ev.seconds
    c = time.process_time()
    table = batch._with_fill_interval(table, problem, b["forecaster"])
    out["fill_rate_interval"] = time.process_time() - c
    c = time.process_time()
    batch._finish(shared, idx, table, [""] * idx.size)
    out["finish"] = time.process_time() - c
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 SKU-locations")
    ap.add_argument("--sku-locations", type=int)
    ap.add_argument("--solvers", default="single_echelon,multi_echelon")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--label", default="", help="suffix of the result file (e.g. before)")
    args = ap.parse_args()
    n = args.sku_locations or (1000 if args.quick else 5000)
    result: dict[str, Any] = {"sku_locations": n, "repeats": args.repeats, "solvers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(Path(tmp) / "data", sku_locations=n, seed=7)
        for solver in args.solvers.split(","):
            batches = _batches(Path(tmp) / "data", solver)
            _time_batch(batches[0])  # compiled kernels loaded outside the clock
            runs = [[_time_batch(b) for b in batches] for _ in range(args.repeats)]
            per_batch = {f"{part}_cpu_seconds_per_batch": statistics.median(
                sum(t[part] for t in run) for run in runs) / len(batches)
                for part in (*PARTS, "evaluate_policies")}
            per_batch["overhead_cpu_seconds_per_batch"] = sum(per_batch[f"{p}_cpu_seconds_per_batch"] for p in PARTS)
            result["solvers"][solver] = {"batches": len(batches),
                                         "stages": int(sum(b["idx"].size for b in batches)), **per_batch}
    name = "batch_overhead" + ("_quick" if args.quick else "") + (f"_{args.label}" if args.label else "")
    path = write_result(name, result)
    print(f"{n:,} SKU-locations; CPU seconds per batch, median of {args.repeats}")
    print(f"{'':28s}" + "".join(f"{s:>18s}" for s in result["solvers"]))
    for part in (*PARTS, "overhead", "evaluate_policies"):
        key = f"{part}_cpu_seconds_per_batch"
        label = part if part != "overhead" else "sum of the four above"
        print(f"{label:28s}" + "".join(f"{r[key]:18.4f}" for r in result["solvers"].values()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
