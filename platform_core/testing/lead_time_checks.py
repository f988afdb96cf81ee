"""Conformance checks of the lead-time family (:class:`~platform_core.components.LeadTimeModel`).

Fitted on the kit's receipts (:func:`platform_core.testing.inputs.receipts`: lead times
of 7-20, 21-45 and exactly 14 days), predicting the lanes the planner would pass
(sku, location, supplier; one supplier null).  A lane with 15 receipts is *known* and
must get a distribution; any other lane may get None (the planner then falls back to
the edge's transit days or the default lead time).
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pyarrow as pa

from platform_core.data.columns import lead_time_days
from platform_core.distributions import DiscreteDistribution
from platform_core.testing import inputs
from platform_core.testing._core import ComponentUnderTest, init_stores_params, make_checks
from platform_core.testing._validate import distribution_problem

__all__ = ["CHECKS"]

PERIOD_DAYS = 7.0


def _fit(spec: ComponentUnderTest, receipts: pa.Table | None = None, what: str = "the kit's receipts") -> Any:
    model = spec.create()
    table = inputs.receipts() if receipts is None else receipts
    spec.call(f"fit() on {what}", lambda: model.fit(table))
    return model


def _predict(spec: ComponentUnderTest, model: Any, period_days: float = PERIOD_DAYS, what: str = "") -> list[Any]:
    lanes = inputs.lanes()
    out = list(spec.call(
        f"predict(lanes, period_days={period_days:g}){what}", lambda: model.predict(lanes, period_days)
    ))
    if len(out) != lanes.num_rows:
        raise spec.fail(
            f"predict(lanes, {period_days:g}){what} gave {len(out)} results for {lanes.num_rows} lanes, "
            "expected one per lane row (None for a lane it cannot predict)"
        )
    return out


def _lane(i: int) -> str:
    row = inputs.lanes().slice(i, 1).to_pylist()[0]
    return f"lane {i} ({row['sku']}, {row['location']}, {row['supplier']})"


def _same(spec: ComponentUnderTest, a: list[Any], b: list[Any], how: str, expected: str) -> None:
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if (x is None) != (y is None):
            raise spec.fail(f"{_lane(i)} gets {x!r:.40} then {y!r:.40} {how}; expected {expected}")
        if x is None:
            continue
        if x.offset != y.offset or x.pmf.shape != y.pmf.shape or not np.array_equal(x.pmf, y.pmf):
            raise spec.fail(
                f"{_lane(i)}'s distribution differs {how} (means {x.mean():.6g} vs {y.mean():.6g}); "
                f"expected {expected}"
            )


def _refit(spec: ComponentUnderTest, model: Any) -> None:
    table = inputs.receipts()
    spec.call("fit() of an unpickled instance", lambda: model.fit(table))


# ---- checks -------------------------------------------------------------------------------


def fit_returns_self(spec: ComponentUnderTest) -> None:
    """``fit(receipts)`` returns the model itself."""
    model = spec.create()
    table = inputs.receipts()
    out = spec.call("fit() on the kit's receipts", lambda: model.fit(table))
    if out is not model:
        raise spec.fail(f"fit() returned {type(out).__name__} {out!r:.80}, expected self (estimator style)")


def one_prediction_per_lane(spec: ComponentUnderTest) -> None:
    """``predict`` gives one DiscreteDistribution or None per lane row."""
    for i, d in enumerate(_predict(spec, _fit(spec))):
        if d is not None and not isinstance(d, DiscreteDistribution):
            raise spec.fail(f"{_lane(i)} gets a {type(d).__name__}, expected a DiscreteDistribution or None")


def distributions_valid(spec: ComponentUnderTest) -> None:
    """Every predicted PMF is finite, non-negative, sums to one, on periods >= 0."""
    for i, d in enumerate(_predict(spec, _fit(spec))):
        problem = None if d is None else distribution_problem(f"{_lane(i)}'s lead time", d)
        if problem:
            raise spec.fail(problem)


def none_only_for_unknown_lanes(spec: ComponentUnderTest) -> None:
    """Lanes with 15 receipts get a distribution; None is for lanes the model cannot know."""
    predicted = _predict(spec, _fit(spec))
    for i in range(inputs.KNOWN_LANES):
        if predicted[i] is None:
            raise spec.fail(
                f"{_lane(i)} has 15 receipts but gets None; expected a distribution "
                "(None only for lanes the receipts say nothing about)"
            )


def lead_time_in_periods(spec: ComponentUnderTest) -> None:
    """Predicted means lie within the observed lead times converted to periods (not days)."""
    days = lead_time_days(inputs.receipts())
    model = _fit(spec)
    for period_days in (PERIOD_DAYS, 1.0):
        lo = np.floor(days.min() / period_days) - 1.0
        hi = np.ceil(days.max() / period_days) + 1.0
        for i, d in enumerate(_predict(spec, model, period_days)):
            if d is None:
                continue
            mean = d.mean()
            if not lo <= mean <= hi:
                raise spec.fail(
                    f"{_lane(i)} has a mean lead time of {mean:.4g} periods at period_days={period_days:g}, "
                    f"outside [{lo:g}, {hi:g}] (the observed {days.min():g}-{days.max():g} days in periods, "
                    "widened by a period); expected periods of period_days days, not days"
                )


def deterministic(spec: ComponentUnderTest) -> None:
    """Two fresh instances fitted on the same receipts predict identical distributions."""
    _same(spec, _predict(spec, _fit(spec)), _predict(spec, _fit(spec)),
          "between two fresh instances fitted on the same receipts",
          "identical results (seed every random number from the parameters)")


def picklable(spec: ComponentUnderTest) -> None:
    """Pickles unfitted and fitted (Ray ships components to workers) with the same results."""
    expected = _predict(spec, _fit(spec))
    for state, obj in (("an unfitted", spec.create()), ("a fitted", _fit(spec))):
        try:
            copy = pickle.loads(pickle.dumps(obj))
        except Exception as exc:
            raise spec.fail(
                f"{state} instance does not pickle ({type(exc).__name__}: {exc}); expected it to "
                "(Ray ships components to workers): keep only picklable state"
            ) from exc
        if state == "an unfitted":
            _refit(spec, copy)
        got = _predict(spec, copy, what=f" of {state} instance after a pickle round trip")
        _same(spec, expected, got, f"after a pickle round trip of {state} instance", "the same results")


def fits_without_optional_columns(spec: ComponentUnderTest) -> None:
    """Receipts with only the required columns (no shipment_mode, country, product_group) fit."""
    model = _fit(spec, inputs.receipts(optional_columns=False), "receipts without the optional columns")
    predicted = _predict(spec, model, what=" after fitting receipts without the optional columns")
    for i in range(inputs.KNOWN_LANES):
        if predicted[i] is None:
            raise spec.fail(
                f"{_lane(i)} gets None after fitting receipts without the optional columns; "
                "expected a distribution (the optional columns may be absent)"
            )


CHECKS = make_checks("lead_time", [
    init_stores_params,
    fit_returns_self,
    one_prediction_per_lane,
    distributions_valid,
    none_only_for_unknown_lanes,
    lead_time_in_periods,
    deterministic,
    picklable,
    fits_without_optional_columns,
])
