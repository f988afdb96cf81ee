"""Willemain bootstrap: transition counts and the simulated mean against the Markov chain."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_demand.models import FORECASTERS

from platform_core.components import DemandSeries
from platform_core.distributions import DiscreteDistribution


def test_transitions_and_mean_match_markov_chain():
    y = np.array([0, 0, 3, 5, 0, 0, 0, 2, 0, 4, 4, 0, 0, 1, 0, 0, 0, 0, 6, 2], dtype=float)
    ds = DemandSeries(["a"], y, np.zeros(y.size, bool), np.array([0, y.size]))
    f = FORECASTERS["willemain"](samples=40_000, jitter=False).fit(ds)
    nz = y > 0
    n01 = np.sum(~nz[:-1] & nz[1:])
    n0 = np.sum(~nz[:-1])
    n11 = np.sum(nz[:-1] & nz[1:])
    n1 = np.sum(nz[:-1])
    assert f.p01_[0] == pytest.approx((n01 + 0.5) / (n0 + 1))
    assert f.p11_[0] == pytest.approx((n11 + 0.5) / (n1 + 1))
    # expected sum over 4 periods from the last state (demand) via the transition matrix
    P = np.array([[1 - f.p01_[0], f.p01_[0]], [1 - f.p11_[0], f.p11_[0]]])
    state = np.array([0.0, 1.0])
    expected_occ = 0.0
    for _ in range(4):
        state = state @ P
        expected_occ += state[1]
    expected = expected_occ * y[nz].mean()
    ltd = f.lead_time_demand([DiscreteDistribution.point(3)], np.array([1]), np.array([7]))[0]
    assert ltd.mean() == pytest.approx(expected, rel=0.03)


def test_no_demand_gives_zero():
    ds = DemandSeries(["a"], np.zeros(10), np.zeros(10, bool), np.array([0, 10]))
    f = FORECASTERS["willemain"]().fit(ds)
    assert f.lead_time_demand([DiscreteDistribution.point(2)], np.array([1]), np.array([0]))[0].mean() == 0
