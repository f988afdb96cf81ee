"""Typed access to columns of the data contract, shared by the core and the plugins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["float_column", "lead_time_days", "plain_strings"]


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


def plain_strings(table: pa.Table, names: tuple[str, ...] = ("sku", "location")) -> pa.Table:
    """``table`` with the dictionary-encoded columns among ``names`` decoded to plain strings.

    Loaded demand tables hold ``sku`` and ``location`` dictionary-encoded
    (``FileSpec.dictionary_columns``); Arrow cannot sort a table by such a column, so
    code that sorts by name decodes first (after any filtering, to keep it small).
    """
    for name in names:
        if name in table.column_names:
            col = table.column(name)
            if pa.types.is_dictionary(col.type):
                i = table.column_names.index(name)
                table = table.set_column(i, name, pc.cast(col, col.type.value_type))
    return table
