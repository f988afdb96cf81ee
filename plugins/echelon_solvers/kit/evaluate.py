"""Simulate copies of many SKU networks in one engine call and read their per-stage metrics.

Every copy of a network uses that network's seed, so copies that differ only in their
levels share their random numbers (common random numbers); a network's numbers do not
depend on which other networks share the call.
"""

from __future__ import annotations

import numpy as np

from echelon_solvers.kit.search_network import METRICS, SearchNetwork
from platform_core.simulation import Policy, simulate

__all__ = ["run_copies"]


def run_copies(
    nets: list[SearchNetwork],
    copies: list[np.ndarray],
    *,
    replications: int,
    periods: int,
    warmup: int,
    crossing: bool = True,
) -> list[np.ndarray]:
    """Simulate ``copies[i]`` (``(K_i, n_i)`` levels) of every network in ONE engine call.

    Every copy of network ``i`` uses its seed (common random numbers).  Returns, per
    network, the ``METRICS`` of every copy and stage, shape ``(K_i, n_i, len(METRICS))``.
    """
    sim_nets, pols, dems, lts, seeds, costs = [], [], [], [], [], []
    for sn, lv in zip(nets, copies, strict=True):
        for row in lv:
            sim_nets.append(sn.network)
            pols.append(Policy.base_stock(np.maximum(row, 0.0), review_period=sn.review_period))
            dems.append(sn.demand)
            lts.append(sn.lead_time)
            seeds.append(sn.seed)
            costs.append(sn._costs)
    res = simulate(sim_nets, pols, dems, lead_times=lts, seeds=np.array(seeds, dtype=np.uint64),
                   replications=replications, periods=periods, warmup=warmup, crossing=crossing,
                   costs=costs, backorders=True)
    fill_r = np.nan_to_num(res.replicates["fill_rate"], nan=1.0)
    short = ((1.0 - fill_r) * res.replicates["demand"]).mean(axis=0)
    cols = {
        "fill_rate": np.nan_to_num(res.mean["fill_rate"], nan=1.0),
        "fill_rate_se": res.se["fill_rate"],
        "cycle_service": np.nan_to_num(res.mean["cycle_service_level"], nan=1.0),
        "cycle_service_se": res.se["cycle_service_level"],
        "on_hand": res.mean["on_hand"],
        "backorders": res.mean["backorders"],
        "short": short,
        "demand": res.mean["demand"],
        "holding_cost": res.mean["holding_cost"],
        "inventory_investment": res.mean["inventory_investment"],
    }
    flat = np.stack([cols[m] for m in METRICS], axis=1)
    out, start = [], 0
    for sn, lv in zip(nets, copies, strict=True):
        n = sn.network.n_stages
        k = lv.shape[0]
        out.append(flat[start:start + k * n].reshape(k, n, len(METRICS)))
        start += k * n
    return out
