"""Quick start: generate a dataset, run the whole pipeline in process, read the results.

Run it with ``python docs/examples/quickstart.py``; it writes into ./quickstart/.
"""

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.pipeline import run

work = Path("quickstart")
generate_dataset(work / "data", sku_locations=120, seed=1, overwrite=True)

config = load_config(
    overrides={
        "run": {"executor": "in_process", "seed": 42},   # default "auto": Ray from 10,000 SKU-locations
        "solver": {"replications": 50, "periods": 200},
        "tracking": {"uri": f"sqlite:///{work / 'mlflow.db'}"},
    }
)
result = run(work / "data", work / "out", config, overwrite=True)  # replaces an earlier run's results

rec = pq.read_table(result.recommendations_path)
print(f"{rec.num_rows} SKU-locations, {pc.sum(pc.equal(rec['status'], 'ok').cast('int64'))} ok")
print(rec.select(["sku", "location", "base_stock_level", "safety_stock", "expected_fill_rate", "fill_rate_se"]).slice(0, 5).to_pandas())
print({k: round(v, 3) for k, v in result.metrics.items()})
