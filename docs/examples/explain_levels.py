"""Why this level: run a small generated network, read the stock split and its causes.

Run it with ``python docs/examples/explain_levels.py``; it writes into ./explain_levels/.
See docs/explain.md for what each column means.
"""

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.pipeline import run

work = Path("explain_levels")
generate_dataset(work / "data", sku_locations=30, seed=4, overwrite=True)
config = load_config(
    overrides={
        "run": {"executor": "in_process", "seed": 42},
        # the default multi_echelon solver, with short simulations for a quick example
        "solver": {"replications": 4, "periods": 120, "search_replications": 1, "search_periods": 80},
        "tracking": {"uri": "none"},
    }
)
result = run(work / "data", work / "out", config, overwrite=True)
rec = pq.read_table(result.recommendations_path)
ok = rec.filter(pc.equal(rec["status"], "ok"))

for row in ok.slice(0, 4).to_pylist():
    print(f"{row['sku']} @ {row['location']}: {row['explanation']}")

causes = ["safety_stock_from_demand_variability", "safety_stock_from_lead_time_variability",
          "safety_stock_from_review_and_lot_size", "safety_stock_from_upstream", "safety_stock_from_other"]
total = sum(ok[c].to_numpy() for c in causes)
gap = float(np.max(np.abs(total - ok["safety_stock"].to_numpy())))
print(f"the causes add up to the safety stock on all {ok.num_rows} ok rows (largest gap {gap:.1e} units)")
assert gap < 1e-9

m = result.metrics
print(f"money at the recommended levels: {m['investment_at_level_currency']:,.0f}; "
      f"expected on-hand value: {m['expected_on_hand_value_currency']:,.0f}")
