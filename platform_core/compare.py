"""Compared with today: the recommendation next to the policy in use today.

In a batch (:func:`compare_with_today`, called after the solver): today's policy of each
stage (the input's ``current_policy``, see :mod:`platform_core.current_policy`) is
simulated by the solver's own check (:meth:`Solver.evaluate_policies`: same networks,
demand model, lead times, seeds and run sizes, so on the recommendation's paths); stages
of the network without a current policy keep their recommended level there.  The rows
get the ``current_*`` and ``change_*`` columns of ``RECOMMENDATION_SCHEMA`` with the main
driver of the change.

On the driver: :func:`compare_with_previous` fills the same columns from an earlier
run's ``recommendations.parquet`` when the input has no ``current_policy``
(``echelon run --compare-with PREVIOUS_OUT``: its levels and expected fill as they were,
no simulation); :func:`comparison_totals` gives ``summary.json``'s
``compared_with_today`` section.

Units: levels [units], investment [currency], fill [-], days of supply [days].
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.components import StagePolicies, StageProblem
from platform_core.current_policy import CurrentPolicies
from platform_core.plan import SharedInputs

__all__ = ["COMPARISON_COLUMNS", "compare_with_today", "compare_with_previous", "previous_recommendations",
           "comparison_totals",
           "change_drivers", "NO_CURRENT_POLICY"]

COMPARISON_COLUMNS: tuple[str, ...] = (
    "current_policy_type", "current_level", "current_reorder_point", "current_expected_fill_rate",
    "current_fill_rate_se", "current_mean_on_hand", "current_investment_at_level", "change_level_units",
    "change_investment_at_level", "change_expected_fill_rate", "change_driver",
)
NO_CURRENT_POLICY = "no current policy"
#: a level change smaller than this counts as unchanged [units]
UNCHANGED_UNITS = 0.5
#: today's days of supply above this multiple of the recommendation's is overstock [-]
OVERSTOCK_RATIO = 2.0


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return np.asarray(pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _evaluate(solver: Any, problem: StageProblem, cur: CurrentPolicies, level: np.ndarray) -> pa.Table | str:
    """The solver's simulation of today's policies (the recommended level elsewhere), or why not."""
    use = cur.usable
    kind = [str(k) if u else "base_stock" for k, u in zip(cur.policy_type, use, strict=True)]
    pols = StagePolicies(
        kind=kind,
        reorder_point=np.where(use, cur.reorder_point, np.nan),
        order_up_to=np.where(use, cur.order_up_to, np.nan_to_num(np.maximum(level, 0.0))),
        order_quantity=np.where(use, cur.order_quantity, np.nan),
    )
    try:
        table: pa.Table = solver.evaluate_policies(problem, pols)
        return table
    except NotImplementedError as exc:
        return f"not simulated: {exc}"
    except Exception as exc:  # noqa: BLE001 - today's policy never costs the stage its recommendation
        return f"not simulated: {type(exc).__name__}: {exc}"


def compare_with_today(shared: SharedInputs, idx: np.ndarray, problem: StageProblem, solver: Any,
                       table: pa.Table) -> pa.Table:
    """The solver's ``table`` for stages ``idx`` with the comparison columns appended.

    Args:
        shared: the run's shared inputs (``shared.current_policy``: today's policies).
        idx: the batch's planned stage indices (whole networks).
        problem: the problem the solver solved (its networks, demand and seeds).
        solver: the solver instance that solved it.
        table: its output, one row per stage of ``problem``.
    """
    n = idx.size
    cols: dict[str, pa.Array] = {}
    cur = shared.current_policy.take(idx) if shared.current_policy is not None else None
    if cur is None or not cur.has.any():
        cols["change_driver"] = pa.array([NO_CURRENT_POLICY] * n, pa.string())
        return _append(table, cols)
    level = _floats(table, "base_stock_level")
    unit_cost = np.asarray(shared.unit_cost[idx], dtype=np.float64)
    evaluated = _evaluate(solver, problem, cur, level) if cur.usable.any() else "not simulated"
    use = cur.usable
    fill = np.full(n, np.nan)
    fill_se = np.full(n, np.nan)
    on_hand = np.full(n, np.nan)
    note = ""
    if isinstance(evaluated, str):
        note = evaluated
    else:
        fill = np.where(use, _floats(evaluated, "fill_rate"), np.nan)
        fill_se = np.where(use, _floats(evaluated, "fill_rate_se"), np.nan)
        on_hand = np.where(use, _floats(evaluated, "on_hand"), np.nan)
    cur_level = np.where(cur.has, cur.order_up_to, np.nan)
    values = {
        "current_level": cur_level,
        "current_reorder_point": np.where(cur.has, cur.reorder_point, np.nan),
        "current_expected_fill_rate": fill,
        "current_fill_rate_se": fill_se,
        "current_mean_on_hand": on_hand,
    }
    values.update(_changes(level, cur_level, unit_cost, _floats(table, "expected_fill_rate"), fill))
    cols = {k: pa.array(v, pa.float64(), mask=~np.isfinite(v)) for k, v in values.items()}
    cols["current_policy_type"] = pa.array([str(t) if h else None for t, h in zip(cur.policy_type, cur.has,
                                                                                    strict=True)], pa.string())
    parent_change = _parent_change(problem, values["change_level_units"])
    drivers = change_drivers(table, values, shared.settings.period_days, parent_change)
    for k in range(n):
        if not cur.has[k]:
            drivers[k] = NO_CURRENT_POLICY
        elif cur.problem[k]:
            drivers[k] = f"today's policy cannot be simulated: {cur.problem[k]}"
        elif note:
            drivers[k] = f"{drivers[k]} ({note})"
    cols["change_driver"] = pa.array(drivers, pa.string())
    return _append(table, cols)


def _append(table: pa.Table, cols: dict[str, pa.Array]) -> pa.Table:
    for name, arr in cols.items():
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, arr)
    return table


def _changes(level: np.ndarray, cur_level: np.ndarray, unit_cost: np.ndarray, fill: np.ndarray,
             cur_fill: np.ndarray) -> dict[str, np.ndarray]:
    """Investment at today's level and the recommended - current changes."""
    return {
        "current_investment_at_level": cur_level * unit_cost,
        "change_level_units": level - cur_level,
        "change_investment_at_level": (level - cur_level) * unit_cost,
        "change_expected_fill_rate": fill - cur_fill,
    }


