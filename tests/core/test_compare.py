"""Compared with today: today's policy simulated on the recommendation's paths, checked
against an independent engine simulation built here from the input files; exceptions;
``echelon run --compare-with``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from platform_core.batch import stage_problem
from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.data.loaders import load_dataset
from platform_core.exception_lists import EXCEPTION_LISTS, exception_lists
from platform_core.pipeline import plan_dataset, prepare_components, run
from platform_core.plugin_host import PluginHost
from platform_core.run_context import RunContext
from platform_core.simulation import Network, Policy, simulate

SOLVER = {"replications": 20, "periods": 150, "warmup": 50, "correlation": "none"}
MASK = 0x7FFFFFFFFFFFFFFF  # the solver's network seed is the first stage's seed, masked


def _config():
    return load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                  "solver": SOLVER})


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    """A generated dataset: demand only at stores (every period, no stock-outs), one rQ policy,
    one stage without a policy."""
    root = tmp_path_factory.mktemp("cmp") / "data"
    generate_dataset(root, sku_locations=40, seed=3)
    stages = pq.read_table(root / "stages.parquet")
    stores = {(s, loc) for s, loc, t in zip(*(stages.column(c).to_pylist() for c in
                                               ("sku", "location", "location_type")), strict=True) if t == "store"}
    # a full grid of store demand, no stock-outs: a DC's demand is then exactly its stores' orders
    demand = pq.read_table(root / "demand.parquet")
    periods = sorted(set(demand.column("period").to_pylist()))
    qty = {(r["sku"], r["location"], r["period"]): r["quantity"] for r in demand.to_pylist()}
    grid = [(s, loc, p, float(qty.get((s, loc, p)) or 0.0)) for s, loc in sorted(stores) for p in periods]
    pq.write_table(pa.table({"sku": [g[0] for g in grid], "location": [g[1] for g in grid],
                             "period": pa.array([g[2] for g in grid], pa.date32()),
                             "quantity": [g[3] for g in grid]}), root / "demand.parquet")
    pol = pq.read_table(root / "current_policy.parquet").to_pylist()
    first_mm = next(i for i, r in enumerate(pol) if r["policy_type"] == "min_max")
    pol[first_mm]["policy_type"] = "rQ"  # order_up_to holds r + Q
    del pol[-1]  # a store without a current policy
    pq.write_table(pa.Table.from_pylist(pol, schema=pq.read_schema(root / "current_policy.parquet")),
                   root / "current_policy.parquet")
    return root


@pytest.fixture(scope="module")
def run_out(dataset_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cmp") / "out"
    run(dataset_dir, out, _config(), progress=False, log=lambda _m: None)
    return out


def _independent(dataset_dir: Path, levels: dict[tuple[str, str], tuple[str, float, float, float]]):
    """Engine metrics per (sku, location) of the given policies, networks built here from the files."""
    config = _config()
    host = PluginHost()
    ds = load_dataset(dataset_dir)
    ctx = RunContext(run_id="t", data_dir=dataset_dir, out_dir=dataset_dir, config=config)
    shared, _ = plan_dataset(ds, config, prepare_components(host, config, ctx))
    edges = pq.read_table(dataset_dir / "edges.parquet").to_pylist()
    out = {}
    for net in np.unique(shared.network_id):
        idx = np.flatnonzero(shared.network_id == net)
        problem, _ = stage_problem(shared, idx)
        keys = [(str(shared.sku[i]), str(shared.location[i])) for i in idx]
        local = {k: j for j, k in enumerate(keys)}
        arcs = [(local[(e["upstream_sku"], e["upstream_location"])],
                 local[(e["downstream_sku"], e["downstream_location"])], float(e["quantity_per"]))
                for e in edges if (e["downstream_sku"], e["downstream_location"]) in local]
        # arcs ordered by downstream stage, as the solver lists them (a lane's random stream follows its arc)
        network = Network(len(keys), tuple(sorted(arcs, key=lambda a: (a[1], a[0]))))
        demand = {j: problem.period_demand[j] for j in network.customer_facing}
        kinds, s, big_s, q = zip(*(levels[k] for k in keys), strict=True)
        res = simulate(network, Policy(kind=list(kinds), reorder_point=np.array(s), order_up_to=np.array(big_s),
                                       order_quantity=np.array(q), review_period=shared.review_period[idx]),
                       demand, lead_times=list(problem.lead_time), seeds=[int(problem.seeds[0]) & MASK],
                       replications=SOLVER["replications"], periods=SOLVER["periods"], warmup=SOLVER["warmup"])
        for j, k in enumerate(keys):
            out[k] = {m: float(res.mean[m][j]) for m in ("fill_rate", "on_hand")} | {
                "fill_rate_se": float(res.se["fill_rate"][j])}
    return out


def _today(dataset_dir: Path, rec: list[dict]) -> dict:
    """Today's policy from the input file (the recommended base stock where there is none)."""
    cur = {(r["sku"], r["location"]): r for r in pq.read_table(dataset_dir / "current_policy.parquet").to_pylist()}
    levels = {}
    for r in rec:
        k = (r["sku"], r["location"])
        c = cur.get(k)
        if c is None:
            levels[k] = ("base_stock", np.nan, r["base_stock_level"], np.nan)
        elif c["policy_type"] == "rQ":
            levels[k] = ("rQ", c["reorder_point"], np.nan, c["order_up_to"] - c["reorder_point"])
        elif c["policy_type"] == "base_stock":
            levels[k] = ("base_stock", np.nan, c["order_up_to"], np.nan)
        else:
            levels[k] = ("sS", c["reorder_point"], c["order_up_to"], np.nan)
    return levels


