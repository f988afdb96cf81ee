"""The solvers' shared kit: building blocks that more than one solver uses.

One job per module (units in every docstring):

| module | what it does | used by |
|---|---|---|
| :mod:`~echelon_solvers.kit.decompose` | a batch's ``StageProblem`` cut into SKU networks; a stage's own external demand | ``clark_scarf``, ``stochastic_service``, ``network_frontier``, ``guaranteed_service`` |
| :mod:`~echelon_solvers.kit.network_problem` | one network as an engine problem (``NetworkProblem``) | ``stochastic_service``, ``network_frontier``, ``guaranteed_service`` |
| :mod:`~echelon_solvers.kit.search_network` | a network as the batched search sees it (``SearchNetwork``, ``METRICS``) | same |
| :mod:`~echelon_solvers.kit.evaluate` | many networks' copies in one engine call (``run_copies``) | same |
| :mod:`~echelon_solvers.kit.search` | depth-by-depth batched level search (``fit_depthwise``) | ``stochastic_service``, ``network_frontier`` |
| :mod:`~echelon_solvers.kit.lead_time_demand` | mean and sd of demand over lead time + review | ``stochastic_service``, ``network_frontier`` |
| :mod:`~echelon_solvers.kit.service` | cost-optimal service fractiles (critical ratios) | ``stochastic_service``, ``network_frontier`` |
| :mod:`~echelon_solvers.kit.curves` | exact investment-vs-service curve of a base-stock stage | ``service_frontier``, ``network_frontier`` |
| :mod:`~echelon_solvers.kit.allocation` | portfolio frontier, budget and fill-target allocation | ``service_frontier``, ``network_frontier`` |
| :mod:`~echelon_solvers.kit.tables` | the solver output table (policy and metric columns) | every solver |
| :mod:`~echelon_solvers.kit.perishable_dp` | exact DP of small perishable instances (optimal policy, exact policy evaluation) | ``perishable``'s tests and benchmark |
| :mod:`~echelon_solvers.kit.lot_sizing` | exact single-stage (s, S) and (r, nQ): Zheng-Federgruen, exhaustive constrained search | ``lot_sizing`` |
| :mod:`~echelon_solvers.kit.lost_sales_dp` | exact lost-sales optimum and policy costs (Markov chain) | ``learned_policy`` |
| :mod:`~echelon_solvers.kit.crn` | common random numbers: one uniform per (seed, stream, period, slot), counter-based | the learned-policy simulators |
| :mod:`~echelon_solvers.kit.lost_sales_api` | lost-sales policy learned by simulation (approximate policy iteration) | ``learned_policy`` |

The kit imports the core (``platform_core``) and nothing from the solver modules, so a
solver can take any piece without pulling in another solver.
"""

