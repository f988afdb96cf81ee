"""The MLflow plugin against the embedded SQLite store and a real ``mlflow server``."""

import os
import socket
import subprocess
import sys
import time

import mlflow
import pytest

from platform_core.config import load_config
from platform_core.pipeline import run

FAST = {"solver": {"replications": 20, "periods": 150}}


def _config(uri):
    return load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": uri, "experiment": "t"}, **FAST})


def _check_logged(uri, result):
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("t")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    r = runs[0]
    assert r.info.status == "FINISHED"
    assert r.data.params["component.solver"] == "multi_echelon"
    assert r.data.params["component.solver.plugin"].startswith("solvers echelon ")
    assert r.data.params["run.seed"] == "42"
    assert r.data.metrics["sku_locations"] == result.metrics["sku_locations"]
    assert r.data.metrics["inventory_investment_currency"] == pytest.approx(result.metrics["inventory_investment_currency"])
    names = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {"recommendations.parquet", "summary.json"} <= names


def test_run_is_logged_to_sqlite(generated_dataset, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run(generated_dataset, tmp_path / "out", _config(uri))
    _check_logged(uri, result)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.mlflow_server
def test_run_is_logged_to_a_real_mlflow_server(generated_dataset, tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--default-artifact-root", str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        uri = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start within 120 s")
        result = run(generated_dataset, tmp_path / "out", _config(uri))
        _check_logged(uri, result)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_unreachable_tracking_server_does_not_stop_the_run(generated_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    port = _free_port()  # nothing listens there
    result = run(generated_dataset, tmp_path / "out", _config(f"http://127.0.0.1:{port}"))
    assert os.path.exists(result.recommendations_path)
    assert any("MLflow tracking failed" in n for n in result.notes)
