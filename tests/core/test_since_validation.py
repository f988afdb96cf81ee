"""An incremental run validates the new data, and skips only files the previous run validated.

The structure tables of an incremental run must be the previous run's files (same
SHA-256); their own checks are skipped then, and only then.  Demand and receipts are
always validated.
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_core.data.errors import DataValidationError
from platform_core.data.generate import generate_dataset
from platform_core.data.loaders import load_dataset
from platform_core.incremental.run import STRUCTURE_TABLES, _validated_before
from platform_core.parts import input_file_digests


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("since_validation") / "data"
    generate_dataset(root, sku_locations=40, seed=3, periods=20)
    return root


def _previous(data):
    files = {n: data / f"{n}.parquet" for n in STRUCTURE_TABLES if (data / f"{n}.parquet").is_file()}
    return SimpleNamespace(input_files=input_file_digests(files))


def test_only_byte_identical_structure_files_count_as_validated(data, tmp_path):
    previous = _previous(data)
    assert _validated_before(previous, data) == set(previous.input_files)
    changed = tmp_path / "data"
    shutil.copytree(data, changed)
    costs = pq.read_table(changed / "costs.parquet")
    pq.write_table(costs.slice(0, costs.num_rows - 1), changed / "costs.parquet")  # one row fewer
    assert _validated_before(previous, changed) == set(previous.input_files) - {"costs"}


def test_a_skipped_table_is_not_checked_but_new_demand_is(data, tmp_path):
    bad = tmp_path / "data"
    shutil.copytree(data, bad)
    costs = pq.read_table(bad / "costs.parquet")
    pq.write_table(pa.concat_tables([costs, costs.slice(0, 1)]), bad / "costs.parquet")  # a duplicate key
    with pytest.raises(DataValidationError) as err:
        load_dataset(bad)
    assert err.value.file.endswith("costs.parquet")
    load_dataset(bad, validated={"costs"})  # what a previous run validated is not checked again
    demand = pq.read_table(bad / "demand.parquet")
    q = demand.column("quantity").to_pylist()
    q[5] = -3.0
    pq.write_table(demand.set_column(demand.column_names.index("quantity"), "quantity", pa.array(q)),
                   bad / "demand.parquet")
    with pytest.raises(DataValidationError) as err:
        load_dataset(bad, validated=set(STRUCTURE_TABLES))
    assert err.value.file.endswith("demand.parquet") and err.value.column == "quantity" and err.value.row == 6
