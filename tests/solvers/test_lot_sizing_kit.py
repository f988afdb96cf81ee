"""Exact single-stage lot sizing (``echelon_solvers.kit.lot_sizing``) against published optima,
a brute-force Markov-chain evaluation and exhaustive enumeration.

Published values:

* Zheng & Federgruen (1991), "Finding optimal (s, S) policies is about as simple as
  evaluating a single policy", Operations Research 39(4):654-665, Table I: Poisson demand,
  h = 1, p = 9 (backorder cost per unit per period), K = 64, zero lead time; the 24
  instances as reproduced in L. V. Snyder's stockpyl (``tests/test_ss.py``,
  ``test_fz_instances``) and, for mean 10, printed in R. Rossi, *Inventory Analytics*
  (Open Book Publishers, 2021), Listing 73: (s, S) = (6, 40), c = 35.02.
* Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed. (Wiley, 2019): Example
  5.8, continuous-review (r, Q) with Poisson demand (λ = 1.5, L = 2, h = 20, p = 150,
  K = 100): r = 3, Q = 5, cost 107.92; Example 5.2, (r, Q) with normal demand
  (λ = 1300, σ = 150, L = 1/12, h = 0.225, p = 7.5, K = 8): r = 126.8, Q = 328.5,
  cost 78.07 (continuous formulas; here the lead-time demand is discretised to the
  integers, ``DiscreteDistribution.normal``).
"""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.kit.lot_sizing import (
    best_r_Q,
    best_s_S,
    lot_sizing_problem,
    optimal_lot_policy,
    r_Q_metrics,
    s_S_cost,
    s_S_metrics,
    zheng_federgruen,
)

from platform_core.distributions import DiscreteDistribution

ZF_MEAN = list(range(10, 80, 5)) + [21, 22, 23, 24, 51, 52, 59, 61, 63, 64]
ZF_S_LOW = [6, 10, 14, 19, 23, 28, 33, 37, 42, 47, 52, 56, 62, 67, 15, 16, 17, 18, 43, 44, 51, 52, 54, 55]
ZF_S_UP = [40, 49, 62, 56, 66, 77, 87, 97, 108, 118, 129, 75, 81, 86, 65, 68, 52, 54, 110, 112, 126, 131, 73, 74]
ZF_COST = [35.022, 42.698, 49.173, 54.262, 57.819, 61.215, 64.512, 67.776, 70.975, 74.149, 77.306, 78.518,
           79.037, 79.554, 50.406, 51.632, 52.757, 53.518, 71.611, 72.246, 76.679, 77.929, 78.287, 78.402]


@pytest.mark.parametrize("k", range(len(ZF_MEAN)), ids=[f"mu{m}" for m in ZF_MEAN])
def test_zheng_federgruen_table_i(k):
    """ZF (1991) Table I: the optimal (s, S) and its cost (published to 3 decimals)."""
    prob = lot_sizing_problem(DiscreteDistribution.poisson(ZF_MEAN[k]), 0, 1)
    s, big_s, cost = zheng_federgruen(prob, prob.g(1.0, 9.0), 64.0)
    assert (s, big_s) == (ZF_S_LOW[k], ZF_S_UP[k])
    assert cost == pytest.approx(ZF_COST[k], rel=5e-3, abs=1.5e-3)
    assert cost == pytest.approx(ZF_COST[k], abs=1.5e-3)  # in fact to the printed digits


@pytest.mark.parametrize("k", [0, 5, 8, 13])
def test_exhaustive_search_finds_the_published_optimum(k):
    """The constrained search (used with MOQ / fill floors) agrees with Table I unconstrained."""
    prob = lot_sizing_problem(DiscreteDistribution.poisson(ZF_MEAN[k]), 0, 1)
    res = best_s_S(prob, holding_cost=1.0, backorder_cost=9.0, fixed_cost=64.0)
    assert (res.reorder_point, res.order_up_to) == (ZF_S_LOW[k], ZF_S_UP[k])
    assert res.cost == pytest.approx(ZF_COST[k], abs=1.5e-3)


