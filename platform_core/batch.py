"""The batch function: forecast, solve and check one batch of SKU networks.

``run_batch(spec, shared)`` is pure: its rows depend only on the stages in the batch,
their inputs and the run seed (seeds are derived per SKU-location), never on the batch
size or the worker that runs it, so a retried batch reproduces its rows exactly.
A network whose forecaster or solver raises is isolated and reported with
``status = "error"`` and the message; the other networks of the batch finish.
"""

from __future__ import annotations

import time
import traceback
import zlib
from dataclasses import replace

import numpy as np
import pyarrow as pa

from platform_core.artefacts import (
    ARTEFACTS_KEY,
    ComponentArtefacts,
    collect_artefacts,
    pack_artefacts,
)
from platform_core.compare import compare_with_today
from platform_core.components import (
    RECOMMENDATION_SCHEMA,
    Component,
    DemandSeries,
    Forecaster,
    StageCosts,
    StageProblem,
)
from platform_core.explain import explain_levels
from platform_core.forecasting.fill_interval import DEFAULT_HORIZON_PERIODS, fill_rate_interval
from platform_core.frontier import OPTIONAL_SIDE_COLUMNS, SIDE_COLUMNS
from platform_core.overrides import (
    overridden_networks,
    override_columns,
    subproblem,
    without_overrides,
)
from platform_core.plan import BatchSpec, SharedInputs
from platform_core.seeds import stage_seeds

__all__ = ["run_batch", "stage_problem", "demand_series", "pool_forecaster", "warm_up_components", "POLICY_COLUMNS"]

POLICY_COLUMNS = ("policy_type", "base_stock_level", "reorder_point", "order_up_to", "safety_stock")


