"""Demand series helpers shared by the forecasting plugins.

:class:`platform_core.components.DemandSeries` holds many series as CSR arrays.  These
helpers build it from a demand table and turn it into the right-aligned padded matrix
(one row per series, the last column is the most recent period, NaN before the start of
a series) on which the vectorised models, the demand classes and frozen prediction work.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from platform_core.components import DemandSeries
from platform_core.data.columns import plain_strings

__all__ = ["demand_series_from_table", "padded"]


def demand_series_from_table(demand: pa.Table, signals: pa.Table | None = None) -> DemandSeries:
    """Build :class:`DemandSeries` from a demand table (schema ``DEMAND``).

    Rows are sorted by sku, location and period; the key is ``"sku@location"``.  A
    missing ``stocked_out`` column (or null) means not stocked out.  With a ``signals``
    table (schema ``SIGNALS``) its signal columns become ``exogenous``, matched on sku,
    location and period (NaN where a demand row has no signal row).
    """
    order = [("sku", "ascending"), ("location", "ascending"), ("period", "ascending")]
    t = plain_strings(demand).sort_by(order)
    if signals is not None:
        return _with_signals(demand_series_from_table(demand), t, plain_strings(signals))
    sku = t.column("sku").to_numpy(zero_copy_only=False).astype(str)
    loc = t.column("location").to_numpy(zero_copy_only=False).astype(str)
    keys_all = np.char.add(np.char.add(sku, "@"), loc)
    q = t.column("quantity").cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
    if "stocked_out" in t.column_names:
        so = t.column("stocked_out").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    else:
        so = np.zeros(len(q), dtype=bool)
    if len(keys_all) == 0:
        return DemandSeries([], np.zeros(0), np.zeros(0, dtype=bool), np.zeros(1, dtype=np.int64))
    change = np.flatnonzero(keys_all[1:] != keys_all[:-1]) + 1
    indptr = np.concatenate(([0], change, [len(keys_all)])).astype(np.int64)
    keys = [str(keys_all[i]) for i in indptr[:-1]]
    return DemandSeries(keys, np.asarray(q, dtype=np.float64), so, indptr)


def padded(demand: DemandSeries, max_history: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Right-aligned dense copies of the values and censoring flags.

    Args:
        demand: the series.
        max_history: keep at most this many most recent periods [periods].

    Returns:
        ``(Y, C)``: ``Y`` float array (n, T) with NaN before each series starts (and where
        values are missing), ``C`` bool array (n, T) of stocked-out flags.
    """
    indptr = np.asarray(demand.indptr, dtype=np.int64)
    n = len(indptr) - 1
    lengths = np.diff(indptr)
    if max_history is not None:
        lengths = np.minimum(lengths, int(max_history))
    T = int(lengths.max()) if n else 0
    T = max(T, 1)
    Y = np.full((n, T), np.nan)
    C = np.zeros((n, T), dtype=bool)
    if n == 0:
        return Y, C
    # element positions: for series i the last lengths[i] values go to columns T-len..T-1
    rows = np.repeat(np.arange(n), lengths)
    starts = indptr[1:] - lengths
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    src = np.repeat(starts, lengths) + within
    cols = T - np.repeat(lengths, lengths) + within
    Y[rows, cols] = np.asarray(demand.values, dtype=np.float64)[src]
    so = np.asarray(demand.stocked_out)
    if so.size:
        C[rows, cols] = so[src].astype(bool)
    return Y, C


def _with_signals(series: DemandSeries, sorted_demand: pa.Table, signals: pa.Table) -> DemandSeries:
    """``series`` (built from ``sorted_demand``) with the signal columns of ``signals`` as exogenous."""
    keys = ["sku", "location", "period"]
    names = tuple(n for n in signals.column_names if n not in keys)
    rows = sorted_demand.select(keys).append_column("_row", pa.array(np.arange(sorted_demand.num_rows)))
    joined = rows.join(signals.select([*keys, *names]), keys=keys, join_type="left outer").sort_by("_row")
    X = np.column_stack([joined.column(n).cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
                         for n in names]) if names else np.zeros((sorted_demand.num_rows, 0))
    series.exogenous = np.asarray(X, dtype=np.float64).reshape(sorted_demand.num_rows, len(names))
    series.exogenous_names = names
    return series
