"""A component exposes what it fitted; a tracked run versions it in the MLflow registry.

A third-party cost model learns each stage's mean demand (a stand-in for any fitted
state) and returns it from ``fitted_artefacts()``; the run hands it to the MLflow plugin,
which registers ``echelon-cost-demand_aware`` in a SQLite store. Loading it back goes
through the registry's trust checks. A second run on the same data reuses the version
(same payload digest). Runs in seconds (docs/tracking.md, "Fitted artefacts").
"""

import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from echelon_cost.standard import StandardCostModel
from echelon_mlflow import registry

from platform_core.artefacts import Artefact
from platform_core.config import load_config
from platform_core.hookspecs import hookimpl
from platform_core.pipeline import run
from platform_core.plugin_host import PluginHost


class DemandAwareCost(StandardCostModel):
    """The standard costs, plus a fitted per-stage figure worth versioning."""

    def fit(self, dataset, period_days):
        means = dataset.demand.group_by(["sku", "location"]).aggregate([("quantity", "mean")])
        self.mean_demand_ = {f"{s}@{loc}": float(m) for s, loc, m in zip(
            means.column("sku").to_pylist(), means.column("location").to_pylist(),
            means.column("quantity_mean").to_pylist(), strict=True)}
        self.as_of_ = str(pc.max(dataset.demand.column("period")).as_py())
        return self

    def fitted_artefacts(self):
        return [Artefact("mean_demand", self.mean_demand_, {"stages": str(len(self.mean_demand_))},
                         as_of=self.as_of_, per_stage=True)]


class MyPlugin:  # a plugin object; an installed plugin registers through an entry point instead
    @hookimpl
    def register_cost_models(self, register):
        register("demand_aware", DemandAwareCost)


root = Path(tempfile.mkdtemp(prefix="echelon-artefacts-"))
data = root / "data"
data.mkdir()
rng = np.random.default_rng(0)
skus = ["A", "B", "C"]
pq.write_table(pa.table({"sku": skus, "location": ["S"] * 3, "unit_cost": [10.0, 12.0, 8.0],
                         "price": [20.0, 30.0, 12.0], "carrying_rate": [0.25] * 3,
                         "lead_time_days": [7.0] * 3}), data / "stages.parquet")
weeks = (np.datetime64("2024-01-01") + 7 * np.arange(30)).astype("datetime64[D]")
pq.write_table(pa.table({"sku": np.repeat(skus, 30), "location": ["S"] * 90,
                         "period": pa.array(np.tile(weeks, 3), pa.date32()),
                         "quantity": rng.poisson(5.0, 90).astype(float)}), data / "demand.parquet")

uri = f"sqlite:///{root / 'mlflow.db'}"
config = load_config(overrides={
    "run": {"executor": "in_process"},
    "tracking": {"uri": uri, "experiment": "artefacts", "calibration": False},  # artefacts only, no holdout
    "components": {"cost_model": "demand_aware", "solver": "single_echelon"},
    "solver": {"replications": 10, "periods": 100},
})
host = PluginHost(plugins=[MyPlugin()])
result = run(data, root / "out", config, host=host, progress=False, log=lambda _m: None)
entry = json.loads((root / "out" / "model_versions.json").read_text())["cost"]
print(f"{entry['registered_name']} v{entry['version']} (as of {entry['as_of']}), "
      f"payload sha256 {entry['payload_sha256'][:12]}…")

loaded = registry.load_model(uri, entry["registered_name"], "champion", policy=registry.TrustPolicy())
print("mean demand per stage, read back from the registry:",
      {k: round(v, 2) for k, v in loaded["mean_demand"].items()})

again = run(data, root / "again", config, host=host, progress=False, log=lambda _m: None)
entry2 = json.loads((root / "again" / "model_versions.json").read_text())["cost"]
print(f"re-run: same digest {entry2['payload_sha256'] == entry['payload_sha256']}, "
      f"version {entry2['version']} reused {entry2['reused']}")
