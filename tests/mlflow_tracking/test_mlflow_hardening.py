"""Hardening of the tracking plugin (issue #22): fail fast, no store on a failed run, and
registry models that are checked before they are unpickled."""

import os
import pickle
import socket
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest

from platform_core.components import DemandSeries
from platform_core.config import load_config
from platform_core.distributions import DiscreteDistribution
from platform_core.pipeline import run
from platform_core.run_context import RunContext

FAST = {"solver": {"replications": 20, "periods": 150}}
HTTP_ENV = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT",
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")


def _closed_port() -> int:
    """A loopback port nothing listens on: bound once, then closed."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


# ---- 1. an unreachable server fails fast -------------------------------------------
def test_unreachable_server_fails_fast_without_changing_the_environment(generated_dataset, tmp_path, monkeypatch):
    """MLflow's own retries (7, exponential back-off) took about 4 minutes here."""
    for var in HTTP_ENV:
        monkeypatch.delenv(var, raising=False)
    uri = f"http://127.0.0.1:{_closed_port()}"
    cfg = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": uri, "experiment": "t"},
                                 **FAST})
    t0 = time.perf_counter()
    result = run(generated_dataset, tmp_path / "out", cfg, progress=False)
    elapsed = time.perf_counter() - t0
    # the whole run (in process, 240 SKU-locations) takes a few seconds; the retries took ~260 s
    assert elapsed < 30, f"run took {elapsed:.1f} s"
    assert result.recommendations_path.exists()
    notes = [n for n in result.notes if "MLflow tracking failed" in n]
    assert notes and uri in notes[0] and "unreachable" in notes[0], result.notes
    assert not any(var in os.environ for var in HTTP_ENV)  # the user's process is left alone


