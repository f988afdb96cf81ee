"""Logs every ``echelon run`` to MLflow through the lifecycle hooks (driver only).

One MLflow run per ``echelon run`` (never one per SKU):

* parameters: configuration, component names, plugin names and versions, executor;
* metrics: the run's aggregate metrics and ``calibration.<kind>.*`` of each model;
* artifacts: ``recommendations.parquet``, ``summary.json``, ``model_versions.json`` and
  the calibration tables ``calibration/<kind>/{observations,per_sku,summary}.parquet``;
* fitted global models as MLflow ``pyfunc`` models, registered with aliases
  (:mod:`echelon_mlflow.registry`); the versions used are recorded in the run's
  parameters (``model.<kind>.version``), in ``model_versions.json`` and in the Parquet
  metadata of ``recommendations.parquet`` (key ``echelon.model_versions``).

Settings come from ``[tracking]``, a configuration section this plugin owns
(:mod:`echelon_mlflow.settings`, registered through ``register_config_sections``, with the
``echelon run`` options ``--tracking-uri`` and ``--recalibrate``); ``uri = "none"``
disables tracking.  The MLflow work runs in one low-priority background thread of the
driver, overlapped with the run: MLflow is imported when the run starts, but the store
is opened (and, for SQLite, created) only once the input is valid, so a run that fails
on its input leaves no store behind.  A tracking server is probed with one bounded
request (``[tracking] connect_timeout``) before the run is opened and before the
results are logged, so an unreachable server costs seconds, not MLflow's minutes of
retries.  If tracking fails at any step the run still finishes and writes its results,
and the failure is reported in the run's notes (each step separately).  The plugin also
registers the ``registered`` forecaster (:mod:`echelon_mlflow.forecaster`) and the
``monitor`` / ``recalibrate`` / ``ui`` commands.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from echelon_mlflow.settings import TrackingSettings
from echelon_mlflow.stores import check_reachable, redact
from platform_core.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from echelon_mlflow.artefacts import ArtefactOutcome
    from echelon_mlflow.tracker import ModelOutcome
    from platform_core.data.schemas import Dataset
    from platform_core.run_context import RunContext, RunResult

_active: dict[str, Any] = {}
METADATA_KEY = b"echelon.model_versions"
SECTION = "tracking"


def _settings(run: RunContext) -> TrackingSettings:
    settings: TrackingSettings = run.config.section(SECTION)
    return settings


def _fail(run: RunContext, stage: str, exc: BaseException, *, drop: bool = True) -> None:
    if drop:
        _active.pop(run.run_id, None)
    run.notes.append(
        f"MLflow tracking failed at {stage} ({type(exc).__name__}: {exc}); "
        "results were written but this run is not (fully) logged"
    )


def _params(run: RunContext) -> dict[str, str]:
    flat = run.config.flat()
    for section, prepared in run.component_params.items():  # as the batches use them
        flat.update({f"{section}.{k}": v for k, v in prepared.items()})
    params = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in flat.items()}
    params.pop("tracking.uri", None)
    if params.get("tracking.trusted_registry_uri"):
        params["tracking.trusted_registry_uri"] = redact(params["tracking.trusted_registry_uri"])
    for family, info in run.components.items():
        params[f"component.{family}"] = info["name"]
        params[f"component.{family}.plugin"] = f"{info['plugin']} {info['version']}"
    for k, v in run.executor.items():
        params[f"executor.{k}"] = str(v)
    params["data_dir"] = str(run.data_dir)
    return {k: v[:6000] for k, v in params.items()}


def _lower_priority() -> None:
    """Give the tracking thread a lower CPU priority (Linux; best effort).

    It then mostly uses cycles the run leaves idle (one core while the driver loads
    and plans) instead of slowing the batches down.
    """
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # pragma: no cover - not Linux / not permitted
        pass


def _warm_up() -> None:
    """Import what the tracking work needs (seconds of imports; touches no store)."""
    try:
        import mlflow  # noqa: F401
        import mlflow.entities  # noqa: F401
        import requests  # noqa: F401

        import echelon_mlflow.tracker  # noqa: F401 - MLflow's pyfunc, the calibration
    except Exception:  # noqa: BLE001 - opening the run reports a missing import
        pass


class _Tracked:
    """One tracked run: a single background thread on the driver does the MLflow work.

    Importing MLflow starts with the run (overlapping with loading); opening the MLflow
    run (connecting to, or creating, the store) is queued once the input is valid, and
    calibrating the models after it, both overlapping with planning and solving, at a
    lower CPU priority; ``run_finished`` waits for them.  Every step catches its own
    failure and reports it in the run's notes.
    """

    def __init__(self, run: RunContext) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.run = run
        self.client: Any = None
        self.rid = ""
        self.seconds = 0.0  # time spent in this plugin's work [s]
        self.outcomes: list[ModelOutcome] | None = None
        self.calibration_seconds = float("nan")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="echelon-mlflow",
                                        initializer=_lower_priority)
        self._jobs = [self._pool.submit(self._timed, _warm_up)]

    def _timed(self, job: Any, *args: Any) -> None:
        t0 = time.perf_counter()
        try:
            job(*args)
        finally:
            self.seconds += time.perf_counter() - t0

    def _open(self) -> None:
        try:
            import mlflow
            from mlflow.entities import Param

            from echelon_mlflow.settings import artifact_location

            uri = _settings(self.run).uri
            check_reachable(uri, _settings(self.run).connect_timeout)  # fail in seconds, not minutes
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            name = _settings(self.run).experiment
            exp = client.get_experiment_by_name(name)
            exp_id = exp.experiment_id if exp is not None else client.create_experiment(name, artifact_location=artifact_location(str(client.tracking_uri), name))
            mlrun = client.create_run(exp_id, run_name=f"echelon-{self.run.run_id[:8]}",
                                      tags={"echelon.run_id": self.run.run_id, **self.run.tags})
            rid = mlrun.info.run_id
            items = [Param(k, v) for k, v in sorted(_params(self.run).items())]
            for i in range(0, len(items), 100):
                client.log_batch(rid, params=items[i : i + 100])
            self.client, self.rid = client, rid
        except Exception as exc:  # noqa: BLE001 - tracking must never stop a run
            _fail(self.run, "run start", exc, drop=False)

    def _calibrate(self, dataset: Dataset) -> None:
        if self.client is None:
            return
        settings = _settings(self.run)
        if not settings.calibration:
            return
        try:
            from echelon_mlflow.tracker import track_models

            t0 = time.perf_counter()
            self.outcomes = track_models(self.client, self.rid, self.run.config, dataset, settings)
            self.calibration_seconds = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001
            _fail(self.run, "calibration / model registry", exc, drop=False)

    def open_and_calibrate(self, dataset: Dataset) -> None:
        """Queue opening the MLflow run, then the calibration of the models on ``dataset``."""
        self._jobs.append(self._pool.submit(self._timed, self._open))
        self._jobs.append(self._pool.submit(self._timed, self._calibrate, dataset))

    def wait(self) -> None:
        """Wait for the queued work (its failures are already in the notes)."""
        for job in self._jobs:
            job.result()
        self._pool.shutdown(wait=True)


@hookimpl
def register_forecasters(register: Register) -> None:
    """Register the ``registered`` forecaster (forecasts with a registry version)."""
    from echelon_mlflow.forecaster import NAME, RegisteredForecaster

    register(NAME, RegisteredForecaster)


@hookimpl
def run_started(run: RunContext) -> None:
    """Start the tracking thread: it imports MLflow while the input loads (no store yet)."""
    if _settings(run).enabled:
        _active[run.run_id] = _Tracked(run)


@hookimpl
def input_validated(run: RunContext, dataset: Dataset) -> None:
    """Open the MLflow run, log the parameters, then calibrate the models (background).

    Only now is the store opened (a SQLite store is created), so a run whose input is
    invalid leaves no store behind.
    """
    entry = _active.get(run.run_id)
    if entry is not None:
        entry.open_and_calibrate(dataset)


def _record_versions(run: RunContext, result: RunResult, outcomes: list[ModelOutcome],
                     artefacts: list[ArtefactOutcome] | None = None) -> Path:
    """Write ``model_versions.json`` and the Parquet metadata of the recommendations.

    One entry per model kind: the calibrated models (``demand``, ``lead_time``) and the
    components' registered artefacts (``cost``, ``solver``, ...; ``<kind>.artefacts`` if
    the kind is taken).
    """
    import pyarrow.parquet as pq

    versions: dict[str, dict[str, Any]] = {
        o.kind: {"component": o.component, "registered_name": o.registered_name, "version": o.version,
                 "champion_after_run": o.champion, "challenger": o.challenger, "promoted": o.promoted,
                 "uri": f"models:/{o.registered_name}/{o.version}" if o.registered_name else ""}
        for o in outcomes
    }
    for a in artefacts or []:
        versions[a.kind if a.kind not in versions else f"{a.kind}.artefacts"] = a.record()
    path = Path(run.out_dir) / "model_versions.json"
    path.write_text(json.dumps(versions, indent=2))
    rec = Path(result.recommendations_path)
    table = pq.read_table(rec)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(versions).encode()
    tmp = rec.with_name(f".{rec.name}.{os.getpid()}.meta.tmp")
    pq.write_table(table.replace_schema_metadata(meta), tmp)
    os.replace(tmp, rec)
    if path not in result.extra_artifacts:
        result.extra_artifacts.append(path)
    return path


def _register_artefacts(run: RunContext, result: RunResult, entry: _Tracked) -> list[ArtefactOutcome]:
    """Register the components' fitted artefacts (:mod:`echelon_mlflow.artefacts`); [] on failure."""
    if not result.artefacts or not _settings(run).register_models:
        return []
    try:
        from echelon_mlflow.artefacts import register_artefacts

        skip = {o.registered_name for o in entry.outcomes or [] if o.registered_name}
        found = register_artefacts(entry.client, _settings(run).uri, entry.rid, result.artefacts, skip=skip,
                                   notes=run.notes, promote_new=run.tags.get("echelon.incremental") != "true",
                                   run_tags=run.tags)
        for a in found:
            entry.client.log_param(entry.rid, f"model.{a.kind}.name", a.component)
            entry.client.log_param(entry.rid, f"model.{a.kind}.version", a.version)
        return found
    except Exception as exc:  # noqa: BLE001 - tracking must never stop a run
        _fail(run, "artefact registry", exc, drop=False)
        return []