def _local_edges(shared: SharedInputs, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arcs among the stages ``idx`` (whole networks) as local indices and quantity per."""
    lo = np.searchsorted(shared.edge_up, idx.min(), side="left")
    hi = np.searchsorted(shared.edge_up, idx.max(), side="right")
    ups = shared.edge_up[lo:hi]
    downs = shared.edge_down[lo:hi]
    qtys = shared.edge_qty[lo:hi]
    keep = np.isin(ups, idx)
    position = np.full(int(idx.max()) + 1 - int(idx.min()), -1, dtype=np.int64)
    position[idx - idx.min()] = np.arange(idx.size)
    return position[ups[keep] - idx.min()], position[downs[keep] - idx.min()], qtys[keep]


def _group_by_downstream(values: np.ndarray, downs: np.ndarray, n: int) -> list[np.ndarray]:
    """``values`` of the arcs into each local stage ``0..n-1``, in arc order."""
    order = np.argsort(downs, kind="stable")
    bounds = np.searchsorted(downs[order], np.arange(n + 1))
    grouped = values[order]
    return [grouped[bounds[k] : bounds[k + 1]] for k in range(n)]


def _derived_demand(
    shared: SharedInputs, idx: np.ndarray, edges: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """External demand plus the demand of downstream stages times quantity per.

    ``idx`` holds whole networks in planned order.  Internal stages see the sum of their
    downstream stages' demand (what base-stock downstream stages order); censoring flags
    are kept only for a stage's own external demand.
    """
    own = shared.demand[idx]
    values = np.where(np.isnan(own), 0.0, own)
    flags = shared.stocked_out[idx].copy()
    ups, downs, qtys = edges
    internal = np.zeros(idx.size, dtype=bool)
    if ups.size:
        children: dict[int, list[tuple[int, float]]] = {}
        parents: dict[int, list[int]] = {}
        for lu, ld, q in zip(ups.tolist(), downs.tolist(), qtys.tolist(), strict=True):
            children.setdefault(lu, []).append((ld, q))
            parents.setdefault(ld, []).append(lu)
            internal[lu] = True
        # downstream first (Kahn's order on the reversed graph)
        remaining = np.array([len(children.get(k, ())) for k in range(idx.size)])
        stack = [k for k in range(idx.size) if remaining[k] == 0]
        while stack:
            k = stack.pop()
            for d, q in children.get(k, ()):
                values[k] += q * values[d]
            for p in parents.get(k, ()):
                remaining[p] -= 1
                if remaining[p] == 0:
                    stack.append(p)
        flags[internal] &= shared.has_demand[idx][internal, None]
    # a customer-facing stage keeps its missing periods missing
    values[~internal[:, None] & np.isnan(own)] = np.nan
    return values, flags


def demand_series(shared: SharedInputs, idx: np.ndarray,
                  edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> DemandSeries:
    """The demand series a forecaster fits for the stages ``idx`` (whole networks, planned order).

    External demand plus, at internal stages, their customers' demand times quantity per.
    """
    if edges is None:
        edges = _local_edges(shared, idx)
    values, flags = _derived_demand(shared, idx, edges)
    n, periods = values.shape
    signals = None if shared.signals is None else shared.signals[idx].reshape(n * periods, -1)
    return DemandSeries(
        keys=[f"{s}@{loc}" for s, loc in zip(shared.sku[idx], shared.location[idx], strict=True)],
        values=values.reshape(-1),
        stocked_out=flags.reshape(-1),
        indptr=np.arange(0, n * periods + 1, periods, dtype=np.int64),
        exogenous=signals,  # the stage's own signals (an internal stage's are its own rows, if any)
        exogenous_names=shared.signal_names,
    )


def pool_forecaster(shared: SharedInputs, max_series: int = 20_000) -> SharedInputs:
    """Fix a pooling forecaster's run-wide parameters on the driver (batch invariance).

    For a forecaster that declares ``pools_across_series``, its
    :meth:`~platform_core.components.Forecaster.pooled_params` see a sample of whole
    networks chosen by a hash of their first stage's key (about ``max_series`` stages;
    all of them in smaller runs), so the sample, and every batch's numbers, depend only
    on the input, never on the batching.  Other forecasters: ``shared`` unchanged.
    """
    spec = shared.settings.forecaster
    if not getattr(spec.cls, "pools_across_series", False) or shared.sku.size == 0:
        return shared
    ids = shared.network_id
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ids)) + 1])
    stops = np.append(starts[1:], ids.size)
    every = max(1, -(-int(ids.size) // int(max_series)))  # ceil: about max_series stages
    keys = (f"{s}@{loc}".encode() for s, loc in zip(shared.sku[starts], shared.location[starts], strict=True))
    chosen = np.array([zlib.crc32(k) % every == 0 for k in keys], dtype=bool)
    if not chosen.any():
        chosen[0] = True
    idx = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in zip(starts[chosen], stops[chosen],
                                                                            strict=True)])
    params = spec.cls.pooled_params(
        spec.params, demand_series(shared, idx), [shared.lead_time(int(i)) for i in idx],
        shared.review_period[idx],
    )
    shared.settings = replace(shared.settings, forecaster=replace(spec, params=params))
    return shared


def stage_problem(shared: SharedInputs, idx: np.ndarray) -> tuple[StageProblem, Forecaster]:
    """The solver's input for the stages ``idx`` (whole networks, planned order).

    The run's forecaster is built and fitted on the stages' derived demand; returns the
    problem and the fitted forecaster (whose ``fallback_`` notes the rows report).
    Benchmarks use it to give several solvers the very problems a run gives one.
    """
    settings = shared.settings
    # component classes were resolved by the driver's plugin host and travel by reference
    forecaster = settings.forecaster.build()
    edges = _local_edges(shared, idx)
    series = demand_series(shared, idx, edges)
    keys, n = series.keys, len(series)
    forecaster.fit(series)
    lead_time = [shared.lead_time(int(i)) for i in idx]
    forecaster.set_replenishment(lead_time, shared.review_period[idx])
    period_demand = forecaster.period_demand()
    seeds = stage_seeds(settings.seed, keys)
    problem = StageProblem(
        keys=keys,
        period_demand=period_demand,
        lead_time=lead_time,
        review_period=shared.review_period[idx],
        unit_cost=shared.unit_cost[idx],
        costs=StageCosts(
            shared.holding_cost[idx], shared.stockout_cost[idx], shared.ordering_cost[idx],
            shared.cost_optimal_service[idx],
        ),
        service_target=shared.service_target[idx],
        upstream=_group_by_downstream(edges[0], edges[1], n),
        quantity_per=_group_by_downstream(edges[2], edges[1], n),
        seeds=seeds,
        abc_class=shared.abc_class[idx],
        external_demand=shared.has_demand[idx],
        period_days=settings.period_days,
        demand_history=shared.demand[idx],
        level_min=None if shared.level_min is None else shared.level_min[idx],
        level_max=None if shared.level_max is None else shared.level_max[idx],
        shelf_life=None if shared.shelf_life is None else shared.shelf_life[idx],
        moq=None if shared.moq is None else shared.moq[idx],
        order_multiple=None if shared.order_multiple is None else shared.order_multiple[idx],
    )
    return problem, forecaster


def _solve(shared: SharedInputs, idx: np.ndarray, artefacts: list[ComponentArtefacts] | None = None) -> pa.Table:
    settings = shared.settings
    problem, forecaster = stage_problem(shared, idx)
    n = len(problem.keys)
    solver = settings.solver.build()
    table = solver.solve(problem)
    if table.num_rows != n:
        raise RuntimeError(f"solver {settings.solver.name!r} returned {table.num_rows} rows for {n} stages")
    table = explain_levels(problem, table, network_aware=settings.solver.cls.network_aware)
    table = compare_with_today(shared, idx, problem, solver, table)
    table = _with_fill_interval(table, problem, forecaster)
    notes = getattr(forecaster, "fallback_", None) or [""] * n
    messages = [
        "; ".join(m for m in (note, f"lead time from {src}") if m)
        for note, src in zip(notes, shared.lead_time_source[idx], strict=True)
    ]
    if problem.level_min is not None:  # what the overrides cost: their networks solved without them
        rows = overridden_networks(problem)
        free = settings.solver.build().solve(subproblem(without_overrides(problem), rows)) if rows.size else None
        for name, col in override_columns(problem, table, rows, free).items():
            table = table.append_column(name, col) if name not in table.column_names else table
    out = _finish(shared, idx, table, messages)
    if artefacts is not None:  # the batch's fitted components, per stage (platform_core.artefacts)
        for family, spec, component in (("forecaster", settings.forecaster, forecaster),
                                        ("solver", settings.solver, solver)):
            found = collect_artefacts(component, family, spec.name)
            if found is not None:
                artefacts.append(found)
    return out


def _with_fill_interval(table: pa.Table, problem: StageProblem, forecaster: Forecaster) -> pa.Table:
    """The solver's table plus ``fill_rate_interval_low`` / ``_high`` (see ``fill_interval``)."""
    def column(name: str) -> np.ndarray:
        if name not in table.column_names:
            return np.full(table.num_rows, np.nan)
        return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)

    level = column("order_up_to")
    level = np.where(np.isfinite(level), level, column("base_stock_level"))
    horizon = getattr(forecaster, "horizon_periods", None)
    low, high = fill_rate_interval(
        problem.period_demand, level, column("expected_fill_rate"),
        np.array([lt.mean() for lt in problem.lead_time]), problem.review_period, problem.seeds,
        forecaster.demand_level_ratios(), horizon if isinstance(horizon, int) else DEFAULT_HORIZON_PERIODS)
    return table.append_column("fill_rate_interval_low", pa.array(low)).append_column(
        "fill_rate_interval_high", pa.array(high))


