"""Conformance checks of the solver family (:class:`~platform_core.components.Solver`).

Problems come from :mod:`platform_core.testing.inputs` (a 3-stage problem, an analytic
single-stage case, a two-stage network, a stage without demand).  A solver *claims* to
set a customer-facing target when a row says ``target_source = "input"`` with
``service_metric`` ``fill_rate`` or ``cycle_service``; only such rows are held to the
analytic answer, computed here with :mod:`scipy.stats` for a periodic-review base-stock
stage with Poisson(m) demand per period, a fixed lead time L and review every period
(an order placed at the start of period t arrives at the start of period t + L, before
that period's demand; backorders):

* the net inventory at the end of a period is ``S - D_(L+1)`` (demand over L + 1
  periods), before that period's demand it is ``S - D_L``, so the units short in a
  period are ``(D_(L+1) - S)^+ - (D_L - S)^+`` and the fill rate is
  ``fill(S) = 1 - (E[(D_(L+1) - S)^+] - E[(D_L - S)^+]) / m``, with
  ``E[(D - S)^+] = mu P(D >= S) - S P(D > S)`` for ``D ~ Poisson(mu)``;
* the cycle service level is ``P(D_(L+1) <= S)``.
"""

from __future__ import annotations

import dataclasses
import numbers
import pickle
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import stats

from platform_core.artefacts import collect_artefacts
from platform_core.batch import POLICY_COLUMNS
from platform_core.components import RECOMMENDATION_SCHEMA, Solver, StageProblem
from platform_core.testing import inputs
from platform_core.testing._core import (
    ComponentUnderTest,
    NotApplicable,
    init_stores_params,
    make_checks,
)

__all__ = [
    "CHECKS",
    "solver_capabilities",
    "poisson_fill_rate",
    "poisson_cycle_service",
    "smallest_level",
    "LEVEL_TOLERANCE",
]

#: a claimed level may differ from the analytic smallest level by this much [units]
LEVEL_TOLERANCE = 2.0


_SERVICE = ("expected_fill_rate", "expected_cycle_service", "service_target")
_STANDARD_ERRORS = ("fill_rate_se", "cycle_service_se")
_NON_NEGATIVE = ("mean_on_hand", "mean_backorders", "inventory_investment", "holding_cost_per_period",
                 "stockout_cost_per_period")


def solver_capabilities(solver: Solver | type[Solver]) -> dict[str, Any]:
    """A solver's (or solver class's) declared capabilities (see :class:`Solver`).

    The only place the kit reads them: ``network_aware``, ``replications``, ``periods``,
    ``warmup``, ``work_factor``, ``work_exponent``.
    """
    return {
        "network_aware": solver.network_aware, "replications": solver.replications, "periods": solver.periods,
        "warmup": solver.warmup, "work_factor": solver.work_factor, "work_exponent": solver.work_exponent,
    }


# ---- the analytic case --------------------------------------------------------------------


def _expected_shortfall(level: float, mean: float) -> float:
    """E[(D - S)^+] for D ~ Poisson(mean)."""
    if mean <= 0:
        return 0.0
    return float(mean * stats.poisson.sf(level - 1, mean) - level * stats.poisson.sf(level, mean))


def poisson_fill_rate(level: float, mean: float, lead_time: int) -> float:
    """Fill rate of base-stock level ``level`` [units] (see the module docstring).

    Poisson(``mean``) demand per period, a fixed ``lead_time`` [periods], review every period.
    """
    short = _expected_shortfall(level, (lead_time + 1) * mean) - _expected_shortfall(level, lead_time * mean)
    return 1.0 - short / mean


def poisson_cycle_service(level: float, mean: float, lead_time: int) -> float:
    """Cycle service level ``P(D_(L+1) <= S)`` of the same stage."""
    return float(stats.poisson.cdf(level, (lead_time + 1) * mean))


def smallest_level(metric: str, target: float, mean: float, lead_time: int) -> int:
    """The smallest base-stock level [units] whose ``metric`` meets ``target``."""
    service = poisson_fill_rate if metric == "fill_rate" else poisson_cycle_service
    level = 0
    while service(level, mean, lead_time) < target:
        level += 1
    return level


# ---- helpers ------------------------------------------------------------------------------


