"""The ``order_lines`` and ``expedites`` tables of the data contract: what they accept, each error they name.

The expected messages are written from docs/data.md (Validation rules): file, column, row
and what was expected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import load_dataset

STAGES = """sku,location,unit_cost,price,carrying_rate
A,DC,5,10,0.2
A,S0,8,12,0.2
"""
DEMAND = """sku,location,period,quantity
A,S0,2024-01-01,4
A,S0,2024-01-08,6
"""
LINES = "line_id,customer,sku,location,order_date,quantity_ordered,quantity_filled,short,customer_segment\n"
EXPEDITES = "expedite_id,sku,location,supplier,carrier,shipment_mode,quantity,days_saved,cost\n"


def _dataset(tmp_path: Path, **files: str) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    for name, text in {"stages": STAGES, "demand": DEMAND, **files}.items():
        (root / f"{name}.csv").write_text(text)
    return root


def test_valid_tables_load(tmp_path: Path) -> None:
    ds = load_dataset(_dataset(
        tmp_path, order_lines=LINES + "L1,C1,A,S0,2024-01-01,5,5,,key\nL2,C1,A,S0,2024-01-08,5,,true,\n",
        expedites=EXPEDITES + "E1,A,S0,DC,ROADX,Truck,10,3,12.5\n"))
    assert ds.tables["order_lines"].num_rows == 2 and ds.tables["expedites"].num_rows == 1
    assert ds.tables["order_lines"].column("quantity_filled").null_count == 1


@pytest.mark.parametrize(("files", "column", "row", "expected"), [
    ({"order_lines": LINES + "L1,C1,A,S0,2024-01-01,5,6,,\n"}, "quantity_filled", 1, "at most quantity_ordered (5)"),
    ({"order_lines": LINES + "L1,C1,A,S0,2024-01-01,5,5,,\nL2,C1,A,S0,2024-01-08,5,,,\n"}, "quantity_filled,short",
     2, "a quantity_filled or a short flag (whether the line was filled in full)"),
    ({"order_lines": LINES + "L1,C1,A,S9,2024-01-01,5,5,,\n"}, "sku,location", 1, "a stage listed in stages"),
    ({"order_lines": LINES + "L1,C1,A,S0,2024-01-01,0,0,,\n"}, "quantity_ordered", 1, None),
    ({"expedites": EXPEDITES + "E1,A,S0,DC,ROADX,Truck,10,0,12.5\n"}, "days_saved", 1, None),
    ({"expedites": EXPEDITES + "E1,A,X,DC,ROADX,Truck,10,2,12.5\n"}, "sku,location", 1, "a stage listed in stages"),
    ({"expedites": EXPEDITES + "E1,A,S0,DC,ROADX,Truck,10,2,-1\n"}, "cost", 1, None),
    ({"expedites": "expedite_id,sku,location,supplier,shipment_mode,quantity,days_saved,cost\n"
                   "E1,A,S0,DC,Truck,10,2,3\n"}, "carrier", None, "a required column of type string"),
])
def test_errors_name_file_column_row_and_expectation(tmp_path: Path, files: dict[str, str], column: str,
                                                     row: int | None, expected: str | None) -> None:
    with pytest.raises(DataValidationError) as info:
        load_dataset(_dataset(tmp_path, **files))
    err = info.value
    assert Path(err.file).name == f"{next(iter(files))}.csv"
    assert err.column == column and err.row == row
    if expected is not None:
        assert err.expected == expected, str(err)
