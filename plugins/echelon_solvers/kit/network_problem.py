"""One SKU network as a problem for the Monte Carlo engine.

:class:`NetworkProblem` holds the engine network, external demand per stage, lead times
and costs of one network; :func:`network_problem` builds it from one connected component
of a batch's :class:`~platform_core.components.StageProblem`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echelon_solvers.kit.decompose import own_demand
from platform_core.components import StageProblem
from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Network

__all__ = ["NetworkProblem", "network_problem"]


@dataclass
class NetworkProblem:
    """One SKU network to optimise.

    Attributes:
        network: the stages and arcs (engine :class:`~platform_core.simulation.Network`).
        demand: external demand per stage [units/period] (``{stage: distribution}``).
        lead_time: per stage, the lead time of its inbound lane(s) [periods] (int or PMF).
        holding_cost: local holding cost per stage [currency/unit/period].
        stockout_cost: per stage, cost per unit of external demand short [currency/unit].
        service_target: per stage fill-rate target [-] (NaN: none); used by ``"target"``.
        unit_value: per stage [currency/unit], for inventory investment.
        review_period: per stage [periods] (default 1).
    """

    network: Network
    demand: dict[int, DiscreteDistribution]
    lead_time: list[int | DiscreteDistribution]
    holding_cost: np.ndarray
    stockout_cost: np.ndarray
    service_target: np.ndarray | None = None
    unit_value: np.ndarray | None = None
    review_period: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.network.n_stages
        self.holding_cost = np.broadcast_to(np.asarray(self.holding_cost, dtype=np.float64), (n,)).copy()
        self.stockout_cost = np.broadcast_to(np.asarray(self.stockout_cost, dtype=np.float64), (n,)).copy()
        tgt = np.full(n, np.nan) if self.service_target is None else self.service_target
        self.service_target = np.broadcast_to(np.asarray(tgt, dtype=np.float64), (n,)).copy()
        val = self.holding_cost if self.unit_value is None else self.unit_value
        self.unit_value = np.broadcast_to(np.asarray(val, dtype=np.float64), (n,)).copy()
        rev = np.ones(n) if self.review_period is None else self.review_period
        self.review_period = np.broadcast_to(np.asarray(rev, dtype=np.int64), (n,)).copy()
        if len(self.lead_time) != n:
            raise ValueError("lead_time needs one entry per stage")

    @property
    def demand_stages(self) -> np.ndarray:
        """Stages with external demand."""
        return np.array(sorted(self.demand), dtype=np.int64)


def network_problem(problem: StageProblem, stages: np.ndarray, objective: str) -> NetworkProblem:
    """The :class:`NetworkProblem` of one connected component of a batch."""
    local = {int(s): k for k, s in enumerate(stages)}
    arcs = []
    kids: dict[int, list[tuple[int, float]]] = {int(s): [] for s in stages}
    for s in stages:
        for u, q in zip(problem.upstream[s], problem.quantity_per[s], strict=True):
            arcs.append((local[int(u)], local[int(s)], float(q)))
            kids[int(u)].append((int(s), float(q)))
    net = Network(len(stages), tuple(arcs), stage_names=tuple(problem.keys[s] for s in stages))
    demand = {}
    for s in stages:
        d = own_demand(problem, int(s), kids[int(s)])
        if d is not None:
            demand[local[int(s)]] = d
    target = np.asarray(problem.service_target, dtype=np.float64)[stages]
    if objective == "target":
        target = np.where(np.isnan(target), problem.costs.cost_optimal_service[stages], target)
    return NetworkProblem(
        network=net,
        demand=demand,
        lead_time=[problem.lead_time[s] for s in stages],
        holding_cost=problem.costs.holding_cost[stages],
        stockout_cost=problem.costs.stockout_cost[stages],
        service_target=target,
        unit_value=problem.unit_cost[stages],
        review_period=np.asarray(problem.review_period, dtype=np.int64)[stages],
    )
