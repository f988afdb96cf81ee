"""Logs every ``echelon run`` to MLflow through the lifecycle hooks.

One MLflow run per ``echelon run`` (never one per SKU): parameters (configuration,
component names, plugin versions), aggregate metrics, and the recommendations and
summary as artifacts.  The tracking URI comes from ``[tracking] uri`` (default
``sqlite:///mlflow.db``; ``none`` disables tracking).  If tracking fails at any point the
run still finishes and writes its results, and the failure is reported in the run's
notes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from platform_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from platform_core.run_context import RunContext, RunResult

_active: dict[str, Any] = {}


def _enabled(run: RunContext) -> bool:
    uri = run.config["tracking"].get("uri")
    return bool(uri) and str(uri).lower() != "none"


def _fail(run: RunContext, stage: str, exc: BaseException) -> None:
    _active.pop(run.run_id, None)
    run.notes.append(
        f"MLflow tracking failed at {stage} ({type(exc).__name__}: {exc}); "
        "results were written but this run is not (fully) logged"
    )


def _params(run: RunContext) -> dict[str, str]:
    params = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in run.config.flat().items()}
    params.pop("tracking.uri", None)
    for family, info in run.components.items():
        params[f"component.{family}"] = info["name"]
        params[f"component.{family}.plugin"] = f"{info['plugin']} {info['version']}"
    for k, v in run.executor.items():
        params[f"executor.{k}"] = str(v)
    params["data_dir"] = str(run.data_dir)
    return {k: v[:6000] for k, v in params.items()}


@hookimpl
def run_started(run: RunContext) -> None:
    """Open an MLflow run and log the parameters."""
    if not _enabled(run):
        return
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=run.config["tracking"]["uri"])
        name = run.config["tracking"].get("experiment", "echelon")
        exp = client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(name)
        mlrun = client.create_run(exp_id, run_name=f"echelon-{run.run_id[:8]}", tags={"echelon.run_id": run.run_id})
        rid = mlrun.info.run_id
        from mlflow.entities import Param

        params = _params(run)
        items = [Param(k, v) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            client.log_batch(rid, params=items[i : i + 100])
        _active[run.run_id] = (client, rid)
    except Exception as exc:  # noqa: BLE001 - tracking must never stop a run
        _fail(run, "run start", exc)


@hookimpl
def run_finished(run: RunContext, result: RunResult) -> None:
    """Log aggregate metrics and the artifacts, then close the MLflow run."""
    entry = _active.pop(run.run_id, None)
    if entry is None:
        return
    client, rid = entry
    try:
        import math
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, 0) for k, v in sorted(result.metrics.items()) if math.isfinite(float(v))]
        client.log_batch(rid, metrics=metrics)
        client.log_artifact(rid, str(result.recommendations_path))
        for path in result.extra_artifacts:
            client.log_artifact(rid, str(path))
        client.set_terminated(rid, "FINISHED")
        run.notes.append(f"logged to MLflow run {rid} at {run.config['tracking']['uri']}")
    except Exception as exc:  # noqa: BLE001
        _fail(run, "run end", exc)


@hookimpl
def run_failed(run: RunContext, error: BaseException) -> None:
    """Close the MLflow run as FAILED."""
    entry = _active.pop(run.run_id, None)
    if entry is None:
        return
    client, rid = entry
    try:
        client.set_tag(rid, "echelon.error", f"{type(error).__name__}: {error}"[:5000])
        client.set_terminated(rid, "FAILED")
    except Exception:  # noqa: BLE001 - already failing; keep the original error
        pass
