"""Conformance checks of the cost family (:class:`~platform_core.components.CostModel`).

On the kit's four stages (:func:`platform_core.testing.inputs.stages`: stores, a DC
with a transfer price, nulls in optional columns) and its ``COSTS`` overrides.  The
units are those of :class:`~platform_core.components.StageCosts`: holding
[currency/unit/period], stockout [currency/unit], ordering [currency/order], and the
cost-optimal service is the critical ratio ``p / (p + h)``; overrides follow the
``COSTS`` contract (holding per unit-year, a null keeps the model's value).
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pyarrow as pa

from platform_core.components import StageCosts
from platform_core.testing import inputs
from platform_core.testing._core import ComponentUnderTest, init_stores_params, make_checks

__all__ = ["CHECKS"]

PERIOD_DAYS = 7.0
FIELDS = ("holding_cost", "stockout_cost", "ordering_cost", "cost_optimal_service")


def _costs(
    spec: ComponentUnderTest,
    model: Any = None,
    stages: pa.Table | None = None,
    overrides: pa.Table | None = None,
    period_days: float = PERIOD_DAYS,
    what: str = "the kit's stages",
) -> dict[str, np.ndarray]:
    model = spec.create() if model is None else model
    table = inputs.stages() if stages is None else stages
    out = spec.call(
        f"stage_costs({what}, period_days={period_days:g})",
        lambda: model.stage_costs(table, overrides, period_days),
    )
    if not isinstance(out, StageCosts):
        raise spec.fail(f"stage_costs() returned a {type(out).__name__}, expected a StageCosts")
    arrays: dict[str, np.ndarray] = {}
    for name in FIELDS:
        arr = np.asarray(getattr(out, name))
        if arr.shape != (table.num_rows,):
            raise spec.fail(
                f"stage_costs({what}).{name} has shape {arr.shape} for {table.num_rows} stage rows, "
                "expected one value per stage row, aligned with the stages table"
            )
        if arr.dtype.kind not in "fiu":
            raise spec.fail(f"stage_costs({what}).{name} has dtype {arr.dtype}, expected numbers")
        arrays[name] = arr.astype(np.float64)
    return arrays


def _stage(i: int) -> str:
    row = inputs.stages().slice(i, 1).to_pylist()[0]
    return f"stage {i} ({row['sku']}@{row['location']})"


def _same(spec: ComponentUnderTest, a: dict[str, np.ndarray], b: dict[str, np.ndarray], how: str, expected: str) -> None:
    for name in FIELDS:
        if not np.allclose(a[name], b[name], rtol=1e-12, atol=0.0, equal_nan=True):
            k = int(np.argmax(~np.isclose(a[name], b[name], rtol=1e-12, atol=0.0, equal_nan=True)))
            raise spec.fail(f"{name} of {_stage(k)} is {a[name][k]:.6g} then {b[name][k]:.6g} {how}; expected {expected}")


# ---- checks -------------------------------------------------------------------------------


def aligned_with_stages(spec: ComponentUnderTest) -> None:
    """Each StageCosts array holds one number per stage row, in the stages' order."""
    _costs(spec)
    one = inputs.stages().slice(2, 1)
    alone = _costs(spec, stages=one, what="stage 2 alone")
    together = _costs(spec)
    for name in FIELDS:
        if not np.isclose(alone[name][0], together[name][2], rtol=1e-9, equal_nan=True):
            raise spec.fail(
                f"{name} of {_stage(2)} is {together[name][2]:.6g} among the kit's stages but "
                f"{alone[name][0]:.6g} when it is the only row; expected the same (arrays aligned with "
                "the stages table, row by row)"
            )


def costs_non_negative(spec: ComponentUnderTest) -> None:
    """Holding, stockout and ordering costs are finite and >= 0."""
    costs = _costs(spec)
    for name in FIELDS[:3]:
        arr = costs[name]
        for k in range(arr.size):
            if not np.isfinite(arr[k]) or arr[k] < 0:
                raise spec.fail(f"{name} of {_stage(k)} is {arr[k]:.6g}, expected a finite cost >= 0")


def cost_optimal_service_in_unit_interval(spec: ComponentUnderTest) -> None:
    """``cost_optimal_service`` is a finite service level in [0, 1]."""
    ratio = _costs(spec)["cost_optimal_service"]
    for k in range(ratio.size):
        if not (np.isfinite(ratio[k]) and 0.0 <= ratio[k] <= 1.0):
            raise spec.fail(f"cost_optimal_service of {_stage(k)} is {ratio[k]:.6g}, expected a value in [0, 1]")


