"""The ``network_frontier`` solver against direct engine runs and an exhaustive level grid."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.kit import critical_ratio, network_problem, problem_networks
from echelon_solvers.network_frontier import NetworkFrontierSolver

from platform_core.components import StageCosts, StageProblem
from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Costs, Policy, simulate

SIM = dict(replications=3, periods=300, warmup=30)


def _batch() -> StageProblem:
    """DC + 3 stores (random DC lead time, one store R = 2) and DC + 2 stores."""
    p2, p3, p1 = (DiscreteDistribution.poisson(m) for m in (2.0, 3.0, 1.0))
    lumpy = DiscreteDistribution.from_samples(np.array([0, 0, 0, 2, 5, 9, 1, 0, 3]))
    rand_lt = DiscreteDistribution.from_samples(np.array([1, 2, 3]))
    pt = DiscreteDistribution.point
    rows = [  # (upstream, demand, lead time, review, target, h, p, unit cost)
        ([], p2.convolve(lumpy).convolve(p3), rand_lt, 1, 0.9, 1.0, 5.0, 10.0),
        ([0], p2, pt(1), 1, 0.95, 2.0, 20.0, 12.0),
        ([0], lumpy, pt(2), 2, 0.90, 2.0, 20.0, 12.0),
        ([0], p3, pt(1), 1, np.nan, 2.0, 30.0, 12.0),
        ([], p2.convolve(p1), pt(2), 1, np.nan, 1.0, 5.0, 4.0),
        ([4], p2, pt(1), 1, 0.92, 2.0, 15.0, 5.0),
        ([4], p1, rand_lt, 1, 0.85, 2.0, 15.0, 5.0),
    ]
    n = len(rows)
    h = np.array([r[5] for r in rows])
    p = np.array([r[6] for r in rows])
    return StageProblem(
        keys=[f"sku{i}@loc{i}" for i in range(n)], period_demand=[r[1] for r in rows],
        lead_time=[r[2] for r in rows], review_period=np.array([r[3] for r in rows], dtype=np.int64),
        unit_cost=np.array([r[7] for r in rows]), costs=StageCosts(h, p, np.zeros(n), critical_ratio(h, p)),
        service_target=np.array([r[4] for r in rows]),
        upstream=[np.asarray(r[0], dtype=np.int64) for r in rows],
        quantity_per=[np.ones(len(r[0])) for r in rows],
        seeds=np.arange(31, 31 + n, dtype=np.uint64) * np.uint64(104729),
    )


def _direct(prob: StageProblem, level: np.ndarray, sim: dict) -> dict[str, np.ndarray]:
    """Engine metrics of ``level`` (all networks), run independently of the solver."""
    out = {k: np.full(level.size, np.nan) for k in ("fill", "short", "on_hand", "demand", "investment", "holding")}
    for comp in problem_networks(prob):
        np_ = network_problem(prob, comp, "target")
        res = simulate(np_.network, Policy.base_stock(level[comp], review_period=np_.review_period), np_.demand,
                       lead_times=list(np_.lead_time),
                       seeds=np.array([int(prob.seeds[comp[0]]) & 0x7FFFFFFFFFFFFFFF], dtype=np.uint64),
                       costs=Costs(holding=np_.holding_cost, unit_value=np_.unit_value), **sim)
        fr = np.nan_to_num(res.replicates["fill_rate"], nan=1.0)
        out["fill"][comp] = np.nan_to_num(res.mean["fill_rate"], nan=1.0)
        out["short"][comp] = ((1.0 - fr) * res.replicates["demand"]).mean(axis=0)
        out["on_hand"][comp] = res.mean["on_hand"]
        out["demand"][comp] = res.mean["demand"]
        out["investment"][comp] = res.mean["inventory_investment"]
        out["holding"][comp] = res.mean["holding_cost"]
    return out


def test_registered():
    from platform_core.plugin_host import PluginHost

    assert PluginHost().solver("network_frontier") is NetworkFrontierSolver
    with pytest.raises(ValueError):
        NetworkFrontierSolver(mode="portfolio_fill")


@pytest.mark.parametrize("mode", ["target", "cost", "portfolio_fill"])
def test_reported_metrics_equal_a_direct_engine_run(mode):
    prob = _batch()
    solver = NetworkFrontierSolver(mode=mode, portfolio_fill=0.93, **SIM)
    tab = solver.solve(prob)
    level = tab.column("base_stock_level").to_numpy()
    assert np.all(np.isfinite(level))
    d = _direct(prob, level, SIM)
    np.testing.assert_allclose(tab.column("expected_fill_rate").to_numpy(), d["fill"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(tab.column("mean_on_hand").to_numpy(), d["on_hand"], rtol=1e-12, atol=1e-12)
    leaf = np.array([1, 2, 3, 5, 6])
    internal = np.array([0, 4])
    target = np.where(np.isnan(prob.service_target), prob.costs.cost_optimal_service, prob.service_target)
    assert np.all(d["fill"][internal] >= target[internal] - 1e-12)  # internal stages meet their targets
    if mode == "target":
        given = leaf[np.isfinite(prob.service_target[leaf])]
        assert np.all(d["fill"][given] >= target[given] - 1e-12)
    if mode == "portfolio_fill":
        assert 1.0 - d["short"][leaf].sum() / d["demand"][leaf].sum() >= 0.93 - 1e-12


def test_cost_mode_near_exhaustive_level_grid():
    """Each customer-facing stage's cost h x on_hand + p x short at the chosen candidate is
    within 3 % of the best over every integer level 0..60 (others fixed), by direct runs.
    """
    prob = _batch()
    solver = NetworkFrontierSolver(mode="cost", **SIM)
    level = solver.solve(prob).column("base_stock_level").to_numpy()
    h, p = prob.costs.holding_cost, prob.costs.stockout_cost
    chosen = _direct(prob, level, SIM)
    for s in (1, 2, 3, 5, 6):
        costs = []
        for v in range(61):
            lv = level.copy()
            lv[s] = v
            d = _direct(prob, lv, SIM)
            costs.append(h[s] * d["on_hand"][s] + p[s] * d["short"][s])
        mine = h[s] * chosen["on_hand"][s] + p[s] * chosen["short"][s]
        assert level[s] < 60 and mine <= 1.03 * min(costs), (s, mine, min(costs))
