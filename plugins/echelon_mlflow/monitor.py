"""Drift of model calibration over runs: statistics, history and the monitoring log.

Every tracked run stores, per model, the scored holdout outcomes
(``calibration/<kind>/observations.parquet``) and tags naming the model and the
registered version it used.  The **reference window** of a version is its first
``reference_runs`` calibration runs (for a refit: the run whose backtest registered it).
Each later run is compared with that window, per group (``all`` and every value of
the group columns, e.g. ``product_group=PG03``):

* ``psi``: population stability index of the 10-bin PIT histograms,
  ``sum (p - q) ln(p / q)`` (shares floored at 1e-4) [-];
* ``ks_stat``, ``ks_pvalue``: two-sample Kolmogorov-Smirnov test of the PIT values, the
  p-value computed with effective sample sizes sqrt(outcomes x SKU-locations), because
  the H outcomes of one series share a forecast (are correlated) [-];
* ``coverage_80_drop``: reference minus latest 80 % interval coverage [-];
* ``pit_shift``: latest minus reference mean PIT (> 0: outcomes above forecast,
  i.e. under-forecasting) [-];
* ``crps_ratio``: latest / reference scaled CRPS [-].

**Promise drift** (kind ``promise``, key ``promise:<forecaster>``): the latest outcome
ledger of each forecaster version (``echelon outcomes``) per demand class: ``n`` the
SKU-locations judged, ``pit_shift`` the realised minus promised fill [-], ``ks_pvalue``
the one-sided p-value of the shortfall; flagged as
:func:`platform_core.rollout.promise.flag_promise_drift` says.

A group is **flagged** when both windows have at least ``min_obs`` outcomes, the KS test
rejects at ``alpha / groups`` (Bonferroni), and the shift is material: ``psi`` above
its threshold, or the coverage drop, or ``|pit_shift|`` above theirs.  A model is
flagged when any of its groups is.

:func:`monitor` logs these metrics to the monitoring experiment: one MLflow run per
model (``drift-<kind>-<component>``), one step per run date (the step is the run's
``as_of`` date in days since 1970-01-01; the timestamp is that date), and tags the
source runs with what was flagged.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from echelon_mlflow.scoring import PIT_BINS, pit_histogram
from echelon_mlflow.settings import DriftThresholds, TrackingSettings, artifact_location

if TYPE_CHECKING:
    import mlflow

__all__ = [
    "GroupDrift",
    "ModelDrift",
    "MonitorReport",
    "CalibrationRun",
    "psi",
    "group_drift",
    "calibration_runs",
    "reference_runs",
    "load_observations",
    "assess",
    "monitor",
]

TAG_MODEL = "echelon.calibration.{path}.model"
TAG_VERSION = "echelon.calibration.{path}.version"
TAG_AS_OF = "echelon.as_of"
TAG_REFERENCE = "echelon.calibration.{path}.reference"


@dataclass
class GroupDrift:
    """Drift of one group of one model in one run (see the module docstring)."""

    group_by: str
    group: str
    n: int
    n_ref: int
    psi: float
    ks_stat: float
    ks_pvalue: float
    coverage_80_drop: float
    pit_shift: float
    crps_ratio: float
    flagged: bool


@dataclass
class ModelDrift:
    """Drift of one model in one run against its reference window.

    Attributes:
        kind: ``"demand"`` or ``"lead_time"``.
        model: component name.
        version: version used in the run (``"local"`` when unregistered).
        run_id: the assessed MLflow run.
        as_of: the run's data date (ISO).
        reference: MLflow run ids of the reference window.
        groups: one entry per group (``all`` first).
    """

    kind: str
    model: str
    version: str
    run_id: str
    as_of: str
    reference: list[str]
    groups: list[GroupDrift] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        """Whether any group drifted."""
        return any(g.flagged for g in self.groups)

    @property
    def flagged_groups(self) -> list[str]:
        """``group_by=group`` of every drifted group."""
        return [f"{g.group_by}={g.group}" for g in self.groups if g.flagged]

    @property
    def overall(self) -> GroupDrift | None:
        """The ``all`` group."""
        return next((g for g in self.groups if g.group_by == "all"), None)


@dataclass
class MonitorReport:
    """Result of :func:`monitor`: the latest drift per model and what was logged.

    Attributes:
        latest: the latest run's drift per model (key ``kind:component``).
        history: every assessed run per model, oldest first.
        monitoring_runs: MLflow run id of the monitoring run per model.
        steps_logged: new steps logged per model.
    """

    latest: dict[str, ModelDrift] = field(default_factory=dict)
    history: dict[str, list[ModelDrift]] = field(default_factory=dict)
    monitoring_runs: dict[str, str] = field(default_factory=dict)
    steps_logged: dict[str, int] = field(default_factory=dict)

    @property
    def flagged(self) -> dict[str, list[str]]:
        """Flagged groups of the latest run per flagged model."""
        return {k: d.flagged_groups for k, d in self.latest.items() if d.flagged}


@dataclass
class CalibrationRun:
    """A tracked run that holds the calibration of a model.

    Attributes:
        run_id: MLflow run id.
        path: artifact folder under ``calibration/`` (``demand``, ``demand-challenger``..).
        kind: ``"demand"`` or ``"lead_time"``.
        model: component name.
        version: version used.
        as_of: data date (ISO).
        start_time: MLflow start time [ms].
        reference: whether the run is (part of) a fixed reference, e.g. a backtest.
    """

    run_id: str
    path: str
    kind: str
    model: str
    version: str
    as_of: str
    start_time: int
    reference: bool = False


def psi(p: np.ndarray, q: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index of two histograms of shares [-]."""
    p = np.maximum(np.asarray(p, dtype=np.float64), floor)
    q = np.maximum(np.asarray(q, dtype=np.float64), floor)
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum((p - q) * np.log(p / q)))