@hookimpl
def run_finished(run: RunContext, result: RunResult) -> None:
    """Log metrics, model versions and artifacts, then close the MLflow run."""
    entry: _Tracked | None = _active.pop(run.run_id, None)
    if entry is None:
        return
    entry.wait()
    if entry.client is None:
        return
    client, rid = entry.client, entry.rid
    t0 = time.perf_counter()
    try:
        check_reachable(_settings(run).uri, _settings(run).connect_timeout)  # it may have gone away mid-run
    except Exception as exc:  # noqa: BLE001
        _fail(run, "run end", exc)
        return
    try:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, 0) for k, v in sorted(result.metrics.items()) if math.isfinite(float(v))]
        if math.isfinite(entry.calibration_seconds):
            metrics.append(Metric("tracking.calibration_seconds", entry.calibration_seconds, now, 0))
        client.log_batch(rid, metrics=metrics)
    except Exception as exc:  # noqa: BLE001
        _fail(run, "run end (metrics)", exc)
        return
    artefacts = _register_artefacts(run, result, entry)
    if entry.outcomes is not None or artefacts:
        try:
            for o in entry.outcomes or []:
                client.log_param(rid, f"model.{o.kind}.name", o.component)
                client.log_param(rid, f"model.{o.kind}.version", o.version)
                if o.challenger:
                    run.notes.append(
                        f"recalibration: {o.registered_name} v{o.challenger} "
                        + ("promoted to @champion" if o.promoted else "registered as @challenger (lost the backtest)"))
            _record_versions(run, result, entry.outcomes or [], artefacts)
        except Exception as exc:  # noqa: BLE001
            _fail(run, "model versions", exc, drop=False)
    try:
        client.log_artifact(rid, str(result.recommendations_path))
        for path in result.extra_artifacts:
            client.log_artifact(rid, str(path))
        # time spent in this plugin's work (all but this metric and the status update)
        client.log_metric(rid, "tracking.seconds", entry.seconds + time.perf_counter() - t0)
        client.set_terminated(rid, "FINISHED")
        run.notes.append(f"logged to MLflow run {rid} at {redact(_settings(run).uri)}")
    except Exception as exc:  # noqa: BLE001
        _fail(run, "run end", exc)


