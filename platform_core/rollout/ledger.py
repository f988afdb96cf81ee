"""The outcome ledger: one row per SKU-location and period, promise against outcome.

For every row of the outcome periods: its wave and group, whether the period is before
(``pre``) or from (``post``) its wave's start, the promised fill (the run's expected fill
at the recommended level) against the realised fill (sales / demand), the recommended
against the used level and expected against actual on-hand, and the status:

* ``adopted`` — treatment, post, the level used is the recommended one (within half a unit);
* ``overridden`` — treatment, post, another level; ``override_units`` = used - recommended;
* ``today`` — before the wave starts, or in the control group (today's policy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from platform_core.rollout.plan import RolloutPlan
from platform_core.rollout.units import RolloutUnits

__all__ = ["build_ledger", "LEDGER_COLUMNS", "LEVEL_TOLERANCE_UNITS"]

#: A used level within this of the recommended one counts as adopted [units].
LEVEL_TOLERANCE_UNITS = 0.5
#: Columns of the ledger.
LEDGER_COLUMNS = ("sku", "location", "period", "network", "wave", "group", "wave_start", "phase", "status",
                  "abc_class", "demand_class", "demand_units", "sales_units", "realised_fill", "promised_fill",
                  "today_fill", "recommended_level", "today_level", "level_used_units", "override_units",
                  "on_hand_units", "recommended_on_hand_units", "unit_cost", "on_hand_value",
                  "recommended_on_hand_value")


def build_ledger(units: RolloutUnits, plan: RolloutPlan, outcomes: pa.Table) -> pd.DataFrame:
    """The outcome ledger of validated outcome periods (see the module docstring).

    Args:
        units: the run's SKU-locations.
        plan: the rollout plan of the run.
        outcomes: the outcome periods (:func:`platform_core.rollout.outcome_data.load_outcome_periods`).

    Returns:
        One row per outcome row, columns :data:`LEDGER_COLUMNS`, sorted by SKU-location and
        period (``period`` and ``wave_start`` as ``datetime64``).
    """
    o = outcomes.select([c for c in outcomes.column_names]).to_pandas()
    o["sku"] = o["sku"].astype(str)
    o["location"] = o["location"].astype(str)
    o["period"] = pd.to_datetime(o["period"])
    p = plan.table[["sku", "location", "network", "wave", "group", "wave_start"]]
    u = units.table[["sku", "location", "abc_class", "demand_class", "promised_fill", "today_fill",
                     "recommended_level", "today_level", "recommended_on_hand_units", "unit_cost"]]
    led = o.merge(p, on=["sku", "location"], how="inner").merge(u, on=["sku", "location"], how="left")
    led["wave_start"] = pd.to_datetime(led["wave_start"])
    post = (led["period"] >= led["wave_start"]).to_numpy()
    led["phase"] = np.where(post, "post", "pre")
    treated = post & (led["group"] == "treatment").to_numpy()
    diff = (led["level_used_units"] - led["recommended_level"]).to_numpy(dtype=np.float64)
    adopted = treated & (np.abs(diff) <= LEVEL_TOLERANCE_UNITS)
    led["status"] = np.where(adopted, "adopted", np.where(treated, "overridden", "today"))
    led["override_units"] = np.where(treated & ~adopted, diff, np.where(adopted, 0.0, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        led["realised_fill"] = np.where(led["demand_units"] > 0, led["sales_units"] / led["demand_units"], np.nan)
    led["on_hand_value"] = led["on_hand_units"] * led["unit_cost"]
    led["recommended_on_hand_value"] = led["recommended_on_hand_units"] * led["unit_cost"]
    led = led.sort_values(["sku", "location", "period"], kind="stable").reset_index(drop=True)
    return led[list(LEDGER_COLUMNS)]
