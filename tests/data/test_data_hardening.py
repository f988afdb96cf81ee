"""Regression tests of issue #22 (data layer): each fails on the code before its fix."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import load_dataset
from platform_core.data.schemas import FILE_SPECS, Dataset
from platform_core.data.validate import validate_dataset


def _load_error(root) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_dataset(root)
    return info.value


# -- 1. every row of a file names an unknown stage; stages with only a header ---------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_costs_naming_only_unknown_stages_is_a_reference_error(make_dataset, tables, fmt):
    # a costs table from another site: no row names a stage of this dataset
    tables["costs"] = pa.table({"sku": ["X", "Y"], "location": ["Q", "Q"],
                                "holding_cost": [1.0, 2.0]})
    err = _load_error(make_dataset(tables, fmt))
    assert (os.path.basename(err.file), err.column, err.row) == (f"costs.{fmt}", "sku,location", 1)
    assert err.expected == "a stage listed in stages"
    assert "'X'" in err.got and "'Q'" in err.got and "1 more row like this" in str(err)


def test_demand_naming_only_unknown_stages_is_a_reference_error(tables):
    d = tables["demand"]
    tables["demand"] = d.set_column(1, "location", pa.array(["Z9"] * d.num_rows))
    with pytest.raises(DataValidationError) as info:
        validate_dataset(Dataset(root="mem", tables=tables))
    assert (info.value.column, info.value.row) == ("sku,location", 1)
    assert "'Z9'" in info.value.got


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_stages_with_only_a_header(make_dataset, tables, fmt):
    tables["stages"] = tables["stages"].slice(0, 0)
    root = make_dataset(tables, fmt)
    if fmt == "csv":
        assert (root / "stages.csv").read_text().count("\n") == 1  # the header line only
    err = _load_error(root)
    assert os.path.basename(err.file) == f"stages.{fmt}"
    assert err.column is None and err.row is None
    assert err.expected == "at least one stage (data row)" and err.got == "none"


def test_empty_stages_and_demand_in_memory(tables):
    for name in ("stages", "demand"):
        tables[name] = tables[name].slice(0, 0)
    del tables["edges"], tables["receipts"]
    with pytest.raises(DataValidationError) as info:
        validate_dataset(Dataset(root="mem", tables=tables))
    assert info.value.expected == "at least one stage (data row)"
    assert FILE_SPECS["stages"].name in info.value.file


# -- 3. a CSV with a UTF-8 byte-order mark; identifiers are strings -------------------------


def _rename_sku(tables: dict[str, pa.Table], old: str, new: str) -> None:
    """Rename SKU ``old`` to ``new`` in every table of the fixture."""
    import pyarrow.compute as pc

    for name, t in tables.items():
        for col in ("sku", "upstream_sku", "downstream_sku"):
            if col in t.column_names:
                renamed = pc.if_else(pc.equal(t.column(col), old), new, t.column(col))
                t = t.set_column(t.column_names.index(col), col, renamed.cast(pa.string()))
        tables[name] = t


def _add_bom(path) -> None:
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    path.write_bytes(b"\xef\xbb\xbf" + data)


@pytest.mark.parametrize("name", ["stages", "demand", "edges", "receipts"])
def test_csv_with_byte_order_mark_keeps_identifiers(make_dataset, tables, name):
    _rename_sku(tables, "A", "000123")
    _rename_sku(tables, "B", "0042")  # every sku looks like a number
    root = make_dataset(tables, "csv")
    _add_bom(root / f"{name}.csv")
    ds = load_dataset(root)
    # leading zeros kept everywhere: the value written is the value read
    assert "000123" in ds.stages.column("sku").to_pylist()
    for n, t in tables.items():
        assert ds.tables[n].select(t.column_names).cast(t.schema).equals(t), n


def test_csv_byte_order_mark_first_column_numeric_text(make_dataset, tables):
    # the first column of demand.csv is sku: with a BOM it used to be type-guessed (000123 -> 123)
    _rename_sku(tables, "A", "000123")
    _rename_sku(tables, "B", "0042")
    root = make_dataset(tables, "csv")
    for name in tables:
        _add_bom(root / f"{name}.csv")
    ds = load_dataset(root)
    assert sorted(set(ds.demand.column("sku").to_pylist())) == ["000123", "0042"]


def test_parquet_identifier_stored_as_integer_is_an_error(make_dataset, tables):
    # an integer sku column lost its leading zeros before it reached us: say so, do not guess
    st = tables["stages"]
    tables = {"stages": st.set_column(0, "sku", pa.array(list(range(st.num_rows)), pa.int64())),
              "demand": tables["demand"].slice(0, 0)}
    err = _load_error(make_dataset(tables))
    assert (os.path.basename(err.file), err.column, err.row) == ("stages.parquet", "sku", None)
    assert err.expected.startswith("a column of type string") and err.got == "type int64"


def test_csv_duplicate_column_name_is_an_error(make_dataset, tables):
    root = make_dataset(tables, "csv")
    path = root / "stages.csv"
    lines = path.read_text().splitlines()
    lines = [line + ",x" for line in lines]
    lines[0] = lines[0][: -len(",x")] + ",price"
    path.write_text("\n".join(lines) + "\n")
    err = _load_error(root)
    assert (os.path.basename(err.file), err.column) == ("stages.csv", "price")
    assert err.expected == "each column name once in the header"


def test_csv_not_utf8_is_an_error(make_dataset, tables):
    root = make_dataset(tables, "csv")
    path = root / "stages.csv"
    path.write_bytes(path.read_bytes().replace(b"plant", "pl\u00e4nt".encode("latin-1"), 1))
    err = _load_error(root)
    assert os.path.basename(err.file) == "stages.csv"
    assert "UTF-8" in err.expected


def test_csv_cell_not_utf8_far_into_the_file_names_its_row(tmp_path):
    from platform_core.data.loaders import load_table
    from platform_core.data.schemas import STAGES

    rows = ["sku,location,unit_cost,price,carrying_rate,note"]
    rows += [f"A{i},L1,1,2,0.2,ok" for i in range(30_000)]
    data = ("\n".join(rows) + "\n").encode()
    data = data.replace(b"A25000,", b"A25\xe4000,").replace(b"A26000,L1,1,2,0.2,ok", b"A26000,L1,1,2,0.2,\xff")
    path = tmp_path / "stages.csv"
    path.write_bytes(data)
    with pytest.raises(DataValidationError) as info:
        load_table(path, STAGES)
    by_col = {e.column: e for e in info.value.errors}
    assert (by_col["sku"].row, by_col["sku"].expected) == (25_001, "UTF-8 text")
    assert (by_col["note"].row, by_col["note"].expected) == (26_001, "UTF-8 text")


# -- 2. dates far in the future or past ----------------------------------------------------


def _with(t: pa.Table, col: str, i: int, value: object, type_: pa.DataType | None = None) -> pa.Table:
    vals = t.column(col).to_pylist()
    vals[i] = value
    typ = type_ or t.schema.field(col).type
    return t.set_column(t.column_names.index(col), col, pa.array(vals, type=typ))


def _days(t: pa.Table, col: str, i: int, days: int) -> pa.Table:
    """``t`` with ``col[i]`` set to ``days`` days after 1970-01-01 (beyond Python's dates too)."""
    vals = t.column(col).cast(pa.int32()).to_pylist()
    vals[i] = days
    return t.set_column(t.column_names.index(col), col, pa.array(vals, pa.int32()).cast(pa.date32()))


def _epoch_days(y: int, m: int, d: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date of any year (400-year cycles)."""
    import datetime as dt

    cycles, year = divmod(y - 2000, 400)  # the calendar repeats every 400 years = 146097 days
    return (dt.date(2000 + year, m, d) - dt.date(1970, 1, 1)).days + cycles * 146_097


@pytest.mark.parametrize(("ymd", "shown"), [((9999, 1, 1), "9999-01-01"), ((10370, 11, 14), "10370-11-14"),
                                            ((1, 1, 1), "0001-01-01"), ((-3630, 3, 5), "-3630-03-05"),
                                            ((2200, 1, 1), "2200-01-01")])
def test_demand_date_far_from_now_is_an_error(make_dataset, tables, ymd, shown):
    days = _epoch_days(*ymd)
    tables["demand"] = _days(tables["demand"], "period", 3, days)
    err = _load_error(make_dataset(tables))
    assert (os.path.basename(err.file), err.column, err.row) == ("demand.parquet", "period", 4)
    assert err.expected == "a date in [1900-01-01, 2199-12-31]"
    assert err.got == shown


def test_csv_sentinel_date_is_an_error(make_dataset, tables):
    import datetime as dt

    tables["receipts"] = _with(tables["receipts"], "receipt_date", 2, dt.date(9999, 12, 31))
    err = _load_error(make_dataset(tables, "csv"))
    assert (os.path.basename(err.file), err.column, err.row, err.got) == (
        "receipts.csv", "receipt_date", 3, "9999-12-31")


def test_date_bounds_are_inclusive(tables):
    import datetime as dt

    tables["demand"] = _with(tables["demand"], "period", 0, dt.date(1900, 1, 1))
    tables["receipts"] = _with(tables["receipts"], "receipt_date", 0, dt.date(2199, 12, 31))
    validate_dataset(Dataset(root="mem", tables=tables))
    tables["demand"] = _with(tables["demand"], "period", 0, dt.date(1899, 12, 31))
    with pytest.raises(DataValidationError) as info:
        validate_dataset(Dataset(root="mem", tables=tables))
    assert (info.value.column, info.value.row, info.value.got) == ("period", 1, "1899-12-31")


# -- 5. huge numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "col", "value", "expected"), [
    ("demand", "quantity", 1e308, "a number in [0, 1e8]"),
    ("demand", "quantity", 1.5e8, "a number in [0, 1e8]"),
    ("stages", "unit_cost", 1e308, "a number in [0, 1e12]"),
    ("stages", "price", 1e13, "a number in [0, 1e12]"),
    ("stages", "review_period", 2**62, "an integer in [1, 1000]"),
    ("edges", "transit_days", 1e308, "a number in [0, 3650]"),
    ("edges", "quantity_per", 1e300, "a number in (0, 1e6]"),
    ("receipts", "quantity", 1e300, "a number in (0, 1e12]"),
])
def test_huge_number_is_an_error(make_dataset, tables, name, col, value, expected):
    tables[name] = _with(tables[name], col, 1, value)
    err = _load_error(make_dataset(tables))
    assert (os.path.basename(err.file), err.column, err.row) == (f"{name}.parquet", col, 2)
    assert err.expected.startswith(expected), err.expected


def test_huge_demand_message_says_what_to_do(make_dataset, tables):
    tables["demand"] = _with(tables["demand"], "quantity", 5, 1e308)
    err = _load_error(make_dataset(tables, "csv"))
    assert str(err).startswith("demand.csv: column 'quantity', row 6: expected a number in [0, 1e8]")
    assert "larger unit" in str(err)


def test_largest_allowed_numbers_load_unchanged(make_dataset, tables):
    tables["demand"] = _with(tables["demand"], "quantity", 1, 1e8)
    tables["stages"] = _with(tables["stages"], "unit_cost", 1, 1e12)
    tables["edges"] = _with(tables["edges"], "transit_days", 1, 3650.0)
    ds = load_dataset(make_dataset(tables, "csv"))
    assert ds.demand.column("quantity")[1].as_py() == 1e8
    assert ds.stages.column("unit_cost")[1].as_py() == 1e12
    assert ds.tables["edges"].column("transit_days")[1].as_py() == 3650.0


def test_csv_row_with_a_missing_cell_names_its_row(make_dataset, tables):
    root = make_dataset(tables, "csv")
    path = root / "demand.csv"
    lines = path.read_text().splitlines()
    lines[9] = lines[9].rsplit(",", 1)[0]  # data row 9 loses its last cell
    path.write_text("\n".join(lines) + "\n")
    err = _load_error(root)
    assert (os.path.basename(err.file), err.column, err.row) == ("demand.csv", None, 9)
    assert err.expected == "5 fields as in the header" and err.got == "4 fields"


def test_csv_quoted_value_with_a_newline_round_trips(make_dataset, tables):
    st = tables["stages"]
    tables["stages"] = st.set_column(st.column_names.index("location_type"), "location_type",
                                     pa.array(["plant\nnorth", "dc, \"main\""] + st.column("location_type").to_pylist()[2:]))
    root = make_dataset(tables, "csv")
    ds = load_dataset(root)
    assert ds.stages.column("location_type").to_pylist()[:2] == ["plant\nnorth", "dc, \"main\""]
    assert ds.stages.column("sku").to_pylist() == st.column("sku").to_pylist()


@pytest.mark.parametrize("text", ["0x10", "-0X1f", " 0x7 "])
def test_hexadecimal_integer_is_an_error(make_dataset, tables, text):
    # Arrow's text-to-integer cast reads 0x10 as 16; the contract says integers are decimal (found by fuzzing)
    st = tables["stages"]
    vals = [str(v) for v in st.column("review_period").to_pylist()]
    vals[2] = text
    tables["stages"] = st.set_column(st.column_names.index("review_period"), "review_period", pa.array(vals))
    err = _load_error(make_dataset(tables, "csv"))
    assert (os.path.basename(err.file), err.column, err.row) == ("stages.csv", "review_period", 3)
    assert err.expected == "an integer" and err.got == repr(text)