@hookimpl
def run_failed(run: RunContext, error: BaseException) -> None:
    """Close the MLflow run as FAILED."""
    entry: _Tracked | None = _active.pop(run.run_id, None)
    if entry is None:
        return
    entry.wait()
    if entry.client is None:
        return
    try:
        check_reachable(_settings(run).uri, _settings(run).connect_timeout)  # do not hold up the error for minutes
        entry.client.set_tag(entry.rid, "echelon.error", f"{type(error).__name__}: {error}"[:5000])
        entry.client.set_terminated(entry.rid, "FAILED")
    except Exception:  # noqa: BLE001 - already failing; keep the original error
        pass


@hookimpl
def register_config_sections(register: Register) -> None:
    """Own the ``[tracking]`` section (:class:`echelon_mlflow.settings.TrackingSettings`)."""
    register(SECTION, TrackingSettings)


@hookimpl
def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--tracking-uri`` and ``--recalibrate`` to ``echelon run``."""
    parser.add_argument("--tracking-uri", dest=f"{SECTION}.uri",
                        help="MLflow tracking URI (default sqlite:///mlflow.db; 'none' disables)")
    parser.add_argument("--recalibrate", dest=f"{SECTION}.recalibrate", choices=["off", "auto"],
                        help="auto: refit the models monitoring flagged, register them @challenger, "
                             "promote to @champion when they win the backtest (docs/tracking.md; "
                             "default: [tracking] recalibrate, off)")


@hookimpl
def register_cli_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``echelon monitor``, ``echelon recalibrate``, ``echelon ui``, ``echelon rollout`` and ``echelon outcomes``.

    Called only when the ``echelon`` command builds its parser, before anything imports
    MLflow: on the console, MLflow's INFO lines ("Creating initial MLflow database
    tables", alembic's migrations) are quietened unless the user set the level.
    """
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    from echelon_mlflow.cli import add_monitor_commands, add_ui_command
    from echelon_mlflow.rollout_cli import add_rollout_commands

    add_monitor_commands(subparsers)
    add_ui_command(subparsers)
    add_rollout_commands(subparsers)
