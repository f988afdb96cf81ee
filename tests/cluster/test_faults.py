"""Faults: a killed Ray worker, a killed driver then --resume; outputs equal a clean run."""

import json
import os
import signal
import subprocess
import sys
import time

import echelon_ray.faults
import pyarrow.parquet as pq
import pytest

from platform_core.config import load_config
from platform_core.data.loaders import load_dataset
from platform_core.pipeline import run
from platform_core.plugin_host import PluginHost

FAST = {"solver": {"replications": 20, "periods": 150}}


def _config(forecaster="bootstrap", params=None, **run_opts):
    return load_config(overrides={"run": {"executor": "in_process", **run_opts}, "tracking": {"uri": "none"},
                                  "components": {"forecaster": forecaster}, "forecaster": params or {}, **FAST})


@pytest.fixture(scope="module")
def clean(generated_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    return pq.read_table(run(generated_dataset, out, _config()).recommendations_path)


@pytest.mark.ray
def test_killed_worker_is_retried_and_output_equals_clean_run(generated_dataset, tmp_path, clean):
    key = "{}@{}".format(*load_dataset(generated_dataset).stages.select(["sku", "location"]).to_pylist()[100].values())
    marker = tmp_path / "crashed"
    cfg = _config("crash_once", {"marker": str(marker), "crash_key": key}, executor="ray", num_workers=2, batch_stages=30)
    result = run(generated_dataset, tmp_path / "out", cfg, host=PluginHost(plugins=[echelon_ray.faults]))
    assert marker.exists(), "the worker never crashed: the test did not test anything"
    got = pq.read_table(result.recommendations_path)
    assert got.drop_columns(["forecaster"]).equals(clean.drop_columns(["forecaster"]))


DRIVER = """
import sys, echelon_ray.faults
from platform_core.config import load_config
from platform_core.pipeline import run
from platform_core.plugin_host import PluginHost
cfg = load_config(overrides={{"run": {{"executor": "in_process", "batch_stages": 20}}, "tracking": {{"uri": "none"}},
                              "solver": {{"replications": 20, "periods": 150}},
                              "components": {{"forecaster": "slow"}}, "forecaster": {{"delay_s": 0.4}}}})
run({data!r}, {out!r}, cfg, host=PluginHost(plugins=[echelon_ray.faults]), resume={resume})
"""


def test_killed_driver_then_resume_equals_clean_run(generated_dataset, tmp_path, clean):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER.format(data=str(generated_dataset), out=str(out), resume=False)])
    parts = out / "_parts"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(parts.glob("part-*.parquet"))) < 3:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted(p.name for p in parts.glob("part-*.parquet"))
    n_batches = json.loads((parts / "manifest.json").read_text())["batches"]
    assert 3 <= len(finished) < n_batches, f"kill came too late or too early: {finished}"
    assert not (out / "recommendations.parquet").exists()
    resumed = subprocess.run(
        [sys.executable, "-c", DRIVER.format(data=str(generated_dataset), out=str(out), resume=True)],
        check=True, capture_output=True, text=True,
    )
    # only the unfinished batches ran again
    assert f"resuming: {len(finished)} of {n_batches} batches already finished" in resumed.stderr
    got = pq.read_table(out / "recommendations.parquet")
    assert got.drop_columns(["forecaster"]).equals(clean.drop_columns(["forecaster"]))
    assert not parts.exists()


def test_resume_refuses_a_changed_configuration(generated_dataset, tmp_path):
    out = tmp_path / "out"
    (out / "_parts").mkdir(parents=True)
    (out / "_parts" / "manifest.json").write_text('{"fingerprint": "something else", "batches": 3}')
    with pytest.raises(ValueError, match="cannot resume"):
        run(generated_dataset, out, _config(), resume=True)
