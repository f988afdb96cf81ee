"""One run end to end, as orchestration over small modules.

    load + validate (platform_core.data)  ->  fit lead times and costs (fitting)
    -> networks and batches (networks, plan)  ->  batches on an executor (batch)
    -> part files, resume, merge (parts)  ->  summary (summary)  ->  lifecycle hooks

Output layout (``out_dir``):

* ``recommendations.parquet`` — one row per input SKU-location, in input order, with a
  ``status`` (``ok`` or ``error``) and, for ``ok`` rows, a complete policy;
* ``summary.json`` — aggregate metrics of the run, and per batch its stages, estimated
  work [simulated stage-periods] and compute time [s];
* ``_parts/`` — per-batch part files while the run is in flight (:mod:`platform_core.parts`);
* ``.echelon.lock`` — the lock of the run in flight (removed at its end).

Nothing is written when the input fails validation.  The executor is chosen once the
input is loaded (``executor = "auto"``: in process for small inputs, Ray otherwise).
"""

from __future__ import annotations

import gc
import inspect
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from platform_core.artefacts import (
    ComponentArtefacts,
    data_as_of,
    driver_artefacts,
    merge_batch_artefacts,
    unpack_artefacts,
)
from platform_core.batch import COMPUTE_SECONDS_KEY, pool_forecaster, run_batch, warm_up_components
from platform_core.compare import previous_recommendations
from platform_core.components import Component, ComponentSpec
from platform_core.config import COMPONENT_SECTIONS, RunConfig
from platform_core.constraints import apply_constraints, coupling_inputs, with_fresh_estimates
from platform_core.cost_columns import cost_column_metrics, with_cost_columns
from platform_core.data.loaders import load_dataset
from platform_core.data.schemas import Dataset
from platform_core.executor import AUTO, Executor, choose_executor
from platform_core.fitting import fit_costs, fit_lead_times
from platform_core.frontier import (
    frontier_table,
    split_side_columns,
    unit_cost_by_input_row,
    write_frontier,
)
from platform_core.incremental.outputs import write_frontier_side
from platform_core.incremental.state import fit_sensing_state, write_sensing_state
from platform_core.networks import index_networks
from platform_core.overrides import override_summary
from platform_core.parts import (
    OutputLock,
    PartStore,
    check_output_dir,
    input_file_digests,
    input_fingerprint,
    remove_run_outputs,
    run_fingerprint,
    write_parquet_atomic,
)
from platform_core.plan import BatchSettings, BatchSpec, SharedInputs, plan_run
from platform_core.planner_view import with_previous_run, write_planner_outputs
from platform_core.plugin_host import PluginHost
from platform_core.pooled import given_pooled_forecaster, save_pooled_forecaster
from platform_core.run_context import RunContext, RunResult
from platform_core.summary import customer_facing, summarise, write_summary
from platform_core.timings import RunTimer

__all__ = ["run", "summarise", "checked_params", "prepare_components", "plan_dataset"]

_FAMILY_OF_SECTION = {"forecaster": "forecaster", "lead_time_model": "lead_time", "cost_model": "cost",
                      "solver": "solver"}


def checked_params(cls: type, params: Mapping[str, Any], section: str, name: str) -> dict[str, Any]:
    """``params`` after checking them against ``cls``'s constructor and building it once.

    Raises:
        ValueError: a key the constructor does not take (naming the ones it does), or a
            value the component rejects, naming the section and the component.
    """
    accepted = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(set(params) - set(accepted))
    if unknown and not takes_any:
        known = sorted(k for k, p in accepted.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL)
        raise ValueError(f"[{section}] unknown key(s) {unknown} for {section.replace('_', ' ')} {name!r}; "
                         f"it takes: {known}")
    try:
        cls(**params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"[{section}] invalid parameters for {section.replace('_', ' ')} {name!r}: {exc}") from None
    return dict(params)


