"""Clark-Scarf exact recursion against published optima and independent methods."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.clark_scarf import (
    echelon_holding_costs,
    evaluate_serial,
    lead_time_demands,
    normal_lattice,
    solve_serial,
)

from platform_core.distributions import DiscreteDistribution

# Shang & Song (2003), Table 1, rows 1, 9, 17, 25: 4 stages, Poisson demand 16/yr,
# L = 0.25 yr per stage (lead-time demand Poisson(4)), echelon holding costs per year
# (customer-facing stage last here), backorder cost p per unit per year.
SHANG_SONG = [
    ([0.25, 0.25, 0.25, 0.25], 9.0, 12.688),
    ([0.25, 2.5, 2.5, 0.25], 9.0, 53.008),
    ([0.25, 0.25, 0.25, 0.25], 99.0, 16.206),
    ([0.25, 2.5, 2.5, 0.25], 99.0, 74.564),
]


@pytest.mark.parametrize(("h", "p", "published"), SHANG_SONG)
def test_shang_song_published_optima(h, p, published):
    sol = solve_serial(h, p, [DiscreteDistribution.poisson(4.0)] * 4)
    assert sol.expected_cost == pytest.approx(published, rel=1e-3)
    # echelon levels are nested and the local levels add up to them
    assert np.all(np.diff(sol.echelon_base_stock) <= 0)
    assert np.allclose(np.cumsum(sol.local_base_stock[::-1])[::-1], sol.echelon_base_stock)


def test_snyder_shen_example_6_1():
    # Example 6.1: N(5, 1) demand per period, L = (2, 1, 1), echelon h = (2, 2, 3), p = 37.12
    step = 0.01
    ltd = [normal_lattice(5.0 * lt, np.sqrt(lt), step) for lt in (2, 1, 1)]
    sol = solve_serial([2.0, 2.0, 3.0], 37.12, ltd, step=step)
    assert sol.expected_cost == pytest.approx(47.66, rel=1e-3)
    # published optimal echelon levels (22.70, 12.01, 6.51), within the lattice/truncation
    assert np.allclose(sol.echelon_base_stock, [22.70, 12.01, 6.51], atol=0.06)


def test_single_stage_is_the_newsvendor():
    d = DiscreteDistribution.poisson(7.3)
    h, p = 1.5, 11.0
    sol = solve_serial([h], p, [d])
    x = d.support
    costs = [float(np.dot(d.pmf, h * np.maximum(s - x, 0) + p * np.maximum(x - s, 0))) for s in range(40)]
    assert sol.echelon_base_stock[0] == int(np.argmin(costs))
    assert sol.expected_cost == pytest.approx(min(costs), rel=1e-12)


def test_optimum_is_a_brute_force_minimum_of_the_exact_cost():
    d = DiscreteDistribution.poisson(3.0)
    h = [1.0, 1.0, 2.0]
    ltd = lead_time_demands(d, [2, 1, 1])
    sol = solve_serial(h, 20.0, ltd)
    best = min(
        evaluate_serial([s0, s1, s2], h, 20.0, ltd)
        for s0 in range(6, 20)
        for s1 in range(3, 14)
        for s2 in range(0, 9)
    )
    assert sol.expected_cost == pytest.approx(best, rel=1e-12)


def test_against_stockpyl_poisson(monkeypatch):
    ssm = pytest.importorskip("stockpyl.ssm_serial")
    from stockpyl.demand_source import DemandSource

    orig = ssm.find_nearest  # stockpyl 1.0.2 uses np.array(copy=False), broken on NumPy 2

    def find_nearest(array, values, sorted=False, index=None):  # noqa: A002
        out = orig(array, np.atleast_1d(np.asarray(values, dtype=float)), sorted, index or {})
        return int(out[0]) if np.ndim(values) == 0 else out

    monkeypatch.setattr(ssm, "find_nearest", find_nearest)
    s_star, c_star = ssm.optimize_base_stock_levels(
        num_nodes=3, echelon_holding_cost=[2, 2, 3], lead_time=[2, 1, 1], stockout_cost=37.12,
        demand_source=DemandSource(type="P", mean=5),
    )
    d = DiscreteDistribution.poisson(5.0)
    sol = solve_serial([2.0, 2.0, 3.0], 37.12, lead_time_demands(d, [2, 1, 1]))
    assert sol.expected_cost == pytest.approx(c_star, rel=1e-3)
    assert list(sol.echelon_base_stock) == [s_star[3], s_star[2], s_star[1]]


def test_cost_matches_the_network_simulation():
    """The engine's periodic-review dynamics: the customer-facing stage is exposed to
    L + 1 periods of demand, and its end-of-period echelon levels are one period of
    demand lower than Clark-Scarf's at every other stage (a constant)."""
    from platform_core.simulation import Costs, Network, Policy, simulate

    d = DiscreteDistribution.poisson(5.0)
    local_h = np.array([2.0, 4.0, 7.0])
    h = echelon_holding_costs(local_h)
    p = 37.12
    ltd = lead_time_demands(d, [2, 1, 2])  # engine lead times (2, 1, 1) + review period
    sol = solve_serial(h, p, ltd)
    res = simulate(
        Network.serial(3), Policy.echelon_base_stock(sol.echelon_base_stock), {2: d},
        lead_times=[2, 1, 1], seeds=3, replications=16, periods=3000, warmup=200,
        costs=Costs(holding=local_h, backorder=[0.0, 0.0, p]),
    )
    offset = float(h[:-1].sum()) * d.mean()
    simulated = float(res.network_cost[0]) + offset
    assert simulated == pytest.approx(sol.expected_cost, abs=4 * float(res.network_cost_se[0]) + 0.005 * sol.expected_cost)


