"""The fast paths of validation agree with their fallbacks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from platform_core.data import validate as v
from platform_core.data.columns import plain_strings
from platform_core.data.errors import DataValidationError, ErrorCollector
from platform_core.data.loaders import load_dataset
from platform_core.data.schemas import DEMAND
from platform_core.data.stage_index import StageIndex


@pytest.mark.parametrize("card_extra", [0, 10**12])
def test_later_duplicates_both_paths(card_extra):
    code = np.array([5, 3, 9, 3, 5, 7, 3], dtype=np.int64)
    later = v._later_duplicates(code, int(code.max()) + 1 + card_extra)
    assert later.tolist() == [3, 4, 6]
    assert v._later_duplicates(np.array([4, 1, 2]), 5 + card_extra).tolist() == []


def test_stage_lookup_without_dense_table(tables):
    index = StageIndex(tables["stages"])
    dense = index.lookup(tables["demand"])
    sparse = StageIndex(tables["stages"], dense_limit=0).lookup(tables["demand"])
    np.testing.assert_array_equal(dense, sparse)
    # independent answer: the row of each (sku, location) in the stages table
    st = tables["stages"]
    where = {(s, loc): i for i, (s, loc) in enumerate(zip(st.column("sku").to_pylist(),
                                                          st.column("location").to_pylist(), strict=True))}
    d = tables["demand"]
    expected = [where[k] for k in zip(d.column("sku").to_pylist(), d.column("location").to_pylist(), strict=True)]
    assert dense.tolist() == expected
    odd = pa.table({"sku": pa.array(["A", "Z", None, "B"]), "location": pa.array(["S9", "S1", "S1", "S2"])})
    for path in ("dense", "sparse"):
        index = StageIndex(st, dense_limit=0 if path == "sparse" else 1 << 20)
        assert index.lookup(odd).tolist() == [-1, -1, -1, where[("B", "S2")]]


def test_stage_lookup_of_dictionary_batches(tables):
    """Dictionary-encoded columns (own dictionary per chunk, nulls) resolve like plain strings."""
    index = StageIndex(tables["stages"])
    d = tables["demand"]
    plain = index.lookup(d)
    half = d.num_rows // 2
    chunked = pa.table({
        "sku": pa.chunked_array([d.column("sku").combine_chunks()[:half].dictionary_encode(),
                                 d.column("sku").combine_chunks()[half:].dictionary_encode()]),
        "location": d.column("location").cast(pa.large_string()).dictionary_encode(),
    })
    np.testing.assert_array_equal(index.lookup(chunked), plain)
    with_null = pa.table({"sku": pa.array(["A", None, "B"]).dictionary_encode(),
                          "location": pa.array(["S1", "S1", "S7"])})
    assert index.lookup(with_null).tolist()[1:] == [-1, -1] and index.lookup(with_null)[0] >= 0


@pytest.mark.parametrize("width_limit", [None, 0])
def test_duplicates_bitset_and_fallback_agree(tables, monkeypatch, width_limit):
    """Stage-keyed duplicates (bit set, several batches) and the hashing fallback give one answer."""
    if width_limit is not None:
        monkeypatch.setattr(v, "BITSET_LIMIT", width_limit)  # forces the fallback
    d = tables["demand"]
    periods = d.column("period").to_pylist()
    sku, loc = d.column("sku").to_pylist(), d.column("location").to_pylist()
    sku[17], loc[17], periods[17] = sku[5], loc[5], periods[5]  # row 18 duplicates row 6
    sku[20], loc[20], periods[20] = sku[5], loc[5], periods[5]  # row 21 too
    t = pa.table({"sku": sku, "location": loc, "period": pa.array(periods, pa.date32()),
                  "quantity": d.column("quantity"), "stocked_out": d.column("stocked_out")})
    t = pa.Table.from_batches(t.to_batches(max_chunksize=7))  # keys spread over 4 batches
    errors = ErrorCollector()
    v.check_table(DEMAND, t, "demand.parquet", errors, stage_index=StageIndex(tables["stages"]))
    (err,) = errors.errors
    assert err.rows == (6, 18) and "1 more row like this" in err.line


def test_bitset_test_and_set():
    bits = np.zeros(2, dtype=np.uint8)
    assert v._test_and_set(bits, np.array([3, 9, 3, 15])).tolist() == [False, False, True, False]
    assert v._test_and_set(bits, np.array([8, 9, 14, 8])).tolist() == [False, True, False, True]
    assert bits.tolist() == [0b00001000, 0b11000011]


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
    assert [f.type for f in ds.demand.schema] == [DEMAND.memory_type(c) for c in DEMAND.columns]
    assert ds.demand.column("period")[6].as_py() == dt.date(2024, 1, 1)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_demand_keys_are_dictionary_encoded_with_the_same_values(make_dataset, tables, fmt):
    plain = tables["demand"]
    ds = load_dataset(make_dataset(tables, fmt))
    for name in ("sku", "location"):
        col = ds.demand.column(name)
        assert pa.types.is_dictionary(col.type) and col.type.value_type == pa.string()
        assert col.to_pylist() == plain.column(name).to_pylist()
    # the stage rows resolved through the dictionaries are those of the plain strings
    index = StageIndex(ds.stages)
    assert np.array_equal(index.lookup(ds.demand), index.lookup(plain))
    # sorting needs plain strings; plain_strings decodes exactly
    decoded = plain_strings(ds.demand)
    assert decoded.column("sku").type == pa.string()
    assert decoded.column("sku").to_pylist() == plain.column("sku").to_pylist()


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
