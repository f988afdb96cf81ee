"""Position histograms: every level of a base-stock stage from one run.

(a) exactness on common random numbers: a stage's fill rate, backlog and on hand at
another level S', simulated again with the same seed, equal the curves of the first
run's histograms (the same sample paths); (b) a single Poisson stage against the closed
forms; (c) the batch-means SE of the fill curve against the engine's replication SE.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from platform_core.simulation import DiscreteDistribution, Network, Policy, simulate

CASES = {
    # name: network, levels, demand, lead times, per-stage levels S' to try
    "serial3": (Network.serial(3), [14, 9, 7], DiscreteDistribution.poisson(3.0), [2, 1, 1],
                {0: [0, 5, 11, 30], 1: [0, 4, 12], 2: [2, 5, 9, 15]}),
    "distribution_1_5": (
        Network.distribution(5), [40, 8, 9, 10, 7, 12], DiscreteDistribution.poisson(2.0),
        {**{(-1, 0): DiscreteDistribution(np.array([0.2, 0.5, 0.3]), offset=1)},
         **{(0, k): DiscreteDistribution(np.array([0.5, 0.3, 0.2]), offset=0) for k in range(1, 6)}},
        {0: [10, 25, 33, 60], 3: [0, 6, 14], 5: [3, 20]}),
    "assembly_qp2": (Network.assembly([2, 1]), [30, 14, 9], DiscreteDistribution.poisson(2.5), [2, 1, 1],
                     {0: [8, 22, 40], 1: [3, 20], 2: [4, 12]}),
}


def _engine(res, row: int) -> tuple[float, float, float]:
    return (float(res["fill_rate"][row]), float(res["backorders"][row] + res["owed_downstream"][row]),
            float(res["on_hand"][row]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_curves_equal_resimulation_on_common_random_numbers(name: str) -> None:
    net, levels, demand, lead, tries = CASES[name]
    kw = dict(lead_times=lead, seeds=7, replications=6, periods=600, warmup=30)
    base = simulate(net, Policy.base_stock(levels), demand, position_histograms=True, **kw)
    pos = base.positions
    assert pos is not None and pos.applicable.all()
    # at its own level every curve reproduces the run's metrics
    worst = 0.0
    for row in range(net.n_stages):
        c = pos.curves(row)
        got = (c.fill_rate[levels[row]], c.backlog[levels[row]], c.on_hand[levels[row]])
        worst = max(worst, *(abs(a - b) for a, b in zip(got, _engine(base, row), strict=True)))
    for row, others in tries.items():
        c = pos.curves(row)
        for s_new in others:
            lv = list(levels)
            lv[row] = s_new
            again = simulate(net, Policy.base_stock(lv), demand, **kw)
            got = (c.fill_rate[s_new], c.backlog[s_new], c.on_hand[s_new])
            want = _engine(again, row)
            diff = max(abs(a - b) for a, b in zip(got, want, strict=True))
            assert diff < 1e-10, f"{name} stage {row} S'={s_new}: curves {got} vs resimulated {want}"
            worst = max(worst, diff)
    print(f"{name}: max |curve - resimulated| = {worst:.3g}")


def test_curves_see_a_changed_level() -> None:
    """The check above can fail: a different stage's level changes this stage's paths."""
    net, levels, demand, lead, _ = CASES["serial3"]
    kw = dict(lead_times=lead, seeds=7, replications=6, periods=600, warmup=30)
    c = simulate(net, Policy.base_stock(levels), demand, position_histograms=True, **kw).positions.curves(2)
    again = simulate(net, Policy.base_stock([14, 3, 5]), demand, **kw)  # upstream starved too
    assert abs(c.fill_rate[5] - again["fill_rate"][2]) > 1e-3


def test_not_applicable_rows_and_refusals() -> None:
    pol = Policy(kind=["sS", "base_stock"], reorder_point=[5, 0], order_up_to=[20, 6])
    res = simulate(Network.serial(2), pol, DiscreteDistribution.poisson(2), lead_times=1, replications=2,
                   periods=50, position_histograms=True)
    assert res.positions is not None
    assert list(res.positions.applicable) == [False, True]
    with pytest.raises(ValueError, match="no position histograms"):
        res.positions.curves(0)
    with pytest.raises(ValueError, match="backorders=True"):
        simulate(Network.serial(1), Policy.base_stock([3]), DiscreteDistribution.poisson(2),
                 backorders=False, position_histograms=True)
    with pytest.raises(ValueError, match="integers >= 0"):
        simulate(Network.serial(1), Policy.base_stock([3.5]), DiscreteDistribution.poisson(2),
                 position_histograms=True)
    with pytest.raises(ValueError, match="quantity_per"):
        simulate(Network.assembly([1.5]), Policy.base_stock([3, 3]), DiscreteDistribution.poisson(2),
                 position_histograms=True)
    with pytest.raises(ValueError, match="fifo"):
        simulate(Network.distribution(2), Policy.base_stock([9, 3, 3]), DiscreteDistribution.poisson(2),
                 allocation="proportional", position_histograms=True)
    with pytest.raises(ValueError, match="divide"):
        simulate(Network.serial(1), Policy.base_stock([3]), DiscreteDistribution.poisson(2),
                 replications=10, histogram_groups=3, position_histograms=True)
    assert simulate(Network.serial(1), Policy.base_stock([3]), DiscreteDistribution.poisson(2)).positions is None


def _loss(mean: float, s: np.ndarray) -> np.ndarray:
    """E[(N - s)^+] for N ~ Poisson(mean), per level s."""
    k = np.arange(0, int(stats.poisson.isf(1e-16, mean)) + 2)
    pmf = stats.poisson.pmf(k, mean)
    return np.array([np.sum(np.maximum(k - x, 0) * pmf) for x in s])


@pytest.mark.parametrize("lead", [0, 2])
def test_single_stage_curves_match_poisson_closed_forms(lead: int) -> None:
    """Poisson(lam) demand, fixed lead time L, review 1: in the engine's timing the order
    placed in period t is the previous period's demand and arrives at the start of
    t + L, so at the end of a period X is the demand of L + 1 periods and Y = X - d of
    L periods: fill(S) = 1 - (E(X - S)^+ - E(Y - S)^+) / lam, backlog E(X - S)^+,
    on hand S - E[X] + E(X - S)^+."""
    lam = 4.0
    res = simulate(Network.serial(1), Policy.base_stock([12]), DiscreteDistribution.poisson(lam),
                   lead_times=lead, seeds=3, replications=20, periods=10_000, warmup=20,
                   position_histograms=True, histogram_groups=10)
    c = res.positions.curves(0)
    s = c.level[:40]
    bx = _loss(lam * (lead + 1), s)
    by = _loss(lam * lead, s) if lead > 0 else np.maximum(-s, 0.0)
    fill = 1.0 - (bx - by) / lam
    on_hand = s - lam * (lead + 1) + bx
    se = np.maximum(c.fill_rate_se[:40], 1e-6)
    assert np.all(np.abs(c.fill_rate[:40] - fill) <= 4.5 * se + 1e-9), np.max(np.abs(c.fill_rate[:40] - fill) / se)
    # backlog and on hand: 200,000 periods, correlated over L + 1 periods; SD of (X - S)^+ < 3
    tol = 4 * 3.0 * np.sqrt((lead + 1) / 200_000)
    assert np.max(np.abs(c.backlog[:40] - bx)) < tol
    assert np.max(np.abs(c.on_hand[:40] - on_hand)) < tol
    # a wrong timing (one period more or less of lead-time demand) is far outside that
    assert np.max(np.abs(1.0 - (_loss(lam * (lead + 2), s) - _loss(lam * (lead + 1), s)) / lam - c.fill_rate[:40])) > 0.05
    # the smallest level with fill >= 0.95, against the closed form
    assert res.positions.min_levels(0.95)[0] == int(s[np.argmax(fill >= 0.95)]) or abs(
        fill[res.positions.min_levels(0.95)[0]] - 0.95) < 4.5 * se[res.positions.min_levels(0.95)[0]]


def test_group_se_is_of_the_order_of_the_replication_se() -> None:
    """Batch means over 5 groups of 4 replications vs the engine's SE over 20 replications."""
    res = simulate(Network.distribution(3), Policy.base_stock([17, 6, 6, 6]), DiscreteDistribution.poisson(2.0),
                   lead_times=[2, 1, 1, 1], seeds=11, replications=20, periods=2000, warmup=20,
                   position_histograms=True, histogram_groups=5)
    for row, s in enumerate([17, 6, 6, 6]):
        c = res.positions.curves(row)
        ratio = c.fill_rate_se[s] / res.se["fill_rate"][row]
        assert 1 / 3 < ratio < 3, (row, ratio)
        # pooled groups: the mean fill is the engine's up to the ratio-of-means difference
        assert abs(c.fill_rate[s] - res["fill_rate"][row]) < 3 * res.se["fill_rate"][row]


