"""The output directory: one run at a time, no silent overwrite, a strict ``summary.json``."""

import hashlib
import json
import math
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_core.cli import main
from platform_core.config import load_config
from platform_core.data.loaders import load_dataset
from platform_core.pipeline import run

FAST = {"solver": {"replications": 20, "periods": 150}}


def _config(forecaster: str = "bootstrap", **run_opts):
    # the output directory does not depend on the forecaster: bootstrap, as the "slow" child
    # runs, spares each run the calibrated default's class calibration (~6 CPU-s of ~9 on
    # these 240 SKU-locations); the no-demand test keeps the default
    return load_config(overrides={"run": {"executor": "in_process", **run_opts}, "tracking": {"uri": "none"},
                                  "components": {"forecaster": forecaster}, **FAST})


def _strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_a_second_run_into_the_same_out_exits_2_and_the_first_keeps_its_numbers(
    generated_dataset, tmp_path, capsys, child_cli
):
    out = tmp_path / "out"
    first = subprocess.Popen(
        child_cli.command("run", str(generated_dataset), "--out", str(out), "--config", str(child_cli.slow_toml),
                          "--tracking-uri", "none"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        child_cli.wait_for_parts(out, 1, first)
        # a second run (another seed) while the first is writing
        code = main(["run", str(generated_dataset), "--out", str(out), "--config", str(child_cli.fast_toml),
                     "--seed", "7", "--tracking-uri", "none"])
        err = capsys.readouterr().err
        assert code == 2
        assert str(out) in err and "another echelon run" in err and f"pid {first.pid}" in err, err
        assert "Traceback" not in err
        _, first_err = first.communicate(timeout=300)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, first_err
    assert not (out / ".echelon.lock").exists()
    # the first run's results are its own: the same rows as a clean run of its configuration
    clean = run(generated_dataset, tmp_path / "clean", load_config(overrides={
        "run": {"executor": "in_process", "seed": 42}, "tracking": {"uri": "none"},
        "components": {"forecaster": "bootstrap"}, **FAST}))  # "slow" is bootstrap with a delay
    got = pq.read_table(out / "recommendations.parquet").drop_columns(["forecaster"])
    assert got.equals(pq.read_table(clean.recommendations_path).drop_columns(["forecaster"]))
    assert _strict_json((out / "summary.json").read_text())["seed"] == 42


def test_rerun_into_a_used_out_is_refused_unless_overwrite(generated_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    run(generated_dataset, out, _config(seed=42))
    first = pq.read_table(out / "recommendations.parquet")
    # from the command line: one line, exit 2, nothing touched
    assert main(["run", str(generated_dataset), "--out", str(out), "--executor", "in_process", "--seed", "7",
                 "--tracking-uri", "none"]) == 2
    err = capsys.readouterr().err
    assert f"echelon: error: {out} is not empty" in err and "--overwrite" in err and "Traceback" not in err
    assert pq.read_table(out / "recommendations.parquet").equals(first)
    from platform_core.parts import OutputDirectoryError

    with pytest.raises(OutputDirectoryError, match=r"not empty.*--overwrite.*--resume"):
        run(generated_dataset, out, _config(seed=7))
    assert pq.read_table(out / "recommendations.parquet").equals(first)
    # --overwrite replaces the results
    again = run(generated_dataset, out, _config(seed=7), overwrite=True)
    assert _strict_json((out / "summary.json").read_text())["seed"] == 7
    assert not pq.read_table(again.recommendations_path).equals(first)
    with pytest.raises(ValueError, match="either"):
        run(generated_dataset, out, _config(), overwrite=True, resume=True)


def test_overwrite_replaces_only_the_run_outputs(generated_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["run", str(generated_dataset), "--out", str(out), "--executor", "in_process",
                 "--tracking-uri", "none"]) == 2
    assert "notes.txt" in capsys.readouterr().err
    run(generated_dataset, out, _config(), overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["exceptions.parquet", "frontier.parquet", "notes.txt",
                                                     "recommendations.parquet", "sensing", "summary.json"]


def test_an_empty_or_missing_out_needs_no_flag_and_a_failed_run_leaves_no_directory(generated_dataset, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run(generated_dataset, empty, _config())
    cfg = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                 "solver": {"replicatons": 5}})
    with pytest.raises(ValueError, match="replicatons"):
        run(generated_dataset, tmp_path / "never", cfg)
    assert not (tmp_path / "never").exists()


def test_summary_records_the_seed_and_the_input_fingerprint(generated_dataset, tmp_path):
    run(generated_dataset, tmp_path / "a", _config(seed=5))
    summary = _strict_json((tmp_path / "a" / "summary.json").read_text())
    assert summary["seed"] == 5
    # recomputed independently: SHA-256 of each input file, then of the "name:digest" lines
    sources = load_dataset(generated_dataset).sources
    files = {name: hashlib.sha256(Path(path).read_bytes()).hexdigest() for name, path in sources.items()}
    assert summary["input_files"] == files
    lines = "".join(f"{name}:{files[name]}\n" for name in sorted(files))
    assert summary["input_fingerprint"] == hashlib.sha256(lines.encode()).hexdigest()
    # one changed demand value changes the fingerprint
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in generated_dataset.glob("*.parquet"):
        (changed / path.name).write_bytes(path.read_bytes())
    demand = pq.read_table(changed / "demand.parquet")
    q = demand.column("quantity").to_pylist()
    q[0] = (q[0] or 0.0) + 1.0
    i = demand.schema.get_field_index("quantity")
    pq.write_table(demand.set_column(i, "quantity", pa.array(q, demand.schema.field(i).type)),
                   changed / "demand.parquet")
    run(changed, tmp_path / "b", _config(seed=5))
    other = _strict_json((tmp_path / "b" / "summary.json").read_text())
    assert other["input_fingerprint"] != summary["input_fingerprint"]
    assert other["input_files"]["demand"] != files["demand"]
    assert other["input_files"]["stages"] == files["stages"]


def test_no_demand_gives_null_service_in_summary_json_and_nan_in_python(generated_dataset, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for path in generated_dataset.glob("*.parquet"):
        (data / path.name).write_bytes(path.read_bytes())
    demand = pq.read_table(data / "demand.parquet")
    i = demand.schema.get_field_index("quantity")
    zeros = pa.array([0.0] * demand.num_rows, demand.schema.field(i).type)
    pq.write_table(demand.set_column(i, "quantity", zeros), data / "demand.parquet")
    result = run(data, tmp_path / "out", _config(forecaster="calibrated"))
    assert math.isnan(result.metrics["fill_rate_demand_weighted"])  # the Python metrics keep NaN
    summary = _strict_json((tmp_path / "out" / "summary.json").read_text())  # raises on NaN
    assert summary["metrics"]["fill_rate_demand_weighted"] is None
    assert summary["metrics"]["cycle_service_demand_weighted"] is None
    assert summary["metrics"]["sku_locations"] == 240
    # the command line prints "n/a", not "nan"
    assert main(["run", str(data), "--out", str(tmp_path / "cli"), "--executor", "in_process",
                 "--tracking-uri", "none"]) == 0
    printed = capsys.readouterr().out
    assert "nan" not in printed.lower() and "n/a" in printed
