"""The default joint solver (``multi_echelon``): its read-offs against independent runs.

The acceptance against an independent simulator and exhaustive grids is in
``test_multi_echelon_acceptance.py``; here the solver's own mechanics are checked against
second methods: the single-stage kernel (another code path, same random numbers) and a
plain engine run at the recommended levels (no histograms).
"""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.multi_echelon import MultiEchelonSolver
from echelon_solvers.single_echelon import SingleEchelonSolver

from platform_core.distributions import DiscreteDistribution as D
from platform_core.simulation import Network, Policy, simulate
from platform_core.testing.inputs import StageInput, make_problem, three_stage_problem

SMALL = dict(replications=20, periods=200, warmup=30, search_replications=2, search_periods=150)


def _dc_stores(n_stores: int = 3, prefix: str = "A", target: float = 0.95, first: int = 0) -> list[StageInput]:
    """A DC and its stores; ``first``: the DC's index in the problem."""
    st = [StageInput(f"{prefix}@DC", D.poisson(5.0 * n_stores), D.point(3), unit_cost=5.0, holding_cost=0.02,
                     external_demand=False)]
    for i in range(n_stores):
        st.append(StageInput(f"{prefix}@S{i}", D.poisson(5.0), D.point(1), unit_cost=8.0, holding_cost=0.03,
                             service_target=target, upstream=(first,), quantity_per=(1.0,)))
    return st


def test_single_stage_networks_match_the_single_stage_kernel() -> None:
    """Alone, a stage's level and metrics are single_echelon's: same random numbers, other code."""
    problem = three_stage_problem()
    # one histogram group per replication: fill averaged per replication as single_echelon does
    me = MultiEchelonSolver(replications=40, periods=300, warmup=50, final_groups=40, crossing=True).solve(problem)
    se = SingleEchelonSolver(replications=40, periods=300, warmup=50).solve(problem)
    np.testing.assert_array_equal(me.column("base_stock_level").to_numpy(), se.column("base_stock_level").to_numpy())
    for col in ("expected_fill_rate", "fill_rate_se", "mean_on_hand", "mean_backorders"):
        np.testing.assert_allclose(me.column(col).to_numpy(), se.column(col).to_numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=col)


def test_reported_metrics_are_those_of_a_plain_run_at_the_levels() -> None:
    """The levels read off the histograms, simulated again without them, give the reported numbers."""
    problem = make_problem(_dc_stores(3))
    solver = MultiEchelonSolver(final_groups=20, **SMALL)
    table = solver.solve(problem)
    levels = table.column("base_stock_level").to_numpy()
    net = Network(4, ((0, 1, 1.0), (0, 2, 1.0), (0, 3, 1.0)))
    seed = np.uint64(int(problem.seeds[0]) & 0x7FFFFFFFFFFFFFFF)
    res = simulate([net], [Policy.base_stock(levels)], [{k: problem.period_demand[k] for k in (1, 2, 3)}],
                   lead_times=[list(problem.lead_time)], seeds=np.array([seed], dtype=np.uint64),
                   replications=20, periods=200, warmup=30)
    np.testing.assert_allclose(table.column("mean_on_hand").to_numpy(), res.mean["on_hand"], rtol=1e-9)
    np.testing.assert_allclose(table.column("mean_backorders").to_numpy()[1:], res.mean["backorders"][1:], rtol=1e-9)
    # leaves: fill as the mean of 20 groups of one replication each = the engine's mean
    np.testing.assert_allclose(table.column("expected_fill_rate").to_numpy()[1:], res.mean["fill_rate"][1:],
                               rtol=1e-9)
    fill = table.column("expected_fill_rate").to_numpy()
    assert np.all(fill[1:] >= 0.95)
    # one unit less at any store misses its target on the same paths
    for k in (1, 2, 3):
        lower = levels.copy()
        lower[k] -= 1
        r2 = simulate([net], [Policy.base_stock(lower)], [{j: problem.period_demand[j] for j in (1, 2, 3)}],
                      lead_times=[list(problem.lead_time)], seeds=np.array([seed], dtype=np.uint64),
                      replications=20, periods=200, warmup=30)
        assert r2.mean["fill_rate"][k] < 0.95


def test_internal_stage_reports_the_networks_choice() -> None:
    problem = make_problem(_dc_stores(3))
    solver = MultiEchelonSolver(**SMALL)
    t = solver.solve(problem).to_pylist()
    assert t[0]["target_source"] == "network" and t[0]["service_target"] in solver.internal_fills
    assert "chosen as the network's cheapest" in t[0]["message"]
    assert all(r["target_source"] == "input" for r in t[1:])


def test_numbers_do_not_depend_on_the_other_networks_of_the_batch() -> None:
    alone = MultiEchelonSolver(**SMALL).solve(make_problem(_dc_stores(3, "A")))
    both = MultiEchelonSolver(**SMALL).solve(make_problem(_dc_stores(2, "B", 0.9) + _dc_stores(3, "A", first=3)))
    for col in ("base_stock_level", "expected_fill_rate", "mean_on_hand"):
        np.testing.assert_array_equal(alone.column(col).to_numpy(), both.column(col).to_numpy()[3:], err_msg=col)


def test_pooling_beats_stage_by_stage_on_investment() -> None:
    problem = make_problem(_dc_stores(4))
    me = MultiEchelonSolver(replications=40, periods=300).solve(problem)
    se = SingleEchelonSolver(replications=40, periods=300).solve(problem)
    inv_me = float(np.sum(me.column("inventory_investment").to_numpy()))
    inv_se = float(np.sum(se.column("inventory_investment").to_numpy()))
    assert inv_me < inv_se, (inv_me, inv_se)
    assert np.all(me.column("expected_fill_rate").to_numpy()[1:] >= 0.95)


@pytest.mark.parametrize("kwargs, match", [
    ({"objective": "speed"}, "objective"),
    ({"internal_fills": (1.2,)}, "internal_fills"),
    ({"correlation": "maybe"}, "correlation"),
    ({"replications": 0}, ">= 1"),
])
def test_bad_parameters_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MultiEchelonSolver(**kwargs)