def test_r_q_poisson_textbook_example():
    """FoSCT Example 5.8: continuous review, Poisson lead-time demand, K λ per unit time."""
    ltd = DiscreteDistribution.poisson(1.5 * 2)
    prob = lot_sizing_problem(DiscreteDistribution.poisson(1.5), 0, 1,
                              lead_time_demand=[DiscreteDistribution.point(0), ltd])
    res = best_r_Q(prob, holding_cost=20.0, backorder_cost=150.0, fixed_cost=100.0, order_rate=1.5)
    assert (res.reorder_point, res.order_quantity) == (3, 5)
    assert res.cost == pytest.approx(107.92, rel=5e-3)


def test_r_q_normal_textbook_example():
    """FoSCT Example 5.2 (normal demand, continuous formulas) with the lead-time demand discretised."""
    lead = 1.0 / 12.0
    ltd = DiscreteDistribution.normal(1300 * lead, 150 * np.sqrt(lead))
    prob = lot_sizing_problem(DiscreteDistribution.poisson(1.0), 0, 1,
                              lead_time_demand=[DiscreteDistribution.point(0), ltd], span=1500)
    res = best_r_Q(prob, holding_cost=0.225, backorder_cost=7.5, fixed_cost=8.0, order_rate=1300.0)
    assert res.cost == pytest.approx(78.07, rel=5e-3)
    assert abs(res.reorder_point - 126.8) <= 1.5 and abs(res.order_quantity - 328.5) <= 1.5


def _markov_s_S(demand: DiscreteDistribution, lead: int, s: int, big_s: int, h: float, p: float, k: float) -> float:
    """Brute force: stationary distribution of the position after ordering, by the transition matrix."""
    states = np.arange(s + 1, big_s + 1)
    n = states.size
    trans = np.zeros((n, n))
    pmf, off = demand.pmf, demand.offset
    for a, y in enumerate(states):
        for dv, pr in zip(range(off, off + pmf.size), pmf, strict=True):
            nxt = y - dv
            b = (big_s if nxt <= s else nxt) - (s + 1)
            trans[a, b] += pr
    vals, vecs = np.linalg.eig(trans.T)
    pi = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
    pi = pi / pi.sum()
    ltd = DiscreteDistribution.point(0)
    for _ in range(lead + 1):
        ltd = ltd.convolve(demand)
    g = np.array([sum(pr * (h * max(y - x, 0) + p * max(x - y, 0)) for x, pr in zip(ltd.support, ltd.pmf, strict=True))
                  for y in states])
    order_prob = sum(pi[a] * (1.0 - demand.cdf(y - s - 1)) for a, y in enumerate(states))  # P(D >= y - s)
    return float(np.dot(pi, g) + k * order_prob)


def _negative_binomial(n: float, p: float) -> DiscreteDistribution:
    from scipy import stats

    k = np.arange(int(stats.nbinom.isf(1e-12, n, p)) + 1)
    return DiscreteDistribution(stats.nbinom.pmf(k, n, p), 0)


@pytest.mark.parametrize("demand", [DiscreteDistribution.poisson(2.5), _negative_binomial(2.0, 0.4)],
                         ids=["poisson", "negative_binomial"])
def test_s_S_cost_equals_brute_force_markov_chain(demand):
    """c(s, S) (renewal formula) = the stationary Markov chain's cost, lead time 2, with zero demand possible."""
    prob = lot_sizing_problem(demand, 2, 1)
    for s, big_s in [(4, 9), (6, 20), (2, 3)]:
        ours = s_S_cost(prob, prob.g(1.0, 7.0), s, big_s, 30.0)
        assert ours == pytest.approx(_markov_s_S(demand, 2, s, big_s, 1.0, 7.0, 30.0), rel=1e-9)


