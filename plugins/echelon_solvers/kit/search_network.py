"""A SKU network as the batched simulation search sees it, and the metrics it records.

:class:`SearchNetwork` holds one network's engine inputs, its seed (common random numbers
across all its simulated copies), its current levels and every evaluated level's
``METRICS``; :func:`search_networks` builds them for every network of a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from echelon_solvers.kit.decompose import problem_networks
from echelon_solvers.kit.network_problem import NetworkProblem, network_problem
from platform_core.components import StageProblem
from platform_core.simulation import Costs, Network

__all__ = ["METRICS", "SearchNetwork", "stage_depths", "search_networks"]


#: per-stage metrics recorded for every evaluated level
METRICS: tuple[str, ...] = (
    "fill_rate", "fill_rate_se", "cycle_service", "cycle_service_se", "on_hand", "backorders",
    "short", "demand", "holding_cost", "inventory_investment",
)


@dataclass(eq=False)
class SearchNetwork:
    """One SKU network of a batch, as the search sees it.

    Attributes:
        network: the engine network.
        demand: external demand ``{stage: distribution}`` [units/period].
        lead_time: lead time of the lane(s) into each stage [periods].
        review_period: per stage [periods].
        holding_cost: per stage [currency/unit/period].
        stockout_cost: per stage [currency/unit short] (charged on stages with external demand).
        unit_value: per stage [currency/unit].
        seed: the network's uint64 seed (common random numbers across all its copies).
        levels: current base-stock level per stage [units].
    """

    network: Network
    demand: dict[int, Any]
    lead_time: list[Any]
    review_period: np.ndarray
    holding_cost: np.ndarray
    stockout_cost: np.ndarray
    unit_value: np.ndarray
    seed: np.uint64
    levels: np.ndarray
    depth: np.ndarray = field(init=False)
    leaf: np.ndarray = field(init=False)
    records: list[dict[float, np.ndarray]] = field(init=False)

    def __post_init__(self) -> None:
        self.depth = stage_depths(self.network)
        has_child = {u for u, _, _ in self.network.arcs}
        self.leaf = np.array([j not in has_child for j in range(self.network.n_stages)])
        self.records = [{} for _ in range(self.network.n_stages)]
        self._costs = Costs(holding=self.holding_cost, unit_value=self.unit_value)
        self._demand_mask = np.zeros(self.network.n_stages, dtype=bool)
        self._demand_mask[list(self.demand)] = True

    def metrics_at_levels(self) -> np.ndarray:
        """Recorded metrics (``METRICS`` columns) of every stage at its current level."""
        out = np.full((self.network.n_stages, len(METRICS)), np.nan)
        for j, rec in enumerate(self.records):
            row = rec.get(float(self.levels[j]))
            if row is not None:
                out[j] = row
        return out

    def stage_cost(self, values: np.ndarray) -> np.ndarray:
        """Holding + stockout cost [currency/period] from ``METRICS`` rows (..., n, m)."""
        hold = values[..., METRICS.index("holding_cost")]
        short = values[..., METRICS.index("short")]
        return hold + np.where(self._demand_mask, np.nan_to_num(short) * self.stockout_cost, 0.0)


def stage_depths(net: Network) -> np.ndarray:
    """Longest supplier path from a root to each stage [arcs]."""
    depth = np.zeros(net.n_stages, dtype=np.int64)
    for j in net.topological_order:
        for u, d, _ in net.arcs:
            if d == j:
                depth[j] = max(depth[j], depth[u] + 1)
    return depth


def search_networks(problem: StageProblem, objective: str) -> tuple[list[np.ndarray], list[NetworkProblem], list[SearchNetwork]]:
    """The batch's connected components, their :class:`NetworkProblem` and search networks."""
    comps = problem_networks(problem)
    nps, sns = [], []
    for comp in comps:
        np_ = network_problem(problem, comp, objective)
        assert np_.review_period is not None and np_.unit_value is not None
        sns.append(SearchNetwork(
            network=np_.network, demand=dict(np_.demand), lead_time=list(np_.lead_time),
            review_period=np_.review_period, holding_cost=np_.holding_cost, stockout_cost=np_.stockout_cost,
            unit_value=np_.unit_value, seed=np.uint64(int(problem.seeds[comp[0]]) & 0x7FFFFFFFFFFFFFFF),
            levels=np.zeros(comp.size),
        ))
        nps.append(np_)
    return comps, nps, sns