def test_today_equals_an_independent_simulation_on_the_same_paths(dataset_dir, run_out):
    rec = pq.read_table(run_out / "recommendations.parquet").to_pylist()
    assert all(r["status"] == "ok" for r in rec)
    sim = _independent(dataset_dir, _today(dataset_dir, rec))
    cur = {(r["sku"], r["location"]): r for r in pq.read_table(dataset_dir / "current_policy.parquet").to_pylist()}
    cost = {(r["sku"], r["location"]): r["unit_cost"] for r in pq.read_table(dataset_dir / "stages.parquet").to_pylist()}
    for r in rec:
        k = (r["sku"], r["location"])
        if k not in cur:
            assert r["change_driver"] == "no current policy" and r["current_level"] is None
            continue
        assert r["current_policy_type"] == cur[k]["policy_type"]
        assert r["current_expected_fill_rate"] == pytest.approx(sim[k]["fill_rate"], rel=1e-12, abs=1e-12), k
        assert r["current_fill_rate_se"] == pytest.approx(sim[k]["fill_rate_se"], rel=1e-9, abs=1e-12), k
        assert r["current_mean_on_hand"] == pytest.approx(sim[k]["on_hand"], rel=1e-12), k
        # change = recommended - current, from the two files
        assert r["current_level"] == cur[k]["order_up_to"]
        assert r["change_level_units"] == pytest.approx(r["base_stock_level"] - cur[k]["order_up_to"])
        assert r["change_investment_at_level"] == pytest.approx(
            (r["base_stock_level"] - cur[k]["order_up_to"]) * cost[k])
        assert r["change_expected_fill_rate"] == pytest.approx(r["expected_fill_rate"] - sim[k]["fill_rate"])
        assert r["change_driver"]

    # totals in summary.json against the independent figures
    section = json.loads((run_out / "summary.json").read_text())["compared_with_today"]
    assert section["source"] == "current_policy"
    assert section["sku_locations_compared"] == len(cur)
    today, recd = section["today"], section["recommended"]
    assert today["investment_at_level_currency"] == pytest.approx(sum(c["order_up_to"] * cost[k]
                                                                      for k, c in cur.items()))
    assert recd["investment_at_level_currency"] == pytest.approx(sum(r["base_stock_level"] * cost[(r["sku"], r[
        "location"])] for r in rec if (r["sku"], r["location"]) in cur))
    assert today["expected_on_hand_value_currency"] == pytest.approx(sum(sim[k]["on_hand"] * cost[k] for k in cur))
    leaves = [r for r in rec if (r["sku"], r["location"]) in cur and r["location"].startswith("S")]
    w = np.array([r["mean_demand_per_period"] for r in leaves])
    today_fill = np.array([sim[(r["sku"], r["location"])]["fill_rate"] for r in leaves])
    assert today["customer_fill_rate_demand_weighted"] == pytest.approx(float(w @ today_fill / w.sum()))
    # the recommendation's levels simulated independently: its customer fill within 3 SE
    rec_sim = _independent(dataset_dir, {(r["sku"], r["location"]): ("base_stock", np.nan, r["base_stock_level"],
                                                                       np.nan) for r in rec})
    fill = np.array([rec_sim[(r["sku"], r["location"])]["fill_rate"] for r in leaves])
    se = np.array([max(r["fill_rate_se"], rec_sim[(r["sku"], r["location"])]["fill_rate_se"]) for r in leaves])
    total_se = float(np.sqrt(np.sum((w * se) ** 2)) / w.sum())
    assert abs(recd["customer_fill_rate_demand_weighted"] - float(w @ fill / w.sum())) <= 3 * total_se
    n_up = sum(1 for r in rec if r["change_level_units"] is not None and r["change_level_units"] >= 0.5)
    assert section["levels_up"] == n_up


