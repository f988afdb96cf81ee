"""Multi-stage networks: Clark-Scarf (stockpyl), equivalences and theory-driven orderings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from platform_core.simulation import Costs, DiscreteDistribution, Network, Policy, simulate

REPS, PERIODS, WARMUP = 20, 8_000, 100


def _poisson_loss(mean: float, s: float) -> float:
    k = np.arange(0, int(stats.poisson.isf(1e-15, mean)) + 2)
    return float(np.sum(np.maximum(k - s, 0.0) * stats.poisson.pmf(k, mean)))


def _within(sim: float, se: float, exact: float, n_se: float = 3.0) -> None:
    assert abs(sim - exact) <= n_se * se + 1e-12, f"sim {sim} +- {se} vs exact {exact}"


@pytest.fixture
def stockpyl_serial(monkeypatch: pytest.MonkeyPatch):
    """stockpyl 1.0.2's ssm_serial, with a shim for a NumPy-2 incompatibility.

    ``helpers.find_nearest`` uses ``np.array(..., copy=False)`` and returns a 1-element
    array where a scalar index is used; the shim converts input and output only.
    """
    ss = pytest.importorskip("stockpyl.ssm_serial")
    orig = ss.find_nearest

    def find_nearest(array, values, sorted=False, index=None):  # noqa: A002
        res = orig(array, np.atleast_1d(np.asarray(values)), sorted, {} if index is None else index)
        return int(res[0]) if np.ndim(values) == 0 else res

    monkeypatch.setattr(ss, "find_nearest", find_nearest)
    return ss


def test_serial_echelon_base_stock_matches_clark_scarf(stockpyl_serial) -> None:
    """Snyder & Shen Example 6.1: 3 stages, N(5, 1) demand, echelon h = (2, 2, 3),
    lead times (2, 1, 1) upstream -> downstream, p = 37.12 (stockpyl instance example_6_1).

    Demand is the integer-discretised N(5, 1), which stockpyl evaluates exactly as a
    custom discrete distribution. Stockpyl's lead time L counts the demand periods an
    order protects (its single-stage lead-time demand is L periods): our stage-1 lead
    time 0 (start-of-period ordering, immediate delivery) protects one period. Stockpyl
    charges the h'_2 x mu units of its extra period of stage-1 pipeline; we add it.
    """
    from stockpyl.demand_source import DemandSource

    d = DiscreteDistribution.normal(5, 1)
    ds = DemandSource(type="CD", demand_list=[int(x) for x in d.support], probabilities=list(d.pmf))
    kw = dict(num_nodes=3, echelon_holding_cost=[2, 2, 3], lead_time=[2, 1, 1], stockout_cost=37.12,
              demand_source=ds)
    s_star, c_star = stockpyl_serial.optimize_base_stock_levels(**kw)
    s_int = {k: int(round(v)) for k, v in s_star.items()}
    exact = stockpyl_serial.expected_cost(s_int, **kw)
    assert 45.0 < exact < 50.0  # continuous-normal optimum is 47.67; discretisation adds variance

    net = Network.serial(3)  # stage 0 = stockpyl node 3 (upstream), stage 2 = node 1
    local_h = [2.0, 4.0, 7.0]
    res = simulate(net, Policy.echelon_base_stock([s_int[3], s_int[2], s_int[1]]), d,
                   lead_times={(-1, 0): 2, (0, 1): 1, (1, 2): 0}, seeds=2026,
                   replications=REPS, periods=PERIODS, warmup=WARMUP,
                   costs=Costs(holding=local_h, backorder=[0.0, 0.0, 37.12]))
    sim = float(res.network_cost[0]) + local_h[1] * d.mean()
    assert abs(sim - exact) / exact < 0.01, (sim, exact)
    assert res.network_cost_se[0] / exact < 0.005


def test_echelon_equals_installation_in_serial_system() -> None:
    """Serial: echelon levels S^e are installation levels S_j = S^e_j - S^e_{j+1} (pathwise)."""
    d = DiscreteDistribution.poisson(4.0)
    kw = dict(lead_times=[2, 1, 1], seeds=1, replications=4, periods=3000, warmup=50)
    ech = simulate(Network.serial(3), Policy.echelon_base_stock([30, 18, 9]), d, **kw)
    ins = simulate(Network.serial(3), Policy.base_stock([12, 9, 9]), d, **kw)
    for m in ("on_hand", "backorders", "owed_downstream", "fill_rate", "in_transit_out"):
        np.testing.assert_allclose(ech.replicates[m], ins.replicates[m], rtol=0, atol=1e-9)


def test_distribution_with_ample_warehouse_is_independent_single_stages() -> None:
    means = [2.0, 5.0, 3.0]
    net = Network.distribution(3)
    demand = [None] + [DiscreteDistribution.poisson(m) for m in means]
    levels = [10_000, 9, 17, 12]
    leads = [1, 1, 2, 2]
    res = simulate(net, Policy.base_stock(levels), demand, lead_times=leads, seeds=7,
                   replications=REPS, periods=PERIODS, warmup=WARMUP)
    for k, m in enumerate(means, start=1):
        lt = leads[k]
        eb = _poisson_loss(m * (lt + 1), levels[k])
        _within(res["backorders"][k], res.se["backorders"][k], eb)
    # the warehouse sees the sum of the retailers' orders = total demand
    _within(res["demand"][0], res.se["demand"][0], sum(means))
    assert res["fill_rate"][0] == 1.0


def test_allocation_rule_changes_retailers_not_warehouse() -> None:
    """Installation base-stock: retailer orders = demand, whatever the allocation, so
    the warehouse's own state is identical under FIFO and proportional rationing."""
    net = Network.distribution(4)
    d = [None, *[DiscreteDistribution.poisson(m) for m in (1.0, 2.0, 3.0, 6.0)]]
    pol = Policy.base_stock([22, 4, 7, 10, 18])
    kw = dict(lead_times=2, seeds=3, replications=4, periods=3000, warmup=50)
    fifo = simulate(net, pol, d, allocation="fifo", **kw)
    prop = simulate(net, pol, d, allocation="proportional", **kw)
    for m in ("on_hand", "owed_downstream", "demand"):
        np.testing.assert_allclose(fifo.replicates[m][:, 0], prop.replicates[m][:, 0], atol=1e-9)
    assert fifo["fill_rate"][0] < 0.9  # the warehouse is scarce ...
    assert np.max(np.abs(fifo["fill_rate"][1:] - prop["fill_rate"][1:])) > 0.005  # ... and rationing matters
    # conservation: what the warehouse ships arrives at the retailers (units/period)
    np.testing.assert_allclose(fifo["order_quantity"][1:].sum(), fifo["demand"][0], rtol=1e-12)


