"""The configuration example of docs/running.md works when copied as it stands."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from platform_core.config import load_config
from platform_core.data.generate import generate_dataset

DOC = Path(__file__).resolve().parents[2] / "docs" / "running.md"


def _toml_blocks() -> list[str]:
    return re.findall(r"^```toml\n(.*?)^```", DOC.read_text(), re.M | re.S)


def test_the_documented_configuration_loads_and_runs_as_is(tmp_path):
    blocks = _toml_blocks()
    assert len(blocks) == 1, "docs/running.md should hold one full configuration example"
    config_path = tmp_path / "echelon.toml"
    config_path.write_text(blocks[0])
    config = load_config(config_path)
    # every section of the example is read: a misspelt key would have raised above
    assert config.run.seed == 42 and config.components.solver == "multi_echelon"
    assert config.component_params("solver")["replications"] == 100
    # run as a user would: `echelon run` from a fresh directory, where the example's
    # relative MLflow store lands (a child process, so no MLflow store of another test
    # with the same relative URI is reused)
    generate_dataset(tmp_path / "data", sku_locations=40, seed=2)
    proc = subprocess.run(
        [sys.executable, "-m", "platform_core.cli", "run", "data", "--out", "out", "--config", "echelon.toml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "failed" not in proc.stderr, proc.stderr
    rec = pq.read_table(tmp_path / "out" / "recommendations.parquet")
    assert rec.num_rows == 40
    # every promise carries its interval, and the interval holds the promise
    fill, lo, hi = (rec.column(c).to_numpy(zero_copy_only=False).astype(float)
                    for c in ("expected_fill_rate", "fill_rate_interval_low", "fill_rate_interval_high"))
    ok = ~np.isnan(fill)
    assert ok.any() and np.all((lo[ok] <= fill[ok] + 1e-12) & (fill[ok] <= hi[ok] + 1e-12))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["executor"]["name"] == "in_process"  # 40 SKU-locations: no Ray start-up
    assert summary["seed"] == 42
    assert (tmp_path / "mlflow.db").exists()
