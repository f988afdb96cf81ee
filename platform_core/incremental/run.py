"""``echelon run DATA --out NEW --since PREVIOUS_OUT``: sense, then re-plan only what changed.

    read OUT/sensing/ of the previous run  ->  load + validate DATA
    -> new periods of demand, new receipts  ->  demand and lead-time detectors
    -> the networks of the SKU-locations that changed  ->  plan and solve those networks
       exactly as a full run would (:mod:`platform_core.incremental.subset`)
    -> recommendations: every other row copied from the previous run, re-planned rows
       with ``changed_because``  ->  summary.json, new OUT/sensing/

``DATA`` is the whole dataset of this cycle: the previous cycle's tables with the new
periods of demand and the new receipts appended.  The tables that define the problem
(``stages``, ``edges``, ``costs``, ``current_policy``, ``overrides``) must be the files
the previous run read (same SHA-256): a change there is not sensed; run in full.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.artefacts import ComponentArtefacts, data_as_of
from platform_core.batch import COMPUTE_SECONDS_KEY, run_batch, warm_up_components
from platform_core.config import RunConfig
from platform_core.data.columns import float_column
from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import find_file, load_dataset
from platform_core.data.schemas import FILE_SPECS, Dataset
from platform_core.exception_lists import RECENT_PERIODS, exception_counts
from platform_core.executor import AUTO, Executor, choose_executor
from platform_core.frontier import frontier_table, split_side_columns, write_frontier
from platform_core.incremental.demand_sensing import (
    fill_demand_thresholds,
    fit_demand_state,
    update_demand_state,
)
from platform_core.incremental.lead_time_sensing import (
    LeadTimeState,
    fill_lead_time_thresholds,
    fit_lead_time_state,
    update_lead_time_state,
)
from platform_core.incremental.outputs import (
    combined_side,
    demand_from,
    exceptions_since,
    interleave,
    read_frontier_side,
    write_frontier_side,
)
from platform_core.incremental.state import (
    SensingGrid,
    SensingState,
    demand_origin_day,
    read_sensing_state,
    write_sensing_state,
)
from platform_core.incremental.subset import (
    FitForLanes,
    plan_subset,
    pooled_forecaster,
    with_forecaster,
)
from platform_core.networks import NetworkStructure, index_networks
from platform_core.parts import (
    OutputLock,
    check_output_dir,
    input_file_digests,
    input_fingerprint,
    write_parquet_atomic,
)
from platform_core.planner_view import EXCEPTIONS_FILE
from platform_core.plugin_host import PluginHost
from platform_core.pooled import reusable_pooled_forecaster, save_pooled_forecaster
from platform_core.run_context import RunResult
from platform_core.summary import summarise, write_summary
from platform_core.timings import RunTimer

__all__ = ["run_since", "STRUCTURE_TABLES", "CHANGED_BECAUSE", "REASON_SEP", "alarms_by_reason", "early_executor",
           "EARLY_START_INPUT_FACTOR"]

#: Tables that must not change between an incremental run and the run it follows.
STRUCTURE_TABLES = ("stages", "edges", "costs", "current_policy", "overrides")
#: The column that says why a row was re-planned (null: copied from the previous run).
CHANGED_BECAUSE = "changed_because"
#: Between the reasons of a row with more than one alarm (``demand_level_up; lead_time_lane SUP``).
REASON_SEP = "; "


def alarms_by_reason(own: np.ndarray) -> dict[str, int]:
    """Alarms per reason over the rows' own labels (each reason of a row counted once).

    A label is one or more alarms joined by :data:`REASON_SEP`; an alarm is its reason,
    then for lead times the supplier after a space (``lead_time_supplier SUP7``).
    """
    counts: dict[str, int] = {}
    for label in own.tolist():
        for alarm in str(label).split(REASON_SEP) if label else ():
            reason = alarm.strip().split(" ", 1)[0]
            if reason:
                counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items()))


def _new_demand(demand: pa.Table, structure: NetworkStructure, grid: SensingGrid) -> tuple[np.ndarray, int]:
    """Demand of the periods after ``grid.last_period`` [input rows, new periods], and the new last period.

    ``demand``: the demand table, or its rows from some period up to ``grid.last_period + 1`` on.
    """
    n = structure.n_stages
    new = demand_from(demand, grid, grid.last_period + 1)
    if new.num_rows == 0:
        return np.zeros((n, 0)), grid.last_period
    d = new.column("period").cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    pidx = np.floor((d - grid.origin_day) / grid.period_days).astype(np.int64) - (grid.last_period + 1)
    width = int(pidx.max()) + 1
    matrix = np.full((n, width), np.nan)
    rows = structure.index.lookup(new)
    qty = new.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64)
    ok = rows >= 0
    matrix[rows[ok], pidx[ok]] = qty[ok]
    return matrix, grid.last_period + width


def _validated_before(previous: SensingState, data_dir: Path) -> set[str]:
    """The structure tables whose files are byte-identical (SHA-256) to those the previous run validated."""
    files = {}
    for name in STRUCTURE_TABLES:
        try:
            file = find_file(data_dir, FILE_SPECS[name])
        except DataValidationError:
            return set()  # the load reports it
        if file is not None and name in previous.input_files:
            files[name] = file
    now = input_file_digests(files)
    return {name for name, digest in now.items() if digest == previous.input_files[name]}


def _check_unchanged(previous: SensingState, digests: dict[str, str], since: Path) -> None:
    for name in STRUCTURE_TABLES:
        before, now = previous.input_files.get(name), digests.get(name)
        if before != now:
            what = "appeared" if before is None else "is gone" if now is None else "changed"
            raise ValueError(
                f"the {name} table {what} since the previous run in {since}: an incremental run re-plans from new "
                f"demand and new receipts only; run in full (echelon run without --since)")


def _next_lead_time_state(old: LeadTimeState, receipts: pa.Table | None, suppliers: set[str],
                          false_alarm_per_year: float) -> LeadTimeState:
    """``old`` with every lane and the pooled detector of ``suppliers`` refitted on their receipts.

    The suppliers with an alarm, or with an alarmed or new lane, start afresh (baseline
    from their receipts so far, statistics at zero); every other lane and supplier keeps
    its baseline and carries its statistics on.
    """
    if not suppliers or receipts is None:
        return old
    mine = receipts.filter(pc.is_in(pc.cast(receipts.column("supplier"), pa.string()),
                                    value_set=pa.array(sorted(suppliers), pa.string())))
    fresh = fit_lead_time_state(mine, false_alarm_per_year, thresholds=False)
    keep_sup = ~np.isin(old.supplier.astype(str), np.array(sorted(suppliers), dtype=str))
    keep_lane = keep_sup[old.lane_supplier] if old.lane_supplier.size else np.zeros(0, dtype=bool)
    new_index = np.cumsum(keep_sup) - 1
    offset = int(keep_sup.sum())
    return LeadTimeState(
        lane_key=np.concatenate([old.lane_key[keep_lane], fresh.lane_key]),
        lane_supplier=np.concatenate([new_index[old.lane_supplier[keep_lane]], fresh.lane_supplier + offset]),
        supplier=np.concatenate([old.supplier[keep_sup], fresh.supplier]),
        lane={k: np.concatenate([old.lane[k][keep_lane], fresh.lane[k]]) for k in old.lane},
        sup={k: np.concatenate([old.sup[k][keep_sup], fresh.sup[k]]) for k in old.sup},
        cutoff_day=max(old.cutoff_day, fresh.cutoff_day),
    )


def _reasons(structure: NetworkStructure, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per input row: re-planned or not, and ``changed_because`` (None for copied rows).

    A row with its own alarm gives its reason(s); the other rows of its network name the
    first alarmed stage of the network (in input order) and its reason.
    """
    n = structure.n_stages
    net = np.empty(n, dtype=np.int64)
    net[structure.order] = structure.network_id
    alarmed = np.flatnonzero(own != "")
    hit_nets = np.unique(net[alarmed])
    replan = np.isin(net, hit_nets)
    first_of_net: dict[int, int] = {}
    for r in alarmed.tolist():
        first_of_net.setdefault(int(net[r]), r)
    names = structure.index.stages
    sku = names.column("sku")
    loc = names.column("location")
    out = np.full(n, None, dtype=object)
    for r in np.flatnonzero(replan).tolist():
        if own[r]:
            out[r] = str(own[r])
        else:
            f = first_of_net[int(net[r])]
            out[r] = f"network: {own[f]} at {sku[f].as_py()}@{loc[f].as_py()}"
    return replan, out


