"""CUSUM demand sensing: false alarms on noise and detection delay of a step."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_demand.sensing import SensingForecaster, cusum, detect_changes

from platform_core.components import DemandSeries


def panel(D: np.ndarray) -> DemandSeries:
    n, T = D.shape
    return DemandSeries([f"s{i}" for i in range(n)], D.ravel().astype(float), np.zeros(n * T, bool),
                        np.arange(0, n * T + 1, T, dtype=np.int64))


@pytest.mark.parametrize("kind", ["poisson", "negbin"])
def test_noise_false_alarms_below_5_percent(kind):
    rng = np.random.default_rng(11)
    n, T = 400, 60
    mu = rng.uniform(1.0, 12.0, n)[:, None]
    D = rng.poisson(mu, (n, T)) if kind == "poisson" else rng.negative_binomial(3, 3 / (3 + mu), (n, T))
    res = detect_changes(panel(D), n_sim=200, seed=1)
    assert res.alarm.mean() < 0.05


def test_step_change_detected_quickly():
    # documented: 5 -> 10 (about 2.2 baseline sd) after 24 warm-up periods is detected
    # within 10 periods in >= 90 % of series, median delay <= 5
    rng = np.random.default_rng(12)
    n, T, tau = 300, 60, 36
    D = rng.poisson(5.0, (n, T)).astype(float)
    D[:, tau:] = rng.poisson(10.0, (n, T - tau))
    res = detect_changes(panel(D), n_sim=200, seed=2)
    delay = np.where(res.alarm, res.alarm_index - tau, 10_000)
    assert np.mean((delay >= 0) & (delay <= 10)) >= 0.9
    assert np.median(delay) <= 5
    assert np.all(res.direction[res.alarm & (delay >= 0)] == 1)
    assert abs(np.median(res.change_index[res.alarm]) - tau) <= 2


def test_cusum_matches_hand_recursion():
    y = np.array([[5.0, 5.0, 9.0, 1.0, 8.0, 8.0]])
    s_max, up, dn, _, _ = cusum(y, np.array([5.0]), np.array([2.0]), 2, 0.5)
    su, sd, ups, dns = 0.0, 0.0, [], []
    for v in y[0, 2:]:
        z = (v - 5.0) / 2.0
        su, sd = max(0.0, su + z - 0.5), max(0.0, sd - z - 0.5)
        ups.append(su)
        dns.append(sd)
    np.testing.assert_allclose(up[0, 2:], ups)
    np.testing.assert_allclose(dn[0, 2:], dns)
    assert s_max[0] == pytest.approx(max(max(ups), max(dns)))


def test_sensing_forecaster_refits_from_change():
    rng = np.random.default_rng(13)
    n, T = 50, 60
    D = rng.poisson(4.0, (n, T)).astype(float)
    D[:, 40:] = rng.poisson(12.0, (n, T - 40))
    f = SensingForecaster(base="poisson", n_sim=100).fit(panel(D))
    means = np.array([d.mean() for d in f.period_demand()])
    assert f.alarm_.mean() > 0.9
    # the refitted mean is close to the new level (12), the full-history EW mean is not
    assert np.median(means[f.alarm_]) == pytest.approx(12.0, rel=0.12)


def test_thresholds_do_not_depend_on_the_other_series_in_the_batch():
    """A series' calibrated threshold is the same alone and in any batch (per-series streams)."""
    rng = np.random.default_rng(5)
    T = 60
    values = rng.poisson(rng.uniform(1, 20, (6, 1)), (6, T)).astype(float)
    keys = [f"S{i}@L" for i in range(6)]

    def series(rows):
        return DemandSeries([keys[i] for i in rows], values[rows].reshape(-1), np.zeros(len(rows) * T, bool),
                            np.arange(0, len(rows) * T + 1, T))

    together = detect_changes(series([0, 1, 2, 3, 4, 5]), n_sim=60, chunk=4).threshold
    for i in range(6):
        alone = detect_changes(series([i]), n_sim=60).threshold
        assert alone[0] == together[i]
    reordered = detect_changes(series([5, 3, 1]), n_sim=60).threshold
    np.testing.assert_array_equal(reordered, together[[5, 3, 1]])
