"""Signals on the demand grid: the period check after loading, and the planned signal array.

The optional ``signals`` table (:data:`platform_core.data.schemas.SIGNALS`) holds any
numeric columns per SKU-location and period. Its rows must be dated on the first day of a
period of the demand grid (:mod:`platform_core.data.periods`), from the first period to the
last one kept: a signal is aligned with the demand of the same period, and the ``signals``
forecaster reads it at lags of whole periods. Planning puts the signals in an array
``[stages, periods, signals]`` beside the demand matrix (NaN where not observed).
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.data.errors import DataValidationError
from platform_core.data.periods import DemandGrid, period_starts
from platform_core.data.schemas import SIGNALS, Dataset
from platform_core.data.stage_index import StageIndex

__all__ = ["check_signal_periods", "signal_names", "signal_array"]

_EPOCH = dt.date(1970, 1, 1)


def signal_names(signals: pa.Table) -> tuple[str, ...]:
    """The signal columns of a ``signals`` table, in file order."""
    own = {c.name for c in SIGNALS.columns}
    return tuple(n for n in signals.column_names if n not in own)


def _days(period: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(period, pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)


def check_signal_periods(ds: Dataset) -> None:
    """Every ``signals`` row is dated on the first day of a kept period of the demand grid.

    Args:
        ds: a validated dataset whose demand is on the grid (``ds.demand_grid`` set).

    Raises:
        DataValidationError: the first row off the grid (file, column ``period``, row, the
            grid expected), with the number of such rows.
    """
    signals, grid = ds.get("signals"), ds.demand_grid
    if signals is None or grid is None or signals.num_rows == 0:
        return
    file = ds.sources.get("signals") or os.path.join(ds.root, "signals")
    days = _days(signals.column("period"))
    if grid.first_period is None:
        raise DataValidationError(file, "period", 1, "no signal rows (the demand table has no rows, so no "
                                  "period grid)", str(_EPOCH + dt.timedelta(days=int(days[0]))))
    bad = _off_grid(days, grid)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        n = int(bad.sum())
        first = grid.first_period
        last = first + dt.timedelta(days=int(period_starts(grid.n_periods, grid.period_days)[-1]))
        raise DataValidationError(
            file, "period", i + 1,
            f"the first day of a period of the demand grid ({grid.period_days:g}-day periods from "
            f"{first.isoformat()} to {last.isoformat()})",
            str(_EPOCH + dt.timedelta(days=int(days[i]))),
            detail=f"{n - 1} more row{'s' if n > 2 else ''} like this" if n > 1 else None)


def _off_grid(days: np.ndarray, grid: DemandGrid) -> np.ndarray:
    assert grid.first_period is not None
    first = (grid.first_period - _EPOCH).days
    starts = period_starts(grid.n_periods + 1, grid.period_days)
    off = days - first
    k = np.floor(off / float(grid.period_days)).astype(np.int64)
    inside = (off >= 0) & (k < grid.n_periods)
    on_start = np.zeros(days.size, dtype=bool)
    on_start[inside] = off[inside] == starts[k[inside]]
    return ~on_start


def signal_array(signals: pa.Table | None, demand: pa.Table, index: StageIndex, rank: np.ndarray,
                 n_periods: int, period_days: float) -> tuple[tuple[str, ...], np.ndarray | None]:
    """The signals as ``[planned stages, periods, signals]`` on the demand matrix's grid.

    Period ``k`` is ``floor((date - first demand date) / period_days)`` as for demand;
    rows outside ``[0, n_periods)`` (possible only in a dataset built in memory) are left
    out; cells without a row are NaN.

    Returns:
        The signal names and the array [signal units] (None without a signals table).
    """
    if signals is None or demand.num_rows == 0:
        return (), None
    names = signal_names(signals)
    out = np.full((rank.size, n_periods, len(names)), np.nan)
    first = int(pc.min(pc.cast(demand.column("period"), pa.int32())).as_py())
    for _, rows, batch in index.batches(signals, columns=("period", *names)):
        k = np.floor((_days(pa.chunked_array([batch.column("period")])) - first) / float(period_days))
        k = k.astype(np.int64)
        keep = (rows >= 0) & (k >= 0) & (k < n_periods)
        planned = rank[rows[keep]]
        for j, name in enumerate(names):
            col = batch.column(name).cast(pa.float64()).fill_null(np.nan)
            out[planned, k[keep], j] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)[keep]
    return names, out