def _solve(spec: ComponentUnderTest, problem: StageProblem, what: str, solver: Any = None) -> pa.Table:
    solver = spec.create() if solver is None else solver
    table = spec.call(f"solve() on {what}", lambda: solver.solve(problem))
    if not isinstance(table, pa.Table):
        raise spec.fail(f"solve() on {what} returned a {type(table).__name__}, expected a pyarrow.Table")
    if table.num_rows != len(problem.keys):
        raise spec.fail(
            f"solve() returned {table.num_rows} rows for the {len(problem.keys)} stages of {what}, "
            "expected one row per stage, in problem order"
        )
    return table


def _floats(table: pa.Table, name: str) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    col = table.column(name)
    if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
        return None
    return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _strings(table: pa.Table, name: str) -> list[Any] | None:
    return table.column(name).to_pylist() if name in table.column_names else None


def _stage(problem: StageProblem, i: int) -> str:
    return f"stage {i} ({problem.keys[i]})"


def _require_complete(spec: ComponentUnderTest, problem: StageProblem, table: pa.Table, what: str) -> None:
    """Every policy column present, with a value (finite number, non-empty string) per stage."""
    for name in POLICY_COLUMNS:
        if name not in table.column_names:
            raise spec.fail(
                f"solve() on {what} has no {name!r} column; expected every policy column "
                f"{POLICY_COLUMNS} (platform_core.batch.POLICY_COLUMNS)"
            )
        for i, v in enumerate(table.column(name).to_pylist()):
            bad = v is None or (isinstance(v, float) and not np.isfinite(v)) or (isinstance(v, str) and not v)
            if bad:
                raise spec.fail(
                    f"{name} of {_stage(problem, i)} in {what} is {v!r}; expected a complete policy "
                    "for every stage (a missing value makes the pipeline report the stage as an error)"
                )


def _require_levels(spec: ComponentUnderTest, problem: StageProblem, table: pa.Table, what: str) -> None:
    for name in ("base_stock_level", "order_up_to"):
        levels = _floats(table, name)
        if levels is None:
            continue
        for i in range(levels.size):
            if levels[i] < 0:
                raise spec.fail(f"{name} of {_stage(problem, i)} in {what} is {levels[i]:g}, expected >= 0")


def _require_service_range(spec: ComponentUnderTest, problem: StageProblem, table: pa.Table, what: str) -> None:
    for name in _SERVICE:
        values = _floats(table, name)
        if values is None:
            continue
        for i in range(values.size):
            if np.isfinite(values[i]) and not 0.0 <= values[i] <= 1.0:
                raise spec.fail(
                    f"{name} of {_stage(problem, i)} in {what} is {values[i]:.6g}, expected a value in [0, 1]"
                )


def _require_non_negative(spec: ComponentUnderTest, problem: StageProblem, table: pa.Table, what: str) -> None:
    for name in _STANDARD_ERRORS + _NON_NEGATIVE:
        values = _floats(table, name)
        if values is None:
            continue
        for i in range(values.size):
            if np.isfinite(values[i]) and values[i] < 0:
                raise spec.fail(f"{name} of {_stage(problem, i)} in {what} is {values[i]:.6g}, expected >= 0")


def _require_policy(spec: ComponentUnderTest, problem: StageProblem, table: pa.Table, what: str) -> None:
    """Complete policy columns, levels >= 0, service in [0, 1], stock and costs >= 0."""
    _require_complete(spec, problem, table, what)
    _require_levels(spec, problem, table, what)
    _require_service_range(spec, problem, table, what)
    _require_non_negative(spec, problem, table, what)


def _claimed(table: pa.Table) -> list[int]:
    """Rows whose target came from the input, with a fill-rate or cycle-service metric."""
    source = _strings(table, "target_source")
    metric = _strings(table, "service_metric")
    if source is None or metric is None:
        return []
    return [i for i, (s, m) in enumerate(zip(source, metric, strict=True))
            if s == "input" and m in ("fill_rate", "cycle_service")]


def _require_meets_own_target(spec: ComponentUnderTest, problem: StageProblem, table: pa.Table, what: str) -> None:
    """Rows claiming an input target report it and a service meeting it (within 3 SE)."""
    metric = _strings(table, "service_metric") or []
    reported = _floats(table, "service_target")
    for i in _claimed(table):
        target = float(problem.service_target[i])
        if reported is not None and not np.isclose(reported[i], target, rtol=0, atol=1e-9):
            raise spec.fail(
                f"service_target of {_stage(problem, i)} in {what} is {reported[i]:.6g} with target_source "
                f"'input', expected the input target {target:g}"
            )
        value_col, se_col = (("expected_fill_rate", "fill_rate_se") if metric[i] == "fill_rate"
                             else ("expected_cycle_service", "cycle_service_se"))
        values = _floats(table, value_col)
        ses = _floats(table, se_col)
        value = float(values[i]) if values is not None else float("nan")
        se = float(ses[i]) if ses is not None and np.isfinite(ses[i]) else 0.0
        if not np.isfinite(value):
            raise spec.fail(
                f"{_stage(problem, i)} in {what} claims an input {metric[i]} target but reports no "
                f"{value_col} ({value}); expected the service of the level it set"
            )
        if value < target - 3.0 * se - 1e-9:
            raise spec.fail(
                f"{value_col} of {_stage(problem, i)} in {what} is {value:.4f} (SE {se:.4f}) for an input "
                f"target of {target:g}; expected at least the target - 3 SE = {target - 3 * se:.4f}"
            )


