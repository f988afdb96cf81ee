"""The ``perishable`` solver: its choice against an exhaustive search scored by the exact DP
(issue 17's acceptance: within 2 % of the best point), fill targets, and a run through the
data contract with a ``shelf_life_periods`` column."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from echelon_solvers.kit.perishable_dp import (
    PerishableInstance,
    base_stock_orders,
    evaluate_policies,
)
from echelon_solvers.perishable import PerishableSolver

from platform_core.components import StageProblem
from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.distributions import DiscreteDistribution
from platform_core.testing.inputs import StageInput, make_problem

HOLD, SHORT, UNIT = 1.0, 8.0, 4.0  # [currency/unit/period], [currency/unit short], waste = unit cost [currency/unit]
LEVELS = range(0, 13)


def _problem(cases: list[tuple[float, int, int, float]]) -> StageProblem:
    """Stages of (mean Poisson demand, lead time, shelf life, fill target or NaN)."""
    stages = [StageInput(f"s{k}@x", DiscreteDistribution.poisson(mu), DiscreteDistribution.point(lead),
                         unit_cost=UNIT, holding_cost=HOLD, stockout_cost=SHORT, service_target=target)
              for k, (mu, lead, _, target) in enumerate(cases)]
    return dataclasses.replace(make_problem(stages), shelf_life=np.array([float(c[2]) for c in cases]))


def _exhaustive(mu: float, lead: int, life: int, issuing: str) -> dict[tuple[bool, int], object]:
    inst = PerishableInstance(DiscreteDistribution.poisson(mu), life, lead, holding=HOLD, shortage=SHORT, waste=UNIT,
                              issuing=issuing, max_order=12)
    keys = [(wa, s) for wa in (False, True) for s in LEVELS]
    return dict(zip(keys, evaluate_policies(inst, [base_stock_orders(inst, s, wa) for wa, s in keys]), strict=True))


def _choice(row: dict) -> tuple[bool, int]:
    return "expected waste" in row["message"], int(row["base_stock_level"])


@pytest.mark.parametrize(("lead", "life", "issuing"), [(1, 3, "fifo"), (0, 2, "lifo")])
def test_cost_mode_is_within_two_percent_of_the_exhaustive_dp_optimum(lead: int, life: int, issuing: str) -> None:
    """Acceptance (issue 17): the solver's policy, scored by the exact DP, costs within 2 % of the
    best (rule, level) of an exhaustive search scored by the same DP."""
    table = PerishableSolver(target_mode="cost", issuing=issuing, backorders=False).solve(_problem([(3.0, lead, life, np.nan)]))
    row = table.to_pylist()[0]
    exact = _exhaustive(3.0, lead, life, issuing)
    best = min(e.cost for e in exact.values())  # type: ignore[attr-defined]
    chosen = exact[_choice(row)]
    assert chosen.cost <= 1.02 * best  # type: ignore[attr-defined]
    # the output's waste figures are the chosen policy's (simulated; the DP's exact values within 10 %)
    assert row["expected_outdated_per_period"] == pytest.approx(chosen.outdated, rel=0.1, abs=0.01)  # type: ignore[attr-defined]
    assert row["waste_cost_per_period"] == pytest.approx(UNIT * row["expected_outdated_per_period"])


def test_fill_target_is_met_at_least_holding_and_waste() -> None:
    """Target 0.95: the chosen policy meets it (exactly, by the DP, up to 1 pp of simulation noise) and no
    (rule, level) meeting it by the DP holds + wastes clearly less."""
    table = PerishableSolver(issuing="fifo", backorders=False).solve(_problem([(3.0, 1, 3, 0.95)]))
    row = table.to_pylist()[0]
    exact = _exhaustive(3.0, 1, 3, "fifo")
    chosen = exact[_choice(row)]
    assert row["expected_fill_rate"] >= 0.95
    assert chosen.fill_rate >= 0.94  # type: ignore[attr-defined]
    upkeep = {k: HOLD * e.on_hand + UNIT * e.outdated for k, e in exact.items() if e.fill_rate >= 0.95}  # type: ignore[attr-defined]
    assert HOLD * chosen.on_hand + UNIT * chosen.outdated <= 1.05 * min(upkeep.values())  # type: ignore[attr-defined]


def test_short_shelf_life_wastes_more_and_stocks_less() -> None:
    table = PerishableSolver(target_mode="cost", replications=10, backorders=False).solve(
        _problem([(3.0, 1, 2, np.nan), (3.0, 1, 6, np.nan), (3.0, 1, 0, np.nan)]))
    rows = table.to_pylist()
    assert rows[0]["expected_outdated_per_period"] > rows[1]["expected_outdated_per_period"] > 0.0
    assert rows[2]["expected_outdated_per_period"] == 0.0 and rows[2]["message"] == ""  # 0: never outdates
    assert rows[0]["base_stock_level"] <= rows[1]["base_stock_level"]


def test_run_reads_shelf_life_from_the_stages_table(tmp_path: Path) -> None:
    from platform_core.pipeline import run

    data = tmp_path / "data"
    generate_dataset(data, sku_locations=6, seed=3, overwrite=True)
    stages = pq.read_table(data / "stages.parquet")
    life = pa.array([2 if k % 2 == 0 else None for k in range(stages.num_rows)], pa.int64())
    pq.write_table(stages.append_column("shelf_life_periods", life), data / "stages.parquet")
    config = load_config(overrides={
        "run": {"executor": "in_process"}, "tracking": {"uri": "none"},
        "components": {"solver": "perishable"}, "solver": {"replications": 4, "periods": 100, "warmup": 20}})
    result = run(data, tmp_path / "out", config, overwrite=True)
    rec = pq.read_table(result.recommendations_path)
    assert pc.all(pc.equal(rec["status"], "ok")).as_py()
    outdated = rec["expected_outdated_per_period"].to_pylist()
    messages = rec["message"].to_pylist()
    assert all(v is not None and v >= 0 for v in outdated)
    assert sum("perishable: shelf life 2 periods" in m for m in messages) == sum(v is not None for v in life.to_pylist())


def test_bad_shelf_life_in_the_data_is_named(tmp_path: Path) -> None:
    from platform_core.data.loaders import load_dataset

    data = tmp_path / "data"
    generate_dataset(data, sku_locations=3, seed=3, overwrite=True)
    stages = pq.read_table(data / "stages.parquet")
    pq.write_table(stages.append_column("shelf_life_periods", pa.array([3, 0, 2], pa.int64())), data / "stages.parquet")
    with pytest.raises(Exception, match="shelf_life_periods") as err:
        load_dataset(data)
    assert "row" in str(err.value)


def test_todays_base_stock_is_simulated_on_the_solvers_paths() -> None:
    """evaluate_policies at the recommended level gives the recommendation's own fill (same seeds, same model)."""
    from platform_core.components import StagePolicies

    problem = _problem([(3.0, 1, 3, 0.9), (5.0, 0, 2, 0.9)])
    solver = PerishableSolver(waste_adjusted=False)
    rows = solver.solve(problem).to_pylist()
    level = np.array([r["base_stock_level"] for r in rows])
    today = solver.evaluate_policies(problem, StagePolicies(
        kind=["base_stock", "sS"], reorder_point=np.array([np.nan, 3.0]), order_up_to=level,
        order_quantity=np.full(2, np.nan))).to_pylist()
    assert today[0]["fill_rate"] == pytest.approx(rows[0]["expected_fill_rate"], rel=1e-12)  # same paths
    assert today[0]["on_hand"] == pytest.approx(rows[0]["mean_on_hand"], rel=1e-12)
    assert np.isnan(today[1]["fill_rate"])  # (s, S) with a shelf life: not modelled


