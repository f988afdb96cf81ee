"""A planner's overrides: honoured by the solvers, the rest re-optimised, their cost reported.

Acceptance (issue #16): an override pinned below the optimum shows its extra cost and the
network's other stages re-optimised, checked against the un-pinned run. The judge of the
stores' service is a fresh engine simulation of the pinned network (other seeds, more
replications), and of the cost a plain engine run of both solutions' levels on common
random numbers (no position histograms): neither is the solver's own read-off.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from echelon_solvers.multi_echelon import MultiEchelonSolver
from echelon_solvers.single_echelon import SingleEchelonSolver

from platform_core.batch import stage_problem
from platform_core.components import StageProblem
from platform_core.config import load_config
from platform_core.data.loaders import load_dataset
from platform_core.distributions import DiscreteDistribution as D
from platform_core.pipeline import plan_dataset, prepare_components, run
from platform_core.plugin_host import PluginHost
from platform_core.run_context import RunContext
from platform_core.simulation import Network, Policy, simulate
from platform_core.simulation.single_stage import evaluate_base_stock
from platform_core.testing.inputs import StageInput, make_problem, three_stage_problem

SOLVER = {"replications": 30, "periods": 200, "warmup": 30, "search_replications": 2, "search_periods": 150,
          "correlation": "none"}
STORE_MEANS = (4.0, 5.0, 6.0)
TARGET = 0.95


def _write_dataset(root: Path, overrides: str | None, skus: tuple[str, ...] = ("A",)) -> Path:
    """Per SKU a DC (3-week lead time) over three stores (1 week), two years of Poisson demand."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(5)
    stores = [f"S{i}" for i in range(len(STORE_MEANS))]
    (root / "stages.csv").write_text(
        "sku,location,unit_cost,price,carrying_rate,service_target,lead_time_days\n" + "".join(
            f"{k},DC,5,12,0.25,,21\n" + "".join(f"{k},{s},8,12,0.25,{TARGET},\n" for s in stores) for k in skus))
    (root / "edges.csv").write_text(
        "upstream_sku,upstream_location,downstream_sku,downstream_location,quantity_per,transit_days\n"
        + "".join(f"{k},DC,{k},{s},1,7\n" for k in skus for s in stores))
    weeks = np.datetime64("2023-01-02") + 7 * np.arange(104)
    rows = [f"{k},{s},{w},{int(q)}\n" for k in skus for s, mean in zip(stores, STORE_MEANS, strict=True)
            for w, q in zip(weeks, rng.poisson(mean, weeks.size), strict=True)]
    (root / "demand.csv").write_text("sku,location,period,quantity\n" + "".join(rows))
    if overrides is not None:
        (root / "overrides.csv").write_text("sku,location,pinned_level,min_level,max_level,reason\n" + overrides)
    return root


def _config(solver: str = "multi_echelon", **run_opts: object) -> object:
    return load_config(overrides={"run": {"executor": "in_process", **run_opts}, "tracking": {"uri": "none"},
                                  "components": {"solver": solver}, "solver": SOLVER if solver == "multi_echelon"
                                  else {"replications": 30, "periods": 200}})


def _problem(data: Path) -> StageProblem:
    """The batch's StageProblem exactly as the run builds it (one network, one batch)."""
    host = PluginHost()
    config = _config()
    ctx = RunContext(run_id=uuid.uuid4().hex, data_dir=data, out_dir=data / "unused", config=config)
    shared, batches = plan_dataset(load_dataset(data), config, prepare_components(host, config, ctx))
    assert len(batches) == 1
    return stage_problem(shared, np.arange(batches[0].start, batches[0].stop, dtype=np.int64))[0]


