"""The ``overrides`` table of the data contract: what it accepts, and each error it names.

The expected messages are written from docs/data.md (Validation rules), not read from
the validator: file, column, row and what was expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import load_dataset
from platform_core.data.stage_index import StageIndex
from platform_core.overrides import describe_override, override_bounds

STAGES = """sku,location,unit_cost,price,carrying_rate,service_target
A,DC,5,10,0.2,
A,S0,8,12,0.2,0.95
A,S1,8,12,0.2,0.95
"""
EDGES = """upstream_sku,upstream_location,downstream_sku,downstream_location,quantity_per
A,DC,A,S0,1
A,DC,A,S1,1
"""
DEMAND = """sku,location,period,quantity
A,S0,2024-01-01,4
A,S0,2024-01-08,6
A,S1,2024-01-01,5
A,S1,2024-01-08,3
"""
HEADER = "sku,location,pinned_level,min_level,max_level,reason\n"


def _dataset(tmp_path: Path, overrides: str) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    for name, text in (("stages", STAGES), ("edges", EDGES), ("demand", DEMAND), ("overrides", overrides)):
        (root / f"{name}.csv").write_text(text)
    return root


def test_pins_and_corridors_become_per_stage_bounds(tmp_path: Path) -> None:
    ds = load_dataset(_dataset(tmp_path, HEADER + "A,S1,,10,,promo\nA,DC,40,,,space\nA,S0,,,25,\n"))
    level_min, level_max = override_bounds(ds, StageIndex(ds.stages))
    # stage rows: DC, S0, S1 (the order of stages.csv, not of overrides.csv)
    np.testing.assert_array_equal(level_min, [40.0, np.nan, 10.0])
    np.testing.assert_array_equal(level_max, [40.0, 25.0, np.nan])
    assert [describe_override(lo, hi) for lo, hi in zip(level_min, level_max, strict=True)] == \
        ["pinned at 40", "max 25", "min 10"]
    assert describe_override(np.nan, np.nan) == "" and describe_override(30, 50) == "min 30, max 50"


def test_no_overrides_table_means_no_bounds(tmp_path: Path) -> None:
    root = _dataset(tmp_path, HEADER)
    (root / "overrides.csv").unlink()
    ds = load_dataset(root)
    assert override_bounds(ds, StageIndex(ds.stages)) is None


@pytest.mark.parametrize(("rows", "column", "row", "expected", "got"), [
    ("A,S9,40,,,\n", "sku,location", 1, "a stage listed in stages", "(sku 'A', location 'S9'), which is not in "
     "stages.csv"),
    ("A,DC,-5,,,\n", "pinned_level", 1, "a number in [0, 1e8]", "-5.0"),
    ("A,DC,,,,\nA,S0,,-1,,\n", "min_level", 2, "a number in [0, 1e8]", "-1.0"),
    ("A,DC,,50,30,\n", "max_level", 1, "a level >= min_level (50)", "30.0"),
    ("A,DC,,,40,\nA,S0,40,10,,too much\n", "pinned_level,min_level,max_level", 2,
     "either pinned_level or a corridor (min_level / max_level), not both",
     "pinned_level 40.0 with min_level 10.0, max_level None"),
    ("A,DC,40,,,\nA,S0,,10,,\nA,DC,,20,,\n", "sku,location", 3, "a unique key", "duplicate key ('A', 'DC')"),
    ("A,DC,40.5,,,\n", "pinned_level", 1, "a whole number of units (base-stock levels are integers)", "40.5"),
    ("A,DC,,,,nothing\n", "pinned_level,min_level,max_level", 1, "a pinned_level, a min_level or a max_level",
     "all three null"),
])
def test_each_bad_override_is_named_by_file_column_and_row(tmp_path: Path, rows: str, column: str, row: int,
                                                           expected: str, got: str) -> None:
    root = _dataset(tmp_path, HEADER + rows)
    with pytest.raises(DataValidationError) as info:
        load_dataset(root)
    err = info.value
    assert err.file == str(root / "overrides.csv")
    assert (err.column, err.row) == (column, row)
    assert err.expected == expected
    assert got in str(err), str(err)