def test_reachability_probe_is_bounded(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from echelon_mlflow.stores import TrackingStoreUnreachable, check_reachable

    t0 = time.perf_counter()
    with pytest.raises(TrackingStoreUnreachable, match="refused|unreachable"):
        check_reachable(f"http://127.0.0.1:{_closed_port()}", timeout=2.0)
    assert time.perf_counter() - t0 < 1.0  # refused at once, no retries

    class Health(BaseHTTPRequestHandler):
        status = 200

        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(self.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_reachable(f"http://127.0.0.1:{server.server_port}", timeout=2.0)  # any answer will do
        Health.status = 503  # a gateway whose server is down: MLflow would retry it for minutes
        with pytest.raises(TrackingStoreUnreachable, match="503"):
            check_reachable(f"http://127.0.0.1:{server.server_port}/", timeout=2.0)
    finally:
        server.shutdown()
        server.server_close()

    # a listener that never answers: bounded by the timeout (connect, then read)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        t0 = time.perf_counter()
        with pytest.raises(TrackingStoreUnreachable, match="no answer|timed out"):
            check_reachable(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        assert time.perf_counter() - t0 < 3.0
    finally:
        silent.close()
    # stores that are not HTTP servers are not probed
    check_reachable(f"sqlite:///{tmp_path / 'x.db'}", timeout=0.1)
    assert not (tmp_path / "x.db").exists()


def test_monitor_and_recalibrate_fail_fast_with_a_clear_error(tmp_path, capsys, monkeypatch):
    from platform_core.cli import main as cli_main

    for var in HTTP_ENV:
        monkeypatch.delenv(var, raising=False)
    uri = f"http://127.0.0.1:{_closed_port()}"
    t0 = time.perf_counter()
    assert cli_main(["monitor", "--tracking-uri", uri]) == 2
    assert f"echelon: error: tracking server {uri} unreachable" in capsys.readouterr().err
    assert time.perf_counter() - t0 < 10
    # a store that does not exist is reported, not created
    missing = tmp_path / "nowhere.db"
    assert cli_main(["monitor", "--tracking-uri", f"sqlite:///{missing}"]) == 2
    assert f"no MLflow store at {missing}" in capsys.readouterr().err
    assert not missing.exists()


# ---- 2. a failed run leaves no store ------------------------------------------------
@pytest.mark.parametrize("forecaster", ["bootstrap", "registered"])
def test_a_run_on_a_missing_data_directory_creates_no_store(tmp_path, monkeypatch, forecaster):
    monkeypatch.chdir(tmp_path)  # the default store is ./mlflow.db
    cfg = load_config(overrides={"run": {"executor": "in_process"}, "components": {"forecaster": forecaster}})
    assert cfg.section("tracking").uri == "sqlite:///mlflow.db"
    with pytest.raises(Exception) as info:
        run(tmp_path / "no-such-dir", tmp_path / "out", cfg, progress=False)
    assert "no-such-dir" in str(info.value)
    time.sleep(0.5)  # a late background open would show up here
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the failed run created files"


# ---- 3. registry models are checked before they are unpickled -----------------------
class PointForecaster:
    """A 'fitted' global forecaster: every series' next period is ``level`` units."""

    def __init__(self, level: int) -> None:
        self.level = level

    def predict_series(self, demand):
        return [DiscreteDistribution.point(self.level)] * len(demand)


class Payload:
    """Unpickling this creates ``path``: the test's stand-in for arbitrary code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _demand() -> DemandSeries:
    return DemandSeries(keys=["A@L1", "B@L1"], values=np.array([1.0, 2.0, 3.0, 4.0]),
                        stocked_out=np.zeros(4, dtype=bool), indptr=np.array([0, 2, 4]))


@pytest.fixture(scope="module")
def registry_store(tmp_path_factory):
    """A sqlite store with ``echelon-demand-point`` v1..v3 (logged by Echelon) and
    ``plain-point`` v1 (logged with plain MLflow: no recorded SHA-256)."""
    from echelon_mlflow import registry

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("t", artifact_location=str(root / "mlruns" / "t"))
    rid = client.create_run(exp).info.run_id
    for level in (3, 5, 7):
        registry.log_model_version(uri, rid, "demand", "point", PointForecaster(level))
    from echelon_mlflow.pyfunc_models import DemandModel

    with registry._using(uri), mlflow.start_run(run_id=rid):
        mlflow.pyfunc.log_model(name="plain", python_model=DemandModel(PointForecaster(9), "point"),
                                registered_model_name="plain-point", pip_requirements=["mlflow"])
    client.set_terminated(rid, "FINISHED")
    return {"uri": uri, "root": root, "client": client}


def _artifact_dir(store, name, version) -> Path:
    path = Path(store["client"].get_model_version_download_uri(name, version))
    assert path.is_dir(), path
    return path


def test_registering_leaves_the_process_mlflow_uris_alone(registry_store, monkeypatch):
    """Echelon's registration used to leave MLFLOW_TRACKING_URI / _REGISTRY_URI pinned
    (to ./mlflow.db when the user had set none), so the user's later MLflow calls went there."""
    from echelon_mlflow import registry
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    uri, client = registry_store["uri"], registry_store["client"]
    rid = client.create_run(client.get_experiment_by_name("t").experiment_id).info.run_id
    registry.log_model_version(uri, rid, "demand", "other", PointForecaster(1))
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
    assert tracking_utils._tracking_uri is None and registry_utils._registry_uri is None
    mlflow.set_tracking_uri("sqlite:////elsewhere/x.db")  # the user's choice is followed by the registry
    assert mlflow.get_registry_uri() == "sqlite:////elsewhere/x.db"


def test_an_untampered_version_loads_and_forecasts(registry_store):
    from echelon_mlflow.forecaster import RegisteredForecaster

    f = RegisteredForecaster(model="echelon-demand-point", version="1", tracking_uri=registry_store["uri"]).fit(_demand())
    assert [d.mean() for d in f.period_dists_] == [3.0, 3.0]


def test_the_registered_version_records_the_sha256_of_its_artifact(registry_store):
    import hashlib

    from echelon_mlflow.registry import MODEL_SHA256_TAG, artifact_sha256

    tag = registry_store["client"].get_model_version("echelon-demand-point", "1").tags[MODEL_SHA256_TAG]
    art = _artifact_dir(registry_store, "echelon-demand-point", "1")
    # independent recomputation of the documented digest: sha256 over "<path>\0<sha256 of file>\n", sorted
    lines = sorted(f"{p.relative_to(art).as_posix()}\0{hashlib.sha256(p.read_bytes()).hexdigest()}\n"
                   for p in art.rglob("*") if p.is_file())
    assert tag == hashlib.sha256("".join(lines).encode()).hexdigest() == artifact_sha256(art)
    assert len(tag) == 64


def test_a_tampered_artifact_is_refused_before_unpickling(registry_store, tmp_path):
    from echelon_mlflow.forecaster import RegisteredForecaster

    marker = tmp_path / "pwned"
    art = _artifact_dir(registry_store, "echelon-demand-point", "2")
    (art / "python_model.pkl").write_bytes(pickle.dumps(Payload(str(marker))))
    f = RegisteredForecaster(model="echelon-demand-point", version="2", tracking_uri=registry_store["uri"])
    with pytest.raises(ValueError, match="SHA-256") as info:
        f.fit(_demand())
    assert not marker.exists(), "the tampered pickle was loaded"
    assert "echelon-demand-point" in str(info.value) and "version 2" in str(info.value)


def _ctx(**tracking) -> RunContext:
    cfg = load_config(overrides={"tracking": tracking, "components": {"forecaster": "registered"}})
    return RunContext(run_id="r", data_dir=Path("."), out_dir=Path("."), config=cfg)


def test_prepare_pins_the_verified_digest_and_refuses_a_tampered_version(registry_store, tmp_path):
    from echelon_mlflow.forecaster import RegisteredForecaster
    from echelon_mlflow.registry import MODEL_SHA256_TAG

    uri, client = registry_store["uri"], registry_store["client"]
    client.set_registered_model_alias("echelon-demand-point", "champion", "1")
    out = RegisteredForecaster.prepare({"model": "echelon-demand-point"}, _ctx(uri=uri))
    assert out["version"] == "1"
    assert out["sha256"] == client.get_model_version("echelon-demand-point", "1").tags[MODEL_SHA256_TAG]
    # the batches check the bytes they load against the pinned digest
    pinned = dict(out, sha256="0" * 64)
    with pytest.raises(ValueError, match="SHA-256"):
        RegisteredForecaster(**pinned).fit(_demand())
    # a tampered version stops the run on the driver with one clear error
    marker = tmp_path / "pwned"
    art = _artifact_dir(registry_store, "echelon-demand-point", "3")
    (art / "MLmodel").write_text((art / "MLmodel").read_text() + "\n# edited\n")
    with pytest.raises(ValueError, match="SHA-256 .*does not match"):
        RegisteredForecaster.prepare({"model": "echelon-demand-point", "version": "3"}, _ctx(uri=uri))
    assert not marker.exists()


def test_untrusted_sources_and_names_are_refused(registry_store, tmp_path):
    from echelon_mlflow.forecaster import RegisteredForecaster
    from echelon_mlflow.registry import TrustPolicy, UntrustedModelError, load_model

    uri = registry_store["uri"]
    other = f"sqlite:///{tmp_path / 'other.db'}"
    # the forecaster points at another store than the trusted one ([tracking] uri by default)
    with pytest.raises(UntrustedModelError, match="not the trusted registry"):
        RegisteredForecaster.prepare({"model": "echelon-demand-point", "version": "1", "tracking_uri": uri},
                                     _ctx(uri=other))
    assert not (tmp_path / "other.db").exists()
    # an explicit trusted registry that is the forecaster's store: accepted
    ok = RegisteredForecaster.prepare({"model": "echelon-demand-point", "version": "1", "tracking_uri": uri},
                                      _ctx(uri=other, trusted_registry_uri=uri))
    assert len(ok["sha256"]) == 64
    # a name outside allowed_models
    with pytest.raises(UntrustedModelError, match="allowed_models"):
        RegisteredForecaster.prepare({"model": "echelon-demand-point", "version": "1"},
                                     _ctx(uri=uri, allowed_models=["echelon-demand-quantile_gbm"]))
    # a version nobody recorded a digest for (logged with plain MLflow): refused by default ...
    with pytest.raises(UntrustedModelError, match="no recorded SHA-256"):
        load_model(uri, "plain-point", "1", policy=TrustPolicy(uri))
    # ... and loaded only when the operator opts out
    model = load_model(uri, "plain-point", "1", policy=TrustPolicy(uri, require_sha256=False))
    assert model.level == 9


def test_trust_settings_are_checked():
    s = load_config(overrides={"tracking": {"allowed_models": ["a"], "connect_timeout": 2,
                                            "trusted_registry_uri": "http://h:5000"}}).section("tracking")
    assert (s.allowed_models, s.connect_timeout, s.trusted_registry, s.require_model_sha256) == (
        ("a",), 2.0, "http://h:5000", True)
    assert load_config().section("tracking").trusted_registry == "sqlite:///mlflow.db"  # = uri
    with pytest.raises(ValueError, match="allowed_models must be non-empty registered model names"):
        load_config(overrides={"tracking": {"allowed_models": ["ok", 3]}})
    with pytest.raises(ValueError, match="connect_timeout must be > 0"):
        load_config(overrides={"tracking": {"connect_timeout": 0}})
