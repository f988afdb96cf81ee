"""Per-stage curves, the portfolio frontier, budget mode and the margin_risk cost model."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from echelon_cost.margin_risk import EXTRA_COST_MODELS, MarginRiskCostModel
from echelon_solvers.frontier import (
    allocate_budget,
    allocate_fill_target,
    cost_optimal_levels,
    frontier_table,
    portfolio_frontier,
    stage_curve,
)

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation.single_stage import evaluate_base_stock


def _portfolio(n, seed=3):
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(n):
        d = DiscreteDistribution.poisson(float(rng.uniform(0.5, 12.0)))
        lt = int(rng.integers(1, 6))
        curves.append(stage_curve(d, lt, float(rng.uniform(1.0, 80.0))))
    return curves


def test_stage_curve_matches_simulation():
    d = DiscreteDistribution.poisson(4.0)
    lt = DiscreteDistribution(np.array([0.3, 0.5, 0.2]), 2)  # stochastic lead time
    c = stage_curve(d, lt, 10.0)
    levels = np.array([10, 14, 18, 22])
    sim = evaluate_base_stock([d] * 4, [lt] * 4, np.arange(1, 5, dtype=np.uint64), levels,
                              replications=40, periods=2000, warmup=50, crossing=True)
    for k, s in enumerate(levels):
        assert c.fill_rate[s] == pytest.approx(sim.fill_rate[k], abs=4 * sim.fill_rate_se[k] + 2e-3)
        assert c.on_hand[s] == pytest.approx(sim.mean_on_hand[k], abs=4 * sim.mean_on_hand_se[k] + 1e-2)


def test_frontier_is_monotone_and_efficient():
    curves = _portfolio(30)
    fr = portfolio_frontier(curves)
    assert np.all(np.diff(fr.investment) >= -1e-9)
    assert np.all(np.diff(fr.fill_rate) >= -1e-12)
    rate = fr.step_gain / np.maximum(fr.step_cost, 1e-300)
    assert np.all(np.diff(rate) <= 1e-9 * np.abs(rate[:-1]))  # marginal analysis: decreasing returns
    tab = frontier_table(fr, points=50)
    assert tab.num_rows <= 50 and "inventory_investment_currency" in tab.column_names


def test_budget_spent_and_best_of_frontier():
    curves = _portfolio(200)
    fr = portfolio_frontier(curves)
    opt = cost_optimal_levels(curves, np.full(200, 0.1), np.full(200, 5.0))
    unconstrained = sum(c.investment[int(v)] for c, v in zip(curves, opt, strict=True))
    budget = 0.7 * unconstrained
    alloc = allocate_budget(curves, budget, fr)
    assert alloc.investment <= budget + 1e-9
    assert alloc.investment >= 0.995 * budget
    # best of the frontier at that spend: no frontier point spending no more serves better
    k = np.searchsorted(fr.investment, alloc.investment, side="right")
    assert alloc.fill_rate >= fr.fill_rate[k - 1] - 1e-12
    # and better than spending the same budget on the cost-optimal mix scaled down
    scaled = np.floor(opt * 0.7)
    inv_s = sum(c.investment[int(v)] for c, v in zip(curves, scaled, strict=True))
    fill_s = 1 - sum(c.short[int(v)] for c, v in zip(curves, scaled, strict=True)) / sum(c.mean_demand for c in curves)
    assert inv_s <= budget and alloc.fill_rate > fill_s


def test_budget_optimal_against_brute_force():
    curves = [stage_curve(DiscreteDistribution.poisson(m), lt, uc) for m, lt, uc in
              ((2.0, 1, 30.0), (5.0, 2, 4.0), (1.0, 3, 12.0))]
    dem = sum(c.mean_demand for c in curves)
    combos = list(itertools.product(*[range(0, 16), range(0, 26), range(0, 10)]))
    inv = np.array([sum(curves[i].investment[v[i]] for i in range(3)) for v in combos])
    fill = np.array([1 - sum(curves[i].short[v[i]] for i in range(3)) / dem for v in combos])
    fr = portfolio_frontier(curves)
    for k in range(0, fr.investment.size, 3):  # every frontier vertex is Pareto-optimal
        spend = fr.investment[k]
        best = fill[inv <= spend + 1e-9].max()
        assert fr.fill_rate[k] >= best - 1e-9
    for budget in (50.0, 120.0, 300.0):
        alloc = allocate_budget(curves, budget, fr)
        best = fill[inv <= budget + 1e-9].max()
        assert alloc.investment <= budget + 1e-9
        assert alloc.fill_rate >= best - 0.01  # hull + fill-up: near the integer optimum


def test_fill_target_allocation():
    curves = _portfolio(50)
    alloc = allocate_fill_target(curves, 0.95)
    assert alloc.fill_rate >= 0.95
    fr = portfolio_frontier(curves)
    k = np.searchsorted(fr.fill_rate, 0.95)
    assert alloc.investment <= fr.investment[k] + 1e-9


def test_margin_risk_cost_model():
    stages = pa.table({
        "sku": ["a", "a"], "location": ["DC", "S1"], "unit_cost": [10.0, 12.0],
        "price": [10.0, 30.0], "carrying_rate": [0.25, 0.25],
        "customer_loss_probability": [None, 0.05],
    })
    m = MarginRiskCostModel(lost_sale_fraction=0.5, expedite_cost_fraction=0.1,
                            customer_loss_probability=0.01, customer_value_periods=20.0)
    c = m.stage_costs(stages, None, 7.0)
    margin = 18.0
    assert c.stockout_cost[1] == pytest.approx(0.5 * margin + 0.5 * 1.2 + 0.05 * margin * 20)
    h = 10.0 * 0.25 * 7 / 365
    assert c.holding_cost[0] == pytest.approx(h)
    assert c.stockout_cost[0] == pytest.approx(max(0.5 * 1.0, 4 * h))  # expedite vs floor
    assert np.all((c.cost_optimal_service > 0.5) & (c.cost_optimal_service < 1))
    ov = pa.table({"sku": ["a"], "location": ["S1"], "stockout_cost": [3.0]})
    assert m.stage_costs(stages, ov, 7.0).stockout_cost[1] == pytest.approx(3.0)
    assert EXTRA_COST_MODELS["margin_risk"] is MarginRiskCostModel
    with pytest.raises(ValueError):
        MarginRiskCostModel(lost_sale_fraction=2.0)


def test_frontier_solver_budget_mode():
    from echelon_solvers.frontier import FrontierSolver

    from platform_core.components import StageCosts, StageProblem

    rng = np.random.default_rng(1)
    n = 40
    dem = [DiscreteDistribution.poisson(float(m)) for m in rng.uniform(1, 10, n)]
    uc = rng.uniform(2, 50, n)
    prob = StageProblem(
        keys=[f"k@{i}" for i in range(n)], period_demand=dem,
        lead_time=[DiscreteDistribution.point(int(x)) for x in rng.integers(1, 4, n)],
        review_period=np.ones(n, dtype=np.int64), unit_cost=uc,
        costs=StageCosts(uc * 0.005, uc * 0.5, np.zeros(n), np.full(n, 0.99)),
        service_target=np.full(n, np.nan), upstream=[np.zeros(0, np.int64)] * n,
        quantity_per=[np.zeros(0)] * n, seeds=np.arange(n, dtype=np.uint64),
    )
    opt = FrontierSolver("cost").solve(prob)
    unconstrained = float(np.sum(opt.column("inventory_investment").to_numpy()))
    budget = 0.6 * unconstrained
    tab = FrontierSolver("budget", budget=budget).solve(prob)
    spent = float(np.sum(tab.column("inventory_investment").to_numpy()))
    assert 0.995 * budget <= spent <= budget + 1e-9
    with pytest.raises(ValueError):
        FrontierSolver("budget")
