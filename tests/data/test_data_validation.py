"""Each validation rule reports file, column, row and what was expected."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import load_dataset
from platform_core.data.schemas import Dataset
from platform_core.data.validate import validate_dataset


def _set(t: pa.Table, col: str, i: int, value: object) -> pa.Table:
    vals = t.column(col).to_pylist()
    vals[i] = value
    return t.set_column(t.column_names.index(col), col, pa.array(vals, type=t.schema.field(col).type))


def _load_error(make_dataset, tables, fmt: str = "parquet") -> DataValidationError:
    root = make_dataset(tables, fmt)
    with pytest.raises(DataValidationError) as info:
        load_dataset(root)
    return info.value


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_valid_dataset_loads(make_dataset, tables, fmt):
    ds = load_dataset(make_dataset(tables, fmt))
    assert set(ds.tables) == {"stages", "edges", "demand", "receipts"}
    assert ds.sources["demand"].endswith(f"demand.{fmt}")
    assert ds.demand.schema.field("period").type == pa.date32()
    assert ds.demand.schema.field("stocked_out").type == pa.bool_()
    assert ds.stages.schema.field("review_period").type == pa.int64()
    assert ds.demand.num_rows == 24
    assert ds.stages.column("service_target").null_count == 2


def test_csv_and_parquet_load_to_equal_tables(make_dataset, tables):
    a = load_dataset(make_dataset(tables, "parquet"))
    b = load_dataset(make_dataset(tables, "csv"))
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name


def test_extra_columns_are_kept(make_dataset, tables):
    tables["receipts"] = tables["receipts"].append_column("incoterm", pa.array(["FOB", "DAP", "FOB"]))
    ds = load_dataset(make_dataset(tables, "csv"))
    assert ds.tables["receipts"].column("incoterm").to_pylist() == ["FOB", "DAP", "FOB"]


def test_missing_column(make_dataset, tables):
    tables["stages"] = tables["stages"].drop_columns(["carrying_rate"])
    err = _load_error(make_dataset, tables)
    assert err.file.endswith("stages.parquet")
    assert err.column == "carrying_rate"
    assert err.row is None
    assert "required column" in err.expected
    assert "stages.parquet: column 'carrying_rate'" in str(err)


def test_wrong_type_csv_names_row(make_dataset, tables, tmp_path):
    root = make_dataset(tables, "csv")
    path = root / "stages.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    i = header.index('"unit_cost"') if '"unit_cost"' in header else header.index("unit_cost")
    cells = lines[5].split(",")  # data row 5
    cells[i] = "abc"
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError) as info:
        load_dataset(root)
    err = info.value
    assert (os.path.basename(err.file), err.column, err.row) == ("stages.csv", "unit_cost", 5)
    assert err.expected == "a number"
    assert str(err) == "stages.csv: column 'unit_cost', row 5: expected a number, got 'abc'"


def test_wrong_type_date_and_bool_csv(make_dataset, tables):
    root = make_dataset(tables, "csv")
    path = root / "demand.csv"
    text = path.read_text().replace("2024-01-15", "15/01/2024", 1)
    path.write_text(text)
    with pytest.raises(DataValidationError) as info:
        load_dataset(root)
    assert (info.value.column, info.value.row) == ("period", 3)
    assert info.value.expected == "a date YYYY-MM-DD"


def test_wrong_type_parquet(make_dataset, tables):
    t = tables["demand"]
    tables["demand"] = t.set_column(3, "quantity", pc.cast(t.column("quantity"), pa.string()))
    tables["demand"] = _set(tables["demand"], "quantity", 10, "many")
    err = _load_error(make_dataset, tables)
    assert (err.column, err.row, err.got) == ("quantity", 11, "'many'")


def test_wrong_type_in_memory(tables):
    t = tables["stages"]
    tables["stages"] = t.set_column(3, "unit_cost", pc.cast(t.column("unit_cost"), pa.string()))
    with pytest.raises(DataValidationError) as info:
        validate_dataset(Dataset(root="mem", tables=tables))
    assert info.value.column == "unit_cost"
    assert "double" in info.value.expected


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_negative_quantity(make_dataset, tables, fmt):
    tables["demand"] = _set(tables["demand"], "quantity", 16, -3.0)
    err = _load_error(make_dataset, tables, fmt)
    assert str(err) == f"demand.{fmt}: column 'quantity', row 17: expected a number in [0, 1e8], got -3.0"
    assert (err.column, err.row, err.expected, err.got) == ("quantity", 17, "a number in [0, 1e8]", "-3.0")


def test_out_of_range_service_target_and_carrying_rate(make_dataset, tables):
    st = _set(tables["stages"], "service_target", 2, 0.0)
    tables["stages"] = _set(st, "carrying_rate", 6, 7.5)
    err = _load_error(make_dataset, tables)
    by_col = {e.column: e for e in err.errors}
    assert by_col["service_target"].row == 3
    assert by_col["service_target"].expected == "a number in (0, 1]"
    assert by_col["carrying_rate"].row == 7
    assert by_col["carrying_rate"].expected == "a number in [0, 5]"
    assert err.total == 2 and "2 data errors" in str(err)


def test_nan_is_rejected(make_dataset, tables):
    tables["stages"] = _set(tables["stages"], "price", 1, float("nan"))
    err = _load_error(make_dataset, tables, "csv")
    assert (err.column, err.row, err.got) == ("price", 2, "nan")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_null_in_non_nullable(make_dataset, tables, fmt):
    tables["demand"] = _set(tables["demand"], "sku", 4, None)
    err = _load_error(make_dataset, tables, fmt)
    assert (os.path.basename(err.file), err.column, err.row, err.got) == (f"demand.{fmt}", "sku", 5, "null")
    assert "no nulls" in err.expected


def test_null_allowed_in_nullable(make_dataset, tables):
    tables["demand"] = _set(tables["demand"], "quantity", 4, None)
    ds = load_dataset(make_dataset(tables, "csv"))
    assert ds.demand.column("quantity").null_count == 1


def test_receipt_before_order(make_dataset, tables):
    tables["receipts"] = _set(tables["receipts"], "receipt_date", 1, dt.date(2024, 1, 2))
    err = _load_error(make_dataset, tables)
    assert os.path.basename(err.file) == "receipts.parquet"
    assert (err.column, err.row) == ("receipt_date", 2)
    assert err.expected == "a date on or after order_date (2024-01-03)"
    assert err.got == "2024-01-02"


def test_edge_to_unknown_stage(make_dataset, tables):
    tables["edges"] = _set(tables["edges"], "downstream_location", 4, "S9")
    err = _load_error(make_dataset, tables, "csv")
    assert os.path.basename(err.file) == "edges.csv"
    assert (err.column, err.row) == ("downstream_sku,downstream_location", 5)
    assert "'B'" in err.got and "'S9'" in err.got and "not in stages.csv" in err.got


def test_demand_for_unknown_stage(make_dataset, tables):
    tables["demand"] = _set(tables["demand"], "location", 7, "S7")
    err = _load_error(make_dataset, tables)
    assert (os.path.basename(err.file), err.row) == ("demand.parquet", 8)
    assert "'S7'" in err.got


def test_cycle(make_dataset, tables):
    e = tables["edges"]
    extra = pa.table({
        "upstream_sku": ["A"], "upstream_location": ["S1"], "downstream_sku": ["A"],
        "downstream_location": ["P1"], "quantity_per": [1.0], "transit_days": [1.0],
    }).cast(e.schema)
    tables["edges"] = pa.concat_tables([e, extra])
    err = _load_error(make_dataset, tables)
    assert os.path.basename(err.file) == "edges.parquet"
    assert err.expected == "an acyclic network"
    assert err.row in (1, 2, 7)
    for stage in ("('A', 'P1')", "('A', 'DC1')", "('A', 'S1')"):
        assert stage in err.got
    assert "('A', 'S2')" not in err.got and "'B'" not in err.got
    assert "3 stages" in err.got


def test_self_loop_is_a_cycle(tables):
    tables["edges"] = _set(tables["edges"], "downstream_location", 0, "P1")
    with pytest.raises(DataValidationError) as info:
        validate_dataset(Dataset(root="mem", tables=tables))
    assert info.value.row == 1 and "('A', 'P1') -> ('A', 'P1')" in info.value.got


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_duplicate_keys(make_dataset, tables, fmt):
    d = tables["demand"]
    d = _set(d, "period", 9, d.column("period")[7].as_py())  # row 10 duplicates row 8
    tables["demand"] = d
    err = _load_error(make_dataset, tables, fmt)
    assert os.path.basename(err.file) == f"demand.{fmt}"
    assert err.column == "sku,location,period"
    assert err.rows == (8, 10) and err.row == 10
    assert "rows 8 and 10" in str(err) and "columns ('sku', 'location', 'period')" in str(err)


def test_missing_required_file(make_dataset, tables):
    del tables["demand"]
    root = make_dataset(tables)
    err = _load_error(lambda t, f: root, None)
    assert err.file == os.path.join(os.fspath(root), "demand")
    assert "demand.parquet or demand.csv" in err.expected and os.fspath(root) in err.expected


def test_both_csv_and_parquet_is_an_error(make_dataset, tables):
    root = make_dataset(tables)
    (root / "stages.csv").write_text("sku,location\n")
    err = _load_error(lambda t, f: root, None)
    assert "stages" in str(err) and err.got == "both"


def test_optional_files_may_be_absent(make_dataset, tables):
    del tables["edges"], tables["receipts"]
    ds = load_dataset(make_dataset(tables))
    assert ds.get("edges") is None and ds.get("receipts") is None


def test_many_errors_are_capped(make_dataset, tables):
    d = tables["demand"]
    tables["demand"] = d.set_column(3, "quantity", pa.array([-1.0] * d.num_rows))
    st = tables["stages"]
    for col in ("unit_cost", "price"):
        st = st.set_column(st.column_names.index(col), col, pa.array([-1.0] * st.num_rows))
    tables["stages"] = st
    err = _load_error(make_dataset, tables)
    assert err.total == 3
    assert [e.column for e in err.errors] == ["unit_cost", "price", "quantity"]
    assert "23 more rows" in str(err)


def test_bad_enum(make_dataset, tables):
    tables["stages"] = _set(tables["stages"], "abc_class", 3, "D")
    err = _load_error(make_dataset, tables)
    assert (err.column, err.row, err.expected) == ("abc_class", 4, "one of A, B, C")


def test_stage_without_demand_is_allowed(tables):
    # P1 and DC1 have no demand rows in the fixture
    validate_dataset(Dataset(root="mem", tables=tables))


def test_error_collector_caps_at_20():
    from platform_core.data.errors import ErrorCollector

    c = ErrorCollector()
    for i in range(25):
        c.add(DataValidationError("x.csv", "c", i + 1, "ok", "bad"))
    with pytest.raises(DataValidationError) as info:
        c.raise_if_any()
    assert info.value.row == 1 and len(info.value.errors) == 20 and info.value.total == 25
    assert "showing the first 20" in str(info.value) and "5 more" in str(info.value)


def test_row_numbers_across_parquet_row_groups(tmp_path, tables):
    import pyarrow.parquet as pq

    root = tmp_path / "rg"
    root.mkdir()
    for name, t in tables.items():
        if name == "demand":
            t = _set(t, "quantity", 21, -1.0)
            pq.write_table(t, root / "demand.parquet", row_group_size=5)
        else:
            pq.write_table(t, root / f"{name}.parquet")
    with pytest.raises(DataValidationError) as info:
        load_dataset(root)
    assert info.value.row == 22


def test_row_numbers_across_csv_blocks(tmp_path, monkeypatch):
    # a wrong value far into a multi-block CSV keeps its exact row number
    import platform_core.data.loaders as loaders

    monkeypatch.setattr(loaders, "CSV_BLOCK_SIZE", 1 << 16)
    n = 200_000
    rows = ["sku,location,period,quantity"] + [f"A,S1,2024-01-01,{i % 7}" for i in range(n)]
    rows[150_001] = "A,S1,2024-01-01,x7"
    path = tmp_path / "demand.csv"
    path.write_text("\n".join(rows) + "\n")
    from platform_core.data.loaders import load_table
    from platform_core.data.schemas import DEMAND

    with pytest.raises(DataValidationError) as info:
        load_table(path, DEMAND)
    assert (info.value.row, info.value.got) == (150_001, "'x7'")


def test_first_duplicate_is_reported(tables):
    st = tables["stages"]
    st = _set(st, "location", 4, "DC1")  # row 5 duplicates row 2 (A, DC1)
    st = _set(st, "sku", 4, "A")
    st = _set(st, "sku", 3, "A")
    st = _set(st, "location", 3, "S1")  # row 4 duplicates row 3 ('A', 'S1')
    tables["stages"] = st
    with pytest.raises(DataValidationError) as info:
        validate_dataset(Dataset(root="mem", tables=tables))
    err = info.value
    assert err.rows == (3, 4) and err.row == 4
    assert "1 more row like this" in str(err)
