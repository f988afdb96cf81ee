"""Monte Carlo engine benchmark: ns per stage-period, stockpyl's simulator, cache hits.

Usage:
    python benchmarks/simulation.py [--quick]

Measures ``platform_core.simulation.simulate`` (end to end, including packing) on

* a 3-stage serial system (Snyder & Shen Example 6.1, echelon base-stock),
* one warehouse feeding 20 retailers (installation base-stock, FIFO allocation), and
* a plant reviewing every 4 periods feeding 3 DCs reviewing every 2 periods, each
  feeding 4 stores (review period 1; installation base-stock, FIFO allocation),

with 1 Numba thread and with all threads (every case runs on the fast tree kernel), the
general kernel on the same cases with 1 thread (``simulate(..., kernel="general")``, same
numbers), both kernels with position histograms on (``position_histograms=True``, same
histograms) and their ratio, then stockpyl 1.0.2's ``sim.simulation`` on the same serial system, and the
time to the first result in a fresh process (the compiled kernels come from Numba's
on-disk cache). Prints a table and writes benchmarks/results/simulation.json. Figures
are medians over repeats; CPU time is process time (all threads).

The headline figure, 1 thread CPU time on the fast kernel, is measured in
``--processes`` fresh processes (default 3) and reported as the median of their
medians, with every process's figure: on this VM the same code runs up to ~15 %
faster or slower from one process to the next (placement, not load), so one process's
figure is not the code's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "cluster"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import numba  # noqa: E402

from benchmarks._harness import write_result  # noqa: E402
from platform_core.simulation import DiscreteDistribution, Network, Policy, simulate  # noqa: E402

_FIRST_CALL = """
import sys, time
t0 = time.perf_counter()
sys.path[:0] = {paths!r}
from platform_core.simulation import DiscreteDistribution, Network, Policy, simulate
t1 = time.perf_counter()
simulate(Network.serial(3), Policy.echelon_base_stock([23, 12, 6]), DiscreteDistribution.normal(5, 1),
         lead_times=[2, 1, 0], seeds=1, replications=2, periods=100, warmup=10)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def _cases() -> dict[str, tuple[Network, Policy, Any]]:
    return {
        "serial3": (Network.serial(3), Policy.echelon_base_stock([23, 12, 6]), [2, 1, 0]),
        "dist1x20": (Network.distribution(20), Policy.base_stock([230] + [14] * 20), 1),
        "R4x3x12": (Network.distribution([3, 4]),
                    Policy.base_stock([400] + [90] * 3 + [14] * 12, review_period=[4] + [2] * 3 + [1] * 12),
                    [2] + [2] * 3 + [1] * 12),
    }


def _time_case(net: Network, pol: Policy, lead: Any, n_net: int, reps: int, periods: int,
               threads: int, repeats: int, kernel: str = "auto",
               positions: bool = False) -> tuple[float, float, float]:
    """Median wall, median CPU (all threads of the process) and minimum CPU seconds of one
    simulate() call (the minimum is the run least disturbed by other jobs on the machine);
    ``positions``: with position histograms (counts at installation base-stock stages)."""
    numba.set_num_threads(threads)
    demand = DiscreteDistribution.normal(5, 1)
    kw: dict[str, Any] = dict(seeds=1, replications=reps, periods=periods, warmup=periods // 50, kernel=kernel)
    if positions:
        kw["position_histograms"] = True
    simulate([net] * 2, pol, demand, [lead] * 2, **kw)  # load / compile
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        simulate([net] * n_net, pol, demand, [lead] * n_net, **kw)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu), min(cpu)


def _stockpyl_serial(periods: int, repeats: int) -> float | None:
    """Median seconds of stockpyl's simulation of Example 6.1 (installation levels)."""
    try:
        from stockpyl.sim import simulation
        from stockpyl.supply_chain_network import serial_system
    except ImportError:
        return None
    times = []
    for r in range(repeats):
        net = serial_system(num_nodes=3, node_order_in_system=[3, 2, 1],
                            echelon_holding_cost=[2, 2, 3], local_holding_cost=[2, 4, 7],
                            shipment_lead_time=[2, 1, 1], stockout_cost=[0, 0, 37.12],
                            demand_type="N", mean=5, standard_deviation=1, policy_type="BS",
                            base_stock_level=[11, 6, 6])
        t = time.perf_counter()
        simulation(network=net, num_periods=periods, rand_seed=r + 1, progress_bar=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _first_call(repeats: int) -> tuple[float, float]:
    paths = [str(ROOT), str(ROOT / "plugins"), str(ROOT / "cluster")]
    imports, calls = [], []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _FIRST_CALL.format(paths=paths)], check=True,
                             capture_output=True, text=True, cwd=ROOT).stdout.split()
        imports.append(float(out[0]))
        calls.append(float(out[1]))
    return statistics.median(imports), statistics.median(calls)