def test_select_gives_the_chosen_rows_curves_exactly() -> None:
    """``select(rows)`` (fewer curves to compute) holds exactly those rows' histograms."""
    net = Network(4, ((0, 1, 1.0), (0, 2, 1.0), (0, 3, 1.0)))
    res = simulate(net, Policy.base_stock(np.array([12.0, 5.0, 6.0, 4.0])),
                   {k: DiscreteDistribution.poisson(2.0 + k) for k in (1, 2, 3)}, lead_times=[2, 1, 1, 1],
                   seeds=5, replications=6, periods=300, warmup=20, position_histograms=True, histogram_groups=3)
    pos = res.positions
    assert pos is not None
    every = pos.all_curves()
    rows = np.array([3, 0, 2])
    picked = pos.select(rows).all_curves()
    for r, c in zip(rows, picked, strict=True):
        ref = every[int(r)]
        assert ref is not None and c is not None
        for field in ("level", "fill_rate", "fill_rate_se", "backlog", "on_hand"):
            np.testing.assert_array_equal(getattr(c, field), getattr(ref, field), err_msg=field)


def test_on_hand_se_is_the_engines_replication_se_with_one_group_per_replication() -> None:
    """One replication per group: the batch-means SE of on hand is the engine's SE over replications."""
    kw = dict(lead_times=2, seeds=3, replications=8, periods=300, warmup=30)
    demand = DiscreteDistribution.poisson(6.0)
    c = simulate(Network.serial(1), Policy.base_stock([30]), demand, position_histograms=True, histogram_groups=8,
                 **kw).positions.curves(0)
    for s_new in (14, 19, 25):
        again = simulate(Network.serial(1), Policy.base_stock([s_new]), demand, **kw)
        assert c.on_hand[s_new] == pytest.approx(float(again["on_hand"][0]), abs=1e-10)
        assert c.on_hand_se[s_new] == pytest.approx(float(again.se["on_hand"][0]), rel=1e-9)


def test_on_hand_se_matches_the_spread_of_the_estimate_around_the_exact_mean() -> None:
    """Over 120 seeds the error of the mean on hand against the exact ``E[(S - D_(L+1))+]`` has the
    size the SE says (root-mean-square ratio within 20 %; 10 groups of 2 replications each)."""
    lam, lead, level = 10.0, 2, 36
    d = np.arange(200)
    exact = float((np.maximum(level - d, 0) * stats.poisson.pmf(d, lam * (lead + 1))).sum())
    err, se = [], []
    for seed in range(120):
        c = simulate(Network.serial(1), Policy.base_stock([45]), DiscreteDistribution.poisson(lam), lead_times=lead,
                     seeds=seed, replications=20, periods=150, warmup=50, position_histograms=True,
                     histogram_groups=10).positions.curves(0)
        err.append(c.on_hand[level] - exact)
        se.append(c.on_hand_se[level])
    ratio = math.sqrt(np.mean(np.square(err))) / math.sqrt(np.mean(np.square(se)))
    assert 0.8 <= ratio <= 1.2, ratio
