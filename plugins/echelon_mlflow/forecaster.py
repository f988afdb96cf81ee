"""The ``registered`` forecaster: batches forecast with a registered model version.

``components.forecaster = "registered"`` makes every batch predict with a fitted
global demand model from the MLflow registry instead of fitting one per batch::

    [components]
    forecaster = "registered"

    [forecaster]
    model = "echelon-demand-quantile_gbm"   # registered name
    version = "champion"                     # alias or version number

On the driver, before batches start, :meth:`RegisteredForecaster.prepare` pins the alias
to a version number (so every batch and the recommendations use the same version, even
if a recalibration promotes another one during the run), fills ``tracking_uri`` from
``[tracking] uri`` and checks the model against the trust policy of ``[tracking]``
(trusted registry, allowed names, recorded SHA-256; see ``docs/tracking.md``, "Trust
model"): a refused model stops the run with one error before anything is unpickled.
It then pins ``sha256``, the digest it verified, so that every worker checks the bytes
it loads against the same digest.  Workers only *read* the model (once per process);
they never log.  A champion must exist: register one first with a run of the underlying
forecaster (e.g. ``quantile_gbm``) or ``echelon recalibrate``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from platform_core.components import DemandSeries
from platform_core.forecasting.batch import BatchForecaster

if TYPE_CHECKING:
    from platform_core.run_context import RunContext

__all__ = ["RegisteredForecaster", "NAME", "underlying_component"]

NAME = "registered"


def underlying_component(model: str) -> str:
    """Component name inside a registered name: ``echelon-demand-<component>``."""
    prefix = "echelon-demand-"
    return model[len(prefix):] if model.startswith(prefix) else model


DEFAULT_URI = "sqlite:///mlflow.db"


@functools.lru_cache(maxsize=4)
def _load(tracking_uri: str, model: str, version: str, sha256: str) -> Any:
    """The verified model (once per process); ``sha256`` "" = the version's recorded digest."""
    from echelon_mlflow import registry

    # the driver applied [tracking]'s source and name rules in prepare; here the bytes
    # loaded must match the digest it pinned (or the recorded one), as everywhere
    return registry.load_model(tracking_uri, model, version, policy=registry.TrustPolicy(), expected_sha256=sha256)


class RegisteredForecaster(BatchForecaster):
    """Forecast with a registered global demand model (frozen; see the module docstring).

    Args:
        model: registered model name.
        version: version number or alias [-].
        tracking_uri: MLflow tracking / registry URI ("" = ``sqlite:///mlflow.db``).
        sha256: SHA-256 the model's artifact must have (hex; see
            :func:`echelon_mlflow.registry.artifact_sha256`); "" = the digest recorded
            when Echelon registered the version.  :meth:`prepare` pins it; an operator
            may pin it too.

    Attributes:
        period_dists_: next-period demand distribution per series [units/period].
    """

    handles_intermittent: ClassVar[bool] = True
    is_global: ClassVar[bool] = True

    def __init__(self, model: str = "echelon-demand-quantile_gbm", version: str = "champion",
                 tracking_uri: str = "", sha256: str = "") -> None:
        self.model = model
        self.version = str(version)
        self.tracking_uri = tracking_uri
        self.sha256 = sha256

    @classmethod
    def prepare(cls, params: Mapping[str, Any], run: RunContext) -> dict[str, Any]:
        """Check the model against ``[tracking]``'s trust policy, pin version and digest.

        Driver, before batches (and before any input is read).  Fills ``tracking_uri``
        (``[tracking] uri``), resolves an alias to a version number and verifies the
        version's artifact (:func:`echelon_mlflow.registry.fetch_verified`, nothing is
        unpickled), then pins ``version`` and ``sha256``.  A store that does not exist
        (it is not created) or does not answer, or a version that cannot be resolved, is
        left as given and noted in the run's notes; the batches then report the failure
        per network.

        Raises:
            echelon_mlflow.registry.UntrustedModelError: the model is refused (untrusted
                store or name, no recorded SHA-256, or an artifact that does not match).
        """
        import tempfile

        from echelon_mlflow.registry import TrustPolicy, UntrustedModelError, fetch_verified
        from echelon_mlflow.settings import TrackingSettings
        from echelon_mlflow.stores import redact

        out = dict(params)
        tracking = run.config.plugin_sections.get("tracking")
        settings = tracking if isinstance(tracking, TrackingSettings) else TrackingSettings()
        uri = str(out.get("tracking_uri") or (settings.uri if settings.enabled else DEFAULT_URI))
        out["tracking_uri"] = uri
        model = str(out.get("model", "echelon-demand-quantile_gbm"))
        version = str(out.get("version", "champion"))
        policy = TrustPolicy.from_settings(settings)
        policy.check_source(uri, model)
        try:
            with tempfile.TemporaryDirectory(prefix="echelon-model-") as tmp:
                art = fetch_verified(uri, model, version, tmp, policy=policy, expected_sha256=str(out.get("sha256", "")),
                                     timeout=settings.connect_timeout)
        except UntrustedModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - the batches will report it per network
            run.notes.append(f"could not resolve the registered forecaster {model}@{version} at {redact(uri)}: "
                             f"{type(exc).__name__}: {exc}")
            return out
        out["version"], out["sha256"] = art.version, art.sha256
        if not art.checked:
            run.notes.append(
                f"registered forecaster {model} version {art.version} has no recorded SHA-256; loaded unverified "
                f"([tracking] require_model_sha256 = false), batches pinned to the digest seen now ({art.sha256})")
        return out

    def fit(self, demand: DemandSeries) -> Self:
        """Predict every series with the registered model (no training).

        Raises:
            echelon_mlflow.registry.UntrustedModelError: the artifact does not match
                ``sha256`` (or the recorded digest); nothing was unpickled.
        """
        from echelon_mlflow.pyfunc_models import predict_demand

        fitted = _load(self.tracking_uri or DEFAULT_URI, self.model, self.version, self.sha256)
        self.period_dists_ = predict_demand(fitted, demand)
        return self
