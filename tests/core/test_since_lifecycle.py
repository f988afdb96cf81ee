"""``echelon run --since`` goes through a full run's lifecycle and writes a full run's files.

Six single-stage stores with Poisson demand, 30 weeks; this cycle adds week 31, in which
store ``A``'s demand jumps far beyond noise. The previous cycle is run in full, then
incrementally with tracking into a real MLflow SQLite store, then in full on this
cycle's data. Checked against independent facts:

* MLflow holds one incremental run, tagged with the previous run's id and directory,
  whose re-planned / copied counts are the stores that shifted / did not (known by
  construction), finished;
* the output directory has exactly the files of the full run;
* ``exceptions.parquet`` names only stages of the complete output, and ``frontier.parquet``'s
  recommended point is the sum of level x unit cost over the ok rows of the complete
  recommendations (summed here from the rows); its side data holds the previous run's rows
  for the copied stores and the full run's for the re-planned one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from platform_core.config import load_config
from platform_core.hookspecs import hookimpl
from platform_core.incremental import run_since
from platform_core.incremental.outputs import FRONTIER_SIDE_FILE
from platform_core.pipeline import run
from platform_core.plugin_host import PluginHost

SKUS = ("A", "B", "C", "D", "E", "F")
WEEKS = 30
UNIT_COST = {"A": 10.0, "B": 12.0, "C": 8.0, "D": 20.0, "E": 5.0, "F": 15.0}


def _write(root: Path, weeks: int, spike: bool) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(3)
    pq.write_table(pa.table({
        "sku": list(SKUS), "location": ["S"] * len(SKUS), "unit_cost": [UNIT_COST[s] for s in SKUS],
        "price": [2.0 * UNIT_COST[s] for s in SKUS], "carrying_rate": [0.25] * len(SKUS),
        "lead_time_days": [14.0] * len(SKUS),
    }), root / "stages.parquet")
    qty = rng.poisson(6.0, size=(len(SKUS), WEEKS + 1)).astype(float)
    if spike:
        qty[0, WEEKS] = 80.0  # store A: mean 6, sd ~2.4
    weeks_ = np.datetime64("2024-01-01") + 7 * np.arange(weeks)
    pq.write_table(pa.table({
        "sku": np.repeat(SKUS, weeks), "location": ["S"] * (len(SKUS) * weeks),
        "period": pa.array(np.tile(weeks_, len(SKUS)).astype("datetime64[D]"), pa.date32()),
        "quantity": qty[:, :weeks].ravel(),
    }), root / "demand.parquet")
    return root


def _config(uri: str = "none"):
    return load_config(overrides={
        "run": {"executor": "in_process"}, "tracking": {"uri": uri, "experiment": "since"},
        "solver": {"replications": 10, "periods": 120},
    })


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("since_lifecycle")
    prev = _write(root / "prev", WEEKS, spike=False)
    new = root / "new"
    shutil.copytree(prev, new)
    shutil.rmtree(new)
    _write(new, WEEKS + 1, spike=True)
    shutil.copy(prev / "stages.parquet", new / "stages.parquet")  # byte-identical structure table
    uri = f"sqlite:///{root / 'mlflow.db'}"
    quiet = {"progress": False, "log": lambda _m: None}
    full_prev = run(prev, root / "out_prev", _config(uri), **quiet)
    recorder = _Recorder()
    inc = run_since(new, root / "out_inc", _config(uri), root / "out_prev", log=lambda _m: None,
                    host=PluginHost(plugins=[recorder]))
    full_new = run(new, root / "out_new", _config(), **quiet)
    return {"root": root, "uri": uri, "full_prev": full_prev, "inc": inc, "full_new": full_new,
            "calls": recorder.calls}


class _Recorder:
    """A plugin that records the lifecycle hooks it sees."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    @hookimpl
    def run_started(self, run):
        self.calls.append(("run_started", dict(run.tags)))

    @hookimpl
    def input_validated(self, run, dataset):
        self.calls.append(("input_validated", dataset.stages.num_rows))

    @hookimpl
    def batch_finished(self, run, batch_id, recommendations):
        self.calls.append(("batch_finished", recommendations.column("input_row").to_pylist()))

    @hookimpl
    def run_finished(self, run, result):
        self.calls.append(("run_finished", result.metrics["sku_locations_replanned"]))

    @hookimpl
    def run_failed(self, run, error):
        self.calls.append(("run_failed", error))


def test_incremental_run_fires_a_full_runs_hooks(cycles: dict) -> None:
    calls = cycles["calls"]
    assert [c[0] for c in calls] == ["run_started", "input_validated", "batch_finished", "run_finished"]
    assert calls[0][1]["echelon.incremental"] == "true"
    assert calls[1][1] == len(SKUS)
    assert calls[2][1] == [0]  # store A, row 0 of the whole input
    assert calls[3][1] == 1.0


