"""Typed access to columns of the data contract, shared by the core and the plugins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["float_column", "lead_time_days"]


def float_column(table: pa.Table, name: str, default: float) -> np.ndarray:
    """Column ``name`` as float64, nulls replaced by ``default``; all ``default`` when absent."""
    if name not in table.column_names:
        return np.full(table.num_rows, default, dtype=np.float64)
    arr = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    return np.where(np.isnan(arr), default, arr)


def lead_time_days(receipts: pa.Table) -> np.ndarray:
    """Lead time of every receipt row [days]: receipt_date - order_date."""
    days = pc.days_between(receipts.column("order_date"), receipts.column("receipt_date"))
    return days.to_numpy(zero_copy_only=False).astype(np.float64)
