"""Monte Carlo simulation engine.

Multi-echelon networks (serial, distribution, assembly, general acyclic) under
installation/echelon base-stock, (s, S), (R, s, S) and (r, Q) policies, stationary or
per-period (seasonal) demand, correlated demand across stages (empirical copula), many SKU
networks per Numba call; see ``docs/simulation.md``.
"""

from platform_core.distributions import DiscreteDistribution

from .engine import METRICS, Costs, DemandSchedule, SimulationResult, simulate
from .joint_demand import InsufficientHistoryError, JointDemand, JointDemandSummary
from .network import POLICY_KINDS, Network, Policy
from .positions import PositionCurves, PositionHistograms

__all__ = [
    "DiscreteDistribution",
    "DemandSchedule",
    "JointDemand",
    "JointDemandSummary",
    "InsufficientHistoryError",
    "Network",
    "Policy",
    "POLICY_KINDS",
    "Costs",
    "METRICS",
    "SimulationResult",
    "PositionHistograms",
    "PositionCurves",
    "simulate",
]
