"""Coupling constraints across SKUs: space per location, supplier capacity, one budget.

:mod:`platform_core.constraints.allocate` solves the allocation on the networks' frontier
points (Lagrangian relaxation, repair, fill-up); :mod:`platform_core.constraints.portfolio`
builds it from a run's recommendations and writes the chosen levels back.
See docs/optimisation.md.
"""

from platform_core.constraints.allocate import (
    Allocation,
    AllocationProblem,
    ConstraintRows,
    allocate,
    constraint_usage,
)
from platform_core.constraints.portfolio import (
    Z_P95,
    ConstraintSpec,
    CouplingInputs,
    allocation_problem,
    apply_constraints,
    coupling_inputs,
)

__all__ = [
    "Allocation",
    "AllocationProblem",
    "ConstraintRows",
    "ConstraintSpec",
    "CouplingInputs",
    "Z_P95",
    "allocate",
    "allocation_problem",
    "apply_constraints",
    "constraint_usage",
    "coupling_inputs",
]
