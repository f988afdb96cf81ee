"""Compared with today: the recommendation next to today's policy, and the exception lists.

Run it with ``python docs/examples/compare_with_today.py``; it writes into ./compare_with_today/.
The generated dataset carries a plausible, uneven ``current_policy`` table.
"""

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.pipeline import run

work = Path("compare_with_today")
generate_dataset(work / "data", sku_locations=60, seed=1, overwrite=True)
config = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                "solver": {"replications": 20, "periods": 150}})
result = run(work / "data", work / "out", config, overwrite=True, progress=False)

rec = pq.read_table(result.recommendations_path)
print(rec.select(["sku", "location", "current_level", "base_stock_level", "current_expected_fill_rate",
                  "expected_fill_rate", "change_driver"]).slice(0, 6).to_pandas().to_string())
totals = json.loads((work / "out" / "summary.json").read_text())["compared_with_today"]
for side in ("today", "recommended"):
    t = totals[side]
    print(f"{side:>11}: investment at level {t['investment_at_level_currency']:>10,.0f}, "
          f"expected on-hand value {t['expected_on_hand_value_currency']:>10,.0f}, "
          f"customer fill {t['customer_fill_rate_demand_weighted']:.3f}")

exceptions = pq.read_table(work / "out" / "exceptions.parquet")
top = exceptions.filter(pc.equal(exceptions["rank"], 1))
for row in top.to_pylist():
    print(f"{row['list']:>19}: {row['sku']}@{row['location']}: {row['reason']}")
