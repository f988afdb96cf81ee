"""A planner's overrides: pinned levels and min/max corridors per SKU-location.

The ``overrides`` table of a dataset (``docs/data.md``) becomes two per-stage arrays,
``level_min`` and ``level_max`` [units] (NaN where free; a pin sets both), which reach the
solvers on :class:`~platform_core.components.StageProblem`. A solver that declares
``honours_overrides`` keeps every level inside them and re-optimises the rest of the
network around them.

What an override costs is measured per network: the batch solves the networks that have
an override a second time without them (the same stages, distributions and seeds, so on
common random numbers) and :func:`override_columns` compares the two solutions.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.components import StageProblem
from platform_core.data.columns import float_column
from platform_core.data.schemas import Dataset
from platform_core.data.stage_index import StageIndex
from platform_core.networks import network_labels

if TYPE_CHECKING:  # plan imports this module
    from platform_core.plan import SharedInputs

__all__ = [
    "override_bounds",
    "describe_override",
    "has_overrides",
    "without_overrides",
    "subproblem",
    "override_columns",
    "override_summary",
    "OVERRIDE_COLUMNS",
]

#: The recommendation columns this module fills (see ``RECOMMENDATION_SCHEMA``).
OVERRIDE_COLUMNS = (
    "override", "override_level_change", "override_cost_per_period", "override_investment_change",
    "override_service_change",
)


def override_bounds(dataset: Dataset, index: StageIndex) -> tuple[np.ndarray, np.ndarray] | None:
    """``(level_min, level_max)`` per stage in input order [units], NaN where free.

    None when the dataset has no ``overrides`` table (or an empty one). The table was
    validated: each row names a stage once and holds a pin or a corridor.
    """
    table = dataset.get("overrides")
    if table is None or table.num_rows == 0:
        return None
    rows = index.lookup(table)
    pinned = float_column(table, "pinned_level", np.nan)
    lo = np.where(np.isnan(pinned), float_column(table, "min_level", np.nan), pinned)
    hi = np.where(np.isnan(pinned), float_column(table, "max_level", np.nan), pinned)
    level_min = np.full(index.n_stages, np.nan)
    level_max = np.full(index.n_stages, np.nan)
    level_min[rows] = lo
    level_max[rows] = hi
    return level_min, level_max


def describe_override(level_min: float, level_max: float) -> str:
    """``"pinned at 40"``, ``"min 30"``, ``"max 50"``, ``"min 30, max 50"`` or ``""``."""
    lo, hi = float(level_min), float(level_max)
    if np.isnan(lo) and np.isnan(hi):
        return ""
    if lo == hi:
        return f"pinned at {lo:g}"
    return ", ".join(f"{name} {v:g}" for name, v in (("min", lo), ("max", hi)) if not np.isnan(v))


def has_overrides(problem: StageProblem) -> np.ndarray:
    """Per stage of ``problem``: whether it has an override (a bound on its level)."""
    n = len(problem.keys)
    out = np.zeros(n, dtype=bool)
    for bound in (problem.level_min, problem.level_max):
        if bound is not None:
            out |= ~np.isnan(np.asarray(bound, dtype=np.float64))
    return out


def without_overrides(problem: StageProblem) -> StageProblem:
    """The same problem with every level free."""
    return dataclasses.replace(problem, level_min=None, level_max=None)


def subproblem(problem: StageProblem, rows: np.ndarray) -> StageProblem:
    """The stages ``rows`` of ``problem`` (whole networks) as a problem of their own.

    Distributions, costs and seeds are the same objects and values, so a solver that
    derives everything from the per-stage seeds gives those stages the same paths.
    """
    rows = np.asarray(rows, dtype=np.int64)
    position = np.full(len(problem.keys), -1, dtype=np.int64)
    position[rows] = np.arange(rows.size)
    if any(np.any(position[problem.upstream[int(r)]] < 0) for r in rows):
        raise ValueError("subproblem rows must hold whole networks (an upstream stage is missing)")

    def pick(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.asarray(a)[rows]

    costs = problem.costs
    return dataclasses.replace(
        problem,
        keys=[problem.keys[int(r)] for r in rows],
        period_demand=[problem.period_demand[int(r)] for r in rows],
        lead_time=[problem.lead_time[int(r)] for r in rows],
        review_period=np.asarray(problem.review_period)[rows],
        unit_cost=np.asarray(problem.unit_cost)[rows],
        costs=dataclasses.replace(
            costs, holding_cost=np.asarray(costs.holding_cost)[rows],
            stockout_cost=np.asarray(costs.stockout_cost)[rows],
            ordering_cost=np.asarray(costs.ordering_cost)[rows],
            cost_optimal_service=np.asarray(costs.cost_optimal_service)[rows],
        ),
        service_target=np.asarray(problem.service_target)[rows],
        upstream=[position[problem.upstream[int(r)]] for r in rows],
        quantity_per=[problem.quantity_per[int(r)] for r in rows],
        seeds=np.asarray(problem.seeds)[rows],
        abc_class=pick(problem.abc_class),
        external_demand=pick(problem.external_demand),
        demand_history=pick(problem.demand_history),
        level_min=pick(problem.level_min),
        level_max=pick(problem.level_max),
    )


def overridden_networks(problem: StageProblem) -> np.ndarray:
    """Indices of the stages of ``problem`` whose network has an override (ascending)."""
    labels = network_labels(problem.upstream)
    hit = np.unique(labels[has_overrides(problem)])
    return np.flatnonzero(np.isin(labels, hit))


def _numbers(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def override_columns(problem: StageProblem, with_overrides: pa.Table, rows: np.ndarray,
                     without: pa.Table | None) -> dict[str, pa.Array]:
    """The ``override*`` columns of every stage of ``problem``.

    Args:
        problem: the batch's problem (with its overrides).
        with_overrides: the solver's table for ``problem`` (one row per stage).
        rows: stages of ``problem`` whose networks have an override (whole networks).
        without: the solver's table for ``subproblem(without_overrides(problem), rows)``
            (None when ``rows`` is empty).

    Returns:
        Per stage: its override text; its level change [units]; and per network (the same
        on each of its rows) the change of its cost [currency/period] (holding cost, plus
        the stockout cost of the stages whose service is cost-optimal: a stage held to a
        service target has its stockouts bounded by the target, not priced), of
        inventory investment (mean on hand x unit cost) [currency] and of the demand-
        weighted fill rate of its customer-facing stages [-] (NaN without any), all as
        "with the overrides minus without", null for networks without an override.
    """
    n = len(problem.keys)
    rows = np.asarray(rows, dtype=np.int64)
    nan = np.full(n, np.nan)
    lo = nan if problem.level_min is None else np.asarray(problem.level_min, dtype=np.float64)
    hi = nan if problem.level_max is None else np.asarray(problem.level_max, dtype=np.float64)
    text: list[str | None] = [None] * n
    level_change, cost, invest, service = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    if rows.size and without is not None:
        sub = subproblem(problem, rows)
        labels = network_labels(sub.upstream)
        leaf = np.ones(rows.size, dtype=bool)
        for ups in sub.upstream:
            leaf[np.asarray(ups, dtype=np.int64)] = False
        external = (np.ones(rows.size, dtype=bool) if sub.external_demand is None
                    else np.asarray(sub.external_demand, dtype=bool))
        facing = leaf & external

        def stage_cost(t: pa.Table, idx: np.ndarray | slice) -> np.ndarray:
            # a stage held to a service target has its stockouts bounded, not priced: its
            # holding cost; a cost-optimal stage (service_metric "cost"): holding + stockout
            priced = np.asarray(pc.equal(t.column("service_metric"), "cost").fill_null(False)
                                .to_numpy(zero_copy_only=False), dtype=bool)[idx]
            holding = np.nan_to_num(_numbers(t, "holding_cost_per_period")[idx])
            stockout = np.where(priced, np.nan_to_num(_numbers(t, "stockout_cost_per_period")[idx]), 0.0)
            out: np.ndarray = holding + stockout
            return out

        def customer_fill(t: pa.Table, idx: np.ndarray | slice, members: np.ndarray) -> float:
            fill = _numbers(t, "expected_fill_rate")[idx][members]
            dem = _numbers(t, "mean_demand_per_period")[idx][members]
            ok = np.isfinite(fill) & np.isfinite(dem)
            w = float(dem[ok].sum())
            return float((fill[ok] * dem[ok]).sum() / w) if w > 0 else float("nan")

        level_change[rows] = _numbers(with_overrides, "base_stock_level")[rows] - _numbers(without, "base_stock_level")
        cost_with, cost_without = stage_cost(with_overrides, rows), stage_cost(without, slice(None))
        inv_with = np.nan_to_num(_numbers(with_overrides, "inventory_investment")[rows])
        inv_without = np.nan_to_num(_numbers(without, "inventory_investment"))
        for label in np.unique(labels):
            members = labels == label
            glob = rows[members]
            cost[glob] = float(cost_with[members].sum() - cost_without[members].sum())
            invest[glob] = float(inv_with[members].sum() - inv_without[members].sum())
            service[glob] = (customer_fill(with_overrides, rows, members & facing)
                             - customer_fill(without, slice(None), members & facing))
        for r in rows.tolist():
            text[r] = describe_override(lo[r], hi[r])
    return {
        "override": pa.array(text, pa.string()),
        "override_level_change": pa.array(level_change, pa.float64(), from_pandas=True),
        "override_cost_per_period": pa.array(cost, pa.float64(), from_pandas=True),
        "override_investment_change": pa.array(invest, pa.float64(), from_pandas=True),
        "override_service_change": pa.array(service, pa.float64(), from_pandas=True),
    }


def override_summary(table: pa.Table, shared: SharedInputs) -> dict[str, float]:
    """The run's overrides in ``summary.json``.

    Args:
        table: the recommendations (input order).
        shared: the run's shared inputs (planned order: networks and overrides).

    Returns:
        ``overrides`` (rows with one), ``overrides_honoured`` (of those, ``ok`` rows whose
        level lies in the corridor), and over the networks with one (each counted once)
        ``override_cost_per_period_total`` [currency/period] and
        ``override_investment_change_total`` [currency]; empty without overrides.
    """
    if shared.level_min is None or shared.level_max is None or "override_cost_per_period" not in table.column_names:
        return {}
    by_row = np.empty(shared.input_row.size, dtype=np.int64)  # planned index of each input row
    by_row[shared.input_row] = np.arange(shared.input_row.size)
    lo = np.asarray(shared.level_min, dtype=np.float64)[by_row]
    hi = np.asarray(shared.level_max, dtype=np.float64)[by_row]
    has = ~np.isnan(lo) | ~np.isnan(hi)
    level = _numbers(table, "base_stock_level")
    ok = np.asarray(pc.equal(table.column("status"), "ok").to_numpy(zero_copy_only=False), dtype=bool)
    inside = (np.nan_to_num(lo, nan=-np.inf) <= level) & (level <= np.nan_to_num(hi, nan=np.inf))
    cost = _numbers(table, "override_cost_per_period")
    invest = _numbers(table, "override_investment_change")
    nets = np.asarray(shared.network_id)[by_row]
    _, first = np.unique(nets[~np.isnan(cost)], return_index=True)
    rows = np.flatnonzero(~np.isnan(cost))[first]
    return {
        "overrides": float(has.sum()),
        "overrides_honoured": float((has & ok & inside).sum()),
        "override_cost_per_period_total": float(cost[rows].sum()),
        "override_investment_change_total": float(np.nansum(invest[rows])),
    }
