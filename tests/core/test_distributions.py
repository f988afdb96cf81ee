import numpy as np
import pytest
from scipy import stats

from platform_core.distributions import DiscreteDistribution as DD
from platform_core.distributions import pack_distributions


def test_poisson_moments_and_quantiles_match_scipy():
    d = DD.poisson(7.3)
    assert d.mean() == pytest.approx(7.3, rel=1e-9)
    assert d.var() == pytest.approx(7.3, rel=1e-9)
    for q in (0.05, 0.5, 0.9, 0.99):
        assert d.quantile(q) == int(stats.poisson.ppf(q, 7.3))
    assert d.expected_shortfall(10) == pytest.approx(
        sum((k - 10) * stats.poisson.pmf(k, 7.3) for k in range(11, 80)), rel=1e-9
    )


def test_normal_discretisation_keeps_moments():
    d = DD.normal(100.0, 15.0)
    assert d.mean() == pytest.approx(100.0, abs=1e-6)
    # discretising adds 1/12 to the variance (Sheppard)
    assert d.var() == pytest.approx(15.0**2 + 1 / 12, rel=1e-4)


def test_convolution_of_poissons_is_poisson():
    a, b = DD.poisson(2.0), DD.poisson(3.5)
    c = a.convolve(b)
    ref = DD.poisson(5.5)
    n = min(c.pmf.size, ref.pmf.size)
    np.testing.assert_allclose(c.pmf[:n], ref.pmf[:n], atol=1e-10)


def test_from_samples_and_sampling_round_trip():
    rng = np.random.default_rng(0)
    d = DD(np.array([0.2, 0.0, 0.5, 0.3]), 4)
    x = d.sample(rng, 200_000)
    e = DD.from_samples(x)
    assert e.offset == 4
    np.testing.assert_allclose(e.pmf, [0.2, 0.0, 0.5, 0.3], atol=0.005)
    with pytest.raises(ValueError):
        DD.from_samples(np.array([-1, 2]))


def test_pack_distributions_csr():
    ds = [DD.point(3), DD(np.array([0.5, 0.5]), 1)]
    cdf, ptr, off = pack_distributions(ds)
    assert ptr.tolist() == [0, 1, 3]
    assert off.tolist() == [3, 1]
    np.testing.assert_allclose(cdf, [1.0, 0.5, 1.0])
