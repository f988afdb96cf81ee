"""The numbers of the report: portfolio headline, by-group tables, safety stock by echelon.

Every figure says where it came from (a ``summary.json`` key, a column summed, or a
product the report computed) so a planner can trace it.  Service is demand-weighted over
``ok`` rows with demand, as in ``summary.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from platform_core.report.outputs import RunOutputs

__all__ = ["Headline", "GroupTable", "headline", "by_group", "level_units", "investment_at_level",
           "safety_stock_value", "safety_stock_by_echelon", "weighted_fill", "today_available",
           "safety_stock_causes", "compared_with_today"]


@dataclass(frozen=True)
class Headline:
    """One headline figure.

    Attributes:
        name: what it is, with its unit.
        value: the number (NaN: undefined).
        fmt: Python format spec of the value.
        source: where it comes from.
    """

    name: str
    value: float
    fmt: str
    source: str

    @property
    def text(self) -> str:
        """The value formatted (``n/a`` when undefined)."""
        return "n/a" if not math.isfinite(self.value) else format(self.value, self.fmt)


@dataclass(frozen=True)
class GroupTable:
    """Investment and service per group (echelon or ABC class), recommended vs today.

    Attributes:
        key: the grouping column.
        columns: column headers.
        rows: one list of cells (already formatted text) per group, then the total.
    """

    key: str
    columns: list[str]
    rows: list[list[str]]


def _col(rows: pd.DataFrame, name: str) -> np.ndarray:
    return np.asarray(rows[name].to_numpy(dtype=float, na_value=np.nan), dtype=float)


def level_units(rows: pd.DataFrame) -> np.ndarray:
    """The recommended level [units]: ``order_up_to`` where given, else ``base_stock_level``."""
    out = np.full(len(rows), np.nan)
    for name in ("base_stock_level", "order_up_to"):
        if name in rows.columns:
            v = _col(rows, name)
            out = np.where(np.isfinite(v), v, out)
    return out


def investment_at_level(rows: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Money tied up at the recommended level [currency] per row, and where it came from."""
    if "investment_at_level" in rows.columns:
        return _col(rows, "investment_at_level"), "column investment_at_level"
    return level_units(rows) * _col(rows, "unit_cost"), "computed here: order-up-to level x unit cost"


