"""Typed access to columns of the data contract, shared by the core and the plugins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["float_column", "lead_time_days", "decoded", "plain_strings"]


def float_column(table: pa.Table, name: str, default: float) -> np.ndarray:
    """Column ``name`` as float64, nulls replaced by ``default``; all ``default`` when absent."""
    if name not in table.column_names:
        return np.full(table.num_rows, default, dtype=np.float64)
    arr = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    return np.where(np.isnan(arr), default, arr)


def lead_time_days(receipts: pa.Table) -> np.ndarray:
    """Lead time of every receipt row [days]: receipt_date - order_date."""
    days = pc.days_between(receipts.column("order_date"), receipts.column("receipt_date"))
    out: np.ndarray = days.to_numpy(zero_copy_only=False).astype(np.float64)
    return out


def decoded(arr: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """``arr`` with a dictionary encoding undone (its values' type); other arrays as they are."""
    return pc.cast(arr, arr.type.value_type) if pa.types.is_dictionary(arr.type) else arr


def plain_strings(table: pa.Table, names: tuple[str, ...] = ("sku", "location")) -> pa.Table:
    """``table`` with the dictionary-encoded columns among ``names`` decoded to plain strings.

    Loaded demand tables hold ``sku`` and ``location`` dictionary-encoded
    (``FileSpec.dictionary_columns``); Arrow cannot sort a table by such a column, so
    code that sorts by name decodes first (after any filtering, to keep it small).
    """
    for name in names:
        if name in table.column_names and pa.types.is_dictionary(table.schema.field(name).type):
            table = table.set_column(table.column_names.index(name), name, decoded(table.column(name)))
    return table
