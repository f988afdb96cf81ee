"""Where `multi_echelon`'s time goes (#14): CPU cost per batch against `single_echelon`.

    python benchmarks/solve_cost.py [--quick] [--sku-locations N] [--repeats K]

Generates N SKU-locations (default 2,000 as ``make demo``; quick 600), plans them as
``echelon run`` does (default configuration) and gives both solvers the very
:class:`StageProblem` of each batch (``platform_core.batch.stage_problem``).  In one
process with one Numba thread it measures CPU seconds (``time.process_time``, less
sensitive to other jobs than wall time; the median of K repeats) of:

* ``single_echelon.solve`` and ``multi_echelon.solve`` (the peer's figure and the ratio
  from the same run);
* inside ``multi_echelon``: the engine's kernels (``_fast_kernels.simulate_all`` and the
  stage-major ``_stage_major.simulate_all``) in the search runs and in the final run, and
  the rest (Python: packing, curves, choices);
* the engine's kernel cost per stage-period [ns] on the final run's networks and, beside
  it, on the synthetic one-DC-20-stores tree of ``benchmarks/simulation.py`` (the
  "~10-20 ns" figure), so the gap between the two is measured, not guessed.

Writes benchmarks/results/solve_cost[_quick].json.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_result  # noqa: E402


def _problems(n: int, work: Path) -> list[Any]:
    """Every batch's StageProblem as ``echelon run`` builds it for ``multi_echelon``."""
    from multi_echelon_value import planned_problems

    from platform_core.data.generate import generate_dataset

    generate_dataset(work / "data", sku_locations=n, seed=7)
    return planned_problems(work / "data", "multi_echelon")[0]


class _KernelClock:
    """CPU seconds and stage-periods of the engine's kernel, by caller (search / final)."""

    def __init__(self) -> None:
        import platform_core.simulation.engine as engine

        self.engine = engine
        self.original = engine.FK.simulate_all
        self.original_sm = engine.SM.simulate_all  # the stage-major kernel's networks
        self.cpu: dict[str, float] = {}
        self.stage_periods: dict[str, float] = {}
        self.tag = "other"

    def __enter__(self) -> _KernelClock:
        def clocked(fn: Any) -> Any:
            def timed(*args: Any) -> Any:
                run, net_i = args[5], args[1].net_i
                c = time.process_time()
                res = fn(*args)
                self.cpu[self.tag] = self.cpu.get(self.tag, 0.0) + time.process_time() - c
                # the stages of the networks this call simulated (stage-major: those of idx)
                rows = net_i[args[0]] if fn is self.original_sm else net_i
                sp = float(rows[:, 1].sum() - rows[:, 0].sum()) * run.n_reps * run.n_total
                self.stage_periods[self.tag] = self.stage_periods.get(self.tag, 0.0) + sp
                return res
            return timed

        self.engine.FK.simulate_all = clocked(self.original)
        self.engine.SM.simulate_all = clocked(self.original_sm)
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.FK.simulate_all = self.original
        self.engine.SM.simulate_all = self.original_sm


def _multi_phases(problems: list[Any]) -> dict[str, float]:
    """multi_echelon's kernel CPU in its search and final runs, and the rest."""
    from echelon_solvers import multi_echelon as me

    solver = me.MultiEchelonSolver()
    run = me.MultiEchelonSolver._run

    with _KernelClock() as clock:
        def tagged(self: Any, nets: Any, levels: Any, search: bool, **kw: Any) -> Any:
            clock.tag = "search" if search else "final"
            return run(self, nets, levels, search, **kw)

        me.MultiEchelonSolver._run = tagged  # type: ignore[method-assign]
        try:
            c = time.process_time()
            for p in problems:
                solver.solve(p)
            total = time.process_time() - c
        finally:
            me.MultiEchelonSolver._run = run  # type: ignore[method-assign]
    kernel = sum(clock.cpu.values())
    return {
        "multi_solve_cpu_seconds": total,
        "multi_search_kernel_cpu_seconds": clock.cpu.get("search", 0.0),
        "multi_final_kernel_cpu_seconds": clock.cpu.get("final", 0.0),
        "multi_python_cpu_seconds": total - kernel,
        "multi_search_stage_periods": clock.stage_periods.get("search", 0.0),
        "multi_final_stage_periods": clock.stage_periods.get("final", 0.0),
        "final_kernel_ns_per_stage_period": 1e9 * clock.cpu.get("final", 0.0)
        / max(clock.stage_periods.get("final", 0.0), 1.0),
        "search_kernel_ns_per_stage_period": 1e9 * clock.cpu.get("search", 0.0)
        / max(clock.stage_periods.get("search", 0.0), 1.0),
    }


