"""The exact perishable DP (echelon_solvers.kit.perishable_dp).

Checked against published optima: the optimal policies of De Moor, Gijsbrechts & Boute
(2022, "Reward shaping to improve the performance of deep reinforcement learning in
perishable inventory management", EJOR 301(2), Fig. 3: m = 2, L = 1, the optimal order
for each stock of age 1 and 2, LIFO and FIFO) and the optimal average profit of Hendrix
et al. (2019, "On computing optimal policies in perishable inventory control using value
iteration", Comp. and Math. Methods 1(4), e1027: Poisson(5) demand, m = 2, 2.22 per
period), both as transcribed by Farrington et al.'s viso_jax tests; the newsvendor's
closed form; and the independent Monte Carlo simulator.
"""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.kit.perishable_dp import (
    PerishableInstance,
    base_stock_orders,
    evaluate_policies,
    optimal_policy,
)
from scipy import stats

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation.perishable import PerishableCosts, simulate_perishable

# De Moor et al. (2022) Fig. 3: rows = units of age 1 (8 .. 0), columns = units of age 2 (0 .. 8)
FIG3 = {
    "lifo": [[0] * 9] * 4 + [[1] * 9, [2] * 9, [3] * 9, [3] * 9, [3] * 9],
    "fifo": [
        [1, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0, 0],
        [2, 1, 1, 0, 0, 0, 0, 0, 0],
        [2, 2, 1, 1, 0, 0, 0, 0, 0],
        [3, 2, 2, 1, 1, 1, 1, 0, 0],
        [3, 3, 2, 2, 1, 1, 1, 1, 1],
        [4, 3, 3, 3, 2, 2, 2, 2, 2],
        [4, 4, 3, 3, 3, 3, 3, 3, 3],
        [4, 4, 4, 4, 4, 4, 4, 4, 4],
    ],
}


def _de_moor_demand() -> DiscreteDistribution:
    """Gamma demand, mean 4, CV 0.5, rounded to whole units (P(D < 0.5) at 0), cut at 100."""
    shape, scale = 1 / 0.5**2, 4.0 * 0.5**2
    cdf = stats.gamma.cdf(np.concatenate([[0.0], np.arange(0.5, 101.5)]), shape, scale=scale)
    pmf = np.diff(cdf)
    pmf[-1] += 1.0 - pmf.sum()
    return DiscreteDistribution(pmf)


@pytest.mark.parametrize("issuing", ["lifo", "fifo"])
def test_reproduces_de_moor_2022_fig3(issuing: str) -> None:
    inst = PerishableInstance(_de_moor_demand(), shelf_life=2, lead_time=1, holding=1.0, shortage=5.0, waste=7.0,
                              ordering=3.0, issuing=issuing, max_order=10)
    sol = optimal_policy(inst, discount=0.99, tol=1e-4)
    # DP state (carried with 1 period of life = age 2, arriving now = age 1)
    order = {(int(s[1]), int(s[0])): int(q) for s, q in zip(sol.states, sol.order, strict=True)}
    got = [[order[(age1, age2)] for age2 in range(9)] for age1 in range(8, -1, -1)]
    assert got == FIG3[issuing]


def test_reproduces_hendrix_2019_average_profit() -> None:
    """Price 1 per unit sold, 0.5 per unit ordered, no holding or waste cost, FIFO, lost sales,
    L = 1, m = 2, orders of at most 10: optimal profit 2.22 per period (reported to 2 decimals).
    Profit = price x sold - 0.5 x ordered = 5 - (0.5 x ordered + 1 x short), the DP's cost with
    ordering 0.5 and shortage 1 (the price of a lost sale)."""
    demand = DiscreteDistribution.poisson(5.0)
    sol = optimal_policy(PerishableInstance(demand, 2, 1, holding=0.0, shortage=1.0, waste=0.0, ordering=0.5,
                                            max_order=10), tol=1e-6)
    assert round(demand.mean() - sol.gain, 2) == 2.22


