"""The drill-down's data: one compact record per SKU-location, embedded in the page as JSON.

Bounded: at most ``MAX_DRILLDOWN_ROWS`` rows are embedded — every row of a run up to
that size; beyond it, the rows named in the exception lists first, then the rest by
investment at level (largest first).  The page says how many of how many it holds.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from platform_core.report.figures_data import investment_at_level, level_units
from platform_core.report.outputs import RunOutputs

__all__ = ["MAX_DRILLDOWN_ROWS", "drilldown_rows", "drilldown_json"]

#: Most SKU-locations embedded in one report's drill-down.
MAX_DRILLDOWN_ROWS = 5000

_BASE = ("sku", "location", "status", "echelon", "network", "abc_class", "location_type", "policy_type",
         "service_metric", "service_target", "target_source", "level", "reorder_point", "order_up_to",
         "safety_stock", "safety_stock_value", "cycle_stock", "pipeline_stock", "mean_demand_per_period",
         "mean_lead_time_periods", "expected_fill_rate", "fill_rate_se", "expected_cycle_service",
         "mean_on_hand", "investment_at_level", "inventory_investment", "unit_cost", "explanation", "message",
         "override", "override_level_change", "override_cost_per_period", "override_investment_change",
         "override_service_change")
_PREFIXES = ("safety_stock_from_", "days_of_supply_", "current_", "change_")


def drilldown_rows(run: RunOutputs, limit: int = MAX_DRILLDOWN_ROWS) -> np.ndarray:
    """Positions of the rows embedded in the drill-down (see module doc), at most ``limit``."""
    n = len(run.rows)
    if n <= limit:
        return np.arange(n)
    inv, _ = investment_at_level(run.rows)
    by_inv = np.argsort(-np.nan_to_num(inv, nan=-np.inf), kind="stable")
    first: list[int] = []
    if run.exceptions is not None and len(run.exceptions):
        pos = pd.Series(np.arange(n), index=pd.MultiIndex.from_arrays([run.rows["sku"], run.rows["location"]]))
        keys = pd.MultiIndex.from_arrays([run.exceptions["sku"], run.exceptions["location"]])
        found = pos.reindex(keys).dropna().astype(np.int64).to_numpy()
        first = list(dict.fromkeys(found.tolist()))
    chosen = list(dict.fromkeys([*first, *by_inv.tolist()]))[:limit]
    return np.asarray(chosen, dtype=np.int64)


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        v = float(value)
        return round(v, 6) if math.isfinite(v) else None
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if pd.isna(value):
        return None
    return str(value)


def drilldown_json(run: RunOutputs, limit: int = MAX_DRILLDOWN_ROWS,
                   extra: dict[str, str] | None = None) -> tuple[str, int]:
    """The drill-down's JSON (safe inside ``<script>``) and the number of rows it holds.

    Columns: the base ones present, ``level`` (order-up-to, else base-stock level
    [units]), every ``safety_stock_from_*``, ``days_of_supply_*``, ``current_*``,
    ``change_*`` column, and ``exceptions`` (``list: reason`` per exception of the row).
    ``extra`` adds text entries to the document (e.g. ``today_missing``).
    """
    rows = run.rows.assign(level=level_units(run.rows))
    if "investment_at_level" not in rows.columns:
        rows = rows.assign(investment_at_level=investment_at_level(run.rows)[0])
    columns = [c for c in _BASE if c in rows.columns]
    columns += [c for c in rows.columns if c.startswith(_PREFIXES) and c not in columns]
    picked = drilldown_rows(run, limit)
    sub = rows.iloc[picked]
    notes: dict[tuple[str, str], list[str]] = {}
    if run.exceptions is not None:
        for sku, loc, name, reason in zip(run.exceptions["sku"], run.exceptions["location"],
                                          run.exceptions["list"], run.exceptions["reason"], strict=True):
            notes.setdefault((str(sku), str(loc)), []).append(f"{name}: {reason}")
    records = []
    for values in zip(*(sub[c].tolist() for c in columns), strict=True):
        rec = [_cell(v) for v in values]
        rec.append(notes.get((str(rec[0]), str(rec[1])), []))
        records.append(rec)
    doc = {"columns": [*columns, "exceptions"], "rows": records,
           "causes": [c for c in columns if c.startswith("safety_stock_from_")], **(extra or {})}
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    # safe inside <script>: no "</script>" or "<!--" can appear
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"), len(records)
