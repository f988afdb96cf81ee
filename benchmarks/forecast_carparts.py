"""Acceptance benchmark: lead-time demand of real intermittent series (car parts, SCMS orders).

Data (``--dataset``):

* ``carparts`` (default): ../shared/data/demand/carparts_2674_monthly.csv (Hyndman's
  ``carparts``, R package expsmooth, GPL-3; one row per part, 51 monthly columns; trailing
  empty cells = series ended; ``--data`` overrides the path).
* ``scms_orders``: monthly counts of purchase-order lines per (country, product) of the
  USAID SCMS shipment data shipped in tests/reference_data/leadtimes/ (US-government open
  data): real, intermittent, and tuned to by nobody here; it counts order occurrences of
  a procurement programme, not consumption.  Series with at least 3 orders, from the
  first month of the programme to the last.

Protocol (rolling origin): for origin j = 0..K-1 the last ``3 + j`` months are held out;
every method is fitted on the rest and forecasts the demand summed over the next
H = 3 months (lead time 3 months, no review period).  Scored per (series, origin):
CRPS, scaled pinball loss (M5 scale: H x mean |y_t - y_(t-1)| of the training part) at
0.5/0.8/0.9/0.95/0.99, and coverage of the central 80 % / 90 % intervals.

Echelon: ``calibrated`` (the default forecaster of ``echelon run``, as it ships: a
backtest-weighted pool of ``bootstrap`` and ``negbin``, recalibrated; scored for the H-month
lead time it is asked about), ``auto`` (per-series choice by its own rolling backtest),
``auto`` with ``select="class"`` (the class map), ``bootstrap`` and single models for
reference (``negbin``, ``tsb``).

statsforecast, two ways: the ``sf_*`` forecasters (CrostonSBA, TSB(0.1, 0.1), ADIDA,
IMAPA as Bernoulli occurrence x empirical sizes; AutoETS as NB with the residual
variance; see echelon_demand.models.statsforecast_models), and the earlier baselines
(CrostonClassic, CrostonSBA, TSB, ADIDA, IMAPA point forecasts f turned into NB/Poisson
lead-time demand with mean ``H f`` and variance ``H s²``, s² the mean squared in-sample
one-step residual).  The best statsforecast method is the best of both at each level.

Usage: python benchmarks/forecast_carparts.py [--quick] [--dataset carparts|scms_orders]
       (quick: 2 origins instead of 6)
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
from echelon_demand.backtest import score_distributions, summarise  # noqa: E402
from echelon_demand.models import FORECASTERS, AutoForecaster  # noqa: E402
from echelon_demand.models._common import family_dists, point_lead_times, subset, truncate  # noqa: E402

from platform_core.components import DemandSeries  # noqa: E402
from platform_core.forecasting.classes import classify  # noqa: E402
from platform_core.forecasting.series import padded  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "demand" / "carparts_2674_monthly.csv"
SCMS = ROOT / "tests" / "reference_data" / "leadtimes" / "scms_vendor_leadtimes.csv"
H = 3
BASELINES = ("CrostonClassic", "CrostonSBA", "TSB", "ADIDA", "IMAPA")
SF_WRAPPERS = ("sf_croston_sba", "sf_tsb", "sf_adida", "sf_imapa", "sf_ets")
STATSFORECAST = BASELINES + SF_WRAPPERS


def load_scms_orders(path: Path = SCMS, min_orders: int = 3) -> DemandSeries:
    """Monthly PO-line counts per (country, product) of the SCMS data [orders/month]."""
    import pandas as pd

    d = pd.read_csv(path, usecols=["country", "molecule_test_type", "po_sent_date"])
    d = d.dropna()
    month = pd.to_datetime(d["po_sent_date"]).dt.to_period("M")
    m0, m1 = month.min(), month.max()
    col = np.asarray((month - m0).apply(lambda x: x.n), dtype=np.int64)
    T = int((m1 - m0).n) + 1
    key = (d["country"].astype(str) + "|" + d["molecule_test_type"].astype(str)).to_numpy()
    keys, inv = np.unique(key, return_inverse=True)
    Y = np.zeros((keys.size, T))
    np.add.at(Y, (inv, col), 1.0)
    keep = Y.sum(axis=1) >= min_orders
    Y, keys = Y[keep], keys[keep]
    n = keys.size
    return DemandSeries([str(k) for k in keys], Y.ravel(), np.zeros(n * T, dtype=bool),
                        np.arange(0, n * T + 1, T, dtype=np.int64))


def load(path: Path = DATA) -> DemandSeries:
    """The car-parts series; trailing empty months are dropped, inner gaps stay NaN.

    Read by ``echelon backtest``'s own reader of wide series files (the carparts layout).
    """
    from echelon_demand.series_file import read_series_file

    return read_series_file(path)


def baseline_dists(train: DemandSeries) -> dict[str, list]:
    """statsforecast point forecasts -> NB/Poisson lead-time-demand distributions."""
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, IMAPA, TSB, CrostonClassic, CrostonSBA

    n = len(train)
    ptr = np.asarray(train.indptr)
    lengths = np.diff(ptr)
    uid = np.repeat(np.arange(n), lengths)
    ds = np.arange(ptr[-1]) - np.repeat(ptr[:-1], lengths)
    df = pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.nan_to_num(train.values)})
    sf = StatsForecast(
        models=[CrostonClassic(), CrostonSBA(), TSB(alpha_d=0.1, alpha_p=0.1), ADIDA(), IMAPA()],
        freq=1, n_jobs=1,
    )
    fc = sf.forecast(h=1, df=df, fitted=True)
    fv = sf.forecast_fitted_values()
    fc = fc.set_index("unique_id").sort_index()
    out = {}
    for m in BASELINES:
        f = np.maximum(fc[m].to_numpy(dtype=np.float64), 0.0)
        res2 = (fv["y"] - fv[m]) ** 2
        s2 = res2.groupby(fv["unique_id"]).mean().reindex(np.arange(n)).to_numpy()
        s2 = np.nan_to_num(s2)
        mean = H * np.nan_to_num(f)
        var = H * s2
        out[m] = family_dists("negbin", mean, var)
    return out


def run(origins: int, demand: DemandSeries) -> tuple[list[dict], dict[str, float]]:
    from echelon_demand.bootstrap import BootstrapForecaster

    lengths = np.diff(np.asarray(demand.indptr))
    details: dict[str, dict[str, list[np.ndarray]]] = {}
    timing: dict[str, float] = {}
    echelon = {
        "calibrated": lambda: FORECASTERS["calibrated"](),  # the default of `echelon run`
        "echelon_auto": lambda: AutoForecaster(),
        "echelon_auto_class": lambda: AutoForecaster(select="class"),
        "bootstrap": lambda: BootstrapForecaster(),
        "negbin": lambda: FORECASTERS["negbin"](),
        "tsb": lambda: FORECASTERS["tsb"](),
        **{name: (lambda name=name: FORECASTERS[name]()) for name in SF_WRAPPERS},
    }
    for j in range(origins):
        cut = H + j
        idx = np.flatnonzero(lengths - cut >= 6)
        sub = subset(demand, idx)
        starts = np.asarray(sub.indptr)[1:] - cut
        win = np.asarray(sub.values)[starts[:, None] + np.arange(H)[None, :]]
        good = ~np.isnan(win).any(axis=1)
        idx = idx[good]
        sub = subset(demand, idx)
        train = truncate(sub, np.full(idx.size, cut))
        y = np.rint(win[good].sum(axis=1))
        Ytr, _ = padded(train)
        d = np.abs(np.diff(Ytr, axis=1))
        okd = ~np.isnan(d)
        scale = H * np.where(okd, d, 0).sum(axis=1) / np.maximum(okd.sum(axis=1), 1)
        labels = np.asarray(classify(train).label, dtype=object)
        lts = point_lead_times(np.full(idx.size, H))
        zeros = np.zeros(idx.size, dtype=np.int64)
        preds: dict[str, list] = {}
        for name, make in echelon.items():
            t0 = time.perf_counter()
            f = make().fit(train)
            preds[name] = f.lead_time_demand(lts, zeros, zeros.astype(np.uint64))
            timing[name] = timing.get(name, 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        preds.update(baseline_dists(train))
        timing["statsforecast_all5"] = timing.get("statsforecast_all5", 0.0) + time.perf_counter() - t0
        for name, dists in preds.items():
            m = score_distributions(dists, y, scale)
            dd = details.setdefault(name, {})
            for k, v in m.items():
                dd.setdefault(k, []).append(v)
            dd.setdefault("class", []).append(labels)
    rows: list[dict] = []
    for name, dd in details.items():
        metrics = {k: np.concatenate(v) for k, v in dd.items() if k != "class"}
        rows.extend(summarise(name, np.concatenate(dd["class"]), metrics))
    return rows, timing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 origins instead of 6")
    ap.add_argument("--dataset", choices=("carparts", "scms_orders"), default="carparts")
    ap.add_argument("--data", type=Path, default=None, help="path of the data file")
    args = ap.parse_args(argv)
    path = args.data or (DATA if args.dataset == "carparts" else SCMS)
    if not path.exists():
        print(f"skipped: {path} not found (carparts needs ../shared/data)")
        return 0
    demand = load(path) if args.dataset == "carparts" else load_scms_orders(path)
    origins = 2 if args.quick else 6
    t0 = time.perf_counter()
    rows, timing = run(origins, demand)
    wall = time.perf_counter() - t0
    allrows = [r for r in rows if r["demand_class"] == "all"]
    cols = ["crps", "spl_50", "spl_90", "spl_95", "coverage_80", "coverage_90", "coverage_95"]
    print(f"{args.dataset}: {len(demand)} series, H={H} months, {origins} origins, pairs={allrows[0]['n']}")
    print(f"{'method':24s}" + "".join(f"{c:>12s}" for c in cols))
    for r in sorted(allrows, key=lambda r: r["spl_90"]):
        print(f"{r['forecaster']:24s}" + "".join(f"{r[c]:12.4f}" for c in cols))
    best_sf = {q: min(r[q] for r in allrows if r["forecaster"] in STATSFORECAST) for q in ("spl_90", "spl_95")}
    best_sf_name = {q: min((r for r in allrows if r["forecaster"] in STATSFORECAST), key=lambda r: r[q])["forecaster"]
                    for q in ("spl_90", "spl_95")}
    ech = next(r for r in allrows if r["forecaster"] == "echelon_auto")
    default = next(r for r in allrows if r["forecaster"] == "calibrated")
    print("PIT histogram (tenths), all series:")
    for r in allrows:
        print(f"{r['forecaster']:24s}" + " ".join(f"{r[f'pit_{j}']:.3f}" for j in range(10)))
    verdict = {
        "spl_90_beats_best_baseline": bool(ech["spl_90"] < best_sf["spl_90"]),
        "spl_95_beats_best_baseline": bool(ech["spl_95"] < best_sf["spl_95"]),
        "coverage_90_in_85_95": bool(0.85 <= ech["coverage_90"] <= 0.95),
    }
    print(f"echelon_auto vs best statsforecast ({best_sf_name}):", verdict)
    default_verdict = {
        "spl_90_beats_best_baseline": bool(default["spl_90"] < best_sf["spl_90"]),
        "spl_95_beats_best_baseline": bool(default["spl_95"] < best_sf["spl_95"]),
        "coverage_90_in_85_95": bool(0.85 <= default["coverage_90"] <= 0.95),
    }
    print("calibrated (default of echelon run) vs best statsforecast:", default_verdict)
    result = {
        "dataset": args.dataset,
        "data": path.name,
        "series_count": len(demand),
        "horizon_months": H,
        "origins_count": origins,
        "quick": bool(args.quick),
        "wall_seconds": wall,
        "fit_forecast_seconds": timing,
        "verdict": verdict,
        "default_forecaster_verdict": default_verdict,
        "best_baseline_spl_90_ratio": best_sf["spl_90"],
        "best_baseline_spl_95_ratio": best_sf["spl_95"],
        "best_statsforecast_method": best_sf_name,
        "rows": [
            {
                "method": r["forecaster"],
                "demand_class": r["demand_class"],
                "pairs_count": r["n"],
                "crps_units": r["crps"],
                "scaled_crps_ratio": r["scaled_crps"],
                **{f"spl_{q}_ratio": r[f"spl_{q}"] for q in ("50", "80", "90", "95", "99")},
                "coverage_80_fraction": r["coverage_80"],
                "coverage_90_fraction": r["coverage_90"],
                "coverage_95_fraction": r["coverage_95"],
                "pit_tenths_fraction": [r[f"pit_{j}"] for j in range(10)],
            }
            for r in rows
        ],
    }
    name = "forecast_carparts" if args.dataset == "carparts" else "forecast_scms_orders"
    out = write_result(name + ("_quick" if args.quick else ""), result)
    print(f"wrote {out} ({wall:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
