"""The fast paths of validation agree with their fallbacks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from platform_core.data import validate as v
from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import load_dataset
from platform_core.data.schemas import DEMAND


@pytest.mark.parametrize("card_extra", [0, 10**12])
def test_later_duplicates_both_paths(card_extra):
    code = np.array([5, 3, 9, 3, 5, 7, 3], dtype=np.int64)
    later = v._later_duplicates(code, int(code.max()) + 1 + card_extra)
    assert later.tolist() == [3, 4, 6]
    assert v._later_duplicates(np.array([4, 1, 2]), 5 + card_extra).tolist() == []


def test_stage_lookup_without_dense_table(tables):
    index = v._StageIndex(tables["stages"], v._Encodings())
    dense = index.lookup(tables["demand"].column("sku"), tables["demand"].column("location"))
    index.dense = None
    sparse = index.lookup(tables["demand"].column("sku"), tables["demand"].column("location"))
    np.testing.assert_array_equal(dense, sparse)
    assert (dense >= 0).all()
    odd = pa.chunked_array([pa.array(["A", "Z", None])])
    locs = pa.chunked_array([pa.array(["S9", "S1", "S1"])])
    assert index.lookup(odd, locs).tolist() == [-1, -1, -1]


def test_unconvertible_parquet_type(make_dataset, tables):
    d = tables["demand"]
    tables["demand"] = d.set_column(2, "period", pa.array([True] * d.num_rows))
    root = make_dataset(tables)
    with pytest.raises(DataValidationError) as info:
        load_dataset(root)
    assert (info.value.column, info.value.row) == ("period", None)
    assert info.value.expected == "a column of type date32[day]" and info.value.got == "type bool"


def test_parquet_compatible_types_are_converted(make_dataset, tables):
    d = tables["demand"]
    n = d.num_rows
    d = d.set_column(3, "quantity", pa.array(np.arange(n, dtype=np.int32)))
    ts = pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(days=7 * (i % 6)) for i in range(n)],
                  pa.timestamp("us"))
    d = d.set_column(2, "period", ts)
    d = d.set_column(0, "sku", d.column("sku").cast(pa.large_string()).dictionary_encode())
    tables["demand"] = d
    ds = load_dataset(make_dataset(tables))
    assert [f.type for f in ds.demand.schema] == [c.type for c in DEMAND.columns]
    assert ds.demand.column("period")[6].as_py() == dt.date(2024, 1, 1)


def test_integer_written_as_float_text(make_dataset, tables):
    root = make_dataset(tables, "csv")
    path = root / "stages.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines).replace(",1,", ",1.0,") + "\n")
    assert load_dataset(root).stages.column("review_period").to_pylist() == [1] * 8
    path.write_text("\n".join(lines).replace(",1,", ",1.5,", 1) + "\n")
    with pytest.raises(DataValidationError) as info:
        load_dataset(root)
    assert (info.value.column, info.value.row, info.value.expected) == ("review_period", 1, "an integer")