def _same_table(spec: ComponentUnderTest, a: pa.Table, b: pa.Table, problem: StageProblem, how: str, expected: str) -> None:
    if a.column_names != b.column_names:
        raise spec.fail(f"the columns differ {how}: {a.column_names} vs {b.column_names}; expected {expected}")
    for name in a.column_names:
        x, y = _floats(a, name), _floats(b, name)
        if x is not None and y is not None:
            differ = ~((x == y) | (np.isnan(x) & np.isnan(y)))
            if differ.any():
                i = int(np.argmax(differ))
                raise spec.fail(
                    f"{name} of {_stage(problem, i)} is {x[i]:.6g} then {y[i]:.6g} {how}; expected {expected}"
                )
        elif a.column(name).to_pylist() != b.column(name).to_pylist():
            raise spec.fail(f"column {name!r} differs {how}; expected {expected}")


# ---- checks -------------------------------------------------------------------------------


def one_row_per_stage(spec: ComponentUnderTest) -> None:
    """``solve`` returns a table with one row per stage."""
    _solve(spec, inputs.three_stage_problem(), "the kit's 3-stage problem")


def policy_columns_complete(spec: ComponentUnderTest) -> None:
    """The policy columns are present, complete and finite, and cast to the recommendation schema."""
    problem = inputs.three_stage_problem()
    table = _solve(spec, problem, "the kit's 3-stage problem")
    for field in RECOMMENDATION_SCHEMA:
        if field.name not in table.column_names:
            continue
        try:
            table.column(field.name).cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise spec.fail(
                f"column {field.name!r} has type {table.column(field.name).type}, which does not cast to "
                f"{field.type} ({exc}); expected the type of components.RECOMMENDATION_SCHEMA"
            ) from exc
    _require_complete(spec, problem, table, "the kit's 3-stage problem")


def levels_non_negative(spec: ComponentUnderTest) -> None:
    """``base_stock_level`` and ``order_up_to`` are >= 0."""
    problem = inputs.three_stage_problem()
    _require_levels(spec, problem, _solve(spec, problem, "the kit's 3-stage problem"), "the kit's 3-stage problem")


def service_in_unit_interval(spec: ComponentUnderTest) -> None:
    """Expected fill rate, cycle service and service target are in [0, 1]."""
    problem = inputs.three_stage_problem()
    table = _solve(spec, problem, "the kit's 3-stage problem")
    _require_service_range(spec, problem, table, "the kit's 3-stage problem")


def stock_and_costs_non_negative(spec: ComponentUnderTest) -> None:
    """Standard errors, on-hand, backorders, investment and costs per period are >= 0."""
    problem = inputs.three_stage_problem()
    table = _solve(spec, problem, "the kit's 3-stage problem")
    _require_non_negative(spec, problem, table, "the kit's 3-stage problem")


def rows_in_problem_order(spec: ComponentUnderTest) -> None:
    """Row i describes stage i: reported demand, lead time and input targets match stage i."""
    problem = inputs.three_stage_problem()
    table = _solve(spec, problem, "the kit's 3-stage problem")
    expected = {
        "mean_demand_per_period": np.array([d.mean() for d in problem.period_demand]),
        "mean_lead_time_periods": np.array([lt.mean() for lt in problem.lead_time]),
    }
    checked = False
    for name, want in expected.items():
        got = _floats(table, name)
        if got is None:
            continue
        checked = True
        for i in range(want.size):
            if not np.isclose(got[i], want[i], rtol=1e-6, atol=1e-9):
                raise spec.fail(
                    f"row {i} has {name} {got[i]:.6g} but {_stage(problem, i)} has {want[i]:.6g}; "
                    "expected rows in the order of problem.keys"
                )
    targets = _floats(table, "service_target")
    for i in _claimed(table):
        checked = True
        if targets is not None and not np.isclose(targets[i], problem.service_target[i], atol=1e-9):
            raise spec.fail(
                f"row {i} reports the input service_target {targets[i]:.6g} but {_stage(problem, i)} has "
                f"{problem.service_target[i]:g}; expected rows in the order of problem.keys"
            )
    if not checked:
        levels = _floats(table, "base_stock_level")
        if levels is not None and not np.all(np.diff(levels) > 0):
            raise spec.fail(
                f"base_stock_level per row is {levels.tolist()} for stages with mean demand 3, 12 and 40 "
                "units/period; expected increasing levels (rows in the order of problem.keys)"
            )


