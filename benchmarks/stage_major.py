"""The stage-major tree kernel against the fast tree kernel on multi_echelon's own engine calls (#14).

    python benchmarks/stage_major.py [--quick] [--sku-locations N] [--repeats K] [--general]

Generates N SKU-locations (default 2,000 as ``make demo``; quick 600, seed 7), plans them
as ``echelon run`` does, runs ``multi_echelon`` on every batch and records each call it
makes to the engine (the search runs and the final 100 x 365 run, with their networks,
levels, joint demand and position histograms). Then it replays every recorded call with
the engine's kernel choice of

* ``before``: the fast tree kernel (the choice ``kernel="auto"`` made before the
  stage-major kernel: int64 on lines, float64 in exact mode on other trees),
* ``stage_major``: ``kernel="auto"`` now (the stage-major kernel wherever it applies),
* ``general`` (with ``--general``): the general kernel,

checks that all give identical metrics and histograms, and reports the kernels' CPU time
(``time.process_time`` around the kernel calls only, one Numba thread, the median of K
repeats) in ns per stage-period, for the search and the final runs.

Writes benchmarks/results/stage_major[_quick].json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_result  # noqa: E402


def _record(n: int) -> tuple[list[tuple[Any, ...]], int]:
    """Every engine call of multi_echelon on n generated SKU-locations: (solver, nets, levels, search, stages)."""
    from echelon_solvers import multi_echelon as me
    from multi_echelon_value import planned_problems

    from platform_core.data.generate import generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(Path(tmp) / "data", sku_locations=n, seed=7)
        problems = planned_problems(Path(tmp) / "data", "multi_echelon")[0]
    calls: list[tuple[Any, ...]] = []
    run = me.MultiEchelonSolver._run

    def recording(self: Any, nets: Any, levels: Any, search: bool, stages: Any = None) -> Any:
        calls.append((self, nets, [np.array(lv, copy=True) for lv in levels], search, stages))
        return run(self, nets, levels, search, stages)

    me.MultiEchelonSolver._run = recording  # type: ignore[method-assign]
    try:
        for p in problems:
            me.MultiEchelonSolver().solve(p)
    finally:
        me.MultiEchelonSolver._run = run  # type: ignore[method-assign]
    return calls, sum(len(p.keys) for p in problems)


class _Mode:
    """Replays calls with one kernel choice, timing the kernels (CPU seconds) per phase."""

    def __init__(self, mode: str) -> None:
        import platform_core.simulation.engine as engine

        self.engine, self.mode = engine, mode
        self.cpu = {"search": 0.0, "final": 0.0}
        self.stage_periods = {"search": 0.0, "final": 0.0}

    def replay(self, calls: list[tuple[Any, ...]]) -> list[Any]:
        engine = self.engine
        orig_choice, orig_sm, orig_fk = engine._kernel_choice, engine.SM.simulate_all, engine.FK.simulate_all
        phase = "search"

        def choice(blocks: Any, n_total: int, kernel: str = "auto", backorders: bool = True,
                   allocation: str = "fifo") -> Any:
            if self.mode == "general":
                return orig_choice(blocks, n_total, "general", backorders, allocation)
            if self.mode == "before":  # the fast kernel's choice (the stage-major kernel needs backorders)
                return orig_choice(blocks, n_total, kernel, False, allocation)
            return orig_choice(blocks, n_total, kernel, backorders, allocation)

        def timed(fn: Any) -> Any:
            def call(*args: Any) -> Any:
                run, net_i = args[5], args[1].net_i
                c = time.process_time()
                res = fn(*args)
                self.cpu[phase] += time.process_time() - c
                # stages simulated: the networks of idx (stage-major) or of the rows passed
                rows = net_i[args[0]] if fn is orig_sm else net_i
                self.stage_periods[phase] += float(np.sum(rows[:, 1] - rows[:, 0])) * run.n_reps * run.n_total
                return res
            return call

        engine._kernel_choice = choice
        engine.SM.simulate_all = timed(orig_sm)
        engine.FK.simulate_all = timed(orig_fk)
        results = []
        try:
            for solver, nets, levels, search, stages in calls:
                phase = "search" if search else "final"
                results.append(solver._run(nets, levels, search, stages))
        finally:
            engine._kernel_choice, engine.SM.simulate_all, engine.FK.simulate_all = orig_choice, orig_sm, orig_fk
        return results


def _same(a: Any, b: Any) -> bool:
    ok = all(np.array_equal(a.replicates[m], b.replicates[m], equal_nan=True) for m in a.replicates)
    if a.positions is not None:
        for f in ("x_counts", "y_counts", "x_tail_n", "x_tail_sum", "y_tail_n", "y_tail_sum", "demand_sum"):
            ok = ok and np.array_equal(getattr(a.positions, f), getattr(b.positions, f))
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sku-locations", type=int)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--general", action="store_true", help="also time the general kernel")
    args = ap.parse_args()
    n = args.sku_locations or (600 if args.quick else 2000)
    numba.set_num_threads(1)
    calls, stages = _record(n)
    modes = ["before", "stage_major"] + (["general"] if args.general else [])
    first = {m: _Mode(m).replay(calls[:2]) for m in modes}  # compiled kernels loaded outside the clock
    del first
    ns: dict[str, dict[str, list[float]]] = {m: {"search": [], "final": []} for m in modes}
    cpu: dict[str, dict[str, list[float]]] = {m: {"search": [], "final": []} for m in modes}
    identical = True
    for _ in range(args.repeats):
        ref = None
        for m in modes:
            md = _Mode(m)
            res = md.replay(calls)
            if ref is None:
                ref = res
            else:
                identical = identical and all(_same(a, b) for a, b in zip(ref, res, strict=True))
            for ph in ("search", "final"):
                cpu[m][ph].append(md.cpu[ph])
                ns[m][ph].append(1e9 * md.cpu[ph] / max(md.stage_periods[ph], 1.0))
    med = {m: {ph: statistics.median(ns[m][ph]) for ph in ("search", "final")} for m in modes}
    med_cpu = {m: {ph: statistics.median(cpu[m][ph]) for ph in ("search", "final")} for m in modes}
    result = {"sku_locations": n, "stages": stages, "engine_calls": len(calls), "repeats": args.repeats,
              "numba_threads": 1, "identical": identical, "ns_per_stage_period": med, "kernel_cpu_seconds": med_cpu,
              "all_ns": ns}
    path = write_result("stage_major_quick" if args.quick else "stage_major", result)
    print(f"{n:,} SKU-locations, {stages:,} stages, {len(calls)} engine calls of multi_echelon; kernel CPU, "
          f"1 Numba thread, median of {args.repeats}; identical results: {identical}")
    print(f"{'kernel':14s}{'search ns/sp':>14s}{'final ns/sp':>14s}{'search CPU-s':>14s}{'final CPU-s':>14s}")
    for m in modes:
        print(f"{m:14s}{med[m]['search']:14.1f}{med[m]['final']:14.1f}{med_cpu[m]['search']:14.2f}"
              f"{med_cpu[m]['final']:14.2f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
