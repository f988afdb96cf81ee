"""Speed of the single-stage base-stock Monte Carlo used by the `single_echelon` solver.

    python benchmarks/single_stage.py [--quick]

400 stages with empirical demand (1-200 units/period) and stochastic lead times;
100 replications x (365 + 50 warm-up) periods; the level is chosen for a 95 % fill
rate, which evaluates every candidate level on the simulated paths. Reports CPU time
(process time, Numba single-threaded) per simulated stage-period: CPU time is robust to
other jobs sharing the machine, wall time is not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import write_result  # noqa: E402

from platform_core.distributions import DiscreteDistribution as DD  # noqa: E402
from platform_core.simulation.single_stage import optimise_base_stock  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = 100 if args.quick else 400
    demand = [DD.from_samples(rng.poisson(rng.uniform(1, 200), 104)) for _ in range(n)]
    lead = [DD(np.array([0.2, 0.5, 0.3]), 1 + int(i % 4)) for i in range(n)]
    seeds = np.arange(n, dtype=np.uint64)
    kw = dict(mode=np.zeros(n, int), target=np.full(n, 0.95), replications=100, periods=365, warmup=50)
    optimise_base_stock(demand[:2], lead[:2], seeds[:2], **{**kw, "mode": kw["mode"][:2], "target": kw["target"][:2]})
    cpu, wall = [], []
    for _ in range(3 if args.quick else 7):
        c0, w0 = time.process_time(), time.perf_counter()
        optimise_base_stock(demand, lead, seeds, **kw)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    stage_periods = n * 100 * (365 + 50)
    row = {
        "stages": n,
        "stage_periods_per_call": stage_periods,
        "cpu_ns_per_stage_period_median": round(float(np.median(cpu)) / stage_periods * 1e9, 2),
        "wall_ns_per_stage_period_median": round(float(np.median(wall)) / stage_periods * 1e9, 2),
        "cpu_ms_per_sku_location_median": round(float(np.median(cpu)) / n * 1e3, 3),
    }
    for k, v in row.items():
        print(f"{k:36s} {v}")
    write_result("single_stage_quick" if args.quick else "single_stage", row)


if __name__ == "__main__":
    main()
