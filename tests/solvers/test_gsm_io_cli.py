"""Chain import (JSON -> Arrow/Parquet), input validation, the CLI and the docs example."""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from echelon_solvers.gsm import (
    add_gsm_commands,
    import_chain,
    load_network,
    network_from_tables,
    solve_gsm,
)

ROOT = Path(__file__).resolve().parents[2]

SMALL = {
    "stages": [
        {"id": "part", "stage_time": 10, "stage_cost": 5.0, "classification": "Part"},
        {"id": "plant", "stage_time": 3, "stage_cost": 20.0, "classification": "Manuf"},
        {"id": "dc", "stage_time": 2, "stage_cost": 1.0, "classification": "Dist"},
        {"id": "shop", "stage_time": 1, "stage_cost": 0.5, "classification": "Retail",
         "is_demand_stage": True, "avg_demand": 40, "std_demand": 12, "service_level": 0.95,
         "max_service_time": 0},
    ],
    "edges": [
        {"source": "part", "target": "plant", "multiplicity": 2},
        {"source": "plant", "target": "dc"},
        {"source": "dc", "target": "shop", "multiplicity": 1},
    ],
}


def _write(tmp_path: Path, doc: dict, name: str = "chain.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="echelon")
    sub = parser.add_subparsers(dest="command")
    add_gsm_commands(sub)
    return parser


def test_import_chain_tables_follow_contract(tmp_path: Path) -> None:
    path = _write(tmp_path, SMALL)
    stages, edges = import_chain(path, carrying_rate=0.2)
    for col in ("sku", "location", "unit_cost", "price", "carrying_rate", "gsm_stage_time",
                "gsm_max_service_time", "gsm_avg_demand", "gsm_std_demand"):
        assert col in stages.column_names
    assert edges.column_names[:5] == ["upstream_sku", "upstream_location", "downstream_sku",
                                      "downstream_location", "quantity_per"]
    cost = dict(zip(stages.column("sku").to_pylist(), stages.column("unit_cost").to_pylist(), strict=True))
    assert cost == {"part": 5.0, "plant": 30.0, "dc": 31.0, "shop": 31.5}
    assert edges.column("quantity_per").to_pylist() == [2.0, 1.0, 1.0]
    from platform_core.data.schemas import EDGES, STAGES

    for spec, table in ((STAGES, stages), (EDGES, edges)):
        for c in spec.columns:
            if c.required:
                assert c.name in table.column_names
            if c.name in table.column_names:
                assert table.schema.field(c.name).type == c.type


def test_import_chain_passes_platform_validation(tmp_path: Path) -> None:
    validate = pytest.importorskip("platform_core.data.validate")
    errors_mod = pytest.importorskip("platform_core.data.errors")
    from platform_core.data.schemas import EDGES, STAGES

    stages, edges = import_chain(_write(tmp_path, SMALL))
    collector = errors_mod.ErrorCollector()
    assert validate.check_table(STAGES, stages, "stages", collector)
    assert validate.check_table(EDGES, edges, "edges", collector)
    assert collector.total == 0


def test_parquet_round_trip_gives_same_optimum(tmp_path: Path) -> None:
    path = _write(tmp_path, SMALL)
    args = _parser().parse_args(["import-chain", str(path), str(tmp_path / "out")])
    assert args.func(args) == 0
    stages = pq.read_table(tmp_path / "out" / "stages.parquet")
    edges = pq.read_table(tmp_path / "out" / "edges.parquet")
    net = network_from_tables(stages, edges)
    a = solve_gsm(net, 0.25)
    b = solve_gsm(load_network(path), 0.25)
    assert a.total_cost == pytest.approx(b.total_cost, rel=1e-12)
    assert np.allclose(a.service_times, b.service_times)


def test_cli_solve_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, SMALL)
    parser = _parser()
    args = parser.parse_args(["gsm", "solve", str(path), "--holding-rate", "0.25"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "total cost" in out and "shop" in out and "safety stock" in out
    args = parser.parse_args(["gsm", "solve", str(path), "--holding-rate", "0.25", "--json",
                              "--method", "heuristic", "--time-limit", "5"])
    assert args.func(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"] == "heuristic"
    assert {s["id"] for s in doc["stages"]} == {"part", "plant", "dc", "shop"}
    shop = next(s for s in doc["stages"] if s["id"] == "shop")
    assert shop["service_time_days"] == 0.0
    total = sum(s["cost_per_year"] for s in doc["stages"])
    assert doc["total_cost_per_year"] == pytest.approx(total)


def test_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = json.loads(json.dumps(SMALL))
    bad["edges"].append({"source": "ghost", "target": "shop"})
    path = _write(tmp_path, bad, "bad.json")
    args = _parser().parse_args(["gsm", "solve", str(path), "--holding-rate", "0.25"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "ghost" in err and "source" in err


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["edges"].append({"source": "shop", "target": "part"}), "cycle"),
        (lambda d: d["stages"][0].pop("stage_time"), "stage_time"),
        (lambda d: d["stages"][3].pop("std_demand"), "std_demand"),
        (lambda d: d["stages"][3].pop("service_level"), "service_level"),
        (lambda d: d["edges"][0].pop("target"), "target"),
        (lambda d: d["stages"].append({"id": "part", "stage_time": 1, "stage_cost": 1}), "duplicate"),
        (lambda d: d["stages"][1].update(stage_time=-1), "stage_time"),
    ],
)
def test_bad_input_names_file_and_field(tmp_path: Path, mutate, message: str) -> None:
    doc = json.loads(json.dumps(SMALL))
    mutate(doc)
    path = _write(tmp_path, doc, "broken.json")
    with pytest.raises(ValueError, match=message) as info:
        load_network(path)
    assert "broken.json" in str(info.value)


def test_docs_example_runs(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    script = ROOT / "docs" / "examples" / "gsm_bulldozer.py"
    monkeypatch.setattr(sys, "argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "total" in out.lower()
