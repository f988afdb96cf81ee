"""Per-run model tracking: calibrate, register, and (with ``recalibrate = "auto"``) refit.

For each model of a run (the configured forecaster, ``kind = "demand"``, and lead-time
model, ``kind = "lead_time"``):

1. Build the holdout (:mod:`echelon_mlflow.calibration`).
2. Global models (forecasters with ``is_global``, lead-time models with
   ``uses_features``) are registered: when ``@champion`` exists, the frozen champion
   predicts the holdout; otherwise the model is fitted on the training part, logged as
   an MLflow ``pyfunc`` model, registered as version 1 and made ``@champion``.  Other
   models are refitted on the training part every run (version ``local``).
3. Log the calibration tables as Parquet artifacts under ``calibration/<kind>/``, the
   overall metrics as ``calibration.<kind>.*`` and tags naming model and version.
4. With ``recalibrate = "auto"`` and a registered champion: compare with the champion's
   reference window (:func:`echelon_mlflow.monitor.assess`); only when flagged, refit
   the model on the training part, register it as ``@challenger`` (its calibration goes
   to ``calibration/<kind>-challenger/``, the reference window of the new version) and
   promote it to ``@champion`` when it wins the holdout backtest: lower CRPS / |outcome|
   on the flagged groups' outcomes, and overall scaled CRPS at most
   :data:`OVERALL_TOLERANCE` worse than the champion's.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from echelon_mlflow import registry
from echelon_mlflow.calibration import (
    Calibration,
    Holdout,
    calibrate,
    demand_holdout,
    lead_time_holdout,
)
from echelon_mlflow.settings import TrackingSettings
from platform_core.data.columns import lead_time_days

if TYPE_CHECKING:
    import mlflow

    from platform_core.config import RunConfig
    from platform_core.data.schemas import Dataset

__all__ = ["TrackedModel", "ModelOutcome", "resolve_models", "track_models", "OVERALL_TOLERANCE"]

#: A challenger may be at most this much worse overall (scaled CRPS) and still win [-].
OVERALL_TOLERANCE = 0.02


@dataclass
class TrackedModel:
    """A model of the run as the tracker sees it.

    Attributes:
        kind: ``"demand"`` or ``"lead_time"``.
        component: configured component name.
        cls: the component class.
        params: constructor parameters from the configuration.
        is_global: whether it is registered (one fitted model across series / lanes).
        params_from_champion: refits take the champion's constructor parameters (the
            run uses the ``registered`` forecaster, whose parameters name the model).
    """

    kind: str
    component: str
    cls: type
    params: dict[str, Any]
    is_global: bool
    params_from_champion: bool = False

    @property
    def registered_name(self) -> str:
        """``echelon-<kind>-<component>``."""
        return registry.registered_name(self.kind, self.component)

    def fresh(self) -> Any:
        """A new unfitted instance."""
        return self.cls(**self.params)


@dataclass
class ModelOutcome:
    """What happened to one model in one run.

    Attributes:
        kind: ``"demand"`` or ``"lead_time"``.
        component: component name.
        version: version that produced the calibration (``"local"`` if unregistered).
        registered_name: registry name ("" when unregistered).
        calibration: the calibration of ``version``.
        drift_flagged: groups flagged against the reference (recalibration only).
        challenger: version registered as challenger in this run ("" if none).
        promoted: whether the challenger became champion.
        champion: the champion version after this run ("" if unregistered).
        backtest: scaled CRPS of champion and challenger on the holdout.
    """

    kind: str
    component: str
    version: str
    registered_name: str = ""
    calibration: Calibration | None = None
    drift_flagged: list[str] = field(default_factory=list)
    challenger: str = ""
    promoted: bool = False
    champion: str = ""
    backtest: dict[str, float] = field(default_factory=dict)


def resolve_models(config: RunConfig) -> list[TrackedModel]:
    """The demand and lead-time models configured for the run (via the plugin host)."""
    from echelon_mlflow.forecaster import NAME as REGISTERED
    from echelon_mlflow.forecaster import underlying_component
    from platform_core.plugin_host import PluginHost

    host = PluginHost()
    out = []
    for kind, family, key, section, flag in (
        ("demand", "forecaster", "forecaster", "forecaster", "is_global"),
        ("lead_time", "lead_time", "lead_time_model", "lead_time_model", "uses_features"),
    ):
        name = getattr(config.components, key)
        params = config.component_params(section)
        from_champion = False
        if kind == "demand" and name == REGISTERED:  # batches use the registered model
            name = underlying_component(str(params.get("model", "echelon-demand-quantile_gbm")))
            params, from_champion = {}, True
        cls = host.info(family, name).cls
        out.append(TrackedModel(kind, name, cls, params, bool(getattr(cls, flag, False)), from_champion))
    return out


def _constructor_params(obj: Any) -> dict[str, Any]:
    """Constructor parameters of a fitted estimator-style object."""
    import inspect

    return {p.name: getattr(obj, p.name) for p in inspect.signature(type(obj).__init__).parameters.values()
            if p.name != "self" and hasattr(obj, p.name)}


def _holdout(kind: str, dataset: Dataset, config: RunConfig, s: TrackingSettings) -> Holdout | None:
    t = dataset.tables
    if kind == "demand":
        return demand_holdout(t["demand"], s.holdout_periods, stages=t.get("stages"), receipts=t.get("receipts"),
                              max_series=s.calibration_max_series)
    receipts = t.get("receipts")
    if receipts is None or receipts.num_rows == 0:
        return None
    return lead_time_holdout(receipts, s.holdout_periods, config.run.period_days,
                             stages=t.get("stages"), max_lanes=s.calibration_max_series)


def _predict(kind: str, model: Any, h: Holdout, period_days: float, *, fit: bool) -> list[Any]:
    """Distributions of the holdout rows (fitting ``model`` on the training part first)."""
    if kind == "demand":
        if fit:
            model.fit(h.train)
            return list(model.period_demand())
        from echelon_mlflow.pyfunc_models import predict_demand

        return predict_demand(model, h.train)
    import numpy as np

    from platform_core.distributions import DiscreteDistribution

    if fit:
        model.fit(h.train)
    pred = model.predict(h.test, period_days)
    days = lead_time_days(h.train)
    glob = DiscreteDistribution.from_samples(np.maximum(np.rint(days / period_days), 0).astype(np.int64)) \
        if days.size else DiscreteDistribution.point(1)
    return [p if p is not None else glob for p in pred]


def _log_calibration(client: mlflow.MlflowClient, rid: str, path: str, cal: Calibration, h: Holdout,
                     reference: bool = False) -> None:
    from mlflow.entities import Metric

    with tempfile.TemporaryDirectory(prefix="echelon-cal-") as tmp:
        for name, table in (("observations", cal.observations), ("per_sku", cal.per_sku), ("summary", cal.summary)):
            pq.write_table(table, Path(tmp) / f"{name}.parquet")
        client.log_artifacts(rid, tmp, f"calibration/{path}")
    now = int(time.time() * 1000)
    metric_path = path.replace("-", "_")
    metrics = [Metric(f"calibration.{metric_path}.{k}", float(v), now, 0)
               for k, v in sorted(cal.overall.items()) if math.isfinite(float(v))]
    client.log_batch(rid, metrics=metrics)
    client.set_tag(rid, f"echelon.calibration.{path}.model", cal.model)
    client.set_tag(rid, f"echelon.calibration.{path}.version", cal.version)
    if reference:
        client.set_tag(rid, f"echelon.calibration.{path}.reference", "true")


def _scaled_crps(cal: Calibration) -> float:
    return float(cal.overall.get("scaled_crps", float("nan")))


def _flagged_crps(cal: Calibration, flagged: list[str]) -> float:
    """Summed CRPS / summed |outcome| over the observations of the flagged groups [-]."""
    import numpy as np

    obs = cal.observations
    mask = np.zeros(obs.num_rows, dtype=bool)
    for item in flagged:
        g, _, label = item.partition("=")
        if g == "all":
            mask[:] = True
        elif g in obs.column_names:
            mask |= obs.column(g).to_numpy(zero_copy_only=False).astype(str) == label
    if not mask.any():
        return float("nan")
    crps = obs.column("crps").to_numpy(zero_copy_only=False)[mask]
    y = np.abs(obs.column("y").to_numpy(zero_copy_only=False)[mask])
    return float(np.nansum(crps) / max(float(np.nansum(y)), 1e-9))


def track_models(
    client: mlflow.MlflowClient,
    rid: str,
    config: RunConfig,
    dataset: Dataset,
    settings: TrackingSettings,
    *,
    models: list[TrackedModel] | None = None,
    recalibrate: bool | None = None,
) -> list[ModelOutcome]:
    """Calibrate (and register / recalibrate) every model of a run into MLflow run ``rid``.

    Args:
        client: MLflow client of ``settings.uri``.
        rid: the open MLflow run.
        config: the run configuration.
        dataset: the validated input.
        settings: tracking settings.
        models: override the configured models (default :func:`resolve_models`).
        recalibrate: override ``settings.recalibrate == "auto"``.

    Returns:
        One :class:`ModelOutcome` per model.
    """
    from echelon_mlflow import monitor

    recal = settings.recalibrate == "auto" if recalibrate is None else recalibrate
    period_days = config.run.period_days
    out: list[ModelOutcome] = []
    as_of = ""
    for tm in models if models is not None else resolve_models(config):
        h = _holdout(tm.kind, dataset, config, settings)
        if h is None or len(h) == 0:
            continue
        if tm.kind == "demand" or not as_of:
            as_of = h.as_of
            client.set_tag(rid, monitor.TAG_AS_OF, as_of)
        h.as_of = as_of
        res = ModelOutcome(tm.kind, tm.component, "local")
        champ = None
        frozen: Any = None
        registered = tm.is_global and settings.register_models
        if registered:
            res.registered_name = tm.registered_name
            champ = registry.alias_version(client, tm.registered_name, registry.CHAMPION)
            if champ is not None:
                frozen = registry.load_model(settings.uri, tm.registered_name, str(champ.version),
                                             policy=registry.TrustPolicy.from_settings(settings),
                                             timeout=settings.connect_timeout)
                if tm.kind == "demand":
                    from echelon_mlflow.pyfunc_models import can_freeze_demand

                    if not can_freeze_demand(frozen):
                        frozen = None
        if frozen is not None and champ is not None:
            dists = _predict(tm.kind, frozen, h, period_days, fit=False)
            res.version = str(champ.version)
        else:
            fitted = tm.fresh()
            dists = _predict(tm.kind, fitted, h, period_days, fit=True)
            if registered:
                res.version = registry.log_model_version(
                    settings.uri, rid, tm.kind, tm.component, fitted,
                    tags={"echelon.as_of": h.as_of}, period_days=period_days)
                registry.promote(client, tm.registered_name, res.version)
        cal = calibrate(h, dists, tm.component, res.version)
        res.calibration = cal
        _log_calibration(client, rid, tm.kind, cal, h)
        if recal and frozen is not None:
            runs = monitor.calibration_runs(client, settings.experiment)
            current = monitor.CalibrationRun(rid, tm.kind, tm.kind, tm.component, res.version, h.as_of,
                                             int(time.time() * 1000))
            drift = monitor.assess(client, runs, current, settings, observations=cal.observations)
            res.drift_flagged = drift.flagged_groups if drift is not None else []
            promise = _promise_flagged(client, settings, tm, res.version)  # realised fill below the promise
            res.drift_flagged += [g for g in promise if g not in res.drift_flagged]
            client.set_tag(rid, f"echelon.drift.{tm.kind}.flagged", ",".join(res.drift_flagged) or "none")
            if (drift is not None and drift.flagged) or promise:
                if tm.params_from_champion:
                    tm = TrackedModel(tm.kind, tm.component, tm.cls, _constructor_params(frozen), tm.is_global)
                _refit(client, rid, tm, h, cal, res, settings, period_days)
        if registered:
            champ_now = registry.alias_version(client, tm.registered_name, registry.CHAMPION)
            res.champion = str(champ_now.version) if champ_now is not None else ""
        out.append(res)
    return out


def _promise_flagged(client: mlflow.MlflowClient, settings: TrackingSettings, tm: TrackedModel,
                     version: str) -> list[str]:
    """Demand classes whose realised fill fell short of this forecaster version's promise."""
    if tm.kind != "demand":
        return []
    from echelon_mlflow.outcomes_log import promise_drift

    return [g for p in promise_drift(client, settings.experiment, settings.drift.alpha)
            if p.model == tm.component and p.version == version for g in p.flagged_groups]


