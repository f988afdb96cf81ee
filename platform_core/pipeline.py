"""One run end to end: validate, plan, run batches on an executor, write, report.

Output layout (``out_dir``):

* ``recommendations.parquet`` — one row per input SKU-location, in input order, with a
  ``status`` (``ok`` or ``error``) and, for ``ok`` rows, a complete policy;
* ``summary.json`` — aggregate metrics of the run, and per batch its stages, estimated
  work [simulated stage-periods] and compute time [s] (None for batches finished
  before a resume);
* ``_parts/`` — per-batch part files while the run is in flight, with a
  ``manifest.json`` fingerprint of the input and configuration (removed at the end).
  If the driver is killed, ``resume=True`` (``echelon run --resume``) re-runs only the
  batches without a complete part, after checking that the fingerprint still matches.

Nothing is written when the input fails validation.  Part files are written atomically
(temporary name, then rename), so a retried batch replaces its part and never
duplicates a SKU-location.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.batch import COMPUTE_SECONDS_KEY, run_batch, warm_up_components
from platform_core.config import RunConfig
from platform_core.data.loaders import load_dataset
from platform_core.plan import plan_run
from platform_core.plugin_host import PluginHost
from platform_core.run_context import RunContext, RunResult

__all__ = ["run", "summarise"]

PARTS_DIR = "_parts"


def _write_parquet_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _fingerprint(dataset_sources: dict[str, str], config: RunConfig, batches: list[Any]) -> str:
    """Hash of everything that decides a run's rows: input files, config, batch cuts."""
    h = hashlib.sha256()
    for name in sorted(dataset_sources):
        h.update(name.encode())
        with open(dataset_sources[name], "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    relevant = {k: v for k, v in config.sections.items() if k != "tracking"}
    relevant["run"] = {
        k: v for k, v in relevant["run"].items() if k not in ("executor", "address", "num_workers", "node_ip_address")
    }
    h.update(json.dumps(relevant, sort_keys=True, default=str).encode())
    h.update(json.dumps([(b.batch_id, b.start, b.stop) for b in batches]).encode())
    return h.hexdigest()


def _completed_parts(parts: Path, batches: list[Any]) -> set[int]:
    done = set()
    for b in batches:
        path = parts / f"part-{b.batch_id:06d}.parquet"
        if path.exists():
            try:
                if pq.ParquetFile(path).metadata.num_rows == b.stop - b.start:
                    done.add(b.batch_id)
            except Exception:  # noqa: BLE001 - unreadable part: run the batch again
                pass
    return done


def summarise(table: pa.Table) -> dict[str, float]:
    """Aggregate metrics of a recommendations table.

    Service figures are demand-weighted over ``ok`` stages with demand; money in
    currency, levels in units.
    """
    ok = pc.equal(table.column("status"), "ok")
    n_ok = int(pc.sum(ok.cast(pa.int64())).as_py() or 0)
    okt = table.filter(ok)
    demand = np.nan_to_num(okt.column("mean_demand_per_period").to_numpy(zero_copy_only=False).astype(float))
    fill = np.nan_to_num(okt.column("expected_fill_rate").to_numpy(zero_copy_only=False).astype(float))
    csl = np.nan_to_num(okt.column("expected_cycle_service").to_numpy(zero_copy_only=False).astype(float))

    def total(name: str) -> float:
        return float(np.nansum(okt.column(name).to_numpy(zero_copy_only=False).astype(float)))

    w = demand.sum()
    return {
        "sku_locations": float(table.num_rows),
        "sku_locations_ok": float(n_ok),
        "sku_locations_error": float(table.num_rows - n_ok),
        "fill_rate_demand_weighted": float((fill * demand).sum() / w) if w > 0 else float("nan"),
        "cycle_service_demand_weighted": float((csl * demand).sum() / w) if w > 0 else float("nan"),
        "inventory_investment_currency": total("inventory_investment"),
        "safety_stock_units": total("safety_stock"),
        "holding_cost_per_period_currency": total("holding_cost_per_period"),
        "stockout_cost_per_period_currency": total("stockout_cost_per_period"),
    }


def _component_info(host: PluginHost, config: RunConfig) -> dict[str, dict[str, str]]:
    out = {}
    for family, key in (
        ("forecaster", "forecaster"),
        ("lead_time", "lead_time_model"),
        ("cost", "cost_model"),
        ("solver", "solver"),
        ("executor", None),
    ):
        name = config["run"]["executor"] if key is None else config["components"][key]
        info = host.info(family, name)
        out[family] = {"name": name, "plugin": info.plugin, "version": info.version}
    return out


def run(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: RunConfig,
    *,
    host: PluginHost | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    resume: bool = False,
) -> RunResult:
    """Run the whole job; returns where the recommendations are and the summary.

    Args:
        data_dir: input dataset directory (see ``docs/data.md``).
        out_dir: output directory (created; existing results there are replaced).
        config: resolved configuration.
        host: plugin host (a fresh one with the installed plugins by default).
        progress: show a progress bar (None: only on a terminal).
        log: where to print progress messages (default stderr).
        resume: keep the finished part files of an interrupted run with the same input
            and configuration, and run only the missing batches.

    Raises:
        platform_core.data.errors.DataValidationError: the input is invalid; nothing
            is written.
    """
    say = log or (lambda msg: print(msg, file=sys.stderr))
    t0 = time.perf_counter()
    host = host or PluginHost()
    components = _component_info(host, config)  # fails early on unknown names
    executor = host.executor(
        config["run"]["executor"],
        address=config["run"]["address"],
        num_workers=config["run"]["num_workers"],
        node_ip_address=config["run"]["node_ip_address"],
    )
    ctx = RunContext(
        run_id=uuid.uuid4().hex,
        data_dir=Path(data_dir),
        out_dir=Path(out_dir),
        config=config,
        components=components,
        executor=executor.describe(),
    )
    host.run_started(ctx)
    t_started = time.perf_counter()
    out = Path(out_dir)
    parts = out / PARTS_DIR
    try:
        dataset = load_dataset(data_dir)
        host.input_validated(ctx, dataset)
        t_loaded = time.perf_counter()
        lead_time_model = host.create(
            "lead_time", config["components"]["lead_time_model"], **config["lead_time_model"]
        )
        cost_model = host.create("cost", config["components"]["cost_model"], **config["cost_model"])
        classes = {
            "forecaster": host.info("forecaster", config["components"]["forecaster"]).cls,
            "solver": host.info("solver", config["components"]["solver"]).cls,
        }
        # instantiate once here so that bad parameters fail before any batch runs
        classes["forecaster"](**config["forecaster"])
        classes["solver"](**config["solver"])
        # the executor starts (a local Ray instance: ~3 s) and its workers warm up
        # (imports, compiled kernels) while the driver plans
        t_exec = time.perf_counter()
        executor.start(partial(warm_up_components, (classes["forecaster"], classes["solver"])))
        executor_start_seconds = time.perf_counter() - t_exec
        shared, batches = plan_run(dataset, config, lead_time_model, cost_model, classes)
        # the Arrow tables are no longer needed once the flat arrays are planned: at a
        # million SKU-locations they are several GB the driver would otherwise keep
        sources = dict(dataset.sources)
        del dataset, lead_time_model, cost_model  # fitted models hold per-receipt state
        gc.collect()
        pa.default_memory_pool().release_unused()  # hand the freed Arrow memory back to the OS
        t_planned = time.perf_counter()
        n_total = int(shared.sku.size)
        say(f"echelon: {n_total} SKU-locations in {len(batches)} batches on {executor.describe()}")

        out.mkdir(parents=True, exist_ok=True)
        fingerprint = _fingerprint(sources, config, batches)
        manifest = parts / "manifest.json"
        done: set[int] = set()
        if resume and manifest.exists():
            previous = json.loads(manifest.read_text())
            if previous.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"cannot resume into {out}: the input files or the configuration changed "
                    "since the interrupted run (run without --resume to start afresh)"
                )
            done = _completed_parts(parts, batches)
            say(f"echelon: resuming: {len(done)} of {len(batches)} batches already finished")
        else:
            if parts.exists():
                shutil.rmtree(parts)
            parts.mkdir()
            manifest.write_text(json.dumps({"fingerprint": fingerprint, "batches": len(batches)}))
        todo = [b for b in batches if b.batch_id not in done]
        from tqdm import tqdm

        bar = tqdm(total=n_total, unit="sku-loc", disable=None if progress is None else not progress, file=sys.stderr)
        bar.update(sum(b.stop - b.start for b in batches if b.batch_id in done))
        received: set[int] = set()
        compute_seconds = [0.0]
        batch_seconds: dict[int, float] = {}

        def on_result(index: int, table: pa.Table) -> None:
            spec = todo[index]
            if table.num_rows != spec.stop - spec.start:
                raise RuntimeError(f"batch {index} returned {table.num_rows} rows for {spec.stop - spec.start} stages")
            _write_parquet_atomic(table, parts / f"part-{spec.batch_id:06d}.parquet")
            if index not in received:
                received.add(index)
                bar.update(table.num_rows)
                meta = table.schema.metadata or {}
                seconds = float(meta.get(COMPUTE_SECONDS_KEY, b"0"))
                compute_seconds[0] += seconds
                batch_seconds[spec.batch_id] = seconds
            host.batch_finished(ctx, spec.batch_id, table)

        try:
            executor.map_batches(run_batch, todo, shared, on_result)
        finally:
            bar.close()
        t_solved = time.perf_counter()
        executor.close()
        timings = getattr(executor, "timings", {})

        tables = [pq.read_table(parts / f"part-{b.batch_id:06d}.parquet") for b in batches]
        merged = pa.concat_tables(tables) if tables else None
        if merged is None:
            from platform_core.components import RECOMMENDATION_SCHEMA

            merged = RECOMMENDATION_SCHEMA.empty_table().append_column("input_row", pa.array([], pa.int64()))
        rows = merged.column("input_row").to_numpy()
        if rows.size != n_total or np.unique(rows).size != n_total:
            raise RuntimeError(f"internal error: {rows.size} rows for {n_total} SKU-locations")
        merged = merged.take(pa.array(np.argsort(rows))).drop_columns(["input_row"]).replace_schema_metadata(None)
        rec_path = out / "recommendations.parquet"
        _write_parquet_atomic(merged, rec_path)
        shutil.rmtree(parts)

        metrics = summarise(merged)
        metrics.update(
            {
                "batches": float(len(batches)),
                "start_seconds": t_started - t0,
                "load_validate_seconds": t_loaded - t_started,
                "plan_seconds": t_planned - t_loaded - executor_start_seconds,
                "solve_seconds": t_solved - t_planned,
                "batch_compute_seconds_total": compute_seconds[0],
                "executor_start_seconds": executor_start_seconds,
                "executor_shutdown_seconds": float(timings.get("shutdown_seconds", 0.0)),
                "driver_result_handling_seconds": float(timings.get("driver_callback_seconds", 0.0)),
                "batches_run": float(len(todo)),
                "batch_work_estimate_max": max((b.work for b in batches), default=0.0),
                "batch_work_estimate_min": min((b.work for b in batches), default=0.0),
                "wall_seconds": time.perf_counter() - t0,
            }
        )
        summary_path = out / "summary.json"
        tmp = summary_path.with_name(".summary.json.tmp")
        per_batch = [
            {"batch_id": b.batch_id, "stages": b.stop - b.start, "work_estimate": b.work,
             "compute_seconds": batch_seconds.get(b.batch_id)}
            for b in batches
        ]
        tmp.write_text(json.dumps(
            {"run_id": ctx.run_id, "metrics": metrics, "components": components, "batches": per_batch}, indent=2))
        os.replace(tmp, summary_path)
        result = RunResult(
            recommendations_path=rec_path, metrics=metrics, extra_artifacts=[summary_path], notes=ctx.notes
        )
        host.run_finished(ctx, result)
        return result
    except BaseException as exc:
        # finished part files stay for ``resume``; nothing else was written
        try:
            executor.close()
        finally:
            host.run_failed(ctx, exc)
        raise
