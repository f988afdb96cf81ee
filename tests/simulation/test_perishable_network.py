"""The one-DC, N-store perishable simulator (platform_core.simulation.perishable_network).

With an infinite shelf life it is the engine's distribution network: the same events and
the same random numbers (store i's demand stream is the engine's stream of stage i), so
the same numbers; with a finite one, units are conserved and age from the DC's receipt.
"""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Network, Policy, simulate
from platform_core.simulation.perishable_network import simulate_perishable_network

DEMAND = [DiscreteDistribution.poisson(3.0), DiscreteDistribution.poisson(5.0), DiscreteDistribution.poisson(1.5)]
RUN = dict(replications=6, periods=600, warmup=60)


@pytest.mark.parametrize("backorders", [True, False])
@pytest.mark.parametrize(("dc_lead", "store_lead"), [(2, [1, 1, 3]), (0, [0, 2, 1])])
def test_infinite_shelf_life_is_the_engines_distribution_network(backorders: bool, dc_lead: int,
                                                                 store_lead: list[int]) -> None:
    levels = [16, 8, 12, 6]
    eng = simulate(Network.distribution(3), Policy.base_stock(levels), [None, *DEMAND],
                   lead_times=[dc_lead, *store_lead], seeds=np.array([5], dtype=np.uint64), backorders=backorders,
                   **RUN)
    per = simulate_perishable_network(DEMAND, dc_lead, store_lead, np.inf, levels[0], levels[1:], 5,
                                      backorders=backorders, **RUN)
    for metric in ("fill_rate", "on_hand", "lost_sales", "order_quantity"):
        np.testing.assert_allclose(per.replicates[metric], eng.replicates[metric], rtol=1e-12, atol=1e-12,
                                   err_msg=metric)
    np.testing.assert_allclose(per.replicates["backorders"][:, 1:], eng.replicates["backorders"][:, 1:], atol=1e-12)
    np.testing.assert_allclose(per.replicates["backorders"][:, 0], eng.replicates["owed_downstream"][:, 0],
                               atol=1e-12)
    assert np.all(per["outdated"] == 0.0)


def test_units_are_conserved_and_age_from_the_dc() -> None:
    """Lost sales: the DC buys what the stores sell plus what outdates anywhere (long run)."""
    run = dict(replications=10, periods=3000, warmup=100)
    res = simulate_perishable_network(DEMAND, 1, [1, 1, 2], 3, 14, [9, 13, 6], 9, **run)
    sold = res["demand"][1:] - res["lost_sales"][1:]
    assert res["outdated"][1:].sum() > 0.1
    assert abs(res["order_quantity"][0] - sold.sum() - res["outdated"].sum()) < 0.02
    # a larger DC level holds stock longer at the DC: older units reach the stores, more of them outdate
    more = simulate_perishable_network(DEMAND, 1, [1, 1, 2], 3, 24, [9, 13, 6], 9, **run)
    assert more["outdated"].sum() > res["outdated"].sum() + 5 * (more.se["outdated"].sum() + res.se["outdated"].sum())


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="shelf_life"):
        simulate_perishable_network(DEMAND, 1, [1, 1, 1], 2.5, 10, [5, 5, 5], 0)
    with pytest.raises(ValueError, match="one entry per store"):
        simulate_perishable_network(DEMAND, 1, [1, 1], 2, 10, [5, 5, 5], 0)
