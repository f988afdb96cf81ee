"""Exceptions: ranked lists of the SKU-locations that need a person (``OUT/exceptions.parquet``).

Built on the driver from the merged recommendations (with their ``current_*`` and
``change_*`` columns, :mod:`platform_core.compare`) and the demand history.  One row per
(list, SKU-location), ranked within each list by ``magnitude`` (largest first):

| list | a row when | magnitude [unit] |
|---|---|---|
| ``large_change`` | the level moves by at least ``LARGE_CHANGE_RATIO`` of today's and ``UNCHANGED_UNITS`` | investment change at level [currency] (absolute) |
| ``under_served_today`` | today's simulated fill is below the target by more than 3 SE and 0.005 | extra units short per period vs the target [units/period] |
| ``overstock_today`` | today's days of supply exceed ``OVERSTOCK_RATIO`` x the recommendation's | on-hand value above the recommendation's [currency] |
| ``counter_intuitive`` | less stock although it stocked out lately, or more although it sits on the shelf | investment change at level [currency] (absolute) |
| ``not_solved`` | the solver gave no policy (``status = "error"``) | mean demand per period left unprotected [units/period] |

Each row carries a ``reason``: a sentence with the figures and the driver of the change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.compare import OVERSTOCK_RATIO, UNCHANGED_UNITS, customer_target
from platform_core.plan import SharedInputs

__all__ = ["EXCEPTIONS_SCHEMA", "EXCEPTION_LISTS", "exception_lists", "exceptions_for_run", "exception_counts",
           "LARGE_CHANGE_RATIO", "RECENT_PERIODS"]

EXCEPTION_LISTS: tuple[str, ...] = ("large_change", "under_served_today", "overstock_today", "counter_intuitive",
                                    "not_solved")
#: a level change of at least this fraction of today's level is large [-]
LARGE_CHANGE_RATIO = 0.5
#: the last periods of demand history read for "just stocked out" / "sits on the shelf" [periods]
RECENT_PERIODS = 4

EXCEPTIONS_SCHEMA = pa.schema([
    pa.field("list", pa.string(), nullable=False),
    pa.field("rank", pa.int64(), nullable=False),
    pa.field("sku", pa.string(), nullable=False),
    pa.field("location", pa.string(), nullable=False),
    pa.field("magnitude", pa.float64()),
    pa.field("magnitude_unit", pa.string()),
    pa.field("reason", pa.string()),
])


def _f(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return np.asarray(pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _s(table: pa.Table, name: str) -> list[str]:
    if name not in table.column_names:
        return [""] * table.num_rows
    return [v or "" for v in table.column(name).to_pylist()]


def _money(x: float) -> str:
    return f"{x:+,.0f}" if abs(x) >= 100 else f"{x:+,.2f}"


def _days(on_hand: np.ndarray, demand: np.ndarray, period_days: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(demand > 0, on_hand / demand * period_days, np.nan)


def exceptions_for_run(table: pa.Table, shared: SharedInputs) -> pa.Table:
    """:func:`exception_lists` of a run's merged recommendations (input order)."""
    n = table.num_rows
    at = np.empty(n, dtype=np.int64)  # planned index of each input row
    at[shared.input_row] = np.arange(n)
    demand = shared.demand[at, -RECENT_PERIODS:] if n else np.zeros((0, RECENT_PERIODS))
    flags = shared.stocked_out[at, -RECENT_PERIODS:] if n else np.zeros((0, RECENT_PERIODS), dtype=bool)
    mean_own = np.zeros(n)
    for k in np.flatnonzero(np.array([s != "ok" for s in _s(table, "status")], dtype=bool)):
        row = shared.demand[at[k]]
        mean_own[k] = float(np.mean(row[np.isfinite(row)])) if np.isfinite(row).any() else 0.0
    return exception_lists(table, shared.unit_cost[at], demand, flags, mean_own, shared.settings.period_days)


