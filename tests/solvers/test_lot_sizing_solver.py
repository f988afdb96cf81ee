"""The ``lot_sizing`` solver: MOQ and order multiples in simulated orders, targets met by
simulation, networks, and ``echelon run`` end to end."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from echelon_solvers.kit.lot_sizing import lot_sizing_problem, optimal_lot_policy
from echelon_solvers.lot_sizing import LotSizingSolver

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Network, Policy, simulate
from platform_core.testing.inputs import StageInput, make_problem

POISSON = DiscreteDistribution.poisson


def _constrained_problem():
    stages = [
        StageInput("a@s1", POISSON(4.0), DiscreteDistribution.point(1), holding_cost=0.3, ordering_cost=20.0,
                   service_target=0.95),
        StageInput("b@s1", POISSON(6.0), DiscreteDistribution.point(2), holding_cost=0.2, ordering_cost=5.0,
                   service_target=0.97),
        StageInput("c@s1", POISSON(3.0), DiscreteDistribution.point(1), holding_cost=0.5, ordering_cost=10.0,
                   stockout_cost=8.0),
    ]
    problem = make_problem(stages)
    return replace(problem, moq=np.array([30.0, 10.0, 0.0]), order_multiple=np.array([0.0, 12.0, 5.0]))


@pytest.fixture(scope="module")
def solved():
    problem = _constrained_problem()
    solver = LotSizingSolver(replications=16, periods=600, warmup=60)
    return problem, solver, solver.solve(problem).to_pydict()


def test_constraints_are_in_the_policies(solved):
    _, _, t = solved
    assert t["policy_type"] == ["sS", "rQ", "rQ"]
    assert t["order_up_to"][0] - t["reorder_point"][0] >= 30  # every (s, S) order >= S - s >= moq
    assert t["order_quantity"][1] % 12 == 0 and t["order_quantity"][1] >= 10
    assert t["order_quantity"][2] % 5 == 0


def test_stage_policies_are_the_exact_optima(solved):
    """A stand-alone stage's policy is the kit's exact optimum for its data (no network raise)."""
    problem, _, t = solved
    prob = lot_sizing_problem(problem.period_demand[0], problem.lead_time[0], 1)
    res = optimal_lot_policy(prob, "sS", holding_cost=0.3, fixed_cost=20.0, fill_target=0.95, min_quantity=30)
    assert (t["reorder_point"][0], t["order_up_to"][0]) == (res.reorder_point, res.order_up_to)


def test_moq_and_multiples_never_change_a_simulated_order(solved):
    """Simulated with and without the engine's MOQ / multiple rules: identical paths, so no
    order of the recommended policies was ever below the MOQ or off the multiple."""
    problem, _, t = solved
    runs = []
    for with_rules in (True, False):
        pols = [Policy(kind=t["policy_type"][i], reorder_point=t["reorder_point"][i],
                       order_up_to=t["order_up_to"][i] if t["policy_type"][i] == "sS" else None,
                       order_quantity=t["order_quantity"][i],
                       moq=problem.moq[i] if with_rules else 0.0,
                       order_multiple=problem.order_multiple[i] if with_rules else 0.0) for i in range(3)]
        res = simulate([Network(1)] * 3, pols, list(problem.period_demand), lead_times=list(problem.lead_time),
                       seeds=np.array([5, 6, 7], dtype=np.uint64), replications=6, periods=800, warmup=50)
        runs.append(res)
    for name in ("on_hand", "fill_rate", "order_frequency", "order_quantity"):
        np.testing.assert_array_equal(runs[0].mean[name], runs[1].mean[name])
    size = runs[0].mean["order_quantity"] / runs[0].mean["order_frequency"]
    assert size[0] >= 30 and size[1] >= 12


def test_a_stage_gets_the_same_numbers_in_any_batch(solved):
    """Deterministic: a stage solved alone gives the row it gets in a batch with others."""
    problem, solver, t = solved
    alone = replace(make_problem([StageInput("b@s1", POISSON(6.0), DiscreteDistribution.point(2), holding_cost=0.2,
                                             ordering_cost=5.0, service_target=0.97)]),
                    moq=np.array([10.0]), order_multiple=np.array([12.0]))
    one = solver.solve(alone).to_pydict()
    for name in ("reorder_point", "order_quantity", "expected_fill_rate", "fill_rate_se", "mean_on_hand"):
        assert one[name][0] == t[name][1], name


def test_simulated_fill_meets_the_targets(solved):
    """The Monte Carlo check: fill within 3 standard errors of the target or above."""
    _, _, t = solved
    for i in (0, 1):
        assert t["expected_fill_rate"][i] + 3 * t["fill_rate_se"][i] >= t["service_target"][i]
        assert t["fill_rate_se"][i] > 0


def test_network_customers_first_then_simulated():
    """A DC with two lot-sized stores: the stores meet their targets in the simulated network."""
    stages = [
        StageInput("x@dc", POISSON(6.0), DiscreteDistribution.point(2), holding_cost=0.1, ordering_cost=40.0,
                   service_target=0.9, external_demand=False),
        StageInput("x@s1", POISSON(3.0), DiscreteDistribution.point(1), holding_cost=0.3, ordering_cost=8.0,
                   service_target=0.95, upstream=(0,), quantity_per=(1.0,)),
        StageInput("x@s2", POISSON(3.0), DiscreteDistribution.point(1), holding_cost=0.3, ordering_cost=8.0,
                   service_target=0.95, upstream=(0,), quantity_per=(1.0,)),
    ]
    problem = make_problem(stages)
    t = LotSizingSolver(replications=16, periods=600, warmup=60).solve(problem).to_pydict()
    assert t["policy_type"] == ["sS"] * 3
    for i in range(3):
        assert t["expected_fill_rate"][i] + 3 * t["fill_rate_se"][i] >= t["service_target"][i], (i, t)
    # the DC sees lumpy orders: its lot is at least a store's
    assert t["order_up_to"][0] - t["reorder_point"][0] >= t["order_up_to"][1] - t["reorder_point"][1]


def test_echelon_run_end_to_end(tmp_path):
    """``echelon run`` with ``solver = "lot_sizing"`` on a tiny generated dataset with order multiples."""
    from platform_core.cli import main
    from platform_core.data.generate import generate_dataset

    data = tmp_path / "data"
    generate_dataset(data, sku_locations=9, seed=5)
    stages = pq.read_table(data / "stages.parquet")
    mult = np.where(np.arange(stages.num_rows) % 3 == 0, 6.0, np.nan)
    pq.write_table(stages.append_column("order_multiple", pa.array(mult, mask=np.isnan(mult))),
                   data / "stages.parquet")
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[components]\nsolver = "lot_sizing"\n[solver]\nreplications = 4\nperiods = 200\nwarmup = 30\n')
    out = tmp_path / "out"
    code = main(["run", str(data), "--out", str(out), "--config", str(cfg), "--executor", "in_process",
                 "--tracking-uri", "none"])
    assert code == 0
    rec = pq.read_table(out / "recommendations.parquet").to_pydict()
    keys = list(zip(rec["sku"], rec["location"], strict=True))
    assert sorted(keys) == sorted(zip(stages.column("sku").to_pylist(), stages.column("location").to_pylist(),
                                      strict=True))
    assert len(set(keys)) == stages.num_rows
    assert set(rec["status"]) == {"ok"}
    row_of = {k: i for i, k in enumerate(zip(stages.column("sku").to_pylist(),
                                             stages.column("location").to_pylist(), strict=True))}
    for i, k in enumerate(keys):
        if mult[row_of[k]] == 6.0:
            assert rec["policy_type"][i] == "rQ" and rec["order_quantity"][i] % 6 == 0
        else:
            assert rec["policy_type"][i] == "sS" and rec["order_quantity"][i] is None
        assert rec["expected_fill_rate"][i] is not None
