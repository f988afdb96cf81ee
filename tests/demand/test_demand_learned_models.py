"""Parametric, intermittent and auto forecasters against analytic / independent results."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_demand.models import FORECASTERS, AutoForecaster
from echelon_demand.models._common import family_dists, subset
from echelon_demand.models.intermittent import occurrence_size_dists
from echelon_demand.models.parametric import NegBinForecaster, PoissonForecaster
from scipy import stats

from platform_core.components import DemandSeries, Forecaster
from platform_core.distributions import DiscreteDistribution


def make_series(rows: list[np.ndarray], stocked: list[np.ndarray] | None = None) -> DemandSeries:
    ptr = np.concatenate(([0], np.cumsum([len(r) for r in rows]))).astype(np.int64)
    vals = np.concatenate(rows).astype(float) if rows else np.zeros(0)
    so = np.concatenate(stocked) if stocked else np.zeros(vals.size, dtype=bool)
    return DemandSeries([f"s{i}@L" for i in range(len(rows))], vals, so, ptr)


def test_registry_contents_are_forecasters():
    for name in ("poisson", "negbin", "gamma", "normal", "croston", "sba", "tsb", "auto",
                 "censored_negbin", "censored_poisson"):
        assert issubclass(FORECASTERS[name], Forecaster)


def test_subset_takes_the_chosen_series():
    ds = make_series([np.array([1.0, 2.0, 3.0]), np.array([4.0])])
    sub = subset(ds, np.array([1]))
    assert sub.keys == ["s1@L"] and list(sub.values) == [4.0]


def test_poisson_equal_weights_is_sample_mean_and_scipy_pmf():
    rng = np.random.default_rng(1)
    rows = [rng.poisson(lam, 40) for lam in (0.3, 2.0, 7.5)]
    f = PoissonForecaster(alpha=None).fit(make_series(rows))
    for r, d in zip(rows, f.period_demand(), strict=True):
        lam = r.mean()
        assert d.mean() == pytest.approx(lam, rel=1e-8)
        k = np.arange(d.pmf.size)
        np.testing.assert_allclose(d.pmf, stats.poisson.pmf(k, lam) / stats.poisson.cdf(k[-1], lam),
                                   rtol=1e-8, atol=1e-14)


def test_negbin_matches_scipy_with_sample_moments():
    rng = np.random.default_rng(2)
    r = rng.negative_binomial(2, 0.25, 200).astype(float)
    f = NegBinForecaster(alpha=None).fit(make_series([r]))
    m, v = r.mean(), r.var(ddof=1)
    d = f.period_demand()[0]
    assert d.mean() == pytest.approx(m, rel=1e-6)
    assert d.var() == pytest.approx(v, rel=1e-5)
    n_, p_ = m**2 / (v - m), m / v
    np.testing.assert_allclose(d.pmf[:20], stats.nbinom.pmf(np.arange(20), n_, p_), rtol=1e-6)


def test_exponential_weights_match_recursive_smoothing_limit():
    # EW mean with weights (1-a)^age equals the normalised recursive average
    y = np.array([5.0, 1.0, 0.0, 3.0, 8.0, 2.0])
    a = 0.3
    f = PoissonForecaster(alpha=a).fit(make_series([y]))
    w = (1 - a) ** np.arange(len(y) - 1, -1, -1)
    assert f.mean_[0] == pytest.approx(np.dot(w, y) / w.sum())


@pytest.mark.parametrize("family", ["gamma", "normal"])
def test_discretised_families_keep_moments(family):
    d = family_dists(family, np.array([40.0]), np.array([90.0]))[0]
    assert d.mean() == pytest.approx(40.0, abs=0.05)
    assert d.var() == pytest.approx(90.0 + 1 / 12, rel=0.01)  # + rounding variance


def test_underdispersed_negbin_falls_back_to_poisson():
    d = family_dists("negbin", np.array([3.0]), np.array([1.0]))[0]
    np.testing.assert_allclose(d.pmf[:10], stats.poisson.pmf(np.arange(10), 3.0), rtol=1e-9)


def croston_reference(y: np.ndarray, alpha: float, method: str) -> tuple[float, float]:
    """Plain per-series loop (initialised with mean size and mean interval)."""
    nz = y[y > 0]
    z = nz.mean()
    if method == "tsb":
        p = len(nz) / len(y)
        for v in y:
            p += alpha * ((v > 0) - p)
            if v > 0:
                z += alpha * (v - z)
        return p, z
    x = len(y) / len(nz)
    q = 0
    for v in y:
        q += 1
        if v > 0:
            z += alpha * (v - z)
            x += alpha * (q - x)
            q = 0
    return (1 - alpha / 2 if method == "sba" else 1.0) / x, z


@pytest.mark.parametrize("method", ["croston", "sba", "tsb"])
def test_croston_family_matches_reference_loop(method):
    rng = np.random.default_rng(4)
    rows = [(rng.random(30) < 0.3) * (1 + rng.poisson(2, 30)) for _ in range(5)]
    f = FORECASTERS[method](alpha=0.2, beta=0.2).fit(make_series(rows))
    for i, r in enumerate(rows):
        p, z = croston_reference(r.astype(float), 0.2, method)
        assert f.p_[i] == pytest.approx(p, rel=1e-10)
        assert f.size_[i] == pytest.approx(max(z, 1.0), rel=1e-10)
        assert f.period_demand()[i].mean() == pytest.approx(p * max(z, 1.0), rel=1e-6)


def test_occurrence_size_distribution():
    d = occurrence_size_dists(np.array([0.25]), np.array([3.0]), np.array([4.0]))[0]
    assert d.pmf[0] == pytest.approx(0.75)
    assert d.mean() == pytest.approx(0.25 * 3.0, rel=1e-6)
    # E[D^2] = p E[S^2] = p (var + mean^2)
    assert d.var() + d.mean() ** 2 == pytest.approx(0.25 * (4.0 + 9.0), rel=1e-5)


def test_auto_chooses_by_class_and_uses_censored_model():
    smooth = np.full(24, 5.0)
    inter = np.tile([0.0, 0.0, 4.0], 8)
    cens_flags = [np.zeros(24, bool), np.zeros(24, bool), np.r_[np.zeros(20, bool), np.ones(4, bool)],
                  np.zeros(24, bool)]
    f = AutoForecaster(select="class").fit(make_series([smooth, inter, smooth, np.zeros(24)], cens_flags))
    assert list(f.model_) == ["negbin", "tsb", "censored_negbin", "jeffreys_poisson"]
    assert f.period_demand()[3].mean() == pytest.approx(0.5 / 25, rel=1e-6)


class _Boom(NegBinForecaster):
    def fit(self, demand):
        raise RuntimeError("boom")


def test_auto_falls_back_when_a_model_fails(monkeypatch):
    monkeypatch.setitem(FORECASTERS, "boom", _Boom)
    f = AutoForecaster(select="class", class_models={"smooth": "boom"}).fit(make_series([np.full(12, 3.0)]))
    assert f.fallback_used_[0] and f.model_[0] == "poisson"
    assert f.period_demand()[0].mean() == pytest.approx(3.0, rel=1e-6)


def test_auto_backtest_selection_prefers_right_family():
    rng = np.random.default_rng(5)
    rows = [rng.negative_binomial(1, 0.1, 48).astype(float) for _ in range(40)]  # mean 9, var 90
    f = AutoForecaster(select="backtest", candidates=("poisson", "negbin"), horizon=2, origins=3)
    f.fit(make_series(rows))
    assert set(f.choice_.values()) & {"negbin"}
    assert (f.model_ == "negbin").mean() > 0.9


def test_lead_time_demand_of_poisson_is_poisson():
    f = PoissonForecaster(alpha=None).fit(make_series([np.array([2.0, 4.0, 3.0, 3.0])]))
    ltd = f.lead_time_demand([DiscreteDistribution.point(3)], np.array([1]), np.array([0]))[0]
    k = np.arange(40)
    np.testing.assert_allclose(np.pad(ltd.pmf, (0, 60))[:40], stats.poisson.pmf(k, 12.0), atol=1e-9)
