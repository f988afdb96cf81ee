"""Monte Carlo check of GSM policies: realised service against analytic values and targets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
from echelon_solvers.gsm import (
    StageTimeDistribution,
    add_gsm_commands,
    check_solution,
    load_network,
    network_from_dict,
    retune_safety_stock,
    solve_gsm,
    stage_time_distributions,
)

from platform_core.distributions import DiscreteDistribution

ROOT = Path(__file__).resolve().parents[2]


def _single(t: float = 4, mu: float = 20, sd: float = 5, z: float = 1.0) -> dict:
    return {"stages": [{"id": "s", "stage_time": t, "stage_cost": 1.0, "is_demand_stage": True,
                        "avg_demand": mu, "std_demand": sd, "z": z, "max_service_time": 0}],
            "edges": []}


SERIAL = {
    "stages": [
        {"id": "part", "stage_time": 6, "stage_cost": 5.0, "stage_time_type": "discrete",
         "stage_time_distribution": [[3, 0.5], [9, 0.5]]},
        {"id": "plant", "stage_time": 3, "stage_cost": 20.0, "stage_time_type": "normal",
         "stage_time_std": 1.5},
        {"id": "dc", "stage_time": 2, "stage_cost": 1.0, "stage_time_type": "deterministic"},
        {"id": "shop", "stage_time": 1, "stage_cost": 0.5, "is_demand_stage": True,
         "avg_demand": 40, "std_demand": 12, "service_level": 0.95, "max_service_time": 0},
        {"id": "shop2", "stage_time": 2, "stage_cost": 0.5, "is_demand_stage": True,
         "avg_demand": 10, "std_demand": 6, "service_level": 0.9, "max_service_time": 0},
    ],
    "edges": [
        {"source": "part", "target": "plant", "multiplicity": 2},
        {"source": "plant", "target": "dc"},
        {"source": "dc", "target": "shop"},
        {"source": "dc", "target": "shop2"},
    ],
}


def _demand_over(mu: float, sd: float, periods: int) -> DiscreteDistribution:
    one = DiscreteDistribution.normal(mu, sd)
    out = one
    for _ in range(periods - 1):
        out = out.convolve(one)
    return out


def test_single_stage_matches_exact_cycle_service_and_fill_rate() -> None:
    net = network_from_dict(_single(), "one")
    sol = solve_gsm(net, 0.25)
    level = float(np.ceil(sol.base_stock[0]))
    assert level == 90.0  # 20 x 4 + 1.0 x 5 x sqrt(4)
    rep = check_solution(net, sol, replications=20, periods=4000, seed=3)
    row = rep.table.to_pylist()[0]
    # independent: demand over the 4-day net replenishment time, convolved exactly
    x4, x3 = _demand_over(20, 5, 4), _demand_over(20, 5, 3)
    csl = x4.cdf(level)
    fill = 1.0 - (x4.expected_shortfall(level) - x3.expected_shortfall(level)) / 20.0
    assert abs(row["cycle_service_level"] - csl) <= 3 * row["cycle_service_level_se"] + 1e-3
    assert abs(row["fill_rate"] - fill) <= 3 * row["fill_rate_se"] + 1e-3
    assert row["target"] == pytest.approx(NormalDist().cdf(1.0))
    assert abs(row["cycle_service_level"] - NormalDist().cdf(1.0)) < 0.03  # rounding of B only
    assert row["level_units"] == level and row["review_allowance_units"] == 0.0


def test_demand_stage_service_time_is_service_within_s() -> None:
    doc = _single(t=5, z=1.645)
    doc["stages"][0]["max_service_time"] = 2
    net = network_from_dict(doc, "late")
    sol = solve_gsm(net, 0.25)
    assert sol.service_times[0] == 2 and sol.net_replenishment_times[0] == 3
    level = float(np.ceil(sol.base_stock[0]))
    row = check_solution(net, sol, replications=20, periods=4000, seed=5).table.to_pylist()[0]
    csl = _demand_over(20, 5, 3).cdf(level)  # delivery within 2 days: demand over NRT = 3 days
    assert abs(row["cycle_service_level"] - csl) <= 3 * row["cycle_service_level_se"] + 1e-3
    assert row["service_time_days"] == 2 and row["review_allowance_units"] == 0.0
    # a stage time too short to absorb S + 1 period: the level gets the GSM allowance
    doc["stages"][0]["stage_time"] = 2
    net2 = network_from_dict(doc, "short")
    sol2 = solve_gsm(net2, 0.25)
    assert sol2.service_times[0] == 2 and sol2.base_stock[0] == 0
    row2 = check_solution(net2, sol2, replications=10, periods=2000).table.to_pylist()[0]
    assert row2["review_allowance_units"] == pytest.approx(20 + 1.645 * 5)
    assert abs(row2["cycle_service_level"] - _demand_over(20, 5, 1).cdf(row2["level_units"])) < 0.02


def test_stochastic_stage_time_lowers_service_and_point_mass_changes_nothing() -> None:
    net = network_from_dict(_single(t=4, z=1.645), "one")
    sol = solve_gsm(net, 0.25)
    kw = {"replications": 10, "periods": 3000, "seed": 1}
    fixed = check_solution(net, sol, **kw).table.to_pylist()[0]
    point = StageTimeDistribution("discrete", 4.0, 0.0, (4.0,), (1.0,))
    same = check_solution(net, sol, stage_time_distributions={"s": point}, **kw).table.to_pylist()[0]
    assert same["cycle_service_level"] == pytest.approx(fixed["cycle_service_level"], abs=1e-12)
    spread = StageTimeDistribution("discrete", 4.0, 3.0, (1.0, 7.0), (0.5, 0.5))
    late = check_solution(net, sol, stage_time_distributions={"s": spread}, **kw).table.to_pylist()[0]
    assert late["cycle_service_level"] < fixed["cycle_service_level"] - 0.05
    assert late["significantly_below"]


def test_stage_time_distributions_from_json_and_periods() -> None:
    d = stage_time_distributions(SERIAL)
    assert set(d) == {"part", "plant"}
    assert d["part"].kind == "discrete" and d["part"].mean == pytest.approx(6.0)
    assert d["part"].std == pytest.approx(3.0)
    assert d["plant"].kind == "normal" and d["plant"].std == 1.5
    pmf = d["part"].in_periods(1.0)
    assert pmf.mean() == pytest.approx(6.0) and pmf.cdf(3) == pytest.approx(0.5)
    shifted = d["part"].in_periods(1.0, shift=1)
    assert shifted.mean() == pytest.approx(5.0)
    half = d["part"].in_periods(0.5)
    assert half.mean() == pytest.approx(12.0)
    bad = {"stages": [{"id": "a", "stage_time": 2, "stage_cost": 1, "stage_time_type": "discrete",
                       "stage_time_distribution": [[1, 0.5], [3, 0.2]]}]}
    with pytest.raises(ValueError, match="'a'.*stage_time_distribution"):
        stage_time_distributions(bad)


def test_retune_meets_target_minimally_and_never_lowers() -> None:
    net = network_from_dict(SERIAL, "serial")
    sol = solve_gsm(net, 0.25)
    dists = stage_time_distributions(SERIAL)
    kw = {"stage_time_distributions": dists, "replications": 6, "periods": 1500, "seed": 7}
    before = check_solution(net, sol, **kw)
    assert before.totals["n_meeting_target"] < 2  # late parts break the guarantee
    levels, after = retune_safety_stock(net, sol, holding_rate=0.25, **kw)
    rows = after.table.to_pylist()
    idx = [net.ids.index(r["stage"]) for r in rows]
    assert [r["stage"] for r in rows] == ["shop", "shop2"]
    for r, j in zip(rows, idx, strict=True):
        assert r["cycle_service_level"] >= r["target"]
        assert r["meets_target"]
        assert levels[j] >= before.levels[j]
    # upstream levels untouched
    others = [j for j in range(net.n_stages) if j not in idx]
    assert np.array_equal(levels[others], before.levels[others])
    # minimal: one unit less at a raised stage misses the target (same random numbers)
    for r, j in zip(rows, idx, strict=True):
        if r["extra_units"] > 0:
            lower = levels.copy()
            lower[j] -= 1
            chk = check_solution(net, sol, levels=lower, **kw).table.to_pylist()
            assert chk[idx.index(j)]["cycle_service_level"] < r["target"]
    # the reported cost is holding rate x cumulative value x extra units
    extra = levels[idx] - before.levels[idx]
    assert after.totals["extra_safety_stock_units"] == pytest.approx(extra.sum())
    assert after.totals["extra_cost_per_year"] == pytest.approx(0.25 * float(np.dot(extra, net.value[idx])))
    doc = after.to_dict()
    json.dumps(doc, allow_nan=False)


def test_retune_fill_rate_and_allow_decrease() -> None:
    net = network_from_dict(_single(t=5, z=2.5), "one")
    sol = solve_gsm(net, 0.25)
    kw = {"replications": 6, "periods": 2000, "seed": 2}
    base = check_solution(net, sol, metric="fill_rate", **kw)
    assert base.table.to_pylist()[0]["fill_rate"] > 0.99
    levels, rep = retune_safety_stock(net, sol, 0.95, metric="fill_rate", allow_decrease=True, **kw)
    row = rep.table.to_pylist()[0]
    assert row["fill_rate"] >= 0.95 and levels[0] < base.levels[0]
    assert levels[0] >= np.ceil(sol.base_stock[0] - sol.safety_stock[0])
    lower = levels.copy()
    lower[0] -= 1
    assert check_solution(net, sol, levels=lower, metric="fill_rate", **kw).table.to_pylist()[0]["fill_rate"] < 0.95


def test_bad_input() -> None:
    net = network_from_dict(_single(), "one")
    other = solve_gsm(network_from_dict(SERIAL, "serial"), 0.25)
    with pytest.raises(ValueError, match="do not match"):
        check_solution(net, other)
    sol = solve_gsm(net, 0.25)
    with pytest.raises(ValueError, match="period_days"):
        check_solution(net, sol, period_days=0)
    with pytest.raises(ValueError, match="metric"):
        check_solution(net, sol, metric="ready")
    with pytest.raises(ValueError, match="unknown stage"):
        check_solution(net, sol, stage_time_distributions={"x": StageTimeDistribution("normal", 1, 1)})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="echelon")
    add_gsm_commands(parser.add_subparsers(dest="command"))
    return parser


def test_cli_check_and_retune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "serial.json"
    path.write_text(json.dumps(SERIAL))
    base = ["gsm", "solve", str(path), "--holding-rate", "0.25"]
    args = _parser().parse_args(base)
    assert args.func(args) == 0
    assert "Monte Carlo" not in capsys.readouterr().out
    args = _parser().parse_args(base + ["--check", "--mc-replications", "4", "--mc-periods", "800"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "Monte Carlo check" in out and "shop2" in out and "target" in out
    args = _parser().parse_args(base + ["--json", "--retune", "--mc-replications", "4",
                                        "--mc-periods", "800"])
    assert args.func(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r["stage"] for r in doc["mc_check"]["demand_stages"]} == {"shop", "shop2"}
    assert doc["mc_check"]["settings"]["stochastic_stage_times"] == 2
    assert all(r["meets_target"] for r in doc["mc_retune"]["demand_stages"])
    assert doc["mc_retune"]["totals"]["extra_cost_per_year"] >= 0
    args = _parser().parse_args(base + ["--json"])
    assert args.func(args) == 0
    assert "mc_check" not in json.loads(capsys.readouterr().out)


def test_real_chain_stage_times_lower_service(shared_data) -> None:
    path = shared_data.path("willems2008/chain_01.json")
    net = load_network(path)
    sol = solve_gsm(net, 0.25, time_limit=5)
    kw = {"replications": 6, "periods": 1500, "seed": 0}
    fixed = check_solution(net, sol, **kw).table.to_pylist()
    real = check_solution(net, sol, stage_time_distributions=stage_time_distributions(path),
                          **kw).table.to_pylist()
    assert [r["stage"] for r in real] == ["Retail_0001", "Retail_0002", "Retail_0003"]
    for f, r in zip(fixed, real, strict=True):
        assert r["cycle_service_level"] < f["cycle_service_level"]
        assert r["target"] == pytest.approx(0.95, abs=1e-6)


def test_bulldozer_fixed_times_close_to_target(shared_data) -> None:
    net = load_network(shared_data.path("gsm_reference/bulldozer.json"))
    sol = solve_gsm(net, 0.3)
    rep = check_solution(net, sol, replications=10, periods=2000)
    row = rep.table.to_pylist()[0]
    assert row["stage"] == "Final_Assembly"
    assert abs(row["cycle_service_level"] - row["target"]) < 0.03


def test_docs_snippet_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "docs" / "gsm.md").read_text()
    section = text[text.index("## Monte Carlo check"):]
    code = section[section.index("```python") + len("```python"):]
    code = code[:code.index("```")]
    exec(compile(code, "docs/gsm.md", "exec"), {})
    out = capsys.readouterr().out
    assert "shop" in out and "target" in out
    assert "0.766" in out and "51.0 388.875" in out  # the figures quoted in the docs (their precision)
