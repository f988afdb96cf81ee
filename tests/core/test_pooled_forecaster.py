"""A forecaster that pools across series (``calibrated``) gets its pooled parameters on the driver.

Without that, its per-class stretch and mean factor came from the stages of one batch, so a
stage's level depended on which stages it was batched with. The run fixes them once
(``platform_core.batch.pool_forecaster``) from a hash-chosen sample of whole networks.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
from echelon_demand.models.calibrated import CalibratedForecaster

from platform_core.batch import demand_series, pool_forecaster
from platform_core.config import load_config
from platform_core.data.loaders import load_dataset
from platform_core.pipeline import plan_dataset, prepare_components, run
from platform_core.plugin_host import PluginHost
from platform_core.run_context import RunContext

COLUMNS = ["sku", "location", "base_stock_level", "expected_fill_rate", "mean_demand_per_period",
           "fill_rate_interval_low", "fill_rate_interval_high"]


def _config(batch_stages: int):
    return load_config(overrides={
        "run": {"executor": "in_process", "batch_stages": batch_stages}, "tracking": {"uri": "none"},
        "components": {"forecaster": "calibrated", "solver": "single_echelon"},
        "solver": {"replications": 10, "periods": 100},
    })


def test_the_same_numbers_whatever_the_batching(generated_dataset, tmp_path):
    small = run(generated_dataset, tmp_path / "small", _config(batch_stages=20))
    large = run(generated_dataset, tmp_path / "large", _config(batch_stages=10_000))
    a = pq.read_table(small.recommendations_path, columns=COLUMNS)
    b = pq.read_table(large.recommendations_path, columns=COLUMNS)
    assert a.equals(b)
    assert len({r["batch_id"] for r in _batches(tmp_path / "small")}) > 5  # it was really cut up


def _batches(out):
    return json.loads((out / "summary.json").read_text())["batches"]


def test_the_driver_fixes_class_params_that_a_fit_on_the_sample_gives(generated_dataset, tmp_path):
    config = _config(batch_stages=20)
    host = PluginHost()
    ctx = RunContext(run_id="t", data_dir=generated_dataset, out_dir=tmp_path, config=config)
    specs = prepare_components(host, config, ctx)
    shared, _ = plan_dataset(load_dataset(generated_dataset), config, specs)
    pooled = shared.settings.forecaster.params["class_params"]
    assert pooled and all("stretch" in p and "mean_factor" in p for p in pooled.values())
    # independently: fit on every stage (the sample is all of them in a run this small)
    idx = np.arange(shared.sku.size, dtype=np.int64)
    own = CalibratedForecaster().fit(demand_series(shared, idx))
    own.set_replenishment([shared.lead_time(int(i)) for i in idx], shared.review_period[idx])
    assert own.class_calibration() == pooled
    assert pool_forecaster(shared).settings.forecaster.params["class_params"] == pooled  # idempotent
