"""The ``simulate`` CLI handler on a small stages/edges/policy dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy import stats

from platform_core.simulation.cli import add_simulate_command


def _write(path: Path, header: str, rows: list[str]) -> None:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="echelon")
    add_simulate_command(parser.add_subparsers(dest="command", required=True))
    return parser


def test_simulate_command_end_to_end(tmp_path: Path, capsys) -> None:
    _write(tmp_path / "stages.csv", "sku,location,unit_cost,price,carrying_rate,review_period",
           ["A,P1,5,10,0.26,1", "A,S1,7,10,0.26,1", "A,S2,7,10,0.26,1", "B,S1,3,6,0.52,1"])
    _write(tmp_path / "edges.csv",
           "upstream_sku,upstream_location,downstream_sku,downstream_location,quantity_per",
           ["A,P1,A,S1,1", "A,P1,A,S2,1"])
    policy = tmp_path / "policy.csv"
    _write(policy, "sku,location,policy_type,reorder_point,order_up_to,mean_demand,std_demand,lead_time",
           ["A,P1,base_stock,,100000,0,,1", "A,S1,base_stock,,9,3,,1", "A,S2,base_stock,,14,5,,1",
            "B,S1,base_stock,,12,4,,2"])
    out = tmp_path / "result.parquet"
    args = _parser().parse_args(["simulate", str(tmp_path), "--policy", str(policy), "--replications", "10",
                                 "--periods", "4000", "--seed", "3", "--out", str(out)])
    assert args.func(args) == 0
    table = pq.read_table(out).to_pylist()
    rows = {(r["sku"], r["location"]): r for r in table}
    assert set(rows) == {("A", "P1"), ("A", "S1"), ("A", "S2"), ("B", "S1")}

    def loss(mean: float, s: int) -> float:
        k = np.arange(200)
        return float(np.sum(np.maximum(k - s, 0) * stats.poisson.pmf(k, mean)))

    # ample plant: stores are single stages with Poisson demand and lead time 1 (B: 2)
    for key, mean, s in ((("A", "S1"), 6.0, 9), (("A", "S2"), 10.0, 14), (("B", "S1"), 12.0, 12)):
        r = rows[key]
        assert abs(r["backorders"] - loss(mean, s)) <= 3 * r["backorders_se"] + 1e-12, (key, r["backorders"])
    # holding cost per period = unit_cost x rate / 52 x (on-hand + in transit out)
    r = rows[("B", "S1")]
    assert abs(r["holding_cost"] - 3 * 0.52 / 52 * r["on_hand"]) < 1e-9
    assert abs(r["inventory_investment"] - 3 * r["on_hand"]) < 1e-9

    args = _parser().parse_args(["simulate", str(tmp_path), "--policy", str(policy), "--replications", "2",
                                 "--periods", "200"])
    assert args.func(args) == 0
    assert "total cost per period" in capsys.readouterr().out


def test_simulate_command_demand_schedule_alternating_periods(tmp_path: Path) -> None:
    """A schedule alternating means 1 and 7: with lead time 2 the 3-period protection
    interval covers (1, 7, 1) or (7, 1, 7), so the long-run backorders are the average of
    two Poisson losses -- not the loss of the stationary mean (or of the policy's mean,
    which the schedule replaces)."""
    _write(tmp_path / "stages.csv", "sku,location,unit_cost,price,carrying_rate,review_period",
           ["A,S1,2,4,0.26,1", "B,S1,2,4,0.26,1"])
    policy = tmp_path / "policy.csv"
    _write(policy, "sku,location,policy_type,reorder_point,order_up_to,mean_demand,std_demand,lead_time",
           ["A,S1,base_stock,,12,1,,2", "B,S1,base_stock,,12,4,,2"])
    schedule = tmp_path / "schedule.csv"
    _write(schedule, "sku,location,period,mean_demand", ["A,S1,1,7", "A,S1,0,1"])
    out = tmp_path / "result.parquet"
    args = _parser().parse_args(["simulate", str(tmp_path), "--policy", str(policy), "--demand-schedule",
                                 str(schedule), "--replications", "10", "--periods", "4000",
                                 "--warmup", "100", "--seed", "5", "--out", str(out)])
    assert args.func(args) == 0
    rows = {(r["sku"], r["location"]): r for r in pq.read_table(out).to_pylist()}

    def loss(mean: float, s: int) -> float:
        k = np.arange(200)
        return float(np.sum(np.maximum(k - s, 0) * stats.poisson.pmf(k, mean)))

    a = rows[("A", "S1")]
    expected = 0.5 * loss(9.0, 12) + 0.5 * loss(15.0, 12)
    assert abs(a["backorders"] - expected) <= 3 * a["backorders_se"], (a["backorders"], expected)
    assert abs(a["backorders"] - loss(12.0, 12)) > 6 * a["backorders_se"]  # the phases matter
    assert abs(a["demand"] - 4.0) <= 3 * a["demand_se"]
    b = rows[("B", "S1")]  # not in the schedule: the policy's stationary Poisson(4)
    assert abs(b["backorders"] - loss(12.0, 12)) <= 3 * b["backorders_se"]


def test_simulate_command_demand_schedule_errors_name_file_column_row(tmp_path: Path) -> None:
    import pyarrow as pa
    import pytest

    from platform_core.simulation.cli import read_demand_schedule

    def table(period: list, mean: list, sku: list | None = None) -> pa.Table:
        n = len(period)
        return pa.table({"sku": sku or ["A"] * n, "location": ["S1"] * n, "period": period, "mean_demand": mean})

    with pytest.raises(ValueError, match=r"s.csv: row 2: column 'period': expected an integer >= 0"):
        read_demand_schedule(table([0, 1.5], [1.0, 2.0]), "s.csv")
    with pytest.raises(ValueError, match=r"s.csv: row 1: column 'mean_demand': expected a finite number >= 0"):
        read_demand_schedule(table([0], [-1.0]), "s.csv")
    with pytest.raises(ValueError, match=r"s.csv: row 3: columns sku, location, period: .* repeated"):
        read_demand_schedule(table([0, 1, 1], [1.0, 1.0, 1.0]), "s.csv")
    with pytest.raises(ValueError, match=r"s.csv: column 'period': .*missing 1"):
        read_demand_schedule(table([0, 2], [1.0, 1.0]), "s.csv")
    with pytest.raises(ValueError, match=r"s.csv: row 2: column 'sku': expected a value"):
        read_demand_schedule(table([0, 1], [1.0, 1.0], sku=["A", None]), "s.csv")
    with pytest.raises(ValueError, match=r"missing column 'mean_demand'"):
        read_demand_schedule(table([0], [1.0]).drop_columns(["mean_demand"]), "s.csv")