def _table(rows: list[dict]) -> pa.Table:
    cols = ("sku", "location", "status", "message", "change_driver")
    nums = ("base_stock_level", "current_level", "change_level_units", "change_investment_at_level",
            "current_expected_fill_rate", "current_fill_rate_se", "service_target", "mean_demand_per_period",
            "current_mean_on_hand", "mean_on_hand")
    return pa.table({c: pa.array([r.get(c, "") for r in rows], pa.string()) for c in cols}
                    | {c: pa.array([r.get(c) for r in rows], pa.float64()) for c in nums})


def test_each_exception_list_catches_its_hand_built_case_ranked_by_magnitude():
    base = {"status": "ok", "service_target": 0.95, "mean_demand_per_period": 10.0, "current_fill_rate_se": 0.001}

    def row(sku: str, level: float, cur: float, **kw: float | str) -> dict:
        r = base | {"sku": sku, "location": "L", "base_stock_level": level, "current_level": cur,
                    "change_level_units": level - cur, "change_investment_at_level": (level - cur) * 2.0,
                    "current_expected_fill_rate": 0.95, "current_mean_on_hand": 10.0, "mean_on_hand": 10.0,
                    "change_driver": "d"}
        return r | kw

    rows = [
        row("far_below", 40.0, 10.0, current_expected_fill_rate=0.60),   # short 3.5 units/period
        row("a_bit_below", 22.0, 20.0, current_expected_fill_rate=0.90),  # short 0.5 units/period
        row("overstock", 20.0, 80.0, current_mean_on_hand=70.0),          # 49 days vs 7
        row("stocked_out", 18.0, 20.0),                                    # stock-out lately, less stock
        row("idle", 25.0, 24.0),                                           # no demand lately, more stock
        {"sku": "failed", "location": "L", "status": "error", "message": "solver gave no base_stock_level"},
    ]
    table = _table(rows)
    recent = np.full((6, 4), 5.0)
    recent[4] = 0.0
    flags = np.zeros((6, 4), dtype=bool)
    flags[3, -1] = True
    mean_own = np.array([0, 0, 0, 0, 0, 7.5])
    ex = exception_lists(table, np.full(6, 2.0), recent, flags, mean_own, period_days=7.0).to_pylist()
    by = {name: [(e["rank"], e["sku"], e["magnitude"]) for e in ex if e["list"] == name] for name in EXCEPTION_LISTS}
    assert by["under_served_today"] == [(1, "far_below", pytest.approx(3.5)), (2, "a_bit_below", pytest.approx(0.5))]
    assert [s for _, s, _ in by["overstock_today"]] == ["overstock"]
    assert by["overstock_today"][0][2] == pytest.approx((70.0 - 10.0) * 2.0)
    assert by["counter_intuitive"] == [(1, "stocked_out", pytest.approx(4.0)), (2, "idle", pytest.approx(2.0))]
    assert by["not_solved"] == [(1, "failed", pytest.approx(7.5))]
    # large changes: 80 -> 20 (-75 %) and 10 -> 40 (+300 %), ranked by investment change
    assert by["large_change"] == [(1, "overstock", pytest.approx(120.0)), (2, "far_below", pytest.approx(60.0))]
    reasons = {(e["list"], e["sku"]): e["reason"] for e in ex}
    assert "stocked out in 1 of the last 4 periods" in reasons[("counter_intuitive", "stocked_out")]
    assert "no demand in the last 4 periods" in reasons[("counter_intuitive", "idle")]
    units = {e["list"]: e["magnitude_unit"] for e in ex}
    assert units == {"large_change": "currency", "under_served_today": "units/period", "overstock_today": "currency",
                     "counter_intuitive": "currency", "not_solved": "units/period"}