def _rows(
    shared: SharedInputs, idx: np.ndarray, status: list[str], messages: list[str], solved: pa.Table | None
) -> pa.Table:
    """Recommendation rows: identity and status columns plus the solver's columns."""
    n = idx.size
    settings = shared.settings
    base = {
        "sku": pa.array(shared.sku[idx].tolist(), pa.string()),
        "location": pa.array(shared.location[idx].tolist(), pa.string()),
        "status": pa.array(status, pa.string()),
        "message": pa.array(messages, pa.string()),
        "forecaster": pa.array([settings.forecaster.name] * n, pa.string()),
        "lead_time_model": pa.array([settings.lead_time_model] * n, pa.string()),
        "solver": pa.array([settings.solver.name] * n, pa.string()),
    }
    cols: dict[str, pa.Array] = {}
    for field in RECOMMENDATION_SCHEMA:
        if field.name in base:
            cols[field.name] = base[field.name]
        elif solved is not None and field.name in solved.column_names:
            cols[field.name] = solved.column(field.name).cast(field.type)
        else:
            cols[field.name] = pa.nulls(n, field.type)
    out = pa.table(cols, schema=RECOMMENDATION_SCHEMA)
    return out.append_column("input_row", pa.array(shared.input_row[idx], pa.int64()))


