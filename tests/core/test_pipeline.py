"""End-to-end runs of the pipeline on a generated dataset."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from echelon_demand.bootstrap import BootstrapForecaster

from platform_core.batch import POLICY_COLUMNS
from platform_core.config import load_config
from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import load_dataset
from platform_core.hookspecs import hookimpl
from platform_core.pipeline import run
from platform_core.plugin_host import PluginHost

REPO = Path(__file__).resolve().parents[2]
FAST = {"solver": {"replications": 30, "periods": 200}}


def _config(components=None, forecaster=None, **run_opts):
    return load_config(overrides={"run": {"executor": "in_process", **run_opts}, "tracking": {"uri": "none"},
                                  "components": components or {}, "forecaster": forecaster or {}, **FAST})


def test_one_row_per_sku_location_with_complete_policies(generated_dataset, tmp_path):
    result = run(generated_dataset, tmp_path / "out", _config())
    rec = pq.read_table(result.recommendations_path)
    stages = load_dataset(generated_dataset).stages
    assert rec.num_rows == stages.num_rows
    assert rec.select(["sku", "location"]).to_pylist() == stages.select(["sku", "location"]).to_pylist()
    ok = rec.filter(pc.equal(rec.column("status"), "ok"))
    assert ok.num_rows == rec.num_rows
    for col in (*POLICY_COLUMNS, "expected_fill_rate", "fill_rate_se", "expected_cycle_service",
                "cycle_service_se", "safety_stock", "inventory_investment"):
        assert ok.column(col).null_count == 0, col
    # targets are met where the target is a fill rate from the input
    tgt = ok.filter(pc.equal(ok.column("target_source"), "input"))
    fill = tgt.column("expected_fill_rate").to_numpy()
    assert np.all(fill >= tgt.column("service_target").to_numpy() - 1e-9)
    assert not (tmp_path / "out" / "_parts").exists()
    assert (tmp_path / "out" / "summary.json").exists()


@pytest.mark.ray
def test_same_seed_same_numbers_across_workers_and_batch_sizes(generated_dataset, tmp_path):
    # "auto" with in_process_below = 0 chooses Ray for any input
    one = run(generated_dataset, tmp_path / "a",
              _config(executor="auto", in_process_below=0, num_workers=1, batch_stages=500))
    two = run(generated_dataset, tmp_path / "b", _config(executor="ray", num_workers=2, batch_stages=40))
    local = run(generated_dataset, tmp_path / "c", _config(batch_stages=7))
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["executor"]["name"] == "ray"
    a = pq.read_table(one.recommendations_path)
    assert one.metrics["batches"] == 1 and two.metrics["batches"] > 3
    assert a.equals(pq.read_table(two.recommendations_path))
    assert a.equals(pq.read_table(local.recommendations_path))
    other_seed = run(generated_dataset, tmp_path / "d", _config(seed=7))
    assert not a.equals(pq.read_table(other_seed.recommendations_path))


class _FailsOnOneSku(BootstrapForecaster):
    bad_sku = None

    def fit(self, demand):
        for key in demand.keys:
            if key.startswith(f"{self.bad_sku}@"):
                raise RuntimeError(f"cannot fit {key}")
        return super().fit(demand)


class _FailingPlugin:
    @hookimpl
    def register_forecasters(self, register):
        register("fails_on_one_sku", _FailsOnOneSku)


def test_a_failing_plugin_marks_its_network_as_error_and_the_rest_finish(generated_dataset, tmp_path):
    stages = load_dataset(generated_dataset).stages
    bad = stages.column("sku")[0].as_py()
    _FailsOnOneSku.bad_sku = bad
    cfg = _config(components={"forecaster": "fails_on_one_sku"}, batch_stages=10_000)
    result = run(generated_dataset, tmp_path / "out", cfg, host=PluginHost(plugins=[_FailingPlugin()]))
    rec = pq.read_table(result.recommendations_path)
    assert rec.num_rows == stages.num_rows
    is_bad = pc.equal(rec.column("sku"), bad)
    errors = rec.filter(is_bad)
    assert set(errors.column("status").to_pylist()) == {"error"}
    assert all(f"cannot fit {bad}@" in m for m in errors.column("message").to_pylist())
    assert set(rec.filter(pc.invert(is_bad)).column("status").to_pylist()) == {"ok"}
    assert result.metrics["sku_locations_error"] == errors.num_rows


def test_invalid_input_writes_nothing(generated_dataset, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("stages", "edges", "receipts"):
        src = generated_dataset / f"{name}.parquet"
        (bad / src.name).write_bytes(src.read_bytes())
    demand = pq.read_table(generated_dataset / "demand.parquet")
    q = demand.column("quantity").to_numpy(zero_copy_only=False).copy()
    q[5] = -1.0
    pq.write_table(demand.set_column(demand.schema.get_field_index("quantity"), "quantity", pa.array(q)), bad / "demand.parquet")
    with pytest.raises(DataValidationError, match="quantity"):
        run(bad, tmp_path / "out", _config())
    assert not (tmp_path / "out").exists()


def test_third_party_plugin_installed_and_run_through_the_pipeline(generated_dataset, tmp_path, example_plugin_on_path):
    cfg = _config(components={"forecaster": "recent_poisson"}, forecaster={"k": 8})
    result = run(generated_dataset, tmp_path / "out", cfg)
    rec = pq.read_table(result.recommendations_path)
    assert set(rec.column("forecaster").to_pylist()) == {"recent_poisson"}
    assert set(rec.column("status").to_pylist()) == {"ok"}