from echelon_solvers.kit.allocation import (
    Allocation,
    Frontier,
    allocate_budget,
    allocate_fill_target,
    portfolio_frontier,
)
from echelon_solvers.kit.capacity_learned import (
    BaseStockSearch,
    CapacityInstance,
    LearnedCapacityPolicy,
    PolicyParameters,
    capacity_step_period,
    paired_costs,
    search_base_stock,
    search_capped_base_stock,
    simulate_capacity_costs,
    train_capacity_policy,
)
from echelon_solvers.kit.crn import crn_key, crn_uniform
from echelon_solvers.kit.curves import StageCurve, cost_optimal_levels, stage_curve
from echelon_solvers.kit.decompose import own_demand, problem_networks
from echelon_solvers.kit.evaluate import run_copies
from echelon_solvers.kit.lead_time_demand import lead_time_demand_moments, lead_time_demand_sd
from echelon_solvers.kit.lost_sales_api import (
    LearnedLostSalesPolicy,
    PairedComparison,
    paired_cost_difference,
    simulate_policy_costs,
    train_policy,
)
from echelon_solvers.kit.lost_sales_dp import (
    CappedBaseStock,
    LostSalesInstance,
    LostSalesSolution,
    StateGrid,
    backorder_base_stock_bound,
    best_base_stock,
    best_capped_base_stock,
    capped_base_stock_orders,
    evaluate_lost_sales_policy,
    solve_optimal,
    state_grid,
)
from echelon_solvers.kit.lot_sizing import (
    LotSizingProblem,
    LotSizingResult,
    PolicyMetrics,
    best_r_Q,
    best_s_S,
    lot_sizing_problem,
    optimal_lot_policy,
    order_size_distribution,
    r_Q_cost,
    r_Q_metrics,
    renewal_mass,
    s_S_cost,
    s_S_metrics,
    zheng_federgruen,
)
from echelon_solvers.kit.network_problem import NetworkProblem, network_problem
from echelon_solvers.kit.perishable_dp import (
    DPSolution,
    PerishableInstance,
    PolicyEvaluation,
    base_stock_orders,
    evaluate_policies,
    evaluate_policy,
    optimal_policy,
)
from echelon_solvers.kit.perishable_learned import (
    HeuristicSearch,
    LearnedPerishablePolicy,
    perishable_base_stock_table,
    perishable_states,
    perishable_step_period,
    s_S_table,
    search_heuristics,
    simulate_perishable_costs,
    train_perishable_policy,
    waste_adjusted_table,
)
from echelon_solvers.kit.search import fit_depthwise, moment_start
from echelon_solvers.kit.search_network import METRICS, SearchNetwork, search_networks, stage_depths
from echelon_solvers.kit.service import critical_ratio, multi_echelon_critical_ratio
from echelon_solvers.kit.tables import base_stock_table, policy_table

__all__ = [
    "LostSalesSolution",
    "evaluate_lost_sales_policy",
    "CappedBaseStock",
    "DPSolution",
    "LearnedLostSalesPolicy",
    "LostSalesInstance",
    "PairedComparison",
    "StateGrid",
    "backorder_base_stock_bound",
    "best_base_stock",
    "best_capped_base_stock",
    "capped_base_stock_orders",
    "evaluate_policy",
    "paired_cost_difference",
    "simulate_policy_costs",
    "solve_optimal",
    "state_grid",
    "train_policy",
    "Allocation",
    "PerishableInstance",
    "PolicyEvaluation",
    "base_stock_orders",
    "evaluate_policies",
    "optimal_policy",
    "optimal_lot_policy",
    "Frontier",
    "LotSizingProblem",
    "LotSizingResult",
    "METRICS",
    "NetworkProblem",
    "PolicyMetrics",
    "SearchNetwork",
    "StageCurve",
    "allocate_budget",
    "allocate_fill_target",
    "base_stock_table",
    "best_r_Q",
    "best_s_S",
    "cost_optimal_levels",
    "crn_key",
    "crn_uniform",
    "critical_ratio",
    "fit_depthwise",
    "lead_time_demand_moments",
    "lead_time_demand_sd",
    "lot_sizing_problem",
    "moment_start",
    "multi_echelon_critical_ratio",
    "network_problem",
    "order_size_distribution",
    "own_demand",
    "policy_table",
    "portfolio_frontier",
    "problem_networks",
    "r_Q_cost",
    "r_Q_metrics",
    "renewal_mass",
    "run_copies",
    "s_S_cost",
    "s_S_metrics",
    "search_networks",
    "stage_curve",
    "stage_depths",
    "zheng_federgruen",
    "BaseStockSearch",
    "CapacityInstance",
    "LearnedCapacityPolicy",
    "PolicyParameters",
    "capacity_step_period",
    "paired_costs",
    "search_base_stock",
    "search_capped_base_stock",
    "simulate_capacity_costs",
    "train_capacity_policy",
    "HeuristicSearch",
    "LearnedPerishablePolicy",
    "perishable_base_stock_table",
    "perishable_states",
    "perishable_step_period",
    "s_S_table",
    "search_heuristics",
    "simulate_perishable_costs",
    "train_perishable_policy",
    "waste_adjusted_table",
]
