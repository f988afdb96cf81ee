"""``echelon simulate --policy`` on a run's recommendations and on the current_policy file
as they are; a policy file whose columns cannot be used is refused with a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from platform_core.cli import main
from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.pipeline import run

SOLVER = {"replications": 20, "periods": 200, "correlation": "none"}


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("simfiles")
    generate_dataset(root / "data", sku_locations=40, seed=5)
    config = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                    "solver": SOLVER})
    run(root / "data", root / "out", config, progress=False, log=lambda _m: None)
    return root / "data", root / "out"


def test_simulating_the_recommendations_reproduces_their_fill_within_3_se(run_dirs, tmp_path, capsys):
    data, out = run_dirs
    result = tmp_path / "sim.parquet"
    code = main(["simulate", str(data), "--policy", str(out / "recommendations.parquet"), "--replications", "20",
                 "--periods", "1000", "--warmup", "50", "--seed", "9", "--out", str(result)])
    assert code == 0, capsys.readouterr().err
    rec = {(r["sku"], r["location"]): r for r in pq.read_table(out / "recommendations.parquet").to_pylist()}
    sim = {(r["sku"], r["location"]): r for r in pq.read_table(result).to_pylist()}
    stores = [k for k in rec if k[1].startswith("S")]
    w = np.array([rec[k]["mean_demand_per_period"] for k in stores])
    run_fill = np.array([rec[k]["expected_fill_rate"] for k in stores])
    sim_fill = np.array([sim[k]["fill_rate"] for k in stores])
    se = np.hypot([rec[k]["fill_rate_se"] for k in stores], [sim[k]["fill_rate_se"] for k in stores])
    assert np.all(sim_fill > 0.5)  # demand is simulated (it used to be zero: fill "n/a")
    total = float(np.sqrt(np.sum((w * se) ** 2)) / w.sum())
    assert abs(w @ sim_fill / w.sum() - w @ run_fill / w.sum()) <= 3 * total
    assert np.all(np.abs(sim_fill - run_fill) <= 4 * se)


def test_the_current_policy_file_simulates_with_the_datasets_demand(run_dirs, tmp_path, capsys):
    data, _out = run_dirs
    result = tmp_path / "today.parquet"
    code = main(["simulate", str(data), "--policy", str(data / "current_policy.parquet"), "--replications", "4",
                 "--periods", "300", "--out", str(result)])
    assert code == 0, capsys.readouterr().err
    rows = pq.read_table(result).to_pylist()
    stores = [r for r in rows if r["location"].startswith("S")]
    assert stores and all(0.0 < r["fill_rate"] <= 1.0 and r["demand"] > 0 for r in stores)


@pytest.mark.parametrize("header,row,expected", [
    ("sku,location,level", "A,B,1", "missing ['policy_type', 'order_up_to']"),
    ("sku,location,policy_type,reorder_point,order_up_to", "SKU000000,S0001,sS,9,5",
     "row 1: columns policy_type, reorder_point, order_up_to: sS needs reorder_point <= order_up_to"),
])
def test_a_policy_file_it_cannot_use_is_refused_clearly(run_dirs, tmp_path, capsys, header, row, expected):
    data, _out = run_dirs
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{header}\n{row}\n")
    assert main(["simulate", str(data), "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and expected in err and "Traceback" not in err
