"""``OUT/frontier.parquet``: the run's efficient frontier, from multi_echelon's side columns.

Checked against the run's own recommendations recomputed here with pandas (the shift-0
point is the recommendation), for monotonicity, and for surviving an interrupted run's
resume and a failing network; the per-leaf read-offs are checked against the engine in
``tests/solvers/test_multi_echelon_frontier.py``.
"""

from __future__ import annotations

import json
import shutil

import networkx as nx
import numpy as np
import pyarrow.parquet as pq
import pytest
from echelon_demand.bootstrap import BootstrapForecaster

from platform_core.config import load_config
from platform_core.data.loaders import load_dataset
from platform_core.hookspecs import hookimpl
from platform_core.pipeline import run
from platform_core.plugin_host import PluginHost

FAST = {"solver": {"replications": 20, "periods": 150}}


def _config(**run_opts):
    return load_config(overrides={"run": {"executor": "in_process", **run_opts}, "tracking": {"uri": "none"}, **FAST})


@pytest.fixture(scope="module")
def frontier_run(generated_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("frontier") / "out"
    run(generated_dataset, out, _config(batch_stages=60))
    return out


def _customer_facing(data, rec):
    """Rows with external demand and no downstream stage (networkx on the input's edges)."""
    stages = load_dataset(data).stages.to_pandas()
    edges = pq.read_table(data / "edges.parquet").to_pandas()
    g = nx.DiGraph()
    g.add_nodes_from(zip(stages["sku"], stages["location"], strict=True))
    g.add_edges_from(((u, ul), (d, dl)) for u, ul, d, dl in zip(
        edges["upstream_sku"], edges["upstream_location"], edges["downstream_sku"], edges["downstream_location"],
        strict=True))
    leaf = np.array([g.out_degree((s, loc)) == 0 for s, loc in zip(rec["sku"], rec["location"], strict=True)])
    return leaf & (rec["mean_demand_per_period"].fillna(0).to_numpy() > 0)


def test_frontier_passes_through_the_recommendation_and_rises(frontier_run, generated_dataset):
    front = pq.read_table(frontier_run / "frontier.parquet").to_pandas()
    rec = pq.read_table(frontier_run / "recommendations.parquet").to_pandas()
    assert not [c for c in rec.columns if c.startswith("frontier_")]  # side data stripped at the merge
    assert front["target_shift"].is_monotonic_increasing and len(front) >= 8
    assert front["target_shift"].min() < 0 < front["target_shift"].max()
    # the recommended point: the recommendations summed here (pandas) and the run's summary
    ok = (rec["status"] == "ok").to_numpy()
    facing = ok & _customer_facing(generated_dataset, rec)
    w = rec.loc[facing, "mean_demand_per_period"]
    fill = float((rec.loc[facing, "expected_fill_rate"] * w).sum() / w.sum())
    level = rec["base_stock_level"]
    stages = load_dataset(generated_dataset).stages.to_pandas()
    cost = rec.merge(stages[["sku", "location", "unit_cost"]], on=["sku", "location"], how="left")["unit_cost"]
    point = front[front["recommended"]].iloc[0]
    assert point["target_shift"] == 0.0 and point["changed_stages"] == 0
    assert point["customer_fill_rate_demand_weighted"] == pytest.approx(fill, abs=1e-12)
    assert point["investment_at_level_currency"] == pytest.approx(float((level * cost)[ok].sum()), rel=1e-12)
    assert point["expected_on_hand_value_currency"] == pytest.approx(
        float((rec["mean_on_hand"] * cost)[ok].sum()), rel=1e-12)
    metrics = json.loads((frontier_run / "summary.json").read_text())["metrics"]
    assert point["customer_fill_rate_demand_weighted"] == pytest.approx(metrics["customer_fill_rate_demand_weighted"])
    # an efficient frontier: more service costs more stock, everywhere along it
    for col in ("investment_at_level_currency", "expected_on_hand_value_currency",
                "customer_fill_rate_demand_weighted"):
        assert np.all(np.diff(front[col].to_numpy()) >= -1e-9), col
    assert front["customer_fill_rate_demand_weighted"].iloc[0] < fill - 0.05  # the low end gives service up
    assert front["customer_fill_rate_demand_weighted"].iloc[-1] > fill  # and the high end buys more
    assert np.all(front.loc[~front["recommended"], "changed_stages"] > 0)


class _StopAfterTwoBatches:
    seen = 0

    @hookimpl
    def batch_finished(self, run, batch_id, recommendations):
        type(self).seen += 1
        if type(self).seen == 2:
            raise KeyboardInterrupt("driver stopped")


def test_frontier_survives_resume_and_is_the_same(frontier_run, generated_dataset, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(generated_dataset, out, _config(batch_stages=60), host=PluginHost(plugins=[_StopAfterTwoBatches()]))
    assert len(list((out / "_parts").glob("part-*.parquet"))) == 2
    run(generated_dataset, out, _config(batch_stages=60), resume=True)
    assert pq.read_table(out / "frontier.parquet").equals(pq.read_table(frontier_run / "frontier.parquet"))
    # and whatever the batch cuts: one batch gives the same frontier
    one = tmp_path / "one"
    run(generated_dataset, one, _config(batch_stages=10_000))
    assert pq.read_table(one / "frontier.parquet").equals(pq.read_table(frontier_run / "frontier.parquet"))


class _FailsOnOneSku(BootstrapForecaster):
    bad_sku = None

    def fit(self, demand):
        if any(key.startswith(f"{self.bad_sku}@") for key in demand.keys):
            raise RuntimeError("cannot fit")
        return super().fit(demand)


class _FailingPlugin:
    @hookimpl
    def register_forecasters(self, register):
        register("fails_on_one_sku_frontier", _FailsOnOneSku)


def test_a_failing_network_leaves_the_frontier_of_the_others(generated_dataset, tmp_path):
    _FailsOnOneSku.bad_sku = load_dataset(generated_dataset).stages.column("sku")[0].as_py()
    cfg = load_config(overrides={"run": {"executor": "in_process", "batch_stages": 10_000},
                                 "tracking": {"uri": "none"},
                                 "components": {"forecaster": "fails_on_one_sku_frontier"}, **FAST})
    run(generated_dataset, tmp_path / "out", cfg, host=PluginHost(plugins=[_FailingPlugin()]))
    rec = pq.read_table(tmp_path / "out" / "recommendations.parquet").to_pandas()
    assert (rec["status"] == "error").sum() > 0  # the batch re-ran network by network
    front = pq.read_table(tmp_path / "out" / "frontier.parquet").to_pandas()
    ok = rec["status"] == "ok"
    point = front[front["recommended"]].iloc[0]
    assert point["investment_at_level_currency"] == pytest.approx(float(rec.loc[ok, "investment_at_level"].sum()),
                                                                  rel=1e-12)


def test_overwrite_by_a_solver_without_a_frontier_removes_the_old_one(frontier_run, generated_dataset, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(frontier_run, out)
    cfg = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                 "components": {"solver": "single_echelon"}})
    run(generated_dataset, out, cfg, overwrite=True)
    assert (out / "recommendations.parquet").exists() and not (out / "frontier.parquet").exists()