def exception_lists(table: pa.Table, unit_cost: np.ndarray, recent_demand: np.ndarray,
                    recent_stocked_out: np.ndarray, mean_own_demand: np.ndarray, period_days: float) -> pa.Table:
    """The ranked exception lists of a run (``EXCEPTIONS_SCHEMA``).

    Args:
        table: the merged recommendations (input order).
        unit_cost: per row [currency/unit].
        recent_demand: per row, its own demand in the last ``RECENT_PERIODS`` periods
            [units/period] (NaN: no demand row), oldest first.
        recent_stocked_out: per row, the stock-out flags of those periods.
        mean_own_demand: per row, its mean own demand per period [units/period] (the
            ``not_solved`` magnitude).
        period_days: length of one period [days].
    """
    sku, loc = _s(table, "sku"), _s(table, "location")
    status, message, driver = _s(table, "status"), _s(table, "message"), _s(table, "change_driver")
    level, cur = _f(table, "base_stock_level"), _f(table, "current_level")
    change = _f(table, "change_level_units")
    inv_change = _f(table, "change_investment_at_level")
    fill, target = _f(table, "current_expected_fill_rate"), customer_target(table)
    fill_se = np.nan_to_num(_f(table, "current_fill_rate_se"))
    demand = _f(table, "mean_demand_per_period")
    cur_oh, rec_oh = _f(table, "current_mean_on_hand"), _f(table, "mean_on_hand")
    cost = np.asarray(unit_cost, dtype=np.float64)
    cur_days, rec_days = _days(cur_oh, demand, period_days), _days(rec_oh, demand, period_days)
    ok = np.array([s == "ok" for s in status], dtype=bool)
    recent_so = np.asarray(recent_stocked_out, dtype=bool).sum(axis=1)
    recent = np.asarray(recent_demand, dtype=np.float64)
    idle = np.isfinite(recent).all(axis=1) & (np.nan_to_num(recent) == 0).all(axis=1) & (recent.shape[1] > 0)
    rows: list[tuple[str, int, float, str, str]] = []

    def aim(k: int) -> str:
        return f"its target {target[k]:.3f}" if np.isfinite(target[k]) else "the service the network chose for it"

    def add(name: str, mask: np.ndarray, magnitude: np.ndarray, unit: str, reason: Callable[[int], str]) -> None:
        for k in np.flatnonzero(mask & np.isfinite(magnitude)):
            rows.append((name, int(k), float(magnitude[k]), unit, reason(int(k))))

    big = ok & np.isfinite(change) & (np.abs(change) >= UNCHANGED_UNITS) & \
        (np.abs(change) >= LARGE_CHANGE_RATIO * np.abs(np.nan_to_num(cur)))
    add("large_change", big, np.abs(inv_change), "currency",
        lambda k: (f"level {cur[k]:g} today -> {level[k]:g} recommended ({change[k]:+g} units, "
                   f"{_money(inv_change[k])} at level); driver: {driver[k]}"))
    under = ok & np.isfinite(fill) & np.isfinite(target) & (fill < target - np.maximum(3 * fill_se, 0.005))
    add("under_served_today", under, (target - fill) * np.nan_to_num(demand), "units/period",
        lambda k: (f"today's policy fills {fill[k]:.3f} of demand against a target of {target[k]:.3f}: "
                   f"{(target[k] - fill[k]) * demand[k]:.2f} units/period more short than the target allows; "
                   f"recommended level {level[k]:g} vs {cur[k]:g} today"))
    over = ok & np.isfinite(cur_days) & np.isfinite(rec_days) & (cur_days > OVERSTOCK_RATIO * rec_days) & \
        (np.nan_to_num(change) <= -UNCHANGED_UNITS)
    add("overstock_today", over, (cur_oh - rec_oh) * cost, "currency",
        lambda k: (f"{cur_days[k]:.1f} days of supply on hand today vs {rec_days[k]:.1f} needed for "
                   f"{aim(k)}: {(cur_oh[k] - rec_oh[k]) * cost[k]:,.2f} of stock above need on average"))
    down_after_stockout = ok & (np.nan_to_num(change) <= -UNCHANGED_UNITS) & (recent_so > 0)
    shelf = idle | (np.isfinite(cur_days) & np.isfinite(rec_days) & (cur_days > OVERSTOCK_RATIO * rec_days))
    up_on_shelf = ok & (np.nan_to_num(change) >= UNCHANGED_UNITS) & shelf

    def counter(k: int) -> str:
        if down_after_stockout[k]:
            return (f"less stock ({change[k]:+g} units) although it stocked out in {int(recent_so[k])} of the last "
                    f"{RECENT_PERIODS} periods: {driver[k]}; the recommendation meets {aim(k)} on simulated "
                    "demand, a recent stock-out is one draw of it")
        why = (f"no demand in the last {RECENT_PERIODS} periods" if idle[k]
               else f"{cur_days[k]:.1f} days of supply on hand today")
        return (f"more stock ({change[k]:+g} units) although it sits on the shelf ({why}): {driver[k]}; "
                "the level is set for the demand and lead-time spread over the whole history")

    add("counter_intuitive", down_after_stockout | up_on_shelf, np.abs(inv_change), "currency", counter)
    not_ok = ~ok
    mean_own = np.asarray(mean_own_demand, dtype=np.float64)
    add("not_solved", not_ok, mean_own, "units/period",
        lambda k: f"the solver gave no policy: {message[k] or 'no message'}")
    return _ranked(rows, sku, loc)


def _ranked(rows: list[tuple[str, int, float, str, str]], sku: list[str], loc: list[str]) -> pa.Table:
    """Rows grouped by list (in ``EXCEPTION_LISTS`` order), ranked by magnitude (largest first).

    Ties in magnitude are ordered by sku, then location (code-point order); one stable
    sort of the arrays (a million SKU-locations give ~1 M rows).
    """
    order = {name: i for i, name in enumerate(EXCEPTION_LISTS)}
    which = np.array([order[r[0]] for r in rows], dtype=np.int64)
    k = np.array([r[1] for r in rows], dtype=np.int64)
    magnitude = np.array([r[2] for r in rows], dtype=np.float64)
    sku_arr, loc_arr = np.array(sku, dtype=str), np.array(loc, dtype=str)
    at = np.lexsort((loc_arr[k], sku_arr[k], -magnitude, which)) if rows else np.zeros(0, dtype=np.int64)
    ranked_list = which[at]
    starts = np.flatnonzero(np.r_[True, ranked_list[1:] != ranked_list[:-1]]) if at.size else np.zeros(0, np.int64)
    rank = np.arange(at.size) - np.repeat(starts, np.diff(np.r_[starts, at.size])) + 1
    names = np.array(EXCEPTION_LISTS, dtype=object)
    return pa.table({
        "list": pa.array(names[ranked_list].tolist(), pa.string()),
        "rank": pa.array(rank, pa.int64()),
        "sku": pa.array(sku_arr[k[at]].tolist(), pa.string()),
        "location": pa.array(loc_arr[k[at]].tolist(), pa.string()),
        "magnitude": pa.array(magnitude[at], pa.float64()),
        "magnitude_unit": pa.array([rows[i][3] for i in at.tolist()], pa.string()),
        "reason": pa.array([rows[i][4] for i in at.tolist()], pa.string()),
    }, schema=EXCEPTIONS_SCHEMA)


def exception_counts(exceptions: pa.Table) -> dict[str, int]:
    """Rows per list (every list named, zero when empty) for ``summary.json``."""
    names = exceptions.column("list").to_pylist()
    return {name: names.count(name) for name in EXCEPTION_LISTS}
