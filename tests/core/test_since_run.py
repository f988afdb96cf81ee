"""``echelon run DATA --out NEW --since PREVIOUS_OUT`` on a generated dataset with shifted networks.

The previous cycle's data is the generated dataset without its last period (and without
the receipts of that period); this cycle's data adds the last period back, with the demand
of two SKUs' smooth stages raised far beyond noise and one supplier's new receipts three times
as late as usual.  Checked against independent facts of the data: which networks hold the
shifted stages (union-find over the edges file, not the run's own structure), the previous
run's file (rows copied bit for bit) and a full run on this cycle's data (re-planned rows
equal to it, given the same pooled forecaster parameters: the previous run's, which the
incremental run reuses, or both fitted afresh).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.incremental import CHANGED_BECAUSE, run_since
from platform_core.incremental.run import alarms_by_reason
from platform_core.networks import network_labels
from platform_core.pipeline import run

SCENARIO_TABLES = ("stages", "edges", "costs", "current_policy")
FORECASTER = {"horizon_periods": 8, "min_history_periods": 12}


def _config():
    return load_config(overrides={
        "run": {"executor": "in_process"}, "tracking": {"uri": "none"},
        "components": {"forecaster": "calibrated", "solver": "single_echelon"},
        # short backtests, so that 40 periods calibrate the pooled parameters (not the defaults)
        "forecaster": FORECASTER, "solver": {"replications": 10, "periods": 100},
    })


@pytest.fixture(scope="module")
def cycles(tmp_path_factory):
    """(previous data, this cycle's data, late supplier) of a generated dataset."""
    root = tmp_path_factory.mktemp("since")
    generate_dataset(root / "gen", sku_locations=90, seed=5, periods=40)
    prev, new = root / "prev", root / "new"
    prev.mkdir()
    new.mkdir()
    for name in SCENARIO_TABLES:
        shutil.copy(root / "gen" / f"{name}.parquet", prev / f"{name}.parquet")
        shutil.copy(root / "gen" / f"{name}.parquet", new / f"{name}.parquet")
    demand = pq.read_table(root / "gen" / "demand.parquet")
    day = demand.column("period").cast(pa.int32()).to_numpy()
    last = int(day.max())
    pq.write_table(demand.filter(pa.array(day < last)), prev / "demand.parquet")
    # the shifted SKUs' smooth stages: last period raised to mean + 10 sd of their history
    history = demand.filter(pa.array(day < last)).drop_null()
    stats = history.group_by(["sku", "location"]).aggregate(
        [("quantity", "mean"), ("quantity", "stddev"), ("quantity", "count")]).to_pylist()
    smooth = [r for r in stats if r["quantity_count"] >= 20  # a lumpy series may jump without a shift
              and (r["quantity_stddev"] or 0.0) < r["quantity_mean"]]
    shifted_skus = sorted({r["sku"] for r in smooth})[:2]
    level = {(r["sku"], r["location"]): r["quantity_mean"] + 10.0 * max(r["quantity_stddev"] or 0.0, 1.0) + 10.0
             for r in smooth if r["sku"] in shifted_skus}
    keys = list(zip(demand.column("sku").to_pylist(), demand.column("location").to_pylist(), strict=True))
    up = np.array([k in level for k in keys]) & (day == last)
    raised = pc.if_else(pa.array(up), pa.array([level.get(k, 0.0) for k in keys]), demand.column("quantity"))
    pq.write_table(demand.set_column(demand.column_names.index("quantity"), "quantity", raised), new / "demand.parquet")
    raised_keys = {k for k, u in zip(keys, up.tolist(), strict=True) if u}
    assert raised_keys

    receipts = pq.read_table(root / "gen" / "receipts.parquet")
    rday = receipts.column("receipt_date").cast(pa.int32()).to_numpy()
    old = receipts.filter(pa.array(rday <= last))
    pq.write_table(old, prev / "receipts.parquet")
    # the supplier with the most receipts: 12 new receipts on its busiest lane, each 3x as late
    counts = old.group_by("supplier").aggregate([("order_id", "count")]).sort_by([("order_id_count", "descending")])
    late = counts.column("supplier")[0].as_py()
    lane = old.filter(pc.equal(old.column("supplier"), late)).slice(0, 1)
    lead = int(pc.days_between(lane.column("order_date"), lane.column("receipt_date"))[0].as_py())
    orders = last + np.arange(12)
    extra = pa.table({
        "order_id": [f"LATE{i}" for i in range(12)], "sku": [lane.column("sku")[0].as_py()] * 12,
        "location": [lane.column("location")[0].as_py()] * 12, "supplier": [late] * 12,
        "order_date": pa.array(orders.astype(np.int32)).cast(pa.date32()),
        "receipt_date": pa.array((orders + 3 * max(lead, 3)).astype(np.int32)).cast(pa.date32()),
        "quantity": [10.0] * 12,
    })
    keep = [c for c in extra.column_names]
    pq.write_table(pa.concat_tables([old.select(keep), extra.cast(old.select(keep).schema)]), new / "receipts.parquet")
    return prev, new, (lane.column("sku")[0].as_py(), lane.column("location")[0].as_py()), raised_keys


@pytest.fixture(scope="module")
def runs(cycles, tmp_path_factory):
    prev, new, _, _ = cycles
    out = tmp_path_factory.mktemp("since_out")
    config = _config()
    run(prev, out / "previous", config, progress=False, log=lambda m: None)
    run_since(new, out / "incremental", config, out / "previous", log=lambda m: None)  # reuses the pooled parameters
    run(new, out / "full_pooled", config, progress=False, log=lambda m: None, pooled_from=out / "previous")
    run_since(new, out / "refit", config, out / "previous", log=lambda m: None, refit_pooled=True)
    run(new, out / "full", config, progress=False, log=lambda m: None)
    return out


def _networks(data: Path) -> tuple[list[tuple[str, str]], np.ndarray]:
    stages = pq.read_table(data / "stages.parquet")
    keys = list(zip(stages.column("sku").to_pylist(), stages.column("location").to_pylist(), strict=True))
    pos = {k: i for i, k in enumerate(keys)}
    edges = pq.read_table(data / "edges.parquet")
    upstream: list[list[int]] = [[] for _ in keys]
    for us, ul, ds, dl in zip(*(edges.column(c).to_pylist() for c in (
            "upstream_sku", "upstream_location", "downstream_sku", "downstream_location")), strict=True):
        upstream[pos[(ds, dl)]].append(pos[(us, ul)])
    return keys, network_labels(upstream)


def test_every_stage_once_and_only_shifted_networks_replanned(cycles, runs):
    prev, new, late_stage, raised = cycles
    keys, label = _networks(new)
    table = pq.read_table(runs / "incremental" / "recommendations.parquet")
    assert list(zip(table.column("sku").to_pylist(), table.column("location").to_pylist(), strict=True)) == keys
    replanned = ~pc.is_null(table.column(CHANGED_BECAUSE)).to_numpy(zero_copy_only=False)
    shifted = np.array([k in raised or k == late_stage for k in keys])
    must = np.isin(label, np.unique(label[shifted]))
    assert replanned[must].all()  # every network holding a shifted stage, whole
    assert replanned.sum() < len(keys)  # not everything
    because = table.column(CHANGED_BECAUSE).to_pylist()
    assert because[keys.index(late_stage)].startswith(("lead_time_lane", "lead_time_supplier", "demand_"))
    assert any(b and b.startswith("demand_level_up") for b in because)
    section = json.loads((runs / "incremental" / "summary.json").read_text())["incremental"]
    assert section["sku_locations_replanned"] == int(replanned.sum())
    assert section["sku_locations_copied"] == len(keys) - int(replanned.sum())
    assert section["networks_replanned"] == int(np.unique(label[replanned]).size)
    assert section["new_periods"] == 1
    # every alarm counted under its reason name (no "demand_level_up;" next to "demand_level_up")
    own = [b for b in because if b and not b.startswith("network:")]
    alarms = [a.split(" ")[0] for b in own for a in b.split("; ")]
    assert section["alarms_by_reason"] == {r: alarms.count(r) for r in sorted(set(alarms))}
    assert not any(";" in r or " " in r for r in section["alarms_by_reason"])


def test_alarms_by_reason_counts_every_reason_of_a_row():
    own = np.array(["demand_level_up; lead_time_supplier SUP 1", "demand_level_up", "",
                    "lead_time_lane S2; lead_time_supplier S2", "demand_variability"], dtype=object)
    assert alarms_by_reason(own) == {"demand_level_up": 2, "demand_variability": 1, "lead_time_lane": 1,
                                     "lead_time_supplier": 2}


def test_copied_rows_are_the_previous_runs(runs):
    inc = pq.read_table(runs / "incremental" / "recommendations.parquet")
    old = pq.read_table(runs / "previous" / "recommendations.parquet")
    copied = pc.is_null(inc.column(CHANGED_BECAUSE))
    assert inc.filter(copied).drop_columns([CHANGED_BECAUSE]).equals(old.filter(copied))


@pytest.mark.parametrize(("incremental", "full"), [("incremental", "full_pooled"), ("refit", "full")])
def test_replanned_rows_equal_a_full_run_on_the_same_data(runs, incremental, full):
    """Same data: the same demand and receipts, and the same pooled forecaster parameters."""
    inc = pq.read_table(runs / incremental / "recommendations.parquet")
    full = pq.read_table(runs / full / "recommendations.parquet")
    again = ~pc.is_null(inc.column(CHANGED_BECAUSE)).to_numpy(zero_copy_only=False)
    mask = pa.array(again)
    a = inc.filter(mask).drop_columns([CHANGED_BECAUSE])
    b = full.filter(mask).select(a.column_names)
    assert a.equals(b)
    # and the shift moved them: the full run's levels differ from the previous run's there
    old = pq.read_table(runs / "previous" / "recommendations.parquet").filter(mask)
    assert not np.array_equal(old.column("base_stock_level").to_numpy(), b.column("base_stock_level").to_numpy())


def _pooled(out: Path) -> dict:
    return json.loads((out / "sensing" / "pooled_forecaster.json").read_text())


def test_pooled_parameters_are_reused_unless_refitted(runs):
    previous, full = _pooled(runs / "previous"), _pooled(runs / "full")
    assert previous["forecaster"] == "calibrated" and previous["params"]["class_params"]
    stretch = [p["stretch"] for p in previous["params"]["class_params"].values()]
    assert any(s != 1.0 for s in stretch)  # calibrated on the data, not the defaults
    assert previous["params"] != full["params"]  # the new period moved them
    # reused: the previous run's, carried on for the next cycle; refitted: a full run's on this data
    assert _pooled(runs / "incremental")["params"] == previous["params"]
    assert _pooled(runs / "full_pooled")["params"] == previous["params"]
    assert _pooled(runs / "refit")["params"] == full["params"]
    # and they matter: the re-planned rows of the two incremental runs differ
    a = pq.read_table(runs / "incremental" / "recommendations.parquet")
    b = pq.read_table(runs / "refit" / "recommendations.parquet")
    again = pa.array(~pc.is_null(a.column(CHANGED_BECAUSE)).to_numpy(zero_copy_only=False))
    assert not a.filter(again).equals(b.filter(again))


def test_pooled_parameters_of_another_configuration_are_refused_naming_the_file(runs, cycles, tmp_path):
    _, new, _, _ = cycles
    config = load_config(overrides={
        "run": {"executor": "in_process"}, "tracking": {"uri": "none"},
        "components": {"forecaster": "calibrated", "solver": "single_echelon"},
        "forecaster": {**FORECASTER, "horizon_periods": 13}, "solver": {"replications": 10, "periods": 100},
    })
    with pytest.raises(ValueError, match=r"pooled_forecaster\.json: fitted with other \[forecaster\] parameters.*"
                                         r"horizon_periods.*--refit-pooled"):
        run_since(new, tmp_path / "out", config, runs / "previous", log=lambda m: None)
    assert not (tmp_path / "out" / "recommendations.parquet").exists()
    # fitted afresh on request, they are fine
    run_since(new, tmp_path / "refit", config, runs / "previous", log=lambda m: None, refit_pooled=True)
    assert _pooled(tmp_path / "refit")["configured"]["horizon_periods"] == 13


def test_state_is_carried_to_the_next_cycle(runs, cycles):
    _, new, _, _ = cycles
    # the same data again: nothing new, nothing re-planned, every row as the incremental run's
    again = run_since(new, runs / "again", _config(), runs / "incremental", log=lambda m: None)
    assert again.metrics["sku_locations_replanned"] == 0
    a = pq.read_table(runs / "again" / "recommendations.parquet").drop_columns([CHANGED_BECAUSE])
    b = pq.read_table(runs / "incremental" / "recommendations.parquet").drop_columns([CHANGED_BECAUSE])
    assert a.equals(b)


def test_a_changed_structure_table_is_refused_naming_it(runs, cycles, tmp_path):
    _, new, _, _ = cycles
    data = tmp_path / "data"
    shutil.copytree(new, data)
    stages = pq.read_table(data / "stages.parquet")
    cost = pc.multiply(stages.column("unit_cost"), 2.0)  # a new price list: valid, but not sensed
    pq.write_table(stages.set_column(stages.column_names.index("unit_cost"), "unit_cost", cost), data / "stages.parquet")
    with pytest.raises(ValueError, match="stages table changed"):
        run_since(data, tmp_path / "out", _config(), runs / "previous", log=lambda m: None)
    assert not (tmp_path / "out" / "recommendations.parquet").exists()


def test_since_without_sensing_state_is_a_clear_error(tmp_path, cycles):
    _, new, _, _ = cycles
    (tmp_path / "old").mkdir()
    with pytest.raises(FileNotFoundError, match="sensing"):
        run_since(new, tmp_path / "out", _config(), tmp_path / "old", log=lambda m: None)


def test_the_command_line_names_a_missing_previous_run(cycles, tmp_path, capsys):
    from platform_core.cli import main

    _, new, _, _ = cycles
    code = main(["run", str(new), "--out", str(tmp_path / "out"), "--since", str(tmp_path / "nowhere"),
                 "--executor", "in_process", "--tracking-uri", "none"])
    assert code == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "sensing" in err and "Traceback" not in err


def test_a_moved_history_is_refused(runs, cycles, tmp_path):
    _, new, _, _ = cycles
    data = tmp_path / "data"
    shutil.copytree(new, data)
    demand = pq.read_table(data / "demand.parquet")
    first = demand.sort_by([("period", "ascending")]).slice(0, 1)
    earlier = first.set_column(first.column_names.index("period"), "period",
                               pa.array([first.column("period")[0].as_py().toordinal() - 719163 - 7],
                                        pa.int32()).cast(pa.date32()))
    pq.write_table(pa.concat_tables([earlier, demand]), data / "demand.parquet")
    with pytest.raises(ValueError, match="history itself changed"):
        run_since(data, tmp_path / "out", _config(), runs / "previous", log=lambda m: None)


def test_the_command_line_refuses_an_edited_pooled_file_naming_it(runs, cycles, tmp_path, capsys):
    from platform_core.cli import main

    _, new, _, _ = cycles
    previous = tmp_path / "previous"
    shutil.copytree(runs / "previous", previous)
    path = previous / "sensing" / "pooled_forecaster.json"
    record = json.loads(path.read_text())
    first = next(iter(record["params"]["class_params"].values()))
    first["stretch"] = first["stretch"] * 2.0
    path.write_text(json.dumps(record))
    config = tmp_path / "echelon.toml"
    config.write_text('[components]\nforecaster = "calibrated"\nsolver = "single_echelon"\n'
                      '[forecaster]\nhorizon_periods = 8\nmin_history_periods = 12\n'
                      '[solver]\nreplications = 10\nperiods = 100\n')
    common = ["--executor", "in_process", "--tracking-uri", "none", "--config", str(config)]
    for how in (["--since", str(previous)], ["--pooled-from", str(previous)]):
        code = main(["run", str(new), "--out", str(tmp_path / "out"), *how, *common])
        err = capsys.readouterr().err
        assert code == 2 and str(path) in err and "sha256 does not match" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "recommendations.parquet").exists()
    assert main(["run", str(new), "--out", str(tmp_path / "out"), "--refit-pooled", *common]) == 2
    assert "--refit-pooled goes with --since" in capsys.readouterr().err


