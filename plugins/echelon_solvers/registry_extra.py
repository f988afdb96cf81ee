"""Solvers of the stochastic-service issue, for the plugin to register.

``EXTRA_SOLVERS`` maps configuration names to solver classes:

* ``clark_scarf``: exact echelon base-stock levels of serial chains;
* ``stochastic_service``: multi-echelon simulation optimisation (any acyclic network);
* ``service_frontier``: cost-optimal / budget / portfolio-fill allocation on the
  investment-vs-service frontier;
* ``network_frontier``: internal stages fitted by simulation, customer-facing stages
  on curves measured on their whole network (target, cost, portfolio-fill or budget);
* ``blanket_abc``: the blanket-ABC baseline (98/95/90 %, normal formula).
"""

from __future__ import annotations

from echelon_solvers.baseline import BlanketABCSolver
from echelon_solvers.clark_scarf import ClarkScarfSolver
from echelon_solvers.frontier import FrontierSolver
from echelon_solvers.network_frontier import NetworkFrontierSolver
from echelon_solvers.stochastic_service import StochasticServiceSolver
from platform_core.components import Solver

__all__ = ["EXTRA_SOLVERS"]

EXTRA_SOLVERS: dict[str, type[Solver]] = {
    "clark_scarf": ClarkScarfSolver,
    "stochastic_service": StochasticServiceSolver,
    "service_frontier": FrontierSolver,
    "network_frontier": NetworkFrontierSolver,
    "blanket_abc": BlanketABCSolver,
}
