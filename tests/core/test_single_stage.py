"""The single-stage Monte Carlo against analytic results."""

import numba
import numpy as np
import pytest
from scipy import stats

from platform_core.distributions import DiscreteDistribution as DD
from platform_core.simulation.single_stage import (
    TARGET_COST,
    TARGET_CYCLE,
    TARGET_FILL,
    evaluate_base_stock,
    optimise_base_stock,
)


def _normal_loss(s, mean, sd):
    z = (s - mean) / sd
    return sd * (stats.norm.pdf(z) - z * stats.norm.sf(z))


@pytest.mark.parametrize("level", [420, 450, 480])
def test_normal_demand_fixed_lead_time_matches_loss_function(level):
    mu, sd, lead = 100.0, 20.0, 3
    res = evaluate_base_stock(
        [DD.normal(mu, sd)], [DD.point(lead)], np.array([7], dtype=np.uint64), np.array([level]),
        replications=100, periods=400,
    )
    var = sd**2 + 1 / 12  # discretised normal
    s1, s0 = np.sqrt(var * (lead + 1)), np.sqrt(var * lead)
    # units short per period = E[(D_{L+1} - S)^+] - E[(D_L - S)^+]
    fill = 1 - (_normal_loss(level, mu * (lead + 1), s1) - _normal_loss(level, mu * lead, s0)) / mu
    assert abs(res.fill_rate[0] - fill) <= 3 * res.fill_rate_se[0]
    backorders = _normal_loss(level, mu * (lead + 1), s1)
    assert abs(res.mean_backorders[0] - backorders) <= 3 * res.mean_backorders_se[0] + 0.02


def test_poisson_demand_exact_fill_rate_and_backorders():
    lam, lead, level = 4.0, 2, 16
    res = evaluate_base_stock(
        [DD.poisson(lam)], [DD.point(lead)], np.array([3], dtype=np.uint64), np.array([level]),
        replications=100, periods=500,
    )
    k = np.arange(0, 200)
    p3 = stats.poisson.pmf(k, lam * (lead + 1))
    p2 = stats.poisson.pmf(k, lam * lead)
    short = (np.maximum(k - level, 0) * p3).sum() - (np.maximum(k - level, 0) * p2).sum()
    assert abs(res.fill_rate[0] - (1 - short / lam)) <= 3 * res.fill_rate_se[0]
    bo = (np.maximum(k - level, 0) * p3).sum()
    assert abs(res.mean_backorders[0] - bo) <= 3 * res.mean_backorders_se[0]
    csl = stats.poisson.cdf(level, lam * (lead + 1))
    assert abs(res.cycle_service[0] - csl) <= 3 * res.cycle_service_se[0]


def test_optimiser_returns_smallest_level_meeting_target():
    n = 3
    demand = [DD.poisson(5.0), DD.normal(40, 12), DD(np.array([0.7, 0.0, 0.0, 0.3]), 0)]
    lead = [DD(np.array([0.3, 0.4, 0.3]), 1)] * n
    seeds = np.array([11, 12, 13], dtype=np.uint64)
    for mode, attr in ((TARGET_FILL, "fill_rate"), (TARGET_CYCLE, "cycle_service")):
        res = optimise_base_stock(demand, lead, seeds, mode=np.full(n, mode), target=np.full(n, 0.95),
                                  replications=40, periods=300)
        s = res.base_stock_level.astype(int)
        at = evaluate_base_stock(demand, lead, seeds, s, replications=40, periods=300)
        below = evaluate_base_stock(demand, lead, seeds, s - 1, replications=40, periods=300)
        assert np.all(getattr(at, attr) >= 0.95 - 1e-12)
        assert np.all(getattr(below, attr) < 0.95)


def test_cost_mode_is_the_newsvendor_optimum_for_zero_lead_time():
    # L = 0, r = 1: each period is a newsvendor; with stockout cost p per unit short and
    # holding h per unit left, the optimum is the p/(p+h) quantile of period demand.
    h, p = 1.0, 9.0
    res = optimise_base_stock([DD.poisson(20.0)], [DD.point(0)], np.array([5], dtype=np.uint64),
                              mode=np.array([TARGET_COST]), target=np.zeros(1),
                              holding_cost=np.array([h]), stockout_cost=np.array([p]),
                              replications=50, periods=2000)
    expected = stats.poisson.ppf(p / (p + h), 20.0)
    assert abs(res.base_stock_level[0] - expected) <= 1