def _ks(a: np.ndarray, b: np.ndarray, na: int, nb: int) -> tuple[float, float]:
    """KS statistic of two samples; p-value with effective sizes ``na``, ``nb``.

    PIT values of one series are correlated (its H outcomes share one forecast), so the
    p-value uses an effective sample size between the number of series (fully
    correlated) and of outcomes (independent): their geometric mean.
    """
    from scipy import stats

    if a.size == 0 or b.size == 0:
        return float("nan"), float("nan")
    d = float(stats.ks_2samp(a, b).statistic)
    en = math.sqrt(na * nb / max(na + nb, 1))
    return d, float(stats.kstwobign.sf(d * en))


def _n_eff(n_obs: int, n_series: int) -> int:
    return max(1, int(round(math.sqrt(n_obs * max(n_series, 1)))))


def group_drift(
    latest: pa.Table, reference: pa.Table, group_by: Sequence[str], thresholds: DriftThresholds
) -> list[GroupDrift]:
    """Drift per group of the latest observations against the reference observations.

    Args:
        latest: observations table of the assessed run (``pit, crps, covered_80, y`` and
            group columns).
        reference: observations of the reference window.
        group_by: group columns to break down by (``all`` is always included).
        thresholds: flagging rule.

    Returns:
        One :class:`GroupDrift` per group present in ``latest`` (``all`` first).
    """
    def cols(t: pa.Table) -> dict[str, np.ndarray]:
        return {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}

    L, R = cols(latest), cols(reference)
    lkey = np.char.add(L["sku"].astype(str), L["location"].astype(str)) if "location" in L else L["sku"].astype(str)
    rkey = np.char.add(R["sku"].astype(str), R["location"].astype(str)) if "location" in R else R["sku"].astype(str)
    pairs: list[tuple[str, str, np.ndarray, np.ndarray]] = [
        ("all", "all", np.ones(latest.num_rows, bool), np.ones(reference.num_rows, bool))]
    for g in group_by:
        if g not in L or g not in R:
            continue
        for label in sorted(set(L[g].astype(str))):
            pairs.append((g, label, L[g].astype(str) == label, R[g].astype(str) == label))
    alpha = thresholds.alpha / max(len(pairs), 1)
    out = []
    for g, label, lm, rm in pairs:
        pl, pr = L["pit"][lm], R["pit"][rm]
        pl, pr = pl[np.isfinite(pl)], pr[np.isfinite(pr)]
        ks_stat, ks_p = _ks(pl, pr, _n_eff(pl.size, np.unique(lkey[lm]).size),
                            _n_eff(pr.size, np.unique(rkey[rm]).size))
        p = psi(pit_histogram(pl, PIT_BINS), pit_histogram(pr, PIT_BINS)) if pl.size and pr.size else float("nan")
        cov = float(np.nanmean(R["covered_80"][rm]) - np.nanmean(L["covered_80"][lm])) if pl.size and pr.size else float("nan")
        shift = float(pl.mean() - pr.mean()) if pl.size and pr.size else float("nan")

        def scaled(c: dict[str, np.ndarray], m: np.ndarray) -> float:
            y = np.abs(c["y"][m])
            return float(np.nansum(c["crps"][m]) / max(float(np.nansum(y)), 1e-9))

        ratio = scaled(L, lm) / max(scaled(R, rm), 1e-12) if pl.size and pr.size else float("nan")
        enough = pl.size >= thresholds.min_obs and pr.size >= thresholds.min_obs
        material = (p > thresholds.psi) or (cov > thresholds.coverage_drop) or (abs(shift) > thresholds.pit_shift)
        flagged = bool(enough and math.isfinite(ks_p) and ks_p < alpha and material)
        out.append(GroupDrift(g, label, int(pl.size), int(pr.size), p, ks_stat, ks_p, cov, shift, ratio, flagged))
    return out