def _finish(shared: SharedInputs, idx: np.ndarray, table: pa.Table, messages: list[str]) -> pa.Table:
    """Rows of a solved network; a stage without a complete policy becomes an error."""
    n = idx.size
    status = ["ok"] * n
    solver_msgs = table.column("message").to_pylist() if "message" in table.column_names else [None] * n
    # an ok row keeps what the solver said (e.g. GSM service times) before the pipeline's notes
    msgs = ["; ".join(m for m in (solver, own) if m) for solver, own in zip(solver_msgs, messages, strict=True)]
    for name in POLICY_COLUMNS:
        if name not in table.column_names:
            raise RuntimeError(f"solver {shared.settings.solver.name!r} returned no {name!r} column")
        col = table.column(name)
        bad = col.is_null().to_numpy(zero_copy_only=False)
        if pa.types.is_floating(col.type):
            bad |= ~np.isfinite(col.to_numpy(zero_copy_only=False).astype(np.float64))
        for k in np.flatnonzero(bad):
            status[k] = "error"
            msgs[k] = solver_msgs[k] or f"solver gave no {name}"
    out = _rows(shared, idx, status, msgs, table)
    for name in SIDE_COLUMNS + OPTIONAL_SIDE_COLUMNS:  # the frontier's side data rides in the part file
        if name in table.column_names:
            out = out.append_column(name, table.column(name))
    return out


def _networks(shared: SharedInputs, spec: BatchSpec) -> list[np.ndarray]:
    """The batch's independent networks (planned indices; each is contiguous)."""
    ids = shared.network_id[spec.start : spec.stop]
    cuts = np.flatnonzero(np.diff(ids)) + 1
    return np.split(np.arange(spec.start, spec.stop, dtype=np.int64), cuts)


COMPUTE_SECONDS_KEY = b"echelon.compute_seconds"


def warm_up_components(classes: tuple[type[Component], ...]) -> None:
    """Worker warm-up: call ``cls.warm_up()`` of each component class.

    A component whose first call is slow (loading compiled Numba kernels from the cache,
    building lookup tables) overrides :meth:`Component.warm_up`; executors run this
    once per worker while the driver is still loading and planning.
    """
    for cls in classes:
        cls.warm_up()


def run_batch(spec: BatchSpec, shared: SharedInputs) -> pa.Table:
    """Recommendations for stages ``[spec.start, spec.stop)`` with an ``input_row`` column.

    The table's schema metadata carries the batch's compute time [s] under
    ``COMPUTE_SECONDS_KEY`` (for scheduling-overhead accounting).
    The fitted artefacts of its forecaster and solver, if they expose any, ride along
    under ``ARTEFACTS_KEY`` (:mod:`platform_core.artefacts`).
    """
    t0 = time.perf_counter()
    artefacts: list[ComponentArtefacts] = []
    table = _run_batch(spec, shared, artefacts)
    seconds = f"{time.perf_counter() - t0:.6f}".encode()
    meta = {COMPUTE_SECONDS_KEY: seconds}
    if artefacts:
        meta[ARTEFACTS_KEY] = pack_artefacts(artefacts)
    return table.replace_schema_metadata(meta)


def _run_batch(spec: BatchSpec, shared: SharedInputs, artefacts: list[ComponentArtefacts]) -> pa.Table:
    idx = np.arange(spec.start, spec.stop, dtype=np.int64)
    try:
        return _solve(shared, idx, artefacts)
    except Exception:  # noqa: BLE001 - isolate the failing network(s) below
        artefacts.clear()
    parts = []
    for net in _networks(shared, spec):
        try:
            parts.append(_solve(shared, net, artefacts))
        except Exception as exc:  # noqa: BLE001 - reported per SKU-location, never dropped
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            message = f"{type(exc).__name__} in network: {last}"
            parts.append(_rows(shared, net, ["error"] * net.size, [message] * net.size, None))
    return pa.concat_tables(parts, promote_options="default")  # failed networks have no side columns