def _one_thread_in_fresh_processes(name: str, processes: int, quick: bool) -> list[tuple[float, float, float]]:
    """(median wall, median CPU, min CPU) seconds of the 1-thread fast-kernel case ``name``,
    one tuple per fresh process."""
    out = []
    for _ in range(processes):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one-case", name, *(["--quick"] if quick else [])]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout.split()
        out.append((float(res[-3]), float(res[-2]), float(res[-1])))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (about 30 s)")
    ap.add_argument("--processes", type=int, default=None,
                    help="fresh processes for the 1-thread figure (default 3; --quick: 1)")
    ap.add_argument("--one-case", default=None, help=argparse.SUPPRESS)  # a child of --processes
    args = ap.parse_args()
    n_net, reps, periods, repeats = (32, 2, 2000, 3) if args.quick else (128, 4, 5000, 5)
    if args.one_case:
        net, pol, lead = _cases()[args.one_case]
        print(*_time_case(net, pol, lead, n_net, reps, periods, 1, repeats))
        return 0
    processes = max(1, args.processes or (1 if args.quick else 3))
    sp_periods = 300 if args.quick else 1000
    max_threads = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]

    payload: dict[str, Any] = {
        "quick": args.quick, "threads_max": max_threads, "load_average_1min_at_start": os.getloadavg()[0],
        "config": {"networks_per_call": n_net, "replications": reps, "periods": periods,
                   "warmup": periods // 50, "repeats": repeats, "demand": "normal(5, 1) discretised",
                   "processes_for_1_thread_figure": processes},
    }
    rows = []
    for name, (net, pol, lead) in _cases().items():
        stage_periods = n_net * reps * (periods + periods // 50) * net.n_stages
        per_process = _one_thread_in_fresh_processes(name, processes, args.quick)
        w1 = statistics.median(p[0] for p in per_process)
        c1 = statistics.median(p[1] for p in per_process)
        m1 = min(p[2] for p in per_process)
        wn, cn, _ = _time_case(net, pol, lead, n_net, reps, periods, max_threads, repeats)
        _, cg, _ = _time_case(net, pol, lead, n_net, reps, periods, 1, repeats, kernel="general")
        _, ch, _ = _time_case(net, pol, lead, n_net, reps, periods, 1, repeats, kernel="general", positions=True)
        _, cf, _ = _time_case(net, pol, lead, n_net, reps, periods, 1, repeats, positions=True)
        f = 1e9 / stage_periods
        payload[f"{name}_general_kernel_ns_per_stage_period_1_thread_cpu"] = cg * f
        payload[f"{name}_position_histograms_ns_per_stage_period_1_thread_cpu"] = ch * f
        payload[f"{name}_fast_position_histograms_ns_per_stage_period_1_thread_cpu"] = cf * f
        payload[f"{name}_position_histograms_general_over_fast_1_thread_cpu"] = ch / cf
        payload[f"{name}_ns_per_stage_period_1_thread_cpu"] = c1 * f
        payload[f"{name}_ns_per_stage_period_1_thread_cpu_min"] = m1 * f
        payload[f"{name}_ns_per_stage_period_1_thread_cpu_per_process"] = [p[1] * f for p in per_process]
        payload[f"{name}_ns_per_stage_period_1_thread_wall"] = w1 * f
        payload[f"{name}_ns_per_stage_period_{max_threads}_threads_wall"] = wn * f
        payload[f"{name}_ns_per_stage_period_{max_threads}_threads_cpu"] = cn * f
        payload[f"{name}_stage_periods_per_call"] = stage_periods
        rows.append((name, c1 * f, m1 * f, w1 * f, wn * f, cn * f, cg * f, cf * f, ch * f))
    numba.set_num_threads(max_threads)

    sp = _stockpyl_serial(sp_periods, 3 if args.quick else 3)
    if sp is not None:
        sp_ns = sp / (sp_periods * 3) * 1e9
        payload["stockpyl_serial3_ns_per_stage_period"] = sp_ns
        payload["stockpyl_serial3_periods"] = sp_periods
        payload["stockpyl_over_echelon_serial3_ratio_1_thread"] = sp_ns / payload["serial3_ns_per_stage_period_1_thread_wall"]
    imp, call = _first_call(3)
    payload["second_process_import_s"] = imp
    payload["second_process_first_call_s"] = call

    print("ns per stage-period (median; min = fastest repeat); cpu = process CPU time (all threads), "
          "wall = elapsed")
    print(f"{'case':<12}{'1 thr cpu':>12}{'(min)':>8}{'1 thr wall':>12}{f'{max_threads} thr wall':>12}"
          f"{f'{max_threads} thr cpu':>12}{'general cpu':>12}{'fast+hist':>12}{'gen+hist':>12}{'ratio':>8}")
    for name, a, m, b, c, d, e, fh, h in rows:
        print(f"{name:<12}{a:>12.1f}{m:>8.1f}{b:>12.1f}{c:>12.1f}{d:>12.1f}{e:>12.1f}{fh:>12.1f}{h:>12.1f}"
              f"{h / fh:>8.2f}")
    print("fast+hist / gen+hist: the fast / general kernel with position_histograms=True, 1 thread cpu; ratio = "
          "gen+hist / fast+hist (counts only at installation base-stock stages: serial3 is echelon "
          "base-stock, so it has none)")
    print(f"1 thread cpu: median over {processes} fresh processes of their medians; per process: "
          + "; ".join(f"{name} " + ", ".join(f"{v:.1f}" for v in payload[f"{name}_ns_per_stage_period_1_thread_cpu_per_process"])
                      for name, *_ in rows))
    if sp is not None:
        print(f"stockpyl 1.0.2 sim, serial3: {payload['stockpyl_serial3_ns_per_stage_period']:.0f} ns/stage-period "
              f"({payload['stockpyl_over_echelon_serial3_ratio_1_thread']:.0f}x slower than 1 thread)")
    print(f"second process: import {imp:.2f} s, first simulate() call {call:.3f} s (cache hit)")
    path = write_result("simulation", payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