def cost_optimal_service_is_critical_ratio(spec: ComponentUnderTest) -> None:
    """``cost_optimal_service`` = stockout / (stockout + holding), as StageCosts defines it."""
    c = _costs(spec)
    p, h = c["stockout_cost"], c["holding_cost"]
    for k in range(p.size):
        if p[k] + h[k] <= 0:
            continue
        ratio = p[k] / (p[k] + h[k])
        if not np.isclose(c["cost_optimal_service"][k], ratio, rtol=1e-9, atol=1e-12):
            raise spec.fail(
                f"cost_optimal_service of {_stage(k)} is {c['cost_optimal_service'][k]:.6g}, expected the "
                f"critical ratio p / (p + h) = {p[k]:.6g} / ({p[k]:.6g} + {h[k]:.6g}) = {ratio:.6g}"
            )


def holding_cost_per_period(spec: ComponentUnderTest) -> None:
    """Holding cost is per period: twice the period length, twice the holding cost."""
    week = _costs(spec, period_days=7.0)["holding_cost"]
    fortnight = _costs(spec, period_days=14.0)["holding_cost"]
    for k in range(week.size):
        if not np.isclose(fortnight[k], 2.0 * week[k], rtol=1e-9, atol=1e-12):
            raise spec.fail(
                f"holding_cost of {_stage(k)} is {week[k]:.6g} at period_days=7 and {fortnight[k]:.6g} at "
                "period_days=14; expected twice as much (holding cost is per unit and period)"
            )


def overrides_applied(spec: ComponentUnderTest) -> None:
    """A COSTS row overrides its stage (holding per year -> per period); others are unchanged."""
    base = _costs(spec)
    got = _costs(spec, overrides=inputs.cost_overrides(), what="the kit's stages with overrides")
    k = 2  # B1@STORE2: holding 365 per year, stockout 1000, ordering 75
    expected = {"holding_cost": 365.0 * PERIOD_DAYS / 365.0, "stockout_cost": 1000.0, "ordering_cost": 75.0}
    for name, value in expected.items():
        if not np.isclose(got[name][k], value, rtol=1e-9):
            raise spec.fail(
                f"{name} of {_stage(k)} is {got[name][k]:.6g} with a COSTS override, expected {value:g} "
                "(overrides replace the model's value; holding_cost there is per unit-year)"
            )
    for name in FIELDS[:3]:
        for j in range(base[name].size):
            if j != k and not np.isclose(got[name][j], base[name][j], rtol=1e-12, equal_nan=True):
                raise spec.fail(
                    f"{name} of {_stage(j)} changes from {base[name][j]:.6g} to {got[name][j]:.6g} when "
                    "another stage (and an unknown one) is overridden; expected it unchanged"
                )


def null_overrides_keep_model_values(spec: ComponentUnderTest) -> None:
    """No overrides, an empty COSTS table and all-null overrides give the same costs."""
    base = _costs(spec)
    empty = inputs.cost_overrides().slice(0, 0)
    _same(spec, base, _costs(spec, overrides=empty, what="the kit's stages, empty overrides"),
          "with an empty COSTS table instead of None", "the same costs")
    _same(spec, base, _costs(spec, overrides=inputs.cost_overrides(nulls_only=True),
                             what="the kit's stages, all-null overrides"),
          "with all-null overrides instead of None", "the same costs (a null keeps the model's value)")


def handles_missing_optional_columns(spec: ComponentUnderTest) -> None:
    """Stages with only the required columns are priced (valid, aligned costs)."""
    costs = _costs(spec, stages=inputs.stages(optional_columns=False), what="stages without optional columns")
    for name in FIELDS:
        if not np.all(np.isfinite(costs[name])):
            raise spec.fail(
                f"{name} is {costs[name].tolist()} for stages without the optional columns; expected finite values"
            )


def deterministic(spec: ComponentUnderTest) -> None:
    """Two fresh instances price the same stages identically."""
    _same(spec, _costs(spec), _costs(spec), "between two fresh instances", "identical results")


def picklable(spec: ComponentUnderTest) -> None:
    """Pickles (Ray ships components to workers) with the same results."""
    model = spec.create()
    try:
        copy = pickle.loads(pickle.dumps(model))
    except Exception as exc:
        raise spec.fail(
            f"the instance does not pickle ({type(exc).__name__}: {exc}); expected it to "
            "(Ray ships components to workers): keep only picklable state"
        ) from exc
    _same(spec, _costs(spec, model), _costs(spec, copy), "after a pickle round trip", "the same results")


CHECKS = make_checks("cost", [
    init_stores_params,
    aligned_with_stages,
    costs_non_negative,
    cost_optimal_service_in_unit_interval,
    cost_optimal_service_is_critical_ratio,
    holding_cost_per_period,
    overrides_applied,
    null_overrides_keep_model_values,
    handles_missing_optional_columns,
    deterministic,
    picklable,
])