def deterministic(spec: ComponentUnderTest) -> None:
    """Two fresh instances solving the same problem (same seeds) return the same table.

    And the same fitted artefacts, if the solver exposes any (``fitted_artefacts()``):
    per stage (solvers run in batches), keyed by the problem's keys, with equal digests.
    """
    problem = inputs.three_stage_problem()
    first, second = spec.create(), spec.create()
    a = _solve(spec, problem, "the kit's 3-stage problem", first)
    b = _solve(spec, inputs.three_stage_problem(), "the kit's 3-stage problem", second)
    _same_table(spec, a, b, problem, "between two fresh instances solving the same problem",
                "identical tables (draw random numbers only from problem.seeds)")
    _same_artefacts(spec, problem, first, second)


def _same_artefacts(spec: ComponentUnderTest, problem: StageProblem, first: Any, second: Any) -> None:
    """The artefacts of two solvers that solved the same problem: per stage, the problem's keys, equal."""
    try:
        found = [collect_artefacts(s, "solver", spec.name) for s in (first, second)]
    except (TypeError, ValueError) as exc:
        raise spec.fail(f"fitted_artefacts() after solve(): {exc}") from exc
    if found[0] is None and found[1] is None:
        return
    digests = []
    for item in found:
        if item is None:
            raise spec.fail("fitted_artefacts() returned artefacts after one solve of the problem and none after "
                            "another; expected the same artefacts from the same problem")
        for art in item.artefacts:
            if not art.per_stage:
                raise spec.fail(f"artefact {art.name!r} is not per stage; a solver runs in batches, so its "
                                "artefacts must be dicts keyed by stage (Artefact(..., per_stage=True))")
            unknown = sorted(set(art.payload) - set(problem.keys))
            if unknown:
                raise spec.fail(f"artefact {art.name!r} has keys {unknown} that are not the problem's stages "
                                f"{problem.keys}")
        digests.append({a.name: a.sha256() for a in item.artefacts})
    if digests[0] != digests[1]:
        raise spec.fail(f"two fresh instances solving the same problem exposed artefacts with different digests "
                        f"{digests[0]} and {digests[1]}; expected identical payloads (keep wall times and other "
                        "run-to-run noise in metadata)")


def picklable(spec: ComponentUnderTest) -> None:
    """Pickles (Ray ships components to workers) and solves to the same table."""
    solver = spec.create()
    try:
        copy = pickle.loads(pickle.dumps(solver))
    except Exception as exc:
        raise spec.fail(
            f"the instance does not pickle ({type(exc).__name__}: {exc}); expected it to "
            "(Ray ships components to workers): keep only picklable state"
        ) from exc
    problem = inputs.three_stage_problem()
    a = _solve(spec, problem, "the kit's 3-stage problem", solver)
    b = _solve(spec, inputs.three_stage_problem(), "the kit's 3-stage problem (unpickled solver)", copy)
    _same_table(spec, a, b, problem, "after a pickle round trip", "the same table")


def meets_analytic_targets(spec: ComponentUnderTest) -> None:
    """Claimed input targets are met at the analytic level (Poisson demand, fixed lead time)."""
    problem = inputs.analytic_problem()
    what = (f"the analytic problem (Poisson({inputs.ANALYTIC_MEAN:g}) demand, lead time "
            f"{inputs.ANALYTIC_LEAD_TIME}, review 1)")
    table = _solve(spec, problem, what)
    claimed = _claimed(table)
    if not claimed:
        raise NotApplicable(
            f"{spec.label} sets no customer-facing target from the input on the analytic problem "
            "(no row with target_source 'input' and a fill_rate or cycle_service metric)"
        )
    _require_policy(spec, problem, table, what)
    _require_meets_own_target(spec, problem, table, what)
    metric = _strings(table, "service_metric") or []
    levels = _floats(table, "base_stock_level")
    assert levels is not None  # _require_policy checked the column
    for i in claimed:
        target = float(problem.service_target[i])
        best = smallest_level(metric[i], target, inputs.ANALYTIC_MEAN, inputs.ANALYTIC_LEAD_TIME)
        if abs(levels[i] - best) > LEVEL_TOLERANCE:
            service = (poisson_fill_rate if metric[i] == "fill_rate" else poisson_cycle_service)(
                levels[i], inputs.ANALYTIC_MEAN, inputs.ANALYTIC_LEAD_TIME)
            raise spec.fail(
                f"base_stock_level of {_stage(problem, i)} is {levels[i]:g} for a {metric[i]} target of "
                f"{target:g} on {what}; its true {metric[i]} is {service:.4f}, and the smallest level "
                f"meeting the target is {best}: expected a level within {LEVEL_TOLERANCE:g} units of it"
            )


