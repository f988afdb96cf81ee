"""Rollout plans and outcome ledgers in MLflow, and promise drift read back from them.

* :func:`log_plan` — the plan (``rollout/plan.parquet``, ``balance.parquet``,
  ``plan.json``) as artifacts of the MLflow run of the ``echelon run`` it belongs to
  (found by its tag ``echelon.run_id``), with metrics ``rollout.*``.
* :func:`log_outcomes` — one MLflow run per ``echelon outcomes`` (tag ``echelon.kind =
  outcomes``; ``echelon.run_id``, ``echelon.outcomes_of`` (the run's MLflow run),
  ``echelon.as_of`` (last outcome period) and the model versions that made the promise:
  ``echelon.outcomes.model`` / ``.version`` for the forecaster and
  ``echelon.outcomes.model_versions`` with all of ``model_versions.json``); artifacts
  ``outcomes/{ledger,effects,promise}.parquet``; metrics ``outcome.wave<w>.<outcome>.*``
  and ``promise.<class>.*``.
* :func:`promise_drift` — per forecaster and version, its latest outcomes run's promise
  table with the drift flags (:func:`platform_core.rollout.promise.flag_promise_drift`),
  which ``echelon monitor`` reports and ``recalibrate`` treats like forecast drift.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from echelon_mlflow.settings import artifact_location

if TYPE_CHECKING:
    import mlflow

__all__ = ["log_plan", "log_outcomes", "promise_drift", "PromiseDrift", "PROMISE_TOLERANCE", "KIND_TAG"]

#: A shortfall of realised against promised fill above this is material [-].
PROMISE_TOLERANCE = 0.02
#: Fewest SKU-locations of a class to judge it.
PROMISE_MIN_UNITS = 10
KIND_TAG = "echelon.kind"


@dataclass
class PromiseDrift:
    """Promise drift of one forecaster version in its latest outcomes run.

    Attributes:
        model: forecaster (component) that made the promise.
        version: its version (``local`` when unregistered).
        run_id: the outcomes MLflow run.
        as_of: last outcome period (ISO).
        table: the promise table per demand class, with ``flagged``.
    """

    model: str
    version: str
    run_id: str
    as_of: str
    table: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def flagged_groups(self) -> list[str]:
        """``demand_class=<class>`` of every drifting class."""
        return [f"demand_class={c}" for c in self.table.loc[self.table["flagged"], "demand_class"]]


def _client(uri: str) -> mlflow.MlflowClient:
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client: mlflow.MlflowClient, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifact_location(str(client.tracking_uri), name)))


def find_run(client: mlflow.MlflowClient, experiment: str, echelon_run_id: str) -> str | None:
    """The MLflow run id of ``echelon run`` ``echelon_run_id`` (tag ``echelon.run_id``), or None."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None or not echelon_run_id:
        return None
    found = [r for r in client.search_runs([exp.experiment_id],
                                           filter_string=f"tags.`echelon.run_id` = '{echelon_run_id}'")
             if r.data.tags.get(KIND_TAG) != "outcomes"]  # runs of `echelon run` carry no echelon.kind
    return str(found[0].info.run_id) if found else None


def log_plan(uri: str, experiment: str, run_dir: str | Path, echelon_run_id: str, max_std_diff: float,
             waves: int) -> str | None:
    """Log ``RUN/rollout`` to the run's MLflow run; returns its id (None: the run is not tracked)."""
    from mlflow.entities import Metric

    client = _client(uri)
    rid = find_run(client, experiment, echelon_run_id)
    if rid is None:
        return None
    client.log_artifacts(rid, str(Path(run_dir) / "rollout"), "rollout")
    now = int(time.time() * 1000)
    client.log_batch(rid, metrics=[Metric("rollout.max_abs_std_diff", float(max_std_diff), now, 0),
                                   Metric("rollout.waves", float(waves), now, 0)])
    client.set_tag(rid, "echelon.rollout.plan", "rollout/plan.parquet")
    return rid


