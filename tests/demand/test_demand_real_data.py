"""Checks on real data sets: ../shared/data, else the copies in tests/reference_data.

carparts (GPL-3) is not shipped, so its tests skip where ../shared/data is absent; SCMS
(US-government open data) is shipped and always runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CARPARTS = "demand/carparts_2674_monthly.csv"
SCMS = "leadtimes/scms_vendor_leadtimes.csv"


def _bench(name: str):
    bench = str(ROOT / "benchmarks")
    added = bench not in sys.path
    if added:
        sys.path.insert(0, bench)
    try:
        return __import__(name)
    finally:
        if added and bench in sys.path:
            sys.path.remove(bench)


def test_carparts_layout_and_classes(shared_data):
    from platform_core.forecasting.classes import classify

    ds = _bench("forecast_carparts").load(shared_data.path(CARPARTS))
    assert len(ds) == 2674
    vals = ds.values[~np.isnan(ds.values)]
    assert 0.70 < np.mean(vals == 0) < 0.78
    labels = classify(ds).label
    assert np.mean(labels == "intermittent") > 0.7


def test_carparts_auto_beats_croston_distribution_on_a_subset(shared_data):
    from echelon_demand.backtest import backtest
    from echelon_demand.models._common import subset

    ds = _bench("forecast_carparts").load(shared_data.path(CARPARTS))
    sub = subset(ds, np.arange(0, 2674, 5))
    rows = {r["forecaster"]: r for r in backtest(sub, ["auto", "croston"], horizon=3, origins=1).to_pylist()
            if r["demand_class"] == "all"}
    assert rows["auto"]["spl_90"] < rows["croston"]["spl_90"]
    assert 0.85 <= rows["auto"]["coverage_90"] <= 0.97


def test_scms_receipts_fit_parametric(shared_data):
    from echelon_leadtime.models import LEAD_TIME_MODELS

    t = _bench("leadtime_scms").load(shared_data.path(SCMS))
    assert t.num_rows == 4592 - 357
    m = LEAD_TIME_MODELS["gamma"]().fit(t)
    d = [x for x in m.predict(t.slice(0, 50), period_days=7.0) if x is not None]
    assert len(d) == 50 and all(1.0 < x.mean() < 60.0 for x in d)
