"""The driver's planner outputs once the batches are merged.

* compared with the previous run (``echelon run --compare-with PREVIOUS_OUT``) when the
  input has no ``current_policy`` (:func:`platform_core.compare.compare_with_previous`);
* ``OUT/exceptions.parquet``, the ranked exception lists
  (:mod:`platform_core.exception_lists`), written atomically;
* the ``summary.json`` sections ``compared_with_today`` (totals of today and the
  recommendation) and ``exceptions`` (rows per list).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from platform_core.compare import compare_with_previous, comparison_totals
from platform_core.exception_lists import exception_counts, exceptions_for_run
from platform_core.parts import write_parquet_atomic
from platform_core.plan import SharedInputs
from platform_core.summary import customer_facing

__all__ = ["EXCEPTIONS_FILE", "with_previous_run", "write_planner_outputs"]

EXCEPTIONS_FILE = "exceptions.parquet"


def _input_order(shared: SharedInputs, values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[shared.input_row] = values
    return out


def with_previous_run(merged: pa.Table, shared: SharedInputs, compare_with: str | os.PathLike[str] | None) -> pa.Table:
    """``merged`` compared with the run in ``compare_with`` when there is no current policy."""
    if compare_with is None or shared.current_policy is not None:
        return merged
    return compare_with_previous(merged, compare_with, _input_order(shared, shared.unit_cost),
                                 shared.settings.period_days)


def write_planner_outputs(merged: pa.Table, shared: SharedInputs, out_dir: Path,
                          compare_with: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Write ``exceptions.parquet``; returns the ``summary.json`` sections."""
    exceptions = exceptions_for_run(merged, shared)
    write_parquet_atomic(exceptions, out_dir / EXCEPTIONS_FILE)
    source = ("current_policy" if shared.current_policy is not None
              else f"previous run {compare_with}" if compare_with is not None else None)
    sections: dict[str, Any] = {"exceptions": exception_counts(exceptions)}
    if source is not None:
        sections["compared_with_today"] = comparison_totals(
            merged, _input_order(shared, shared.unit_cost), customer_facing(shared), source)
    return sections
