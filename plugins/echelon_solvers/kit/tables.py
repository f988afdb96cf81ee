"""Solver output tables: the ``RECOMMENDATION_SCHEMA`` policy and metric columns.

Units: levels [units], demand [units/period], lead time [periods], investment
[currency], costs [currency/period], service [-].
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from platform_core.components import StageProblem
from platform_core.simulation.single_stage import SingleStageResult

__all__ = ["policy_table", "base_stock_table"]


def policy_table(
    *,
    policy_type: list[str],
    service_metric: list[str],
    service_target: np.ndarray,
    target_source: list[str],
    level: np.ndarray,
    mean_demand: np.ndarray,
    mean_lead_time: np.ndarray,
    review_period: np.ndarray,
    fill_rate: np.ndarray,
    fill_rate_se: np.ndarray,
    cycle_service: np.ndarray,
    cycle_service_se: np.ndarray,
    on_hand: np.ndarray,
    backorders: np.ndarray,
    unit_cost: np.ndarray,
    holding_cost: np.ndarray,
    stockout_per_period: np.ndarray,
) -> pa.Table:
    """Solver output (``RECOMMENDATION_SCHEMA`` policy columns) from per-stage arrays.

    Units: levels [units], demand [units/period], lead time [periods], investment
    [currency], costs [currency/period].
    """
    n = level.size
    protection = mean_demand * (mean_lead_time + review_period)
    return pa.table({
        "policy_type": pa.array(policy_type, pa.string()),
        "service_metric": pa.array(service_metric, pa.string()),
        "service_target": pa.array(service_target, pa.float64()),
        "target_source": pa.array(target_source, pa.string()),
        "base_stock_level": pa.array(level, pa.float64()),
        "reorder_point": pa.array(level - 1.0, pa.float64()),
        "order_up_to": pa.array(level, pa.float64()),
        "safety_stock": pa.array(level - protection, pa.float64()),
        "mean_demand_per_period": pa.array(mean_demand, pa.float64()),
        "mean_lead_time_periods": pa.array(mean_lead_time, pa.float64()),
        "mean_lead_time_demand": pa.array(protection, pa.float64()),
        "expected_fill_rate": pa.array(fill_rate, pa.float64()),
        "fill_rate_se": pa.array(fill_rate_se, pa.float64()),
        "expected_cycle_service": pa.array(cycle_service, pa.float64()),
        "cycle_service_se": pa.array(cycle_service_se, pa.float64()),
        "mean_on_hand": pa.array(on_hand, pa.float64()),
        "mean_backorders": pa.array(backorders, pa.float64()),
        "inventory_investment": pa.array(on_hand * unit_cost, pa.float64()),
        "holding_cost_per_period": pa.array(on_hand * holding_cost, pa.float64()),
        "stockout_cost_per_period": pa.array(stockout_per_period if stockout_per_period.size == n else np.full(n, np.nan), pa.float64()),
    })


def base_stock_table(
    problem: StageProblem,
    res: SingleStageResult,
    *,
    service_metric: list[str],
    service_target: np.ndarray,
    target_source: list[str],
) -> pa.Table:
    """The solver output table of periodic-review base-stock levels and their metrics.

    Safety stock is the level minus mean demand over lead time + review period [units];
    investment is mean on-hand x unit cost [currency].
    """
    n = len(problem.keys)
    mean_d = np.array([d.mean() for d in problem.period_demand])
    mean_l = np.array([lt.mean() for lt in problem.lead_time])
    protection = mean_d * (mean_l + problem.review_period)
    level = res.base_stock_level
    return pa.table(
        {
            "policy_type": pa.array(["base_stock"] * n, pa.string()),
            "service_metric": pa.array(service_metric, pa.string()),
            "service_target": np.asarray(service_target, dtype=np.float64),
            "target_source": pa.array(target_source, pa.string()),
            "base_stock_level": level,
            "reorder_point": level - 1.0,
            "order_up_to": level,
            "safety_stock": level - protection,
            "mean_demand_per_period": mean_d,
            "mean_lead_time_periods": mean_l,
            "mean_lead_time_demand": protection,
            "expected_fill_rate": res.fill_rate,
            "fill_rate_se": res.fill_rate_se,
            "expected_cycle_service": res.cycle_service,
            "cycle_service_se": res.cycle_service_se,
            "mean_on_hand": res.mean_on_hand,
            "mean_backorders": res.mean_backorders,
            "inventory_investment": res.mean_on_hand * problem.unit_cost,
            "holding_cost_per_period": res.mean_on_hand * problem.costs.holding_cost,
            "stockout_cost_per_period": res.mean_short * problem.costs.stockout_cost,
        }
    )
