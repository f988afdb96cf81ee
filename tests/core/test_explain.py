"""Why this level: the stock split and the safety stock by cause (platform_core.explain).

The analytic safety stocks are checked against scipy.stats computed directly and against
the Monte Carlo engine (a second, independent method); the run's columns against the
input files read on their own.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scipy import stats

from platform_core.components import RECOMMENDATION_SCHEMA, StageCosts, StageProblem
from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.distributions import DiscreteDistribution
from platform_core.explain import (
    EXPLANATION_COLUMNS,
    analytic_safety_stock,
    explain_levels,
    stock_level,
)
from platform_core.pipeline import run
from platform_core.simulation.single_stage import (
    TARGET_COST,
    TARGET_CYCLE,
    TARGET_FILL,
    optimise_base_stock,
)
from platform_core.summary import summarise

PARTS = ("safety_stock_from_demand_variability", "safety_stock_from_lead_time_variability",
         "safety_stock_from_review_and_lot_size", "safety_stock_from_upstream", "safety_stock_from_other")
SOLVER_SIZES = {
    "single_echelon": {"replications": 10, "periods": 120},
    "multi_echelon": {"replications": 4, "periods": 120, "search_replications": 1, "search_periods": 80},
}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "data"
    generate_dataset(out, sku_locations=36, seed=5)
    return out


@pytest.fixture(scope="module", params=sorted(SOLVER_SIZES))
def solved(request: pytest.FixtureRequest, small_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    solver = request.param
    config = load_config(overrides={"run": {"executor": "in_process", "seed": 3}, "tracking": {"uri": "none"},
                                    "components": {"solver": solver}, "solver": SOLVER_SIZES[solver]})
    out = tmp_path_factory.mktemp(f"explain_{solver}") / "out"
    result = run(small_dataset, out, config)
    rec = pq.read_table(result.recommendations_path)
    return solver, rec.filter(pc.equal(rec["status"], "ok")), out, small_dataset


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False).astype(np.float64)


def test_the_causes_add_up_to_the_safety_stock_on_every_ok_row(solved) -> None:
    solver, ok, _, _ = solved
    assert ok.num_rows > 30
    total = sum(_np(ok, name) for name in PARTS)
    ss = _np(ok, "safety_stock")
    np.testing.assert_allclose(total, ss, rtol=0, atol=1e-9 * max(1.0, float(np.abs(ss).max())))
    for name in EXPLANATION_COLUMNS:
        assert ok[name].null_count == 0 or name.startswith("days_of_supply"), name
    upstream = _np(ok, "safety_stock_from_upstream")
    if solver == "single_echelon":  # each stage alone with a reliable supplier: nothing upstream
        assert np.all(upstream == 0.0)
    else:  # the network solver: stages supplied by a DC owe it their difference, others nothing
        assert np.any(upstream != 0.0)
        assert np.all((upstream == 0.0) | (_np(ok, "safety_stock_from_other") == 0.0))


def test_stock_split_and_money_follow_the_input_files(solved) -> None:
    _, ok, out, data = solved
    stages = pq.read_table(data / "stages.parquet").to_pandas().set_index(["sku", "location"])
    rec = ok.to_pandas().set_index(["sku", "location"])
    inp = stages.loc[rec.index]
    level = rec["base_stock_level"]
    np.testing.assert_allclose(rec["investment_at_level"], level * inp["unit_cost"], rtol=1e-12)
    np.testing.assert_allclose(rec["safety_stock_value"], rec["safety_stock"] * inp["unit_cost"], rtol=1e-12)
    mu = rec["mean_demand_per_period"]
    np.testing.assert_allclose(rec["pipeline_stock"], mu * rec["mean_lead_time_periods"], rtol=1e-12)
    np.testing.assert_allclose(rec["cycle_stock"], mu * (inp["review_period"].fillna(1) - 1) / 2, rtol=1e-12)
    daily = mu / 7.0  # the default period of 7 days
    has = daily > 0
    np.testing.assert_allclose(rec["days_of_supply_level"][has], (level / daily)[has], rtol=1e-12)
    np.testing.assert_allclose(rec["days_of_supply_safety_stock"][has], (rec["safety_stock"] / daily)[has],
                               rtol=1e-12)
    summary = json.loads((out / "summary.json").read_text())["metrics"]
    assert summary["investment_at_level_currency"] == pytest.approx(float((level * inp["unit_cost"]).sum()))
    assert summary["expected_on_hand_value_currency"] == summary["inventory_investment_currency"]
    assert summary["expected_on_hand_value_currency"] == pytest.approx(float(rec["inventory_investment"].sum()))


def _units(x: float) -> str:  # docs/explain.md: one decimal below 10 units, whole units above
    return f"{x:,.1f}" if abs(x) < 10 else f"{x:,.0f}"


def test_the_sentence_carries_the_rows_numbers(solved) -> None:
    _, ok, _, _ = solved
    levelled = 0
    for row in ok.slice(0, 12).to_pylist():
        text = row["explanation"]
        if row["base_stock_level"] <= 0 and text.startswith("Holds no stock"):
            assert "lead time" in text  # an internal stage the network solver left empty
            continue
        levelled += 1
        assert text.startswith(f"Level {_units(row['base_stock_level'])} units"), text
        assert f"{_units(row['pipeline_stock'])} in transit" in text
        assert f"{_units(row['safety_stock'])} safety stock" in text
        assert f"{_units(row['safety_stock_from_demand_variability'])} demand swings" in text
        assert f"{_units(row['safety_stock_from_lead_time_variability'])} late deliveries" in text
        if row["days_of_supply_level"] is not None:
            assert f"({row['days_of_supply_level']:,.1f} days of demand)" in text
    assert levelled >= 6


# ---- the analytic quantities against independent computations --------------------------
@pytest.mark.parametrize(("mean", "lead", "target"), [(4.0, 3, 0.95), (0.7, 1, 0.9), (25.0, 5, 0.98),
                                                       (3000.0, 4, 0.95)])  # the last by FFT
def test_demand_part_is_the_poisson_quantile_minus_its_mean(mean: float, lead: int, target: float) -> None:
    ss_d, ss_dl, _ = analytic_safety_stock(DiscreteDistribution.poisson(mean), DiscreteDistribution.point(lead), 1,
                                           "cycle_service", target)
    span = mean * (lead + 1)
    assert ss_d == pytest.approx(stats.poisson.ppf(target, span) - span, abs=1e-6)  # truncated tail
    assert ss_dl == ss_d  # a fixed lead time adds nothing


def test_fill_rate_level_matches_the_poisson_loss_formula() -> None:
    # fill(S) = 1 - (E(X_{L+1} - S)+ - E(X_L - S)+) / mu, X_n ~ Poisson(n mu), from scipy
    mu, lead, target = 3.0, 2, 0.97
    k = np.arange(0, 200)

    def loss(n: int, s: int) -> float:
        return float(np.dot(np.maximum(k - s, 0), stats.poisson.pmf(k, n * mu)))

    level = next(s for s in range(200) if 1.0 - (loss(lead + 1, s) - loss(lead, s)) / mu >= target)
    ss_d, _, _ = analytic_safety_stock(DiscreteDistribution.poisson(mu), DiscreteDistribution.point(lead), 1,
                                       "fill_rate", target)
    assert ss_d == pytest.approx(level - mu * (lead + 1), abs=1e-9)


def test_normal_demand_part_is_the_normal_quantile_minus_its_mean() -> None:
    # 4 periods of N(50, 10): N(200, 20); the discretised PMF's quantile within one unit
    ss_d, _, _ = analytic_safety_stock(DiscreteDistribution.normal(50.0, 10.0), DiscreteDistribution.point(3), 1,
                                       "cycle_service", 0.95)
    assert abs(ss_d - 20.0 * stats.norm.ppf(0.95)) <= 1.0


def test_lead_time_part_is_zero_when_fixed_and_positive_when_variable() -> None:
    demand = DiscreteDistribution.poisson(5.0)
    for metric in ("cycle_service", "fill_rate", "cost"):
        ss_d, ss_dl, _ = analytic_safety_stock(demand, DiscreteDistribution.point(3), 2, metric, 0.95, 1.0, 9.0)
        assert ss_dl - ss_d == 0.0, metric
        variable = DiscreteDistribution(np.full(5, 0.2), 1)  # 1..5 periods, mean 3 like the fixed one
        ss_d, ss_dl, _ = analytic_safety_stock(demand, variable, 2, metric, 0.95, 1.0, 9.0)
        assert ss_dl - ss_d > 0.0, metric


@pytest.mark.parametrize(("metric", "mode"), [("cycle_service", TARGET_CYCLE), ("fill_rate", TARGET_FILL),
                                              ("cost", TARGET_COST)])
def test_analytic_level_matches_the_simulation_with_random_lead_times(metric: str, mode: int) -> None:
    # the engine simulates orders that cross; the analytic formula must be the same model
    cases = [(DiscreteDistribution.poisson(4.0), DiscreteDistribution(np.full(5, 0.2), 1), 1),
             (DiscreteDistribution.normal(20.0, 12.0), DiscreteDistribution([0.1, 0.3, 0.3, 0.2, 0.1], 0), 2),
             (DiscreteDistribution.poisson(1.5), DiscreteDistribution([0.5, 0.0, 0.0, 0.5], 2), 3)]
    res = optimise_base_stock(
        [c[0] for c in cases], [c[1] for c in cases], np.array([11, 12, 13], dtype=np.uint64),
        mode=np.full(3, mode), target=np.full(3, 0.95), holding_cost=np.ones(3), stockout_cost=np.full(3, 9.0),
        review_period=np.array([c[2] for c in cases]), replications=100, periods=1000, warmup=50,
    )
    for (demand, lead, review), simulated in zip(cases, res.base_stock_level, strict=True):
        _, _, ss = analytic_safety_stock(demand, lead, review, metric, 0.95, 1.0, 9.0)
        level = ss + demand.mean() * (lead.mean() + review)
        assert abs(level - simulated) <= 1.0, (metric, review, level, simulated)


# ---- explain_levels on a hand-built two-stage network ----------------------------------
def _two_stage_problem() -> StageProblem:
    demand = [DiscreteDistribution.poisson(8.0), DiscreteDistribution.poisson(4.0)]
    lead = [DiscreteDistribution.point(2), DiscreteDistribution([0.5, 0.5], 1)]
    return StageProblem(
        keys=["A@DC", "A@S1"], period_demand=demand, lead_time=lead, review_period=np.array([1, 2]),
        unit_cost=np.array([10.0, 12.0]),
        costs=StageCosts(np.ones(2), np.full(2, 9.0), np.zeros(2), np.full(2, 0.9)),
        service_target=np.array([0.9, 0.95]), upstream=[np.array([], dtype=np.int64), np.array([0])],
        quantity_per=[np.array([]), np.array([1.0])], seeds=np.arange(2, dtype=np.uint64), period_days=7.0,
    )


def _solver_table(level: list[float], problem: StageProblem, kind: str = "base_stock") -> pa.Table:
    mu = np.array([d.mean() for d in problem.period_demand])
    lt = np.array([x.mean() for x in problem.lead_time])
    lv = np.array(level)
    return pa.table({"policy_type": [kind] * 2, "service_metric": ["cycle_service", "fill_rate"],
                     "service_target": [0.9, 0.95], "target_source": ["network", "input"],
                     "base_stock_level": lv, "order_up_to": lv,
                     "safety_stock": lv - mu * (lt + problem.review_period)})


@pytest.mark.parametrize("network_aware", [True, False])
def test_the_residual_goes_upstream_only_for_supplied_stages_of_network_solvers(network_aware: bool) -> None:
    problem = _two_stage_problem()
    out = explain_levels(problem, _solver_table([40.0, 30.0], problem), network_aware=network_aware)
    ss = out["safety_stock"].to_numpy()
    parts = np.vstack([out[p].to_numpy() for p in PARTS])
    np.testing.assert_allclose(parts.sum(axis=0), ss, rtol=0, atol=1e-12)
    store_up, store_other = out["safety_stock_from_upstream"][1].as_py(), out["safety_stock_from_other"][1].as_py()
    analytic = analytic_safety_stock(problem.period_demand[1], problem.lead_time[1], 2, "fill_rate", 0.95)[2]
    residual = ss[1] - analytic
    assert (store_up, store_other) == ((residual, 0.0) if network_aware else (0.0, residual))
    assert out["safety_stock_from_upstream"][0].as_py() == 0.0  # the DC has no upstream stage
    assert out["investment_at_level"].to_pylist() == [400.0, 360.0]


def test_rows_without_a_level_get_nulls_and_echelon_levels_are_priced_per_installation() -> None:
    problem = _two_stage_problem()
    table = _solver_table([math.nan, 30.0], problem).append_column("explanation", pa.array(["solver's", "own"]))
    out = explain_levels(problem, table, network_aware=True)
    assert out.column_names.count("explanation") == 1  # a solver's column of that name is replaced
    assert all(out[name][0].as_py() is None for name in EXPLANATION_COLUMNS)
    assert out["explanation"][1].as_py() is not None
    # echelon base stock: the DC's installation level is its echelon level minus the store's
    level = stock_level(["echelon_base_stock"] * 2, np.array([70.0, 30.0]), np.array([70.0, 30.0]),
                        problem.upstream)
    assert level.tolist() == [40.0, 30.0]


def test_summary_names_both_investments_and_tolerates_old_tables() -> None:
    cols = {f.name: pa.nulls(2, f.type) for f in RECOMMENDATION_SCHEMA}
    cols["status"] = pa.array(["ok", "error"])
    cols["mean_demand_per_period"] = pa.array([1.0, 1.0])
    cols["inventory_investment"] = pa.array([5.0, 7.0])
    cols["investment_at_level"] = pa.array([50.0, 70.0])
    table = pa.table(cols, schema=RECOMMENDATION_SCHEMA)
    m = summarise(table)
    assert (m["investment_at_level_currency"], m["expected_on_hand_value_currency"]) == (50.0, 5.0)
    assert math.isnan(summarise(table.drop_columns(["investment_at_level"]))["investment_at_level_currency"])


def test_an_empty_internal_stage_is_explained_as_a_pass_through():
    """A DC the network solver leaves at level 0: no demand/lead-time parts, a plain sentence."""
    from platform_core.distributions import DiscreteDistribution
    from platform_core.explain import explain_levels
    from platform_core.testing.inputs import StageInput, make_problem

    d = DiscreteDistribution.poisson(20.0)
    problem = make_problem([
        StageInput("DC@X", d.convolve(d), DiscreteDistribution.point(3), unit_cost=5.0, holding_cost=0.1,
                   stockout_cost=0.0, service_target=float("nan")),
        StageInput("S@Y", d, DiscreteDistribution.point(1), unit_cost=8.0, holding_cost=0.1, stockout_cost=1.0,
                   service_target=0.95, upstream=(0,), quantity_per=(1.0,), external_demand=True),
    ], run_seed=3)
    # the levels a network solver could return: the DC empty, the store covering the delay
    table = pa.table({"policy_type": ["base_stock"] * 2, "service_metric": ["fill_rate"] * 2,
                      "service_target": [0.0, 0.95], "target_source": ["network", "input"],
                      "base_stock_level": [0.0, 120.0], "order_up_to": [0.0, 120.0],
                      "safety_stock": [0.0 - 40.0 * 4, 120.0 - 20.0 * 2]})
    out = explain_levels(problem, table, network_aware=True).to_pylist()
    dc = out[0]
    assert dc["safety_stock_from_demand_variability"] == 0.0 and dc["safety_stock_from_lead_time_variability"] == 0.0
    parts = sum(dc[c] for c in dc if c.startswith("safety_stock_from_"))
    assert parts == pytest.approx(dc["safety_stock"], abs=1e-9) and dc["safety_stock_from_other"] == -160.0
    assert dc["explanation"].startswith("Holds no stock") and "lead time 21 days" in dc["explanation"]
    assert "passes its customers' orders" in dc["explanation"]
    assert out[1]["explanation"].startswith("Level 120")
