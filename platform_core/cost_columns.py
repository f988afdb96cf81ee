"""A cost model's extra per-stage columns, appended to the merged recommendations.

A cost model may return output columns with its costs (:attr:`StageCosts.columns`: a
learned estimate, its interval, its driver). They are aligned with the input's stages, as
the merged recommendations are, so the driver appends them after the merge; batches never
carry them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["with_cost_columns", "cost_column_metrics"]


def with_cost_columns(recommendations: pa.Table, columns: dict[str, np.ndarray] | None) -> pa.Table:
    """``recommendations`` (input order) with the cost model's ``columns`` appended.

    Raises:
        ValueError: a column's length differs from the number of rows, or its name is
            already an output column.
    """
    if not columns:
        return recommendations
    out = recommendations
    for name, values in columns.items():
        if name in out.column_names:
            raise ValueError(f"cost model column {name!r} is already an output column")
        if len(values) != out.num_rows:
            raise ValueError(f"cost model column {name!r} has {len(values)} values for {out.num_rows} stages")
        out = out.append_column(name, pa.array(np.asarray(values)))
    return out


def cost_column_metrics(columns: dict[str, np.ndarray] | None) -> dict[str, float]:
    """Run metrics of the cost model's columns (``summary.json``, MLflow).

    A numeric column gives ``cost_model.NAME_mean`` (mean over the stages where it is
    defined); a text column gives ``cost_model.NAME.VALUE``, the number of stages per value.
    """
    out: dict[str, float] = {}
    for name, values in (columns or {}).items():
        arr = np.asarray(values)
        if arr.dtype.kind in "fiu":
            finite = arr[np.isfinite(arr)]
            if finite.size:
                out[f"cost_model.{name}_mean"] = float(finite.mean())
        else:
            keys, counts = np.unique(arr.astype(str), return_counts=True)
            out.update({f"cost_model.{name}.{k or 'none'}": float(c) for k, c in zip(keys, counts, strict=True)})
    return out