def _engine(problem: StageProblem, levels: np.ndarray, seed: int, replications: int) -> dict[str, np.ndarray]:
    """A plain engine run of the problem's network at ``levels`` (no histograms)."""
    n = len(problem.keys)
    arcs = tuple((int(u), d, float(q)) for d in range(n)
                 for u, q in zip(problem.upstream[d], problem.quantity_per[d], strict=True))
    demand = {k: problem.period_demand[k] for k in range(n) if problem.external_demand[k]}
    res = simulate([Network(n, arcs)], [Policy.base_stock(levels)], [demand], lead_times=[list(problem.lead_time)],
                   seeds=np.array([seed], dtype=np.uint64), replications=replications, periods=SOLVER["periods"],
                   warmup=SOLVER["warmup"], backorders=True)
    short = ((1.0 - res.replicates["fill_rate"]) * res.replicates["demand"]).mean(axis=0)  # [units/period]
    return {"fill": res.mean["fill_rate"], "fill_se": res.se["fill_rate"], "on_hand": res.mean["on_hand"],
            "short": short}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The un-pinned run, then the same data with the DC pinned at 60 % of its optimum."""
    base = tmp_path_factory.mktemp("overrides")
    free_data = _write_dataset(base / "free", None)
    free = pq.read_table(run(free_data, base / "out_free", _config(), progress=False).recommendations_path)
    level = dict(zip(free.column("location").to_pylist(), free.column("base_stock_level").to_pylist(), strict=True))
    pin = float(np.floor(0.6 * level["DC"]))
    pinned_data = _write_dataset(base / "pinned", f"A,DC,{pin:g},,,DC space\n")
    result = run(pinned_data, base / "out_pinned", _config(), progress=False)
    summary = json.loads((base / "out_pinned" / "summary.json").read_text())
    return {"free": free, "pinned": pq.read_table(result.recommendations_path), "pin": pin,
            "problem": _problem(pinned_data), "summary": summary}


def _by_location(table: object, column: str) -> dict[str, object]:
    return dict(zip(table.column("location").to_pylist(), table.column(column).to_pylist(), strict=True))


def test_pinned_dc_holds_its_level_and_the_stores_are_reoptimised(runs: dict) -> None:
    free, pinned, pin = _by_location(runs["free"], "base_stock_level"), _by_location(runs["pinned"],
                                                                                      "base_stock_level"), runs["pin"]
    assert pin < free["DC"] and pinned["DC"] == pin
    stores = [k for k in free if k != "DC"]
    # the stores face longer delays from a leaner DC: each holds at least as much, and they differ
    assert all(pinned[s] >= free[s] for s in stores)
    assert sum(pinned[s] for s in stores) > sum(free[s] for s in stores)
    assert all(r == "ok" for r in runs["pinned"].column("status").to_pylist())
    override = _by_location(runs["pinned"], "override")
    assert override == {"DC": f"pinned at {pin:g}", "S0": "", "S1": "", "S2": ""}
    change = _by_location(runs["pinned"], "override_level_change")
    assert change == {k: pinned[k] - free[k] for k in free}


def test_reoptimised_stores_meet_their_targets_on_fresh_paths(runs: dict) -> None:
    problem = runs["problem"]
    loc = {k.split("@")[1]: i for i, k in enumerate(problem.keys)}
    pinned = _by_location(runs["pinned"], "base_stock_level")
    levels = np.array([pinned[name] for name in sorted(loc, key=loc.get)])
    fresh = _engine(problem, levels, seed=987654321, replications=200)
    for name, i in loc.items():
        if name != "DC":
            assert fresh["fill"][i] >= TARGET - 2.0 * fresh["fill_se"][i], (name, fresh["fill"][i])


def test_reported_cost_is_the_difference_of_the_two_solutions_on_common_random_numbers(runs: dict) -> None:
    problem = runs["problem"]
    loc = {k.split("@")[1]: i for i, k in enumerate(problem.keys)}
    order = sorted(loc, key=loc.get)
    seed = int(problem.seeds[0]) & 0x7FFFFFFFFFFFFFFF  # the network's seed: the paths both solutions saw
    totals = {}
    for name in ("free", "pinned"):
        level = _by_location(runs[name], "base_stock_level")
        sim = _engine(problem, np.array([level[k] for k in order]), seed, SOLVER["replications"])
        # the docs' definition: holding cost, plus stockout cost where service is cost-optimal
        priced = np.array([_by_location(runs[name], "service_metric")[k] == "cost" for k in order])
        short = np.where(priced, np.nan_to_num(sim["short"]), 0.0)
        cost = sim["on_hand"] * problem.costs.holding_cost + short * problem.costs.stockout_cost
        totals[name] = (float(cost.sum()), float((sim["on_hand"] * problem.unit_cost).sum()))
    reported = _by_location(runs["pinned"], "override_cost_per_period")
    assert len(set(reported.values())) == 1  # one figure per network, on each of its rows
    extra = totals["pinned"][0] - totals["free"][0]
    assert reported["DC"] == pytest.approx(extra, rel=1e-6, abs=1e-9)
    assert extra > 0.0  # pinned below its optimum, the network costs more
    invest = _by_location(runs["pinned"], "override_investment_change")["DC"]
    assert invest == pytest.approx(totals["pinned"][1] - totals["free"][1], rel=1e-6, abs=1e-9)
    # service: demand-weighted fill of the stores, pinned minus free, from the two outputs
    fills = {}
    for name in ("free", "pinned"):
        fill, dem = (_by_location(runs[name], c) for c in ("expected_fill_rate", "mean_demand_per_period"))
        stores = ("S0", "S1", "S2")
        fills[name] = sum(fill[s] * dem[s] for s in stores) / sum(dem[s] for s in stores)
    service = _by_location(runs["pinned"], "override_service_change")["S1"]
    assert service == pytest.approx(fills["pinned"] - fills["free"], abs=1e-12)
    metrics = runs["summary"]["metrics"]
    assert metrics["overrides"] == 1 and metrics["overrides_honoured"] == 1
    assert metrics["override_cost_per_period_total"] == pytest.approx(reported["DC"], rel=1e-12)


def test_runs_without_overrides_leave_the_columns_null(runs: dict) -> None:
    free = runs["free"]
    for col in ("override", "override_cost_per_period", "override_service_change"):
        assert free.column(col).null_count == free.num_rows


def test_a_solver_that_cannot_honour_overrides_is_refused_at_start(tmp_path: Path) -> None:
    data = _write_dataset(tmp_path / "data", "A,DC,10,,,\n")
    with pytest.raises(ValueError, match=r"solver 'blanket_abc' does not honour overrides, and .*overrides.csv "
                                         r"has 1 row\(s\): use a solver that does"):
        run(data, tmp_path / "out", _config("blanket_abc"), progress=False)
    assert not (tmp_path / "out" / "recommendations.parquet").exists()


def test_same_numbers_whatever_the_batches(tmp_path: Path) -> None:
    """Two networks, an override in one: one batch or one batch per network, the same table."""
    data = _write_dataset(tmp_path / "data", "B,DC,30,,,\nB,S1,,,12,\n", skus=("A", "B"))
    one = run(data, tmp_path / "one", _config(), progress=False)
    many = run(data, tmp_path / "many", _config(batch_stages=1), progress=False)
    assert one.metrics["batches"] == 1 and many.metrics["batches"] == 2
    a, b = pq.read_table(one.recommendations_path), pq.read_table(many.recommendations_path)
    assert a.equals(b)
    cost = a.column("override_cost_per_period").to_pylist()
    assert cost[:4] == [None] * 4 and len(set(cost[4:])) == 1 and cost[4] is not None  # only B's network
    assert a.column("override").to_pylist() == [None] * 4 + ["pinned at 30", "", "max 12", ""]


# ------------------------------------------------------------- solver level ----
SMALL = dict(replications=20, periods=200, warmup=30, search_replications=2, search_periods=150)


def _dc_stores() -> StageProblem:
    st = [StageInput("A@DC", D.poisson(15.0), D.point(3), unit_cost=5.0, holding_cost=0.02, external_demand=False)]
    for i in range(3):
        st.append(StageInput(f"A@S{i}", D.poisson(5.0), D.point(1), unit_cost=8.0, holding_cost=0.03,
                             service_target=0.95, upstream=(0,), quantity_per=(1.0,)))
    return make_problem(st)


def _bounded(problem: StageProblem, lo: list[float], hi: list[float]) -> StageProblem:
    return dataclasses.replace(problem, level_min=np.array(lo, dtype=float), level_max=np.array(hi, dtype=float))


def test_multi_echelon_keeps_every_level_in_its_corridor() -> None:
    problem = _dc_stores()
    free = MultiEchelonSolver(**SMALL).solve(problem).column("base_stock_level").to_numpy()
    nan = np.nan
    # a corridor on the DC below its optimum, a floor on S0, a cap on S1 below what it needs, a loose corridor on S2
    lo = [free[0] - 8, free[1] + 3, nan, free[3] - 3]
    hi = [free[0] - 3, nan, free[2] - 2, free[3] + 30]
    table = MultiEchelonSolver(**SMALL).solve(_bounded(problem, lo, hi))
    level = table.column("base_stock_level").to_numpy()
    assert np.all(level >= np.nan_to_num(lo, nan=0.0)) and np.all(level <= np.nan_to_num(hi, nan=np.inf))
    assert level[2] == hi[2]  # a cap below what the store needs binds and misses its target, and says so
    msg = table.column("message").to_pylist()
    fill = table.column("expected_fill_rate").to_numpy()
    assert fill[2] < 0.95 and f"override max {hi[2]:g}: level {hi[2]:g}, fill {fill[2]:.3f} below its target" in msg[2]
    assert msg[0].startswith(f"override min {lo[0]:g}, max {hi[0]:g}: level {level[0]:g}")
    assert fill[1] >= 0.95  # the other stores still meet their targets
    assert fill[3] >= 0.95  # the free-standing store still meets its target


def test_single_echelon_pins_a_leaf_and_clamps_a_corridor_on_the_same_paths() -> None:
    problem = three_stage_problem()
    solver = SingleEchelonSolver(replications=40, periods=300, warmup=50)
    free = solver.solve(problem)
    level = free.column("base_stock_level").to_numpy()
    nan = np.nan
    pin = level[0] - 2
    table = solver.solve(_bounded(problem, [pin, level[1] + 5, nan], [pin, nan, level[2] + 10]))
    got = table.column("base_stock_level").to_numpy()
    np.testing.assert_array_equal(got, [pin, level[1] + 5, level[2]])
    # the clamped rows' metrics are those of the level on the stage's own paths (a second code path)
    check = evaluate_base_stock(problem.period_demand, problem.lead_time, problem.seeds, got,
                                review_period=problem.review_period, replications=40, periods=300, warmup=50)
    np.testing.assert_allclose(table.column("expected_fill_rate").to_numpy(), check.fill_rate, rtol=1e-12)
    np.testing.assert_allclose(table.column("mean_on_hand").to_numpy(), check.mean_on_hand, rtol=1e-12)
    # the unbound stage is untouched
    assert table.slice(2, 1).select(["expected_fill_rate", "mean_on_hand"]).equals(
        free.slice(2, 1).select(["expected_fill_rate", "mean_on_hand"]))


def test_the_conformance_check_catches_a_solver_that_claims_overrides_but_ignores_them() -> None:
    from platform_core.testing import ComponentUnderTest, checks_for

    class Claims(SingleEchelonSolver):
        def _clamped(self, problem, res):  # type: ignore[no-untyped-def]
            return res  # ignores the corridor

    (check,) = [c for c in checks_for("solver") if c.name == "honours_declared_overrides"]
    small = {"replications": 10, "periods": 100, "warmup": 20}
    with pytest.raises(AssertionError, match=r"base_stock_level of .* expected .*, the level it is pinned at"):
        check(ComponentUnderTest(Claims, small))
    check(ComponentUnderTest(SingleEchelonSolver, small))  # the honest one passes
