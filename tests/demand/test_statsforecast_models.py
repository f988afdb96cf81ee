"""statsforecast models wrapped as forecasters (``sf_*``), checked against statsforecast itself.

The reference values come from calling statsforecast's models directly on each series
(``model.forecast(y, h)``), independently of the wrapper's long-frame batch call.
"""

from __future__ import annotations

import numpy as np
import pytest
from echelon_demand.models import FORECASTERS
from echelon_demand.models._common import dists_from_csr
from echelon_demand.models.auto import sum_quantiles
from echelon_demand.models.statsforecast_models import SF_FORECASTERS
from statsforecast.models import ADIDA, IMAPA, TSB, AutoETS, CrostonSBA

from platform_core.components import DemandSeries
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.batch import compound_batch
from platform_core.forecasting.scores import crps, quantiles


def make_series(rows: list[np.ndarray]) -> DemandSeries:
    ptr = np.concatenate(([0], np.cumsum([len(r) for r in rows]))).astype(np.int64)
    vals = np.concatenate(rows).astype(float) if rows else np.zeros(0)
    return DemandSeries([f"s{i}@L" for i in range(len(rows))], vals, np.zeros(vals.size, bool), ptr)


def _rows() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    inter = (rng.random(40) < 0.25) * rng.integers(1, 6, 40)
    lumpy = (rng.random(30) < 0.4) * rng.negative_binomial(1, 0.15, 30)
    smooth = rng.poisson(7.0, 36)
    trend = np.rint(5 + 0.8 * np.arange(36) + rng.normal(0, 1.5, 36)).clip(0)
    gap = inter.astype(float).copy()
    gap[[5, 17]] = np.nan  # missing periods are dropped before fitting
    return [inter.astype(float), lumpy.astype(float), smooth.astype(float), trend, gap,
            np.zeros(12), np.array([np.nan, np.nan])]


REFERENCE = {
    "sf_croston_sba": lambda: CrostonSBA(),
    "sf_tsb": lambda: TSB(alpha_d=0.1, alpha_p=0.1),
    "sf_adida": lambda: ADIDA(),
    "sf_imapa": lambda: IMAPA(),
    "sf_ets": lambda: AutoETS(season_length=1),
}


@pytest.mark.parametrize("name", sorted(SF_FORECASTERS))
def test_wrapper_mean_is_statsforecasts_point_forecast(name):
    rows = _rows()
    f = FORECASTERS[name]().fit(make_series(rows))
    dists = f.period_demand()
    assert len(dists) == len(rows)
    for i, r in enumerate(rows):
        y = r[np.isfinite(r)]
        d = dists[i]
        assert np.all(d.pmf >= 0) and d.pmf.sum() == pytest.approx(1.0, abs=1e-12)
        if y.size == 0:
            assert d.mean() == 0.0  # no observation: point mass at 0
            continue
        ref = max(float(REFERENCE[name]().forecast(y=y, h=1)["mean"][0]), 0.0)
        assert d.mean() == pytest.approx(ref, rel=1e-6, abs=1e-9), (name, i)
        assert f.mean_[i] == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_occurrence_rule_is_bernoulli_times_empirical_sizes():
    y = np.array([0, 2, 0, 0, 5, 0, 2, 0, 0, 0, 3, 0, 0, 2, 0, 0, 0, 0, 1, 0], dtype=float)
    d = FORECASTERS["sf_croston_sba"]().fit(make_series([y])).period_demand()[0]
    f = float(CrostonSBA().forecast(y=y, h=1)["mean"][0])
    sizes = y[y > 0]
    p = f / sizes.mean()
    assert d.offset == 0
    assert d.pmf[0] == pytest.approx(1 - p, rel=1e-12)
    for k in range(1, 6):
        assert d.pmf[k] == pytest.approx(p * np.mean(sizes == k), rel=1e-12, abs=1e-15)


def test_ets_dispersion_is_in_sample_residual_variance():
    rng = np.random.default_rng(8)
    y = rng.negative_binomial(2, 0.2, 48).astype(float)  # mean 8, var 40: over-dispersed
    f = FORECASTERS["sf_ets"]().fit(make_series([y]))
    ref = AutoETS(season_length=1).forecast(y=y, h=1, fitted=True)
    res = y - ref["fitted"]
    s2 = np.nanmean(res**2)
    assert s2 > ref["mean"][0]
    d = f.period_demand()[0]
    assert d.var() == pytest.approx(s2, rel=1e-4)
    assert f.rule_[0] == "dispersion"


def test_dists_from_csr_equals_checked_constructor():
    rng = np.random.default_rng(1)
    blocks = [np.r_[0.0, rng.random(5), 0.0, 0.0], np.zeros(3), rng.random(1), np.r_[1e-16, rng.random(3)]]
    lo = np.array([2, 4, 0, 1])
    ptr = np.concatenate(([0], np.cumsum([b.size for b in blocks])))
    got = dists_from_csr(np.concatenate(blocks), ptr, lo)
    for g, b, o in zip(got, blocks, lo, strict=True):
        ref = DiscreteDistribution(np.where(b > 1e-14, b, 0.0), int(o)) if (b > 1e-14).any() \
            else DiscreteDistribution.point(int(o))
        assert g.offset == ref.offset
        np.testing.assert_array_equal(g.pmf, ref.pmf)  # bit-identical


def test_sum_quantiles_and_crps_match_compounding():
    rng = np.random.default_rng(2)
    period = [DiscreteDistribution(rng.random(rng.integers(1, 7)), int(rng.integers(0, 3))) for _ in range(30)]
    period.append(DiscreteDistribution.point(0))
    h = 3
    lv = np.array([0.5, 0.9, 0.95])
    y = rng.integers(0, 20, len(period)).astype(float)
    Q, c = sum_quantiles(period, h, lv, y)
    ltd = compound_batch(period, [DiscreteDistribution.point(h)] * len(period), np.zeros(len(period), int))
    np.testing.assert_array_equal(Q, quantiles(ltd, lv))
    np.testing.assert_allclose(c, crps(ltd, y), rtol=1e-9, atol=1e-9)
