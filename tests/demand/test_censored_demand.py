"""Unconstraining censored demand: mean bias within +-3 % where the naive fit is low."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_demand.models import FORECASTERS

from platform_core.components import DemandSeries


def censored_panel(kind: str, n: int = 400, T: int = 52, seed: int = 0):
    """True demand Poisson/NB; sales = min(demand, stock); stocked_out where demand >= stock."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(2.0, 15.0, n)[:, None]
    if kind == "poisson":
        D = rng.poisson(mu, (n, T))
    else:
        r = 2.5
        D = rng.negative_binomial(r, r / (r + mu), (n, T))
    stock = rng.poisson(mu * 1.15, (n, T))  # roughly 40 % of periods stock out
    sales = np.minimum(D, stock).astype(float)
    flags = D >= stock
    ds = DemandSeries([f"s{i}" for i in range(n)], sales.ravel(), flags.ravel(),
                      np.arange(0, n * T + 1, T, dtype=np.int64))
    return ds, mu.ravel(), flags.mean()


@pytest.mark.parametrize(("kind", "model"), [("poisson", "censored_poisson"), ("poisson", "censored_negbin"),
                                              ("negbin", "censored_negbin")])
def test_unconstrained_mean_is_unbiased(kind, model):
    ds, mu, cens = censored_panel(kind)
    assert 0.2 < cens < 0.6
    f = FORECASTERS[model](alpha=None).fit(ds)
    bias = f.mean_.sum() / mu.sum() - 1.0
    naive = FORECASTERS["negbin"](alpha=None).fit(ds).mean_.sum() / mu.sum() - 1.0
    assert abs(bias) < 0.03, bias
    assert naive < -0.08, naive  # the naive fit is biased low
    assert f.censored_fraction_.mean() == pytest.approx(cens)


def test_censored_negbin_recovers_dispersion():
    ds, mu, _ = censored_panel("negbin", n=200, T=80, seed=3)
    f = FORECASTERS["censored_negbin"](alpha=None).fit(ds)
    true_var = mu + mu**2 / 2.5
    ratio = f.var_.sum() / true_var.sum()
    assert 0.85 < ratio < 1.15, ratio


def test_no_censoring_equals_plain_moments():
    rng = np.random.default_rng(9)
    y = rng.poisson(4.0, 60).astype(float)
    ds = DemandSeries(["a"], y, np.zeros(60, bool), np.array([0, 60]))
    f = FORECASTERS["censored_poisson"](alpha=None).fit(ds)
    assert f.mean_[0] == pytest.approx(y.mean())
