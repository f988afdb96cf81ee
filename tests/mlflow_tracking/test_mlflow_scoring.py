"""Scores, calibration tables and drift statistics (no MLflow store needed)."""

import numpy as np
import pyarrow as pa
import pytest
from echelon_mlflow.calibration import calibrate, demand_holdout
from echelon_mlflow.monitor import group_drift, psi
from echelon_mlflow.scoring import pit_histogram, score_distributions
from echelon_mlflow.settings import DriftThresholds, TrackingSettings
from scipy import stats

from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.scores import crps as reference_crps


def _dists(rng, n):
    out = []
    for _ in range(n):
        pmf = rng.random(rng.integers(1, 15))
        out.append(DiscreteDistribution(pmf / pmf.sum(), int(rng.integers(0, 5))))
    return out


def test_crps_matches_the_demand_metrics_and_pit_is_uniform_when_right():
    rng = np.random.default_rng(1)
    dists = _dists(rng, 300)
    y = np.array([[d.offset + rng.choice(d.pmf.size, p=d.pmf) for _ in range(6)] for d in dists], float)
    s = score_distributions(dists, y, seed=3)
    for h in range(6):
        np.testing.assert_allclose(s["crps"][:, h], reference_crps(dists, y[:, h]), atol=1e-9)
    # outcomes drawn from the predicted distributions: PIT uniform, coverage nominal
    assert stats.kstest(s["pit"].ravel(), "uniform").pvalue > 0.001
    assert np.mean(s["covered_80"]) >= 0.78  # closed intervals of discrete laws cover at least nominal
    # outcomes far above every forecast: PIT near 1, nothing covered
    hi = score_distributions(dists, y + 100, seed=3)
    assert np.all(hi["pit"] > 0.99) and np.all(hi["covered_90"] == 0)


def test_missing_outcomes_are_not_scored():
    d = [DiscreteDistribution.point(3)]
    s = score_distributions(d, np.array([[3.0, np.nan]]))
    assert s["crps"][0, 0] == 0 and np.isnan(s["crps"][0, 1])


def test_pit_histogram_and_psi():
    h = pit_histogram(np.linspace(0, 1, 1000, endpoint=False))
    np.testing.assert_allclose(h, 0.1)
    assert psi(h, h) == pytest.approx(0.0)
    skew = pit_histogram(np.full(100, 0.95))
    assert psi(skew, h) > 1.0


def test_calibration_tables_per_sku_and_group(generated_dataset):
    from echelon_demand.bootstrap import BootstrapForecaster

    from platform_core.data.loaders import load_dataset

    ds = load_dataset(generated_dataset)
    h = demand_holdout(ds.tables["demand"], 8, stages=ds.tables["stages"], receipts=ds.tables["receipts"])
    f = BootstrapForecaster().fit(h.train)
    cal = calibrate(h, f.period_demand(), "bootstrap")
    assert cal.per_sku.num_rows == len(h)
    assert cal.observations.num_rows == int(np.sum(~np.isnan(h.outcomes)))
    s = cal.summary.to_pylist()
    assert s[0]["group_by"] == "all" and s[0]["n"] == cal.observations.num_rows
    assert {r["group_by"] for r in s} == {"all", "demand_class", "product_group", "location_type"}
    assert sum(r[f"pit_{b:02d}"] for b in range(10) for r in s[:1]) == pytest.approx(1.0)
    assert 0.5 < cal.overall["coverage_80"] <= 1.0
    # the hold-out really is the last 8 periods, and sampling caps the series
    small = demand_holdout(ds.tables["demand"], 8, max_series=50)
    assert len(small) <= 50


def _obs(pit, group, n_series=40):
    n = pit.size
    return pa.table({
        "sku": [f"S{i % n_series}" for i in range(n)], "location": ["L"] * n,
        "y": np.ones(n), "pit": pit, "crps": np.ones(n), "covered_80": (np.abs(pit - 0.5) < 0.4).astype(float),
        "product_group": group,
    })


def test_group_drift_flags_only_the_shifted_group():
    rng = np.random.default_rng(0)
    groups = np.repeat(["A", "B"], 400)
    ref = _obs(rng.random(800), groups)
    pit = rng.random(800)
    pit[:400] = 0.6 + 0.4 * pit[:400]  # group A: outcomes above the forecasts
    drift = {(g.group_by, g.group): g for g in group_drift(_obs(pit, groups), ref, ["product_group"], DriftThresholds())}
    assert drift[("product_group", "A")].flagged
    assert drift[("product_group", "A")].pit_shift > 0.2
    assert not drift[("product_group", "B")].flagged
    # the same data is never flagged against itself
    assert not any(g.flagged for g in group_drift(ref, ref, ["product_group"], DriftThresholds()))


def test_settings_from_the_tracking_section():
    s = TrackingSettings.from_mapping({"uri": "sqlite:///x.db", "recalibrate": "auto", "drift_psi": 0.5,
                                       "drift_min_obs": 10, "holdout_periods": 4})
    assert s.enabled and s.recalibrate == "auto" and s.drift.psi == 0.5 and s.drift.min_obs == 10
    assert s.monitor_experiment == "echelon-monitoring" and s.holdout_periods == 4
    assert not TrackingSettings.from_mapping({"uri": "none"}).enabled
    with pytest.raises(ValueError, match="recalibrate"):
        TrackingSettings.from_mapping({"recalibrate": "sometimes"})