def _parent_change(problem: StageProblem, change: np.ndarray) -> np.ndarray:
    """Per stage, the largest level change of its upstream stages [units] (NaN: none)."""
    counts = np.fromiter((len(ups) for ups in problem.upstream), dtype=np.int64, count=change.size)
    out = np.full(change.size, -np.inf)
    if counts.sum():
        vals = change[np.concatenate([np.asarray(ups, dtype=np.int64) for ups in problem.upstream])]
        owner = np.repeat(np.arange(change.size), counts)
        ok = np.isfinite(vals)
        np.maximum.at(out, owner[ok], vals[ok])
    out[np.isneginf(out)] = np.nan
    return out


def _days(on_hand: np.ndarray, demand: np.ndarray, period_days: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(demand > 0, on_hand / demand * period_days, np.nan)


def customer_target(table: pa.Table) -> np.ndarray:
    """``service_target`` where it is a promise (input or cost-optimal) [-].

    NaN where the network chose an internal stage's fill (``target_source = "network"``).
    """
    target = _floats(table, "service_target")
    if "target_source" in table.column_names:
        network = np.array([s == "network" for s in table.column("target_source").to_pylist()], dtype=bool)
        target = np.where(network, np.nan, target)
    return target


def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}"


def change_drivers(table: pa.Table, values: dict[str, np.ndarray], period_days: float,
                   parent_change: np.ndarray | None = None) -> list[str]:
    """The main driver of each row's change, as short text a planner reads.

    In order: under-served today (today's simulated fill more than 3 SE and 0.005 below
    the target); overstocked today (today's days of supply above ``OVERSTOCK_RATIO``
    times the recommendation's, with the level cut); pooling (a stage whose level falls
    while an upstream stage's rises, or the reverse); the lead time (the level rises and
    today's level does not cover the mean demand over lead time + review); otherwise the
    target.
    """
    n = table.num_rows
    target = customer_target(table)
    demand = _floats(table, "mean_demand_per_period")
    ltd = _floats(table, "mean_lead_time_demand")
    rec_oh = _floats(table, "mean_on_hand")
    rec_fill = _floats(table, "expected_fill_rate")
    cur_fill = values["current_expected_fill_rate"]
    cur_se = np.nan_to_num(values["current_fill_rate_se"])
    cur_level = values["current_level"]
    change = values["change_level_units"]
    cur_days = _days(values["current_mean_on_hand"], demand, period_days)
    rec_days = _days(rec_oh, demand, period_days)
    parent = np.full(n, np.nan) if parent_change is None else parent_change  # largest change upstream
    out = []
    for k in range(n):
        d = change[k]
        if not np.isfinite(d):
            out.append("no recommended level" if np.isfinite(cur_level[k]) else NO_CURRENT_POLICY)
            continue
        if np.isfinite(cur_fill[k]) and np.isfinite(target[k]) and cur_fill[k] < target[k] - max(3 * cur_se[k], 0.005):
            out.append(f"under-served today (fill {cur_fill[k]:.3f} < target {target[k]:.3f})")
        elif d <= -UNCHANGED_UNITS and np.isfinite(cur_days[k]) and np.isfinite(rec_days[k]) \
                and cur_days[k] > OVERSTOCK_RATIO * max(rec_days[k], 1e-9):
            out.append(f"overstocked today ({_num(cur_days[k])} days of supply vs {_num(rec_days[k])} needed)")
        elif d <= -UNCHANGED_UNITS and np.isfinite(parent[k]) and parent[k] >= UNCHANGED_UNITS:
            out.append("pooling upstream lets this stage hold less (its supplier's level rises)")
        elif d >= UNCHANGED_UNITS and np.isfinite(parent[k]) and parent[k] <= -UNCHANGED_UNITS:
            out.append("its supplier holds less (the network's cheapest split), so this stage holds more")
        elif d >= UNCHANGED_UNITS and np.isfinite(ltd[k]) and cur_level[k] < ltd[k]:
            out.append(f"lead time longer than today's level allows (level {cur_level[k]:.0f} < mean demand "
                       f"over lead time + review {ltd[k]:.0f})")
        elif abs(d) < UNCHANGED_UNITS:
            out.append("unchanged")
        elif np.isfinite(cur_fill[k]) and np.isfinite(target[k]):
            side = "below" if cur_fill[k] < target[k] else "above"
            out.append(f"{'more' if d > 0 else 'less'} stock for the target (fill {cur_fill[k]:.3f} today, "
                       f"{side} target {target[k]:.3f})")
        elif np.isfinite(cur_fill[k]) and np.isfinite(rec_fill[k]):
            out.append(f"the network's cheapest split holds {'more' if d > 0 else 'less'} here (fill to its "
                       f"customers {rec_fill[k]:.3f}, {cur_fill[k]:.3f} today)")
        else:
            out.append(f"{'more' if d > 0 else 'less'} stock than today for the target")
    return out


