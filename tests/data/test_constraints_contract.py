"""The ``constraints`` table and ``unit_volume_m3``: loaded, and bad input named by file, column and row."""

from __future__ import annotations

import pytest

from platform_core.data.errors import DataValidationError
from platform_core.data.generate import generate_dataset
from platform_core.data.loaders import load_dataset

STAGES = "sku,location,unit_cost,price,carrying_rate,unit_volume_m3,supplier\n" \
         "A,S1,10,20,0.2,0.5,SUP1\nB,S1,10,20,0.2,0.25,SUP1\nA,S2,10,20,0.2,,\n"
DEMAND = "sku,location,period,quantity\nA,S1,2024-01-01,3\nB,S1,2024-01-01,2\nA,S2,2024-01-01,1\n"
HEADER = "constraint_id,constraint_type,location,supplier,limit,unit,statistic\n"


def _write(root, constraints: str, stages: str = STAGES):
    root.mkdir(parents=True, exist_ok=True)
    (root / "stages.csv").write_text(stages)
    (root / "demand.csv").write_text(DEMAND)
    (root / "constraints.csv").write_text(HEADER + constraints)
    return root


def _error(root) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_dataset(root)
    return info.value


def test_a_valid_table_loads(tmp_path):
    ds = load_dataset(_write(tmp_path, "space,location_space,S1,,12.5,m3,p95\nbudget,budget,,,1000,currency,\n"
                                       "cap,supplier_capacity,,SUP1,40,units/period,mean\n"))
    table = ds.tables["constraints"]
    assert table.column("limit").to_pylist() == [12.5, 1000.0, 40.0]
    assert ds.stages.column("unit_volume_m3").to_pylist() == [0.5, 0.25, None]


@pytest.mark.parametrize(("rows", "column", "row", "expected"), [
    ("space,location_space,S1,,-1,m3,p95\n", "limit", 1, "a number in (0, 1e12]"),
    ("space,warehouse,S1,,1,m3,\n", "constraint_type", 1, "one of location_space, supplier_capacity, budget"),
    ("ok,budget,,,5,currency,\nspace,location_space,,,1,m3,\n", "location", 2,
     "a location (a location_space constraint limits one)"),
    ("space,location_space,S1,,1,litre,\n", "unit", 1, "m3 for location_space"),
    ("space,location_space,S1,,1,m3,p99\n", "statistic", 1, "null or one of p95, mean for location_space"),
    ("b1,budget,,,5,currency,\nb2,budget,,,6,currency,\n", "constraint_type", 2, "at most one budget row"),
    ("b1,budget,S1,,5,currency,\n", "location", 1, "null (the budget covers every stage)"),
    ("cap,supplier_capacity,,SUP9,5,units/period,\n", "supplier", 1, "a supplier named in stages.csv"),
    ("space,location_space,S9,,5,m3,\n", "location", 1, "a location named in stages.csv"),
    ("x,budget,,,5,currency,\nx,budget,,,5,currency,\n", "constraint_id", 2, "a unique key"),
])
def test_bad_rows_are_named(tmp_path, rows, column, row, expected):
    err = _error(_write(tmp_path, rows))
    assert err.file.endswith("constraints.csv")
    assert (err.column, err.row) == (column, row)
    assert err.expected.startswith(expected), err.expected


def test_a_space_limit_needs_every_volume_at_its_location(tmp_path):
    err = _error(_write(tmp_path, "space,location_space,S2,,5,m3,\n"))
    assert err.file.endswith("stages.csv") and (err.column, err.row) == ("unit_volume_m3", 3)
    assert "constraint 'space' counts the volume of location 'S2'" in err.expected


def test_volume_must_be_positive(tmp_path):
    stages = STAGES.replace("A,S1,10,20,0.2,0.5", "A,S1,10,20,0.2,0")
    err = _error(_write(tmp_path, "", stages=stages))
    assert (err.column, err.row, err.expected) == ("unit_volume_m3", 1, "a number in (0, 1e6]")


def test_generator_writes_a_valid_constraints_table_and_leaves_the_rest_unchanged(tmp_path):
    generate_dataset(tmp_path / "plain", 120, seed=3)
    generate_dataset(tmp_path / "cons", 120, seed=3, constraints=True)
    ds = load_dataset(tmp_path / "cons")
    kinds = ds.tables["constraints"].column("constraint_type").to_pylist()
    assert sorted(kinds) == ["budget", "location_space", "supplier_capacity"]
    for name in ("demand", "edges", "receipts", "costs", "current_policy"):
        assert (tmp_path / "plain" / f"{name}.parquet").read_bytes() == (tmp_path / "cons" / f"{name}.parquet").read_bytes()
    plain = load_dataset(tmp_path / "plain").stages
    assert ds.stages.drop_columns(["unit_volume_m3", "supplier"]).equals(plain)


@pytest.mark.parametrize(("row", "expected"), [
    ("cap,supplier_capacity,,SUP1,40,units/period,mean,0.9\n", "null for supplier_capacity"),
    ("b,budget,,,5,currency,,1.0\n", "a number in [0.5, 0.9999]"),
    ("b,budget,,,5,currency,,0.4\n", "a number in [0.5, 0.9999]"),
])
def test_bad_confidence_is_named(tmp_path, row, expected):
    root = _write(tmp_path, "")
    (root / "constraints.csv").write_text(HEADER.rstrip("\n") + ",confidence\n" + row)
    err = _error(root)
    assert (err.column, err.row) == ("confidence", 1) and err.expected.startswith(expected), err.expected


def test_confidence_defaults_to_095_and_is_read(tmp_path):
    from platform_core.constraints import coupling_inputs

    root = _write(tmp_path, "")
    (root / "constraints.csv").write_text(HEADER.rstrip("\n") + ",confidence\n"
                                          "space,location_space,S1,,12.5,m3,p95,\nb,budget,,,1000,currency,,0.99\n")
    specs = coupling_inputs(load_dataset(root)).constraints
    assert [s.confidence for s in specs] == [0.95, 0.99]
