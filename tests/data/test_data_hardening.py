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
