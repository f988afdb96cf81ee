"""A stage's own external demand, recovered from its derived demand (``kit.decompose.own_demand``).

A DC without demand rows of its own has none, even when its forecast is not the sum of its
stores' forecasts (``calibrated`` corrects each series by its own backtest): before the fix
the difference became a phantom demand at the DC, which the solvers simulated and a plain
engine run of the data did not (found by tests/core/test_compare.py under ``calibrated``).
"""

from __future__ import annotations

import numpy as np
from echelon_solvers.kit.decompose import own_demand

from platform_core.distributions import DiscreteDistribution
from platform_core.testing.inputs import StageInput, make_problem


def _problem(dc_has_own_demand: bool):
    store = DiscreteDistribution.poisson(10.0)
    # the DC's forecast: 12 % above its two stores' sum (a non-additive forecaster)
    dc = DiscreteDistribution.poisson(22.4)
    prob = make_problem([
        StageInput("A@DC", dc, DiscreteDistribution.point(2), unit_cost=5.0, holding_cost=0.1, stockout_cost=1.0,
                   service_target=float("nan"), external_demand=dc_has_own_demand),
        StageInput("A@S1", store, DiscreteDistribution.point(1), unit_cost=8.0, holding_cost=0.1, stockout_cost=1.0,
                   service_target=0.95, upstream=(0,), quantity_per=(1.0,), external_demand=True),
        StageInput("A@S2", store, DiscreteDistribution.point(1), unit_cost=8.0, holding_cost=0.1, stockout_cost=1.0,
                   service_target=0.95, upstream=(0,), quantity_per=(1.0,), external_demand=True),
    ])
    return prob


def test_a_dc_without_demand_of_its_own_gets_none():
    prob = _problem(dc_has_own_demand=False)
    assert own_demand(prob, 0, [(1, 1.0), (2, 1.0)]) is None


def test_a_dc_with_demand_of_its_own_keeps_the_difference():
    prob = _problem(dc_has_own_demand=True)
    own = own_demand(prob, 0, [(1, 1.0), (2, 1.0)])
    assert own is not None and np.isclose(own.mean(), 2.4, rtol=1e-6)  # 22.4 - 2 x 10, by moments