def test_a_stage_does_not_depend_on_its_batch() -> None:
    """Same seed, same numbers: a stage solved with others or alone gets the same row."""
    problem = _problem([(3.0, 1, 3, 0.9), (40.0, 2, 4, np.nan)])
    both = PerishableSolver(replications=5, backorders=False).solve(problem).to_pylist()
    sub = dataclasses.replace(problem, keys=problem.keys[1:], period_demand=problem.period_demand[1:],
                              lead_time=problem.lead_time[1:], review_period=problem.review_period[1:],
                              unit_cost=problem.unit_cost[1:], costs=dataclasses.replace(
                                  problem.costs, **{f.name: getattr(problem.costs, f.name)[1:]
                                                    for f in dataclasses.fields(problem.costs)
                                                    if isinstance(getattr(problem.costs, f.name), np.ndarray)}),
                              service_target=problem.service_target[1:], upstream=problem.upstream[1:],
                              quantity_per=problem.quantity_per[1:], seeds=problem.seeds[1:],
                              shelf_life=problem.shelf_life[1:])  # type: ignore[index]
    one = PerishableSolver(replications=5, backorders=False).solve(sub).to_pylist()[0]
    assert one["message"] == both[1]["message"]
    for col in ("base_stock_level", "expected_outdated_per_period", "mean_on_hand", "expected_fill_rate"):
        assert one[col] == pytest.approx(both[1][col], rel=1e-12)
