"""Cost of correlated demand (``simulate(joint_demand=...)``) per stage-period.

Usage:
    python benchmarks/joint_demand.py [--quick]

The two fast-kernel cases of ``benchmarks/simulation.py`` that have more than one demand
stage — one warehouse feeding 20 retailers and one feeding 4 — each simulated with
independent retailers and with a :class:`JointDemand` learnt from 104 periods of history
(a common gamma factor), same demand distribution normal(5, 1), 1 Numba thread. Runs
alternate (A, B, B, A, A, B, ...) in one process so both see the same machine; figures are
medians of the CPU time per call, in ns per stage-period. Also the general kernel
(``kernel="general"``) on the 1 + 20 case. Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "cluster"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from platform_core.simulation import DiscreteDistribution, JointDemand, Network, Policy, simulate  # noqa: E402


def _history(n_retailers: int, periods: int = 104) -> JointDemand:
    rng = np.random.default_rng(1)
    f = rng.gamma(4.0, 0.25, periods)
    x = rng.poisson(5.0 * f[None, :], (n_retailers, periods)).astype(np.float64)
    return JointDemand.from_history(np.vstack([np.full(periods, np.nan), x]), seed=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs")
    args = ap.parse_args()
    n_net, reps, periods, repeats = (32, 2, 2000, 4) if args.quick else (128, 4, 5000, 8)
    numba.set_num_threads(1)
    demand = DiscreteDistribution.normal(5, 1)
    rows = []
    for name, n_ret, level, kernel in (("1 + 20 retailers", 20, 230, "auto"), ("1 + 4 retailers", 4, 50, "auto"),
                                       ("1 + 20 retailers, general kernel", 20, 230, "general")):
        net = Network.distribution(n_ret)
        pol = Policy.base_stock([level] + [14] * n_ret)
        jd = _history(n_ret)
        kw: dict[str, Any] = dict(lead_times=1, seeds=1, replications=reps, periods=periods,
                                  warmup=periods // 50, kernel=kernel)
        simulate([net] * 2, pol, demand, **kw)  # load / compile
        simulate([net] * 2, pol, demand, joint_demand=jd, **kw)
        n_rep = max(2, repeats // 3) if kernel == "general" else repeats
        cpu: dict[bool, list[float]] = {False: [], True: []}
        for k in range(n_rep):
            for joint in ((False, True) if k % 2 == 0 else (True, False)):  # no order bias
                c = time.process_time()
                simulate([net] * n_net, pol, demand, joint_demand=jd if joint else None, **kw)
                cpu[joint].append(time.process_time() - c)
        per = n_net * reps * (periods + periods // 50) * (n_ret + 1)
        a, b = (statistics.median(cpu[j]) / per * 1e9 for j in (False, True))
        rows.append((name, a, b))
    print(f"{'case':36s} {'independent':>12s} {'joint':>8s} {'overhead':>9s}   [ns / stage-period, 1 thread CPU]")
    for name, a, b in rows:
        print(f"{name:36s} {a:12.1f} {b:8.1f} {100 * (b / a - 1):+8.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
