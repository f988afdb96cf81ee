"""Exact lost-sales DP and (capped) base-stock evaluation against Zipkin (2008)'s printed values.

Sources of the printed values (Zipkin 2008, "Old and new methods for lost-sales inventory
systems", Operations Research 56(5), Table 3, Poisson(5) demand, h = 1):

* optimal 4.04 (L=1, p=4) and 4.40 (L=2, p=4), base stock at the backorder level
  4.39 (L=1) and 4.94 (L=2): DynaPlex's exact-solver test (DynaPlex/DynaPlex, gtest
  ``ExactAlgorithm.LostSalesSmallInstances``, "from Zipkin paper");
* optimal 4.73 (L=4, p=4) and the capped ("better vector") base-stock 4.80: the invman
  lost-sales benchmark card, Table 3(a), p.1261 (and Xin 2021, Table 1, ~4.8).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from echelon_solvers.kit.lost_sales_dp import (
    LostSalesInstance,
    backorder_base_stock_bound,
    best_base_stock,
    best_capped_base_stock,
    capped_base_stock_orders,
    evaluate_lost_sales_policy,
    solve_optimal,
)


@pytest.mark.parametrize(("lead", "penalty", "published"), [(1, 4.0, 4.04), (2, 4.0, 4.40), (4, 4.0, 4.73)])
def test_optimal_cost_matches_zipkin(lead: int, penalty: float, published: float) -> None:
    inst = LostSalesInstance.poisson(5.0, lead, 1.0, penalty)
    sol = solve_optimal(inst)
    assert sol.cost_upper - sol.cost_lower < 1e-6
    assert round(sol.cost_per_period, 2) == pytest.approx(published, abs=1e-9)


@pytest.mark.parametrize(("lead", "published"), [(1, 4.39), (2, 4.94)])
def test_base_stock_at_backorder_level_matches_zipkin(lead: int, published: float) -> None:
    inst = LostSalesInstance.poisson(5.0, lead, 1.0, 4.0)
    level = backorder_base_stock_bound(inst)
    cost = evaluate_lost_sales_policy(inst, capped_base_stock_orders(lead, level, level), level)
    assert round(cost, 2) == pytest.approx(published, abs=1e-9)


def test_capped_base_stock_matches_published_value() -> None:
    inst = LostSalesInstance.poisson(5.0, 4, 1.0, 4.0)
    cost = evaluate_lost_sales_policy(inst, capped_base_stock_orders(4, 26, 26, 5), 26)
    assert round(cost, 2) == pytest.approx(4.80, abs=1e-9)


def test_truncation_bound_does_not_bind() -> None:
    """A grid 4 units larger than the backorder base-stock level gives the same optimum."""
    inst = LostSalesInstance.poisson(5.0, 2, 1.0, 9.0)
    b = backorder_base_stock_bound(inst)
    assert solve_optimal(inst).cost_per_period == pytest.approx(
        solve_optimal(inst, bound=b + 4).cost_per_period, abs=1e-6)


def test_policy_evaluation_agrees_with_stationary_distribution() -> None:
    """Value iteration's cost equals the cost under the chain's stationary distribution (L=1)."""
    inst = LostSalesInstance.poisson(5.0, 1, 1.0, 9.0)
    s, r = 14, 6
    pmf = inst.demand_pmf
    n = s + 1  # on hand 0..S after receipt
    p_mat = np.zeros((n, n))
    for x in range(n):
        z = min(max(s - x, 0), r)
        for d in range(pmf.size):
            p_mat[x, max(x - d, 0) + z] += pmf[d]
    w, v = np.linalg.eig(p_mat.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    pi /= pi.sum()
    d = np.arange(pmf.size)
    cost_x = np.array([(np.maximum(x - d, 0) + 9.0 * np.maximum(d - x, 0)) @ pmf for x in range(n)])
    assert evaluate_lost_sales_policy(inst, capped_base_stock_orders(1, s, s, r), s) == pytest.approx(pi @ cost_x, abs=1e-7)


def test_capped_search_matches_brute_force() -> None:
    inst = LostSalesInstance.poisson(5.0, 2, 1.0, 4.0)
    found = best_capped_base_stock(inst)
    brute = min(
        (evaluate_lost_sales_policy(inst, capped_base_stock_orders(2, s, s, r), s), s, r)
        for s, r in itertools.product(range(8, 26), range(1, 12))
    )
    assert found.cost_per_period == pytest.approx(brute[0], abs=1e-9)
    plain = best_base_stock(inst)
    assert plain.cost_per_period == pytest.approx(
        min(evaluate_lost_sales_policy(inst, capped_base_stock_orders(2, s, s), s) for s in range(8, 26)), abs=1e-9)
    assert found.cost_per_period < plain.cost_per_period


def test_bad_instance_is_rejected_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="lead_time_periods"):
        LostSalesInstance(np.array([0.5, 0.5]), 0)
    with pytest.raises(ValueError, match="demand_pmf"):
        LostSalesInstance(np.array([0.5, 0.6]), 1)
    inst = LostSalesInstance.poisson(5.0, 1, 1.0, 4.0)
    with pytest.raises(ValueError, match="orders"):
        evaluate_lost_sales_policy(inst, np.full(11, 20), 10)