def test_assembly_with_ample_components() -> None:
    net = Network.assembly([1.0, 2.0])  # stage 2 needs 1 of stage 0 and 2 of stage 1
    mu, s = 3.0, 11
    res = simulate(net, Policy.base_stock([10_000, 10_000, s]), DiscreteDistribution.poisson(mu),
                   lead_times=[1, 1, 1], seeds=5, replications=REPS, periods=PERIODS, warmup=WARMUP)
    _within(res["backorders"][2], res.se["backorders"][2], _poisson_loss(2 * mu, s))
    # components see quantity_per x the assembly's orders (pathwise)
    np.testing.assert_allclose(res.replicates["demand"][:, 0], res.replicates["order_quantity"][:, 2])
    np.testing.assert_allclose(res.replicates["demand"][:, 1], 2 * res.replicates["order_quantity"][:, 2])


def test_scarce_component_hurts_assembly() -> None:
    net = Network.assembly([1.0, 2.0])
    d = DiscreteDistribution.poisson(3.0)
    kw = dict(lead_times=[1, 3, 1], seeds=5, replications=8, periods=4000, warmup=100)
    ample = simulate(net, Policy.base_stock([10_000, 10_000, 11]), d, **kw)
    scarce = simulate(net, Policy.base_stock([10_000, 16, 11]), d, **kw)
    assert scarce["fill_rate"][2] < ample["fill_rate"][2] - 3 * scarce.se["fill_rate"][2]
    assert scarce["fill_rate"][1] < 1.0


