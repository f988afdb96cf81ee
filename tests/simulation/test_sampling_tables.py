"""The engine's sampling tables of many distributions at once are those of each one alone.

:func:`sampling_tables` (one compiled pass over all distributions) against
:func:`guide_table` and :func:`threshold_tables` (NumPy, the reference the kernels were
checked with), on random PMFs of many sizes, point masses, PMFs whose cumulative sums round
above 1 before the last point, and long supports.
"""

from __future__ import annotations

import numpy as np

from platform_core.distributions import DiscreteDistribution, pack_distributions
from platform_core.simulation import engine
from platform_core.simulation._rng import guide_table, threshold_tables
from platform_core.simulation._sampling_tables import sampling_tables


def _dists(rng: np.random.Generator) -> list[DiscreteDistribution]:
    out = [DiscreteDistribution.point(3), DiscreteDistribution.poisson(0.2), DiscreteDistribution.poisson(40.0),
           DiscreteDistribution(np.full(7, 1.0 / 7.0), 2)]  # 1/7 sums round above 1 before the end
    for _ in range(200):
        m = int(rng.integers(1, 300))
        pmf = rng.random(m) ** 3 * (rng.random(m) < 0.8)
        pmf[rng.integers(0, m)] += 0.1
        out.append(DiscreteDistribution(pmf / pmf.sum(), int(rng.integers(0, 5))))
    return out


def test_sampling_tables_equal_the_per_distribution_tables() -> None:
    dists = _dists(np.random.default_rng(3))
    cdf, ptr, _off = pack_distributions(dists)
    guide, thr, g_ptr, tguide, g_shift = sampling_tables(cdf, ptr)
    np.testing.assert_array_equal(guide, guide_table(cdf, ptr))
    want_thr, want_g_ptr, want_tguide, want_shift = threshold_tables(cdf, ptr)
    np.testing.assert_array_equal(thr, want_thr)
    np.testing.assert_array_equal(g_ptr, want_g_ptr)
    np.testing.assert_array_equal(tguide, want_tguide)
    np.testing.assert_array_equal(g_shift, want_shift)


def test_engine_tables_equal_the_reference_tables() -> None:
    """What the engine hands the kernels: the reference tables of the distributions packed together."""
    dists = _dists(np.random.default_rng(4))
    got = engine._distribution_tables(dists[:50])  # some tabulated before, the rest in one pass
    got = engine._distribution_tables(dists)
    cdf, ptr, off = pack_distributions(dists)
    thr, g_ptr, tguide, g_shift = threshold_tables(cdf, ptr)
    want = (cdf, ptr, off, guide_table(cdf, ptr), thr, g_ptr, tguide, g_shift)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype == w.dtype, k
        np.testing.assert_array_equal(g, w, err_msg=str(k))