def solves_two_stage_network(spec: ComponentUnderTest) -> None:
    """A warehouse supplying a store: a complete policy for both stages (network_aware or not)."""
    problem = inputs.two_stage_network()
    aware = solver_capabilities(spec.create())["network_aware"]
    what = f"the kit's two-stage network (network_aware = {aware})"
    table = _solve(spec, problem, what)
    _require_policy(spec, problem, table, what)
    _require_meets_own_target(spec, problem, table, what)


def handles_zero_demand_stage(spec: ComponentUnderTest) -> None:
    """A stage without demand gets a complete policy (a level >= 0, typically 0)."""
    problem = inputs.zero_demand_problem()
    table = _solve(spec, problem, "a problem with a zero-demand stage")
    _require_policy(spec, problem, table, "a problem with a zero-demand stage")


def capabilities_sane(spec: ComponentUnderTest) -> None:
    """network_aware is a bool; replications, periods >= 1, warmup >= 0 are ints; work_* finite."""
    caps = solver_capabilities(spec.create())
    if not isinstance(caps["network_aware"], bool):
        raise spec.fail(f"network_aware is {caps['network_aware']!r}, expected True or False")
    for name, lowest in (("replications", 1), ("periods", 1), ("warmup", 0)):
        value = caps[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
            raise spec.fail(f"{name} is {value!r}, expected an integer >= {lowest} (the planner's work estimate uses it)")
    for name, positive in (("work_factor", True), ("work_exponent", False)):
        value = caps[name]
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(float(value))
        if not ok or (float(value) <= 0 if positive else float(value) < 0):
            raise spec.fail(
                f"{name} is {value!r}, expected a finite number {'> 0' if positive else '>= 0'} "
                "(the planner's work estimate: work_factor * replications * (periods + warmup) * "
                "stages ** work_exponent)"
            )


def honours_declared_overrides(spec: ComponentUnderTest) -> None:
    """A solver declaring ``honours_overrides`` keeps pins and corridors (docs/overrides.md).

    On three independent stages: one pinned above its free level, one floored above it,
    one capped below it; each must take exactly that bound.
    """
    if not getattr(spec.cls, "honours_overrides", False):
        raise NotApplicable(f"solver {spec.name!r} does not declare honours_overrides")
    problem = inputs.three_stage_problem()
    free = _floats(_solve(spec, problem, "the kit's three-stage problem"), "base_stock_level")
    if free is None or not np.all(np.isfinite(free)):
        raise spec.fail("solve() on the kit's three-stage problem gave no base_stock_level for every stage")
    want = np.array([free[0] + 3.0, free[1] + 2.0, max(free[2] - 2.0, 0.0)])
    nan = np.nan
    bounded = dataclasses.replace(problem, level_min=np.array([want[0], want[1], nan]),
                                  level_max=np.array([want[0], nan, want[2]]))
    what = "the kit's three-stage problem with a pin, a min and a max"
    levels = _floats(_solve(spec, bounded, what), "base_stock_level")
    assert levels is not None
    for i, how in enumerate(("pinned at", "floored (min) at", "capped (max) at")):
        if levels[i] != want[i]:
            raise spec.fail(f"base_stock_level of {_stage(problem, i)} is {levels[i]:g} on {what}: expected "
                            f"{want[i]:g}, the level it is {how} (its free level is {free[i]:g})")


CHECKS = make_checks("solver", [
    init_stores_params,
    one_row_per_stage,
    policy_columns_complete,
    levels_non_negative,
    service_in_unit_interval,
    stock_and_costs_non_negative,
    rows_in_problem_order,
    deterministic,
    picklable,
    meets_analytic_targets,
    solves_two_stage_network,
    handles_zero_demand_stage,
    capabilities_sane,
    honours_declared_overrides,
])
