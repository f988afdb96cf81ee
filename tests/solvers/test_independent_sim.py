"""The independent simulator (tests/solvers/independent_sim.py) against exact results.

Before it judges a solver, the helper is checked against what is known exactly:

* one stage, Poisson demand, fixed and random (crossing) lead times: fill rate, on hand
  and backorders against exact distributions under ``docs/simulation.md``'s timing;
* a serial line against Clark-Scarf's exact cost (``evaluate_serial``) at the optimum
  and away from it;
* the engine on the very same demand path (one replication; demand given to the engine
  as a schedule of point masses): a distribution tree with a scarce DC (FIFO rationing),
  a 3-stage line and an assembly give the same numbers, so the two share the event order;
* whole kits at an assembly, and clear errors for bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.clark_scarf import echelon_holding_costs, evaluate_serial, solve_serial
from scipy import stats

from platform_core.components import compound
from platform_core.distributions import DiscreteDistribution
from tests.solvers.independent_sim import BaseStockNetwork, simulate_base_stock


def _poisson_pmf(mean: float, size: int) -> np.ndarray:
    return stats.poisson.pmf(np.arange(size), mean)


def _outstanding_pmfs(lam: float, lead_pmf: dict[int, float], size: int) -> tuple[np.ndarray, np.ndarray]:
    """PMFs of ``X`` and ``Y`` [units] of one stage with Poisson(lam) demand.

    At the end of a period the stage owes ``X`` = this period's demand + every earlier
    order not yet received.  The order placed in period ``t - a`` is the demand of
    period ``t - a - 1`` and travels ``L`` (i.i.d., orders may cross), so it is still
    out with probability ``P(L > a)``: ``X = D_t + sum_a B_a D_(t-a-1)``, ``B_a``
    Bernoulli(P(L > a)) - a mixture per order, not a Poisson thinning (an order's
    units travel together).  ``Y = X - D_t`` is what is owed before the period's demand.
    """
    pois = _poisson_pmf(lam, size)
    y = np.zeros(size)
    y[0] = 1.0
    for a in range(max(lead_pmf) + 1):
        p_out = sum(w for lt, w in lead_pmf.items() if lt > a)
        term = (1.0 - p_out) * np.eye(1, size)[0] + p_out * pois
        y = np.convolve(y, term)[:size]
    return np.convolve(y, pois)[:size], y


def _single_stage_exact(lam: float, lead_pmf: dict[int, float], level: int) -> tuple[float, float, float]:
    """Fill rate [-], on hand and backorders [units] under base-stock ``level``.

    Short in a period: ``E(X - S)+ - E(Y - S)+``; on hand ``E(S - X)+``; backorders
    ``E(X - S)+`` (``docs/simulation.md``, position histograms).
    """
    px, py = _outstanding_pmfs(lam, lead_pmf, 400)
    k = np.arange(px.size)
    loss_x, loss_y = np.dot(np.maximum(k - level, 0), px), np.dot(np.maximum(k - level, 0), py)
    return 1.0 - (loss_x - loss_y) / lam, float(np.dot(np.maximum(level - k, 0), px)), float(loss_x)


@pytest.mark.parametrize("lead", ["fixed", "random"])
def test_single_stage_poisson_matches_exact_formulas(lead):
    lam, reps, periods, warmup = 5.0, 16, 3000, 60
    rng = np.random.default_rng(2026)
    demand = rng.poisson(lam, (reps, periods, 1))
    levels = np.arange(8, 26)[:, None]
    if lead == "fixed":
        net, paths, lead_pmf = BaseStockNetwork.serial([2]), None, {2: 1.0}
    else:
        lead_pmf = {1: 0.5, 2: 0.3, 3: 0.2}  # orders cross
        net = BaseStockNetwork.serial([1])
        paths = {(-1, 0): rng.choice([1, 2, 3], size=(reps, periods), p=list(lead_pmf.values()))}
    res = simulate_base_stock(net, levels, demand, warmup=warmup, lead_time_paths=paths)
    exact = np.array([_single_stage_exact(lam, lead_pmf, int(s)) for s in levels[:, 0]])
    assert np.all(res.fill_rate_se[:, 0] < 0.003) and np.all(res.on_hand_se[:, 0] < 0.04)  # a sharp check
    assert np.all(np.abs(res.fill_rate[:, 0] - exact[:, 0]) <= 4 * res.fill_rate_se[:, 0])
    assert np.all(np.abs(res.on_hand[:, 0] - exact[:, 1]) <= 4 * res.on_hand_se[:, 0])
    assert np.all(np.abs(res.backorders[:, 0] - exact[:, 2]) <= 4 * res.backorders_se[:, 0])
    # monotone in the level on common paths (pathwise property of base-stock)
    assert np.all(np.diff(res.on_hand[:, 0]) > 0) and np.all(np.diff(res.fill_rate[:, 0]) >= 0)


def test_serial_line_matches_clark_scarf_exact_cost():
    """Two stages, Poisson(4) at the end, lead times 2 and 1, local holding 1 and 3, p = 12.

    Clark-Scarf's recursion (as ``ClarkScarfSolver`` sets it up for this timing: the
    customer stage's lead-time demand spans L + 1 periods, the upstream stage's L)
    measures the upstream echelon's stock before the period's demand; the simulator
    measures every stage at the end of the period, one period's demand later.  Holding
    is linear, so the two differ by exactly ``h_echelon_0 * E[D]`` = 1 x 4 at every
    level; backorders are measured alike.
    """
    lam, lead, local_h, p = 4.0, [2, 1], np.array([1.0, 3.0]), 12.0
    d = DiscreteDistribution.poisson(lam)
    ltd = [compound(d, DiscreteDistribution.point(lead[0]), 0), compound(d, DiscreteDistribution.point(lead[1]), 1)]
    h_ech = echelon_holding_costs(local_h)
    opt = solve_serial(h_ech, p, ltd)
    offset = float(h_ech[0]) * lam
    rng = np.random.default_rng(7)
    reps, periods = 24, 4000
    demand = np.zeros((reps, periods, 2), dtype=np.int64)
    demand[:, :, 1] = rng.poisson(lam, (reps, periods))
    echelon = opt.echelon_base_stock[None, :] + np.array([[0, 0], [2, 0], [-3, 1], [3, -2], [0, 2]])
    local = np.stack([echelon[:, 0] - echelon[:, 1], echelon[:, 1]], axis=1)
    res = simulate_base_stock(BaseStockNetwork.serial(lead), local, demand, warmup=50)
    cost, se = res.echelon_cost(local_h, [0.0, p])
    exact = np.array([evaluate_serial(e, h_ech, p, ltd) for e in echelon])
    assert np.all(se < 0.006 * exact)  # a sharp check: SE < 0.6 %
    assert np.all(np.abs(cost + offset - exact) <= 4 * se), (cost + offset, exact, se)
    assert exact[0] == pytest.approx(opt.expected_cost) and np.all(exact[1:] > exact[0])


def _engine_on_path(network, arcs_lead, levels, path, warmup, demand_stages):
    """The engine on one replication whose demand is exactly ``path`` [periods, stages]."""
    from platform_core.simulation import DemandSchedule, Policy, simulate

    point = {k: DiscreteDistribution.point(int(k)) for k in np.unique(path)}
    demand = {j: DemandSchedule([point[int(x)] for x in path[:, j]]) for j in demand_stages}
    return simulate(network, Policy.base_stock(levels), demand, lead_times=arcs_lead, seeds=1,
                    replications=1, periods=path.shape[0] - warmup, warmup=warmup)


@pytest.mark.parametrize("case", ["scarce_dc_fifo", "serial_3", "assembly", "assembly_odd_kits"])
def test_same_numbers_as_the_engine_on_the_same_path(case):
    """The same demand path through both simulators: the same fill, on hand, backorders."""
    from platform_core.simulation import Network

    rng = np.random.default_rng(11)
    periods, warmup = 400, 20
    if case == "scarce_dc_fifo":  # the DC is short most periods: FIFO rationing decides
        net = BaseStockNetwork.distribution(2, [1, 2, 1])
        engine_net, lead = Network.distribution(3), {(-1, 0): 2, (0, 1): 1, (0, 2): 2, (0, 3): 1}
        levels, stages = [6, 7, 9, 5], [1, 2, 3]
        means = [0, 2.0, 3.0, 1.5]
    elif case == "serial_3":
        net = BaseStockNetwork.serial([2, 1, 1])
        engine_net, lead = Network.serial(3), {(-1, 0): 2, (0, 1): 1, (1, 2): 1}
        levels, stages, means = [5, 4, 6], [2], [0, 0, 3.0]
    elif case == "assembly":  # two components, quantity per 1
        net = BaseStockNetwork.assembly([1, 3], [1, 0], [1, 1])
        engine_net, lead = Network.assembly([1.0, 1.0]), {(-1, 0): 1, (-1, 1): 3, (0, 2): 1, (1, 2): 0}
        levels, stages, means = [3, 6, 4], [2], [0, 0, 2.5]
    else:  # quantity per (1, 2) and an odd level of the second component: short shipments
        # leave single units of it at the assembly, which build nothing (whole kits only;
        # the engine built half kits of them until #14's assembly check)
        net = BaseStockNetwork.assembly([1, 1], [1, 1], [1, 2])
        engine_net, lead = Network.assembly([1.0, 2.0]), {(-1, 0): 1, (-1, 1): 1, (0, 2): 1, (1, 2): 1}
        levels, stages, means = [6, 5, 8], [2], [0, 0, 2.5]
    path = np.zeros((periods, len(levels)), dtype=np.int64)
    for j in stages:
        path[:, j] = rng.poisson(means[j], periods)
    ours = simulate_base_stock(net, levels, path[None], warmup=warmup)
    eng = _engine_on_path(engine_net, lead, levels, path, warmup, stages)
    np.testing.assert_allclose(ours.on_hand[0], eng.mean["on_hand"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.backorders[0], eng.mean["backorders"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.owed_reps[0, 0], eng.mean["owed_downstream"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.fill_rate[0, stages], eng.mean["fill_rate"][stages], rtol=0, atol=1e-12)
    if case == "scarce_dc_fifo":
        assert ours.owed_reps[0, 0, 0] > 1.0 and ours.fill_rate[0, 1:].min() < 0.9  # rationing is exercised
    if case == "assembly_odd_kits":  # single units of component 1 do wait for their pair
        lane = [k for k, ln in enumerate(ours.lanes) if (ln.supplier, ln.customer) == (1, 2)]
        assert ours.components_reps[0, 0, lane[0]] > 0.05


def test_assembly_builds_whole_kits_only():
    """Quantity per (1, 2): one unit of component 1 stays waiting until two of component 2 arrive."""
    net = BaseStockNetwork.assembly([1, 1], [1, 1], [1, 2])
    demand = np.zeros((1, 6, 3), dtype=np.int64)
    demand[0, 0, 2] = 1  # one unit sold in period 0
    # Period 1 the assembly orders 1 kit: component 1 ships 1, component 2 (one unit on
    # hand) ships 1 of the 2 owed and the second in period 2.  At the end of period 2 one
    # unit of each component waits at the assembly (half a kit of component 2: no kit);
    # period 3 the second unit arrives and the kit is built.
    res = simulate_base_stock(net, [[5, 1, 1]], demand, warmup=0)
    assert res.components_reps[0, 0].tolist() == [0, 0, pytest.approx(1 / 6), pytest.approx(1 / 6)]
    assert res.on_hand_reps[0, 0, 2] == pytest.approx(3 / 6)  # finished unit from period 3 on
    inv, _ = res.investment([1.0, 10.0, 100.0])  # waiting parts valued at their supplier's value
    assert inv[0] == pytest.approx(res.on_hand[0] @ [1.0, 10.0, 100.0] + 1 / 6 * 1.0 + 1 / 6 * 10.0)


def test_bad_input_is_refused_with_what_was_expected():
    net = BaseStockNetwork.serial([1, 1])
    ok = np.zeros((2, 10, 2), dtype=np.int64)
    with pytest.raises(ValueError, match=r"levels must be \[policies, 2 stages\]"):
        simulate_base_stock(net, [[1, 2, 3]], ok, warmup=1)
    with pytest.raises(ValueError, match="integers >= 0"):
        simulate_base_stock(net, [1.5, 2], ok, warmup=1)
    with pytest.raises(ValueError, match="non-negative integers"):
        simulate_base_stock(net, [1, 2], ok - 1, warmup=1)
    with pytest.raises(ValueError, match=r"demand must be \[replications, periods, 2 stages\]"):
        simulate_base_stock(net, [1, 2], ok[0], warmup=1)
    with pytest.raises(ValueError, match="warmup"):
        simulate_base_stock(net, [1, 2], ok, warmup=10)
    with pytest.raises(ValueError, match="no lane"):
        simulate_base_stock(net, [1, 2], ok, warmup=1, lead_time_paths={(1, 0): np.ones((2, 10), dtype=np.int64)})
    with pytest.raises(ValueError, match="numbered before it"):
        BaseStockNetwork(((1,), ()), ((1,), (1,)), ((1,), ()))
    with pytest.raises(ValueError, match="quantity_per must be integers"):
        BaseStockNetwork.assembly([1, 1], [1, 1], [1, 0])
