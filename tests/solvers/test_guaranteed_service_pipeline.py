"""``solver = "guaranteed_service"`` through the pipeline: the bulldozer through the data contract,
quantile demand bounds against hand enumeration, the re-tune, and a generated dataset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from echelon_solvers.gsm.chain_io import moment_history
from echelon_solvers.guaranteed_service import GuaranteedServiceSolver
from scipy import stats

from platform_core.cli import main
from platform_core.components import StageCosts, StageProblem
from platform_core.distributions import DiscreteDistribution

CHAIN = Path(__file__).parents[1] / "reference_data" / "gsm_reference" / "bulldozer.json"
RATE = 0.3  # the bulldozer's holding rate [1/year] (the file's expected.holding_cost_rate)


def _run(data: Path, out: Path, config: Path) -> None:
    code = main(["run", str(data), "--out", str(out), "--config", str(config), "--executor", "in_process",
                 "--tracking-uri", "none"])
    assert code == 0


@pytest.fixture(scope="module")
def bulldozer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bulldozer written as a dataset by `echelon import-chain --dataset`, run with its config
    (normal bound) and with the quantile bound."""
    root = tmp_path_factory.mktemp("bulldozer")
    data = root / "data"
    assert main(["import-chain", str(CHAIN), str(data), "--dataset"]) == 0
    config = data / "echelon.toml"
    _run(data, root / "out_normal", config)
    quantile = root / "quantile.toml"
    quantile.write_text(config.read_text().replace('demand_bound = "normal"', 'demand_bound = "quantile"'))
    _run(data, root / "out_quantile", quantile)
    return {"data": data, "normal": root / "out_normal", "quantile": root / "out_quantile"}


