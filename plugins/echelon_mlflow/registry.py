"""Model registry: log fitted global models, register versions, manage aliases.

Registered model names are ``echelon-<kind>-<component>``, e.g.
``echelon-demand-quantile_gbm`` and ``echelon-lead_time-quantile_gbm``.  Aliases:

* ``@champion`` — the version runs use and the monitor watches; the first registered
  version becomes champion;
* ``@challenger`` — the latest refit that has not (yet) replaced the champion; removed
  when it is promoted;
* ``@previous`` — the champion replaced by the last promotion (for a rollback).

Each version carries tags ``echelon.kind``, ``echelon.component``, ``echelon.as_of``
(last date of the data it was fitted on), ``echelon.run_id`` and, after a backtest,
``echelon.backtest.*`` scores.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mlflow
    from mlflow.entities.model_registry import ModelVersion

__all__ = [
    "CHAMPION",
    "CHALLENGER",
    "PREVIOUS",
    "registered_name",
    "log_model_version",
    "alias_version",
    "load_model",
    "promote",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
_PIP = ["mlflow", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "echelon"]


def registered_name(kind: str, component: str) -> str:
    """Registry name of a model: ``echelon-<kind>-<component>``."""
    return f"echelon-{kind}-{component}"


_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextlib.contextmanager
def _using(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``uri`` for the block, then restore it exactly.

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` also export
    ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI``; restoring with the values
    ``get_*_uri`` returned would leave both URIs pinned (to ``./mlflow.db`` when the
    process had set none), so the process's own MLflow calls would later go there.
    The unset state and the environment are restored as they were.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    prev_t, prev_r = tracking_utils._tracking_uri, registry_utils._registry_uri
    prev_env = {k: os.environ.get(k) for k in _URI_ENV}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        # None: back to unset, as MLflow's own _use_tracking_uri does (it also resets the tracer)
        mlflow.set_tracking_uri(prev_t)  # type: ignore[arg-type]
        registry_utils._registry_uri = prev_r
        for k, v in prev_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence MLflow's pickling / signature warnings while logging a model."""
    import logging
    import warnings

    loggers = [logging.getLogger(n) for n in ("mlflow.pyfunc", "mlflow.models.model", "mlflow.models.signature")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)


def log_model_version(
    tracking_uri: str,
    run_id: str,
    kind: str,
    component: str,
    model: Any,
    *,
    tags: dict[str, str] | None = None,
    period_days: float = 7.0,
) -> str:
    """Log a fitted model as a ``pyfunc`` MLflow model in ``run_id`` and register it.

    Args:
        tracking_uri: tracking (and registry) URI.
        run_id: the MLflow run the model belongs to (left open).
        kind: ``"demand"`` or ``"lead_time"``.
        component: component name.
        model: the fitted model.
        tags: extra version tags.
        period_days: period length for the lead-time wrapper [days].

    Returns:
        The new version number (string).
    """
    import mlflow

    from echelon_mlflow.pyfunc_models import DemandModel, LeadTimeModel

    wrapper = DemandModel(model, component) if kind == "demand" else LeadTimeModel(model, component, period_days)
    name = registered_name(kind, component)
    with _using(tracking_uri):
        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        with mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None), _quiet():
            info = mlflow.pyfunc.log_model(
                name=f"{kind}_model", python_model=wrapper, pip_requirements=_PIP,
                registered_model_name=name, await_registration_for=60,
                tags={"echelon.kind": kind, "echelon.component": component},
            )
        # leave the run open: the caller terminates it
        client.update_run(run_id, status="RUNNING")
        version = str(info.registered_model_version)
        for k, v in {"echelon.kind": kind, "echelon.component": component, "echelon.run_id": run_id,
                     **(tags or {})}.items():
            client.set_model_version_tag(name, version, k, str(v))
    return version


def alias_version(client: mlflow.MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version behind ``name@alias``, or None (no such model or alias)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception:  # noqa: BLE001 - MLflow raises RestException/MlflowException
        return None


def load_model(tracking_uri: str, name: str, version: str) -> Any:
    """The fitted model object of ``name`` version ``version``."""
    import mlflow

    with _using(tracking_uri):
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    return pyfunc.unwrap_python_model().model


def promote(client: mlflow.MlflowClient, name: str, version: str) -> None:
    """Make ``version`` the champion; the old champion becomes ``@previous``.

    The ``@challenger`` alias is removed when it pointed at ``version``.
    """
    old = alias_version(client, name, CHAMPION)
    if old is not None and str(old.version) != str(version):
        client.set_registered_model_alias(name, PREVIOUS, str(old.version))
    client.set_registered_model_alias(name, CHAMPION, str(version))
    ch = alias_version(client, name, CHALLENGER)
    if ch is not None and str(ch.version) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)
