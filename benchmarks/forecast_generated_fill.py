"""Where a generated-data fill promise goes wrong (#15): ``calibrated`` per demand class, in seconds.

A quick single-stage stand-in for ``service_vs_cost.py`` (which plans whole networks and
takes minutes): the same 10,000-stage dataset (seed 7, 78 training + 26 held-out weeks),
the default ``calibrated`` fitted on the training weeks and told each stage's lead time
and review period, as ``service_vs_cost.py --demand-model calibrated`` does.  For every
customer-facing stage:

* ``S`` = the smallest base-stock level whose planned fill reaches 90 % under the
  forecaster's per-period PMF (i.i.d. periods, lead ``l`` = round(mean lead time) +
  review - 1 periods; ``1 - (E(D_{l+1} - S)^+ - E(D_l - S)^+) / mu``);
* planned = that fill; held-out = the same formula at the same ``S`` under the empirical
  PMF of the stage's 26 held-out weeks of the generator's true demand (what
  ``service_vs_cost.py``'s held-out arm draws from).

Reported per group (portfolio, the generator's demand class, the forecaster's class, ABC):
``1 - sum(short) / sum(demand)`` planned and held-out, and held-out / forecast mean.  The
levels are not the portfolio optimiser's, so the figures are not ``service_vs_cost.py``'s;
what they are for is comparing forecaster variants class by class (on main the gaps are
about 1-2 pp above ``service_vs_cost.py``'s for the portfolio, intermittent and smooth
classes; docs/benchmarks.md #15).  Also printed: the class parameters of the calibration.

Usage: python benchmarks/forecast_generated_fill.py   (about 30-60 s CPU)
Writes benchmarks/results/forecast_generated_fill.json.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "benchmarks", ROOT, ROOT / "plugins", ROOT / "cluster"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _harness import write_result  # noqa: E402
from calibration import _loss  # noqa: E402
from echelon_demand.models import FORECASTERS  # noqa: E402
from service_vs_cost import HOLDOUT, TRAIN, generate_dataset, load  # noqa: E402

from platform_core.components import DemandSeries  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.forecasting.batch import compound_batch  # noqa: E402

STAGES, SEED, TARGET = 10_000, 7, 0.9


def _fill(period: DiscreteDistribution, lead: int, levels: np.ndarray) -> np.ndarray:
    """Planned fill of base-stock ``levels`` under i.i.d. periods ``period`` (engine order of events)."""
    mu = period.mean()
    if mu <= 0:
        return np.ones(levels.size)
    lts = [DiscreteDistribution.point(lead), DiscreteDistribution.point(lead + 1)]
    d_l, d_l1 = compound_batch([period, period], lts, np.zeros(2, dtype=np.int64))
    return 1.0 - (_loss(d_l1, levels) - _loss(d_l, levels)) / mu


def main() -> None:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(Path(tmp) / "data", STAGES, seed=SEED, periods=TRAIN + HOLDOUT)
        data = load(Path(tmp) / "data")
    true_class = np.full(data["n"], "", dtype=object)
    true_class[data["truth_rows"]] = data["truth_params"].column("demand_class").to_numpy(zero_copy_only=False)
    parent = data["parent"]
    internal = np.zeros(data["n"], dtype=bool)
    internal[parent[parent >= 0]] = True
    idx = np.flatnonzero(data["has_demand"])
    y = data["observed"][idx, :TRAIN]
    so = data["stocked_out"][idx, :TRAIN]
    k, t = y.shape
    series = DemandSeries([str(i) for i in idx], y.reshape(-1), so.reshape(-1), np.arange(0, k * t + 1, t))
    t1 = time.perf_counter()
    fc = FORECASTERS["calibrated"]().fit(series)
    fc.set_replenishment([data["lead"][i] for i in idx], data["review"][idx])
    dists = fc.period_demand()
    fit_seconds = time.perf_counter() - t1
    groups: dict[str, np.ndarray] = {}
    for j in np.flatnonzero(~internal[idx]):
        i = int(idx[j])
        d = dists[j]
        mu = d.mean()
        held = data["true"][i, TRAIN:]
        held = held[np.isfinite(held)]
        if mu <= 0 or held.size == 0:
            continue
        lead = max(int(round(data["lead"][i].mean())) + int(data["review"][i]) - 1, 0)
        m_l1 = compound_batch([d], [DiscreteDistribution.point(lead + 1)], np.zeros(1, dtype=np.int64))[0]
        levels = np.arange(0, m_l1.offset + m_l1.pmf.size + 1, dtype=np.float64)
        planned = _fill(d, lead, levels)
        s = min(int(np.searchsorted(planned, TARGET - 1e-12)), levels.size - 1)
        h_dist = DiscreteDistribution.from_samples(held.astype(np.int64))
        h_mu = h_dist.mean()
        h_fill = float(_fill(h_dist, lead, levels[s : s + 1])[0]) if h_mu > 0 else 1.0
        for g in ("portfolio", f"class {true_class[i]}", f"forecaster class {fc.classes_[j]}",
                  f"abc {data['abc'][i]}"):
            groups.setdefault(g, np.zeros(5))[:] += (mu * (1.0 - planned[s]), mu, h_mu * (1.0 - h_fill), h_mu, 1)
    out: dict[str, dict[str, float]] = {}
    print(f"{'group':<28} {'stages':>6} {'planned':>8} {'held-out':>8} {'pp':>6} {'held/forecast mean':>18}")
    for g, (p_short, p_dem, h_short, h_dem, count) in sorted(groups.items()):
        planned_fill, held_fill = 1.0 - p_short / p_dem, 1.0 - h_short / h_dem
        out[g] = {"stages": int(count), "planned_fill_rate": planned_fill, "heldout_fill_rate": held_fill,
                  "heldout_minus_planned_points": 100.0 * (held_fill - planned_fill),
                  "heldout_over_forecast_mean_ratio": h_dem / p_dem}
        print(f"{g:<28} {int(count):>6} {planned_fill:8.4f} {held_fill:8.4f} {100 * (held_fill - planned_fill):+6.2f} "
              f"{h_dem / p_dem:18.3f}")
    params = fc.class_calibration()
    for c, p in params.items():
        print(c, {key: round(v, 3) for key, v in p.items()})
    path = write_result("forecast_generated_fill", {
        "command": "python benchmarks/forecast_generated_fill.py",
        "data": f"service_vs_cost generated dataset ({STAGES} stages, seed {SEED}, {TRAIN} + {HOLDOUT} weeks)",
        "planned_fill_target": TARGET, "groups": out, "class_params": params,
        "fit_seconds": fit_seconds, "seconds": time.perf_counter() - t0,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
