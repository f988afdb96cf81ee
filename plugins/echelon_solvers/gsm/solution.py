"""The result of a GSM solve and how it is built from service times."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .network import GSMNetwork

__all__ = ["GSMSolution", "make_solution"]

FloatArray = npt.NDArray[np.float64]


@dataclass
class GSMSolution:
    """An optimised guaranteed-service policy.

    Attributes:
        total_cost: annual safety-stock holding cost of the policy, evaluated exactly with the
            square root [currency/year].
        service_times: committed outbound service time ``S_j`` per stage [days].
        inbound_service_times: inbound service time ``SI_j`` per stage [days].
        net_replenishment_times: ``SI_j + T_j - S_j`` per stage [days].
        base_stock: ``mu_j NRT_j + k_j sqrt(NRT_j)`` per stage [units] (with a
            ``safety_stock_table``: ``mu_j NRT_j`` plus the table's safety stock).
        safety_stock: ``k_j sqrt(NRT_j)`` (or the table's value) per stage [units].
        stage_cost: annual holding cost of each stage's safety stock [currency/year].
        lower_bound: proven lower bound on the optimal cost [currency/year].
        gap: ``(total_cost - lower_bound) / total_cost`` [fraction]; 0 means proven optimal.
        method: the method that produced the policy (tree, milp, heuristic, ...).
        seconds: wall-clock solve time [s].
        ids: stage identifiers in the order of the arrays.
        info: method-specific details (grid step, MILP status, iterations, ...).
    """

    total_cost: float
    service_times: FloatArray
    inbound_service_times: FloatArray
    net_replenishment_times: FloatArray
    base_stock: FloatArray
    safety_stock: FloatArray
    stage_cost: FloatArray
    lower_bound: float
    gap: float
    method: str
    seconds: float
    ids: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary with one record per stage."""
        stages = [
            {
                "id": sid,
                "service_time_days": float(self.service_times[i]),
                "inbound_service_time_days": float(self.inbound_service_times[i]),
                "net_replenishment_time_days": float(self.net_replenishment_times[i]),
                "base_stock_units": float(self.base_stock[i]),
                "safety_stock_units": float(self.safety_stock[i]),
                "cost_per_year": float(self.stage_cost[i]),
            }
            for i, sid in enumerate(self.ids)
        ]
        return {
            "total_cost_per_year": self.total_cost,
            "lower_bound_per_year": self.lower_bound,
            "gap_percent": 100.0 * self.gap,
            "method": self.method,
            "seconds": self.seconds,
            "info": self.info,
            "stages": stages,
        }


def make_solution(
    network: GSMNetwork,
    service_times: FloatArray,
    holding_rate: float,
    *,
    method: str,
    seconds: float,
    lower_bound: float | None = None,
    info: dict[str, Any] | None = None,
) -> GSMSolution:
    """Evaluate service times exactly and package them as a :class:`GSMSolution`.

    Args:
        network: the network.
        service_times: committed outbound service times ``S_j`` [days].
        holding_rate: annual holding rate [1/year].
        method: name of the method.
        seconds: solve time [s].
        lower_bound: proven lower bound [currency/year]; ``None`` means the policy is optimal.
        info: extra details.

    Raises:
        ValueError: if the service times are infeasible.
    """
    s = np.asarray(service_times, dtype=np.float64)
    if not network.is_feasible(s):
        raise ValueError(f"{network.name}: {method} produced infeasible service times")
    si = network.inbound_service_times(s)
    nrt = np.maximum(si + network.stage_time - s, 0.0)
    ss = network.safety_stocks(nrt)
    if network.has_table:
        network.cost_coefficients(holding_rate)  # validates the rate
        stage_cost = holding_rate * network.value * ss
    else:
        stage_cost = network.cost_coefficients(holding_rate) * np.sqrt(nrt)
    total = float(stage_cost.sum())
    lb = total if lower_bound is None else min(float(lower_bound), total)
    gap = 0.0 if total <= 0 else max(0.0, (total - lb) / total)
    if not math.isfinite(gap):
        gap = 1.0
    return GSMSolution(
        total_cost=total,
        service_times=s,
        inbound_service_times=si,
        net_replenishment_times=nrt,
        base_stock=network.pooled_mean * nrt + ss,
        safety_stock=ss,
        stage_cost=stage_cost,
        lower_bound=lb,
        gap=gap,
        method=method,
        seconds=seconds,
        ids=list(network.ids),
        info=dict(info or {}),
    )
