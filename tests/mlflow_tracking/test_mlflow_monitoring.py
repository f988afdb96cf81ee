"""Calibration, registry, drift monitoring and recalibration end to end.

Scenario: one generated history; "runs at later dates" see a longer prefix of it, and
from period 94 on the demand of one product group (the shifted group) is tripled.  A
second product group of similar size is the control.  Every scenario runs against the
embedded SQLite store and against a real ``mlflow server`` on loopback (started once
for this module).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq
import pytest
from echelon_mlflow.monitor import monitor
from echelon_mlflow.plugin import METADATA_KEY
from echelon_mlflow.recalibrate import recalibrate

from platform_core.cli import main as cli_main
from platform_core.config import load_config
from platform_core.data.generate import START_DATE, generate_dataset
from platform_core.pipeline import run

CHANGE = 94  # first period of the new regime
FACTOR = 3.0
GBM = {"max_iter": 15, "max_rows": 8000, "levels": (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)}
FAST = {"solver": {"replications": 10, "periods": 100}}


# ---- data --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """(base dir, shifted group, its SKUs, control group)."""
    root = tmp_path_factory.mktemp("regime")
    generate_dataset(root / "base", sku_locations=600, seed=11, periods=104)
    r = pq.read_table(root / "base" / "receipts.parquet")
    d = pq.read_table(root / "base" / "demand.parquet")
    g = r.group_by(["sku"]).aggregate([("product_group", "min")])
    group = dict(zip(g.column("sku").to_pylist(), g.column("product_group_min").to_pylist(), strict=True))
    series = d.group_by(["sku", "location"]).aggregate([]).column("sku").to_pylist()
    count: dict[str, int] = {}
    for s in series:
        count[group[s]] = count.get(group[s], 0) + 1
    ranked = sorted(count, key=lambda k: (-count[k], k))
    shifted, control = ranked[0], ranked[1]
    return root / "base", shifted, [s for s, pg in group.items() if pg == shifted], control


def dated(base: Path, out: Path, end_period: int, skus: list[str]) -> Path:
    """The dataset as seen after ``end_period`` periods, ``skus`` tripled from CHANGE on."""
    out.mkdir(parents=True)
    for f in base.iterdir():
        if f.is_file() and f.name not in ("demand.parquet", "receipts.parquet"):
            shutil.copy(f, out / f.name)
    start = np.datetime64(START_DATE, "D").astype(np.int64)
    d = pq.read_table(base / "demand.parquet")
    t = (d.column("period").cast(pa.int32()).to_numpy().astype(np.int64) - start) // 7
    d = d.filter(pa.array(t < end_period))
    t = t[t < end_period]
    hit = np.isin(d.column("sku").to_numpy(zero_copy_only=False), skus) & (t >= CHANGE)
    q = d.column("quantity").to_numpy(zero_copy_only=False).astype(float)
    q = np.where(hit, np.round(q * FACTOR), q)
    d = d.set_column(d.schema.get_field_index("quantity"), "quantity", pa.array(q, mask=np.isnan(q)))
    pq.write_table(d, out / "demand.parquet")
    r = pq.read_table(base / "receipts.parquet")
    rd = r.column("receipt_date").cast(pa.int32()).to_numpy().astype(np.int64)
    pq.write_table(r.filter(pa.array(rd < start + 7 * end_period)), out / "receipts.parquet")
    return out


# ---- stores --------------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real ``mlflow server`` on 127.0.0.1 (one per test module)."""
    tmp = tmp_path_factory.mktemp("server")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp / 'server.db'}",
         "--default-artifact-root", str(tmp / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            mlflow.MlflowClient(tracking_uri=uri).search_experiments()
            break
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("mlflow server did not start within 120 s")
    yield {"uri": uri, "proc": proc}
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


def _store(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}", "t"
    return request.getfixturevalue("server")["uri"], f"t-{request.node.name}-{time.time_ns()}"


@pytest.fixture(params=["sqlite", pytest.param("server", marks=pytest.mark.mlflow_server)])
def store(request, tmp_path):
    """(tracking URI, experiment name) on the embedded SQLite store or the server."""
    return _store(request, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("server", marks=[pytest.mark.mlflow_server, pytest.mark.slow])])
def store_slow_server(request, tmp_path):
    """As ``store``; the server variant is slow (four runs over HTTP), so ``-m slow``."""
    return _store(request, tmp_path)


def _config(uri, experiment, forecaster="bootstrap", **tracking):
    return load_config(overrides={
        "run": {"executor": "in_process"},
        "tracking": {"uri": uri, "experiment": experiment, **tracking},
        "components": {"forecaster": forecaster},
        "forecaster": GBM if forecaster == "quantile_gbm" else {},
        **FAST,
    })


