"""A discrete distribution from predicted quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.forecasting.quantile_pmf import quantiles_to_pmf


def test_quantiles_to_pmf_reproduces_cdf_at_levels():
    levels = np.array([0.1, 0.5, 0.9])
    d = quantiles_to_pmf(np.array([1.5, 4.5, 8.5]), levels)
    # F(k) is read at k + 0.5, so F(1) = 0.1, F(4) = 0.5, F(8) = 0.9
    assert d.cdf(1) == pytest.approx(0.1)
    assert d.cdf(4) == pytest.approx(0.5)
    assert d.cdf(8) == pytest.approx(0.9)


def test_quantiles_to_pmf_clips_negative_and_crossing_quantiles():
    levels = np.array([0.1, 0.5, 0.9])
    d = quantiles_to_pmf(np.array([-1.0, 3.0, 2.0]), levels)
    ref = quantiles_to_pmf(np.array([0.0, 3.0, 3.0]), levels)
    assert d.offset == ref.offset == 0
    np.testing.assert_array_equal(d.pmf, ref.pmf)
    assert d.pmf.sum() == pytest.approx(1.0) and np.all(d.pmf >= 0)
