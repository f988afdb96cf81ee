"""The known-shape forecaster of benchmarks/service_vs_cost.py (scale estimated, shape known)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("service_vs_cost")


@pytest.fixture(scope="module")
def data(bench, generated_dataset: Path) -> dict:
    return bench.load(generated_dataset)


def test_truth_distributions_with_the_true_scale_are_the_truth(bench, data):
    weeks = np.arange(78, 104)
    true_scale = data["truth_params"].column("mean_size").to_numpy()
    a = bench.truth_distributions(data, weeks)
    b = bench.truth_distributions(data, weeks, mean_size=true_scale)
    c = bench.truth_distributions(data, weeks, mean_size=2.0 * true_scale)
    for s in data["truth_rows"]:
        assert a[s].offset == b[s].offset and np.array_equal(a[s].pmf, b[s].pmf)
        assert c[s].mean() > a[s].mean()
    assert sum(d is not None for d in a) == data["truth_rows"].size


def test_known_shape_scale_recovers_the_generator_scale(bench, data):
    est = bench.known_shape_scale(data, 78)
    true_scale = data["truth_params"].column("mean_size").to_numpy()
    err = est["ml"] / true_scale - 1.0
    assert np.all(np.isfinite(est["ml"])) and np.all(est["ml"] > 0)
    assert np.median(np.abs(err)) < 0.10
    assert abs(np.median(err)) < 0.03  # no systematic bias from dropping censored weeks
    cls = data["truth_params"].column("demand_class").to_numpy(zero_copy_only=False)
    smooth = cls == "smooth"
    assert np.median(np.abs(err[smooth])) < 0.05
    # the positive-week counts never exceed the training weeks
    assert est["positive_uncensored_weeks"].max() <= 78


def test_known_shape_ml_is_the_likelihood_maximum(bench, data):
    est = bench.known_shape_scale(data, 78)
    cols, season, trend = bench.relative_levels(data, np.arange(78))
    rows = data["truth_rows"]
    y = data["observed"][rows, :78]
    ok = ~np.isnan(y) & ~data["stocked_out"][rows, :78] & (np.nan_to_num(y) > 0)
    row, t = np.nonzero(ok)
    args = (y[row, t], (season * trend)[row, t], (1.0 / cols["size_cv"] ** 2)[row], row, rows.size)
    best = bench._size_loglik(est["ml"], *args)
    for f in (0.97, 1.03):
        assert np.all(bench._size_loglik(est["ml"] * f, *args)[est["positive_uncensored_weeks"] > 0]
                      <= best[est["positive_uncensored_weeks"] > 0] + 1e-9)
