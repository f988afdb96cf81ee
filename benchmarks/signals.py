"""Acceptance benchmark (#18): signals beyond the history sharpen the next 1-2 periods.

Data: ``generate_dataset(..., signals=True)``: one signal (``pos_lead2``) leads demand by
2 periods (the true demand of period ``t + 2`` times a lognormal error, sd 0.2 of its
log), two are noise (``noise_orders``, drawn like demand but independently;
``noise_index``, an AR(1) index).

Protocol (rolling origin): for origin ``o_j = T - 2 - j * step`` (``j = 0 .. K-1``) every
series is cut after ``o_j`` periods (demand and signals); each forecaster is fitted on the
rest and forecasts the demand of periods ``o_j + 1`` and ``o_j + 2`` (``h = 1, 2``):

* ``calibrated`` (the history-only default): its distribution calibrated for one period
  (``lead_time_demand`` with a lead time of exactly 1 period, no review), the same for
  both horizons (periods are i.i.d. to it);
* ``signals`` with all three signals, and with the leading signal only (the model chosen
  and the distributions must be identical: the noise gets no weight);
* ``signals`` with the two noise signals only (must fall back to ``calibrated``).

Score: the scaled pinball loss at 0.9 (pinball of the 0.9 quantile / the M5 scale, mean
``|y_t - y_(t-1)|`` of the training part), averaged over (series, origin, h); periods
stocked out or missing are not scored, and series with scale 0 are left out. Also the
share of outcomes at or below the 0.9 quantile (calibration) and the pinball at 0.5.

Acceptance: ``signals`` lowers the 1-2-period-ahead SPL at 0.9 by >= 20 % against
``calibrated``.

Usage: python benchmarks/signals.py [--quick]   (1000 SKU-locations, 6 origins; quick: 300, 3)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "benchmarks", ROOT, ROOT / "plugins", ROOT / "cluster"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _harness import write_result  # noqa: E402
from echelon_demand.models._common import truncate  # noqa: E402
from echelon_demand.models.calibrated import CalibratedForecaster  # noqa: E402
from echelon_demand.models.signals import SignalsForecaster  # noqa: E402

from platform_core.components import DemandSeries  # noqa: E402
from platform_core.data.generate import SIGNAL_COLUMNS, generate_dataset  # noqa: E402
from platform_core.data.loaders import load_dataset  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.forecasting.scores import pinball, quantiles  # noqa: E402
from platform_core.forecasting.series import demand_series_from_table, padded  # noqa: E402


def only(series: DemandSeries, names: tuple[str, ...]) -> DemandSeries:
    """``series`` with only the signal columns ``names``."""
    assert series.exogenous is not None
    cols = [series.exogenous_names.index(n) for n in names]
    return DemandSeries(series.keys, series.values, series.stocked_out, series.indptr,
                        exogenous=series.exogenous[:, cols], exogenous_names=names)


def backtest_signals(series: DemandSeries, origins: int, step: int, horizons: int = 2,
                     variants: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Rolling-origin scores of ``calibrated`` and ``signals`` variants (see module doc)."""
    variants = variants or {"signals": tuple(series.exogenous_names)}
    Y, C = padded(series)
    T = Y.shape[1]
    lengths = np.diff(series.indptr)
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("calibrated", *variants)}
    by_h: dict[str, list[list[np.ndarray]]] = {k: [[] for _ in range(horizons)] for k in rows}
    cover: dict[str, list[np.ndarray]] = {k: [] for k in rows}
    median: dict[str, list[np.ndarray]] = {k: [] for k in rows}
    models: dict[str, list[Any]] = {k: [] for k in variants}
    seconds: dict[str, float] = dict.fromkeys(rows, 0.0)
    for j in range(origins):
        o = T - horizons - j * step
        cut = np.full(len(series), T - o)
        keep = np.flatnonzero(lengths > cut + 16)
        train = truncate(series, cut)
        Yt = Y[:, :o]
        d = np.abs(np.diff(Yt, axis=1))
        scale = np.nanmean(np.where(np.isfinite(d), d, np.nan), axis=1)
        truth = Y[:, o : o + horizons]
        ok = np.isfinite(truth) & ~C[:, o : o + horizons] & (scale[:, None] > 0) & np.isin(
            np.arange(len(series)), keep)[:, None]
        dists: dict[str, list[list[DiscreteDistribution]]] = {}
        t0 = time.perf_counter()
        cal = CalibratedForecaster().fit(train)
        one = cal.lead_time_demand([DiscreteDistribution.point(1)] * len(series), np.zeros(len(series)),
                                   np.zeros(len(series), dtype=np.int64))
        dists["calibrated"] = [[d] * horizons for d in one]
        seconds["calibrated"] += time.perf_counter() - t0
        for name, cols in variants.items():
            t0 = time.perf_counter()
            f = SignalsForecaster().fit(only(train, cols))
            dists[name] = f.horizon_demand()
            models[name].append(f.model_)
            seconds[name] += time.perf_counter() - t0
        for name, dd in dists.items():
            for h in range(horizons):
                sel = np.flatnonzero(ok[:, h])
                q = quantiles([dd[i][h] for i in sel], np.array([0.5, 0.9]))
                y = truth[sel, h]
                rows[name].append(pinball(q[:, 1], y, 0.9) / scale[sel])
                by_h[name][h].append(rows[name][-1])
                median[name].append(pinball(q[:, 0], y, 0.5) / scale[sel])
                cover[name].append((y <= q[:, 1]).astype(float))
    out: dict[str, Any] = {"scores": {}, "models": models, "fit_seconds": seconds}
    for name in rows:
        out["scores"][name] = {
            "spl_90": float(np.mean(np.concatenate(rows[name]))),
            "spl_50": float(np.mean(np.concatenate(median[name]))),
            **{f"spl_90_h{h + 1}": float(np.mean(np.concatenate(by_h[name][h]))) for h in range(horizons)},
            "share_at_or_below_q90": float(np.mean(np.concatenate(cover[name]))),
            "n": int(np.concatenate(rows[name]).size),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sku-locations", type=int, default=None)
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()
    n = args.sku_locations or (300 if args.quick else 1000)
    origins = 3 if args.quick else 6
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(Path(tmp) / "ds", n, args.seed, signals=True)
        ds = load_dataset(Path(tmp) / "ds")
        series = demand_series_from_table(ds.demand, ds.get("signals"))
    lead, noise = SIGNAL_COLUMNS[0], SIGNAL_COLUMNS[1:]
    res = backtest_signals(series, origins, step=3, variants={
        "signals": SIGNAL_COLUMNS, "signals_lead_only": (lead,), "signals_noise_only": noise})
    s = res["scores"]
    gain = 1.0 - s["signals"]["spl_90"] / s["calibrated"]["spl_90"]
    same = [m["horizons"] for m in res["models"]["signals"]] == [m["horizons"] for m in res["models"]["signals_lead_only"]]
    noise_features = sum(len(e["features"]) for m in res["models"]["signals_noise_only"] for e in m["horizons"])
    payload = {
        "sku_locations": n, "series": len(series), "origins": origins, "seed": args.seed,
        "scores": s, "spl_90_reduction_vs_calibrated": round(gain, 4),
        "acceptance_reduction_at_least": 0.20, "passed": bool(gain >= 0.20 and same and noise_features == 0),
        "noise_ignored_model_identical": bool(same), "features_chosen_from_noise_only": noise_features,
        "chosen_last_origin": res["models"]["signals"][0]["horizons"],
        "fit_seconds": {k: round(v, 2) for k, v in res["fit_seconds"].items()},
    }
    path = write_result("signals_quick" if args.quick else "signals", payload)
    for name, sc in s.items():
        print(f"{name:22s} SPL90 {sc['spl_90']:.4f} (h=1 {sc['spl_90_h1']:.4f}, h=2 {sc['spl_90_h2']:.4f})  SPL50 {sc['spl_50']:.4f}  "
              f"P(y<=q90) {sc['share_at_or_below_q90']:.3f}  n={sc['n']}")
    print(f"SPL90 reduction vs calibrated: {gain:.1%}; noise-free model identical: {same}; "
          f"features from noise only: {noise_features}  -> {path}")


if __name__ == "__main__":
    main()