def test_exceptions_reusing_the_previous_runs_rows_equal_those_computed_from_scratch(runs, cycles):
    """The incremental run's exceptions.parquet, partly copied from the previous run's, is the from-scratch table."""
    from platform_core.data.loaders import load_dataset
    from platform_core.incremental.outputs import exceptions_for_rows
    from platform_core.incremental.state import read_sensing_state
    from platform_core.networks import index_networks

    _, new, _, _ = cycles
    dataset = load_dataset(new)
    grid = read_sensing_state(runs / "incremental").grid
    rec = pq.read_table(runs / "incremental" / "recommendations.parquet")
    scratch = exceptions_for_rows(rec, dataset, index_networks(dataset), grid, grid.last_period)
    written = pq.read_table(runs / "incremental" / "exceptions.parquet")
    assert written.equals(scratch)
    section = json.loads((runs / "incremental" / "summary.json").read_text())["incremental"]
    assert section["exception_rows_reused"] > 0 and "exception_rows_not_reused_because" not in section


def _exception_keys(table: pa.Table, lists: tuple[str, ...], rows: set) -> set:
    return {(r["list"], r["sku"], r["location"], r["magnitude"], r["reason"]) for r in table.to_pylist()
            if r["list"] in lists and (r["sku"], r["location"]) in rows}