def prepare_components(host: PluginHost, config: RunConfig, ctx: RunContext) -> dict[str, ComponentSpec[Any]]:
    """Each component section's class with its parameters, checked and prepared on the driver.

    Raises:
        ValueError: an unknown component, or parameters a component rejects.
    """
    lookup: dict[str, Callable[[str], type[Component]]] = {
        "forecaster": host.forecaster, "lead_time_model": host.lead_time_model,
        "cost_model": host.cost_model, "solver": host.solver,
    }
    out: dict[str, ComponentSpec[Any]] = {}
    for section in COMPONENT_SECTIONS:
        name = getattr(config.components, section)
        cls = lookup[section](name)
        params = checked_params(cls, config.component_params(section), section, name)
        out[section] = ComponentSpec(name, cls, cls.prepare(params, ctx))
    return out


def plan_dataset(
    dataset: Dataset, config: RunConfig, specs: Mapping[str, ComponentSpec[Any]],
    artefacts: list[ComponentArtefacts] | None = None, *, pool: bool = True,
) -> tuple[SharedInputs, list[BatchSpec]]:
    """The driver's work between validation and the batches.

    Networks indexed, lead times and costs fitted, shared inputs and batches planned, and
    a forecaster that pools across series given its run-wide parameters
    (:func:`platform_core.batch.pool_forecaster`; ``pool=False``: they are given, in
    ``specs``, see :mod:`platform_core.pooled`).  The fitted lead-time and cost
    models' artefacts are appended to ``artefacts`` when given.
    """
    structure = index_networks(dataset)
    lead_time_model, cost_model = specs["lead_time_model"].build(), specs["cost_model"].build()
    lead_times = fit_lead_times(dataset, structure, lead_time_model, config.run.period_days,
                                config.run.default_lead_time_days)
    costs = fit_costs(dataset, cost_model, config.run.period_days)
    if artefacts is not None:
        artefacts.extend(driver_artefacts(dataset, specs, lead_time_model, cost_model))
    settings = BatchSettings(
        seed=config.run.seed, period_days=config.run.period_days, forecaster=specs["forecaster"],
        # constraints that count on hand: measured again on fresh paths (platform_core.constraints.fresh)
        solver=with_fresh_estimates(dataset, specs["solver"]), lead_time_model=specs["lead_time_model"].name,
    )
    shared, batches = plan_run(dataset, structure, lead_times, costs, settings, config.run.batch_stages)
    return (pool_forecaster(shared) if pool else shared), batches


def batch_artefacts(metadata: list[dict[bytes, bytes]], as_of: str, notes: list[str]) -> list[ComponentArtefacts]:
    """The per-stage artefacts of the batches (results' schema metadata), merged in stage order."""
    return merge_batch_artefacts((unpack_artefacts(m) for m in metadata), notes, as_of)


def _component_info(host: PluginHost, config: RunConfig) -> dict[str, dict[str, str]]:
    out = {}
    for section, family in _FAMILY_OF_SECTION.items():
        name = getattr(config.components, section)
        info = host.info(family, name)
        out[family] = {"name": name, "plugin": info.plugin, "version": info.version}
    if config.run.executor != AUTO:  # "auto" is resolved once the input's size is known
        out["executor"] = _executor_info(host, config.run.executor)
    return out


def _executor_info(host: PluginHost, name: str) -> dict[str, str]:
    info = host.info("executor", name)
    return {"name": name, "plugin": info.plugin, "version": info.version}


def _build_executor(host: PluginHost, config: RunConfig, name: str) -> Executor:
    return host.executor(name)(
        address=config.run.address, num_workers=config.run.num_workers, node_ip_address=config.run.node_ip_address,
    )


def _core_sections(config: RunConfig) -> dict[str, dict[str, Any]]:
    full = config.as_dict()
    return {k: full[k] for k in ("run", "components", *COMPONENT_SECTIONS)}