def previous_recommendations(previous_out: str | os.PathLike[str]) -> Path:
    """``previous_out/recommendations.parquet``.

    Raises:
        FileNotFoundError: it is not there (checked before a run starts).
    """
    path = Path(previous_out) / "recommendations.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"--compare-with {previous_out}: no recommendations.parquet there "
                                "(give the output directory of an earlier echelon run)")
    return path


def compare_with_previous(table: pa.Table, previous_out: str | os.PathLike[str], unit_cost: np.ndarray,
                          period_days: float) -> pa.Table:
    """``table`` (merged recommendations) compared with an earlier run's recommendations.

    The previous run's ``base_stock_level``, ``reorder_point``, ``expected_fill_rate``,
    ``fill_rate_se`` and ``mean_on_hand`` are taken as they are (not simulated again);
    stages it did not have (or had as errors) get ``change_driver`` "no current policy".

    Raises:
        FileNotFoundError: ``previous_out`` holds no ``recommendations.parquet``.
    """
    path = previous_recommendations(previous_out)
    prev = pq.read_table(path)
    need = ("sku", "location", "status", "policy_type", "base_stock_level")
    missing = [c for c in need if c not in prev.column_names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected an echelon run's recommendations")
    prev = prev.filter(pc.equal(prev.column("status"), "ok"))
    at = {(s, loc): i for i, (s, loc) in enumerate(zip(prev.column("sku").to_pylist(),
                                                        prev.column("location").to_pylist(), strict=True))}
    rows = np.array([at.get((s, loc), -1) for s, loc in zip(table.column("sku").to_pylist(),
                                                           table.column("location").to_pylist(), strict=True)],
                    dtype=np.int64)
    has = rows >= 0

    def pick(name: str) -> np.ndarray:
        v = _floats(prev, name)
        return np.where(has, v[np.maximum(rows, 0)] if v.size else np.nan, np.nan)

    cur_level = pick("base_stock_level")
    fill = pick("expected_fill_rate")
    values = {
        "current_level": cur_level,
        "current_reorder_point": pick("reorder_point"),
        "current_expected_fill_rate": fill,
        "current_fill_rate_se": pick("fill_rate_se"),
        "current_mean_on_hand": pick("mean_on_hand"),
    }
    values.update(_changes(_floats(table, "base_stock_level"), cur_level, unit_cost,
                           _floats(table, "expected_fill_rate"), fill))
    drivers = change_drivers(table, values, period_days)
    types = prev.column("policy_type").to_pylist()
    cols: dict[str, pa.Array] = {k: pa.array(v, pa.float64(), mask=~np.isfinite(v)) for k, v in values.items()}
    cols["current_policy_type"] = pa.array([types[r] if r >= 0 else None for r in rows], pa.string())
    cols["change_driver"] = pa.array([d if h else NO_CURRENT_POLICY for d, h in zip(drivers, has, strict=True)],
                                     pa.string())
    schema = table.schema
    for name in COMPARISON_COLUMNS:
        i = schema.get_field_index(name)
        table = table.set_column(i, schema.field(name), cols[name].cast(schema.field(name).type))
    return table


def comparison_totals(table: pa.Table, unit_cost: np.ndarray, customer_facing: np.ndarray,
                      source: str) -> dict[str, Any]:
    """``summary.json``'s ``compared_with_today`` section.

    Over ``ok`` rows that have a current level: today's and the recommended investment
    at level (level x unit cost) [currency], expected on-hand value (mean on hand x unit
    cost) [currency] and customer-facing demand-weighted fill [-]; counts of levels up,
    down and unchanged (within ``UNCHANGED_UNITS``).  Both fills weigh the same
    customer-facing stages (those with a fill today and recommended).
    """
    ok = np.asarray(pc.equal(table.column("status"), "ok").to_numpy(zero_copy_only=False), dtype=bool)
    cur_level = _floats(table, "current_level")
    rows = ok & np.isfinite(cur_level)
    level = _floats(table, "base_stock_level")
    cost = np.asarray(unit_cost, dtype=np.float64)
    demand = np.nan_to_num(_floats(table, "mean_demand_per_period"))
    cf = rows & np.asarray(customer_facing, dtype=bool)

    both = cf & np.isfinite(_floats(table, "current_expected_fill_rate")) & np.isfinite(
        _floats(table, "expected_fill_rate"))

    def fill(name: str) -> float | None:
        f = _floats(table, name)
        m = both
        w = demand[m].sum()
        return float((f[m] * demand[m]).sum() / w) if w > 0 else None

    def money(values: np.ndarray) -> float:
        return float(np.nansum((values * cost)[rows]))

    change = (level - cur_level)[rows]
    return {
        "source": source,
        "sku_locations_compared": int(rows.sum()),
        "today": {
            "investment_at_level_currency": money(cur_level),
            "expected_on_hand_value_currency": money(_floats(table, "current_mean_on_hand")),
            "customer_fill_rate_demand_weighted": fill("current_expected_fill_rate"),
        },
        "recommended": {
            "investment_at_level_currency": money(level),
            "expected_on_hand_value_currency": money(_floats(table, "mean_on_hand")),
            "customer_fill_rate_demand_weighted": fill("expected_fill_rate"),
        },
        "levels_up": int((change >= UNCHANGED_UNITS).sum()),
        "levels_down": int((change <= -UNCHANGED_UNITS).sum()),
        "levels_unchanged": int((np.abs(change) < UNCHANGED_UNITS).sum()),
    }
