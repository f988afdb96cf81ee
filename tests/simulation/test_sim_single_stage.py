"""Single stage against exact formulas computed independently with scipy.stats.

Timing convention (docs/simulation.md): an order placed at the start of period t with
lead time L serves demand from period t + L on, so under base-stock S the end-of-period
net inventory is S - X_{L+1}, X_k = demand over k periods. Per-period shortage is
(X_{L+1} - S)^+ - (X_L - S)^+.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from platform_core.simulation import DiscreteDistribution, Network, Policy, simulate

REPS, PERIODS, WARMUP = 20, 8_000, 50


def _poisson_loss(mean: float, s: float) -> float:
    """E[(X - s)^+] for X ~ Poisson(mean)."""
    k = np.arange(0, int(stats.poisson.isf(1e-15, mean)) + 2)
    return float(np.sum(np.maximum(k - s, 0.0) * stats.poisson.pmf(k, mean)))


def _within(sim: float, se: float, exact: float, n_se: float = 3.0) -> None:
    assert abs(sim - exact) <= n_se * se + 1e-12, f"sim {sim} +- {se} vs exact {exact}"


@pytest.mark.parametrize("lead, base_stock", [(0, 7), (2, 17), (4, 28)])
def test_poisson_base_stock_matches_exact(lead: int, base_stock: int) -> None:
    mu = 4.0
    res = simulate(Network.serial(1), Policy.base_stock(base_stock), DiscreteDistribution.poisson(mu),
                   lead_times=lead, seeds=11, replications=REPS, periods=PERIODS, warmup=WARMUP)
    eb_l1 = _poisson_loss(mu * (lead + 1), base_stock)
    eb_l = _poisson_loss(mu * lead, base_stock) if lead > 0 else 0.0
    fill = 1.0 - (eb_l1 - eb_l) / mu
    _within(res["backorders"][0], res.se["backorders"][0], eb_l1)
    _within(res["fill_rate"][0], res.se["fill_rate"][0], fill)
    # on hand: E[(S - X)^+] = S - E[X] + E[(X - S)^+]
    _within(res["on_hand"][0], res.se["on_hand"][0], base_stock - mu * (lead + 1) + eb_l1)
    # ready rate (type 3) = P(X_{L+1} < S)
    _within(res["ready_rate"][0], res.se["ready_rate"][0], stats.poisson.cdf(base_stock - 1, mu * (lead + 1)))
    # cycle service (type 1): each period is a replenishment cycle; it ends without
    # backorders iff X_{L+1} <= S
    p_ok = stats.poisson.cdf(base_stock, mu * (lead + 1))
    _within(res["cycle_service_level"][0], res.se["cycle_service_level"][0], p_ok)


@pytest.mark.parametrize("review, lead, level", [(3, 2, 20), (4, 0, 14), (1, 3, 16), (2, 5, 26)])
def test_periodic_review_cycle_service_is_per_replenishment_cycle(review: int, lead: int, level: int) -> None:
    """(R, S) with Poisson demand: a cycle runs from one order's arrival to the period
    before the next one's, and is free of stock-outs iff demand over R + L periods <= S.
    A per-period count would differ (it is the ready-rate-like average over the R
    periods of the cycle)."""
    mu = 3.0
    res = simulate(Network.serial(1), Policy.base_stock(level, review_period=review),
                   DiscreteDistribution.poisson(mu), lead_times=lead, seeds=21,
                   replications=REPS, periods=PERIODS, warmup=WARMUP)
    exact = stats.poisson.cdf(level, mu * (review + lead))
    _within(res["cycle_service_level"][0], res.se["cycle_service_level"][0], exact)
    if review > 1:
        # the per-period share of periods without a shortage is clearly higher
        per_period = np.mean([stats.poisson.cdf(level, mu * (lead + k)) for k in range(1, review + 1)])
        assert per_period > exact + 0.02


def test_normal_base_stock_matches_loss_function() -> None:
    mu, sd, lead, z = 100.0, 20.0, 2, 1.2
    n = lead + 1
    # a discretised normal per period adds a rounding variance of 1/12 per period
    sig = np.sqrt(n * (sd**2 + 1.0 / 12.0))
    s = round(n * mu + z * sig)
    res = simulate(Network.serial(1), Policy.base_stock(s), DiscreteDistribution.normal(mu, sd),
                   lead_times=lead, seeds=5, replications=REPS, periods=PERIODS, warmup=WARMUP)

    def loss(mean: float, sigma: float, x: float) -> float:
        zz = (x - mean) / sigma
        return sigma * (stats.norm.pdf(zz) - zz * stats.norm.sf(zz))

    sig_l = np.sqrt(lead * (sd**2 + 1.0 / 12.0))
    eb = loss(n * mu, sig, s)
    fill = 1.0 - (eb - loss(lead * mu, sig_l, s)) / mu
    _within(res["backorders"][0], res.se["backorders"][0], eb)
    _within(res["fill_rate"][0], res.se["fill_rate"][0], fill)
    _within(res["on_hand"][0], res.se["on_hand"][0], s - n * mu + eb)


def test_stochastic_lead_time_with_crossing_matches_exact_convolution() -> None:
    """With crossing and iid lead times, the order placed k+1 periods ago (= demand
    D_{t-k-1}) is still outstanding with probability P(L > k), independently of the rest,
    so X = D_t + sum_k B_k D_{t-k-1}, B_k ~ Bernoulli(P(L > k)): an exact convolution."""
    mu, s = 3.0, 16
    lead = DiscreteDistribution(np.array([0.2, 0.3, 0.1, 0.1, 0.3]), 1)  # 1..5 periods
    res = simulate(Network.serial(1), Policy.base_stock(s), DiscreteDistribution.poisson(mu),
                   lead_times=lead, seeds=3, replications=REPS, periods=PERIODS, warmup=WARMUP,
                   crossing=True)
    n = 150
    d = _poisson_pmf(mu, n)
    x = d.copy()
    for k in range(6):
        p_out = 1.0 - lead.cdf(k)
        term = p_out * d
        term[0] += 1.0 - p_out
        x = np.convolve(x, term)[:n]
    eb = float(np.sum(np.maximum(np.arange(n) - s, 0) * x))
    _within(res["backorders"][0], res.se["backorders"][0], eb)
    _within(res["on_hand"][0], res.se["on_hand"][0], s - mu * (1 + lead.mean()) + eb)
    # Little's law: units in transit = demand rate x mean lead time
    _within(res["in_transit_in"][0], res.se["in_transit_in"][0], mu * lead.mean())


def test_processing_time_adds_to_lead_time() -> None:
    mu, s = 4.0, 21
    res = simulate(Network.serial(1), Policy.base_stock(s), DiscreteDistribution.poisson(mu),
                   lead_times=1, processing_times=[2], seeds=2, replications=REPS,
                   periods=PERIODS, warmup=WARMUP)
    _within(res["backorders"][0], res.se["backorders"][0], _poisson_loss(4 * mu, s))


def test_lost_sales_zero_lead_time_exact() -> None:
    """L = 0: each period starts at S, so sales = min(D, S) exactly."""
    mu, s = 5.0, 6
    res = simulate(Network.serial(1), Policy.base_stock(s), DiscreteDistribution.poisson(mu),
                   lead_times=0, backorders=False, seeds=4, replications=REPS, periods=PERIODS,
                   warmup=WARMUP)
    lost = _poisson_loss(mu, s)
    _within(res["lost_sales"][0], res.se["lost_sales"][0], lost)
    _within(res["fill_rate"][0], res.se["fill_rate"][0], 1.0 - lost / mu)
    assert res["backorders"][0] == 0.0


def _poisson_pmf(mean: float, n: int) -> np.ndarray:
    return stats.poisson.pmf(np.arange(n), mean)


def test_rq_policy_inventory_position_uniform() -> None:
    """(r, Q): IP after ordering is uniform on r+1..r+Q, independent of lead-time demand."""
    mu, lead, r, q = 2.0, 1, 4, 5
    res = simulate(Network.serial(1), Policy.r_Q(r, q), DiscreteDistribution.poisson(mu),
                   lead_times=lead, seeds=8, replications=REPS, periods=PERIODS, warmup=WARMUP)
    m = mu * (lead + 1)
    eb = np.mean([_poisson_loss(m, y) for y in range(r + 1, r + q + 1)])
    _within(res["backorders"][0], res.se["backorders"][0], eb)
    # every unit demanded is reordered: units ordered per period = mu
    _within(res["order_quantity"][0], res.se["order_quantity"][0], mu)
    # an order is placed when IP_prev - D <= r, IP_prev uniform on r+1..r+Q
    p_order = np.mean([stats.poisson.sf(y - r - 1, mu) for y in range(r + 1, r + q + 1)])
    _within(res["order_frequency"][0], res.se["order_frequency"][0], p_order)


def test_sS_policy_matches_markov_chain() -> None:
    """(s, S): stationary IP from the Markov chain on s+1..S (computed with numpy)."""
    mu, lead, s, big_s = 3.0, 1, 3, 12
    res = simulate(Network.serial(1), Policy.s_S(s, big_s), DiscreteDistribution.poisson(mu),
                   lead_times=lead, seeds=9, replications=REPS, periods=PERIODS, warmup=WARMUP)
    states = np.arange(s + 1, big_s + 1)
    n = states.size
    pmf = _poisson_pmf(mu, 200)
    p = np.zeros((n, n))
    p_order = np.zeros(n)
    for i, y in enumerate(states):
        for d, pd in enumerate(pmf):
            nxt = y - d
            if nxt <= s:
                p[i, n - 1] += pd
                p_order[i] += pd
            else:
                p[i, nxt - s - 1] += pd
    w, v = np.linalg.eig(p.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1.0))])
    pi /= pi.sum()
    m = mu * (lead + 1)
    eb = float(sum(pi[i] * _poisson_loss(m, y) for i, y in enumerate(states)))
    _within(res["backorders"][0], res.se["backorders"][0], eb)
    _within(res["order_frequency"][0], res.se["order_frequency"][0], float(pi @ p_order))


def test_capacitated_base_stock_matches_lindley_recursion() -> None:
    """Capacity C, L = 0: shortfall Y' = max(Y + D - C, 0) and IL = S - Y - D."""
    mu, cap, s = 4.0, 5.0, 12
    res = simulate(Network.serial(1), Policy.base_stock(s, capacity=cap), DiscreteDistribution.poisson(mu),
                   lead_times=0, seeds=6, replications=REPS, periods=PERIODS, warmup=200)
    pmf = _poisson_pmf(mu, 60)
    n = 400
    pi = np.zeros(n)
    pi[0] = 1.0
    for _ in range(3000):
        nxt = np.zeros(n)
        for d, pd in enumerate(pmf):
            y = np.maximum(np.arange(n) + d - int(cap), 0)
            np.add.at(nxt, np.minimum(y, n - 1), pi * pd)
        pi = nxt
    # Y is the shortfall before the period's demand (start of period, after ordering)
    x = np.add.outer(np.arange(n), np.arange(pmf.size))  # Y + D
    w = np.outer(pi, pmf)
    eb = float(np.sum(w * np.maximum(x - s, 0)))
    _within(res["backorders"][0], res.se["backorders"][0], eb)


def test_periodic_review_order_up_to() -> None:
    """(R, S): after a review IP = S; k periods later net inventory is S - X_{L+1+k}."""
    mu, lead, review, s = 2.0, 1, 3, 14
    res = simulate(Network.serial(1), Policy.base_stock(s, review_period=review),
                   DiscreteDistribution.poisson(mu), lead_times=lead, seeds=12,
                   replications=REPS, periods=PERIODS - PERIODS % review, warmup=WARMUP - WARMUP % review)
    eb = np.mean([_poisson_loss(mu * (lead + 1 + k), s) for k in range(review)])
    _within(res["backorders"][0], res.se["backorders"][0], eb)
    _within(res["order_frequency"][0], res.se["order_frequency"][0],
            (1.0 - stats.poisson.pmf(0, mu * review)) / review)
