"""The outcome tables: what happened in the periods after a plan, per SKU-location.

A directory holding ``outcome_periods.parquet`` or ``outcome_periods.csv`` (schema
:data:`OUTCOME_PERIODS`, documented in ``docs/rollout.md``), read and validated with the
input's own machinery (:mod:`platform_core.data.loaders`, :mod:`platform_core.data.validate`):
the same conversions, and errors naming file, column, row and what was expected.  On top
of the per-column rules: ``sales_units`` not above ``demand_units``, and every
SKU-location is one of the run's.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.data.errors import DataValidationError, ErrorCollector
from platform_core.data.loaders import find_file, load_table
from platform_core.data.schemas import MAX_DATE, MAX_QUANTITY, MIN_DATE, ColumnSpec, FileSpec
from platform_core.data.validate import check_table

__all__ = ["OUTCOME_PERIODS", "load_outcome_periods"]

_UNITS = "quantities count stocking units"

OUTCOME_PERIODS = FileSpec(
    name="outcome_periods",
    required=True,
    key=("sku", "location", "period"),
    meaning="What happened per SKU-location and period after the plan: demand, sales, on-hand, receipts and "
            "the base-stock level actually in force.",
    columns=(
        ColumnSpec("sku", pa.string(), "", True, False, "Item identifier (as in the run)."),
        ColumnSpec("location", pa.string(), "", True, False, "Location identifier (as in the run)."),
        ColumnSpec("period", pa.date32(), "[date]", True, False, "First day of the period.",
                   min_date=MIN_DATE, max_date=MAX_DATE),
        ColumnSpec("demand_units", pa.float64(), "[units/period]", True, False,
                   "Customer demand in the period, filled or not.", min_value=0.0, max_value=MAX_QUANTITY,
                   limit_note=_UNITS),
        ColumnSpec("sales_units", pa.float64(), "[units/period]", True, False,
                   "Demand filled from stock in the period (not above demand_units).", min_value=0.0,
                   max_value=MAX_QUANTITY, limit_note=_UNITS),
        ColumnSpec("on_hand_units", pa.float64(), "[units]", True, False,
                   "Stock on hand at the end of the period.", min_value=0.0, max_value=MAX_QUANTITY,
                   limit_note=_UNITS),
        ColumnSpec("level_used_units", pa.float64(), "[units]", True, False,
                   "Base-stock (order-up-to) level actually in force in the period.", min_value=0.0,
                   max_value=MAX_QUANTITY, limit_note=_UNITS),
        ColumnSpec("receipt_units", pa.float64(), "[units/period]", False, True,
                   "Units received in the period.", min_value=0.0, max_value=MAX_QUANTITY, limit_note=_UNITS),
        ColumnSpec("stocked_out", pa.bool_(), "", False, True,
                   "True when the SKU-location ran out of stock in the period."),
    ),
)


def load_outcome_periods(data_dir: str | os.PathLike[str], known: set[tuple[str, str]] | None = None) -> pa.Table:
    """Read and validate ``DATA/outcome_periods.{parquet,csv}``.

    Args:
        data_dir: the outcome directory.
        known: the run's ``(sku, location)`` pairs; a row naming another is an error.

    Returns:
        The table, converted to :data:`OUTCOME_PERIODS`' types.

    Raises:
        DataValidationError: a missing directory or file, a value that does not convert, a
            rule broken (up to 20 errors in one exception).
    """
    root = os.fspath(data_dir)
    if not os.path.isdir(root):
        raise DataValidationError(root, None, None, "an outcome directory", "no such directory")
    path = find_file(root, OUTCOME_PERIODS)
    assert path is not None  # required: find_file raised otherwise
    errors = ErrorCollector()
    table = load_table(path, OUTCOME_PERIODS, errors)
    errors.raise_if_any()
    ok = check_table(OUTCOME_PERIODS, table, path, errors)
    if ok:
        over = pc.greater(table.column("sales_units"), table.column("demand_units"))
        bad = np.flatnonzero(over.to_numpy(zero_copy_only=False))
        if bad.size:
            i = int(bad[0])
            errors.add(DataValidationError(
                path, "sales_units", i + 1, f"at most demand_units ({table.column('demand_units')[i].as_py():g})",
                f"{table.column('sales_units')[i].as_py():g}",
                detail=f"{bad.size - 1} more rows like this" if bad.size > 1 else None))
    if ok and known is not None:
        sku = table.column("sku").to_pylist()
        loc = table.column("location").to_pylist()
        unknown = [i for i, k in enumerate(zip(sku, loc, strict=True)) if k not in known]
        if unknown:
            i = unknown[0]
            errors.add(DataValidationError(
                path, "sku,location", i + 1, "a SKU-location of the run's plan",
                f"(sku {sku[i]!r}, location {loc[i]!r})",
                detail=f"{len(unknown) - 1} more rows like this" if len(unknown) > 1 else None))
    errors.raise_if_any()
    return table