def test_bad_input():
    with pytest.raises(ValueError):
        solve_serial([1.0, 1.0], 5.0, [DiscreteDistribution.poisson(1.0)])
    with pytest.raises(ValueError):
        solve_serial([1.0], 0.0, [DiscreteDistribution.poisson(1.0)])
    with pytest.raises(ValueError):
        lead_time_demands(DiscreteDistribution.poisson(1.0), [1.5])


def test_solver_solves_serial_chains_and_skips_trees():
    from echelon_solvers.clark_scarf import ClarkScarfSolver

    from platform_core.components import StageCosts, StageProblem

    d = DiscreteDistribution.poisson(5.0)
    n = 5  # chain 0 -> 1 -> 2, plus a tree 3 -> 4 and 3 -> ... (4 only; tree made by 2 children)
    upstream = [[], [0], [1], [], [3]]
    prob = StageProblem(
        keys=[f"k@{i}" for i in range(n)], period_demand=[d] * n,
        lead_time=[DiscreteDistribution.point(x) for x in (2, 1, 1, 1, 1)],
        review_period=np.ones(n, dtype=np.int64), unit_cost=np.full(n, 10.0),
        costs=StageCosts(np.array([2.0, 4.0, 7.0, 1.0, 2.0]), np.full(n, 37.12), np.zeros(n), np.full(n, 0.9)),
        service_target=np.full(n, np.nan), upstream=[np.asarray(u, dtype=np.int64) for u in upstream],
        quantity_per=[np.ones(len(u)) for u in upstream], seeds=np.arange(1, n + 1, dtype=np.uint64),
    )
    tab = ClarkScarfSolver(replications=2, periods=300).solve(prob)
    sol = solve_serial([2.0, 2.0, 3.0], 37.12, lead_time_demands(d, [2, 1, 2]))
    assert tab.column("base_stock_level").to_pylist()[:3] == list(sol.echelon_base_stock)
    assert np.all(np.isfinite(tab.column("base_stock_level").to_numpy()[3:]))  # 3 -> 4 is a chain too
    # a real tree (two customers) is not solved
    prob.upstream = [np.asarray(u, dtype=np.int64) for u in ([], [0], [1], [], [1])]
    tab = ClarkScarfSolver(replications=2, periods=300).solve(prob)
    lv = tab.column("base_stock_level").to_numpy()
    assert np.all(np.isnan(lv[[0, 1, 2, 4]])) and np.isfinite(lv[3])
