"""`echelon run --since` at scale: a new period in which 1 % of the networks shifted.

    python benchmarks/incremental.py [--quick] [--sku-locations N] [--cache DIR]

1. Generate N SKU-locations (104 weekly periods, seed 7) and split them into the previous
   cycle (without the last period and its receipts) and this cycle (everything, with the
   last period's demand of the smooth stages of 1 % of the networks raised to their
   history's mean + 10 sd: a shift a single period shows; its receipts: the previous
   cycle's and a new week of them, see ``_write_new_receipts``).
2. The previous cycle's full run (`echelon run`, default components, Ray) is expensive;
   it is built once and cached in ``--cache`` (default /tmp/echelon-incremental-cache/N),
   keyed by N: delete the directory to rebuild (delete only ``prev_out`` to redo just the
   previous run on the cycles already generated).
   A cached run from before pooled forecaster parameters were written
   (``prev_out/sensing/pooled_forecaster.json``) is upgraded once: `echelon run PREV --out
   TMP --since PREVIOUS_OUT --refit-pooled` fits them on the previous cycle's data exactly
   as its full run did (nothing is re-planned: no new period) and the file is copied over.
   A cached run whose ``exceptions.parquet`` is missing (a stand-in) or was ranked by other
   exception rules (no or another ``echelon.exception_rules`` digest) gets the file a full
   run with today's code writes (``_upgrade_exceptions``), so that the timed run can reuse
   its copied rows' exception rows as it would after a real full run.
   ``--prepare-only`` stops here (the untimed part).
3. Time `echelon run NEW --out OUT --since PREVIOUS_OUT` (a fresh process, wall clock; it
   reuses the previous run's pooled parameters, ``--refit-pooled`` times refitting them),
   and check its output: every shifted network re-planned, every row not re-planned
   identical to the previous run's.

Run it under the machine's benchmark lock: ``flock /tmp/echelon-bench.lock python ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import run_command, write_result  # noqa: E402

SHIFTED_SHARE = 0.01


def _network_of(data: Path) -> tuple[list[tuple[str, str]], np.ndarray]:
    from platform_core.data.loaders import load_dataset
    from platform_core.networks import index_networks

    ds = load_dataset(data)
    st = index_networks(ds)
    net = np.empty(st.n_stages, dtype=np.int64)
    net[st.order] = st.network_id
    keys = list(zip(ds.stages.column("sku").to_pylist(), ds.stages.column("location").to_pylist(), strict=True))
    return keys, net


def _split(gen: Path, prev: Path, new: Path, seed: int) -> int:
    """Write the two cycles; returns the number of shifted networks."""
    prev.mkdir(parents=True)
    new.mkdir(parents=True)
    for f in gen.glob("*.parquet"):
        if f.name not in ("demand.parquet", "receipts.parquet"):
            shutil.copy(f, prev / f.name)
            shutil.copy(f, new / f.name)
    demand = pq.read_table(gen / "demand.parquet")
    day = demand.column("period").cast(pa.int32()).to_numpy()
    last = int(day.max())
    pq.write_table(demand.filter(pa.array(day < last)), prev / "demand.parquet")
    receipts = pq.read_table(gen / "receipts.parquet")
    rday = receipts.column("receipt_date").cast(pa.int32()).to_numpy()
    pq.write_table(receipts.filter(pa.array(rday <= last)), prev / "receipts.parquet")
    _write_new_receipts(gen, prev, new)

    keys, net = _network_of(gen)
    rng = np.random.default_rng(seed)
    nets = np.unique(net)
    chosen = set(rng.choice(nets, size=max(1, int(round(SHIFTED_SHARE * nets.size))), replace=False).tolist())
    stats = demand.filter(pa.array(day < last)).drop_null().group_by(["sku", "location"]).aggregate(
        [("quantity", "mean"), ("quantity", "stddev"), ("quantity", "count")])
    pos = {k: i for i, k in enumerate(keys)}
    level: dict[tuple[str, str], float] = {}
    for r in stats.to_pylist():
        k = (r["sku"], r["location"])
        sd = r["quantity_stddev"] or 0.0
        if int(net[pos[k]]) in chosen and r["quantity_count"] >= 20 and sd < r["quantity_mean"]:
            level[k] = r["quantity_mean"] + 10.0 * max(sd, 1.0) + 10.0
    last_rows = np.flatnonzero(day == last)
    sub = demand.take(pa.array(last_rows))
    sub_keys = list(zip(sub.column("sku").to_pylist(), sub.column("location").to_pylist(), strict=True))
    values = sub.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64)
    hit = np.array([k in level for k in sub_keys])
    values[hit] = [level[k] for k, h in zip(sub_keys, hit, strict=True) if h]
    q = demand.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64)
    q[last_rows] = values
    quantity = pa.array(q, mask=np.isnan(q))
    pq.write_table(demand.set_column(demand.column_names.index("quantity"), "quantity", quantity), new / "demand.parquet")
    shifted = {int(net[pos[k]]) for k in level}
    (new / "shifted_networks.json").write_text(json.dumps(sorted(shifted)))
    return len(shifted)


NEW_WEEK_MARK = "receipts_new_week.json"


def _write_new_receipts(gen: Path, prev: Path, new: Path) -> None:
    """This cycle's receipts: the previous cycle's, and a week of receipts after its last one.

    The generator places orders until 60 days before its last period, so the receipts
    dated after the previous cycle's are only the late tail of earlier orders (the longest
    lead times: a lead-time detector rightly finds them late).  The new week is instead
    the generator's last week of receipts whose orders it all placed (receipt dates up to
    its last order date), moved to just after the previous cycle's last receipt (order
    and receipt date alike; order ids prefixed ``W-``): lanes, lead times and their mix
    as generated.  Those lead times are in the lanes' baselines too (a lane has ~15
    receipts in all), so the benchmark's lead-time alarms understate the false-alarm
    rate; that rate is tested in ``tests/core/test_since_large_supplier.py``.
    """
    receipts = pq.read_table(gen / "receipts.parquet")
    old = pq.read_table(prev / "receipts.parquet")
    cutoff = int(pc.max(old.column("receipt_date").cast(pa.int32())).as_py())
    rday = receipts.column("receipt_date").cast(pa.int32())
    last_order = int(pc.max(receipts.column("order_date").cast(pa.int32())).as_py())
    week = receipts.filter(pc.and_(pc.greater(rday, last_order - 7), pc.less_equal(rday, last_order)))
    shift = cutoff - (last_order - 7)
    for name in ("order_date", "receipt_date"):
        moved = pc.add(week.column(name).cast(pa.int32()), pa.scalar(shift, pa.int32())).cast(pa.date32())
        week = week.set_column(week.column_names.index(name), name, moved)
    week = week.set_column(week.column_names.index("order_id"), "order_id",
                           pc.binary_join_element_wise("W", week.column("order_id"), "-"))
    tmp = new / ".receipts.tmp.parquet"
    pq.write_table(pa.concat_tables([old, week.cast(old.schema)]), tmp)
    tmp.replace(new / "receipts.parquet")  # a new file: a hard-linked copy of the cache is left alone
    (new / NEW_WEEK_MARK).write_text(json.dumps({"moved_days": shift, "receipts": week.num_rows,
                                                 "from_receipt_dates": [last_order - 6, last_order]}))


def _stand_in_previous(prev: Path, prev_out: Path, config_path: str | None, template: Path) -> None:
    """The previous run's output with everything a `--since` run reads from it, without its batches.

    ``sensing/`` and ``sensing/pooled_forecaster.json`` are the real ones: the previous
    cycle's data loaded, planned and pooled exactly as `echelon run` does
    (``pipeline.plan_dataset``, ``fit_sensing_state``).  ``recommendations.parquet`` is a
    stand-in: a real run's file with this configuration (``template``) tiled to the
    previous cycle's SKU-locations, keys set to theirs in input order — the schema and value
    mix of the real file, so that copying and writing it cost what they would.  An
    incremental run copies those rows without reading their values, so its work and time
    are those after a real full run; the previous run's own numbers are not real.
    """
    from platform_core.config import load_config
    from platform_core.data.loaders import load_dataset
    from platform_core.incremental.state import fit_sensing_state, write_sensing_state
    from platform_core.parts import input_file_digests, input_fingerprint
    from platform_core.pipeline import _component_info, plan_dataset, prepared_context
    from platform_core.plugin_host import PluginHost
    from platform_core.pooled import save_pooled_forecaster

    shutil.rmtree(prev_out, ignore_errors=True)
    prev_out.mkdir(parents=True)
    config = load_config(config_path)
    host = PluginHost()
    ctx, specs = prepared_context(host, config, prev, prev_out, _component_info(host, config))
    dataset = load_dataset(prev, period_days=config.run.period_days)
    shared, _ = plan_dataset(dataset, config, specs)
    sensing = fit_sensing_state(dataset, shared, {})
    digests = input_file_digests(dataset.sources)
    sensing.input_files = digests
    write_sensing_state(prev_out, sensing)
    save_pooled_forecaster(prev_out, specs["forecaster"], shared.settings.forecaster, config, ctx.run_id,
                           input_fingerprint(digests))
    tpl = pq.read_table(template / "recommendations.parquet")
    n = dataset.stages.num_rows
    rec = pa.concat_tables([tpl] * -(-n // tpl.num_rows)).slice(0, n)
    for key in ("sku", "location"):
        i = rec.column_names.index(key)
        rec = rec.set_column(i, rec.schema.field(i), dataset.stages.column(key).cast(rec.schema.field(i).type))
    pq.write_table(rec, prev_out / "recommendations.parquet")
    (prev_out / "summary.json").write_text(json.dumps({
        "run_id": ctx.run_id, "input_files": digests, "input_fingerprint": input_fingerprint(digests),
        "stand_in": f"sensing state and pooled parameters planned as a full run; recommendations tiled from {template}",
    }))


def _upgrade_pooled(prev: Path, prev_out: Path, config: list[str], workers: int) -> None:
    """Give a cached previous run the pooled parameters its full run fitted (see the module docstring)."""
    tmp = prev_out.parent / "pooled_upgrade"
    shutil.rmtree(tmp, ignore_errors=True)
    run_command([sys.executable, "-m", "platform_core.cli", "run", str(prev), "--out", str(tmp),
                 "--since", str(prev_out), "--refit-pooled", "--num-workers", str(workers),
                 "--tracking-uri", "none", *config])
    made = tmp / "sensing" / "pooled_forecaster.json"
    if made.is_file():  # none: the forecaster does not pool
        shutil.copy(made, prev_out / "sensing" / made.name)
    shutil.rmtree(tmp, ignore_errors=True)


def _upgrade_exceptions(prev: Path, prev_out: Path) -> None:
    """Write ``prev_out/exceptions.parquet`` as a full run on ``prev`` with today's rules would (see the docstring)."""
    from platform_core.data.loaders import load_dataset
    from platform_core.exception_lists import RULES_KEY, rules_digest
    from platform_core.incremental.outputs import exceptions_for_rows
    from platform_core.incremental.state import read_sensing_state
    from platform_core.networks import index_networks
    from platform_core.parts import write_parquet_atomic

    path = prev_out / "exceptions.parquet"
    if path.is_file() and (pq.read_schema(path).metadata or {}).get(RULES_KEY) == rules_digest().encode():
        return
    grid = read_sensing_state(prev_out).grid
    dataset = load_dataset(prev, period_days=grid.period_days)
    rec = pq.read_table(prev_out / "recommendations.parquet")
    write_parquet_atomic(exceptions_for_rows(rec, dataset, index_networks(dataset), grid, grid.last_period), path)


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="5,000 SKU-locations")
    ap.add_argument("--sku-locations", type=int, default=None)
    ap.add_argument("--cache", default=None, help="where the cycles and the previous run are kept")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--config", default=None, help="TOML configuration of both runs (default: the built-in defaults)")
    ap.add_argument("--prepare-only", action="store_true",
                    help="build the cycles and the previous run in the cache, time nothing")
    ap.add_argument("--stand-in-previous", metavar="RUN_OUT", default=None,
                    help="when the previous full run is not in the cache: build its sensing state and pooled "
                         "parameters as a full run would, and stand-in recommendations tiled from RUN_OUT (a real "
                         "run's output with the same configuration) instead of running its batches")
    ap.add_argument("--refit-pooled", action="store_true",
                    help="time the incremental run fitting the pooled forecaster parameters afresh (default: reused)")
    args = ap.parse_args()
    n = args.sku_locations or (5_000 if args.quick else 1_000_000)
    cache = Path(args.cache or f"/tmp/echelon-incremental-cache/{n}")
    config = ["--config", str(Path(args.config).resolve())] if args.config else []
    gen, prev, new, prev_out = cache / "gen", cache / "prev", cache / "new", cache / "prev_out"
    if args.stand_in_previous and (prev / "demand.parquet").is_file() and not (prev_out / "summary.json").is_file():
        _stand_in_previous(prev, prev_out, args.config, Path(args.stand_in_previous))
        (cache / "previous_run_wall_seconds.txt").write_text("stand-in\n")
    if not (prev_out / "sensing" / "sensing.json").is_file():
        if not (new / "shifted_networks.json").is_file():  # the cycles are kept: only the previous run is redone
            shutil.rmtree(cache, ignore_errors=True)
            run_command([sys.executable, "-m", "platform_core.cli", "generate", str(gen), "--sku-locations", str(n),
                         "--seed", "7"])
            _split(gen, prev, new, seed=7)
        shutil.rmtree(prev_out, ignore_errors=True)
        wall, _, out = run_command([sys.executable, "-m", "platform_core.cli", "run", str(prev), "--out", str(prev_out),
                                    "--num-workers", str(args.workers), "--tracking-uri", "none", *config])
        if not (prev_out / "recommendations.parquet").is_file():
            raise SystemExit(f"the previous run failed:\n{out[-3000:]}")
        (cache / "previous_run_wall_seconds.txt").write_text(f"{wall:.2f}\n")
    if not (new / NEW_WEEK_MARK).is_file():  # a cache from before the new week of receipts
        _write_new_receipts(gen, prev, new)
    pooled = prev_out / "sensing" / "pooled_forecaster.json"
    if not pooled.is_file():
        _upgrade_pooled(prev, prev_out, config, args.workers)
    _upgrade_exceptions(prev, prev_out)
    if args.prepare_only:
        return
    out_dir = cache / "incremental"
    shutil.rmtree(out_dir, ignore_errors=True)
    refit = ["--refit-pooled"] if args.refit_pooled else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, mem, out = run_command([sys.executable, "-m", "platform_core.cli", "run", str(new), "--out", str(out_dir),
                                  "--since", str(prev_out), "--num-workers", str(args.workers), "--tracking-uri", "none",
                                  *refit, *config])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not (out_dir / "recommendations.parquet").is_file():
        raise SystemExit(f"the incremental run failed:\n{out[-3000:]}")
    summary = json.loads((out_dir / "summary.json").read_text())
    inc = pq.read_table(out_dir / "recommendations.parquet")
    old = pq.read_table(prev_out / "recommendations.parquet")
    replanned = ~pc.is_null(inc.column("changed_because")).to_numpy(zero_copy_only=False)
    copied_identical = inc.filter(pa.array(~replanned)).drop_columns(["changed_because"]).equals(
        old.filter(pa.array(~replanned)))
    keys, net = _network_of(new)
    shifted = set(json.loads((new / "shifted_networks.json").read_text()))
    replanned_nets = set(np.unique(net[replanned]).tolist())
    m = summary["metrics"]
    row = {
        "sku_locations": n,
        "networks": int(np.unique(net).size),
        "networks_shifted": len(shifted),
        "networks_shifted_replanned": len(shifted & replanned_nets),
        "networks_replanned_without_generated_shift": len(replanned_nets - shifted),
        "sku_locations_replanned": int(replanned.sum()),
        "copied_rows_identical_to_previous": bool(copied_identical),
        "every_input_row_once": inc.num_rows == len(keys),
        "incremental_wall_seconds": round(wall, 2),
        "incremental_inner_wall_seconds": round(m["wall_seconds"], 2),
        # CPU of the run's process tree (those of its processes that were waited for: the driver,
        # Ray's processes when they exit cleanly); on a shared machine wall >> CPU / 2 cores
        "incremental_cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "load_average_1min_after": round(os.getloadavg()[0], 1),
        "load_validate_seconds": round(m["load_validate_seconds"], 2),
        "sense_seconds": round(m["sense_seconds"], 2),
        "replan_seconds": round(m["solve_seconds"], 2),
        "replan_pool_forecaster_seconds": round(m["pool_forecaster_seconds"], 2),
        "pooled_forecaster_parameters": "refitted (--refit-pooled)" if args.refit_pooled else "reused from PREVIOUS_OUT",
        "replan_executor_start_seconds": round(m.get("executor_start_seconds", 0.0), 2),
        "replan_plan_subset_seconds": round(m["plan_subset_seconds"], 2),
        "replan_batches_seconds": round(m["batches_seconds"], 2),
        "write_recommendations_seconds": round(m["write_recommendations_seconds"], 2),
        "exception_rows_reused": summary["incremental"].get("exception_rows_reused"),
        "peak_rss_process_tree_bytes": mem.peak_tree_bytes,
        "alarms_by_reason": summary["incremental"]["alarms_by_reason"],
        "previous_full_run_wall_seconds": _float_or_none((cache / "previous_run_wall_seconds.txt").read_text()),
        "previous_run": "stand-in (see --stand-in-previous)" if (cache / "previous_run_wall_seconds.txt").read_text()
        .strip() == "stand-in" else "full run",
        "previous_run_cache": str(cache),
        "config": Path(args.config).read_text() if args.config else "defaults",
        "command": "echelon run NEW --out OUT --since PREVIOUS_OUT --num-workers 2 --tracking-uri none"
                   + (" --refit-pooled" if args.refit_pooled else "") + (" --config CONFIG" if args.config else ""),
    }
    for k, v in row.items():
        print(f"{k:44s} {v}")
    name = ("incremental_quick" if args.quick else f"incremental_{n}") + ("_refit" if args.refit_pooled else "")
    write_result(name + ("_" + Path(args.config).stem if args.config else ""), row)


if __name__ == "__main__":
    main()
