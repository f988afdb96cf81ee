"""Shared fixtures: a small valid dataset (2 SKUs, plant -> DC -> 2 stores) in memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from platform_core.data.loaders import write_table
from platform_core.data.schemas import FILE_SPECS


def _table(name: str, rows: dict[str, list]) -> pa.Table:
    spec = FILE_SPECS[name]
    cols = {k: pa.array(v, type=spec.column(k).type) for k, v in rows.items()}
    return pa.table(cols)


def small_tables() -> dict[str, pa.Table]:
    """A valid dataset: SKU A and B, P1 -> DC1 -> S1, S2; 6 weekly periods."""
    stages = []
    for sku in ("A", "B"):
        for loc, typ, cost in (("P1", "plant", 5.0), ("DC1", "regional_dc", 6.0),
                               ("S1", "store", 7.0), ("S2", "store", 7.0)):
            stages.append((sku, loc, typ, cost))
    st = _table("stages", {
        "sku": [s[0] for s in stages], "location": [s[1] for s in stages],
        "location_type": [s[2] for s in stages], "unit_cost": [s[3] for s in stages],
        "price": [10.0] * 8, "carrying_rate": [0.25] * 8,
        "service_target": [0.95, None, 0.98, 0.9] * 2,
        "review_period": [1] * 8, "abc_class": ["A", "B", "C", "A"] * 2,
    })
    ed_rows = []
    for sku in ("A", "B"):
        ed_rows += [(sku, "P1", sku, "DC1"), (sku, "DC1", sku, "S1"), (sku, "DC1", sku, "S2")]
    ed = _table("edges", {
        "upstream_sku": [r[0] for r in ed_rows], "upstream_location": [r[1] for r in ed_rows],
        "downstream_sku": [r[2] for r in ed_rows], "downstream_location": [r[3] for r in ed_rows],
        "quantity_per": [1.0] * 6, "transit_days": [7.0, 2.0, 2.0] * 2,
    })
    dm = {"sku": [], "location": [], "period": [], "quantity": [], "stocked_out": []}
    start = dt.date(2024, 1, 1)
    for sku in ("A", "B"):
        for loc in ("S1", "S2"):
            for p in range(6):
                dm["sku"].append(sku)
                dm["location"].append(loc)
                dm["period"].append(start + dt.timedelta(days=7 * p))
                dm["quantity"].append(float(p + 1))
                dm["stocked_out"].append(p == 3)
    rc = _table("receipts", {
        "order_id": ["o1", "o2", "o3"], "sku": ["A", "A", "B"], "location": ["P1", "DC1", "P1"],
        "supplier": ["SUP1", "P1", "SUP1"],
        "order_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 3), dt.date(2024, 1, 5)],
        "receipt_date": [dt.date(2024, 1, 20), dt.date(2024, 1, 6), dt.date(2024, 2, 1)],
        "quantity": [100.0, 20.0, 50.0], "shipment_mode": ["Ocean", "Truck", "Air"],
    })
    return {"stages": st, "edges": ed, "demand": _table("demand", dm), "receipts": rc}


def write_dataset(root: Path, tables: dict[str, pa.Table], fmt: str = "parquet") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, t in tables.items():
        write_table(t, root / f"{name}.{fmt}")
    return root


@pytest.fixture
def tables() -> dict[str, pa.Table]:
    return small_tables()


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(tables: dict[str, pa.Table], fmt: str = "parquet") -> Path:
        return write_dataset(tmp_path / f"ds{next(counter)}", tables, fmt)

    return make
