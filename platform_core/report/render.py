"""Assemble the report: gather the figures, draw the plots, fill the Jinja2 template.

The page is one self-contained HTML file: inline CSS and JavaScript, plots as inline SVG,
the drill-down's data as embedded JSON; it loads nothing from anywhere.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from platform_core.data.loaders import find_file
from platform_core.data.schemas import CURRENT_POLICY
from platform_core.report import plots
from platform_core.report.drilldown import MAX_DRILLDOWN_ROWS, drilldown_json
from platform_core.report.figures_data import (
    by_group,
    compared_with_today,
    headline,
    investment_at_level,
    safety_stock_by_echelon,
    today_available,
    weighted_fill,
)
from platform_core.report.learned_cost_view import learned_cost_view
from platform_core.report.outcomes_view import outcomes_view
from platform_core.report.outputs import RunOutputs, load_run_outputs
from platform_core.report.overrides_view import overrides_view

__all__ = ["ReportResult", "build_report", "EXCEPTION_LISTS", "EXCEPTIONS_SHOWN"]

#: The exception lists in the order the report shows them (others follow, by name).
EXCEPTION_LISTS = ("large_change", "under_served_today", "overstock_today", "counter_intuitive", "not_solved")
#: Rows shown per exception list (the drill-down holds every exception row).
EXCEPTIONS_SHOWN = 25


@dataclass(frozen=True)
class ReportResult:
    """What ``build_report`` wrote.

    Attributes:
        path: the HTML file.
        drilldown_rows: SKU-locations embedded in the drill-down.
        total_rows: SKU-locations in the run.
        notes: what the report says is missing.
    """

    path: Path
    drilldown_rows: int
    total_rows: int
    notes: list[str]


def _today_missing(run: RunOutputs) -> str:
    if today_available(run):
        return ""
    has_input_policy = run.input_dir is not None and find_file(run.input_dir, CURRENT_POLICY) is not None
    if has_input_policy:
        return ("current_policy is given in the input, but this run did not evaluate it (no current_* columns "
                "in recommendations.parquet): no comparison with today.")
    return "no current_policy given: no comparison with today."


def _exception_lists(run: RunOutputs) -> tuple[list[dict[str, Any]], str]:
    ex = run.exceptions
    if ex is None:
        bad = run.rows[run.rows["status"] != "ok"]
        rows = [{"rank": i + 1, "sku": r.sku, "location": r.location, "magnitude": "",
                 "reason": f"status {r.status}: {getattr(r, 'message', '') or ''}"}
                for i, r in enumerate(bad.head(EXCEPTIONS_SHOWN).itertuples())]
        lists = [{"name": "not solved (status != ok in recommendations.parquet)", "count": len(bad), "rows": rows}]
        return lists, ("no exceptions.parquet in the output: this run did not rank exceptions (large changes, "
                       "under-service and overstock of today's policy, counter-intuitive moves); only the rows "
                       "the solver could not solve are listed.")
    names = [n for n in EXCEPTION_LISTS if n in set(ex["list"])]
    names += sorted(set(ex["list"].astype(str)) - set(names))
    out = []
    for name in names:
        sub = ex[ex["list"] == name].sort_values("rank", kind="stable")
        rows = [{"rank": int(r.rank), "sku": r.sku, "location": r.location,
                 "magnitude": "" if pd.isna(r.magnitude) else f"{float(r.magnitude):,.2f} {r.magnitude_unit}",
                 "reason": r.reason}
                for r in sub.head(EXCEPTIONS_SHOWN).itertuples()]
        out.append({"name": name, "count": len(sub), "rows": rows})
    return out, ("" if out else "exceptions.parquet is empty: nothing needs a person.")


def _group_section(run: RunOutputs, key: str, anchor: str, title: str, explain: str) -> dict[str, Any]:
    table = by_group(run, key)
    rows = run.rows
    inv, _ = investment_at_level(rows)
    ok = (rows["status"] == "ok").to_numpy()
    labels = [r[0] for r in table.rows[:-1]]
    keys = rows[key].astype(str).to_numpy()
    rec = [float(np.nansum(inv[ok & (keys == g)])) for g in labels]
    today = None
    if today_available(run):
        cur = rows["current_investment_at_level"].to_numpy(dtype=float, na_value=np.nan)
        today = [float(np.nansum(cur[ok & (keys == g)])) for g in labels]
    names = [("customer-facing" if g == "1" else f"echelon {g}") for g in labels] if key == "echelon" else labels
    plot = plots.group_bar_plot(names, rec, today, "investment at level [currency]")
    return {"anchor": anchor, "title": title, "explain": explain, "table": table, "plot": plot}


def _frontier_rows(frontier: pd.DataFrame | None) -> list[list[str]]:
    """The frontier's points as table cells (shift, fill, investment at level, on-hand value)."""
    if frontier is None:
        return []
    out = []
    for r in frontier.sort_values("target_shift", kind="stable").itertuples():
        shift = "recommended (0)" if bool(r.recommended) else f"{float(r.target_shift):+.3f}"
        out.append([shift, _fmt(float(r.customer_fill_rate_demand_weighted), ".4f"),
                    _fmt(float(r.investment_at_level_currency), ",.0f"),
                    _fmt(float(r.expected_on_hand_value_currency), ",.0f")])
    return out


def _fmt(value: float, spec: str) -> str:
    return "n/a" if not math.isfinite(value) else format(value, spec)