@pytest.mark.parametrize("review", [1, 2], ids=["sS_rQ", "RsS_RrQ"])
def test_s_S_and_r_Q_metrics_match_the_engine(review):
    """Exact on-hand, backorders, fill and order frequency vs Echelon's Monte Carlo engine (3 SE),
    every period (review 1) and every other period ((R, s, S) / (R, r, nQ), review 2)."""
    from platform_core.simulation import Network, Policy, simulate

    demand = DiscreteDistribution.poisson(4.0 if review == 1 else 3.0)
    lead = 2 if review == 1 else 1
    prob = lot_sizing_problem(demand, lead, review)
    cases = [(Policy.s_S(7, 25, review_period=review), s_S_metrics(prob, 7, 25)),
             (Policy.r_Q(9, 12, review_period=review), r_Q_metrics(prob, 9, 12))]
    res = simulate([Network(1)] * 2, [c[0] for c in cases], demand, lead_times=lead, seeds=[11, 12],
                   replications=40, periods=2000, warmup=100)
    for i, (_, met) in enumerate(cases):
        for name, exact in (("on_hand", met.on_hand), ("backorders", met.backorders),
                            ("fill_rate", met.fill_rate), ("order_frequency", met.order_frequency)):
            sim, se = float(res.mean[name][i]), float(res.se[name][i])
            assert abs(sim - exact) <= 3.0 * se + 1e-9, (i, name, sim, exact, se)


def _enumerate_fill(prob, h, k, target, kind, s_range, q_range, step=1):
    best = (np.inf, None)
    for q in q_range:
        if q % step:
            continue
        for s in s_range:
            met = s_S_metrics(prob, s, s + q) if kind == "sS" else r_Q_metrics(prob, s, q)
            if met.fill_rate >= target:
                c = met.cost(h, k)
                if c < best[0]:
                    best = (c, (s, q))
                break  # holding grows with s: the least feasible s is best for this q
    return best


@pytest.mark.parametrize("kind", ["sS", "rQ"])
def test_fill_target_optimum_equals_enumeration(kind):
    """Least holding + ordering cost at fill >= 0.95 = exhaustive enumeration of every (s, S) / (r, Q) in a box."""
    demand = DiscreteDistribution.poisson(3.0)
    prob = lot_sizing_problem(demand, 1, 1)
    res = optimal_lot_policy(prob, kind, holding_cost=0.4, fixed_cost=12.0, fill_target=0.95)
    best, arg = _enumerate_fill(prob, 0.4, 12.0, 0.95, kind, range(-10, 40), range(1, 60))
    assert res.metrics.fill_rate >= 0.95
    assert res.cost == pytest.approx(best, rel=1e-9), (res, arg)


def test_moq_and_multiple_constraints_are_met_at_least_cost():
    """S - s >= moq; Q a multiple of the order multiple and >= moq; both optimal within the box."""
    demand = DiscreteDistribution.poisson(3.0)
    prob = lot_sizing_problem(demand, 1, 1)
    ss = optimal_lot_policy(prob, "sS", holding_cost=0.4, fixed_cost=2.0, shortage_cost=5.0, min_quantity=30)
    assert ss.order_up_to - ss.reorder_point >= 30
    brute = min(s_S_cost(prob, prob.g(0.4, 0.0, 5.0), s, s + d, 2.0) for d in range(30, 70) for s in range(-5, 20))
    assert ss.cost == pytest.approx(brute, rel=1e-12)
    rq = optimal_lot_policy(prob, "rQ", holding_cost=0.4, fixed_cost=2.0, fill_target=0.97, multiple=8, min_quantity=10)
    assert rq.order_quantity % 8 == 0 and rq.order_quantity >= 10 and rq.metrics.fill_rate >= 0.97
    best, _ = _enumerate_fill(prob, 0.4, 2.0, 0.97, "rQ", range(-10, 40), range(16, 80), step=8)
    assert rq.cost == pytest.approx(best, rel=1e-9)
