"""The ``margin_risk`` cost model: stockout cost from lost margin, expediting and churn.

A unit short is, with probability ``lost_sale_fraction``, a lost sale (its margin
``price - unit_cost`` is lost) and otherwise backordered and expedited (at
``expedite_cost_fraction x unit_cost`` per unit).  In addition, each unit short puts the
customer at risk: with probability ``customer_loss_probability`` the customer is lost,
with ``customer_value_periods`` periods of the stage's mean margin-per-unit as its value.
Per unit short [currency/unit]::

    p = f_lost * margin + (1 - f_lost) * e * unit_cost + q_loss * margin * V

Per-stage columns of ``stages`` (or of the ``costs`` overrides) named
``lost_sale_fraction``, ``expedite_cost``  [currency/unit], ``customer_loss_probability``
take precedence over the parameters where the data has them; a ``stockout_cost`` override
replaces ``p`` entirely.  As in the standard model, internal stages (price not above unit
cost) get the floor of ``min_stockout_periods`` periods of holding cost, and the holding
cost is ``unit_cost x carrying_rate x period_days / 365``.  The cost-optimal service is the
critical ratio ``p / (p + h)``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from platform_core.components import CostModel, StageCosts
from platform_core.data.columns import float_column

__all__ = ["MarginRiskCostModel", "EXTRA_COST_MODELS"]


class MarginRiskCostModel(CostModel):
    """Stockout cost from lost margin, expediting and customer-loss risk.

    Args:
        lost_sale_fraction: share of units short that are lost sales [-].
        expedite_cost_fraction: expediting cost per backordered unit as a fraction of
            its unit cost [-].
        customer_loss_probability: probability that a unit short loses the customer [-].
        customer_value_periods: customer value in units of the per-unit margin [-]
            (future units bought by a retained customer).
        min_stockout_periods: floor of the stockout cost in periods of holding cost.
    """

    def __init__(
        self,
        lost_sale_fraction: float = 0.5,
        expedite_cost_fraction: float = 0.1,
        customer_loss_probability: float = 0.01,
        customer_value_periods: float = 20.0,
        min_stockout_periods: float = 4.0,
    ) -> None:
        for name, v in (("lost_sale_fraction", lost_sale_fraction),
                        ("customer_loss_probability", customer_loss_probability)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if expedite_cost_fraction < 0 or customer_value_periods < 0 or min_stockout_periods < 0:
            raise ValueError("costs and periods must be >= 0")
        self.lost_sale_fraction = lost_sale_fraction
        self.expedite_cost_fraction = expedite_cost_fraction
        self.customer_loss_probability = customer_loss_probability
        self.customer_value_periods = customer_value_periods
        self.min_stockout_periods = min_stockout_periods

    def stage_costs(self, stages: pa.Table, overrides: pa.Table | None, period_days: float) -> StageCosts:
        """Costs per stage row (see the module doc for the formula)."""
        unit_cost = float_column(stages, "unit_cost", 0.0)
        price = float_column(stages, "price", 0.0)
        rate = float_column(stages, "carrying_rate", 0.25)
        ordering = float_column(stages, "ordering_cost", 0.0)
        lost = float_column(stages, "lost_sale_fraction", self.lost_sale_fraction)
        expedite = float_column(stages, "expedite_cost", np.nan)
        expedite = np.where(np.isnan(expedite), self.expedite_cost_fraction * unit_cost, expedite)
        q_loss = float_column(stages, "customer_loss_probability", self.customer_loss_probability)
        holding_year = unit_cost * rate
        override_p = np.full(stages.num_rows, np.nan)
        if overrides is not None and overrides.num_rows:
            pos = {
                k: i for i, k in enumerate(zip(stages.column("sku").to_pylist(),
                                               stages.column("location").to_pylist(), strict=True))
            }
            rows = [pos.get(k) for k in zip(overrides.column("sku").to_pylist(),
                                            overrides.column("location").to_pylist(), strict=True)]
            targets = {"holding_cost": holding_year, "stockout_cost": override_p, "ordering_cost": ordering,
                       "lost_sale_fraction": lost, "expedite_cost": expedite,
                       "customer_loss_probability": q_loss}
            for col, target in targets.items():
                if col not in overrides.column_names:
                    continue
                for r, v in zip(rows, overrides.column(col).to_pylist(), strict=True):
                    if r is not None and v is not None:
                        target[r] = v
        margin = np.maximum(price - unit_cost, 0.0)
        stockout = (lost * margin + (1.0 - lost) * expedite
                    + q_loss * margin * self.customer_value_periods)
        stockout = np.where(np.isnan(override_p), stockout, override_p)
        holding = holding_year * float(period_days) / 365.0
        stockout = np.maximum(stockout, self.min_stockout_periods * holding)
        den = stockout + holding
        ratio = np.where(den > 0, stockout / np.where(den > 0, den, 1.0), 0.5)
        return StageCosts(holding, stockout, ordering, ratio)


EXTRA_COST_MODELS: dict[str, type[CostModel]] = {"margin_risk": MarginRiskCostModel}
