"""The pieces of benchmarks/multi_echelon_value.py: training cut, targets, blanket rule, replay, interpolation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from echelon_solvers.baseline import BlanketABCSolver

from platform_core.testing.inputs import three_stage_problem


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("multi_echelon_value")


def test_training_cut_keeps_only_the_training_weeks(bench, generated_dataset: Path, tmp_path: Path):
    out = tmp_path / "train"
    bench.training_dataset(generated_dataset, out, 78)
    full = pq.read_table(generated_dataset / "demand.parquet")
    cut = pq.read_table(out / "demand.parquet")
    day0 = pc.min(pc.cast(full.column("period"), pa.int32())).as_py()
    days = pc.cast(cut.column("period"), pa.int32()).to_numpy()
    assert days.max() < day0 + 78 * 7 <= pc.max(pc.cast(full.column("period"), pa.int32())).as_py()
    full_days = pc.cast(full.column("period"), pa.int32()).to_numpy()
    assert cut.num_rows == int(np.sum(full_days < day0 + 78 * 7))
    received = pc.cast(pq.read_table(out / "receipts.parquet").column("receipt_date"), pa.int32()).to_numpy()
    assert received.max() < day0 + 78 * 7
    assert not (out / "truth").exists()
    problems, used = bench.planned_problems(out, "single_echelon")
    assert sum(len(p.keys) for p in problems) == pq.read_table(generated_dataset / "stages.parquet").num_rows
    assert problems[0].demand_history.shape[1] == 78
    assert used["solver"]["name"] == "single_echelon"


def test_blanket_levels_are_the_solver_at_its_targets_and_grow_with_them(bench):
    problem = three_stage_problem()
    problem.abc_class = np.array(["A", "B", "C"])
    solver = BlanketABCSolver().solve(problem).column("base_stock_level").to_numpy()
    np.testing.assert_array_equal(bench.blanket_levels(problem, (0.98, 0.95, 0.90)), solver)
    low = bench.blanket_levels(problem, (0.90, 0.85, 0.80))
    high = bench.blanket_levels(problem, (0.995, 0.99, 0.98))
    assert np.all(low <= solver) and np.all(solver <= high) and np.any(low < high)


def test_targets_follow_the_abc_class(bench):
    problem = three_stage_problem()
    problem.abc_class = np.array(["C", "", "A"])
    t = bench.with_targets(problem, (0.99, 0.95, 0.9)).service_target
    np.testing.assert_array_equal(t, [0.9, 0.9, 0.99])
    problem.abc_class = None
    with pytest.raises(ValueError, match="ABC classes"):
        bench.with_targets(problem, (0.99, 0.95, 0.9))


def test_trace_replay_sees_exactly_the_held_out_weeks(bench, generated_dataset: Path):
    import service_vs_cost

    data = service_vs_cost.load(generated_dataset)
    groups = service_vs_cost.networks(data)
    replay = bench.held_out_demand(data, 78, "trace")
    levels = np.full(data["n"], 1e6)  # never short
    res = service_vs_cost.simulate_portfolio(data, groups, levels, replay, seed=3, replications=2, periods=26 * 3)
    own = data["has_demand"]
    expected = np.nan_to_num(data["true"][:, 78:], nan=0.0).round().mean(axis=1)
    # internal stages also see their customers' orders: compare the customer-facing ones
    parent = data["parent"]
    leaf = own.copy()
    leaf[parent[parent >= 0]] = False
    np.testing.assert_allclose(res["demand"][leaf], expected[leaf], rtol=0, atol=1e-9)
    assert np.all(res["fill"][leaf & (expected > 0)] == 1.0)


def test_curve_value_interpolates_in_fill_and_never_extrapolates(bench):
    fill = np.array([0.9, 0.8, 0.95])
    inv = np.array([200.0, 100.0, 400.0])
    assert bench.curve_value(fill, inv, 0.85) == pytest.approx(150.0)
    assert bench.curve_value(fill, inv, 0.925) == pytest.approx(300.0)
    assert bench.curve_value(fill, inv, 0.8) == pytest.approx(100.0)
    assert np.isnan(bench.curve_value(fill, inv, 0.79))
    assert np.isnan(bench.curve_value(fill, inv, 0.96))


def test_curve_weights_interpolate_like_curve_value(bench):
    fill = np.array([0.9, 0.8, 0.95])
    inv = np.array([200.0, 100.0, 400.0])
    for at in (0.8, 0.83, 0.9, 0.925, 0.95):
        w = bench.curve_weights(fill, at)
        assert sum(w.values()) == pytest.approx(1.0)
        assert sum(wk * inv[k] for k, wk in w.items()) == pytest.approx(bench.curve_value(fill, inv, at))
    assert bench.curve_weights(fill, 0.79) == {} and bench.curve_weights(fill, 0.96) == {}


def test_breakdown_interpolates_each_group_at_the_portfolio_fill(bench):
    # two points; halfway in portfolio fill, each group's investment and short are halfway
    pts = [{"realised_fill_rate": 0.8, "groups": {"g": {"investment_currency": 100.0, "short": 20.0, "demand": 100.0}}},
           {"realised_fill_rate": 0.9, "groups": {"g": {"investment_currency": 300.0, "short": 10.0, "demand": 100.0}}}]
    out = bench.breakdown_at(pts, 0.85)
    assert out["g"]["investment_currency"] == pytest.approx(200.0)
    assert out["g"]["realised_fill_rate"] == pytest.approx(1.0 - 15.0 / 100.0)
    assert bench.breakdown_at(pts, 0.95) == {}


def test_oracle_problems_plan_on_the_held_out_weeks(bench, generated_dataset: Path, tmp_path: Path):
    import service_vs_cost

    data = service_vs_cost.load(generated_dataset)
    train = tmp_path / "train"
    bench.training_dataset(generated_dataset, train, 78)
    problems, _ = bench.planned_problems(train, "single_echelon")
    stages = pq.read_table(generated_dataset / "stages.parquet")
    keys = [f"{s}@{loc}" for s, loc in zip(stages.column("sku").to_pylist(), stages.column("location").to_pylist(),
                                            strict=True)]
    row_of = {k: i for i, k in enumerate(keys)}
    oracle = bench.oracle_problems(problems, data, row_of, 78)
    # the held-out true demand, read from the truth file directly
    truth = pq.read_table(generated_dataset / "truth" / "demand_truth.parquet")
    day = pc.cast(truth.column("period"), pa.int32()).to_numpy()
    late = day >= day.min() + 78 * 7
    tkeys = [f"{s}@{loc}" for s, loc in zip(truth.column("sku").to_pylist(), truth.column("location").to_pylist(),
                                             strict=True)]
    held_sum = np.zeros(len(keys))
    np.add.at(held_sum, [row_of[k] for k, lt in zip(tkeys, late, strict=True) if lt],
              truth.column("true_quantity").to_numpy()[late])
    parent = data["parent"]
    subtree = held_sum.copy()  # own plus every descendant's (parent-first order)
    for i in range(len(keys) - 1, -1, -1):
        if parent[i] >= 0:
            subtree[parent[i]] += subtree[i]
    checked = 0
    for p, q in zip(problems, oracle, strict=True):
        assert q.keys == p.keys and q.demand_history.shape[1] == 26
        for j, k in enumerate(q.keys):
            r = row_of[k]
            assert q.period_demand[j].mean() == pytest.approx(subtree[r] / 26.0, abs=1e-9)
            assert q.lead_time[j] is data["lead"][r]
            if data["has_demand"][r]:
                assert np.nansum(q.demand_history[j]) == pytest.approx(held_sum[r])
            else:
                assert np.isnan(q.demand_history[j]).all()
            checked += 1
    assert checked == len(keys) and (subtree > held_sum).any()
