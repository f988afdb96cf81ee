"""Promised against realised fill per demand class: is the plan keeping its promise?

Over the ledger's ``adopted`` rows (the recommended level was in force, so the run's
promise applies) with demand, each SKU-location's realised fill (sales / demand over its
adopted periods) is compared with its promised fill.  Per demand class: the mean
shortfall ``promised - realised`` [-], its cluster-robust (network) standard error
(CR1 of a mean), and the one-sided t statistic (``networks - 1`` degrees of freedom).

A class **drifts** (:func:`flag_promise_drift`) when its shortfall is above a material
``tolerance`` *and* beyond noise: the one-sided p-value is below ``alpha`` divided by the
number of classes judged (Bonferroni), with at least ``min_units`` SKU-locations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["promise_by_class", "flag_promise_drift", "PROMISE_COLUMNS"]

PROMISE_COLUMNS = ("demand_class", "units", "networks", "unit_periods", "promised_fill", "realised_fill",
                   "shortfall", "se", "t_stat", "p_value")


def promise_by_class(ledger: pd.DataFrame) -> pd.DataFrame:
    """Shortfall of realised against promised fill per demand class (module docstring)."""
    rows = ledger[(ledger["status"] == "adopted") & (ledger["demand_units"] > 0)]
    per_unit = rows.groupby(["sku", "location"], sort=True).agg(
        demand_class=("demand_class", "first"), network=("network", "first"), promised=("promised_fill", "first"),
        demand=("demand_units", "sum"), sales=("sales_units", "sum"), periods=("period", "size"))
    per_unit["realised"] = per_unit["sales"] / per_unit["demand"]
    per_unit["gap"] = per_unit["promised"] - per_unit["realised"]
    out = []
    for cls, part in per_unit.groupby("demand_class", sort=True):
        gap = part["gap"].to_numpy(dtype=np.float64)
        n = gap.size
        _, g = np.unique(part["network"].to_numpy(), return_inverse=True)
        G = int(g.max()) + 1
        mean = float(gap.mean())
        sums = np.bincount(g, weights=gap - mean, minlength=G)
        se = float(np.sqrt(G / (G - 1) * float((sums ** 2).sum())) / n) if G > 1 else float("nan")
        t_stat = mean / se if se > 0 else float("nan")
        p = float(stats.t.sf(t_stat, G - 1)) if np.isfinite(t_stat) else float("nan")
        out.append({"demand_class": str(cls), "units": n, "networks": G, "unit_periods": int(part["periods"].sum()),
                    "promised_fill": float(part["promised"].mean()), "realised_fill": float(part["realised"].mean()),
                    "shortfall": mean, "se": se, "t_stat": t_stat, "p_value": p})
    return pd.DataFrame(out, columns=list(PROMISE_COLUMNS))


def flag_promise_drift(promise: pd.DataFrame, *, alpha: float = 0.01, tolerance: float = 0.02,
                       min_units: int = 10) -> pd.Series:
    """Per row of :func:`promise_by_class`: whether the class drifts (module docstring)."""
    judged = promise["units"] >= min_units
    k = max(int(judged.sum()), 1)
    flagged = judged & (promise["shortfall"] > tolerance) & (promise["p_value"] < alpha / k)
    return flagged.fillna(False).astype(bool)
