"""The batched stochastic-service solver: batch-size invariance, direct engine checks, grid."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.stochastic_service import (
    NetworkProblem,
    StochasticServiceSolver,
    critical_ratio,
    evaluate_levels,
    problem_networks,
)

from platform_core.components import StageCosts, StageProblem
from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Network, Policy, simulate

SIM = dict(replications=3, periods=300, warmup=30)


def _batch() -> StageProblem:
    """Four networks: DC + 3 stores (random DC lead time, one store R = 2), a serial
    chain, a single stage, and DC + 2 stores; internal stages get derived demand."""
    p2, p3, p1 = (DiscreteDistribution.poisson(m) for m in (2.0, 3.0, 1.0))
    lumpy = DiscreteDistribution.from_samples(np.array([0, 0, 0, 2, 5, 9, 1, 0, 3]))
    big = DiscreteDistribution.poisson(20.0)
    rand_lt = DiscreteDistribution.from_samples(np.array([1, 2, 3]))
    pt = DiscreteDistribution.point
    # stage: (upstream, demand, lead time, review, target, h, p, unit cost)
    rows = [
        ([], p2.convolve(lumpy).convolve(p3), rand_lt, 1, np.nan, 1.0, 5.0, 10.0),  # 0 DC
        ([0], p2, pt(1), 1, 0.95, 2.0, 20.0, 12.0),
        ([0], lumpy, pt(2), 2, 0.90, 2.0, 20.0, 12.0),
        ([0], p3, pt(1), 1, np.nan, 2.0, 30.0, 12.0),
        ([], p1, pt(2), 1, 0.9, 1.0, 10.0, 5.0),  # 4 chain top
        ([4], p1, pt(1), 1, 0.97, 2.0, 10.0, 6.0),  # 5 chain bottom
        ([], big, pt(3), 1, 0.98, 1.0, 10.0, 3.0),  # 6 single stage
        ([], p2.convolve(p1), pt(2), 1, 0.8, 1.0, 5.0, 4.0),  # 7 DC
        ([7], p2, pt(1), 1, 0.92, 2.0, 15.0, 5.0),
        ([7], p1, rand_lt, 1, 0.85, 2.0, 15.0, 5.0),
    ]
    n = len(rows)
    h = np.array([r[5] for r in rows])
    p = np.array([r[6] for r in rows])
    return StageProblem(
        keys=[f"sku{i}@loc{i}" for i in range(n)],
        period_demand=[r[1] for r in rows],
        lead_time=[r[2] for r in rows],
        review_period=np.array([r[3] for r in rows], dtype=np.int64),
        unit_cost=np.array([r[7] for r in rows]),
        costs=StageCosts(h, p, np.zeros(n), critical_ratio(h, p)),
        service_target=np.array([r[4] for r in rows]),
        upstream=[np.asarray(r[0], dtype=np.int64) for r in rows],
        quantity_per=[np.ones(len(r[0])) for r in rows],
        seeds=np.arange(101, 101 + n, dtype=np.uint64) * np.uint64(7919),
    )


def _subset(prob: StageProblem, idx: np.ndarray) -> StageProblem:
    """The sub-batch of whole networks ``idx`` (re-indexed upstream links)."""
    pos = {int(s): k for k, s in enumerate(idx)}
    return StageProblem(
        keys=[prob.keys[s] for s in idx], period_demand=[prob.period_demand[s] for s in idx],
        lead_time=[prob.lead_time[s] for s in idx], review_period=prob.review_period[idx],
        unit_cost=prob.unit_cost[idx],
        costs=StageCosts(prob.costs.holding_cost[idx], prob.costs.stockout_cost[idx],
                         prob.costs.ordering_cost[idx], prob.costs.cost_optimal_service[idx]),
        service_target=prob.service_target[idx],
        upstream=[np.array([pos[int(u)] for u in prob.upstream[s]], dtype=np.int64) for s in idx],
        quantity_per=[prob.quantity_per[s] for s in idx], seeds=prob.seeds[idx],
    )


def _direct_fill(prob: StageProblem, solver: StochasticServiceSolver, level: np.ndarray) -> np.ndarray:
    """Fill rates of ``level`` from a direct engine run, network by network."""
    from echelon_solvers.stochastic_service import network_problem

    fill = np.full(level.size, np.nan)
    for comp in problem_networks(prob):
        np_ = network_problem(prob, comp, solver.objective)
        res = simulate(np_.network, Policy.base_stock(level[comp], review_period=np_.review_period),
                       np_.demand, lead_times=list(np_.lead_time),
                       seeds=np.array([int(prob.seeds[comp[0]]) & 0x7FFFFFFFFFFFFFFF], dtype=np.uint64),
                       replications=solver.replications, periods=solver.periods, warmup=solver.warmup)
        fill[comp] = np.nan_to_num(res.mean["fill_rate"], nan=1.0)
    return fill


@pytest.mark.parametrize("objective", ["target", "cost"])
def test_same_numbers_whatever_the_batch_split(objective):
    prob = _batch()
    solver = StochasticServiceSolver(objective=objective, **SIM)
    whole = solver.solve(prob).to_pandas()
    comps = problem_networks(prob)
    # split two ways: {net0, net2} + {net1, net3}, and every network alone (reversed order)
    for groups in ([np.concatenate([comps[0], comps[2]]), np.concatenate([comps[1], comps[3]])],
                   [c for c in reversed(comps)]):
        parts = {}
        for g in groups:
            g = np.sort(g)
            tab = StochasticServiceSolver(objective=objective, **SIM).solve(_subset(prob, g)).to_pandas()
            for k, s in enumerate(g):
                parts[int(s)] = tab.iloc[k]
        for s in range(len(prob.keys)):
            for col in ("base_stock_level", "expected_fill_rate", "mean_on_hand", "fill_rate_se"):
                a, b = whole[col].iloc[s], parts[s][col]
                assert (np.isnan(a) and np.isnan(b)) or a == b, (objective, s, col, a, b)


def test_target_mode_levels_are_minimal_by_direct_engine_runs():
    """Reported fills equal a direct run of the chosen levels; every target is met; lowering
    any single stage by one unit (others fixed) misses its target in a direct run."""
    prob = _batch()
    solver = StochasticServiceSolver(objective="target", **SIM)
    tab = solver.solve(prob)
    level = tab.column("base_stock_level").to_numpy()
    fill = tab.column("expected_fill_rate").to_numpy()
    target = np.where(np.isnan(prob.service_target), prob.costs.cost_optimal_service, prob.service_target)
    direct = _direct_fill(prob, solver, level)
    np.testing.assert_allclose(fill, direct, rtol=0, atol=1e-12)
    assert np.all(direct >= target - 1e-12)
    for s in range(level.size):
        if level[s] == 0:
            continue
        lower = level.copy()
        lower[s] -= 1
        assert _direct_fill(prob, solver, lower)[s] < target[s] - 1e-12, s


def test_cost_mode_near_exhaustive_grid():
    """Warehouse + 2 retailers: the batched cost mode's network cost is within 2 % of the
    best of an exhaustive grid evaluated by the independent evaluator on the same seed."""
    r1, r2 = DiscreteDistribution.poisson(2.0), DiscreteDistribution.poisson(3.0)
    pt = DiscreteDistribution.point
    h = np.array([1.0, 2.0, 2.0])
    p = np.array([2.0, 20.0, 20.0])
    prob = StageProblem(
        keys=["a@w", "a@r1", "a@r2"], period_demand=[r1.convolve(r2), r1, r2],
        lead_time=[pt(3), pt(1), pt(2)], review_period=np.ones(3, dtype=np.int64),
        unit_cost=np.ones(3), costs=StageCosts(h, p, np.zeros(3), critical_ratio(h, p)),
        service_target=np.full(3, np.nan),
        upstream=[np.zeros(0, np.int64), np.array([0]), np.array([0])],
        quantity_per=[np.zeros(0), np.ones(1), np.ones(1)], seeds=np.array([12345, 1, 2], dtype=np.uint64),
    )
    sim = dict(replications=4, periods=800, warmup=100)
    solver = StochasticServiceSolver(objective="cost", **sim)
    tab = solver.solve(prob)
    level = tab.column("base_stock_level").to_numpy()
    net = NetworkProblem(Network.distribution(2), {1: r1, 2: r2}, [3, 1, 2], holding_cost=h,
                         stockout_cost=[0.0, 20.0, 20.0])
    axes = [np.arange(lo, hi + 1, dtype=float) for lo, hi in ((8, 32), (2, 14), (3, 16))]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    vals = evaluate_levels(net, grid, seed=12345, **sim)
    mine = float(evaluate_levels(net, level, seed=12345, **sim)[0])
    assert mine <= 1.02 * float(vals.min())