def test_order_crossing_shortens_effective_lead_time():
    lead = [DD(np.array([0.5, 0.0, 0.0, 0.0, 0.5]), 1)]
    kw = dict(replications=50, periods=400)
    cross = evaluate_base_stock([DD.poisson(5.0)], lead, np.array([1], dtype=np.uint64), np.array([25]), crossing=True, **kw)
    seq = evaluate_base_stock([DD.poisson(5.0)], lead, np.array([1], dtype=np.uint64), np.array([25]), crossing=False, **kw)
    # without crossing an order waits for the one before it, so more is outstanding
    assert seq.fill_rate[0] < cross.fill_rate[0] - 5 * max(seq.fill_rate_se[0], cross.fill_rate_se[0])
    # with crossing, orders are independent: the exact pipeline is a mixture over L
    assert seq.mean_backorders[0] > cross.mean_backorders[0]


def test_identical_numbers_across_thread_counts_and_batches():
    demand = [DD.poisson(3.0 + i) for i in range(6)]
    lead = [DD(np.array([0.2, 0.5, 0.3]), 1)] * 6
    seeds = np.arange(100, 106, dtype=np.uint64)
    kw = dict(mode=np.zeros(6, dtype=int), target=np.full(6, 0.9), replications=20, periods=200)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = optimise_base_stock(demand, lead, seeds, **kw)
        numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS))
        many = optimise_base_stock(demand, lead, seeds, **kw)
    finally:
        numba.set_num_threads(before)
    part = optimise_base_stock(demand[3:], lead[3:], seeds[3:], **{**kw, "mode": kw["mode"][3:], "target": kw["target"][3:]})
    np.testing.assert_array_equal(one.base_stock_level, many.base_stock_level)
    np.testing.assert_array_equal(one.fill_rate, many.fill_rate)
    np.testing.assert_array_equal(one.fill_rate[3:], part.fill_rate)


def test_periodic_review_cycle_service_and_fill_rate_are_exact():
    # review every r = 3 periods, lead time 2: protection interval L + r = 5 periods
    lam, lead, r, level = 2.0, 2, 3, 13
    res = evaluate_base_stock(
        [DD.poisson(lam)], [DD.point(lead)], np.array([9], dtype=np.uint64), np.array([level]),
        review_period=np.array([r]), replications=100, periods=600, warmup=49,
    )
    k = np.arange(0, 200)

    def loss(mean):
        return (np.maximum(k - level, 0) * stats.poisson.pmf(k, mean)).sum()

    csl = stats.poisson.cdf(level, lam * (lead + r))
    assert abs(res.cycle_service[0] - csl) <= 3 * res.cycle_service_se[0]
    fill = 1 - (loss(lam * (lead + r)) - loss(lam * lead)) / (r * lam)
    assert abs(res.fill_rate[0] - fill) <= 3 * res.fill_rate_se[0]


def test_reported_service_meets_the_target_at_the_chosen_level():
    # The level is chosen on curves that pool the replications (units short / units
    # demanded over all of them); the reported value is the mean of each replication's
    # ratio. With lumpy demand and few replications the two differ most: the chosen
    # level must meet the target on the reported value too (the pipeline relies on it).
    rng = np.random.default_rng(23)
    n = 120
    demand = []
    for _ in range(n):
        pmf = np.zeros(int(rng.integers(3, 25)))
        pmf[0] = rng.uniform(0.5, 0.95)  # mostly zero, occasionally a lump
        pmf[-1] = 1.0 - pmf[0]
        demand.append(DD(pmf, 0))
    lead = [DD(np.array([0.3, 0.4, 0.3]), 1)] * n
    seeds = np.arange(n, dtype=np.uint64)
    for mode, attr in ((TARGET_FILL, "fill_rate"), (TARGET_CYCLE, "cycle_service")):
        target = rng.uniform(0.8, 0.99, n)
        res = optimise_base_stock(demand, lead, seeds, mode=np.full(n, mode), target=target,
                                  replications=5, periods=60, warmup=10)
        assert np.all(getattr(res, attr) >= target - 1e-12), attr