def test_the_run_writes_exceptions_and_counts_them_in_the_summary(run_out):
    ex = pq.read_table(run_out / "exceptions.parquet")
    counts = json.loads((run_out / "summary.json").read_text())["exceptions"]
    assert set(counts) == set(EXCEPTION_LISTS)
    for name in EXCEPTION_LISTS:
        sub = ex.filter(pc.equal(ex.column("list"), name))
        assert sub.num_rows == counts[name]
        mags = sub.column("magnitude").to_numpy()
        assert np.all(np.diff(mags) <= 0) and sub.column("rank").to_pylist() == list(range(1, sub.num_rows + 1))
    assert counts["under_served_today"] > 0  # the generator's uneven policy under-serves some stores


def test_compare_with_a_previous_run_takes_its_levels_and_fill(dataset_dir, run_out, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dataset_dir, data)
    (data / "current_policy.parquet").unlink()
    config = load_config(overrides={"run": {"executor": "in_process", "seed": 7}, "tracking": {"uri": "none"},
                                    "solver": SOLVER})
    result = run(data, tmp_path / "out", config, progress=False, log=lambda _m: None, compare_with=run_out)
    now = pq.read_table(result.recommendations_path).to_pylist()
    before = {(r["sku"], r["location"]): r for r in pq.read_table(run_out / "recommendations.parquet").to_pylist()}
    for r in now:
        b = before[(r["sku"], r["location"])]
        assert r["current_level"] == b["base_stock_level"]
        assert r["current_expected_fill_rate"] == b["expected_fill_rate"]
        assert r["change_level_units"] == pytest.approx(r["base_stock_level"] - b["base_stock_level"])
    section = json.loads((tmp_path / "out" / "summary.json").read_text())["compared_with_today"]
    assert section["source"].startswith("previous run")
    with pytest.raises(FileNotFoundError, match="no recommendations.parquet"):
        run(data, tmp_path / "out2", config, compare_with=tmp_path / "nowhere")


@pytest.mark.parametrize("solver_name", ["single_echelon", "multi_echelon"])
def test_evaluate_policies_meets_the_final_checks_paths(solver_name):
    """The solver's recommended levels, evaluated again as given policies, give the fill the
    recommendation reports: identical where both read the engine's own metrics (single_echelon's
    kernel shares the engine's random numbers; multi_echelon's internal stages), within 3 SE where
    multi_echelon reads a leaf off its position histogram (batch means over replication groups)."""
    from platform_core.components import StagePolicies
    from platform_core.testing.inputs import three_stage_problem, two_stage_network

    problem = two_stage_network() if solver_name == "multi_echelon" else three_stage_problem()
    solver = PluginHost().solver(solver_name)(replications=20, periods=300)
    table = solver.solve(problem).to_pylist()
    level = np.array([r["base_stock_level"] for r in table])
    n = level.size
    got = solver.evaluate_policies(problem, StagePolicies(["base_stock"] * n, np.full(n, np.nan), level,
                                                          np.full(n, np.nan))).to_pylist()
    internal = {int(u) for ups in problem.upstream for u in ups}
    for k, (r, g) in enumerate(zip(table, got, strict=True)):
        if solver_name == "single_echelon" or k in internal:
            assert g["fill_rate"] == pytest.approx(r["expected_fill_rate"], rel=1e-12), k
            assert g["on_hand"] == pytest.approx(r["mean_on_hand"], rel=1e-12), k
        else:
            assert abs(g["fill_rate"] - r["expected_fill_rate"]) <= 3 * max(g["fill_rate_se"], r["fill_rate_se"]), k


@pytest.mark.parametrize("solver_name", ["single_echelon", "multi_echelon"])
def test_today_is_simulated_on_the_first_replications_of_the_final_check(solver_name):
    """compare_replications = 4 of 20: the same metrics as a solver whose final run has
    only those 4 replications (the paths are a function of the replication's index)."""
    from platform_core.components import StagePolicies
    from platform_core.testing.inputs import three_stage_problem, two_stage_network

    problem = two_stage_network() if solver_name == "multi_echelon" else three_stage_problem()
    host = PluginHost()
    n = len(problem.keys)
    pols = StagePolicies(["sS"] * n, np.full(n, 3.0), np.full(n, 9.0), np.full(n, np.nan))
    part = host.solver(solver_name)(replications=20, periods=200, compare_replications=4).evaluate_policies(
        problem, pols)
    small = host.solver(solver_name)(replications=4, periods=200).evaluate_policies(problem, pols)
    whole = host.solver(solver_name)(replications=20, periods=200, compare_replications=20).evaluate_policies(
        problem, pols)
    assert part.to_pylist() == small.to_pylist()
    assert part.to_pylist() != whole.to_pylist()