def _frontier(run: RunOutputs, customer_fill: float) -> tuple[str, str]:
    rows = run.rows
    ok = (rows["status"] == "ok").to_numpy()
    on_hand_value = float(np.nansum(rows["inventory_investment"].to_numpy(dtype=float, na_value=np.nan)[ok]))
    points = {"recommended": (on_hand_value, customer_fill)}
    if today_available(run) and run.has("current_mean_on_hand"):
        cur_value = rows["current_mean_on_hand"].to_numpy(dtype=float, na_value=np.nan) * rows["unit_cost"].to_numpy(
            dtype=float, na_value=np.nan)
        facing = rows[rows["echelon"] == 1]
        points["today"] = (float(np.nansum(cur_value[ok])), weighted_fill(facing, "current_expected_fill_rate"))
    solver = str(run.summary.get("components", {}).get("solver", {}).get("name", "unknown"))
    if run.frontier is not None:
        text = ("Curve: the efficient frontier in frontier.parquet: every customer-facing stage's fill target "
                "moved by the same shift (its level read off the run's final simulation, on the same paths), "
                "internal stages held at their recommended levels, so it is the frontier of customer-facing stock "
                "given the chosen network placement; points: this run's recommended policy (shift 0, on the curve)")
    else:
        text = (f"No efficient frontier in this output: the run's solver ({solver}) does not write one "
                "(multi_echelon, the default, does: OUT/frontier.parquet, docs/report.md). Shown instead, not a "
                "frontier: the portfolio point of the recommended policy")
    text += (" and of today's policy, both on the same engine" if "today" in points else
             "; today's policy was not evaluated by this run") + " (x: expected average on-hand value of all " \
        "stages; y: customer-facing fill)."
    return text, plots.frontier_plot(points, run.frontier)


def build_report(out_dir: str | os.PathLike[str], html_path: str | os.PathLike[str] | None = None,
                 data_dir: str | os.PathLike[str] | None = None,
                 max_drilldown_rows: int = MAX_DRILLDOWN_ROWS) -> ReportResult:
    """Write the run's HTML report (default ``OUT/report.html``).

    Args:
        out_dir: the run's output directory.
        html_path: where to write the page.
        data_dir: the run's input directory (default: ``summary.json``'s ``input_dir``).
        max_drilldown_rows: most SKU-locations embedded in the drill-down.

    Raises:
        ReportInputError: the output cannot be read (see :func:`load_run_outputs`).
    """
    run = load_run_outputs(out_dir, data_dir)
    heads = headline(run)
    today_missing = _today_missing(run)
    known = run.input_dir is not None
    groups = []
    if known:
        groups.append(_group_section(
            run, "echelon", "echelon", "echelon",
            "Echelon from the input's edges: 1 = customer-facing (no stage downstream), 2 = the stages that feed "
            "them, and so on. Fill of an internal echelon is the fill its downstream stages see, not customers."))
        source = str(run.rows["abc_source"].iloc[0]) if len(run.rows) else "input"
        groups.append(_group_section(
            run, "abc_class", "abc", "ABC class",
            "ABC class from the input's stages table." if source == "input" else
            "ABC class computed from customer-facing demand value: A up to 80 % of it, B up to 95 %, C the rest."))
    placement, n_networks = safety_stock_by_echelon(run)
    frontier_text, frontier_svg = _frontier(run, heads[0].value)
    overrides = overrides_view(run)
    learned_cost = learned_cost_view(run)
    exception_lists, exceptions_missing = _exception_lists(run)
    total = len(run.rows)
    bound_note = ("" if total <= max_drilldown_rows else
                  f"It holds {max_drilldown_rows:,d} of the {total:,d} SKU-locations; every row is in "
                  "recommendations.csv / report.xlsx.")
    dd_json, dd_rows = drilldown_json(run, max_drilldown_rows, {"today_missing": today_missing,
                                                                "bound_note": bound_note})
    dd_text = (f"All {total:,d} SKU-locations of the run." if dd_rows == total else
               f"{dd_rows:,d} of {total:,d} SKU-locations (the report embeds at most {max_drilldown_rows:,d}: "
               "every exception row first, then by investment at level); the full table is "
               "recommendations.csv / report.xlsx (echelon report --csv --xlsx).")
    dd_text += " Type words of the SKU and location; choose a row to see its policy, why its level, and today's."
    env = Environment(loader=PackageLoader("platform_core.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    page = env.get_template("report.html.j2").render(
        run_label=str(run.summary.get("run_id", "unknown"))[:8], n_rows=f"{total:,d}",
        solver=run.summary.get("components", {}).get("solver", {}).get("name", "unknown"),
        out_dir=str(run.out_dir), notes=run.notes, headline=heads,
        compared=compared_with_today(run.summary), today_missing=today_missing, groups=groups,
        frontier_text=frontier_text, frontier_svg=frontier_svg, frontier_rows=_frontier_rows(run.frontier),
        overrides=overrides, learned_cost=learned_cost, fmt=_fmt, outcomes=outcomes_view(run.out_dir),
        constraints=run.summary.get("constraints") or [], allocation=run.summary.get("allocation") or {},
        placement_svg=plots.safety_stock_plot(placement) if len(placement) else "<p>no ok rows</p>",
        placement_shown=len(placement), placement_total=n_networks,
        exception_lists=exception_lists, exceptions_missing=exceptions_missing,
        drilldown_text=dd_text, drilldown_json=dd_json,
    )
    path = Path(html_path) if html_path is not None else Path(out_dir) / "report.html"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return ReportResult(path=path, drilldown_rows=dd_rows, total_rows=total, notes=list(run.notes))
