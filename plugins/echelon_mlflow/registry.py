"""Model registry: log fitted global models, register versions, manage aliases.

Registered model names are ``echelon-<kind>-<component>``, e.g.
``echelon-demand-quantile_gbm`` and ``echelon-lead_time-quantile_gbm``.  Aliases:

* ``@champion`` — the version runs use and the monitor watches; the first registered
  version becomes champion;
* ``@challenger`` — the latest refit that has not (yet) replaced the champion; removed
  when it is promoted;
* ``@previous`` — the champion replaced by the last promotion (for a rollback).

Each version carries tags ``echelon.kind``, ``echelon.component``, ``echelon.as_of``
(last date of the data it was fitted on), ``echelon.run_id``, ``echelon.model_sha256``
(:data:`MODEL_SHA256_TAG`, the digest of its stored artifact) and, after a backtest,
``echelon.backtest.*`` scores.

Loading a version unpickles it, which runs whatever code the pickle names.  So
:func:`load_model` first applies a :class:`TrustPolicy` (the trusted registry, the
allowed names) without touching the store, then copies the version's artifact into a
private temporary directory, compares its :func:`artifact_sha256` with the recorded
(or a pinned) digest and unpickles that same copy only when they match; otherwise it
raises :class:`UntrustedModelError` before anything is unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from echelon_mlflow.stores import normalise_uri, redact, require_existing_store, same_store

if TYPE_CHECKING:
    import mlflow
    from mlflow.entities.model_registry import ModelVersion

    from echelon_mlflow.settings import TrackingSettings

__all__ = [
    "CHAMPION",
    "CHALLENGER",
    "PREVIOUS",
    "MODEL_SHA256_TAG",
    "TrustPolicy",
    "UntrustedModelError",
    "VerifiedArtifact",
    "artifact_sha256",
    "registered_name",
    "log_model_version",
    "alias_version",
    "fetch_verified",
    "load_model",
    "promote",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
#: Model-version tag holding the SHA-256 of the version's artifact (:func:`artifact_sha256`).
MODEL_SHA256_TAG = "echelon.model_sha256"
_PIP = ["mlflow", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn", "echelon"]


class UntrustedModelError(ValueError):
    """A registered model that Echelon refuses to load (nothing was unpickled)."""


@dataclass(frozen=True)
class TrustPolicy:
    """Which registered models may be loaded (unpickled).

    Attributes:
        trusted_registry_uri: the only store models may come from ("" = any store).
        allowed_models: registered names that may be loaded (empty = any name).
        require_sha256: refuse a version without a recorded (or pinned) SHA-256.
    """

    trusted_registry_uri: str = ""
    allowed_models: tuple[str, ...] = ()
    require_sha256: bool = True

    @classmethod
    def from_settings(cls, settings: TrackingSettings) -> TrustPolicy:
        """The policy of a ``[tracking]`` section (trusted registry defaults to its ``uri``)."""
        return cls(settings.trusted_registry, tuple(settings.allowed_models), settings.require_model_sha256)

    def check_source(self, uri: str, name: str) -> None:
        """Refuse ``name`` from store ``uri`` unless the policy allows it (no store access).

        Raises:
            UntrustedModelError: another store than the trusted one, or a name outside
                ``allowed_models``.
        """
        if self.trusted_registry_uri and not same_store(uri, self.trusted_registry_uri):
            raise UntrustedModelError(
                f"refusing to load model {name!r} from {redact(normalise_uri(uri))}: it is not the trusted registry "
                f"{redact(normalise_uri(self.trusted_registry_uri))} ([tracking] trusted_registry_uri, default "
                "[tracking] uri)")
        if self.allowed_models and name not in self.allowed_models:
            raise UntrustedModelError(
                f"refusing to load model {name!r}: not in [tracking] allowed_models {list(self.allowed_models)}")


@dataclass(frozen=True)
class VerifiedArtifact:
    """A local copy of a version's artifact whose digest was checked.

    Attributes:
        name: registered model name.
        version: version number.
        sha256: SHA-256 of the copy (:func:`artifact_sha256`), hex.
        path: the local copy (a directory).
        checked: whether ``sha256`` was compared with a recorded or pinned digest
            (False only when the policy does not require one and none exists).
    """

    name: str
    version: str
    sha256: str
    path: Path
    checked: bool


def artifact_sha256(directory: str | os.PathLike[str]) -> str:
    r"""SHA-256 of a model artifact directory, independent of where it is stored.

    The hex SHA-256 of the lines ``<relative path>\0<hex SHA-256 of the file>\n`` of
    every file under ``directory`` (paths with ``/``, sorted); empty directories do not
    count.

    Raises:
        ValueError: ``directory`` holds no file.
    """
    root = Path(directory)
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
    if not files:
        raise ValueError(f"no model files under {root}")
    outer = hashlib.sha256()
    for rel, path in files:
        inner = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                inner.update(block)
        outer.update(f"{rel}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


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
    wrapper: Any = None,
) -> str:
    """Log a fitted model as a ``pyfunc`` MLflow model in ``run_id`` and register it.

    Args:
        tracking_uri: tracking (and registry) URI.
        run_id: the MLflow run the model belongs to (left open).
        kind: ``"demand"`` or ``"lead_time"`` (or, with ``wrapper``, any kind, e.g. ``"cost"``).
        component: component name.
        model: the fitted model.
        tags: extra version tags.
        period_days: period length for the lead-time wrapper [days].
        wrapper: the ``PythonModel`` to log (default: the demand or lead-time wrapper of
            ``model``); its ``model`` attribute is what :func:`load_model` returns.

    Returns:
        The new version number (string).  The version is tagged with the SHA-256 of its
        artifact as stored (:data:`MODEL_SHA256_TAG`).
    """
    import mlflow

    from echelon_mlflow.pyfunc_models import DemandModel, LeadTimeModel

    if wrapper is None:
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
        client.set_model_version_tag(name, version, MODEL_SHA256_TAG, _stored_sha256(client, tracking_uri, name, version))
    return version


def _download(client: mlflow.MlflowClient, tracking_uri: str, name: str, version: str, dst: str) -> Path:
    """Copy the stored artifact of ``name`` ``version`` (not a ``models:/`` view) into ``dst``."""
    import mlflow

    source = client.get_model_version_download_uri(name, version)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=dst, tracking_uri=tracking_uri))


def _stored_sha256(client: mlflow.MlflowClient, tracking_uri: str, name: str, version: str) -> str:
    with tempfile.TemporaryDirectory(prefix="echelon-model-") as tmp:
        return artifact_sha256(_download(client, tracking_uri, name, version, tmp))


def alias_version(client: mlflow.MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version behind ``name@alias``, or None (no such model or alias)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception:  # noqa: BLE001 - MLflow raises RestException/MlflowException
        return None


def fetch_verified(
    tracking_uri: str,
    name: str,
    version: str,
    dst: str | os.PathLike[str],
    *,
    policy: TrustPolicy,
    expected_sha256: str = "",
    timeout: float = 5.0,
) -> VerifiedArtifact:
    """Copy a version's artifact into ``dst`` and check it; nothing is unpickled.

    Args:
        tracking_uri: tracking / registry URI.
        name: registered model name.
        version: version number or alias.
        dst: an empty directory only this process writes to.
        policy: which sources and names are trusted, and whether a digest is required.
        expected_sha256: a pinned digest (hex); "" = the version's recorded
            :data:`MODEL_SHA256_TAG`.
        timeout: bound of the tracking server probe [s].

    Returns:
        The checked copy.

    Raises:
        UntrustedModelError: untrusted store or name, no digest while one is required,
            a pin that differs from the recorded digest, or an artifact whose SHA-256
            does not match.
        FileNotFoundError: a SQLite store that does not exist (it is not created).
        echelon_mlflow.stores.TrackingStoreUnreachable: the tracking server does not answer.
    """
    import mlflow

    policy.check_source(tracking_uri, name)
    require_existing_store(tracking_uri, timeout)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mv = client.get_model_version(name, version) if version.isdigit() else client.get_model_version_by_alias(name, version)
    number = str(mv.version)
    what = f"model {name!r} version {number}"
    recorded = str((mv.tags or {}).get(MODEL_SHA256_TAG, "")).lower()
    pinned = expected_sha256.strip().lower()
    if pinned and recorded and pinned != recorded:
        raise UntrustedModelError(
            f"refusing to load {what}: the pinned SHA-256 {pinned} differs from the one recorded at registration "
            f"({MODEL_SHA256_TAG} = {recorded})")
    want = pinned or recorded
    if not want and policy.require_sha256:
        raise UntrustedModelError(
            f"refusing to load {what}: it has no recorded SHA-256 (model-version tag {MODEL_SHA256_TAG}; Echelon "
            "records it when it registers a version). Register it again with Echelon, pin a digest, or set "
            "[tracking] require_model_sha256 = false to trust this store's artifacts as they are")
    path = _download(client, tracking_uri, name, number, os.fspath(dst))
    digest = artifact_sha256(path)
    if want and digest != want:
        raise UntrustedModelError(
            f"refusing to load {what}: the SHA-256 of its artifact ({digest}) does not match the "
            f"{'pinned' if pinned else 'recorded'} one ({want}); the artifact at "
            f"{client.get_model_version_download_uri(name, number)} was changed after registration")
    return VerifiedArtifact(name, number, digest, path, bool(want))


def load_model(
    tracking_uri: str,
    name: str,
    version: str,
    *,
    policy: TrustPolicy,
    expected_sha256: str = "",
    timeout: float = 5.0,
) -> Any:
    """The fitted model object of ``name`` ``version``, unpickled only after its checks.

    The artifact is copied into a private temporary directory, checked there
    (:func:`fetch_verified`) and loaded from that same copy.

    Args:
        tracking_uri: tracking / registry URI.
        name: registered model name.
        version: version number or alias.
        policy: the trust policy (see :class:`TrustPolicy`).
        expected_sha256: a pinned digest (hex); "" = the recorded one.
        timeout: bound of the tracking server probe [s].

    Raises:
        UntrustedModelError: see :func:`fetch_verified`; nothing was unpickled.
    """
    import mlflow

    with tempfile.TemporaryDirectory(prefix="echelon-model-") as tmp:
        art = fetch_verified(tracking_uri, name, version, tmp, policy=policy, expected_sha256=expected_sha256,
                             timeout=timeout)
        pyfunc = mlflow.pyfunc.load_model(str(art.path))
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
