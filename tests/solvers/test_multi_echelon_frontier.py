"""multi_echelon's frontier side columns, against plain engine runs at the frontier's levels.

A frontier point is every store's level for its target plus a shift, read off the final
run's histograms with the DC at its chosen level.  Checked here with the engine without
histograms (another code path): the same seed gives the read-off fill and on hand
exactly, one unit less misses the shifted target, and fresh paths agree within 3 SE.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from echelon_solvers.multi_echelon import MultiEchelonSolver

from platform_core.distributions import DiscreteDistribution as D
from platform_core.frontier import side_arrays, split_side_columns
from platform_core.simulation import Network, Policy, simulate
from platform_core.testing.inputs import StageInput, make_problem

RUN = dict(replications=20, periods=200, warmup=30, search_replications=2, search_periods=150, final_groups=20)
NET = Network(4, ((0, 1, 1.0), (0, 2, 1.0), (0, 3, 1.0)))


def _problem(targets=(0.95, 0.9, float("nan"))):
    st = [StageInput("A@DC", D.poisson(15.0), D.point(3), unit_cost=5.0, holding_cost=0.02, external_demand=False)]
    for i, t in enumerate(targets):
        st.append(StageInput(f"A@S{i}", D.poisson(3.0 + 2 * i), D.point(1), unit_cost=8.0, holding_cost=0.03,
                             service_target=t, upstream=(0,), quantity_per=(1.0,)))
    return make_problem(st)


def _simulate(problem, levels, seed, replications=20):
    return simulate([NET], [Policy.base_stock(np.asarray(levels, dtype=float))],
                    [{k: problem.period_demand[k] for k in (1, 2, 3)}], lead_times=[list(problem.lead_time)],
                    seeds=np.array([seed], dtype=np.uint64), replications=replications, periods=200, warmup=30)


@pytest.fixture(scope="module")
def solved():
    problem = _problem()
    solver = MultiEchelonSolver(target_margin_se=0.0, **RUN)
    table, side = split_side_columns(solver.solve(problem))
    return problem, solver, table, side


def test_side_columns_on_stores_only_and_shift_zero_is_the_recommendation(solved):
    _problem_, solver, table, side = solved
    shifts, has, level, fill, on_hand = side_arrays(side)
    assert has.tolist() == [False, True, True, True]
    assert shifts.tolist() == list(solver.frontier_shifts)
    zero = int(np.flatnonzero(shifts == 0.0)[0])
    np.testing.assert_array_equal(level[1:, zero], table.column("base_stock_level").to_numpy()[1:])
    np.testing.assert_array_equal(fill[1:, zero], table.column("expected_fill_rate").to_numpy()[1:])
    np.testing.assert_array_equal(on_hand[1:, zero], table.column("mean_on_hand").to_numpy()[1:])
    # a higher target never needs less stock, and buys no less fill (the cost-set store too)
    for arr in (level, fill, on_hand):
        assert np.all(np.diff(arr[1:], axis=1) >= 0.0)
    assert np.all(level[1:, 0] < level[1:, -1])


def test_a_frontier_point_is_what_the_engine_gives_at_its_levels(solved):
    problem, solver, table, side = solved
    shifts, _has, level, fill, on_hand = side_arrays(side)
    k = int(np.flatnonzero(np.isclose(shifts, -0.06))[0])
    levels = level[:, k].copy()
    levels[0] = table.column("base_stock_level").to_numpy()[0]  # the DC at its chosen level
    seed = int(problem.seeds[0]) & 0x7FFFFFFFFFFFFFFF
    same = _simulate(problem, levels, seed)
    # same paths, no histograms: the read-off numbers exactly
    np.testing.assert_allclose(same.mean["fill_rate"][1:], fill[1:, k], rtol=1e-9)
    np.testing.assert_allclose(same.mean["on_hand"][1:], on_hand[1:, k], rtol=1e-9)
    # the least level meeting each store's shifted target on those paths (stores 1, 2 have targets)
    for j, target in ((1, 0.95), (2, 0.9)):
        assert same.mean["fill_rate"][j] >= target + shifts[k] - 1e-12
        lower = levels.copy()
        lower[j] -= 1
        assert _simulate(problem, lower, seed).mean["fill_rate"][j] < target + shifts[k]
    # fresh paths: the point's fill holds within 3 standard errors
    fresh = _simulate(problem, levels, seed ^ 0x1234_5678, replications=40)
    se = np.hypot(fresh.se["fill_rate"][1:], same.se["fill_rate"][1:])
    assert np.all(np.abs(fresh.mean["fill_rate"][1:] - fill[1:, k]) <= 3.0 * se)


def test_an_override_caps_the_frontier_and_no_shifts_no_columns():
    problem = _problem((0.95, 0.95, 0.95))
    cap = np.full(4, np.nan)
    cap[1] = 9.0
    capped = replace(problem, level_min=np.full(4, np.nan), level_max=cap)
    _table, side = split_side_columns(MultiEchelonSolver(**RUN).solve(capped))
    _shifts, _has, level, _fill, _on_hand = side_arrays(side)
    free = side_arrays(split_side_columns(MultiEchelonSolver(**RUN).solve(problem))[1])[2]
    assert free[1, -1] > 9.0  # the cap binds at the high end
    assert np.nanmax(level[1]) == 9.0 and np.all(level[1] <= 9.0)
    bare = MultiEchelonSolver(frontier_shifts=(), **RUN).solve(problem)
    assert not [c for c in bare.column_names if c.startswith("frontier_")]
    with pytest.raises(ValueError, match="frontier_shifts"):
        MultiEchelonSolver(frontier_shifts=(-0.1, 0.1))
