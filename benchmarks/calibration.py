"""Calibration on real demand (#15): do lead-time-demand quantiles and fill promises come true?

Data: ../shared/data/demand/carparts_2674_monthly.csv (Hyndman's ``carparts``: 2,674
intermittent car-part series, 51 months; loaded as in ``forecast_carparts.py``).

Protocol (rolling origins, nothing after an origin is seen by the forecasters):
for origin ``o`` in ``ORIGINS`` (months 33, 36 and 39; 12, 15 and 18 months held out),
every forecaster is fitted on months ``< o``; ``calibrated`` is told the lead time
(``L = 3`` months, no review, so ``L + R`` = 3; its inner backtests use 12-month horizons
every 6 months inside the training months).  Scored on the months after ``o``:

1. **Lead-time-demand quantiles**: the solvers' lead-time demand is the i.i.d. 3-fold sum
   of the per-period PMF; the realised sum of months ``o .. o+2`` is compared with its
   80 / 90 / 95 % quantiles.  Reported: the share of realised sums at or below each
   quantile (``y <= Q``; for discrete demand a correct model gives at least the level),
   and the randomised-PIT share (``PIT <= level``; exactly the level for a correct model),
   for the first 3 months after the origin and for every 3-month block of the 12
   months the plan lives (``horizon_*``: the horizon ``calibrated`` is calibrated for).
   Target: within +-2 pp.
2. **Base-stock replay**: per series the level ``S`` is the smallest whose planned fill
   reaches 90 % (analytic, i.i.d. periods: ``1 - (E(D_{L+1} - S)^+ - E(D_L - S)^+) / mu``,
   the engine's order of events), and the real months ``o .. o+11`` are replayed under
   base-stock ``S`` with backorders (net inventory at the end of month ``t`` =
   ``S`` - demand of months ``t-3 .. t``, the months before ``o`` taken from the data).
   Portfolio planned fill = ``1 - sum(planned short) / sum(planned demand)``; realised
   = ``1 - sum(short) / sum(demand)`` over all series and origins.  Target: +-1.5 pp.
   Also the share of (series, origin) replays whose realised fill lies in the
   recommendation's 80 % ``fill_rate_interval`` (12-month windows; for series with
   demand in the window).
3. **Where a replay gap comes from** (``replay_by_origin``, ``replay_by_class``): the
   gap per origin and per demand class (the class the forecaster gave the series from
   its training months; ``none`` = no demand yet), each with the ratio of realised to
   forecast mean demand over the 12 months, and the fill the same levels would have been
   planned to give had the forecaster known that ratio (``planned_at_realised_level``:
   the per-period PMF scaled by the class's ratio, same ``S``).  A gap that this closes
   is a level error; one it leaves is the shape of the distribution.

Usage: python benchmarks/calibration.py [--quick] [--forecasters NAME ...] [--origins O ...]
(quick: 600 series, one origin).  Writes benchmarks/results/calibration_carparts[_quick].json
(``calibration_carparts_<name>.json`` when ``--forecasters`` or ``--origins`` narrow it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "benchmarks", ROOT, ROOT / "plugins", ROOT / "cluster"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _harness import write_result  # noqa: E402
from echelon_demand.bootstrap import BootstrapForecaster  # noqa: E402
from echelon_demand.models import FORECASTERS  # noqa: E402
from echelon_demand.models._common import subset, truncate  # noqa: E402
from forecast_carparts import DATA, load  # noqa: E402

from platform_core.components import DemandSeries, Forecaster  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.forecasting.batch import compound_batch  # noqa: E402
from platform_core.forecasting.classes import classify  # noqa: E402
from platform_core.forecasting.fill_interval import fill_rate_interval  # noqa: E402
from platform_core.forecasting.scores import quantiles  # noqa: E402

LEAD = 3
REPLAY = 12
ORIGINS = (33, 36, 39)
LEVELS = np.array([0.8, 0.9, 0.95])
FILL_TARGET = 0.9
CAL = dict(horizon_periods=12, origin_step=6, origins=3, min_history_periods=12, lead_periods=LEAD)


def forecasters() -> dict[str, Forecaster]:
    return {
        # the default of `echelon run` as it ships (its default base and backtest span)
        "calibrated (default)": FORECASTERS["calibrated"](lead_periods=LEAD),
        "bootstrap": BootstrapForecaster(),
        "calibrated(bootstrap)": FORECASTERS["calibrated"](base="bootstrap", **CAL),
        "auto": FORECASTERS["auto"](),
        "calibrated(auto)": FORECASTERS["calibrated"](base="auto", **CAL),
    }


def _loss(dist: DiscreteDistribution, s: np.ndarray) -> np.ndarray:
    """E[(X - s)^+] for every level in ``s``."""
    x = dist.support.astype(np.float64)
    return np.maximum(x[None, :] - s[:, None], 0.0) @ dist.pmf


def planned_level(period: DiscreteDistribution, lead: int, target: float) -> tuple[float, float, float]:
    """Smallest base-stock level with planned fill >= target; its fill and mean demand."""
    mu = period.mean()
    if mu <= 0:
        return 0.0, 1.0, 0.0
    d_l = compound_batch([period], [DiscreteDistribution.point(lead)], np.zeros(1, dtype=np.int64))[0]
    d_l1 = compound_batch([period], [DiscreteDistribution.point(lead + 1)], np.zeros(1, dtype=np.int64))[0]
    s = np.arange(0, d_l1.offset + d_l1.pmf.size + 1, dtype=np.float64)
    fill = 1.0 - (_loss(d_l1, s) - _loss(d_l, s)) / mu
    k = int(np.searchsorted(fill, target - 1e-12))
    k = min(k, s.size - 1)
    return float(s[k]), float(fill[k]), mu


def replay(y: np.ndarray, o: int, level: float) -> tuple[float, float]:
    """Short units and demand of months o .. o+REPLAY-1 under base-stock ``level``."""
    y = np.nan_to_num(y)
    short = dem = 0.0
    for t in range(o, min(o + REPLAY, y.size)):
        since = y[max(t - LEAD, 0) : t + 1].sum()
        short += min(y[t], max(since - level, 0.0))
        dem += y[t]
    return short, dem


def _fill_at(period: DiscreteDistribution, lead: int, level: float) -> float:
    """Planned fill of base-stock ``level`` under i.i.d. periods ``period`` (as :func:`planned_level`)."""
    mu = period.mean()
    if mu <= 0:
        return 1.0
    lts = [DiscreteDistribution.point(lead), DiscreteDistribution.point(lead + 1)]
    d_l, d_l1 = compound_batch([period, period], lts, np.zeros(2, dtype=np.int64))
    s = np.array([level])
    return float(1.0 - (_loss(d_l1, s) - _loss(d_l, s))[0] / mu)


def _gap_rows(rows: list[tuple[str, float, float, float, float, float, DiscreteDistribution]],
              level_check: bool) -> dict[str, float]:
    """Planned vs realised fill of (class, level, planned fill, mean, short, demand, PMF) rows."""
    mu = np.array([r[3] for r in rows])
    f = np.array([r[2] for r in rows])
    short = np.array([r[4] for r in rows])
    dem = np.array([r[5] for r in rows])
    planned = 1.0 - float((mu * (1.0 - f)).sum()) / max(float(mu.sum()), 1e-12) if mu.sum() > 0 else float("nan")
    real = 1.0 - float(short.sum()) / float(dem.sum()) if dem.sum() > 0 else float("nan")
    out = {"series_origins": len(rows), "planned_fill_rate": planned, "realised_fill_rate": real,
           "realised_minus_planned_points": 100.0 * (real - planned),
           "realised_over_forecast_mean_ratio": float(dem.sum() / (REPLAY * mu.sum())) if mu.sum() > 0 else float("nan")}
    if level_check and mu.sum() > 0:
        from echelon_demand.models.calibrated import calibrate_period

        ratio = out["realised_over_forecast_mean_ratio"]
        p_short = p_dem = 0.0
        for _, lv, _, m, _, _, period in rows:
            if m <= 0:
                continue
            f2 = _fill_at(calibrate_period(period, ratio, 1.0), LEAD, lv)
            p_short += ratio * m * (1.0 - f2)
            p_dem += ratio * m
        out["planned_at_realised_level"] = 1.0 - p_short / p_dem
    return out


def randomised_pit(dist: DiscreteDistribution, y: float, u: float) -> float:
    cdf = np.concatenate(([0.0], np.cumsum(dist.pmf)))
    k = int(y) - dist.offset
    lo = cdf[min(max(k, 0), cdf.size - 1)]
    hi = cdf[min(max(k + 1, 0), cdf.size - 1)]
    return float(lo + u * (hi - lo))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="600 series, one origin")
    ap.add_argument("--data", type=Path, default=DATA, help=f"the carparts CSV (default {DATA})")
    ap.add_argument("--forecasters", nargs="+", default=None, metavar="NAME",
                    help=f"only these (of: {', '.join(forecasters())})")
    ap.add_argument("--origins", nargs="+", type=int, default=None, metavar="O",
                    help=f"origins [months] (default {' '.join(map(str, ORIGINS))})")
    args = ap.parse_args()
    names = list(forecasters())
    if args.forecasters:
        unknown = sorted(set(args.forecasters) - set(names))
        if unknown:
            ap.error(f"unknown forecaster(s) {unknown}; known: {names}")
        names = [nm for nm in names if nm in args.forecasters]
    demand = load(args.data)
    if args.quick:
        demand = subset(demand, np.arange(0, len(demand), len(demand) // 600)[:600])
    origins = tuple(args.origins) if args.origins else (ORIGINS[-1:] if args.quick else ORIGINS)
    lengths = np.diff(np.asarray(demand.indptr))
    rng = np.random.default_rng(15)
    results: dict[str, dict] = {}
    for name in names:
        t0 = time.perf_counter()
        by_origin: dict[int, list] = {}
        by_class: dict[str, list] = {}
        below = np.zeros(LEVELS.size)
        pit_below = np.zeros(LEVELS.size)
        scored = 0
        h_below = np.zeros(LEVELS.size)
        h_pit_below = np.zeros(LEVELS.size)
        h_scored = 0
        p_short = p_dem = r_short = r_dem = 0.0
        inside = windows = 0
        for o in origins:
            idx = np.flatnonzero(lengths >= o + REPLAY)
            sub = subset(demand, idx)
            train: DemandSeries = truncate(sub, lengths[idx] - o)
            fc = forecasters()[name].fit(train)
            fc.set_replenishment([DiscreteDistribution.point(LEAD)] * idx.size, np.zeros(idx.size, dtype=np.int64))
            period = fc.period_demand()
            ltd = compound_batch(period, [DiscreteDistribution.point(LEAD)] * idx.size,
                                 np.zeros(idx.size, dtype=np.int64))
            q = quantiles(ltd, LEVELS)
            classes = np.asarray(getattr(fc, "classes_", classify(train).label), dtype=object)
            levels = np.zeros(idx.size)
            promise = np.zeros(idx.size)
            realised = np.full(idx.size, np.nan)
            for j, i in enumerate(idx):
                y, _ = demand.series(int(i))
                ysum = float(np.nansum(y[o : o + LEAD]))
                below += ysum <= q[j]
                u = rng.random()
                pit_below += randomised_pit(ltd[j], ysum, u) <= LEVELS
                scored += 1
                for start in range(o, o + REPLAY - LEAD + 1, LEAD):  # every 3-month block of the plan's year
                    ys = float(np.nansum(y[start : start + LEAD]))
                    h_below += ys <= q[j]
                    h_pit_below += randomised_pit(ltd[j], ys, rng.random()) <= LEVELS
                    h_scored += 1
                lv, f, mu = planned_level(period[j], LEAD, FILL_TARGET)
                levels[j], promise[j] = lv, f
                p_short += mu * REPLAY * (1.0 - f)
                p_dem += mu * REPLAY
                sh, dm = replay(y, o, lv)
                row = (str(classes[j]), lv, f, mu, sh, dm, period[j])
                by_origin.setdefault(o, []).append(row)
                by_class.setdefault(str(classes[j]), []).append(row)
                r_short += sh
                r_dem += dm
                if dm > 0:
                    realised[j] = 1.0 - sh / dm
            lo, hi = fill_rate_interval(period, levels, promise, np.full(idx.size, LEAD),
                                        np.ones(idx.size, dtype=np.int64), np.arange(idx.size) + 1000 * o,
                                        fc.demand_level_ratios(), REPLAY)
            ok = np.isfinite(realised)
            inside += int(np.sum((realised[ok] >= lo[ok] - 1e-12) & (realised[ok] <= hi[ok] + 1e-12)))
            windows += int(ok.sum())
        planned = 1.0 - p_short / p_dem
        real = 1.0 - r_short / r_dem
        results[name] = {
            "series_origins": scored,
            "share_at_or_below_quantile": dict(zip(map(str, LEVELS), (below / scored).tolist(), strict=True)),
            "randomised_pit_share_below_level": dict(zip(map(str, LEVELS), (pit_below / scored).tolist(),
                                                         strict=True)),
            "horizon_blocks": h_scored,
            "horizon_share_at_or_below_quantile": dict(zip(map(str, LEVELS), (h_below / h_scored).tolist(),
                                                           strict=True)),
            "horizon_randomised_pit_share_below_level": dict(zip(map(str, LEVELS), (h_pit_below / h_scored).tolist(),
                                                                 strict=True)),
            "replay_planned_fill_rate": planned,
            "replay_realised_fill_rate": real,
            "replay_realised_minus_planned_points": 100.0 * (real - planned),
            "replay_by_origin": {str(o): _gap_rows(rows, False) for o, rows in by_origin.items()},
            "replay_by_class": {c: _gap_rows(rows, True) for c, rows in sorted(by_class.items())},
            "fill_interval_80_coverage": inside / max(windows, 1),
            "fill_interval_windows": windows,
            "seconds": time.perf_counter() - t0,
        }
        r = results[name]
        print(f"{name:<24} first 3 months: y<=Q {np.round(below / scored, 3)}  PIT<=lvl "
              f"{np.round(pit_below / scored, 3)}; all 3-month blocks of the year: y<=Q "
              f"{np.round(h_below / h_scored, 3)}  PIT<=lvl {np.round(h_pit_below / h_scored, 3)}\n{'':<24} "
              f"replay planned {planned:.4f} realised {real:.4f} ({100 * (real - planned):+.2f} pp)  "
              f"interval coverage {r['fill_interval_80_coverage']:.3f} ({windows})  {r['seconds']:.0f} s",
              flush=True)
        for key, part in [*((f"origin {o}", g) for o, g in r["replay_by_origin"].items()),
                          *((f"class {c}", g) for c, g in r["replay_by_class"].items())]:
            at_level = (f"  planned at the realised level {part['planned_at_realised_level']:.4f}"
                        if "planned_at_realised_level" in part else "")
            print(f"{'':<24} {key:<20} planned {part['planned_fill_rate']:.4f} realised "
                  f"{part['realised_fill_rate']:.4f} ({part['realised_minus_planned_points']:+.2f} pp), realised/forecast "
                  f"mean {part['realised_over_forecast_mean_ratio']:.3f}{at_level}", flush=True)
    narrowed = bool(args.forecasters or args.origins)
    payload = {
        "command": "python benchmarks/calibration.py" + (" --quick" if args.quick else "")
        + (f" --forecasters {' '.join(repr(nm) for nm in names)}" if args.forecasters else "")
        + (f" --origins {' '.join(map(str, origins))}" if args.origins else ""),
        "data": "carparts (2,674 monthly series, Hyndman expsmooth)",
        "series": len(demand), "origins": list(origins), "lead_time_periods": LEAD,
        "replay_periods": REPLAY, "planned_fill_target": FILL_TARGET,
        "calibrated_params": CAL, "levels": LEVELS.tolist(), "forecasters": results,
    }
    suffix = ("_quick" if args.quick else "") + ("_" + "_".join(
        nm.split(" ")[0].replace("(", "-").replace(")", "") for nm in names) if narrowed else "")
    if args.origins:
        suffix += "_o" + "-".join(map(str, origins))
    path = write_result("calibration_carparts" + suffix, payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