def _synthetic_ns(stages_target: int) -> float:
    """Kernel ns per stage-period, one DC + 20 stores, Normal(5, 1) demand, lead time 1."""
    from platform_core.distributions import DiscreteDistribution
    from platform_core.simulation import Network, Policy, simulate

    net = Network.distribution(20)
    pol = Policy.base_stock([230] + [14] * 20)
    n_net = max(stages_target // 21, 1)
    kw: dict[str, Any] = dict(seeds=1, replications=100, periods=365, warmup=50, position_histograms=True,
                              histogram_groups=10)
    simulate([net] * 2, pol, DiscreteDistribution.normal(5, 1), [1] * 2, **kw)
    c = time.process_time()
    simulate([net] * n_net, pol, DiscreteDistribution.normal(5, 1), [1] * n_net, **kw)
    return 1e9 * (time.process_time() - c) / (n_net * 21 * 100 * 415)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sku-locations", type=int)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = args.sku_locations or (600 if args.quick else 2000)
    numba.set_num_threads(1)
    from echelon_solvers.multi_echelon import MultiEchelonSolver
    from echelon_solvers.single_echelon import SingleEchelonSolver

    with tempfile.TemporaryDirectory() as tmp:
        problems = _problems(n, Path(tmp))
    stages = sum(len(p.keys) for p in problems)
    for p in problems[:1]:  # load the compiled kernels outside the clock
        SingleEchelonSolver().solve(p)
        MultiEchelonSolver().solve(p)
    singles, phases = [], []
    for _ in range(args.repeats):
        c = time.process_time()
        for p in problems:
            SingleEchelonSolver().solve(p)
        singles.append(time.process_time() - c)
        phases.append(_multi_phases(problems))
    med = {k: statistics.median(ph[k] for ph in phases) for k in phases[0]}
    single = statistics.median(singles)
    result = {
        "sku_locations": n, "stages": stages, "batches": len(problems), "repeats": args.repeats,
        "numba_threads": 1,
        "single_solve_cpu_seconds": single,
        **med,
        "solve_cpu_ratio_single_over_multi": single / med["multi_solve_cpu_seconds"],
        "single_ns_per_stage_period": 1e9 * single / (stages * 100 * 415),
        "synthetic_tree_kernel_ns_per_stage_period": _synthetic_ns(stages),
    }
    path = write_result("solve_cost_quick" if args.quick else "solve_cost", result)
    print(f"{n:,} SKU-locations, {stages:,} stages in {len(problems)} batches; CPU seconds, 1 Numba thread, "
          f"median of {args.repeats}")
    print(f"{'':44s}{'CPU-s':>10s}")
    print(f"{'single_echelon.solve (peer)':44s}{single:10.2f}")
    print(f"{'multi_echelon.solve':44s}{med['multi_solve_cpu_seconds']:10.2f}")
    print(f"{'  kernel, search runs':44s}{med['multi_search_kernel_cpu_seconds']:10.2f}")
    print(f"{'  kernel, final run (100 x 365)':44s}{med['multi_final_kernel_cpu_seconds']:10.2f}")
    print(f"{'  the rest (Python)':44s}{med['multi_python_cpu_seconds']:10.2f}")
    print(f"ratio single / multi: {result['solve_cpu_ratio_single_over_multi']:.3f}")
    print(f"ns per stage-period: single_echelon {result['single_ns_per_stage_period']:.1f} (whole solve), "
          f"network kernel final run {med['final_kernel_ns_per_stage_period']:.1f}, "
          f"search {med['search_kernel_ns_per_stage_period']:.1f}, "
          f"synthetic 1+20 tree {result['synthetic_tree_kernel_ns_per_stage_period']:.1f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
