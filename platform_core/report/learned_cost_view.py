"""The report's learned-cost section: stockout costs a cost model learned, and why.

Shown when the recommendations carry ``learned_stockout_cost`` and ``learned_cost_driver``
(the ``learned`` cost model, docs/costs.md): the SKU-locations per driver, and the
costliest stockouts with their intervals and drivers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from platform_core.report.outputs import RunOutputs

__all__ = ["LearnedCostView", "learned_cost_view"]


@dataclass(frozen=True)
class LearnedCostView:
    """What the learned-cost section shows.

    Attributes:
        drivers: one dict per driver (driver, stages, median stockout cost [currency/unit]).
        top: the costliest stockouts (sku, location, driver, cost, lo, hi [currency/unit],
            switch probability, volume loss [-], service target [-]).
    """

    drivers: list[dict[str, Any]] = field(default_factory=list)
    top: list[dict[str, Any]] = field(default_factory=list)


def _col(rows: Any, name: str) -> np.ndarray:
    if name not in rows.columns:
        return np.full(len(rows), np.nan)
    return np.asarray(rows[name].to_numpy(dtype=float, na_value=np.nan), dtype=float)


def learned_cost_view(run: RunOutputs, top: int = 10) -> LearnedCostView | None:
    """The learned stockout costs of the run (None: its recommendations carry none)."""
    rows = run.rows
    if "learned_stockout_cost" not in rows.columns or "learned_cost_driver" not in rows.columns:
        return None
    cost = _col(rows, "learned_stockout_cost")
    driver = rows["learned_cost_driver"].fillna("").astype(str).to_numpy()
    drivers = [{"driver": d or "(none)", "stages": int((driver == d).sum()),
                "median_cost": float(np.nanmedian(cost[driver == d])) if np.isfinite(cost[driver == d]).any()
                else float("nan")}
               for d in sorted(set(driver.tolist()), key=lambda d: -(driver == d).sum())]
    lo, hi = _col(rows, "learned_stockout_cost_lo"), _col(rows, "learned_stockout_cost_hi")
    p, v, target = (_col(rows, "learned_switch_probability"), _col(rows, "learned_volume_loss"),
                    _col(rows, "service_target"))
    order = np.argsort(-np.nan_to_num(cost, nan=-np.inf), kind="stable")[:top]
    tops = [{"sku": rows["sku"].iloc[i], "location": rows["location"].iloc[i], "driver": driver[i],
             "cost": float(cost[i]), "lo": float(lo[i]), "hi": float(hi[i]), "switch_probability": float(p[i]),
             "volume_loss": float(v[i]), "service_target": float(target[i])} for i in order.tolist()]
    return LearnedCostView(drivers=drivers, top=tops)