def _refit(client: mlflow.MlflowClient, rid: str, tm: TrackedModel, h: Holdout, champion_cal: Calibration,
           res: ModelOutcome, s: TrackingSettings, period_days: float) -> None:
    """Refit a flagged model as challenger; promote it when it wins the holdout backtest."""
    fitted = tm.fresh()
    dists = _predict(tm.kind, fitted, h, period_days, fit=True)
    version = registry.log_model_version(s.uri, rid, tm.kind, tm.component, fitted,
                                         tags={"echelon.as_of": h.as_of, "echelon.refit_of": res.version},
                                         period_days=period_days)
    client.set_registered_model_alias(tm.registered_name, registry.CHALLENGER, version)
    cal = calibrate(h, dists, tm.component, version)
    _log_calibration(client, rid, f"{tm.kind}-challenger", cal, h, reference=True)
    champ_score, ch_score = _scaled_crps(champion_cal), _scaled_crps(cal)
    champ_fl, ch_fl = _flagged_crps(champion_cal, res.drift_flagged), _flagged_crps(cal, res.drift_flagged)
    res.challenger = version
    res.backtest = {"champion_scaled_crps": champ_score, "challenger_scaled_crps": ch_score,
                    "champion_flagged_scaled_crps": champ_fl, "challenger_flagged_scaled_crps": ch_fl}
    wins = bool(math.isfinite(ch_score) and math.isfinite(ch_fl)
                and (not math.isfinite(champ_fl) or ch_fl < champ_fl)
                and (not math.isfinite(champ_score) or ch_score <= champ_score * (1.0 + OVERALL_TOLERANCE)))
    for k, v in res.backtest.items():
        client.set_model_version_tag(tm.registered_name, version, f"echelon.backtest.{k}", f"{v:.6g}")
    client.set_model_version_tag(tm.registered_name, version, "echelon.backtest.won", str(wins).lower())
    if wins:
        registry.promote(client, tm.registered_name, version)
        res.promoted = True
    client.set_tag(rid, f"echelon.recalibration.{tm.kind}",
                   f"v{version} {'promoted' if wins else 'kept as challenger'} "
                   f"(scaled CRPS {ch_score:.4g} vs champion v{res.version} {champ_score:.4g})")


def versions_table(outcomes: list[ModelOutcome]) -> pa.Table:
    """One row per model: kind, component, registered_name, version, champion."""
    return pa.Table.from_pylist([
        {"kind": o.kind, "component": o.component, "registered_name": o.registered_name,
         "version": o.version, "champion": o.champion, "challenger": o.challenger, "promoted": o.promoted}
        for o in outcomes
    ])