#: ``auto`` starts Ray while the data loads from this many times ``in_process_below`` input
#: SKU-locations on: re-planning 2 % of such an input passes the threshold (at a million: 19,301
#: re-planned, Ray's start ~10 s hidden behind ~30 s of loading); the choice itself is still
#: made on the re-planned count, and a Ray instance started for nothing is shut down
EARLY_START_INPUT_FACTOR = 50


def early_executor(configured: str, input_sku_locations: int, in_process_below: int) -> str | None:
    """The executor to start while the data loads, before sensing says how much to re-plan.

    A configured executor (not ``auto``) is known already; ``auto`` gives ``ray`` for an
    input of at least :data:`EARLY_START_INPUT_FACTOR` x ``in_process_below``
    SKU-locations, else None (chosen after sensing).
    """
    if configured != AUTO:
        return configured
    if input_sku_locations >= EARLY_START_INPUT_FACTOR * in_process_below:
        return "ray"
    return None


def _load_while_starting(load: Callable[[], Dataset], start: Callable[[], None] | None) -> Dataset:
    """``load()`` in a thread while ``start()`` runs here (Ray is started from the main thread)."""
    if start is None:
        return load()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="echelon-load") as pool:
        loading = pool.submit(load)
        try:
            start()
        finally:
            dataset = loading.result()  # the load's own error first: bad input is reported as such
    return dataset


