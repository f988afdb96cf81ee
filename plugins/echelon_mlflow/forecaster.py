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
if a recalibration promotes another one during the run) and fills ``tracking_uri`` from
``[tracking] uri``.  Workers only *read*
the model (once per process); they never log.  A champion must exist: register one first
with a run of the underlying forecaster (e.g. ``quantile_gbm``) or ``echelon recalibrate``.
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


@functools.lru_cache(maxsize=4)
def _load(tracking_uri: str, model: str, version: str) -> Any:
    from echelon_mlflow import registry
    from echelon_mlflow.stores import require_existing_store

    require_existing_store(tracking_uri)  # reading must not create an empty store

    if not version.isdigit():
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        version = str(client.get_model_version_by_alias(model, version).version)
    return registry.load_model(tracking_uri, model, version)


class RegisteredForecaster(BatchForecaster):
    """Forecast with a registered global demand model (frozen; see the module docstring).

    Args:
        model: registered model name.
        version: version number or alias [-].
        tracking_uri: MLflow tracking / registry URI ("" = ``sqlite:///mlflow.db``).

    Attributes:
        period_dists_: next-period demand distribution per series [units/period].
    """

    handles_intermittent: ClassVar[bool] = True
    is_global: ClassVar[bool] = True

    def __init__(self, model: str = "echelon-demand-quantile_gbm", version: str = "champion",
                 tracking_uri: str = "") -> None:
        self.model = model
        self.version = str(version)
        self.tracking_uri = tracking_uri

    @classmethod
    def prepare(cls, params: Mapping[str, Any], run: RunContext) -> dict[str, Any]:
        """Pin the alias to a version and fill ``tracking_uri`` (driver, before batches).

        A version that cannot be resolved, or a store that does not exist (it is not
        created: this runs before the input is read) or does not answer, is left as given
        and noted in the run's notes; the batches then report the failure per network.
        """
        out = dict(params)
        tracking = run.config.plugin_sections.get("tracking")
        uri = str(out.get("tracking_uri") or getattr(tracking, "uri", "") or "sqlite:///mlflow.db")
        out["tracking_uri"] = uri
        version = str(out.get("version", "champion"))
        if version.isdigit():
            return out
        try:
            import mlflow

            from echelon_mlflow.stores import require_existing_store

            require_existing_store(uri, float(getattr(tracking, "connect_timeout", 5.0)))
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            model = str(out.get("model", "echelon-demand-quantile_gbm"))
            out["version"] = str(client.get_model_version_by_alias(model, version).version)
        except Exception as exc:  # noqa: BLE001 - the batches will report it per network
            run.notes.append(f"could not resolve the registered forecaster @{version}: {type(exc).__name__}: {exc}")
        return out

    def fit(self, demand: DemandSeries) -> Self:
        """Predict every series with the registered model (no training)."""
        from echelon_mlflow.pyfunc_models import predict_demand

        fitted = _load(self.tracking_uri or "sqlite:///mlflow.db", self.model, self.version)
        self.period_dists_ = predict_demand(fitted, demand)
        return self
