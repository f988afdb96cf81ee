"""Calibrate a forecaster so its lead-time-demand promises come true (runs in a few seconds).

1. generate 200 weekly series whose demand grows 1 % per week (numpy, seed 0): the
   ``bootstrap`` forecaster, which resamples the last 52 weeks, is biased low;
2. wrap it: ``calibrated`` learns a mean factor and a dispersion stretch from rolling
   origins inside the history, for the lead time + review the solvers use (here 3);
3. on 26 fresh weeks of the same process, count how often the i.i.d. 3-week sum exceeds
   its 80 / 90 / 95 % quantiles, before and after;
4. the 80 % interval of the fill the next 26 weeks realise at a base-stock level.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "plugins"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from echelon_demand.models import FORECASTERS  # noqa: E402
from echelon_demand.plugin import BootstrapForecaster  # noqa: E402

from platform_core.components import DemandSeries  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.forecasting.batch import compound_batch  # noqa: E402
from platform_core.forecasting.fill_interval import fill_rate_interval  # noqa: E402
from platform_core.forecasting.scores import quantiles  # noqa: E402

T, H, L = 104, 26, 3
LEVELS = np.array([0.8, 0.9, 0.95])


def exceedance(period: list[DiscreteDistribution], future: np.ndarray) -> np.ndarray:
    """Share of fresh 3-week sums above the i.i.d. 3-week sum's quantiles."""
    n = len(period)
    ltd = compound_batch(period, [DiscreteDistribution.point(L)] * n, np.zeros(n, dtype=np.int64))
    q = quantiles(ltd, LEVELS)
    sums = np.stack([future[:, s : s + L].sum(axis=1) for s in range(0, H - L + 1, L)], axis=1)
    return (sums[:, :, None] > q[:, None, :]).mean(axis=(0, 1))


def main() -> None:
    rng = np.random.default_rng(0)
    n = 200
    rate = rng.uniform(4, 12, n)[:, None] * 1.01 ** np.arange(T + H)[None, :]
    history, future = rng.poisson(rate[:, :T]), rng.poisson(rate[:, T:])
    demand = DemandSeries([f"P{i}@S" for i in range(n)], history.ravel().astype(float),
                          np.zeros(n * T, dtype=bool), np.arange(0, n * T + 1, T, dtype=np.int64))

    raw = BootstrapForecaster().fit(demand)
    cal = FORECASTERS["calibrated"](base="bootstrap", horizon_periods=H, lead_periods=L).fit(demand)
    # in a run the pipeline tells it each stage's lead time and review period:
    cal.set_replenishment([DiscreteDistribution.point(L - 1)] * n, np.ones(n, dtype=np.int64))
    print("claimed exceedance       ", np.round(1 - LEVELS, 3))
    print("bootstrap                ", np.round(exceedance(raw.period_demand(), future), 3))
    print("calibrated(bootstrap)    ", np.round(exceedance(cal.period_demand(), future), 3))
    for cls, p in cal.class_calibration().items():
        print(f"  {cls:<12} mean factor {p['mean_factor']:.3f}  stretch {p['stretch']:.2f}  "
              f"level sd {p['level_sd']:.3f}")

    # series 0 at the level covering its 95 % lead-time-demand quantile (lead time 2 +
    # review 1): the promise is the long-run fill 1 - (E(D_3 - S)+ - E(D_2 - S)+) / mu
    # (i.i.d. periods, the engine's order of events); the interval is the next 26 weeks'
    period = cal.period_demand()[:1]
    d2, d3 = (compound_batch(period, [DiscreteDistribution.point(k)], np.zeros(1, dtype=np.int64))[0] for k in (2, 3))
    level = float(d3.quantile(0.95))
    promise = 1.0 - (d3.expected_shortfall(level) - d2.expected_shortfall(level)) / period[0].mean()
    lo, hi = fill_rate_interval(period, np.array([level]), np.array([promise]), np.array([L - 1]), np.array([1]),
                                np.array([1]), cal.demand_level_ratios()[:1], H)
    print(f"series 0: level {level:.0f}, promised fill {promise:.3f}, 80 % interval of the next {H} weeks' "
          f"fill [{lo[0]:.3f}, {hi[0]:.3f}]")


if __name__ == "__main__":
    main()
