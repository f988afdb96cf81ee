"""summary.json's customer-facing service: only stages with external demand and no customers."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from platform_core.components import RECOMMENDATION_SCHEMA
from platform_core.summary import summarise


def _table(fill: list[float], demand: list[float], status: list[str]) -> pa.Table:
    n = len(fill)
    cols = {f.name: pa.nulls(n, f.type) for f in RECOMMENDATION_SCHEMA}
    cols["status"] = pa.array(status, pa.string())
    cols["expected_fill_rate"] = pa.array(fill, pa.float64())
    cols["expected_cycle_service"] = pa.array(fill, pa.float64())
    cols["mean_demand_per_period"] = pa.array(demand, pa.float64())
    for name in ("inventory_investment", "safety_stock", "holding_cost_per_period", "stockout_cost_per_period"):
        cols[name] = pa.array([1.0] * n, pa.float64())
    return pa.table(cols, schema=RECOMMENDATION_SCHEMA)


def test_customer_facing_figures_weigh_only_those_stages() -> None:
    # a DC (derived demand 30, fill 0.6) over two stores (demand 10 and 20, fill 0.9 and 0.96)
    t = _table([0.6, 0.9, 0.96], [30.0, 10.0, 20.0], ["ok"] * 3)
    m = summarise(t, customer_facing=[False, True, True])
    assert m["customer_fill_rate_demand_weighted"] == pytest.approx((0.9 * 10 + 0.96 * 20) / 30)
    assert m["fill_rate_demand_weighted"] == pytest.approx((0.6 * 30 + 0.9 * 10 + 0.96 * 20) / 60)
    assert m["inventory_investment_currency"] == 3.0  # money still over every stage
    assert "customer_fill_rate_demand_weighted" not in summarise(t)


def test_customer_facing_needs_one_flag_per_row_and_skips_errors() -> None:
    t = _table([0.6, 0.9], [30.0, 10.0], ["ok", "error"])
    with pytest.raises(ValueError, match="3 entries for 2 rows"):
        summarise(t, customer_facing=[True, True, False])
    m = summarise(t, customer_facing=[False, True])
    assert math.isnan(m["customer_fill_rate_demand_weighted"])  # its only stage is an error
