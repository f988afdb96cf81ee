"""MLflow ``pyfunc`` wrappers of Echelon's fitted global models, and frozen prediction.

A registered version holds a *fitted* model that is reused as it is ("frozen") until a
recalibration replaces it:

* demand (:class:`DemandModel`): a fitted global forecaster, e.g.
  ``echelon_demand.models.QuantileGBMForecaster``; ``predict`` takes a long demand frame
  (``sku, location, period, quantity[, stocked_out]``) and returns the next period's
  quantiles per SKU-location [units/period];
* lead time (:class:`LeadTimeModel`): a fitted feature-based lead-time model, e.g.
  ``echelon_leadtime.models.QuantileGBMLeadTime``; ``predict`` takes receipt-like lane
  rows and returns lead-time quantiles per row [days].

Frozen prediction of the quantile GBM forecaster rebuilds its next-period features with
the fitted object's own feature function (``_features``; a small local helper because
the forecaster has no public predict-on-new-series method).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from mlflow.pyfunc import PythonModel

from platform_core.components import DemandSeries
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.quantile_pmf import quantiles_to_pmf
from platform_core.forecasting.series import demand_series_from_table, padded

__all__ = ["ArtefactModel", "DemandModel", "LeadTimeModel", "predict_demand", "can_freeze_demand", "QUANTILE_LEVELS"]

QUANTILE_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def can_freeze_demand(model: object) -> bool:
    """Whether :func:`predict_demand` can predict with ``model`` without refitting."""
    return hasattr(model, "predict_series") or (hasattr(model, "models_") and hasattr(model, "_features"))


def predict_demand(model: Any, demand: DemandSeries) -> list[DiscreteDistribution]:
    """Next-period demand distribution per series from a fitted (frozen) model.

    Args:
        model: a fitted forecaster with ``predict_series(demand)``, or a fitted
            quantile GBM forecaster (``models_``, ``levels``, ``_features``).
        demand: the history up to the forecast origin.

    Returns:
        One distribution per series [units/period].
    """
    if hasattr(model, "predict_series"):
        return list(model.predict_series(demand))
    Y, _ = padded(demand, getattr(model, "max_history", None))
    n, T = Y.shape
    ok = ~np.isnan(Y)
    Y0 = np.where(ok, Y, 0.0)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(Y0, axis=1)], axis=1)
    ccnt = np.concatenate([np.zeros((n, 1)), np.cumsum(ok, axis=1)], axis=1)
    cnz = np.concatenate([np.zeros((n, 1)), np.cumsum(ok & (Y0 > 0), axis=1)], axis=1)
    pos = ok & (Y0 > 0)
    last = np.where(pos.any(axis=1), T - 1 - np.argmax(pos[:, ::-1], axis=1), -1).astype(np.float64)
    attrs = model._attrs(demand) if hasattr(model, "_attrs") else np.zeros((n, 0))
    X = model._features(Y, csum, ccnt, cnz, last, T, attrs)
    cols = []
    for m in model.models_:
        if hasattr(m, "n_iter_"):
            cols.append(m.predict(X))
        else:  # the forecaster fell back to a pooled quantile (too little data)
            cols.append(np.zeros(n))
    Q = np.sort(np.column_stack(cols), axis=1) if cols else np.zeros((n, 0))
    lv = np.asarray(model.levels, dtype=np.float64)
    return [quantiles_to_pmf(q, lv) for q in Q]


def _quantile_frame(index: pd.Index, dists: list[DiscreteDistribution]) -> pd.DataFrame:
    lv = np.asarray(QUANTILE_LEVELS)
    out = np.empty((len(dists), lv.size))
    for i, d in enumerate(dists):
        cdf = np.cumsum(d.pmf)
        cdf[-1] = 1.0
        out[i] = np.minimum(np.searchsorted(cdf, lv - 1e-12), cdf.size - 1) + d.offset
    return pd.DataFrame(out, index=index, columns=[f"q{int(round(v * 100)):02d}" for v in lv])


class DemandModel(PythonModel):  # type: ignore[misc]
    """A fitted global demand forecaster as an MLflow ``pyfunc`` model.

    Args:
        model: the fitted forecaster (pickled with the model).
        component: its component name, e.g. ``"quantile_gbm"``.
    """

    def __init__(self, model: Any, component: str) -> None:
        self.model = model
        self.component = component

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Next-period quantiles per SKU-location [units/period].

        Args:
            context: MLflow context (unused).
            model_input: columns ``sku, location, period, quantity[, stocked_out]``.
            params: unused.

        Returns:
            One row per ``sku@location`` (index), columns ``q05 .. q95``.
        """
        table = pa.Table.from_pandas(model_input, preserve_index=False)
        ds = demand_series_from_table(table)
        return _quantile_frame(pd.Index(ds.keys, name="key"), predict_demand(self.model, ds))


class LeadTimeModel(PythonModel):  # type: ignore[misc]
    """A fitted feature-based lead-time model as an MLflow ``pyfunc`` model.

    Args:
        model: the fitted :class:`platform_core.components.LeadTimeModel`.
        component: its component name.
        period_days: length of a period [days] used by ``predict``.
    """

    def __init__(self, model: Any, component: str, period_days: float = 1.0) -> None:
        self.model = model
        self.component = component
        self.period_days = period_days

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Lead-time quantiles per lane row [periods of ``period_days``; days by default].

        Args:
            context: MLflow context (unused).
            model_input: lanes (``sku, location, supplier`` and feature columns).
            params: unused.

        Returns:
            One row per input row, columns ``q05 .. q95``; NaN for unknown lanes.
        """
        table = pa.Table.from_pandas(model_input, preserve_index=False)
        dists = self.model.predict(table, float(self.period_days))
        known = [d if d is not None else DiscreteDistribution.point(0) for d in dists]
        frame = _quantile_frame(pd.RangeIndex(len(known)), known)
        frame.loc[[d is None for d in dists], :] = np.nan
        return frame


class ArtefactModel(PythonModel):  # type: ignore[misc]
    """The fitted artefacts of one component (:mod:`platform_core.artefacts`) as a ``pyfunc`` model.

    Args:
        model: artefact name -> payload (what :func:`echelon_mlflow.registry.load_model`
            returns).
        family: the component's family (``"cost"``, ``"solver"``, ...).
        component: its component name, e.g. ``"learned"``.
    """

    def __init__(self, model: dict[str, Any], family: str, component: str) -> None:
        self.model = model
        self.family = family
        self.component = component

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        """Call ``predict_frame(model_input)`` of the artefact named by ``params["artefact"]``.

        Artefacts without a ``predict_frame`` method are read, not served: load them with
        :func:`echelon_mlflow.registry.load_model`.

        Raises:
            KeyError: no such artefact.
            TypeError: the artefact has no ``predict_frame``.
        """
        name = (params or {}).get("artefact") or (next(iter(self.model)) if len(self.model) == 1 else "")
        if name not in self.model:
            raise KeyError(f"{self.family} {self.component!r} has no artefact {name!r}; it has {sorted(self.model)} "
                           "(pass params={'artefact': NAME})")
        payload = self.model[name]
        if not hasattr(payload, "predict_frame"):
            raise TypeError(f"artefact {name!r} of {self.family} {self.component!r} ({type(payload).__name__}) has "
                            "no predict_frame; load it with echelon_mlflow.registry.load_model")
        return payload.predict_frame(model_input)