def test_lost_sales_dominate_backorders() -> None:
    """Same S, same demand path: lost-sales net inventory S - sales >= S - demand, so
    on-hand and fill rate are higher than with backorders."""
    kw = dict(lead_times=2, seeds=4, replications=REPS, periods=4000, warmup=WARMUP)
    pol, d = Policy.base_stock(13), DiscreteDistribution.poisson(4.0)
    back = simulate(Network.serial(1), pol, d, backorders=True, **kw)
    lost = simulate(Network.serial(1), pol, d, backorders=False, **kw)
    assert np.all(lost.replicates["on_hand"] >= back.replicates["on_hand"])
    assert lost["fill_rate"][0] > back["fill_rate"][0] + 3 * lost.se["fill_rate"][0]
    assert lost["backorders"][0] == 0.0 and back["lost_sales"][0] == 0.0
    # lost units/period = demand x (1 - fill rate), replication by replication
    r = lost.replicates
    np.testing.assert_allclose(r["lost_sales"][:, 0], r["demand"][:, 0] * (1 - r["fill_rate"][:, 0]))


def test_no_crossing_lengthens_effective_lead_times() -> None:
    """arrival_nc = max(previous arrival, t + L) >= t + L: more in transit, lower fill."""
    lead = DiscreteDistribution(np.array([0.4, 0.2, 0.1, 0.1, 0.2]), 1)
    kw = dict(lead_times=lead, seeds=6, replications=REPS, periods=4000, warmup=WARMUP)
    pol, d = Policy.base_stock(15), DiscreteDistribution.poisson(3.0)
    cross = simulate(Network.serial(1), pol, d, crossing=True, **kw)
    seq = simulate(Network.serial(1), pol, d, crossing=False, **kw)
    assert seq["in_transit_in"][0] > cross["in_transit_in"][0] + 3 * seq.se["in_transit_in"][0]
    assert seq["fill_rate"][0] < cross["fill_rate"][0] - 3 * seq.se["fill_rate"][0]
    assert seq["backorders"][0] > cross["backorders"][0]
    # deterministic lead times never cross: the flag must not matter
    a = simulate(Network.serial(2), Policy.base_stock([20, 10]), d, lead_times=2, crossing=True,
                 seeds=1, replications=2, periods=500, warmup=10)
    b = simulate(Network.serial(2), Policy.base_stock([20, 10]), d, lead_times=2, crossing=False,
                 seeds=1, replications=2, periods=500, warmup=10)
    np.testing.assert_array_equal(a.replicates["on_hand"], b.replicates["on_hand"])


def test_moq_and_order_multiple() -> None:
    """Base-stock with MOQ 10 and multiple 4 orders multiples of 4 of at least 12."""
    d = DiscreteDistribution.poisson(2.0)
    res = simulate(Network.serial(1), Policy.base_stock(10, moq=10, order_multiple=4), d,
                   lead_times=1, seeds=1, replications=4, periods=4000, warmup=50)
    mean_order = res["order_quantity"][0] / res["order_frequency"][0]
    assert mean_order >= 12.0 - 1e-9
    _within(res["order_quantity"][0], res.se["order_quantity"][0], 2.0)


def test_general_acyclic_network_conserves_units() -> None:
    """Two components each feed two assemblies (a DAG that is neither tree nor BOM tree)."""
    net = Network(4, ((0, 2, 1.0), (1, 2, 2.0), (0, 3, 3.0), (1, 3, 1.0)))
    demand = [None, None, DiscreteDistribution.poisson(2.0), DiscreteDistribution.poisson(1.0)]
    kw = dict(lead_times=[1, 2, 1, 1], seeds=8, replications=REPS, periods=4000, warmup=WARMUP)
    ample = simulate(net, Policy.base_stock([10_000, 10_000, 8, 5]), demand, **kw)
    r = ample.replicates
    np.testing.assert_allclose(r["demand"][:, 0], r["order_quantity"][:, 2] + 3 * r["order_quantity"][:, 3])
    np.testing.assert_allclose(r["demand"][:, 1], 2 * r["order_quantity"][:, 2] + r["order_quantity"][:, 3])
    _within(ample["backorders"][2], ample.se["backorders"][2], _poisson_loss(4.0, 8))
    _within(ample["backorders"][3], ample.se["backorders"][3], _poisson_loss(2.0, 5))
    scarce = simulate(net, Policy.base_stock([14, 9, 8, 5]), demand, **kw)
    assert scarce["fill_rate"][2] < ample["fill_rate"][2] and scarce["fill_rate"][3] < ample["fill_rate"][3]
    # what the components ship is what the assemblies receive: in-transit balances
    np.testing.assert_allclose(scarce["in_transit_out"][:2].sum(),
                               scarce["in_transit_in"][2:].sum() - 0.0, rtol=1e-12)
