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

import functools
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.compare import OVERSTOCK_RATIO, UNCHANGED_UNITS, customer_target
from platform_core.plan import SharedInputs

__all__ = ["EXCEPTIONS_SCHEMA", "UNRANKED_SCHEMA", "EXCEPTION_LISTS", "ROW_ONLY_LISTS", "RULES_KEY", "exception_lists",
           "exception_rows", "rank_exceptions", "rules_digest", "exceptions_for_run", "exception_counts",
           "LARGE_CHANGE_RATIO", "RECENT_PERIODS"]

EXCEPTION_LISTS: tuple[str, ...] = ("large_change", "under_served_today", "overstock_today", "counter_intuitive",
                                    "not_solved")
#: the lists whose rows read only the recommendation row and its stage's unit cost (not the
#: demand history): a row copied unchanged from a previous run has the same rows in them
ROW_ONLY_LISTS: tuple[str, ...] = ("large_change", "under_served_today", "overstock_today")
#: schema metadata key of the exception rules' digest (:func:`rules_digest`)
RULES_KEY = b"echelon.exception_rules"
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
#: the rows before ranking (:func:`exception_rows`): ``EXCEPTIONS_SCHEMA`` without ``rank``
UNRANKED_SCHEMA = pa.schema([f for f in EXCEPTIONS_SCHEMA if f.name != "rank"])