# ---- tests --------------------------------------------------------------------------
def test_monitor_flags_the_shifted_group_not_the_control(history, store_slow_server, tmp_path, capsys):
    base, shifted, skus, control = history
    uri, exp = store_slow_server
    for k, end in enumerate((80, 88, 96, 104)):
        data = dated(base, tmp_path / f"d{k}", end, skus if k else [])
        result = run(data, tmp_path / f"o{k}", _config(uri, exp), progress=False)
        assert any("logged to MLflow" in n for n in result.notes), result.notes
        assert not any("failed" in n for n in result.notes), result.notes
    client = mlflow.MlflowClient(tracking_uri=uri)
    r = client.search_runs([client.get_experiment_by_name(exp).experiment_id], max_results=1)[0]
    arts = {a.path for a in client.list_artifacts(r.info.run_id, "calibration/demand")}
    assert {"calibration/demand/per_sku.parquet", "calibration/demand/summary.parquet",
            "calibration/demand/observations.parquet"} <= arts
    assert r.data.params["model.demand.version"] == "local"
    assert "calibration.demand.coverage_80" in r.data.metrics

    code = cli_main(["monitor", "--tracking-uri", uri, "--experiment", exp, "--json", str(tmp_path / "drift.json")])
    assert code == 0
    assert "demand:bootstrap" in capsys.readouterr().out
    latest = json.loads((tmp_path / "drift.json").read_text())["demand:bootstrap"]
    assert f"product_group={shifted}" in latest["flagged_groups"]
    assert f"product_group={control}" not in latest["flagged_groups"]
    assert not any(g.startswith("product_group=") and g != f"product_group={shifted}"
                   for g in latest["flagged_groups"])
    # the drift of every run date is in the monitoring experiment, one step per date
    mexp = client.get_experiment_by_name(f"{exp}-monitoring")
    mrun = client.search_runs([mexp.experiment_id], filter_string="tags.`echelon.monitor.model` = 'demand:bootstrap'")[0]
    steps = {m.step for m in client.get_metric_history(mrun.info.run_id, "overall.psi")}
    assert len(steps) >= 3
    flags = client.get_metric_history(mrun.info.run_id, f"product_group.{shifted}.flagged")
    assert max(flags, key=lambda m: m.step).value == 1.0
    # monitoring again logs nothing new (idempotent) and still flags the group
    again = monitor(uri, exp)
    assert again.steps_logged["demand:bootstrap"] == 0
    assert f"product_group={shifted}" in again.flagged["demand:bootstrap"]


def test_recalibration_registers_a_challenger_and_promotes_the_winner(history, store, tmp_path):
    base, shifted, skus, control = history
    uri, exp = store
    cfg = _config(uri, exp, "quantile_gbm", recalibrate="auto")
    first = run(dated(base, tmp_path / "d0", 80, []), tmp_path / "o0", cfg, progress=False)
    assert not any("failed" in n for n in first.notes), first.notes
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = "echelon-demand-quantile_gbm"
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    versions = json.loads((tmp_path / "o0" / "model_versions.json").read_text())
    assert versions["demand"]["version"] == "1" and versions["demand"]["uri"] == f"models:/{name}/1"

    second = run(dated(base, tmp_path / "d1", 104, skus), tmp_path / "o1", cfg, progress=False)
    assert not any("failed" in n for n in second.notes), second.notes
    mv = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    assert [str(v.version) for v in mv] == ["1", "2"]
    v2 = client.get_model_version(name, "2")
    rid = client.get_model_version(name, "1").run_id
    runs = {r.info.run_id: r for r in client.search_runs([client.get_experiment_by_name(exp).experiment_id])}
    later = next(r for k, r in runs.items() if k != rid)
    assert f"product_group={shifted}" in later.data.tags["echelon.drift.demand.flagged"].split(",")
    print(f"backtest of v2: won={v2.tags['echelon.backtest.won']}")
    if v2.tags["echelon.backtest.won"] == "true":  # as documented in docs/tracking.md
        assert str(client.get_model_version_by_alias(name, "champion").version) == "2"
        assert str(client.get_model_version_by_alias(name, "previous").version) == "1"
        with pytest.raises(mlflow.exceptions.MlflowException):
            client.get_model_version_by_alias(name, "challenger")
    else:
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
        assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    # the recommendations record the version that was calibrated in the run
    meta = json.loads(pq.read_schema(second.recommendations_path).metadata[METADATA_KEY])
    assert meta["demand"]["version"] == "1" and meta["demand"]["challenger"] == "2"
    assert later.data.params["model.demand.version"] == "1"
    # the registered model is a real pyfunc model: load it and predict
    champion = str(client.get_model_version_by_alias(name, "champion").version)
    model = mlflow.pyfunc.load_model(client.get_model_version_download_uri(name, champion))
    frame = pq.read_table(tmp_path / "d1" / "demand.parquet").slice(0, 500).to_pandas()
    pred = model.predict(frame)
    assert list(pred.columns)[:2] == ["q05", "q10"] and len(pred) >= 1
    assert np.all(np.diff(pred.to_numpy(), axis=1) >= 0)


