"""Simulation optimisation of multi-echelon base-stock levels against exhaustive grids."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.clark_scarf import echelon_holding_costs, lead_time_demands, solve_serial
from echelon_solvers.stochastic_service import (
    NetworkProblem,
    critical_ratio,
    decomposition_start,
    evaluate_levels,
    multi_echelon_critical_ratio,
    sim_optimise,
)

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Network

SIM = dict(seed=11, replications=4, periods=800, warmup=100)


def _two_retailers(target=None):
    net = Network.distribution(2)
    demand = {1: DiscreteDistribution.poisson(2.0), 2: DiscreteDistribution.poisson(3.0)}
    return NetworkProblem(
        net, demand, [3, 1, 2], holding_cost=[1.0, 2.0, 2.0], stockout_cost=[0.0, 20.0, 20.0],
        service_target=target,
    )


def _grid(lo_hi):
    axes = [np.arange(lo, hi + 1, dtype=float) for lo, hi in lo_hi]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))


def test_cost_mode_within_two_percent_of_exhaustive_grid():
    prob = _two_retailers()
    res = sim_optimise(prob, **SIM)
    grid = _grid([(8, 32), (2, 14), (3, 16)])  # fixed a priori, contains every sane level
    vals = evaluate_levels(prob, grid, **SIM)
    best = float(vals.min())
    assert res.objective <= 1.02 * best
    assert res.objective >= best - 1e-9  # the grid is a superset of sane points
    assert res.evaluations < grid.shape[0] / 10


@pytest.mark.slow
def test_three_retailers_cost_mode_within_two_percent_of_exhaustive_grid():
    net = Network.distribution(3)
    demand = {1: DiscreteDistribution.poisson(2.0), 2: DiscreteDistribution.poisson(3.0),
              3: DiscreteDistribution.poisson(1.5)}
    prob = NetworkProblem(net, demand, [3, 1, 1, 2], holding_cost=[1.0, 2.0, 2.0, 2.0],
                          stockout_cost=[0.0, 20.0, 20.0, 20.0])
    res = sim_optimise(prob, **SIM)
    grid = _grid([(10, 34), (3, 12), (5, 15), (4, 13)])  # 27,500 points, fixed a priori
    vals = np.concatenate([evaluate_levels(prob, g, **SIM) for g in np.array_split(grid, 10)])
    assert res.objective <= 1.02 * float(vals.min())


def test_target_mode_meets_targets_at_least_holding_of_grid():
    target = np.array([np.nan, 0.95, 0.90])
    prob = _two_retailers(target)
    res = sim_optimise(prob, objective="target", **SIM)
    assert np.all(res.fill_rate[1:] >= target[1:] - 1e-12)
    # brute force: same simulator, same seed; feasible = every target met
    from echelon_solvers.stochastic_service import _evaluate

    grid = _grid([(8, 32), (2, 14), (3, 16)])
    ev = _evaluate(prob, grid, SIM["seed"], SIM["replications"], SIM["periods"], SIM["warmup"], True)
    ok = np.all(ev.fill[:, 1:] >= target[1:] - 1e-12, axis=1)
    best = float(ev.holding[ok].min())
    assert res.holding_cost <= 1.02 * best


def test_serial_sim_opt_never_worse_than_its_clark_scarf_start():
    """Started from the exact Clark-Scarf local levels, the search can only improve."""
    d = DiscreteDistribution.poisson(4.0)
    local_h = np.array([1.0, 3.0])
    p = 12.0  # backorder cost per unit per period ~ stockout per unit short here
    cs = solve_serial(echelon_holding_costs(local_h), p, lead_time_demands(d, [2, 2]))
    start = np.rint(cs.local_base_stock)
    prob = NetworkProblem(Network.serial(2), {1: d}, [2, 1], local_h, [0.0, p])
    res = sim_optimise(prob, start=start, **SIM)
    # the sim-opt never ends worse than its Clark-Scarf start on the same paths
    assert res.objective <= float(evaluate_levels(prob, start, **SIM)[0]) + 1e-9


def test_critical_ratios():
    assert critical_ratio(1.0, 9.0) == pytest.approx(0.9)
    # multi-echelon: (p + h_up) / (p + h) >= p / (p + h)
    me = multi_echelon_critical_ratio(2.0, 8.0, 1.0)
    assert me == pytest.approx(0.9)
    assert me > critical_ratio(2.0, 8.0)


def test_start_is_sane():
    prob = _two_retailers()
    x = decomposition_start(prob)
    assert x[0] > x[1] and x[0] > x[2] > 0
    with pytest.raises(ValueError):
        sim_optimise(prob, objective="nope")


def _stage_problem(upstream, demand, lead, holding, stockout, target, unit_cost):
    from platform_core.components import StageCosts, StageProblem

    n = len(demand)
    return StageProblem(
        keys=[f"k@{i}" for i in range(n)], period_demand=demand,
        lead_time=[DiscreteDistribution.point(x) for x in lead],
        review_period=np.ones(n, dtype=np.int64), unit_cost=np.asarray(unit_cost, float),
        costs=StageCosts(np.asarray(holding, float), np.asarray(stockout, float), np.zeros(n),
                         critical_ratio(np.asarray(holding, float), np.asarray(stockout, float))),
        service_target=np.asarray(target, float),
        upstream=[np.asarray(u, dtype=np.int64) for u in upstream],
        quantity_per=[np.ones(len(u)) for u in upstream],
        seeds=np.arange(11, 11 + n, dtype=np.uint64),
    )


def test_solver_on_a_batch_with_two_networks():
    from echelon_solvers.stochastic_service import (
        StochasticServiceSolver,
        own_demand,
        problem_networks,
    )

    r1, r2 = DiscreteDistribution.poisson(2.0), DiscreteDistribution.poisson(3.0)
    agg = r1.convolve(r2)  # the pipeline hands the warehouse its derived demand
    single = DiscreteDistribution.poisson(4.0)
    prob = _stage_problem(
        upstream=[[], [0], [0], []], demand=[agg, r1, r2, single], lead=[3, 1, 2, 2],
        holding=[1.0, 2.0, 2.0, 1.0], stockout=[2.0, 20.0, 20.0, 10.0],
        target=[np.nan, 0.95, 0.90, 0.95], unit_cost=[10.0, 12.0, 12.0, 8.0],
    )
    comps = problem_networks(prob)
    assert [list(c) for c in comps] == [[0, 1, 2], [3]]
    assert own_demand(prob, 0, [(1, 1.0), (2, 1.0)]) is None  # no own demand left
    tab = StochasticServiceSolver(objective="target", replications=4, periods=400).solve(prob)
    fill = tab.column("expected_fill_rate").to_numpy()
    assert np.all(np.isfinite(tab.column("base_stock_level").to_numpy()))
    assert fill[1] >= 0.95 - 1e-12 and fill[2] >= 0.90 - 1e-12 and fill[3] >= 0.95 - 1e-12
    assert tab.column("target_source").to_pylist() == ["cost_optimal", "input", "input", "input"]
