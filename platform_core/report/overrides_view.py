"""The report's overrides section: each planner's override and what it costs.

The run's ``override*`` columns (docs/overrides.md): ``override`` is the row's own
override (``""`` on the other rows of a network that has one, null elsewhere),
``override_level_change`` [units] is per row, and ``override_cost_per_period``
[currency/period], ``override_investment_change`` [currency] and
``override_service_change`` [-] are per network, repeated on each of its rows: they are
counted once per network here, never summed over rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from platform_core.report.figures_data import level_units
from platform_core.report.outputs import RunOutputs

__all__ = ["OverridesView", "overrides_view", "NETWORK_COLUMNS"]

#: Per-network columns (the same value on every row of the network).
NETWORK_COLUMNS = ("override_cost_per_period", "override_investment_change", "override_service_change")


@dataclass(frozen=True)
class OverridesView:
    """What the overrides section shows.

    Attributes:
        overrides: one dict per overridden SKU-location (sku, location, network, override,
            level, level_change), in recommendations order.
        networks: one dict per network with an override (network, overrides,
            cost_per_period, investment_change, service_change), in first-row order.
        total_cost_per_period: sum over networks [currency/period] (NaN: none).
        total_investment_change: sum over networks [currency] (NaN: none).
        note: why networks are not broken down (empty when they are).
    """

    overrides: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    total_cost_per_period: float = math.nan
    total_investment_change: float = math.nan
    note: str = ""


def _num(frame: pd.DataFrame, name: str) -> np.ndarray:
    return np.asarray(frame[name].to_numpy(dtype=float, na_value=np.nan), dtype=float)


def overrides_view(run: RunOutputs) -> OverridesView | None:
    """The overrides of the run (None: its recommendations carry no override columns or none is set)."""
    rows = run.rows
    if "override" not in rows.columns:
        return None
    text = rows["override"]
    own = text.notna() & (text.astype(str) != "")
    if not own.any():
        return None
    level = level_units(rows)
    change = _num(rows, "override_level_change") if "override_level_change" in rows.columns else \
        np.full(len(rows), np.nan)
    network = rows["network"].astype(str) if "network" in rows.columns else pd.Series(["unknown"] * len(rows))
    overrides = [{"sku": rows["sku"].iloc[i], "location": rows["location"].iloc[i], "network": network.iloc[i],
                  "override": str(text.iloc[i]), "level": float(level[i]), "level_change": float(change[i])}
                 for i in np.flatnonzero(own.to_numpy())]
    summary = dict(run.summary.get("metrics", {}))
    tot_cost = summary.get("override_cost_per_period_total")
    tot_inv = summary.get("override_investment_change_total")
    known = run.input_dir is not None and all(c in rows.columns for c in NETWORK_COLUMNS)
    if not known:
        return OverridesView(
            overrides=overrides,
            total_cost_per_period=math.nan if tot_cost is None else float(tot_cost),
            total_investment_change=math.nan if tot_inv is None else float(tot_inv),
            note="the run's input is unknown (or its override cost columns are missing): no breakdown by network; "
                 "totals from summary.json.")
    with_override = rows["override"].notna()  # every row of a network with an override
    frame = rows.loc[with_override, ["network", *NETWORK_COLUMNS]].assign(_own=own[with_override].to_numpy())
    networks = []
    for name, g in frame.groupby("network", sort=False):
        first = g.iloc[0]
        networks.append({"network": str(name), "overrides": int(g["_own"].sum()),
                         "cost_per_period": float(first["override_cost_per_period"]),
                         "investment_change": float(first["override_investment_change"]),
                         "service_change": float(first["override_service_change"])})
    cost = float(np.nansum([n["cost_per_period"] for n in networks]))
    inv = float(np.nansum([n["investment_change"] for n in networks]))
    return OverridesView(overrides=overrides, networks=networks, total_cost_per_period=cost,
                         total_investment_change=inv)