def _chain_solve(capsys: pytest.CaptureFixture[str]) -> dict:
    """`echelon gsm solve bulldozer.json --holding-rate 0.3 --json`."""
    capsys.readouterr()
    assert main(["gsm", "solve", str(CHAIN), "--holding-rate", str(RATE), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_bulldozer_dataset_carries_the_chain_exactly(bulldozer: dict[str, Path]) -> None:
    """The demand history has the chain's mean 5 and sd 3 exactly; lead times are the stage
    times (the final assembly's 4 days less its review day); values are cumulative."""
    demand = pq.read_table(bulldozer["data"] / "demand.parquet")
    q = demand["quantity"].to_numpy()
    assert set(demand["sku"].to_pylist()) == {"Final_Assembly"} and q.size == 730
    assert q.mean() == 5.0 and q.std() == 3.0 and q.min() >= 0 and np.all(q == np.rint(q))
    stages = pq.read_table(bulldozer["data"] / "stages.parquet").to_pylist()
    row = {r["sku"]: r for r in stages}
    assert row["Final_Assembly"]["lead_time_days"] == 3.0 and row["Pin_Assembly"]["lead_time_days"] == 35.0
    assert row["Case&Frame"]["unit_cost"] == 2200 + 605 + 1500  # Case + Frame_Assembly + its own
    assert row["Final_Assembly"]["service_target"] == pytest.approx(stats.norm.cdf(1.645), abs=1e-12)


def test_bulldozer_through_the_data_contract_costs_what_gsm_solve_does(
        bulldozer: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """`echelon run` with solver guaranteed_service (normal bound) on the converted bulldozer: the
    same service times as `echelon gsm solve` on the chain and the same cost, 632,775 per year
    (published 633,000), to float rounding; the Monte Carlo check is on the rows."""
    chain = _chain_solve(capsys)
    rec = pq.read_table(bulldozer["normal"] / "recommendations.parquet").to_pylist()
    assert len(rec) == 22 and {r["status"] for r in rec} == {"ok"}
    ours = {r["sku"]: r for r in rec}
    for st in chain["stages"]:
        assert ours[st["id"]]["committed_service_time_periods"] == st["service_time_days"], st["id"]
        assert ours[st["id"]]["net_replenishment_time_periods"] == st["net_replenishment_time_days"], st["id"]
        # [currency/day] x 365 = [currency/year]
        assert ours[st["id"]]["gsm_safety_stock_cost_per_period"] * 365 == pytest.approx(
            st["cost_per_year"], rel=1e-9, abs=1e-6), st["id"]
    total = sum(r["gsm_safety_stock_cost_per_period"] for r in rec) * 365
    assert total == pytest.approx(chain["total_cost_per_year"], rel=1e-9)
    assert total == pytest.approx(633_000, rel=1e-3)
    final = ours["Final_Assembly"]
    assert "Monte Carlo cycle service" in final["message"]
    assert final["expected_cycle_service"] >= final["service_target"] - 1e-12  # re-tuned if it missed
    assert 0.0 < final["cycle_service_se"] < 0.02


def test_bulldozer_quantile_bound_is_the_integer_quantile_of_the_empirical_demand(
        bulldozer: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """With the quantile bound a stage's safety stock is the 95 % quantile of the learned (here:
    the history's empirical) demand over its NRT, a whole number, minus the mean: each stocked
    stage's GSM cost is recomputed from the history with an independent FFT convolution."""
    chain = _chain_solve(capsys)
    rec = pq.read_table(bulldozer["quantile"] / "recommendations.parquet").to_pylist()
    hist = pq.read_table(bulldozer["data"] / "demand.parquet")["quantity"].to_numpy().astype(int)
    pmf = np.bincount(hist) / hist.size
    stages = {r["sku"]: r for r in pq.read_table(bulldozer["data"] / "stages.parquet").to_pylist()}
    total = 0.0
    for r in rec:
        tau = int(r["net_replenishment_time_periods"])
        h = stages[r["sku"]]["unit_cost"] * RATE / 365.0  # [currency/unit/day]
        if tau == 0:
            assert r["gsm_safety_stock_cost_per_period"] == 0.0
            continue
        size = tau * (pmf.size - 1) + 1
        over = np.fft.irfft(np.fft.rfft(pmf, 2 * size) ** tau, 2 * size)[:size]
        q = int(np.searchsorted(np.cumsum(over), stats.norm.cdf(1.645) - 1e-9))
        assert r["gsm_safety_stock_cost_per_period"] == pytest.approx(h * (q - 5.0 * tau), rel=1e-9), r["sku"]
        total += r["gsm_safety_stock_cost_per_period"] * 365
    # whole-unit quantiles of a near-normal history: within a few % of the z sigma sqrt(NRT) optimum
    assert abs(total / chain["total_cost_per_year"] - 1) < 0.05


def _stage_problem(keys, ups, lead, demand, holding, target, external, seeds) -> StageProblem:
    n = len(keys)
    return StageProblem(
        keys=list(keys), period_demand=list(demand), lead_time=list(lead),
        review_period=np.ones(n, dtype=np.int64), unit_cost=np.asarray(holding, dtype=np.float64) * 10,
        costs=StageCosts(np.asarray(holding, dtype=np.float64), np.full(n, 10.0), np.zeros(n), np.full(n, 0.9)),
        service_target=np.asarray(target, dtype=np.float64),
        upstream=[np.array(u, dtype=np.int64) for u in ups], quantity_per=[np.ones(len(u)) for u in ups],
        seeds=np.asarray(seeds, dtype=np.uint64), external_demand=np.asarray(external, dtype=bool),
    )


@pytest.mark.parametrize("h_up", [0.2, 0.5, 0.9])
def test_quantile_bound_matches_enumeration_with_poisson_quantiles(h_up: float) -> None:
    """Supplier U (lead 3) -> customer-facing D (lead 1 + review 1), Poisson(4), target 0.95, quantile
    bound. For S_U = s: U's NRT is 3 - s, D's 2 + s, and the cost is h (ppf(0.95, 4 NRT) - 4 NRT) at
    each (scipy's Poisson quantiles); the solver's service time and cost are the enumeration's."""
    mu, target = 4.0, 0.95
    d = DiscreteDistribution.poisson(mu)
    pt = DiscreteDistribution.point
    prob = _stage_problem(["u@P", "d@S"], [[], [0]], [pt(3), pt(1)], [d, d], [h_up, 1.0], [np.nan, target],
                          [False, True], [11, 12])
    solver = GuaranteedServiceSolver(replications=4, periods=300, warmup=50, retune=False)
    table = solver.solve(prob)
    (sol,) = solver.solutions_
    assert solver.bounds_ == ["quantile"]

    def ss(nrt: int) -> float:
        return float(stats.poisson.ppf(target, mu * nrt) - mu * nrt) if nrt else 0.0

    cost = {s: h_up * ss(3 - s) + 1.0 * ss(2 + s) for s in range(4)}
    best = min(cost.values())
    assert sol.total_cost == pytest.approx(best, rel=1e-9)
    s_u = int(sol.service_times[0])
    assert cost[s_u] == pytest.approx(best, rel=1e-9)
    assert table["base_stock_level"].to_pylist() == [
        stats.poisson.ppf(target, mu * (3 - s_u)) if s_u < 3 else 0.0, stats.poisson.ppf(target, mu * (2 + s_u))]
    assert sum(table["gsm_safety_stock_cost_per_period"].to_pylist()) == pytest.approx(best, rel=1e-9)


def _crossing_problem(with_other: bool) -> StageProblem:
    """A customer-facing stage with lead time 0 or 1 period and Poisson(4) demand, target 0.9: the
    convolution promises more cycle service than the engine measures (orders cross); optionally
    next to an unrelated second network."""
    lt = DiscreteDistribution([0.5, 0.5], 0)
    d = DiscreteDistribution.poisson(4.0)
    keys, lead, dem, seeds = ["a@S"], [lt], [d], [77]
    if with_other:
        keys, lead, dem, seeds = ["b@S", "a@S"], [DiscreteDistribution.point(2), lt], [d, d], [5, 77]
    n = len(keys)
    return _stage_problem(keys, [[]] * n, lead, dem, [1.0] * n, [0.9] * n, [True] * n, seeds)


def test_retune_raises_a_stage_that_misses_its_target_and_reports_before_and_after() -> None:
    sim = dict(replications=8, periods=500, warmup=50)
    plain = GuaranteedServiceSolver(**sim, retune=False).solve(_crossing_problem(False)).to_pylist()[0]
    solver = GuaranteedServiceSolver(**sim)
    tuned = solver.solve(_crossing_problem(False)).to_pylist()[0]
    assert plain["expected_cycle_service"] < 0.9  # the check finds the miss ...
    assert tuned["base_stock_level"] > plain["base_stock_level"]  # ... the re-tune raises the level
    assert tuned["expected_cycle_service"] >= 0.9
    before = solver.check_["cycle_service_before"]
    assert before[0] == plain["expected_cycle_service"]  # same random numbers as the unretuned run
    assert (f"Monte Carlo cycle service {before[0]:.4f} at the GSM level {plain['base_stock_level']:g} "
            f"(target 0.9000); re-tuned to {tuned['base_stock_level']:g}: "
            f"{tuned['expected_cycle_service']:.4f}") in tuned["message"]
    # deterministic whatever the batch holds: the same levels and numbers next to another network
    both = GuaranteedServiceSolver(**sim).solve(_crossing_problem(True)).to_pylist()[1]
    for name in ("base_stock_level", "expected_cycle_service", "expected_fill_rate", "mean_on_hand"):
        assert both[name] == tuned[name], name


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="demand_bound must be one of quantile, normal"):
        GuaranteedServiceSolver(demand_bound="z")
    with pytest.raises(ValueError, match="retune must be true or false"):
        GuaranteedServiceSolver(retune="yes")  # type: ignore[arg-type]


def test_moment_history_is_exact_and_the_converter_refuses_what_the_contract_cannot_express(
        tmp_path: Path) -> None:
    x = moment_history(32.5, 12.0, 400, seed=1)  # 13,000 and 400 * (144 + 1056.25) whole, same parity
    assert x.mean() == 32.5 and x.std() == 12.0 and x.min() >= 0
    doc = json.loads(CHAIN.read_text())
    doc["stages"][0]["max_service_time"] = 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="'max_service_time'.*no maximum service time for an internal stage"):
        from echelon_solvers.gsm import write_chain_dataset
        write_chain_dataset(bad, tmp_path / "d")
    assert main(["import-chain", str(bad), str(tmp_path / "d"), "--dataset"]) == 2


def test_end_to_end_on_a_generated_dataset(tmp_path: Path) -> None:
    """`echelon generate`-style data, solver guaranteed_service with the defaults (quantile bound,
    re-tune): every SKU-location once with a status, the GSM columns filled, the Monte Carlo check
    in every customer-facing stage's message and its re-tuned service at the target."""
    from platform_core.data.generate import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, sku_locations=120, seed=5)
    cfg = tmp_path / "gsm.toml"
    cfg.write_text('[components]\nsolver = "guaranteed_service"\n[solver]\nreplications = 10\nperiods = 500\n')
    _run(data, tmp_path / "out", cfg)
    rec = pq.read_table(tmp_path / "out" / "recommendations.parquet")
    stages = pq.read_table(next(data.glob("stages.*")))
    keys = list(zip(rec["sku"].to_pylist(), rec["location"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == stages.num_rows
    assert set(keys) == set(zip(stages["sku"].to_pylist(), stages["location"].to_pylist(), strict=True))
    assert set(rec["status"].to_pylist()) == {"ok"}
    for name in ("committed_service_time_periods", "net_replenishment_time_periods",
                 "gsm_safety_stock_cost_per_period", "expected_cycle_service", "cycle_service_se"):
        col = rec[name].to_numpy()
        assert np.all(np.isfinite(col)) and np.all(col >= 0), name
    facing = np.array(rec["target_source"].to_pylist()) != "gsm_pooled"
    msgs = np.array(rec["message"].to_pylist(), dtype=object)
    assert all("Monte Carlo cycle service" in m for m in msgs[facing])
    gap = rec["expected_cycle_service"].to_numpy()[facing] - rec["service_target"].to_numpy()[facing]
    assert gap.min() >= -1e-12  # in-sample: the re-tune's own random numbers
    assert math.isclose(rec["committed_service_time_periods"].to_numpy()[facing].max(), 0.0)