def _few_locations(data: Path, keep: int = 200) -> Path:
    """Receipts of at most ``keep`` locations (the lead-time GBM takes <= 255 categories)."""
    r = pq.read_table(data / "receipts.parquet")
    locs = sorted(set(r.column("location").to_pylist()))[:keep]
    pq.write_table(r.filter(pa.compute.is_in(r.column("location"), pa.array(locs))), data / "receipts.parquet")
    return data


def test_standalone_recalibrate_refits_only_flagged_models(history, tmp_path):
    base, shifted, skus, control = history
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ov = {"components": {"forecaster": "quantile_gbm", "lead_time_model": "quantile_gbm"}, "forecaster": GBM,
          "lead_time_model": {"levels": (0.05, 0.1, 0.5, 0.9, 0.95), "max_iter": 20}}
    d0 = _few_locations(dated(base, tmp_path / "d0", 80, []))
    first = recalibrate(d0, uri, experiment="r", overrides=ov)
    assert {o.kind: o.version for o in first} == {"demand": "1", "lead_time": "1"}
    assert {o.registered_name for o in first} == {"echelon-demand-quantile_gbm", "echelon-lead_time-quantile_gbm"}
    same = recalibrate(_few_locations(dated(base, tmp_path / "d1", 80, [])), uri, experiment="r", overrides=ov)
    assert [o.challenger for o in same] == ["", ""]  # nothing drifted: nothing refitted
    assert [o.version for o in same] == ["1", "1"]  # the frozen champions were calibrated
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    lt = mlflow.pyfunc.load_model(client.get_model_version_download_uri("echelon-lead_time-quantile_gbm", "1"))
    lanes = pq.read_table(tmp_path / "d1" / "receipts.parquet").slice(0, 20).to_pandas()
    q = lt.predict(lanes)
    assert q.shape == (20, 7) and np.all(q["q95"] >= q["q05"]) and np.all(q["q50"] > 0)
    code = cli_main(["recalibrate", str(dated(base, tmp_path / "d2", 104, skus)), "--tracking-uri", uri,
                     "--experiment", "r"])  # default config: no registered models, nothing to refit
    assert code == 0


@pytest.mark.mlflow_server
def test_tracking_failure_mid_run_still_writes_results(generated_dataset, server, tmp_path):
    """The server dies while batches run: the run finishes, writes, and says so."""
    from platform_core.hookspecs import hookimpl
    from platform_core.plugin_host import PluginHost

    class Killer:
        __name__ = "killer"

        @hookimpl
        def batch_finished(self, run, batch_id, recommendations):
            if server["proc"].poll() is None:
                server["proc"].terminate()
                server["proc"].wait(timeout=30)

    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "2"
    try:
        cfg = _config(server["uri"], "killed")
        result = run(generated_dataset, tmp_path / "out", cfg, host=PluginHost(plugins=[Killer()]), progress=False)
    finally:
        os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
        os.environ.pop("MLFLOW_HTTP_REQUEST_TIMEOUT")
    assert result.recommendations_path.exists()
    assert pq.read_table(result.recommendations_path).num_rows == 240
    assert (tmp_path / "out" / "summary.json").exists()
    assert any("MLflow tracking failed" in n for n in result.notes), result.notes


def test_registered_forecaster_makes_the_batches_use_the_champion(history, tmp_path):
    base, shifted, skus, control = history
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run(dated(base, tmp_path / "d0", 80, []), tmp_path / "o0", _config(uri, "t", "quantile_gbm"), progress=False)
    cfg = load_config(overrides={
        "run": {"executor": "in_process"}, "tracking": {"uri": uri, "experiment": "t"},
        "components": {"forecaster": "registered"},
        "forecaster": {"model": "echelon-demand-quantile_gbm", "version": "champion"}, **FAST,
    })
    result = run(dated(base, tmp_path / "d1", 88, []), tmp_path / "o1", cfg, progress=False)
    assert not any("failed" in n for n in result.notes), result.notes
    rec = pq.read_table(result.recommendations_path)
    assert set(rec.column("status").to_pylist()) == {"ok"}
    assert set(rec.column("forecaster").to_pylist()) == {"registered"}
    meta = json.loads(rec.schema.metadata[METADATA_KEY])
    assert meta["demand"] == {**meta["demand"], "component": "quantile_gbm", "version": "1"}
    client = mlflow.MlflowClient(tracking_uri=uri)
    r = client.search_runs([client.get_experiment_by_name("t").experiment_id], order_by=["start_time DESC"])[0]
    assert r.data.params["forecaster.version"] == "1"  # the alias was pinned for the whole run
    assert r.data.params["model.demand.version"] == "1"
