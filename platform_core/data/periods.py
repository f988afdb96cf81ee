"""Put dated demand rows on the period grid: at most one row per stage and period.

Demand arrives as one row per period, per day or per dated transaction total. Planning
works on equally spaced periods of ``period_days`` and needs at most one row per stage
and period, so the loader puts the rows on that grid here (``docs/data.md``, "Demand
periods"):

* **The grid.** Period ``k`` covers the days ``first + start(k) .. first + start(k+1) - 1``
  where ``first`` is the earliest date of the demand table and ``start(k)`` is the
  smallest whole number of days ``o >= 0`` with ``floor(o / period_days) >= k``; for
  whole ``period_days`` simply ``k * period_days``. A row dated ``d`` is in period
  ``floor((d - first) / period_days)`` (the rule planning applies), and a period is
  labelled with its first day.
* **Rows on the grid are kept as they are.** When every row is dated on the first day
  of its period (weekly rows with ``period_days = 7``, daily rows with ``period_days =
  1``), each row is one period: the table is returned unchanged (the same object).
* **Otherwise the rows of one stage in one period are summed.** ``quantity`` is the sum
  (null when any of the rows is null: the total is unknown); ``stocked_out`` is true
  when any row is (null when all are null). Rows come out in the order of each
  period's first row in the file; columns outside the contract are dropped.
* **A partial last period is dropped.** Each row is taken to cover the spacing of the
  dates, ``g`` = the most frequent gap between consecutive distinct dates of the table
  (1 for daily rows or transactions, 7 for weekly rows, also when a few are off their
  day; the smallest such gap on a tie). When the data ends (``last + g - 1``) before the
  last day of the last period, that period holds only part of its demand; its rows are
  left out and reported. The first period starts on the earliest date, so it is never
  partial.

Two rows of one stage with the same date are rejected by validation (the demand key is
unique) before this runs.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.data.schemas import DEMAND

__all__ = ["DemandGrid", "demand_on_grid", "period_starts", "DEFAULT_PERIOD_DAYS"]

#: Default length of a period [days]; equal to the default ``[run] period_days``.
DEFAULT_PERIOD_DAYS = 7.0

_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class DemandGrid:
    """How the demand rows were put on the period grid (the loader's report).

    Attributes:
        period_days: length of a period [days].
        first_period: first day of period 0 (the earliest demand date), None without rows.
        n_periods: periods from the first to the last one kept [periods].
        rows_in: demand rows read.
        rows_out: demand rows handed to planning (one per stage and period).
        aggregated: whether rows were summed per stage and period (some row was not
            dated on the first day of its period); False means the table is unchanged.
        rows_off_grid: rows not dated on the first day of their period.
        periods_summed: output rows made of more than one input row.
        row_spacing_days: the spacing of the dates, the most frequent gap between
            consecutive distinct dates [days] (0 with a single date).
        partial_period: first day of the partial last period that was dropped, or None.
        rows_dropped: input rows of the dropped partial period.
        columns_dropped: columns outside the contract dropped when rows were summed.
    """

    period_days: float
    first_period: dt.date | None
    n_periods: int
    rows_in: int
    rows_out: int
    aggregated: bool
    rows_off_grid: int
    periods_summed: int
    row_spacing_days: int
    partial_period: dt.date | None
    rows_dropped: int
    columns_dropped: tuple[str, ...]

    def describe(self) -> str:
        """One paragraph for a log or a report, e.g. for ``echelon validate``."""
        if self.first_period is None:
            return f"demand: no rows (periods of {self.period_days:g} days)"
        text = (f"demand: {self.rows_in:,} rows on periods of {self.period_days:g} days from "
                f"{self.first_period.isoformat()} ({self.n_periods:,} periods)")
        if not self.aggregated:
            return text + ", every row on the first day of its period (unchanged)"
        text += (f"; {self.rows_off_grid:,} rows inside a period (dates every "
                 f"{self.row_spacing_days} day{'s' if self.row_spacing_days != 1 else ''}), "
                 f"summed per stage and period into {self.rows_out:,} rows "
                 f"({self.periods_summed:,} made of several rows)")
        if self.partial_period is not None:
            text += (f"; partial last period from {self.partial_period.isoformat()} dropped "
                     f"({self.rows_dropped:,} rows)")
        if self.columns_dropped:
            text += "; columns dropped: " + ", ".join(self.columns_dropped)
        return text


def period_starts(n: int, period_days: float) -> np.ndarray:
    """First day of periods ``0 .. n-1`` as offsets from the first date [days] (int64).

    ``start(k)`` is the smallest whole ``o >= 0`` with ``floor(o / period_days) >= k``,
    computed with the same floating-point expression planning uses to place a date.
    """
    pd_ = float(period_days)
    k = np.arange(n, dtype=np.int64)
    s: np.ndarray = np.ceil(k * pd_).astype(np.int64)
    while True:  # ceil(k * pd) is off by at most one day either way through rounding
        low = np.floor(s / pd_) < k
        s[low] += 1
        high = (s > 0) & (np.floor((s - 1) / pd_) >= k)
        s[high] -= 1
        if not (low.any() or high.any()):
            return s


def _offsets(chunk: pa.Array, first: int) -> np.ndarray:
    days: np.ndarray = chunk.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    return days - first


def _spacing(period: pa.ChunkedArray) -> int:
    """Most frequent gap between consecutive distinct dates [days] (smallest on a tie; 0 for one date)."""
    dates = np.sort(pc.unique(pc.cast(period, pa.int32())).to_numpy(zero_copy_only=False).astype(np.int64))
    if dates.size < 2:
        return 0
    return int(np.argmax(np.bincount(np.diff(dates))))


def _date(days: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(days))


def demand_on_grid(demand: pa.Table, period_days: float) -> tuple[pa.Table, DemandGrid]:
    """Put a validated demand table on the grid of ``period_days`` (see the module doc).

    Args:
        demand: the demand table, validated (no null ``period``; unique key).
        period_days: length of a period [days], > 0: ``[run] period_days`` of the run.

    Returns:
        The table with at most one row per stage and period (``demand`` itself when every
        row is on the first day of its period) and the report of what was done.

    Raises:
        ValueError: ``period_days`` not a positive finite number, or a null ``period``.
    """
    pd_ = float(period_days)
    if not (math.isfinite(pd_) and pd_ > 0):
        raise ValueError(f"period_days must be a positive number of days, got {period_days!r}")
    n = demand.num_rows
    if n == 0:
        return demand, DemandGrid(pd_, None, 0, 0, 0, False, 0, 0, 0, None, 0, ())
    period = demand.column("period")
    if period.null_count:
        raise ValueError("demand_on_grid needs a validated table: 'period' has nulls")
    mm = pc.min_max(pc.cast(period, pa.int32())).as_py()
    first, last = int(mm["min"]), int(mm["max"])
    k_last = int(np.floor((last - first) / pd_))
    starts = period_starts(k_last + 2, pd_)
    off_grid = 0
    for chunk in period.chunks:  # chunk by chunk: no per-row array of the whole table
        off = _offsets(chunk, first)
        off_grid += int(np.count_nonzero(off != starts[np.floor(off / pd_).astype(np.int64)]))
    spacing = _spacing(period)
    first_date = _date(first)
    if off_grid == 0:
        return demand, DemandGrid(pd_, first_date, k_last + 1, n, n, False, 0, 0, spacing, None, 0, ())

    off = np.concatenate([_offsets(c, first) for c in period.chunks])
    k = np.floor(off / pd_).astype(np.int64)
    covered_to = (last - first) + spacing - 1  # last day the rows cover [offset]
    partial = covered_to < starts[k_last + 1] - 1
    cols = {"sku": demand.column("sku"), "location": demand.column("location"),
            "_k": pa.array(k), "_row": pa.array(np.arange(n, dtype=np.int64)),
            "quantity": demand.column("quantity")}
    has_flag = "stocked_out" in demand.column_names
    if has_flag:
        cols["stocked_out"] = demand.column("stocked_out")
    rows = pa.table(cols).unify_dictionaries()  # chunks (Parquet row groups) have their own dictionaries
    dropped = 0
    if partial:
        keep = k != k_last
        dropped = int(n - np.count_nonzero(keep))
        rows = rows.filter(pa.array(keep))
    aggs: list[tuple[str, str] | tuple[str, str, pc.FunctionOptions]] = [
        ("quantity", "sum"), ("quantity", "count", pc.CountOptions(mode="only_null")),
        ("_row", "min"), ("_row", "count")]
    if has_flag:
        aggs.append(("stocked_out", "any"))
    grouped = rows.group_by(["sku", "location", "_k"], use_threads=False).aggregate(aggs)
    grouped = grouped.sort_by("_row_min")
    quantity = pc.if_else(pc.greater(grouped.column("quantity_count"), 0),
                          pa.scalar(None, pa.float64()), grouped.column("quantity_sum"))
    label = first + starts[grouped.column("_k").to_numpy()]
    out: dict[str, pa.ChunkedArray | pa.Array] = {
        "sku": grouped.column("sku").cast(demand.schema.field("sku").type),
        "location": grouped.column("location").cast(demand.schema.field("location").type),
        "period": pa.array(label.astype(np.int32), pa.int32()).cast(pa.date32()),
        "quantity": quantity.cast(pa.float64()),
    }
    if has_flag:
        out["stocked_out"] = grouped.column("stocked_out_any")
    spec_names = {c.name for c in DEMAND.columns}
    extra = tuple(c for c in demand.column_names if c not in spec_names)
    table = pa.table(out)
    summed = int(np.count_nonzero(grouped.column("_row_count").to_numpy() > 1))
    n_periods = k_last if partial else k_last + 1
    grid = DemandGrid(pd_, first_date, n_periods, n, table.num_rows, True, off_grid, summed, spacing,
                      _date(first + int(starts[k_last])) if partial else None, dropped, extra)
    return table, grid
