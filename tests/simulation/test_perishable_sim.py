"""The perishable single-stage simulator (platform_core.simulation.perishable).

Checked against the network engine (infinite shelf life: the same random numbers, so the
same numbers), against the newsvendor's closed form (shelf life 1, no lead time: every
period starts empty) and against flow conservation; the exact DP comparison is in
tests/solvers/test_perishable_dp.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Network, Policy, simulate
from platform_core.simulation.perishable import PerishableCosts, simulate_perishable

DEMAND = DiscreteDistribution.poisson(4.0)
LEAD = DiscreteDistribution(np.array([0.2, 0.5, 0.3]), 1)  # 1..3 periods: orders cross


@pytest.mark.parametrize("backorders", [True, False])
def test_infinite_shelf_life_gives_the_engines_numbers(backorders: bool) -> None:
    seed = np.array([123], dtype=np.uint64)
    for level in (8, 14):
        eng = simulate(Network(1), Policy(kind="base_stock", order_up_to=level), DEMAND, lead_times=LEAD, seeds=seed,
                       replications=4, periods=400, warmup=40, backorders=backorders)
        per = simulate_perishable([DEMAND], [LEAD], np.inf, level, seed, backorders=backorders, replications=4,
                                  periods=400, warmup=40)
        for metric in ("fill_rate", "on_hand", "backorders", "lost_sales", "order_quantity", "order_frequency",
                       "ready_rate", "demand"):
            np.testing.assert_array_equal(per.replicates[metric][:, 0], eng.replicates[metric][:, 0], err_msg=metric)
        assert per["outdated"][0] == 0.0


@pytest.mark.parametrize("issuing", ["fifo", "lifo"])
def test_one_period_shelf_life_is_a_newsvendor(issuing: str) -> None:
    """m = 1, L = 0: each period orders up to S, sells min(D, S), outdates (S - D)+ (closed form)."""
    level = 5
    res = simulate_perishable([DEMAND], [DiscreteDistribution.point(0)], 1, level, 9, issuing=issuing,
                              replications=20, periods=2000, warmup=10)
    k = np.arange(0, 200)
    pk = stats.poisson.pmf(k, 4.0)
    over = float(np.sum(np.maximum(level - k, 0) * pk))
    short = float(np.sum(np.maximum(k - level, 0) * pk))
    assert abs(res["outdated"][0] - over) < 4 * res.se["outdated"][0]
    assert abs(res["lost_sales"][0] - short) < 4 * res.se["lost_sales"][0]
    assert res["on_hand"][0] == 0.0  # nothing survives a period
    assert abs(res["order_quantity"][0] - (over + 4.0 - short)) < 1e-9  # what was bought: sold + outdated


@pytest.mark.parametrize("backorders", [True, False])
def test_units_are_conserved(backorders: bool) -> None:
    """Per period, on average: bought = sold + outdated (+ the stock change, which vanishes in the long run)."""
    res = simulate_perishable([DEMAND], [LEAD], 3, 14, 5, backorders=backorders, replications=10, periods=3000,
                              warmup=100)
    sold = res["demand"][0] - res["lost_sales"][0]
    assert res["outdated"][0] > 0.1  # the case does waste
    assert abs(res["order_quantity"][0] - sold - res["outdated"][0]) < 0.01
    np.testing.assert_allclose(res["short"][0], res["demand"][0] * (1 - res["fill_rate"][0]), rtol=0.02)


def test_lifo_wastes_more_than_fifo() -> None:
    kw = dict(replications=10, periods=2000, warmup=100)
    fifo = simulate_perishable([DEMAND], [LEAD], 3, 14, 3, issuing="fifo", **kw)
    lifo = simulate_perishable([DEMAND], [LEAD], 3, 14, 3, issuing="lifo", **kw)
    assert lifo["outdated"][0] > fifo["outdated"][0] + 5 * (lifo.se["outdated"][0] + fifo.se["outdated"][0])


def test_jobs_do_not_depend_on_their_neighbours_and_costs_add_up() -> None:
    costs = PerishableCosts(holding=1.0, shortage=8.0, waste=4.0, ordering=0.5)
    alone = simulate_perishable([DEMAND], [LEAD], 3, 10, np.array([77], dtype=np.uint64), costs=costs,
                                policy="waste_adjusted", replications=3, periods=300, warmup=30)
    many = simulate_perishable([DiscreteDistribution.poisson(9.0), DEMAND, DEMAND], [LEAD] * 3, [2, 3, np.inf],
                               [20, 10, 10], np.array([1, 77, 2], dtype=np.uint64), policy=["base_stock",
                               "waste_adjusted", "base_stock"], replications=3, periods=300, warmup=30,
                               costs=PerishableCosts(holding=1.0, shortage=8.0, waste=4.0, ordering=0.5))
    for metric in ("fill_rate", "on_hand", "outdated", "order_quantity"):
        assert many.replicates[metric][:, 1].tolist() == alone.replicates[metric][:, 0].tolist()
    m = alone.mean
    want = m["on_hand"][0] + 8.0 * m["short"][0] + 4.0 * m["outdated"][0] + 0.5 * m["order_quantity"][0]
    assert alone.cost[0] == pytest.approx(want)
    assert alone.waste_cost[0] == pytest.approx(4.0 * m["outdated"][0])


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="shelf_life of job 0"):
        simulate_perishable([DEMAND], [LEAD], 1.5, 5, 0)
    with pytest.raises(ValueError, match="issuing"):
        simulate_perishable([DEMAND], [LEAD], 2, 5, 0, issuing="random")
    with pytest.raises(ValueError, match="level"):
        simulate_perishable([DEMAND], [LEAD], 2, -1, 0)
