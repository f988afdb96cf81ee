"""Acceptance benchmark: fit and forecast 100,000 generated series with the default choice.

Series (generated with numpy, seed 0): 36 monthly periods, a mix of smooth, erratic,
intermittent and lumpy demand (occurrence probability U(0.1, 1), mean level
lognormal(0, 1.2)), 5 % of series with stockout flags.  Timed: ``AutoForecaster()``
(the default ``select="series"``: per-series choice by a rolling backtest over negbin, tsb
and statsforecast's CrostonSBA and ADIDA; ``--select class`` times the class map;
``--forecaster calibrated`` times ``calibrated``, the default of ``echelon run``, with its
default base) ``fit``, ``period_demand`` and ``lead_time_demand`` with a lead time of 1-4 periods
(random PMF per series) plus a review period of 1.
Target (issue #15): <= 60 s on the 2-core machine.

Usage: python benchmarks/forecast_scale.py [--quick] [--select series|class] [--forecaster auto|calibrated]
       (quick: 10,000 series)
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "benchmarks", ROOT, ROOT / "plugins", ROOT / "cluster"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _harness import write_result  # noqa: E402
from echelon_demand.models import AutoForecaster  # noqa: E402

from platform_core.components import DemandSeries  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402


def generate(n: int, T: int = 36, seed: int = 0) -> DemandSeries:
    rng = np.random.default_rng(seed)
    mu = rng.lognormal(0.0, 1.2, n)[:, None]
    p = rng.uniform(0.1, 1.0, n)[:, None]
    Y = (rng.random((n, T)) < p) * rng.poisson(mu / p, (n, T))
    so = (rng.random((n, T)) < 0.05) & (rng.random(n) < 0.05)[:, None] & (Y > 0)
    return DemandSeries([f"S{i}@DC" for i in range(n)], Y.ravel().astype(float), so.ravel(),
                        np.arange(0, n * T + 1, T, dtype=np.int64))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 series instead of 100,000")
    ap.add_argument("--select", choices=("series", "class"), default="series")
    ap.add_argument("--forecaster", choices=("auto", "calibrated"), default="auto",
                    help="calibrated: the default forecaster of `echelon run` (its default base)")
    args = ap.parse_args(argv)
    n = 10_000 if args.quick else 100_000
    demand = generate(n)
    rng = np.random.default_rng(1)
    lts = [DiscreteDistribution(rng.random(4) + 0.05, 1) for _ in range(8)]
    lead_times = [lts[i % 8] for i in range(n)]
    t0 = time.perf_counter()
    if args.forecaster == "calibrated":
        from echelon_demand.models import FORECASTERS

        f = FORECASTERS["calibrated"]().fit(demand)
    else:
        f = AutoForecaster(select=args.select).fit(demand)
    t1 = time.perf_counter()
    pdists = f.period_demand()
    t2 = time.perf_counter()
    ltd = f.lead_time_demand(lead_times, np.ones(n, dtype=np.int64), np.arange(n, dtype=np.uint64))
    t3 = time.perf_counter()
    total = t3 - t0
    counts = collections.Counter(str(m) for m in getattr(f, "model_", f.classes_))
    assert len(pdists) == len(ltd) == n
    what = "CalibratedForecaster()" if args.forecaster == "calibrated" else f"AutoForecaster(select={args.select!r})"
    print(f"{n:,} series x 36 periods, {what}")
    print(f"{'step':28s}{'seconds':>10s}")
    for name, s in (("fit", t1 - t0), ("period_demand", t2 - t1), ("lead_time_demand", t3 - t2),
                    ("total", total)):
        print(f"{name:28s}{s:10.1f}")
    print("models chosen:", dict(counts))
    print(f"target <= 60 s: {'met' if total <= 60 else 'NOT met'}")
    result = {
        "series_count": n,
        "periods_count": 36,
        "quick": bool(args.quick),
        "select": args.select,
        "forecaster": args.forecaster,
        "fit_seconds": t1 - t0,
        "period_demand_seconds": t2 - t1,
        "lead_time_demand_seconds": t3 - t2,
        "total_seconds": total,
        "target_seconds": 60.0,
        "target_met": bool(total <= 60.0),
        "selection_count": dict(collections.Counter(str(x) for x in getattr(f, "selection_", []))),
        "models_chosen_count": dict(counts),
    }
    name = "forecast_scale" + ("" if args.select == "series" else "_class")
    if args.forecaster == "calibrated":
        name = "forecast_scale_calibrated"
        result["class_params"] = f.class_calibration()
    out = write_result(name + ("_quick" if args.quick else ""), result)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
