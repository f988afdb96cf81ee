"""Monte Carlo simulation engine.

Multi-echelon networks (serial, distribution, assembly, general acyclic) under
installation/echelon base-stock, (s, S), (R, s, S) and (r, Q) policies, many SKU
networks per Numba call; see ``docs/simulation.md``.
"""

from platform_core.distributions import DiscreteDistribution

from .engine import METRICS, Costs, SimulationResult, simulate
from .network import POLICY_KINDS, Network, Policy

__all__ = [
    "DiscreteDistribution",
    "Network",
    "Policy",
    "POLICY_KINDS",
    "Costs",
    "METRICS",
    "SimulationResult",
    "simulate",
]
