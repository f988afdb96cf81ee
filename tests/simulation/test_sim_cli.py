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