def _metric_name(*parts: str) -> str:
    import re

    return ".".join(re.sub(r"[^\w\-. /]", "_", p) for p in parts)


def log_outcomes(uri: str, experiment: str, run_dir: str | Path, echelon_run_id: str, forecaster: str,
                 as_of: str, effects: pd.DataFrame, promise: pd.DataFrame, files: list[Path]) -> str:
    """Log one outcomes run (module docstring); returns its MLflow run id."""
    from mlflow.entities import Metric

    client = _client(uri)
    exp_id = _experiment_id(client, experiment)
    versions_path = Path(run_dir) / "model_versions.json"
    versions: dict[str, Any] = json.loads(versions_path.read_text()) if versions_path.is_file() else {}
    demand = versions.get("demand", {})
    model = str(demand.get("component") or forecaster or "unknown")
    version = str(demand.get("version") or "local")
    source = find_run(client, experiment, echelon_run_id)
    tags = {KIND_TAG: "outcomes", "echelon.run_id": echelon_run_id, "echelon.as_of": as_of,
            "echelon.outcomes.model": model, "echelon.outcomes.version": version,
            "echelon.outcomes.model_versions": json.dumps(versions)[:5000]}
    if source:
        tags["echelon.outcomes_of"] = source
    run = client.create_run(exp_id, run_name=f"outcomes-{as_of}", tags=tags)
    rid = str(run.info.run_id)
    for path in files:
        client.log_artifact(rid, str(path), "outcomes")
    now = int(time.time() * 1000)
    metrics = []
    for row in effects.itertuples():
        for name in ("estimate", "se", "ci_low", "ci_high", "adoption_rate", "override_rate"):
            v = float(getattr(row, name))
            if math.isfinite(v):
                metrics.append(Metric(_metric_name("outcome", f"wave{row.wave}", str(row.outcome), name), v, now, 0))
    for row in promise.itertuples():
        for name in ("promised_fill", "realised_fill", "shortfall", "se"):
            v = float(getattr(row, name))
            if math.isfinite(v):
                metrics.append(Metric(_metric_name("promise", str(row.demand_class), name), v, now, 0))
    for i in range(0, len(metrics), 500):
        client.log_batch(rid, metrics=metrics[i:i + 500])
    client.set_terminated(rid, "FINISHED")
    if source:
        client.set_tag(source, "echelon.outcomes.latest", rid)
    return rid


def promise_drift(client: mlflow.MlflowClient, experiment: str, alpha: float,
                  tolerance: float = PROMISE_TOLERANCE, min_units: int = PROMISE_MIN_UNITS) -> list[PromiseDrift]:
    """Per forecaster and version: the promise drift of its latest outcomes run (by ``as_of``)."""
    import pyarrow.parquet as pq

    from platform_core.rollout.promise import flag_promise_drift

    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{KIND_TAG}` = 'outcomes'",
                              max_results=1000)
    latest: dict[tuple[str, str], Any] = {}
    for r in sorted(runs, key=lambda r: (r.data.tags.get("echelon.as_of", ""), r.info.start_time or 0)):
        t = r.data.tags
        latest[(t.get("echelon.outcomes.model", ""), t.get("echelon.outcomes.version", "local"))] = r
    out = []
    for (model, version), r in sorted(latest.items()):
        with tempfile.TemporaryDirectory(prefix="echelon-promise-") as tmp:
            try:
                local = client.download_artifacts(r.info.run_id, "outcomes/promise.parquet", tmp)
            except Exception:  # noqa: BLE001 - an outcomes run without a promise table is skipped
                continue
            table = pq.read_table(local).to_pandas()
        table["flagged"] = flag_promise_drift(table, alpha=alpha, tolerance=tolerance, min_units=min_units)
        out.append(PromiseDrift(model, version, str(r.info.run_id), r.data.tags.get("echelon.as_of", ""), table))
    return out
