"""Stand-alone recalibration: ``recalibrate(data_dir, tracking_uri)``.

Does for a dataset what ``[tracking] recalibrate = "auto"`` does at the end of a run,
without solving policies: calibrate every configured model on the holdout (frozen
``@champion`` for registered global models), compare with the champion's reference
window, refit only the flagged models as ``@challenger`` and promote a challenger that
wins the holdout backtest.  Everything is logged to one MLflow run named
``recalibrate-<as_of>`` (tag ``echelon.kind = recalibration``) in the experiment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from echelon_mlflow.settings import TrackingSettings, artifact_location
from echelon_mlflow.stores import check_reachable
from echelon_mlflow.tracker import ModelOutcome, track_models

__all__ = ["recalibrate"]


def recalibrate(
    data_dir: str | os.PathLike[str],
    tracking_uri: str = "sqlite:///mlflow.db",
    *,
    experiment: str = "echelon",
    config_path: str | os.PathLike[str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> list[ModelOutcome]:
    """Recalibrate the models configured for ``data_dir`` (see the module docstring).

    Args:
        data_dir: input dataset directory.
        tracking_uri: MLflow tracking and registry URI.
        experiment: experiment of the ``echelon run`` runs.
        config_path: TOML configuration (the components and their parameters).
        overrides: configuration overrides (as in :func:`platform_core.config.load_config`).

    Returns:
        One outcome per model (version used, flagged groups, challenger, promotion).

    Raises:
        platform_core.data.errors.DataValidationError: the dataset is invalid.
        echelon_mlflow.stores.TrackingStoreUnreachable: the tracking server does not answer.
        echelon_mlflow.registry.UntrustedModelError: a champion the trust policy refuses.
    """
    import mlflow

    from platform_core.config import load_config
    from platform_core.data.loaders import load_dataset

    ov: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (overrides or {}).items()}
    ov.setdefault("tracking", {}).update({"uri": tracking_uri, "experiment": experiment})
    config = load_config(None if config_path is None else Path(config_path), ov)
    settings: TrackingSettings = config.section("tracking")
    dataset = load_dataset(data_dir, period_days=config.run.period_days)  # the store is opened (or created) only for a valid input
    check_reachable(tracking_uri, settings.connect_timeout)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment, artifact_location=artifact_location(str(client.tracking_uri), experiment))
    run = client.create_run(exp_id, run_name="recalibrate", tags={"echelon.kind": "recalibration",
                                                                  "echelon.data_dir": str(data_dir)})
    rid = run.info.run_id
    try:
        outcomes = track_models(client, rid, config, dataset, settings, recalibrate=True)
    except BaseException as exc:
        client.set_tag(rid, "echelon.error", f"{type(exc).__name__}: {exc}"[:5000])
        client.set_terminated(rid, "FAILED")
        raise
    as_of = client.get_run(rid).data.tags.get("echelon.as_of", "")
    if as_of:
        client.set_tag(rid, "mlflow.runName", f"recalibrate-{as_of}")
    client.set_terminated(rid, "FINISHED")
    return outcomes
