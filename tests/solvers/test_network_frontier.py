"""Network-calibrated frontier: customer-facing curves measured on the whole network."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.frontier import allocate_fill_target, portfolio_frontier, stage_curve
from echelon_solvers.network_frontier import (
    SkuNetworks,
    allocate_network_fill_target,
    candidate_levels,
    lead_time_demand_sd,
    simulated_curves,
)

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Costs, Network, Policy, simulate


def _portfolio() -> SkuNetworks:
    """A DC with three stores (random DC lead time, one store R = 2) and a serial chain."""
    dist = Network(4, ((0, 1, 1.0), (0, 2, 1.0), (0, 3, 1.0)), name="sku-a")
    chain = Network(3, ((0, 1, 1.0), (1, 2, 1.0)), name="sku-b")
    pois = DiscreteDistribution.poisson(3.0)
    lumpy = DiscreteDistribution.from_samples(np.array([0, 0, 0, 2, 5, 9, 1, 0, 3]))
    return SkuNetworks(
        networks=[dist, chain],
        levels=[np.array([10.0, 0, 0, 0]), np.array([8.0, 6, 0])],
        demand=[{1: pois, 2: lumpy, 3: pois}, {2: lumpy}],
        lead_times=[[DiscreteDistribution.from_samples(np.array([1, 2, 3])), 1, 2, 1], [2, 1, 1]],
        review_period=[np.array([1, 1, 2, 1]), np.array([1, 1, 1])],
        unit_cost=[np.array([1.0, 2, 2, 2]), np.array([1.0, 1.5, 3])],
    )


def test_candidate_levels_distinct_and_clipped():
    cand = candidate_levels(np.array([10.0, 1.0, 50.0]), np.array([0.2, 3.0, 10.0]))
    j0 = 5  # the 0 multiplier of the defaults
    assert np.array_equal(cand[:, j0], [10.0, 1.0, 50.0])
    # a tiny spread still gives one unit per column, increasing
    assert np.all(np.diff(cand[0]) >= 1)
    assert np.all(cand >= 0) and cand[1, 0] == 0.0
    assert cand[2, -1] == 90.0 and cand[2, 0] == 25.0  # 50 + 4 x 10, 50 - 2.5 x 10
    with pytest.raises(ValueError):
        candidate_levels(np.ones(2), np.ones(2), (-1.0, 1.0))


def test_lead_time_demand_sd_matches_compound_variance():
    d = DiscreteDistribution.poisson(4.0)
    lt = DiscreteDistribution.from_samples(np.array([1, 3]))
    # Var = E[L + R] Var(D) + Var(L) E[D]^2 = 3 x 4 + 1 x 16
    assert lead_time_demand_sd(d, lt, 1) == pytest.approx(np.sqrt(28.0))


def test_mixed_allocation_equals_direct_engine_run():
    """Curves measured one candidate column per run reproduce a direct run of any mix."""
    pf = _portfolio()
    cand = candidate_levels(np.array([9.0, 7, 9, 6]), np.array([3.0, 4, 3, 4]))
    nc = simulated_curves(pf, cand, seed=5, replications=3, periods=300)
    pick = np.array([cand[0, 2], cand[1, 7], cand[2, 11], cand[3, 0]])
    v = nc.lookup(pick)
    lv1 = pf.levels[0].copy()
    lv1[[1, 2, 3]] = pick[:3]
    lv2 = pf.levels[1].copy()
    lv2[2] = pick[3]
    res = simulate(
        list(pf.networks),
        [Policy.base_stock(lv1, review_period=pf.review_period[0]),
         Policy.base_stock(lv2, review_period=pf.review_period[1])],
        list(pf.demand), lead_times=list(pf.lead_times), seeds=5, replications=3, periods=300, warmup=52,
        costs=[Costs(unit_value=u) for u in pf.unit_cost],
    )
    fill = np.nan_to_num(res.replicates["fill_rate"], nan=1.0)
    short = ((1.0 - fill) * res.replicates["demand"]).mean(axis=0)
    cf = [1, 2, 3, 6]  # customer-facing stages in the flat result
    np.testing.assert_allclose(v["short"], short[cf], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v["investment"], res.mean["inventory_investment"][cf], rtol=1e-12)
    assert nc.fixed_investment == pytest.approx(float(res.mean["inventory_investment"][[0, 4, 5]].sum()))
    with pytest.raises(ValueError):
        nc.lookup(pick + 0.5)


def test_measured_curve_matches_analytic_single_stage():
    """With an ample supplier the network is a single stage: exact curve within 4 SE."""
    net = Network(2, ((0, 1, 1.0),), name="single")
    d = DiscreteDistribution.poisson(5.0)
    pf = SkuNetworks([net], [np.array([10_000.0, 0.0])], [{1: d}], [[1, 3]], [np.array([1, 1])],
                     [np.array([1.0, 4.0])])
    exact = stage_curve(d, 3, 4.0)
    cand = candidate_levels(np.array([20.0]), np.array([lead_time_demand_sd(d, 3)]))
    nc = simulated_curves(pf, cand, seed=11, replications=8, periods=2000)
    c, se = nc.curves[0], nc.fill_rate_se[0]
    k = c.levels.astype(int)
    assert np.all(np.abs(c.fill_rate - exact.fill_rate[k]) <= 4 * se + 1e-3)
    np.testing.assert_allclose(c.on_hand, exact.on_hand[k], rtol=0.03, atol=0.05)
    assert np.all(np.diff(c.fill_rate) >= 0) and np.all(np.diff(c.on_hand) >= 0)


def test_network_frontier_reaches_target_on_the_network():
    pf = _portfolio()
    cand = candidate_levels(np.array([9.0, 7, 9, 6]), np.array([3.0, 4, 3, 4]))
    nc = simulated_curves(pf, cand, seed=3, replications=4, periods=400)
    alloc = allocate_network_fill_target(nc, 0.9)
    assert alloc.fill_rate >= 0.9
    assert nc.portfolio_fill(alloc.levels) == pytest.approx(alloc.fill_rate, abs=1e-12)
    np.testing.assert_allclose(alloc.stage_fill_rate, nc.lookup(alloc.levels)["fill_rate"])
    # least investment: no single level one candidate lower keeps the target
    for i, c in enumerate(nc.curves):
        k = int(np.searchsorted(c.levels, alloc.levels[i]))
        if k > 0:
            lower = alloc.levels.copy()
            lower[i] = c.levels[k - 1]
            assert nc.portfolio_fill(lower) < 0.9 or c.investment[k - 1] == c.investment[k]


def test_sparse_grid_allocation_equals_dense():
    """allocate_fill_target on a curve restricted to its hull levels gives the same levels."""
    rng = np.random.default_rng(4)
    dense, sparse = [], []
    for _ in range(6):
        c = stage_curve(DiscreteDistribution.poisson(float(rng.uniform(1, 8))), int(rng.integers(1, 4)),
                        float(rng.uniform(1, 30)))
        dense.append(c)
        keep = np.arange(0, c.levels.size)
        sparse.append(type(c)(c.levels[keep], c.on_hand[keep], c.short[keep], c.fill_rate[keep],
                              c.cycle_service[keep], c.investment[keep], c.mean_demand, c.unit_cost))
    # shift the sparse grid: drop every odd level above 0 (levels no longer equal indices)
    thinned = []
    for c in sparse:
        keep = np.concatenate([[0], np.arange(2, c.levels.size, 2)])
        thinned.append(type(c)(c.levels[keep], c.on_hand[keep], c.short[keep], c.fill_rate[keep],
                               c.cycle_service[keep], c.investment[keep], c.mean_demand, c.unit_cost))
    a = allocate_fill_target(dense, 0.95, portfolio_frontier(dense))
    b = allocate_fill_target(sparse, 0.95, portfolio_frontier(sparse))
    assert np.array_equal(a.levels, b.levels)
    t = allocate_fill_target(thinned, 0.95, portfolio_frontier(thinned))
    assert t.fill_rate >= 0.95 and np.all(t.levels % 2 == 0)
    for c, lv, f in zip(thinned, t.levels, t.stage_fill_rate, strict=True):
        assert f == c.fill_rate[int(np.searchsorted(c.levels, lv))]
