"""Coupling constraints across SKUs: space per location, supplier capacity, one budget.

:mod:`platform_core.constraints.allocate` solves the allocation on the networks' frontier
points (Lagrangian relaxation, repair, fill-up); :mod:`platform_core.constraints.portfolio`
builds it from a run's recommendations and writes the chosen levels back;
:mod:`platform_core.constraints.fresh` asks the solver for on hand measured on fresh paths
when the limits count it.  See docs/optimisation.md.
"""

from platform_core.constraints.allocate import (
    Allocation,
    AllocationProblem,
    ConstraintRows,
    allocate,
    constraint_usage,
)
from platform_core.constraints.fresh import counts_on_hand_estimates, with_fresh_estimates
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
    "counts_on_hand_estimates",
    "coupling_inputs",
    "with_fresh_estimates",
]