def _start_line(run_id: str, n_total: int, n_batches: int, executor: Executor, config: RunConfig) -> str:
    """``echelon: run 1a2b3c4d: 2,000 SKU-locations in 4 batches, Ray (2 workers)``."""
    label = executor.label()
    if config.run.executor == AUTO:
        below = config.run.in_process_below
        why = (f"auto: fewer than {below:,} SKU-locations" if executor.name == "in_process"
               else f"auto: {below:,} SKU-locations or more")
        label = f"{label[:-1]}; {why})" if label.endswith(")") else f"{label} ({why})"
    batches = f"{n_batches:,} batch{'' if n_batches == 1 else 'es'}"
    return f"echelon: run {run_id[:8]}: {n_total:,} SKU-locations in {batches}, {label}"


PIPED_PROGRESS_SECONDS = 5.0
"""Seconds between progress lines when stderr is not a terminal (a pipe, a log file)."""


class _Lines:
    """A text stream for tqdm off a terminal: every refresh becomes one whole line.

    tqdm redraws its bar in place with carriage returns, which a log file or ``make``'s
    captured output shows as one ever longer line; this writes each state on a line.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        count = line.split("[", 1)[0]  # "100%|#####| 5000/5000 ": no line twice for one count
        if line and count != self._last:
            self._stream.write(line + "\n")
            self._last = count

    def flush(self) -> None:
        self._stream.flush()


def _progress_bar(total: int, progress: bool | None) -> Any:
    """A tqdm bar on stderr: redrawn in place on a terminal, a line every few seconds elsewhere."""
    from tqdm import tqdm

    if progress is False:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, unit="sku-loc", file=sys.stderr)
    return tqdm(total=total, unit="sku-loc", file=_Lines(sys.stderr), ascii=True, ncols=80,
                mininterval=PIPED_PROGRESS_SECONDS, maxinterval=PIPED_PROGRESS_SECONDS)


def run(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: RunConfig,
    *,
    host: PluginHost | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    compare_with: str | os.PathLike[str] | None = None,
    pooled_from: str | os.PathLike[str] | None = None,
) -> RunResult:
    """Run the whole job; returns where the recommendations are and the summary.

    ``out_dir`` is locked for the whole run (``OUT/.echelon.lock``, an OS file lock): a
    second run into the same directory raises at once, naming the first.

    Args:
        data_dir: input dataset directory (see ``docs/data.md``).
        out_dir: output directory; created if missing, and it must be empty unless
            ``overwrite`` or ``resume`` is set.
        config: resolved configuration.
        host: plugin host (a fresh one with the installed plugins by default).
        progress: False hides the progress bar; otherwise it is drawn on stderr, in place
            on a terminal, as a line every 5 s elsewhere (a pipe, a log file).
        log: where to print progress messages (default stderr).
        resume: keep the finished part files of an interrupted run with the same input
            and configuration, and run only the missing batches.
        overwrite: replace an earlier run's results in ``out_dir``
            (``recommendations.parquet``, ``summary.json``, ``_parts``) once the input
            is valid; other files there stay.
        compare_with: an earlier run's output directory: without a ``current_policy``
            in the input, the recommendations are compared with its levels and fill.
        pooled_from: an earlier run's output directory: a pooling forecaster uses the
            run-wide parameters that run fitted (``sensing/pooled_forecaster.json``,
            :mod:`platform_core.pooled`) instead of fitting them.

    Raises:
        platform_core.data.errors.DataValidationError: the input is invalid; nothing
            is written.
        platform_core.parts.OutputDirectoryError: another run is writing into
            ``out_dir``, or it is not empty and neither ``overwrite`` nor ``resume`` is set.
        ValueError: an unknown component, parameters a component rejects, or both
            ``overwrite`` and ``resume``; a ``pooled_from`` without usable pooled
            parameters (:class:`platform_core.pooled.PooledParamsError`).
    """
    if overwrite and resume:
        raise ValueError("pass either overwrite (start afresh) or resume (continue an interrupted run), not both")
    if compare_with is not None:
        previous_recommendations(compare_with)  # fails now, not after the run
    say = log or (lambda msg: print(msg, file=sys.stderr))
    timer = RunTimer()
    host = host or PluginHost()
    components = _component_info(host, config)  # fails early on unknown names
    # "auto" needs the input's size: the executor is built once the input is loaded
    executor = None if config.run.executor == AUTO else _build_executor(host, config, config.run.executor)
    pending = {"executor": AUTO, "in_process_below": config.run.in_process_below}
    ctx, specs = prepared_context(host, config, data_dir, out_dir, components,
                                  executor.describe() if executor is not None else pending)
    configured_forecaster = specs["forecaster"]
    if pooled_from is not None:
        specs = {**specs, "forecaster": given_pooled_forecaster(specs["forecaster"], config, pooled_from)}
    out = Path(out_dir)
    lock = OutputLock(out, ctx.run_id)
    lock.acquire()
    try:
        check_output_dir(out, overwrite=overwrite, resume=resume)
        return _run_locked(ctx, host, executor, specs, timer, say, progress=progress, resume=resume,
                           overwrite=overwrite, compare_with=compare_with,
                           configured_forecaster=configured_forecaster, pool=pooled_from is None)
    finally:
        lock.release()


def prepared_context(
    host: PluginHost, config: RunConfig, data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
    components: dict[str, dict[str, str]], executor: dict[str, Any] | None = None,
) -> tuple[RunContext, dict[str, ComponentSpec[Any]]]:
    """A new run's context and its components (``echelon run`` and ``run --since``).

    The components' parameters are checked and settled on the driver before anything starts.
    """
    ctx = RunContext(run_id=uuid.uuid4().hex, data_dir=Path(data_dir), out_dir=Path(out_dir), config=config,
                     components=components, executor=executor if executor is not None else {})
    specs = prepare_components(host, config, ctx)
    ctx.component_params = {section: dict(spec.params) for section, spec in specs.items()}
    return ctx, specs


def _run_locked(
    ctx: RunContext,
    host: PluginHost,
    executor: Executor | None,
    specs: Mapping[str, ComponentSpec[Any]],
    timer: RunTimer,
    say: Callable[[str], None],
    *,
    progress: bool | None,
    resume: bool,
    overwrite: bool,
    compare_with: str | os.PathLike[str] | None = None,
    configured_forecaster: ComponentSpec[Any] | None = None,
    pool: bool = True,
) -> RunResult:
    """The run proper, inside the output directory's lock."""
    config, out = ctx.config, ctx.out_dir
    host.run_started(ctx)
    timer.mark("started")
    parts = PartStore(out)
    try:
        dataset = load_dataset(ctx.data_dir, period_days=config.run.period_days)
        name, reason = choose_executor(config.run.executor, dataset.stages.num_rows, config.run.in_process_below)
        if executor is None:
            executor = _build_executor(host, config, name)
            ctx.executor = executor.describe()
            ctx.components["executor"] = _executor_info(host, name)
        host.input_validated(ctx, dataset)
        timer.mark("loaded")
        # the executor starts (a local Ray instance: ~3 s) and its workers warm up
        # (imports, compiled kernels) while the driver fits and plans
        executor.start(partial(warm_up_components, (specs["forecaster"].cls, specs["solver"].cls)))
        timer.mark("executor_started")
        artefacts: list[ComponentArtefacts] = []
        shared, batches = plan_dataset(dataset, config, specs, artefacts, pool=pool)
        as_of = data_as_of(dataset)
        sensing = fit_sensing_state(dataset, shared, {})  # what a later `--since` run senses from
        # the Arrow tables are no longer needed once the flat arrays are planned: at a
        # million SKU-locations they are several GB the driver would otherwise keep
        sources = dict(dataset.sources)
        coupling = coupling_inputs(dataset)
        del dataset
        gc.collect()
        pa.default_memory_pool().release_unused()  # hand the freed Arrow memory back to the OS
        timer.mark("planned")
        n_total = int(shared.sku.size)
        say(_start_line(ctx.run_id, n_total, len(batches), executor, config))

        if overwrite:
            remove_run_outputs(out)
        digests = input_file_digests(sources)
        input_print = input_fingerprint(digests)
        done = parts.open(run_fingerprint(input_print, _core_sections(config), batches), batches, resume)
        if resume:
            say(f"echelon: resuming: {len(done)} of {len(batches)} batches already finished")
        todo = [b for b in batches if b.batch_id not in done]

        bar = _progress_bar(n_total, progress)
        bar.update(sum(b.stop - b.start for b in batches if b.batch_id in done))
        batch_seconds: dict[int, float] = {}

        def on_result(index: int, table: pa.Table) -> None:
            spec = todo[index]
            parts.write(spec, table)
            if spec.batch_id not in batch_seconds:
                bar.update(table.num_rows)
                batch_seconds[spec.batch_id] = float((table.schema.metadata or {}).get(COMPUTE_SECONDS_KEY, b"0"))
            host.batch_finished(ctx, spec.batch_id, table)

        try:
            executor.map_batches(run_batch, todo, shared, on_result)
        finally:
            bar.close()
        timer.mark("solved")
        executor.close()
        executor_timings = executor.timings

        artefacts += batch_artefacts(parts.metadata(batches), as_of, ctx.notes)
        merged, frontier_side = split_side_columns(parts.merge(batches, n_total))
        merged = with_previous_run(merged, shared, compare_with)
        merged = with_cost_columns(merged, shared.cost_columns)
        frontier = None if frontier_side is None else frontier_table(
            merged, frontier_side, unit_cost_by_input_row(shared), customer_facing(shared))
        # coupling constraints: one point per network on its frontier (docs/optimisation.md)
        merged, constraint_section = apply_constraints(merged, frontier_side, shared, coupling)
        rec_path = out / "recommendations.parquet"
        write_parquet_atomic(merged, rec_path)
        frontier_path = write_frontier(out, frontier)
        parts.remove()
        planner_sections = write_planner_outputs(merged, shared, out, compare_with) | constraint_section

        metrics = summarise(merged, customer_facing(shared))
        metrics.update(override_summary(merged, shared))
        metrics.update(cost_column_metrics(shared.cost_columns))
        metrics.update(
            {
                "batches": float(len(batches)),
                "start_seconds": timer.between(None, "started"),
                "load_validate_seconds": timer.between("started", "loaded"),
                "plan_seconds": timer.between("executor_started", "planned"),
                "solve_seconds": timer.between("planned", "solved"),
                "batch_compute_seconds_total": sum(batch_seconds.values()),
                "executor_start_seconds": timer.between("loaded", "executor_started"),
                "executor_shutdown_seconds": float(executor_timings.get("shutdown_seconds", 0.0)),
                "driver_result_handling_seconds": float(executor_timings.get("driver_callback_seconds", 0.0)),
                "batches_run": float(len(todo)),
                "batch_work_estimate_max": max((b.work for b in batches), default=0.0),
                "batch_work_estimate_min": min((b.work for b in batches), default=0.0),
                "wall_seconds": timer.since(),
            }
        )
        summary_path = out / "summary.json"
        executor_record = {"name": executor.name, "configured": config.run.executor, "reason": reason,
                           "label": executor.label(), "params": ctx.executor}
        write_summary(summary_path, ctx.run_id, metrics, ctx.components, batches, batch_seconds,
                      seed=config.run.seed, input_fingerprint=input_print, input_files=digests,
                      executor=executor_record, input_dir=os.path.abspath(ctx.data_dir),
                      sections=planner_sections)
        sensing.input_files = digests
        write_sensing_state(out, sensing)
        write_frontier_side(out, frontier_side)  # the copied rows' frontier data for a later `--since` run
        save_pooled_forecaster(out, configured_forecaster or specs["forecaster"], shared.settings.forecaster,
                               config, ctx.run_id, input_print)
        result = RunResult(
            recommendations_path=rec_path, metrics=metrics, notes=ctx.notes,
            extra_artifacts=[summary_path] + ([frontier_path] if frontier_path is not None else []),
            artefacts=artefacts,
        )
        host.run_finished(ctx, result)
        return result
    except BaseException as exc:
        # finished part files stay for ``resume``; nothing else was written
        try:
            if executor is not None:
                executor.close()
        finally:
            host.run_failed(ctx, exc)
        raise