def safety_stock_value(rows: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Safety stock [currency] per row, and where it came from."""
    if "safety_stock_value" in rows.columns:
        return _col(rows, "safety_stock_value"), "column safety_stock_value"
    return _col(rows, "safety_stock") * _col(rows, "unit_cost"), "computed here: safety stock x unit cost"


def weighted_fill(rows: pd.DataFrame, fill_column: str = "expected_fill_rate") -> float:
    """Demand-weighted fill of the ``ok`` rows with demand (NaN without any)."""
    ok = (rows["status"] == "ok").to_numpy()
    demand = np.nan_to_num(_col(rows, "mean_demand_per_period"))[ok]
    fill = np.nan_to_num(_col(rows, fill_column))[ok]
    w = float(demand.sum())
    return float((fill * demand).sum() / w) if w > 0 else math.nan


def _ok_sum(rows: pd.DataFrame, values: np.ndarray) -> float:
    ok = (rows["status"] == "ok").to_numpy()
    return float(np.nansum(values[ok]))


def today_available(run: RunOutputs) -> bool:
    """The run evaluated today's policy (``current_*`` columns are in the recommendations)."""
    return run.has("current_expected_fill_rate") and run.has("current_investment_at_level")


def safety_stock_causes(run: RunOutputs) -> list[str]:
    """The ``safety_stock_from_*`` columns (the decomposition by cause)."""
    return run.columns_starting("safety_stock_from_")


def headline(run: RunOutputs) -> list[Headline]:
    """The portfolio summary's figures, customer-facing fill first."""
    rows, metrics = run.rows, dict(run.summary.get("metrics", {}))
    facing = rows[rows["echelon"] == 1]

    def metric(key: str, fallback: float, fallback_source: str) -> tuple[float, str]:
        for doc in (metrics, run.summary):
            if key in doc:
                v = doc[key]
                return (math.nan if v is None else float(v)), f"summary.json {key}"
        return fallback, fallback_source

    ok = rows["status"] == "ok"
    out: list[Headline] = []
    v, s = metric("customer_fill_rate_demand_weighted", weighted_fill(facing) if len(facing) else math.nan,
                  "customer-facing rows of recommendations.parquet")
    out.append(Headline("customer-facing fill rate (demand-weighted) [-]", v, ".4f", s))
    inv, inv_source = investment_at_level(rows)
    v, s = metric("investment_at_level_currency", _ok_sum(rows, inv), inv_source)
    out.append(Headline("investment at recommended levels (level x unit cost) [currency]", v, ",.0f", s))
    v, s = metric("expected_on_hand_value_currency", math.nan, "")
    if not math.isfinite(v) and not s:
        v, s = metric("inventory_investment_currency", _ok_sum(rows, _col(rows, "inventory_investment")),
                      "column inventory_investment")
    out.append(Headline("expected average on-hand value [currency]", v, ",.0f", s))
    v, s = metric("safety_stock_units", _ok_sum(rows, _col(rows, "safety_stock")), "column safety_stock")
    out.append(Headline("safety stock [units]", v, ",.0f", s))
    ssv, ssv_source = safety_stock_value(rows)
    out.append(Headline("safety stock value [currency]", _ok_sum(rows, ssv), ",.0f", ssv_source))
    out.append(Headline("SKU-locations", float(len(rows)), ",.0f", "rows of recommendations.parquet"))
    out.append(Headline("SKU-locations ok", float(ok.sum()), ",.0f", "status = ok"))
    out.append(Headline("SKU-locations error", float((~ok).sum()), ",.0f", "status != ok"))
    return out


def _money(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:,.0f}"


def _rate(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:.4f}"


def by_group(run: RunOutputs, key: str) -> GroupTable:
    """Investment and service per value of ``key`` (``echelon`` or ``abc_class``), plus a total.

    Recommended: SKU-locations, demand-weighted fill, safety stock [units] and value,
    investment at level, expected on-hand value [currency].  With today's policy evaluated
    (``current_*`` columns): today's fill and investment at level and the change.
    """
    rows = run.rows
    inv, _ = investment_at_level(rows)
    ssv, _ = safety_stock_value(rows)
    frame = rows.assign(_inv=inv, _ssv=ssv)
    today = today_available(run)
    columns = [key, "SKU-locations", "fill (demand-weighted)", "safety stock [units]",
               "safety stock value [currency]", "investment at level [currency]",
               "expected on-hand value [currency]"]
    if today:
        columns += ["today: fill", "today: investment at level [currency]", "change in investment [currency]"]
    out: list[list[str]] = []
    groups = [(str(k), g) for k, g in frame.groupby(key, sort=True)] + [("total", frame)]
    for name, g in groups:
        ok = g["status"] == "ok"
        rec_inv = float(np.nansum(g.loc[ok, "_inv"]))
        cells = [name, f"{len(g):,d}", _rate(weighted_fill(g)),
                 f"{np.nansum(g.loc[ok, 'safety_stock'].to_numpy(dtype=float, na_value=np.nan)):,.0f}",
                 _money(float(np.nansum(g.loc[ok, '_ssv']))), _money(rec_inv),
                 _money(float(np.nansum(g.loc[ok, 'inventory_investment'].to_numpy(dtype=float, na_value=np.nan))))]
        if today:
            cur_inv = float(np.nansum(g.loc[ok, "current_investment_at_level"].to_numpy(dtype=float, na_value=np.nan)))
            cells += [_rate(weighted_fill(g, "current_expected_fill_rate")), _money(cur_inv),
                      _money(rec_inv - cur_inv)]
        out.append(cells)
    return GroupTable(key=key, columns=columns, rows=out)


def safety_stock_by_echelon(run: RunOutputs, top: int = 15) -> tuple[pd.DataFrame, int]:
    """Safety stock value [currency] per network (rows) and echelon (columns), ``ok`` rows.

    Returns the ``top`` networks by total absolute safety stock value (largest first) and
    how many networks there are in all.
    """
    rows = run.rows
    ssv, _ = safety_stock_value(rows)
    frame = rows.assign(_ssv=ssv)[rows["status"] == "ok"]
    table = frame.pivot_table(index="network", columns="echelon", values="_ssv", aggfunc="sum", fill_value=0.0)
    order = table.abs().sum(axis=1).sort_values(ascending=False, kind="stable").index
    return table.loc[order[:top]], int(table.shape[0])


#: the figures of ``compared_with_today`` a planner reads first: key -> (label, format)
_COMPARED = {
    "customer_fill_rate_demand_weighted": ("customer-facing fill (demand-weighted) [-]", ".4f"),
    "investment_at_level_currency": ("investment at the levels [currency]", ",.0f"),
    "expected_on_hand_value_currency": ("expected average on-hand value [currency]", ",.0f"),
}


def compared_with_today(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``summary.json``'s ``compared_with_today`` as rows (figure, today, recommended, change).

    The known figures first, in :data:`_COMPARED` order, then any other figure the two
    sides share, then the counts of levels up / down / unchanged and the source.
    """
    section = summary.get("compared_with_today")
    if not isinstance(section, dict):
        return []
    today, rec = section.get("today") or {}, section.get("recommended") or {}

    def fmt(value: Any, spec: str) -> str:
        return "n/a" if not isinstance(value, int | float) else format(value, spec)

    out: list[tuple[str, str, str, str]] = []
    keys = [k for k in _COMPARED if k in today or k in rec]
    keys += sorted(k for k in set(today) | set(rec) if k not in _COMPARED)
    for key in keys:
        label, spec = _COMPARED.get(key, (key.replace("_", " "), ",.4f"))
        a, b = today.get(key), rec.get(key)
        change = (format(b - a, "+" + spec) if isinstance(a, int | float) and isinstance(b, int | float)
                  else "")
        out.append((label, fmt(a, spec), fmt(b, spec), change))
    counts = [(f"levels {k.removeprefix('levels_')}", section[k]) for k in ("levels_up", "levels_down",
                                                                          "levels_unchanged") if k in section]
    for label, n in counts:
        out.append((label, "", f"{n:,d}" if isinstance(n, int) else str(n), ""))
    for key in ("source", "sku_locations_compared"):
        if key in section:
            value = section[key]
            out.append((key.replace("_", " "), "", f"{value:,d}" if isinstance(value, int) else str(value), ""))
    return out
