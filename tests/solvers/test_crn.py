"""The common-random-number generator of the learned-policy simulators (kit.crn)."""

from __future__ import annotations

import numpy as np
from echelon_solvers.kit import crn_key, crn_uniform
from scipy import stats


def test_uniform_is_splitmix64_against_its_published_sequence() -> None:
    # SplitMix64 seeded with 0 (the reference sequence of Vigna's splitmix64.c, used to seed
    # xoshiro): 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F. One step of
    # crn_uniform from state k is the generator's output for state k; its 53 high bits / 2**53.
    golden = 0x9E3779B97F4A7C15
    expected = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    for step, out in enumerate(expected):
        state = np.uint64((step * golden) % 2**64)
        assert crn_uniform(state) == (out >> 11) / 2.0**53


def test_uniforms_of_distinct_keys_are_uniform_and_independent() -> None:
    u = np.array([crn_uniform(crn_key(7, path, t, 0)) for path in range(40) for t in range(250)])
    assert ((u >= 0.0) & (u < 1.0)).all()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    lag = np.corrcoef(u[:-1], u[1:])[0, 1]
    assert abs(lag) < 4.0 / np.sqrt(u.size)  # ~4 standard errors of a zero correlation
    # Same key, same number; another seed, another stream.
    assert crn_uniform(crn_key(7, 3, 5, 0)) == crn_uniform(crn_key(7, 3, 5, 0))
    assert crn_uniform(crn_key(8, 3, 5, 0)) != crn_uniform(crn_key(7, 3, 5, 0))
