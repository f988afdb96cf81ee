"""The standard cost model.

* holding cost [currency/unit/period] = unit_cost [currency/unit] x carrying_rate
  [1/year] x period_days / 365;
* stockout cost [currency/unit short] = the lost margin ``price - unit_cost`` plus a
  goodwill charge ``goodwill_fraction x price``; where the price does not exceed the
  unit cost (internal transfer prices) the floor ``min_stockout_periods`` periods of
  holding cost applies, so upstream shortages are never free;
* the cost-optimal service level is the critical ratio p / (p + h).

A ``costs`` file overrides any of the three per SKU-location (holding_cost there is per
year and converted to the period).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from platform_core.components import CostModel, StageCosts
from platform_core.data.columns import float_column

__all__ = ["StandardCostModel"]


class StandardCostModel(CostModel):
    """Holding from carrying rate, stockout from margin, critical-ratio service.

    Args:
        goodwill_fraction: extra stockout charge as a fraction of the price [-].
        min_stockout_periods: floor of the stockout cost in periods of holding cost.
    """

    def __init__(self, goodwill_fraction: float = 0.0, min_stockout_periods: float = 4.0) -> None:
        self.goodwill_fraction = goodwill_fraction
        self.min_stockout_periods = min_stockout_periods

    def stage_costs(self, stages: pa.Table, overrides: pa.Table | None, period_days: float) -> StageCosts:
        """Costs per stage row."""
        unit_cost = float_column(stages, "unit_cost", 0.0)
        price = float_column(stages, "price", 0.0)
        rate = float_column(stages, "carrying_rate", 0.25)
        ordering = np.nan_to_num(float_column(stages, "ordering_cost", 0.0), nan=0.0)
        holding_year = unit_cost * rate
        margin = np.maximum(price - unit_cost, 0.0)
        stockout = margin + self.goodwill_fraction * price
        if overrides is not None and overrides.num_rows:
            pos = {
                (s, loc): i
                for i, (s, loc) in enumerate(
                    zip(stages.column("sku").to_pylist(), stages.column("location").to_pylist(), strict=True)
                )
            }
            rows = [pos.get(k) for k in zip(overrides.column("sku").to_pylist(), overrides.column("location").to_pylist(), strict=True)]
            for col, target in (("holding_cost", holding_year), ("stockout_cost", stockout), ("ordering_cost", ordering)):
                if col not in overrides.column_names:
                    continue
                for r, v in zip(rows, overrides.column(col).to_pylist(), strict=True):
                    if r is not None and v is not None:
                        target[r] = v
        holding = holding_year * float(period_days) / 365.0
        stockout = np.maximum(stockout, self.min_stockout_periods * holding)
        denom = stockout + holding
        ratio = np.where(denom > 0, stockout / np.where(denom > 0, denom, 1.0), 0.5)
        return StageCosts(holding, stockout, ordering, ratio)
