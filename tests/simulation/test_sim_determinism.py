"""Reproducibility: thread counts, batch groupings, common random numbers."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from platform_core.simulation import DiscreteDistribution, Network, Policy, simulate


def _batch() -> tuple[list[Network], list[Policy], list[object], list[object]]:
    nets = [
        Network.serial(3, name="sku-a"),
        Network.distribution(5, name="sku-b"),
        Network.assembly([1.0, 3.0], name="sku-c"),
        Network.distribution([2, 3], name="sku-d"),
    ]
    pols = [
        Policy.echelon_base_stock([30, 18, 9]),
        Policy.base_stock([25, 6, 6, 6, 6, 6]),
        Policy.s_S([100, 100, 4], [200, 200, 12]),
        Policy.r_Q([20, 8, 8, 3, 3, 3, 3, 3, 3], [10, 5, 5, 4, 4, 4, 4, 4, 4]),
    ]
    lead = DiscreteDistribution(np.array([0.5, 0.3, 0.2]), 1)
    demand = [DiscreteDistribution.poisson(4.0), DiscreteDistribution.poisson(1.5),
              DiscreteDistribution.normal(3.0, 1.0), DiscreteDistribution.poisson(0.8)]
    leads = [[2, 1, 1], lead, [1, 2, 1], lead]
    return nets, pols, demand, leads


KW = dict(seeds=42, replications=3, periods=1500, warmup=20)


def _stack(results) -> dict[str, np.ndarray]:
    return {m: np.concatenate([r.replicates[m] for r in results], axis=1)
            for m in results[0].replicates}


def test_identical_across_thread_counts() -> None:
    nets, pols, dem, leads = _batch()
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(nets, pols, dem, leads, crossing=False, **KW)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = simulate(nets, pols, dem, leads, crossing=False, **KW)
    finally:
        numba.set_num_threads(before)
    for m in one.replicates:
        np.testing.assert_array_equal(one.replicates[m], two.replicates[m])


def test_identical_across_groupings() -> None:
    nets, pols, dem, leads = _batch()
    whole = simulate(nets, pols, dem, leads, **KW)
    parts = [simulate(nets[:1], pols[:1], dem[:1], leads[:1], **KW),
             simulate(nets[1:3], pols[1:3], dem[1:3], leads[1:3], **KW),
             simulate(nets[3:], pols[3:], dem[3:], leads[3:], **KW)]
    stacked = _stack(parts)
    for m in whole.replicates:
        np.testing.assert_array_equal(whole.replicates[m], stacked[m])
    # reversed order in one call, with names the seeds follow the networks
    rev = simulate(nets[::-1], pols[::-1], dem[::-1], leads[::-1], **KW)
    np.testing.assert_array_equal(rev.for_network(3)["on_hand"], whole.for_network(0)["on_hand"])


def test_same_seed_same_demand_path_across_policies() -> None:
    """Common random numbers: external demand does not depend on the policy."""
    d = DiscreteDistribution.poisson(3.0)
    kw = dict(lead_times=[1, 1, 1], seeds=9, replications=4, periods=1000, warmup=10)
    a = simulate(Network.distribution(2), Policy.base_stock([10, 5, 5]), d, **kw)
    b = simulate(Network.distribution(2), Policy.s_S([4, 1, 1], [30, 9, 9]), d, **kw)
    np.testing.assert_array_equal(a.replicates["demand"][:, 1:], b.replicates["demand"][:, 1:])
    c = simulate(Network.distribution(2), Policy.base_stock([10, 5, 5]), d, **{**kw, "seeds": 10})
    assert not np.array_equal(a.replicates["demand"][:, 1:], c.replicates["demand"][:, 1:])


def test_replications_are_independent_streams() -> None:
    res = simulate(Network.serial(1), Policy.base_stock(5), DiscreteDistribution.poisson(3.0),
                   lead_times=1, seeds=1, replications=6, periods=1000, warmup=0)
    rows = np.column_stack([res.replicates[m][:, 0] for m in ("demand", "on_hand", "backorders")])
    assert np.unique(rows, axis=0).shape[0] == 6


def test_validation_errors() -> None:
    d = DiscreteDistribution.poisson(1.0)
    with pytest.raises(ValueError, match="cycle"):
        Network(2, ((0, 1, 1.0), (1, 0, 1.0)))
    with pytest.raises(ValueError, match="quantity_per"):
        Network(2, ((0, 1, 0.0),))
    with pytest.raises(ValueError, match="order_up_to"):
        simulate(Network.serial(1), Policy(kind="base_stock"), d)
    with pytest.raises(ValueError, match="unknown policy"):
        simulate(Network.serial(1), Policy(kind="bogus", order_up_to=3), d)
    with pytest.raises(ValueError, match="allocation"):
        simulate(Network.serial(1), Policy.base_stock(3), d, allocation="lifo")
    with pytest.raises(ValueError, match="per network"):
        simulate([Network.serial(1)] * 2, [Policy.base_stock(3)] * 3, d)
