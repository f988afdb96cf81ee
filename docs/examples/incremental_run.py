"""Re-plan between cycles: sense what changed since the last run, re-plan only those networks.

Run it with ``python docs/examples/incremental_run.py``; it writes into ./incremental_run/.
Last cycle's data is a generated dataset without its last week; this cycle's data has the
week back, with one store's demand far above anything in its history.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.incremental import run_since
from platform_core.pipeline import run

work = Path("incremental_run")
shutil.rmtree(work, ignore_errors=True)
generate_dataset(work / "generated", sku_locations=60, seed=4, periods=40)
last_cycle, this_cycle = work / "last_week", work / "this_week"
for cycle in (last_cycle, this_cycle):
    shutil.copytree(work / "generated", cycle, ignore=shutil.ignore_patterns("demand.parquet", "truth", "*.json"))

demand = pq.read_table(work / "generated" / "demand.parquet")
day = demand.column("period").cast(pa.int32()).to_numpy()
pq.write_table(demand.filter(pa.array(day < day.max())), last_cycle / "demand.parquet")
# this week, the busiest store sells twenty times its usual
busiest = demand.group_by(["sku", "location"]).aggregate([("quantity", "mean")]).sort_by(
    [("quantity_mean", "descending")]).slice(0, 1).to_pylist()[0]
spike = pa.array((np.asarray(demand.column("sku").to_pylist()) == busiest["sku"])
                 & (np.asarray(demand.column("location").to_pylist()) == busiest["location"]) & (day == day.max()))
quantity = pc.if_else(spike, 20.0 * busiest["quantity_mean"], demand.column("quantity"))
pq.write_table(demand.set_column(demand.column_names.index("quantity"), "quantity", quantity),
               this_cycle / "demand.parquet")

config = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                "components": {"solver": "single_echelon"},
                                "solver": {"replications": 20, "periods": 150}})
run(last_cycle, work / "out_last_week", config, progress=False)          # the full run of last cycle
result = run_since(this_cycle, work / "out_this_week", config, since=work / "out_last_week")

rec = pq.read_table(result.recommendations_path)
replanned = rec.filter(pc.invert(pc.is_null(rec["changed_because"])))
print(replanned.select(["sku", "location", "base_stock_level", "changed_because"]).to_pandas().to_string())
section = json.loads((work / "out_this_week" / "summary.json").read_text())["incremental"]
print(f"re-planned {section['sku_locations_replanned']} of {rec.num_rows} SKU-locations "
      f"({section['networks_replanned']} of {section['networks_total']} networks); alarms: {section['alarms_by_reason']}")
