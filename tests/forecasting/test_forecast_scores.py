"""Forecast scores against independent formulas."""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.scores import coverage, crps, pinball, quantiles


def crps_energy(d: DiscreteDistribution, y: float) -> float:
    """CRPS = E|X - y| - 0.5 E|X - X'| (energy form, independent of the CDF sum)."""
    x, p = d.support.astype(float), d.pmf
    return float(np.dot(p, np.abs(x - y)) - 0.5 * np.sum(np.outer(p, p) * np.abs(x[:, None] - x[None, :])))


@pytest.mark.parametrize("y", [0, 1, 3, 7, 25])
def test_crps_matches_energy_form(y):
    dists = [DiscreteDistribution.poisson(4.0), DiscreteDistribution(np.array([0.2, 0.3, 0.5]), 2),
             DiscreteDistribution.point(5)]
    got = crps(dists, np.full(3, y))
    for g, d in zip(got, dists, strict=True):
        assert g == pytest.approx(crps_energy(d, y), abs=1e-9)


def test_quantiles_pinball_coverage():
    d = DiscreteDistribution(np.array([0.5, 0.3, 0.2]), 0)
    q = quantiles([d], np.array([0.1, 0.5, 0.8, 0.95]))[0]
    np.testing.assert_array_equal(q, [0, 0, 1, 2])
    assert pinball(np.array([2.0]), np.array([5.0]), 0.9)[0] == pytest.approx(2.7)
    assert pinball(np.array([2.0]), np.array([0.0]), 0.9)[0] == pytest.approx(0.2)
    np.testing.assert_array_equal(coverage(np.array([1, 1]), np.array([3, 3]), np.array([3, 4])), [1, 0])
