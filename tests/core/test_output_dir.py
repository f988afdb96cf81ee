"""The output directory: a strict ``summary.json``."""

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq

from platform_core.cli import main
from platform_core.config import load_config
from platform_core.pipeline import run

FAST = {"solver": {"replications": 20, "periods": 150}}


def _config(**run_opts):
    return load_config(overrides={"run": {"executor": "in_process", **run_opts}, "tracking": {"uri": "none"}, **FAST})


def _strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_no_demand_gives_null_service_in_summary_json_and_nan_in_python(generated_dataset, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for path in generated_dataset.glob("*.parquet"):
        (data / path.name).write_bytes(path.read_bytes())
    demand = pq.read_table(data / "demand.parquet")
    i = demand.schema.get_field_index("quantity")
    zeros = pa.array([0.0] * demand.num_rows, demand.schema.field(i).type)
    pq.write_table(demand.set_column(i, "quantity", zeros), data / "demand.parquet")
    result = run(data, tmp_path / "out", _config())
    assert math.isnan(result.metrics["fill_rate_demand_weighted"])  # the Python metrics keep NaN
    summary = _strict_json((tmp_path / "out" / "summary.json").read_text())  # raises on NaN
    assert summary["metrics"]["fill_rate_demand_weighted"] is None
    assert summary["metrics"]["cycle_service_demand_weighted"] is None
    assert summary["metrics"]["sku_locations"] == 240
    # the command line prints "n/a", not "nan"
    assert main(["run", str(data), "--out", str(tmp_path / "cli"), "--executor", "in_process",
                 "--tracking-uri", "none"]) == 0
    printed = capsys.readouterr().out
    assert "nan" not in printed.lower() and "n/a" in printed
