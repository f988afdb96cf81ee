"""The loop on the command line: plan, generated outcomes, ledger, MLflow, ``echelon monitor``.

A promise drift injected in one demand class (realised fill 5 pp below the promise) is
flagged by ``echelon monitor`` for that class only; without it, no class is flagged.  Bad
outcome tables get the data contract's one-line errors (file, column, row, expected).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from platform_core.cli import main


@pytest.fixture
def run_copy(rollout_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(rollout_run, out)
    return out


def test_promise_drift_of_one_class_is_flagged_by_monitor(run_copy, tmp_path, capsys):
    from echelon_mlflow.monitor import monitor

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["rollout", "plan", str(run_copy), "--seed", "1", "--tracking-uri", uri]) == 0
    assert (run_copy / "rollout" / "plan.parquet").is_file()
    assert main(["rollout", "scenario", str(run_copy), "--out", str(tmp_path / "new"), "--seed", "1",
                 "--promise-drift", "lumpy=0.05"]) == 0
    assert main(["outcomes", str(tmp_path / "new"), "--run", str(run_copy), "--tracking-uri", uri]) == 0
    for name in ("ledger", "effects", "promise"):
        assert (run_copy / "outcomes" / f"{name}.parquet").is_file()
    # the run's report gains the outcome section with the effects as written
    from platform_core.report import build_report

    html = build_report(run_copy).path.read_text()
    effects = pq.read_table(run_copy / "outcomes" / "effects.parquet").to_pandas()
    assert 'id="outcome-effects"' in html and 'id="outcome-promise"' in html
    for e in effects[effects["outcome"] == "fill"].itertuples():
        assert f"{e.estimate:+.4f}" in html and f"[{e.ci_low:+.4f}, {e.ci_high:+.4f}]" in html

    report = monitor(uri, log=False)
    assert report.flagged == {"promise:calibrated": ["demand_class=lumpy"]}
    drift = report.latest["promise:calibrated"]
    assert {g.group for g in drift.groups} >= {"smooth", "erratic", "intermittent", "lumpy"}
    # recalibration sees the flagged class as drift of this forecaster version (and no other)
    import mlflow
    from echelon_mlflow.settings import TrackingSettings
    from echelon_mlflow.tracker import TrackedModel, _promise_flagged

    client = mlflow.MlflowClient(tracking_uri=uri)
    settings = TrackingSettings(uri=uri)
    forecaster = TrackedModel("demand", "calibrated", object, {}, False)
    assert _promise_flagged(client, settings, forecaster, "local") == ["demand_class=lumpy"]
    assert _promise_flagged(client, settings, forecaster, "3") == []
    # the ledger's MLflow run names the run and the model version that made the promise
    exp = client.get_experiment_by_name("echelon")
    logged = client.search_runs([exp.experiment_id], filter_string="tags.`echelon.kind` = 'outcomes'")
    assert len(logged) == 1
    tags = logged[0].data.tags
    assert (tags["echelon.run_id"], tags["echelon.outcomes.model"], tags["echelon.outcomes.version"]) == \
        ("gen1500seed5", "calibrated", "local")
    assert tags["echelon.as_of"] == str(pd.read_parquet(run_copy / "outcomes" / "ledger.parquet")["period"].max().date())
    assert "outcome.wave1.fill.estimate" in logged[0].data.metrics
    capsys.readouterr()
    assert main(["monitor", "--tracking-uri", uri, "--no-log", "--fail-on-drift"]) == 1
    assert "lumpy" in capsys.readouterr().out

    # the same rollout without the drift, recorded later: nothing flagged
    assert main(["rollout", "scenario", str(run_copy), "--out", str(tmp_path / "clean"), "--seed", "2"]) == 0
    assert main(["outcomes", str(tmp_path / "clean"), "--run", str(run_copy), "--tracking-uri", uri]) == 0
    report = monitor(uri, log=False)
    assert report.flagged == {}
    assert main(["monitor", "--tracking-uri", uri, "--no-log", "--fail-on-drift"]) == 0


def _outcomes_csv(run: Path, folder: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    plan = pq.read_table(run / "rollout" / "plan.parquet").to_pandas().head(3)
    rows = pd.DataFrame({"sku": plan["sku"], "location": plan["location"], "period": "2025-01-06",
                         "demand_units": "4", "sales_units": "3", "on_hand_units": "7", "level_used_units": "10"})
    edit(rows)
    folder.mkdir()
    rows.to_csv(folder / "outcome_periods.csv", index=False)
    return folder


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r: r.__setitem__("demand_units", ["4", "4", "four"]),
     "outcome_periods.csv: column 'demand_units', row 3: expected a number, got 'four'"),
    (lambda r: r.__setitem__("sales_units", ["3", "5", "3"]),
     "outcome_periods.csv: column 'sales_units', row 2: expected at most demand_units (4), got 5"),
    (lambda r: r.__setitem__("sku", ["X1", r["sku"].iloc[1], r["sku"].iloc[2]]),
     "outcome_periods.csv: columns ('sku', 'location'), row 1: expected a SKU-location of the run's plan"),
    (lambda r: r.drop(columns="level_used_units", inplace=True),
     "outcome_periods.csv: column 'level_used_units': expected a required column of type double"),
])
def test_bad_outcome_tables_get_one_line_errors(run_copy, tmp_path, capsys, edit, message):
    assert main(["rollout", "plan", str(run_copy), "--tracking-uri", "none"]) == 0
    folder = _outcomes_csv(run_copy, tmp_path / "bad", edit)
    capsys.readouterr()
    assert main(["outcomes", str(folder), "--run", str(run_copy), "--tracking-uri", "none"]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert not (run_copy / "outcomes").exists()


def test_outcomes_without_a_plan_and_plan_twice(run_copy, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["outcomes", str(tmp_path / "empty"), "--run", str(run_copy), "--tracking-uri", "none"]) == 2
    assert "expected a rollout plan (echelon rollout plan" in capsys.readouterr().err
    assert main(["rollout", "plan", str(run_copy), "--tracking-uri", "none"]) == 0
    assert main(["rollout", "plan", str(run_copy), "--tracking-uri", "none"]) == 2
    assert "a rollout plan exists already" in capsys.readouterr().err
    settings = json.loads((run_copy / "rollout" / "plan.json").read_text())
    assert settings["seed"] == 0 and settings["waves"] == 3
