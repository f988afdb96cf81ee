"""Global quantile GBM forecaster against known quantiles."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from echelon_demand.models import FORECASTERS
from scipy import stats

from platform_core.components import DemandSeries


def test_global_gbm_small_fit_gives_sorted_quantiles():
    rng = np.random.default_rng(1)
    n, T = 40, 15
    D = rng.poisson(3.0, (n, T)).astype(float)
    ds = DemandSeries([f"s{i}" for i in range(n)], D.ravel(), np.zeros(n * T, bool),
                      np.arange(0, n * T + 1, T, dtype=np.int64))
    f = FORECASTERS["quantile_gbm"](max_iter=5, max_rows=600).fit(ds)
    assert f.quantiles_.shape == (n, len(f.levels))
    assert np.all(np.diff(f.quantiles_, axis=1) >= 0)
    assert len(f.period_demand()) == n


def test_global_gbm_learns_poisson_quantiles_and_uses_attributes():
    rng = np.random.default_rng(0)
    n, T = 120, 20
    group = rng.integers(0, 2, n)
    lam = np.where(group == 0, 2.0, 8.0)[:, None]
    D = rng.poisson(lam, (n, T)).astype(float)
    ds = DemandSeries([f"s{i}" for i in range(n)], D.ravel(), np.zeros(n * T, bool),
                      np.arange(0, n * T + 1, T, dtype=np.int64),
                      attributes=pa.table({"group": group.astype(np.int64), "name": [str(i) for i in range(n)]}))
    f = FORECASTERS["quantile_gbm"](max_iter=25, learning_rate=0.3, max_rows=3_000).fit(ds)
    assert f.is_global
    dists = f.period_demand()
    for g, lam_g in ((0, 2.0), (1, 8.0)):
        idx = np.flatnonzero(group == g)
        mean = np.mean([dists[i].mean() for i in idx])
        assert mean == pytest.approx(lam_g, rel=0.12)
        q90 = np.median(f.quantiles_[idx, list(f.levels).index(0.9)])
        assert stats.poisson.ppf(0.9, lam_g) - 1.5 <= q90 <= stats.poisson.ppf(0.9, lam_g) + 0.5