def test_a_failing_incremental_run_fires_run_failed(cycles: dict, tmp_path: Path) -> None:
    root = cycles["root"]
    changed = tmp_path / "changed"
    shutil.copytree(root / "new", changed)
    table = pq.read_table(changed / "stages.parquet")
    pq.write_table(table.set_column(table.schema.get_field_index("price"), "price",
                                    pc.multiply(table.column("price"), 2.0)), changed / "stages.parquet")
    recorder = _Recorder()
    with pytest.raises(ValueError, match="stages table changed"):
        run_since(changed, tmp_path / "out", _config(), root / "out_prev", log=lambda _m: None,
                  host=PluginHost(plugins=[recorder]))
    # the structure check precedes input_validated; the error reaches the plugins, then the caller
    assert [c[0] for c in recorder.calls] == ["run_started", "run_failed"]
    assert isinstance(recorder.calls[1][1], ValueError)


def test_incremental_run_is_tracked_as_incremental(cycles: dict) -> None:
    root, uri = cycles["root"], cycles["uri"]
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("since").experiment_id])
    incremental = [r for r in runs if r.data.tags.get("echelon.incremental") == "true"]
    assert len(runs) == 2 and len(incremental) == 1
    r = incremental[0]
    prev_id = json.loads((root / "out_prev" / "summary.json").read_text())["run_id"]
    assert r.data.tags["echelon.previous_run_id"] == prev_id
    assert Path(r.data.tags["echelon.since"]) == (root / "out_prev").resolve()
    assert r.info.status == "FINISHED"
    assert r.data.metrics["sku_locations_replanned"] == 1.0  # store A, alone in its network
    assert r.data.metrics["sku_locations_copied"] == len(SKUS) - 1.0
    assert r.data.tags["echelon.run_id"] == json.loads((root / "out_inc" / "summary.json").read_text())["run_id"]
    assert {"recommendations.parquet", "summary.json"} <= {a.path for a in client.list_artifacts(r.info.run_id)}


def test_incremental_output_has_the_files_of_a_full_run(cycles: dict) -> None:
    root = cycles["root"]
    assert _files(root / "out_inc") == _files(root / "out_prev")
    assert {"exceptions.parquet", "frontier.parquet", f"sensing/{FRONTIER_SIDE_FILE}",
            "model_versions.json"} <= _files(root / "out_inc")


def test_planner_files_cover_the_complete_output(cycles: dict) -> None:
    root = cycles["root"]
    out = root / "out_inc"
    rec = pq.read_table(out / "recommendations.parquet")
    assert rec.column("changed_because").to_pylist()[1:] == [None] * (len(SKUS) - 1)
    exceptions = pq.read_table(out / "exceptions.parquet")
    assert set(exceptions.column("sku").to_pylist()) <= set(SKUS)
    summary = json.loads((out / "summary.json").read_text())
    assert sum(summary["exceptions"].values()) == exceptions.num_rows
    ok = pc.equal(rec.column("status"), "ok").to_numpy(zero_copy_only=False)
    level = rec.column("base_stock_level").to_numpy(zero_copy_only=False)
    unit = np.array([UNIT_COST[s] for s in rec.column("sku").to_pylist()])
    frontier = pq.read_table(out / "frontier.parquet").to_pylist()
    point = [f for f in frontier if f["recommended"]][0]
    assert point["investment_at_level_currency"] == pytest.approx(float(np.sum((level * unit)[ok])))
    side = pq.read_table(out / "sensing" / FRONTIER_SIDE_FILE)
    prev_side = pq.read_table(root / "out_prev" / "sensing" / FRONTIER_SIDE_FILE)
    new_side = pq.read_table(root / "out_new" / "sensing" / FRONTIER_SIDE_FILE)
    assert side.slice(1).equals(prev_side.slice(1))  # copied stores: the previous run's rows
    assert side.slice(0, 1).equals(new_side.slice(0, 1))  # re-planned A: as the full run on this data


def test_exceptions_are_the_full_runs_on_the_same_rows(cycles: dict) -> None:
    """The incremental path's exception lists equal the full run's path (``exceptions_for_run``)."""
    from platform_core.data.loaders import load_dataset
    from platform_core.exception_lists import exceptions_for_run
    from platform_core.incremental.outputs import exceptions_for_rows
    from platform_core.incremental.state import read_sensing_state
    from platform_core.networks import index_networks
    from platform_core.pipeline import plan_dataset, prepared_context

    root = cycles["root"]
    dataset = load_dataset(root / "new")
    structure = index_networks(dataset)
    grid = read_sensing_state(root / "out_new").grid
    rec = pq.read_table(root / "out_new" / "recommendations.parquet")
    got = exceptions_for_rows(rec, dataset, structure, grid, grid.last_period)
    assert got.equals(pq.read_table(root / "out_new" / "exceptions.parquet"))
    # a row that was not solved: ranked by its mean own demand, as the full run's path does
    status = rec.column("status").to_pylist()
    status[2] = "error"
    broken = rec.set_column(rec.schema.get_field_index("status"), "status", pa.array(status, pa.string()))
    host = PluginHost()
    ctx, specs = prepared_context(host, _config(), root / "new", root / "unused", {})
    shared, _ = plan_dataset(dataset, _config(), specs)
    want = exceptions_for_run(broken, shared)
    assert "not_solved" in want.column("list").to_pylist()
    assert exceptions_for_rows(broken, dataset, structure, grid, grid.last_period).equals(want)
