"""Batch forecaster base and FFT compounding against direct convolution."""

from __future__ import annotations

from typing import Self

import numpy as np
import pytest

from platform_core.components import DemandSeries, compound
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.batch import BatchForecaster, compound_batch


class _Fixed(BatchForecaster):
    """One fixed per-period PMF per series (the smallest concrete batch forecaster)."""

    def __init__(self, dists: list[DiscreteDistribution]) -> None:
        self.dists = dists

    def fit(self, demand: DemandSeries) -> Self:
        self.period_dists_ = list(self.dists)
        return self


def _dense(d: DiscreteDistribution, size: int) -> np.ndarray:
    out = np.zeros(size)
    out[d.offset : d.offset + d.pmf.size] = d.pmf
    return out


def test_compound_batch_matches_direct_convolution():
    rng = np.random.default_rng(3)
    periods = [DiscreteDistribution(rng.random(5), 0), DiscreteDistribution.poisson(3.0),
               DiscreteDistribution(np.array([0.7, 0.0, 0.3]), 0), DiscreteDistribution.point(0)]
    lts = [DiscreteDistribution(np.array([0.2, 0.5, 0.3]), 1), DiscreteDistribution.point(4),
           DiscreteDistribution(np.array([0.5, 0.5]), 0), DiscreteDistribution.point(2)]
    review = np.array([1, 0, 2, 1])
    got = compound_batch(periods, lts, review)
    for g, p, lt, r in zip(got, periods, lts, review, strict=True):
        ref = compound(p, lt, int(r))
        size = max(g.offset + g.pmf.size, ref.offset + ref.pmf.size)
        a = np.zeros(size)
        b = np.zeros(size)
        a[g.offset : g.offset + g.pmf.size] = g.pmf
        b[ref.offset : ref.offset + ref.pmf.size] = ref.pmf
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_compound_batch_blocks_give_the_same_pmfs():
    rng = np.random.default_rng(4)
    periods = [DiscreteDistribution(rng.random(int(rng.integers(2, 9))), 0) for _ in range(12)]
    lts = [DiscreteDistribution(rng.random(int(rng.integers(1, 4))), int(rng.integers(0, 3))) for _ in range(12)]
    review = rng.integers(0, 3, 12)
    whole = compound_batch(periods, lts, review)
    blocked = compound_batch(periods, lts, review, max_cells=64)  # one row per FFT block
    for a, b in zip(whole, blocked, strict=True):
        size = max(a.offset + a.pmf.size, b.offset + b.pmf.size)
        np.testing.assert_allclose(_dense(a, size), _dense(b, size), atol=1e-12)


def test_batch_forecaster_lead_time_demand_of_a_point_lead_time():
    f = _Fixed([DiscreteDistribution(np.array([0.5, 0.5]), 0), DiscreteDistribution.point(0)])
    f.fit(DemandSeries(["a", "b"], np.zeros(2), np.zeros(2, bool), np.array([0, 1, 2])))
    np.testing.assert_allclose(f.mean(), [0.5, 0.0])
    ltd = f.lead_time_demand([DiscreteDistribution.point(1), DiscreteDistribution.point(3)],
                             np.array([1, 0]), np.zeros(2, dtype=np.int64))
    np.testing.assert_allclose(_dense(ltd[0], 3), [0.25, 0.5, 0.25], atol=1e-12)  # two fair coins
    assert ltd[1].mean() == pytest.approx(0.0)
    assert f.period_demand() is not f.period_dists_


def test_batch_forecaster_checks_fit_and_lengths():
    f = _Fixed([DiscreteDistribution.point(1)])
    with pytest.raises(RuntimeError, match="not fitted"):
        f.period_demand()
    f.fit(DemandSeries(["a"], np.ones(1), np.zeros(1, bool), np.array([0, 1])))
    with pytest.raises(ValueError, match="one lead-time distribution per fitted series"):
        f.lead_time_demand([], np.array([0]), np.zeros(1, dtype=np.int64))
