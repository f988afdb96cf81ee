"""multi_echelon's on hand on fresh paths (``fresh_on_hand``), and when a run asks for it.

The fresh figures are checked against the engine without histograms (another code path)
at the frontier's levels on the fresh stream: the read-off mean on hand and its SE
exactly; and the fresh run leaves every other number of the solve as it was.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from echelon_solvers.multi_echelon import _FRESH_SALT, MultiEchelonSolver
from echelon_solvers.single_echelon import SingleEchelonSolver

from platform_core.components import ComponentSpec
from platform_core.constraints import counts_on_hand_estimates, with_fresh_estimates
from platform_core.data.schemas import Dataset
from platform_core.distributions import DiscreteDistribution as D
from platform_core.frontier import side_arrays, split_side_columns
from platform_core.incremental.outputs import combined_side, read_frontier_side, write_frontier_side
from platform_core.simulation import Network, Policy, simulate
from platform_core.testing.inputs import StageInput, make_problem

# one histogram group per replication: the read-off SE is the engine's SE over replications
RUN = dict(replications=20, periods=200, warmup=30, search_replications=2, search_periods=150, final_groups=20)
NET = Network(4, ((0, 1, 1.0), (0, 2, 1.0), (0, 3, 1.0)))
FRESH = ("frontier_fresh_on_hand", "frontier_fresh_on_hand_sd", "frontier_fresh_on_hand_k3",
         "frontier_fresh_on_hand_se")


def _problem():
    st = [StageInput("A@DC", D.poisson(15.0), D.point(3), unit_cost=5.0, holding_cost=0.02, external_demand=False)]
    for i, t in enumerate((0.95, 0.9, 0.97)):
        st.append(StageInput(f"A@S{i}", D.poisson(3.0 + 2 * i), D.point(1), unit_cost=8.0, holding_cost=0.03,
                             service_target=t, upstream=(0,), quantity_per=(1.0,)))
    return make_problem(st)


@pytest.fixture(scope="module")
def solved():
    problem = _problem()
    with_fresh = MultiEchelonSolver(fresh_on_hand=True, **RUN).solve(problem)
    without = MultiEchelonSolver(**RUN).solve(problem)
    return problem, with_fresh, without


def _dense(side: pa.Table, name: str) -> np.ndarray:
    return np.array([row if row is not None else [np.nan] * len(side.column("frontier_level")[1].as_py())
                     for row in side.column(name).to_pylist()], dtype=float)


def test_fresh_figures_are_the_engines_on_an_independent_stream(solved):
    problem, table, _without = solved
    rec, side = split_side_columns(table)
    shifts, has, level, _fill, on_hand = side_arrays(side)
    assert has.tolist() == [False, True, True, True]
    fresh, fresh_se = _dense(side, "frontier_fresh_on_hand"), _dense(side, "frontier_fresh_on_hand_se")
    seed = int(problem.seeds[0]) & 0x7FFFFFFFFFFFFFFF
    for k in (int(np.flatnonzero(np.isclose(shifts, -0.06))[0]), int(np.flatnonzero(shifts == 0.0)[0])):
        levels = level[:, k].copy()
        levels[0] = rec.column("base_stock_level").to_numpy()[0]  # the DC at its chosen level
        res = simulate([NET], [Policy.base_stock(levels)], [{j: problem.period_demand[j] for j in (1, 2, 3)}],
                       lead_times=[list(problem.lead_time)], seeds=np.array([seed ^ _FRESH_SALT], dtype=np.uint64),
                       replications=20, periods=200, warmup=30)
        np.testing.assert_allclose(fresh[1:, k], res.mean["on_hand"][1:], rtol=1e-9)
        np.testing.assert_allclose(fresh_se[1:, k], res.se["on_hand"][1:], rtol=1e-9)
        # other paths than the final run's, which chose these levels
        assert np.all(fresh[1:, k] != on_hand[1:, k])
    # the sd and third moment over periods are those of the fresh curve: sd^2 <= mean x (level - mean)
    sd = _dense(side, "frontier_fresh_on_hand_sd")
    assert np.all(sd[1:] ** 2 <= fresh[1:] * (level[1:] - fresh[1:]) + 1e-9) and np.all(sd[1:] > 0)


def test_the_fresh_run_changes_nothing_else(solved):
    _problem_, with_fresh, without = solved
    assert [c for c in with_fresh.column_names if c not in without.column_names] == list(FRESH)
    assert with_fresh.select(without.column_names).equals(without)


def test_off_by_default_and_without_a_frontier():
    problem = _problem()
    assert not [c for c in MultiEchelonSolver(**RUN).solve(problem).column_names if "fresh" in c]
    bare = MultiEchelonSolver(fresh_on_hand=True, frontier_shifts=(), **RUN).solve(problem)
    assert not [c for c in bare.column_names if c.startswith("frontier_")]


def _constraints(kind: list[str], stat: list[str | None]) -> pa.Table:
    return pa.table({"constraint_type": kind, "statistic": pa.array(stat, pa.string())})


def test_a_run_asks_for_fresh_paths_when_its_constraints_count_on_hand():
    assert counts_on_hand_estimates(_constraints(["location_space"], [None]))
    assert counts_on_hand_estimates(_constraints(["budget"], [None]))  # on_hand_value by default
    assert counts_on_hand_estimates(_constraints(["supplier_capacity", "budget"], [None, "on_hand_value"]))
    assert not counts_on_hand_estimates(_constraints(["budget"], ["level_value"]))
    assert not counts_on_hand_estimates(_constraints(["supplier_capacity"], [None]))
    assert not counts_on_hand_estimates(None)

    def dataset(constraints: pa.Table | None) -> Dataset:
        return Dataset(root=".", tables={} if constraints is None else {"constraints": constraints})

    spec = ComponentSpec("multi_echelon", MultiEchelonSolver, {"replications": 20})
    space = dataset(_constraints(["location_space"], ["p95"]))
    assert with_fresh_estimates(space, spec).params == {"replications": 20, "fresh_on_hand": True}
    assert with_fresh_estimates(dataset(None), spec).params["fresh_on_hand"] is False
    # the configuration's choice stands; a solver without the parameter is left alone
    off = ComponentSpec("multi_echelon", MultiEchelonSolver, {"fresh_on_hand": False})
    assert with_fresh_estimates(space, off) is off
    other = ComponentSpec("single_echelon", SingleEchelonSolver, {})
    assert with_fresh_estimates(space, other) is other


def test_fresh_columns_are_not_kept_for_a_later_since_run(solved, tmp_path):
    """A ``--since`` run re-plans rows without fresh figures: the kept side data must combine with them."""
    _problem_, with_fresh, without = solved
    _rec, side = split_side_columns(with_fresh)
    _rec0, side_since = split_side_columns(without)  # what a run without constraints gives
    write_frontier_side(tmp_path, side)
    kept = read_frontier_side(tmp_path)
    assert kept is not None and not [c for c in kept.column_names if "fresh" in c]
    replan = np.array([False, True, False, False])
    both = combined_side(kept, side_since.take(pa.array([1])), replan, np.array([1]))
    assert both is not None and both.num_rows == 4
    assert both.column("frontier_on_hand").to_pylist() == side.column("frontier_on_hand").to_pylist()