def test_one_period_life_no_lead_time_is_the_newsvendor() -> None:
    """m = 1, L = 0, lost sales: every period starts empty; optimum = critical fractile p / (p + w)."""
    demand = DiscreteDistribution.poisson(4.0)
    shortage, waste = 6.0, 2.0
    sol = optimal_policy(PerishableInstance(demand, 1, 0, holding=1.0, shortage=shortage, waste=waste, max_order=15))
    k = np.arange(60)
    pk = stats.poisson.pmf(k, 4.0)
    cost = [float(np.sum(pk * (shortage * np.maximum(k - s, 0) + waste * np.maximum(s - k, 0)))) for s in range(16)]
    s_star = int(stats.poisson.ppf(shortage / (shortage + waste), 4.0))
    assert int(np.argmin(cost)) == s_star
    assert sol.gain == pytest.approx(min(cost), rel=1e-9)
    assert sol.evaluation.cost == pytest.approx(min(cost), rel=1e-9)
    assert sol.order[0] == s_star


CASES = [  # (shelf life, lead time, issuing, backorders)
    (3, 1, "fifo", False),
    (2, 0, "lifo", False),
    (2, 1, "fifo", True),
]


@pytest.mark.parametrize(("life", "lead", "issuing", "backorders"), CASES)
def test_dp_evaluation_agrees_with_the_simulator(life: int, lead: int, issuing: str, backorders: bool) -> None:
    """Base stock (plain and waste-adjusted): exact long-run cost, fill, waste = simulated, within 3.5 SE."""
    demand = DiscreteDistribution.poisson(3.0)
    inst = PerishableInstance(demand, life, lead, holding=1.0, shortage=8.0, waste=4.0, issuing=issuing,
                              backorders=backorders, max_order=12, max_backlog=12 if backorders else 0)
    level = 4 + 3 * lead
    exact = evaluate_policies(inst, [base_stock_orders(inst, level, wa) for wa in (False, True)])
    for wa, ev in zip((False, True), exact, strict=True):
        assert ev.backlog_at_cap < 1e-4
        sim = simulate_perishable([demand], [DiscreteDistribution.point(lead)], life, level, 11,
                                  policy="waste_adjusted" if wa else "base_stock", issuing=issuing,
                                  backorders=backorders, replications=16, periods=1500, warmup=50,
                                  costs=PerishableCosts(holding=1.0, shortage=8.0, waste=4.0))
        assert abs(sim.cost[0] - ev.cost) < 3.5 * sim.cost_se[0]
        assert abs(sim["outdated"][0] - ev.outdated) < 3.5 * sim.se["outdated"][0]
        assert abs(sim["on_hand"][0] - ev.on_hand) < 3.5 * sim.se["on_hand"][0]


def test_optimum_beats_every_base_stock_level() -> None:
    demand = DiscreteDistribution.poisson(3.0)
    inst = PerishableInstance(demand, 2, 1, holding=1.0, shortage=8.0, waste=4.0, issuing="fifo", max_order=12)
    sol = optimal_policy(inst)
    heuristics = evaluate_policies(inst, [base_stock_orders(inst, s, wa) for s in range(2, 12) for wa in (False, True)])
    best = min(e.cost for e in heuristics)
    assert sol.gain <= best + 1e-9
    assert sol.evaluation.cost == pytest.approx(sol.gain, rel=1e-6)
    assert best < 1.1 * sol.gain  # base stock is near-optimal here, not far off


def test_bad_instances_are_refused() -> None:
    with pytest.raises(ValueError, match="shelf_life"):
        PerishableInstance(DiscreteDistribution.poisson(1.0), 0, 1, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="issuing"):
        PerishableInstance(DiscreteDistribution.poisson(1.0), 2, 1, 1.0, 1.0, 1.0, issuing="random")