def test_reused_exception_rows_where_the_history_lists_change(runs, cycles, tmp_path):
    """Copied rows whose recent demand changed (stock-outs and idle periods in the new period)."""
    from platform_core.data.loaders import load_dataset
    from platform_core.data.schemas import Dataset
    from platform_core.exception_lists import ROW_ONLY_LISTS
    from platform_core.incremental.outputs import exceptions_for_rows, exceptions_since
    from platform_core.incremental.state import read_sensing_state
    from platform_core.networks import index_networks

    _, new, _, _ = cycles
    loaded = load_dataset(new)
    demand = loaded.demand
    day = demand.column("period").cast(pa.int32()).to_numpy()
    last = day == day.max()
    rng = np.random.default_rng(3)
    quantity = demand.column("quantity").to_numpy(zero_copy_only=False).copy()
    quantity[last & (rng.random(day.size) < 0.3)] = 0.0
    demand = demand.set_column(demand.column_names.index("quantity"), "quantity", pa.array(quantity))
    demand = demand.set_column(demand.column_names.index("stocked_out"), "stocked_out",
                               pa.array(last | demand.column("stocked_out").fill_null(False).to_numpy(
                                   zero_copy_only=False)))
    dataset = Dataset(root=loaded.root, tables={**loaded.tables, "demand": demand}, sources=loaded.sources)
    structure = index_networks(dataset)
    grid = read_sensing_state(runs / "incremental").grid
    previous = pq.read_table(runs / "previous" / "recommendations.parquet")
    fresh = pq.read_table(runs / "full_pooled" / "recommendations.parquet").select(previous.column_names)
    n = previous.num_rows
    net = np.empty(n, dtype=np.int64)
    net[structure.order] = structure.network_id
    replan = np.isin(net, np.unique(net)[::3])  # every third network re-planned
    order = np.argsort(np.concatenate([np.flatnonzero(~replan), np.flatnonzero(replan)]), kind="stable")
    rec = pa.concat_tables([previous.filter(pa.array(~replan)), fresh.filter(pa.array(replan))]).take(order)
    prev_path = runs / "previous" / "exceptions.parquet"

    got, reused, why = exceptions_since(rec, dataset, structure, grid, grid.last_period, replan, prev_path)
    want = exceptions_for_rows(rec, dataset, structure, grid, grid.last_period)
    assert why == "" and reused > 0
    assert got.equals(want)
    # it could have failed: taking every list of the copied rows from the previous file, or the
    # re-planned rows' rows too, gives other rows
    keys = list(zip(rec.column("sku").to_pylist(), rec.column("location").to_pylist(), strict=True))
    copied = {k for k, r in zip(keys, replan.tolist(), strict=True) if not r}
    again = {k for k, r in zip(keys, replan.tolist(), strict=True) if r}
    history_lists = ("counter_intuitive", "not_solved")
    before = pq.read_table(prev_path)
    assert _exception_keys(before, history_lists, copied) != _exception_keys(want, history_lists, copied)
    assert _exception_keys(before, ROW_ONLY_LISTS, again) != _exception_keys(want, ROW_ONLY_LISTS, again)
    assert _exception_keys(before, ROW_ONLY_LISTS, copied) == _exception_keys(want, ROW_ONLY_LISTS, copied)

    # a file of other rules (no digest), or naming SKU-locations not in the input: computed from scratch
    plain = tmp_path / "plain.parquet"
    pq.write_table(before.replace_schema_metadata(None), plain)
    got, reused, why = exceptions_since(rec, dataset, structure, grid, grid.last_period, replan, plain)
    assert (reused, "other exception rules" in why) == (0, True) and got.equals(want)
    stranger = tmp_path / "stranger.parquet"
    skus = before.column("sku").to_pylist()
    skus[before.column("list").to_pylist().index(ROW_ONLY_LISTS[0])] = "NO-SUCH-SKU"
    sku = pa.array(skus, pa.string())
    pq.write_table(before.set_column(before.column_names.index("sku"), before.schema.field("sku"), sku), stranger)
    got, reused, why = exceptions_since(rec, dataset, structure, grid, grid.last_period, replan, stranger)
    assert (reused, "not in this input" in why) == (0, True) and got.equals(want)
    got, reused, why = exceptions_since(rec, dataset, structure, grid, grid.last_period, replan, tmp_path / "none")
    assert reused == 0 and "not found" in why and got.equals(want)


