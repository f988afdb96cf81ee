"""Rolling-origin backtest and its CLI."""

from __future__ import annotations

import argparse
import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from echelon_demand.backtest import backtest
from echelon_demand.backtest_cli import add_backtest_command
from echelon_demand.models import FORECASTERS

from platform_core.components import DemandSeries


def poisson_panel(n=200, T=40, seed=0):
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.2, 6.0, n)[:, None]
    D = rng.poisson(lam, (n, T)).astype(float)
    return DemandSeries([f"s{i}" for i in range(n)], D.ravel(), np.zeros(n * T, bool),
                        np.arange(0, n * T + 1, T, dtype=np.int64))


def test_backtest_table_and_calibration(tmp_path):
    out = tmp_path / "bt.parquet"
    table, det = backtest(poisson_panel(), ["poisson", "normal"], horizon=2, origins=3, out=out,
                          return_details=True)
    cols = {"forecaster", "demand_class", "n", "crps", "scaled_crps", "spl_50", "spl_80", "spl_90",
            "spl_95", "spl_99", "coverage_80", "coverage_90"}
    assert cols <= set(table.column_names)
    assert pq.read_table(out).num_rows == table.num_rows
    rows = {(r["forecaster"], r["demand_class"]): r for r in table.to_pylist()}
    pois = rows[("poisson", "all")]
    assert pois["n"] == 600
    # correct model: discrete central intervals cover at least their nominal level
    assert 0.88 <= pois["coverage_90"] <= 0.99
    assert 0.78 <= pois["coverage_80"] <= 0.95
    # Poisson truth: the Poisson model beats the normal one on CRPS
    assert pois["crps"] < rows[("normal", "all")]["crps"] + 1e-9
    assert det["poisson"]["crps"].size == 600


def test_backtest_outcome_is_sum_of_holdout():
    # one series, deterministic: y = 1 always -> outcome = horizon; CRPS of a correct point = 0
    ds = DemandSeries(["a"], np.ones(20), np.zeros(20, bool), np.array([0, 20]))
    table = backtest(ds, {"p": FORECASTERS["normal"](alpha=None)}, horizon=3, origins=2)
    r = table.to_pylist()[0]
    assert r["crps"] == pytest.approx(0.0, abs=1e-9)
    assert r["coverage_90"] == 1.0


def demand_table(n_series=6, T=30):
    rng = np.random.default_rng(3)
    rows = {"sku": [], "location": [], "period": [], "quantity": [], "stocked_out": []}
    start = dt.date(2024, 1, 1)
    for i in range(n_series):
        for t in range(T):
            rows["sku"].append(f"P{i}")
            rows["location"].append("DC1")
            rows["period"].append(start + dt.timedelta(days=7 * t))
            rows["quantity"].append(float(rng.poisson(3)))
            rows["stocked_out"].append(False)
    return pa.table(rows)


def test_cli_backtest(tmp_path, capsys):
    pq.write_table(demand_table(), tmp_path / "demand.parquet")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_backtest_command(sub)
    out = tmp_path / "m.parquet"
    args = parser.parse_args(["backtest", str(tmp_path), "--out", str(out), "--horizon", "2",
                              "--origins", "2", "--models", "poisson,negbin"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "poisson" in text and "coverage_90" in text
    assert pq.read_table(out).num_rows >= 2
    bad = parser.parse_args(["backtest", str(tmp_path), "--models", "nope"])
    assert bad.func(bad) == 2


def test_cli_backtest_on_generated_dataset(generated_dataset, capsys):
    parser = argparse.ArgumentParser()
    add_backtest_command(parser.add_subparsers())
    args = parser.parse_args(["backtest", str(generated_dataset), "--origins", "1", "--models", "auto,negbin"])
    assert args.func(args) == 0
    out = capsys.readouterr()
    assert "note:" not in out.err  # the full dataset loaded through load_dataset
    assert "auto" in out.out


def test_cli_backtests_the_default_forecaster_of_run(tmp_path, capsys):
    from platform_core.config import ComponentChoice

    assert ComponentChoice().forecaster == "calibrated"  # what `echelon run` uses by default
    pq.write_table(demand_table(), tmp_path / "demand.parquet")
    parser = argparse.ArgumentParser()
    add_backtest_command(parser.add_subparsers())
    args = parser.parse_args(["backtest", str(tmp_path), "--horizon", "2", "--origins", "2",
                              "--models", "calibrated,bootstrap,poisson"])
    assert args.func(args) == 0, capsys.readouterr().err
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert any(r[:2] == ["bootstrap", "all"] for r in rows)
    # the default list of `echelon backtest` includes the default forecaster of `echelon run`
    default = parser.parse_args(["backtest", str(tmp_path)])
    assert "calibrated" in default.models.split(",")


def test_backtest_resolves_every_registered_forecaster_name():
    from echelon_demand.backtest import forecaster_classes
    from echelon_demand.bootstrap import BootstrapForecaster

    from platform_core.plugin_host import PluginHost, UnknownComponentError

    registered = {c.name: c.cls for c in PluginHost().components("forecaster")}
    assert forecaster_classes(list(registered)) == registered
    assert forecaster_classes(["bootstrap"])["bootstrap"] is BootstrapForecaster
    with pytest.raises(UnknownComponentError, match="bootstrap"):  # the message lists the known names
        forecaster_classes(["nope"])


def test_backtest_scores_bootstrap_on_its_block_sums():
    # Demand alternates 0, 2, 0, 2, ...: every sum of two consecutive periods is exactly 2,
    # so the block bootstrap's lead-time demand over H = 2 periods is the point 2 and the
    # outcome is 2 (CRPS 0), while a model that treats periods as independent spreads
    # mass over {0, 2, 4} (Poisson: CRPS > 0).  Training part: 40 periods, even, so the
    # circular blocks keep the alternation.
    T = 42
    ds = DemandSeries(["alt"], np.tile([0.0, 2.0], T // 2), np.zeros(T, bool), np.array([0, T]))
    rows = {r["forecaster"]: r for r in backtest(ds, ["bootstrap", "poisson"], horizon=2, origins=1,
                                                  min_train=6).to_pylist()
            if r["demand_class"] == "all"}
    assert rows["bootstrap"]["n"] == 1
    assert rows["bootstrap"]["crps"] == pytest.approx(0.0, abs=1e-12)
    assert rows["bootstrap"]["coverage_90"] == 1.0
    assert rows["poisson"]["crps"] > 0.3


def test_backtest_bootstrap_is_calibrated_on_iid_poisson():
    # i.i.d. Poisson demand: the empirical block bootstrap is a consistent estimate of
    # the sum's distribution, so its central intervals cover about their level
    table = backtest(poisson_panel(n=150, T=60, seed=4), ["bootstrap"], horizon=2, origins=2)
    row = next(r for r in table.to_pylist() if r["demand_class"] == "all")
    assert row["n"] == 300
    assert 0.83 <= row["coverage_90"] <= 0.98
    assert 0.72 <= row["coverage_80"] <= 0.9