def _f(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return np.asarray(pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _texts_at(table: pa.Table, name: str, mask: np.ndarray) -> np.ndarray:
    """Per row, the string in column ``name`` where ``mask`` ("" for null; None elsewhere, not read)."""
    out = np.full(table.num_rows, None, dtype=object)
    at = np.flatnonzero(mask)
    if at.size:
        if name in table.column_names:
            out[at] = [v or "" for v in table.column(name).take(pa.array(at)).to_pylist()]
        else:
            out[at] = ""
    return out


def _is_ok(table: pa.Table) -> np.ndarray:
    """Per row, ``status == "ok"`` (False for a null status or no ``status`` column)."""
    if "status" not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    same = pc.equal(pc.cast(table.column("status"), pa.string()), pa.scalar("ok", pa.string()))
    return np.asarray(pc.fill_null(same, False).to_numpy(zero_copy_only=False), dtype=bool)


def _money(x: float) -> str:
    return f"{x:+,.0f}" if abs(x) >= 100 else f"{x:+,.2f}"


def _days(on_hand: np.ndarray, demand: np.ndarray, period_days: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(demand > 0, on_hand / demand * period_days, np.nan)


@functools.cache
def rules_digest() -> str:
    """SHA-256 (hex) of the code that decides and words the exception rows.

    The source of this module and of :mod:`platform_core.compare` (targets, ratios); any
    edit to either gives another digest.  Stored in ``exceptions.parquet``'s schema
    metadata (:data:`RULES_KEY`): a later ``--since`` run reuses a previous file's rows
    only when they were made by the same rules.
    """
    from platform_core import compare

    h = hashlib.sha256()
    for module_file in (__file__, compare.__file__):
        h.update(Path(str(module_file)).read_bytes())
    return h.hexdigest()


def exceptions_for_run(table: pa.Table, shared: SharedInputs) -> pa.Table:
    """:func:`exception_lists` of a run's merged recommendations (input order)."""
    n = table.num_rows
    at = np.empty(n, dtype=np.int64)  # planned index of each input row
    at[shared.input_row] = np.arange(n)
    demand = shared.demand[at, -RECENT_PERIODS:] if n else np.zeros((0, RECENT_PERIODS))
    flags = shared.stocked_out[at, -RECENT_PERIODS:] if n else np.zeros((0, RECENT_PERIODS), dtype=bool)
    mean_own = np.zeros(n)
    for k in np.flatnonzero(~_is_ok(table)):
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
    return rank_exceptions(exception_rows(table, unit_cost, recent_demand, recent_stocked_out, mean_own_demand,
                                          period_days))


def exception_rows(table: pa.Table, unit_cost: np.ndarray, recent_demand: np.ndarray,
                   recent_stocked_out: np.ndarray, mean_own_demand: np.ndarray, period_days: float, *,
                   lists: Sequence[str] = EXCEPTION_LISTS, rows: np.ndarray | None = None) -> pa.Table:
    """The exception rows of ``lists`` for the rows ``rows`` (bool per row; all by default), unranked.

    Arguments as :func:`exception_lists`; returns a table of :data:`UNRANKED_SCHEMA` (no
    ``rank``, in no particular order: :func:`rank_exceptions` ranks it).
    """
    n = table.num_rows
    scope = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    unknown = set(lists) - set(EXCEPTION_LISTS)
    if unknown:
        raise ValueError(f"unknown exception list(s) {sorted(unknown)}: expected some of {list(EXCEPTION_LISTS)}")
    level, cur = _f(table, "base_stock_level"), _f(table, "current_level")
    change = _f(table, "change_level_units")
    inv_change = _f(table, "change_investment_at_level")
    fill, target = _f(table, "current_expected_fill_rate"), customer_target(table)
    fill_se = np.nan_to_num(_f(table, "current_fill_rate_se"))
    demand = _f(table, "mean_demand_per_period")
    cur_oh, rec_oh = _f(table, "current_mean_on_hand"), _f(table, "mean_on_hand")
    cost = np.asarray(unit_cost, dtype=np.float64)
    cur_days, rec_days = _days(cur_oh, demand, period_days), _days(rec_oh, demand, period_days)
    ok = _is_ok(table) & scope
    recent_so = np.asarray(recent_stocked_out, dtype=bool).sum(axis=1)
    recent = np.asarray(recent_demand, dtype=np.float64)
    idle = np.isfinite(recent).all(axis=1) & (np.nan_to_num(recent) == 0).all(axis=1) & (recent.shape[1] > 0)
    found: list[tuple[str, np.ndarray, np.ndarray, str, list[str]]] = []

    def aim(k: int) -> str:
        return f"its target {target[k]:.3f}" if np.isfinite(target[k]) else "the service the network chose for it"

    def add(name: str, mask: np.ndarray, magnitude: np.ndarray, unit: str, reason: Callable[[int], str]) -> None:
        if name not in lists:
            return
        at = np.flatnonzero(mask & np.isfinite(magnitude))
        found.append((name, at, magnitude[at], unit, [reason(k) for k in at.tolist()]))

    big = ok & np.isfinite(change) & (np.abs(change) >= UNCHANGED_UNITS) & \
        (np.abs(change) >= LARGE_CHANGE_RATIO * np.abs(np.nan_to_num(cur)))
    down_after_stockout = ok & (np.nan_to_num(change) <= -UNCHANGED_UNITS) & (recent_so > 0)
    shelf = idle | (np.isfinite(cur_days) & np.isfinite(rec_days) & (cur_days > OVERSTOCK_RATIO * rec_days))
    up_on_shelf = ok & (np.nan_to_num(change) >= UNCHANGED_UNITS) & shelf
    not_ok = ~_is_ok(table) & scope
    # the strings are read for the rows a reason names only (a million rows: most are in no list)
    driver = _texts_at(table, "change_driver", big | down_after_stockout | up_on_shelf)
    message = _texts_at(table, "message", not_ok)

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
    mean_own = np.asarray(mean_own_demand, dtype=np.float64)
    add("not_solved", not_ok, mean_own, "units/period",
        lambda k: f"the solver gave no policy: {message[k] or 'no message'}")
    at = np.concatenate([f[1] for f in found]) if found else np.zeros(0, dtype=np.int64)
    keys = pa.array(at, pa.int64())
    return pa.table({
        "list": pa.array([f[0] for f in found for _ in range(f[1].size)], pa.string()),
        "sku": pc.cast(table.column("sku").take(keys), pa.string()) if n else pa.array([], pa.string()),
        "location": pc.cast(table.column("location").take(keys), pa.string()) if n else pa.array([], pa.string()),
        "magnitude": pa.array(np.concatenate([f[2] for f in found]) if found else np.zeros(0), pa.float64()),
        "magnitude_unit": pa.array([f[3] for f in found for _ in range(f[1].size)], pa.string()),
        "reason": pa.array([r for f in found for r in f[4]], pa.string()),
    }, schema=UNRANKED_SCHEMA)


def rank_exceptions(rows: pa.Table) -> pa.Table:
    """Rows (:data:`UNRANKED_SCHEMA`) grouped by list (in ``EXCEPTION_LISTS`` order), ranked by magnitude.

    Largest magnitude first; ties ordered by sku, then location (code-point order, which
    is UTF-8 byte order); one array sort (a million SKU-locations give ~1 M rows).  The
    result carries :func:`rules_digest` under :data:`RULES_KEY` in its schema metadata.
    """
    which = pc.index_in(rows.column("list"), value_set=pa.array(EXCEPTION_LISTS, pa.string()))
    if which.null_count:
        bad = rows.column("list").filter(pc.is_null(which))[0].as_py()
        raise ValueError(f"exception list {bad!r} is none of {list(EXCEPTION_LISTS)}")
    keyed = pa.table({"which": which, "magnitude": rows.column("magnitude"), "sku": rows.column("sku"),
                      "location": rows.column("location")})
    at = pc.sort_indices(keyed, sort_keys=[("which", "ascending"), ("magnitude", "descending"),
                                           ("sku", "ascending"), ("location", "ascending")])
    ranked = rows.take(at)
    ranked_list = np.asarray(which.take(at).to_numpy(zero_copy_only=False), dtype=np.int64)
    m = ranked_list.size
    starts = np.flatnonzero(np.r_[True, ranked_list[1:] != ranked_list[:-1]]) if m else np.zeros(0, np.int64)
    rank = np.arange(m) - np.repeat(starts, np.diff(np.r_[starts, m])) + 1
    out = ranked.add_column(1, "rank", pa.array(rank, pa.int64())).cast(EXCEPTIONS_SCHEMA)
    return out.replace_schema_metadata({RULES_KEY: rules_digest()})


def _ranked(rows: list[tuple[str, int, float, str, str]], sku: list[str], loc: list[str]) -> pa.Table:
    """:func:`rank_exceptions` of ``(list, row, magnitude, unit, reason)`` tuples, names per row in ``sku``, ``loc``."""
    return rank_exceptions(pa.table({
        "list": pa.array([r[0] for r in rows], pa.string()),
        "sku": pa.array([sku[r[1]] for r in rows], pa.string()),
        "location": pa.array([loc[r[1]] for r in rows], pa.string()),
        "magnitude": pa.array([r[2] for r in rows], pa.float64()),
        "magnitude_unit": pa.array([r[3] for r in rows], pa.string()),
        "reason": pa.array([r[4] for r in rows], pa.string()),
    }, schema=UNRANKED_SCHEMA))


def exception_counts(exceptions: pa.Table) -> dict[str, int]:
    """Rows per list (every list named, zero when empty) for ``summary.json``."""
    counted = {c["values"]: c["counts"] for c in pc.value_counts(exceptions.column("list")).to_pylist()}
    return {name: int(counted.get(name, 0)) for name in EXCEPTION_LISTS}