def test_interleave_equals_sorting_copied_and_fresh_rows_into_input_order():
    from platform_core.incremental.outputs import interleave

    rng = np.random.default_rng(11)
    n = 500
    previous = pa.table({"k": np.arange(n), "s": [f"old{i}" for i in range(n)], "x": rng.random(n)})
    for replan in (rng.random(n) < 0.3, np.zeros(n, dtype=bool), np.ones(n, dtype=bool),
                   np.repeat(rng.random(n // 50) < 0.5, 50)):
        rows = rng.permutation(np.flatnonzero(replan))  # in the order the batches gave them
        fresh = pa.table({"k": rows, "s": [f"new{i}" for i in rows], "x": -rng.random(rows.size)})
        want = []  # row by row, independently of the slices
        by_row = {int(r): j for j, r in enumerate(rows)}
        for i in range(n):
            src, at = (fresh, by_row[i]) if replan[i] else (previous, i)
            want.append({c: src.column(c)[at].as_py() for c in previous.column_names})
        assert interleave(previous, fresh, replan, rows).to_pylist() == want
    with pytest.raises(ValueError, match="every re-planned row once"):
        interleave(previous, fresh.slice(1), replan, rows[1:])


def test_in_values_of_dictionary_and_plain_chunks_equals_a_set_lookup():
    from platform_core.incremental.subset import in_values

    names = ["A", "B", "Ç", "D", None, "A", "E"]
    plain = pa.array(names, pa.string())
    column = pa.chunked_array([plain.dictionary_encode(), plain.dictionary_encode().slice(2)])
    got = in_values(column, pa.array(["A", "Ç", "Z"])).to_pylist()  # a null name: null or False, dropped by filter
    assert [bool(g) for g in got] == [n in {"A", "Ç"} for n in names + names[2:]]
    assert [bool(g) for g in in_values(pa.chunked_array([plain]), pa.array(["E"])).to_pylist()] == \
        [n == "E" for n in names]


def test_the_executor_started_while_loading_is_the_one_a_choice_after_sensing_would_make():
    from platform_core.incremental.run import EARLY_START_INPUT_FACTOR, early_executor

    assert early_executor("in_process", 10, 10_000) == "in_process"  # configured: known before sensing
    assert early_executor("ray", 10, 10_000) == "ray"
    assert early_executor("auto", 100_000, 10_000) is None  # 2,204 re-planned at 100,000: in process, chosen later
    assert early_executor("auto", EARLY_START_INPUT_FACTOR * 10_000, 10_000) == "ray"
