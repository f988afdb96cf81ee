"""Batches are cut by estimated work (stages x simulated periods x replications), whole networks."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from platform_core.components import Solver
from platform_core.config import load_config
from platform_core.pipeline import run
from platform_core.plan import cut_batches


class _Sim(Solver):
    replications, periods, warmup = 10, 90, 10

    def solve(self, problem):
        raise AssertionError("not called")


class _Search(_Sim):
    work_exponent = 2.0  # simulates the whole network once per stage and round


class _Analytic(Solver):  # declares no simulation sizes: one unit of work per stage
    def solve(self, problem):
        raise AssertionError("not called")


def network_work(solver, sizes):
    return solver.work_estimate(sizes)


def _check_partition(batches, stops, work):
    """Batches are consecutive, cover every stage, end on network boundaries, sum the work."""
    assert batches[0].start == 0 and batches[-1].stop == stops[-1]
    for a, b in zip(batches, batches[1:], strict=False):
        assert a.stop == b.start
    assert {b.stop for b in batches} <= set(stops.tolist())
    assert sum(b.work for b in batches) == pytest.approx(work.sum())
    cum = np.concatenate(([0], np.cumsum(work)))
    where = {int(s): k + 1 for k, s in enumerate(stops)}
    for b in batches:  # each batch's estimate is the sum over its own networks
        lo = where.get(b.start, 0)
        assert b.work == pytest.approx(cum[where[b.stop]] - cum[lo])


def test_network_work_formula():
    sizes = np.array([1, 3, 10])
    np.testing.assert_allclose(network_work(_Sim(), sizes), 10 * 100 * sizes)
    np.testing.assert_allclose(network_work(_Search(), sizes), 10 * 100 * sizes**2)
    assert network_work(_Analytic(), np.array([4]))[0] == 4.0  # no parameters: one unit per stage


def test_big_and_small_networks_give_balanced_batches():
    rng = np.random.default_rng(3)
    sizes = np.where(rng.random(400) < 0.1, rng.integers(20, 40, 400), rng.integers(1, 4, 400))
    stops = np.cumsum(sizes)
    for solver in (_Sim(), _Search()):
        work = network_work(solver, sizes)
        target = work.sum() / 12.3
        batches = cut_batches(work, stops, target)
        _check_partition(batches, stops, work)
        assert len(batches) == 13
        per_batch = np.array([b.work for b in batches])
        # the acceptance: batch estimates differ by less than the largest network's work
        assert per_batch.max() - per_batch.min() < work.max()
        # and each is within the largest network of the equal share
        assert np.all(np.abs(per_batch - work.sum() / len(batches)) <= work.max())


def test_work_not_stage_count_decides_with_a_superlinear_solver():
    # 10 networks of 20 stages then 200 single stages: 400 stages, equal halves by count
    sizes = np.array([20] * 10 + [1] * 200)
    stops = np.cumsum(sizes)
    work = network_work(_Search(), sizes)  # 10 * 400 + 200 * 1 units
    batches = cut_batches(work, stops, work.sum() / 2)
    _check_partition(batches, stops, work)
    assert len(batches) == 2
    # a cut by stage count (at stage 200) would put 4000 of the 4200 units into batch 1
    assert batches[0].stop < 200
    assert abs(batches[0].work - batches[1].work) < work.max()


def test_single_large_network_and_tiny_target():
    sizes = np.array([1, 50, 1])
    stops = np.cumsum(sizes)
    work = network_work(_Sim(), sizes)
    batches = cut_batches(work, stops, 1.0)  # more batches wanted than networks exist
    _check_partition(batches, stops, work)
    assert [(b.start, b.stop) for b in batches] == [(0, 1), (1, 51), (51, 52)]
    assert cut_batches(np.zeros(0), np.zeros(0, dtype=np.int64), 5.0) == []


def test_summary_records_the_work_of_every_batch(generated_dataset, tmp_path):
    cfg = load_config(overrides={"run": {"executor": "in_process", "batch_stages": 40}, "tracking": {"uri": "none"},
                                 "components": {"solver": "single_echelon"},
                                 "solver": {"replications": 20, "periods": 100, "warmup": 10}})
    result = run(generated_dataset, tmp_path / "out", cfg)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    batches = summary["batches"]
    assert len(batches) == result.metrics["batches"] > 1
    assert sum(b["stages"] for b in batches) == pq.read_metadata(result.recommendations_path).num_rows
    for b in batches:  # single_echelon: replications x (periods + warmup) per stage
        assert b["work_estimate"] == pytest.approx(20 * 110 * b["stages"])
        assert b["compute_seconds"] > 0
    assert result.metrics["batch_work_estimate_max"] == max(b["work_estimate"] for b in batches)


def test_planning_refuses_demand_put_on_another_period_grid(generated_dataset):
    from pathlib import Path

    from platform_core.data.loaders import load_dataset
    from platform_core.pipeline import plan_dataset, prepare_components
    from platform_core.plugin_host import PluginHost
    from platform_core.run_context import RunContext

    cfg = load_config(overrides={"run": {"period_days": 14}, "tracking": {"uri": "none"}})
    host = PluginHost()
    specs = prepare_components(host, cfg, RunContext("t", Path("."), Path("."), cfg))
    with pytest.raises(ValueError, match="7-day grid but the run plans 14-day periods"):
        plan_dataset(load_dataset(generated_dataset, period_days=7.0), cfg, specs)
    shared, _ = plan_dataset(load_dataset(generated_dataset, period_days=14.0), cfg, specs)
    assert shared.demand.shape[1] > 0