def calibration_runs(client: mlflow.MlflowClient, experiment: str) -> list[CalibrationRun]:
    """Every calibration held by the runs of ``experiment``, oldest data date first."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    out: list[CalibrationRun] = []
    token = None
    while True:
        page = client.search_runs([exp.experiment_id], max_results=1000, page_token=token)
        for r in page:
            tags = r.data.tags
            for k, v in tags.items():
                m = re.fullmatch(r"echelon\.calibration\.([\w\-]+)\.model", k)
                if not m:
                    continue
                path = m.group(1)
                out.append(CalibrationRun(
                    run_id=r.info.run_id, path=path, kind=path.split("-")[0], model=v,
                    version=tags.get(TAG_VERSION.format(path=path), "local"),
                    as_of=tags.get(TAG_AS_OF, ""), start_time=int(r.info.start_time or 0),
                    reference=tags.get(TAG_REFERENCE.format(path=path)) == "true",
                ))
        token = page.token
        if not token:
            break
    out.sort(key=lambda c: (c.as_of, c.start_time))
    return out


def reference_runs(runs: Sequence[CalibrationRun], kind: str, model: str, version: str, n: int) -> list[CalibrationRun]:
    """The reference window of ``(kind, model, version)``.

    A backtest calibration of the version when there is one, else its first ``n``
    calibration runs.
    """
    same = [r for r in runs if r.kind == kind and r.model == model and r.version == version]
    fixed = [r for r in same if r.reference]
    if fixed:
        return fixed[:1]
    return [r for r in same if r.path == kind][:n]


def load_observations(client: mlflow.MlflowClient, run: CalibrationRun, cache: dict[tuple[str, str], pa.Table] | None = None) -> pa.Table:
    """The observations table of a calibration run (downloaded once per cache)."""
    key = (run.run_id, run.path)
    if cache is not None and key in cache:
        return cache[key]
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="echelon-monitor-") as tmp:
        local = client.download_artifacts(run.run_id, f"calibration/{run.path}/observations.parquet", tmp)
        table = pq.read_table(local)
    if cache is not None:
        cache[key] = table
    return table


def assess(
    client: mlflow.MlflowClient,
    runs: Sequence[CalibrationRun],
    current: CalibrationRun,
    settings: TrackingSettings,
    observations: pa.Table | None = None,
    cache: dict[tuple[str, str], pa.Table] | None = None,
) -> ModelDrift | None:
    """Drift of one calibration against the reference window of its version.

    Args:
        client: MLflow client.
        runs: every calibration run (from :func:`calibration_runs`).
        current: the calibration to assess.
        settings: tracking settings (reference window, thresholds).
        observations: the current observations when already in memory.
        cache: download cache.

    Returns:
        The drift, or None when the version has no reference window yet.
    """
    ref = reference_runs(runs, current.kind, current.model, current.version, settings.reference_runs)
    if not ref:
        return None
    latest = observations if observations is not None else load_observations(client, current, cache)
    ref_tables = [load_observations(client, r, cache) for r in ref]
    reference = pa.concat_tables(ref_tables, promote_options="default") if len(ref_tables) > 1 else ref_tables[0]
    group_by = [c for c in latest.column_names if c not in
                ("sku", "location", "step", "y", "pit", "crps", "pinball_50", "pinball_90",
                 "covered_80", "covered_90", "median")]
    groups = group_drift(latest, reference, group_by, settings.drift)
    return ModelDrift(current.kind, current.model, current.version, current.run_id, current.as_of,
                      [r.run_id for r in ref], groups)


def _metric_key(*parts: str) -> str:
    return ".".join(re.sub(r"[^\w\-. /]", "_", p) for p in parts)


def _day(as_of: str) -> int:
    try:
        return (dt.date.fromisoformat(as_of[:10]) - dt.date(1970, 1, 1)).days
    except ValueError:
        return 0


def _monitoring_run(client: mlflow.MlflowClient, experiment: str, key: str) -> str:
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment, artifact_location=artifact_location(str(client.tracking_uri), experiment))
    found = client.search_runs([exp_id], filter_string=f"tags.`echelon.monitor.model` = '{key}'", max_results=1)
    if found:
        return str(found[0].info.run_id)
    run = client.create_run(exp_id, run_name=f"drift-{key.replace(':', '-')}", tags={"echelon.monitor.model": key})
    client.set_terminated(run.info.run_id, "FINISHED")
    return str(run.info.run_id)


def drift_metrics(d: ModelDrift) -> dict[str, float]:
    """Metric name -> value of one assessed run (``overall.*`` and ``<group_by>.<group>.*``)."""
    out: dict[str, float] = {"groups_flagged": float(sum(g.flagged for g in d.groups if g.group_by != "all"))}
    for g in d.groups:
        prefix = ("overall",) if g.group_by == "all" else (g.group_by, g.group)
        for name in ("psi", "ks_stat", "coverage_80_drop", "pit_shift", "crps_ratio"):
            v = float(getattr(g, name))
            if math.isfinite(v):
                out[_metric_key(*prefix, name)] = v
        out[_metric_key(*prefix, "flagged")] = float(g.flagged)
    return out


def monitor(
    tracking_uri: str,
    experiment: str = "echelon",
    *,
    settings: TrackingSettings | None = None,
    log: bool = True,
) -> MonitorReport:
    """Compare every run's calibration with its reference window and log the drift.

    Args:
        tracking_uri: MLflow tracking URI.
        experiment: experiment of the ``echelon run`` runs.
        settings: thresholds, reference window and monitoring experiment (defaults).
        log: log the metrics (one step per run date) and tag the source runs.

    Returns:
        The latest drift per model and the history.

    Raises:
        FileNotFoundError: a SQLite store that does not exist (it is not created).
        echelon_mlflow.stores.TrackingStoreUnreachable: the tracking server does not
            answer within ``settings.connect_timeout``.
    """
    import mlflow
    from mlflow.entities import Metric

    from echelon_mlflow.stores import require_existing_store

    s = settings or TrackingSettings(uri=tracking_uri, experiment=experiment)
    require_existing_store(tracking_uri, s.connect_timeout)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    runs = calibration_runs(client, experiment)
    report = MonitorReport()
    cache: dict[tuple[str, str], pa.Table] = {}
    models = sorted({(r.kind, r.model) for r in runs if "-" not in r.path})
    for kind, model in models:
        key = f"{kind}:{model}"
        mine = [r for r in runs if r.kind == kind and r.model == model and r.path == kind]
        by_date: dict[str, CalibrationRun] = {}
        for r in mine:  # one per run date: the latest run of that date
            by_date[r.as_of] = r
        hist = [d for r in sorted(by_date.values(), key=lambda r: r.as_of)
                if (d := assess(client, runs, r, s, cache=cache)) is not None]
        if not hist:
            continue
        report.history[key] = hist
        report.latest[key] = hist[-1]
        if not log:
            continue
        mon = _monitoring_run(client, s.monitor_experiment, key)
        report.monitoring_runs[key] = mon
        done = {m.step for m in client.get_metric_history(mon, "overall.psi")}
        logged = 0
        for d in hist:
            step = _day(d.as_of)
            if step in done:
                continue
            ts = step * 86_400_000
            items = [Metric(k, v, ts, step) for k, v in sorted(drift_metrics(d).items())]
            for i in range(0, len(items), 500):
                client.log_batch(mon, metrics=items[i: i + 500])
            client.set_tag(d.run_id, f"echelon.drift.{kind}.flagged", ",".join(d.flagged_groups) or "none")
            logged += 1
        latest = report.latest[key]
        client.set_tag(mon, "echelon.drift.latest_as_of", latest.as_of)
        client.set_tag(mon, "echelon.drift.flagged", ",".join(latest.flagged_groups) or "none")
        client.log_text(mon, json.dumps(_as_dict(latest), indent=2), f"drift/{latest.as_of or 'latest'}.json")
        report.steps_logged[key] = logged
    _promise_drift(client, experiment, s, report, log)
    return report


def _promise_drift(client: mlflow.MlflowClient, experiment: str, s: TrackingSettings, report: MonitorReport,
                   log: bool) -> None:
    """Add each forecaster version's promise drift (outcome ledgers) to ``report`` as kind ``promise``.

    A demand class whose realised fill falls short of the promise beyond noise is flagged
    like a drifted calibration group (``demand_class=<class>``), so ``--fail-on-drift``
    and ``recalibrate`` treat it like forecast drift (:mod:`echelon_mlflow.outcomes_log`).
    """
    from echelon_mlflow.outcomes_log import promise_drift

    nan = float("nan")
    for p in promise_drift(client, experiment, s.drift.alpha):
        groups = [GroupDrift("demand_class", str(r.demand_class), int(r.units), 0, nan, nan, float(r.p_value), nan,
                             -float(r.shortfall), nan, bool(r.flagged)) for r in p.table.itertuples()]
        key = f"promise:{p.model}"
        d = ModelDrift("promise", p.model, p.version, p.run_id, p.as_of, [], groups)
        report.latest[key] = d
        report.history[key] = [d]
        if log:
            client.set_tag(p.run_id, "echelon.drift.promise.flagged", ",".join(d.flagged_groups) or "none")


def _as_dict(d: ModelDrift) -> dict[str, Any]:
    return {
        "kind": d.kind, "model": d.model, "version": d.version, "run_id": d.run_id, "as_of": d.as_of,
        "reference": d.reference, "flagged": d.flagged, "flagged_groups": d.flagged_groups,
        "groups": [g.__dict__ for g in d.groups],
    }


def write_report(report: MonitorReport, path: str | Path) -> None:
    """Write the latest drift per model as JSON."""
    Path(path).write_text(json.dumps({k: _as_dict(v) for k, v in report.latest.items()}, indent=2))