def _customer_facing(structure: NetworkStructure, has_demand: np.ndarray) -> np.ndarray:
    leaf = np.ones(structure.n_stages, dtype=bool)
    leaf[structure.up] = False
    out: np.ndarray = has_demand & leaf
    return out


def run_since(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: RunConfig,
    since: str | os.PathLike[str],
    *,
    host: PluginHost | None = None,
    log: Callable[[str], None] | None = None,
    overwrite: bool = False,
    refit_pooled: bool = False,
) -> RunResult:
    """Re-plan the networks that changed since the run in ``since`` (see the module docstring).

    Args:
        data_dir: this cycle's whole dataset.
        out_dir: output directory (empty or missing unless ``overwrite``).
        config: the run's configuration (as for the previous run: the re-planned rows
            are computed with it, the copied rows were computed with the previous one).
        since: the previous run's output directory (``recommendations.parquet``,
            ``summary.json``, ``sensing/``).
        host: plugin host (the installed plugins by default).
        log: progress messages (default stderr).
        overwrite: replace an earlier run's results in ``out_dir``.
        refit_pooled: fit a pooling forecaster's run-wide parameters afresh, as a full
            run on ``data_dir`` would; by default the previous run's are reused
            (``sensing/pooled_forecaster.json``, :mod:`platform_core.pooled`).

    Raises:
        FileNotFoundError: ``since`` lacks a file the incremental run needs.
        platform_core.pooled.PooledParamsError: the previous run's pooled parameters do
            not fit this run (another forecaster, configuration or period length).
        ValueError: a structure table changed, the demand grid moved, or bad configuration.
        platform_core.data.errors.DataValidationError: the input is invalid; nothing is written.
    """
    from platform_core.pipeline import (
        _build_executor,
        _component_info,
        batch_artefacts,
        prepared_context,
    )

    say = log or (lambda msg: print(msg, file=sys.stderr))
    since_dir = Path(since)
    previous = read_sensing_state(since_dir)
    prev_rec_path = since_dir / "recommendations.parquet"
    if not prev_rec_path.is_file():
        raise FileNotFoundError(f"{prev_rec_path} not found: --since needs the previous run's output directory")
    prev_summary = json.loads((since_dir / "summary.json").read_text()) if (since_dir / "summary.json").is_file() else {}
    timer = RunTimer()
    host = host or PluginHost()
    ctx, specs = prepared_context(host, config, data_dir, out_dir, _component_info(host, config))
    # the same lifecycle as a full run, tagged for trackers as incremental
    ctx.tags = {"echelon.incremental": "true", "echelon.since": os.path.abspath(since_dir),
                "echelon.previous_run_id": str(prev_summary.get("run_id") or "")}
    configured_forecaster = specs["forecaster"]
    reused = reusable_pooled_forecaster(configured_forecaster, config, since_dir, refit=refit_pooled)
    out = Path(out_dir)
    lock = OutputLock(out, ctx.run_id)
    lock.acquire()
    started = False
    early: Executor | None = None  # an executor started while the data loads
    early_start_seconds: list[float] = []
    try:
        check_output_dir(out, overwrite=overwrite, resume=False)
        host.run_started(ctx)
        started = True
        timer.mark("started")
        early_name = early_executor(config.run.executor, int(previous.sku.size), config.run.in_process_below)
        if early_name is not None:
            early = starting = _build_executor(host, config, early_name)
            warm = partial(warm_up_components, (specs["forecaster"].cls, specs["solver"].cls))

            def start_early() -> None:
                t0 = time.perf_counter()
                starting.start(warm)
                early_start_seconds.append(time.perf_counter() - t0)

        dataset = _load_while_starting(
            partial(load_dataset, data_dir, period_days=config.run.period_days,
                    validated=_validated_before(previous, Path(data_dir))),
            start_early if early_name is not None else None)
        digests = input_file_digests(dataset.sources)
        _check_unchanged(previous, digests, since_dir)
        if float(config.run.period_days) != previous.grid.period_days:
            raise ValueError(f"the previous run planned {previous.grid.period_days:g}-day periods, this one "
                             f"{config.run.period_days:g}-day periods: run in full")
        first_day = demand_origin_day(dataset.demand)
        if first_day is not None and first_day != previous.grid.origin_day:
            raise ValueError(f"the demand now starts on day {first_day} (since 1970-01-01), the previous run's on day "
                             f"{previous.grid.origin_day}: the history itself changed; run in full")
        structure = index_networks(dataset)
        n = structure.n_stages
        if n != previous.sku.size:
            raise ValueError(f"{since_dir / 'sensing'} holds {previous.sku.size} SKU-locations, the input {n}: run in full")
        host.input_validated(ctx, dataset)
        timer.mark("loaded")

        # --- sense ---------------------------------------------------------------------
        # the demand rows the sensing and the exception lists read: the new periods and the
        # RECENT_PERIODS before the end (one pass over the whole table, not two)
        demand_tail = demand_from(dataset.demand, previous.grid, previous.grid.last_period + 1 - RECENT_PERIODS)
        new_demand, last_period = _new_demand(demand_tail, structure, previous.grid)
        demand_state = previous.demand
        fill_demand_thresholds(demand_state, previous.periods_per_year, previous.false_alarm_per_year)
        fill_lead_time_thresholds(previous.lead_time, previous.false_alarm_per_year)
        own = update_demand_state(demand_state, new_demand).astype(object)
        lead_alarms = update_lead_time_state(previous.lead_time, dataset.get("receipts"))
        lt_rows = structure.index.lookup(lead_alarms.lanes) if lead_alarms.lanes.num_rows else np.zeros(0, np.int64)
        lt_reason = lead_alarms.lanes.column("reason").to_pylist()
        lt_supplier = lead_alarms.lanes.column("supplier").to_pylist()
        for r, why, sup in zip(lt_rows.tolist(), lt_reason, lt_supplier, strict=True):
            if r < 0:
                continue
            label = f"{why} {sup}"
            own[r] = label if not own[r] else (own[r] if label in own[r] else f"{own[r]}{REASON_SEP}{label}")
        own = np.asarray([o if o else "" for o in own], dtype=object)
        replan, because = _reasons(structure, own)
        timer.mark("sensed")
        keep_rows = np.flatnonzero(replan)
        say(f"echelon: since {since_dir}: {new_demand.shape[1]} new period(s); re-planning {keep_rows.size:,} of "
            f"{n:,} SKU-locations")

        # --- re-plan the changed networks as the full run would ---------------------------
        origin = previous.grid.origin_day
        n_periods = last_period + 1
        executor_record: dict[str, Any] = {}
        batch_seconds: dict[int, float] = {}
        batches: list[Any] = []
        new_rows: pa.Table | None = None
        sub_history = np.zeros((0, n_periods))
        sub_input = np.zeros(0, dtype=np.int64)
        new_side: pa.Table | None = None
        artefacts: list[ComponentArtefacts] = []
        # fitted on the receipts the predicted lanes need: the predictions of a fit on all of them
        lead_time_model = FitForLanes(specs["lead_time_model"].build(), dataset.get("receipts"))
        pooled = reused  # the run-wide forecaster parameters: the previous run's, or fitted as a full run would
        if reused is not None:
            specs = {**specs, "forecaster": reused}
        elif keep_rows.size or refit_pooled:
            specs = pooled_forecaster(dataset, structure, config, dict(specs), origin, n_periods, lead_time_model)
            pooled = specs["forecaster"]
        timer.mark("pooled")
        if keep_rows.size:
            # as in a full run, the executor starts (a local Ray instance: seconds) and its
            # workers warm up while the driver plans; the subset is the kept rows
            name, reason = choose_executor(config.run.executor, int(keep_rows.size), config.run.in_process_below)
            if early is not None and early.name == name:
                executor, early = early, None
            else:
                executor = _build_executor(host, config, name)
            executor_record = {"name": executor.name, "configured": config.run.executor, "reason": reason,
                               "label": executor.label(), "params": executor.describe()}
            results: dict[int, pa.Table] = {}

            def on_result(index: int, table: pa.Table) -> None:
                spec = batches[index]
                results[spec.batch_id] = table
                batch_seconds[spec.batch_id] = float(
                    (table.schema.metadata or {}).get(COMPUTE_SECONDS_KEY, b"0"))
                # as in a full run: ``input_row`` is the row of the whole input, not of the subset
                at = table.schema.get_field_index("input_row")
                full_rows = pa.array(keep_rows[table.column(at).to_numpy()], pa.int64())
                host.batch_finished(ctx, spec.batch_id, table.set_column(at, "input_row", full_rows))

            if early is not None:  # started for a choice sensing did not confirm
                early.close()
                early = None
            try:
                if early_start_seconds:  # started while the data loaded
                    executor_record["started_while_loading_seconds"] = round(early_start_seconds[0], 3)
                else:
                    executor.start(partial(warm_up_components, (specs["forecaster"].cls, specs["solver"].cls)))
                timer.mark("executor_started")
                shared, batches, _ = plan_subset(dataset, structure, replan, config, specs, origin, n_periods,
                                                 lead_time_model, artefacts)
                shared = with_forecaster(shared, specs["forecaster"])
                timer.mark("planned")
                executor.map_batches(run_batch, batches, shared, on_result)
            finally:
                executor.close()
            artefacts += batch_artefacts([dict(results[b.batch_id].schema.metadata or {}) for b in batches],
                                         data_as_of(dataset), ctx.notes)
            merged = pa.concat_tables([results[b.batch_id] for b in batches], promote_options="default")
            merged, new_side = split_side_columns(merged)
            sub_rows = merged.column("input_row").to_numpy()
            new_rows = merged.drop_columns(["input_row"]).replace_schema_metadata(None)
            sub_input = keep_rows[sub_rows]  # sub input row -> full input row
            sub_history = shared.demand
            shared_input = keep_rows[shared.input_row]
        if early is not None:  # nothing to re-plan
            early.close()
            early = None
        timer.mark("solved")

        # --- recommendations: copied rows + re-planned rows ---------------------------------
        previous_table = pq.read_table(prev_rec_path)
        if previous_table.num_rows != n:
            raise ValueError(f"{prev_rec_path} has {previous_table.num_rows} rows for {n} SKU-locations: run in full")
        if CHANGED_BECAUSE in previous_table.column_names:
            previous_table = previous_table.drop_columns([CHANGED_BECAUSE])
        final = previous_table
        if new_rows is not None:
            cols = {}
            for field in previous_table.schema:
                if field.name in new_rows.column_names:
                    cols[field.name] = new_rows.column(field.name).cast(field.type)
                else:
                    cols[field.name] = pa.nulls(new_rows.num_rows, field.type)
            final = interleave(previous_table, pa.table(cols, schema=previous_table.schema), replan, sub_input)
        final = final.append_column(CHANGED_BECAUSE, pa.array(because.tolist(), pa.string()))
        rec_path = out / "recommendations.parquet"
        write_parquet_atomic(final, rec_path)
        # the planner's files of the complete output: copied rows' frontier data from the previous run
        exceptions, exceptions_reused, not_reused = exceptions_since(
            final, dataset, structure, previous.grid, last_period, replan, since_dir / EXCEPTIONS_FILE, demand_tail)
        write_parquet_atomic(exceptions, out / EXCEPTIONS_FILE)
        side = combined_side(read_frontier_side(since_dir), new_side, replan, sub_input)
        write_frontier_side(out, side)
        timer.mark("written")

        # --- the next run's state: refitted where re-planned, carried elsewhere ------------
        if keep_rows.size:
            refit = fit_demand_state(sub_history, previous.periods_per_year, previous.false_alarm_per_year,
                                     thresholds=False)
            demand_state.put(shared_input, refit)
        restart = set(lead_alarms.suppliers) | set(lead_alarms.lanes.column("supplier").to_pylist())
        lead_state = _next_lead_time_state(previous.lead_time, dataset.get("receipts"), restart,
                                           previous.false_alarm_per_year)
        state = SensingState(sku=previous.sku, location=previous.location, demand=demand_state,
                             lead_time=lead_state, grid=SensingGrid(origin, previous.grid.period_days, last_period),
                             periods_per_year=previous.periods_per_year,
                             false_alarm_per_year=previous.false_alarm_per_year, input_files=digests)
        write_sensing_state(out, state)
        if pooled is not None:
            save_pooled_forecaster(out, configured_forecaster, pooled, config, ctx.run_id, input_fingerprint(digests))

        # --- summary --------------------------------------------------------------------
        has_demand = demand_state.history_periods > 0
        facing = _customer_facing(structure, has_demand)
        frontier = None if side is None else frontier_table(
            final, side, float_column(dataset.stages, "unit_cost", 0.0), facing)
        frontier_path = write_frontier(out, frontier)
        metrics = summarise(final, facing)
        n_nets = int(structure.network_sizes.size)
        net = np.empty(n, dtype=np.int64)
        net[structure.order] = structure.network_id
        replanned_nets = int(np.unique(net[keep_rows]).size) if keep_rows.size else 0
        metrics.update({
            "sku_locations_replanned": float(keep_rows.size),
            "sku_locations_copied": float(n - keep_rows.size),
            "networks_replanned": float(replanned_nets),
            "networks_total": float(n_nets),
            "batches": float(len(batches)),
            "load_validate_seconds": timer.between("started", "loaded"),
            "sense_seconds": timer.between("loaded", "sensed"),
            "solve_seconds": timer.between("sensed", "solved"),
            "pool_forecaster_seconds": timer.between("sensed", "pooled") if keep_rows.size else 0.0,
            "executor_start_seconds": timer.between("pooled", "executor_started") if keep_rows.size else 0.0,
            "plan_subset_seconds": timer.between("executor_started", "planned") if keep_rows.size else 0.0,
            "batches_seconds": timer.between("planned", "solved") if keep_rows.size else 0.0,
            "write_recommendations_seconds": timer.between("solved", "written"),
            "wall_seconds": timer.since(),
        })
        section = {
            "since": os.path.abspath(since_dir),
            "previous_run_id": prev_summary.get("run_id"),
            "new_periods": int(new_demand.shape[1]),
            "sku_locations_replanned": int(keep_rows.size),
            "sku_locations_copied": int(n - keep_rows.size),
            "networks_replanned": replanned_nets,
            "networks_total": n_nets,
            "alarms_by_reason": alarms_by_reason(own),
            "suppliers_alarmed": sorted(lead_alarms.suppliers),
            "false_alarm_per_year": previous.false_alarm_per_year,
            # the copied rows' exception rows that need no demand history, taken from the previous run's file
            "exception_rows_reused": exceptions_reused,
            **({"exception_rows_not_reused_because": not_reused} if not_reused else {}),
        }
        summary_path = out / "summary.json"
        write_summary(summary_path, ctx.run_id, metrics, ctx.components, batches, batch_seconds,
                      seed=config.run.seed, input_fingerprint=input_fingerprint(digests), input_files=digests,
                      executor=executor_record, input_dir=os.path.abspath(data_dir),
                      sections={"incremental": section, "exceptions": exception_counts(exceptions)})
        result = RunResult(recommendations_path=rec_path, metrics=metrics, notes=ctx.notes,
                           extra_artifacts=[summary_path] + ([frontier_path] if frontier_path is not None else []),
                           artefacts=artefacts)
        host.run_finished(ctx, result)
        return result
    except BaseException as exc:
        if started:
            host.run_failed(ctx, exc)
        raise
    finally:
        if early is not None:
            early.close()
        lock.release()
