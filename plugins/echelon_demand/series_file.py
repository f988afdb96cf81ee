"""Read a plain file of demand series (CSV or Parquet) for ``echelon backtest``.

Two layouts are accepted:

* **long**: one row per series and period, with a series column (``series``,
  ``series_id``, ``unique_id``, ``id`` or ``item``; or ``sku`` plus optional
  ``location``, keyed ``sku@location``), a period column (``period``, ``ds``, ``date``,
  ``week`` or ``month``: integers or ISO dates) and a demand column (``demand``,
  ``quantity``, ``y``, ``sales`` or ``units``). Rows are sorted by period within a series;
  an empty demand cell is a missing period (NaN); an absent row is not inferred (write
  zero-demand periods out).
* **wide**: the first column is the series id and every other column is one period,
  oldest first (the layout of Hyndman's car-parts file); trailing empty cells mean the
  series ended, inner empty cells are missing periods.

Demand must be a non-negative number. A bad file raises :class:`SeriesFileError`,
whose message names the file, the column, the row (1-based data row; the CSV line is
one more, for the header) and what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from platform_core.components import DemandSeries

__all__ = ["SeriesFileError", "read_series_file", "SERIES_COLUMNS", "PERIOD_COLUMNS", "DEMAND_COLUMNS"]

SERIES_COLUMNS: tuple[str, ...] = ("series", "series_id", "unique_id", "id", "item", "sku")
PERIOD_COLUMNS: tuple[str, ...] = ("period", "ds", "date", "week", "month")
DEMAND_COLUMNS: tuple[str, ...] = ("demand", "quantity", "y", "sales", "units")


class SeriesFileError(ValueError):
    """A series file that cannot be read; the message says where and what was expected."""


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    low = {c.strip().lower(): c for c in columns}
    for n in names:
        if n in low:
            return low[n]
    return None


def _read_frame(path: Path):  # noqa: ANN202 - pandas DataFrame
    import pandas as pd

    suffix = path.suffix.lower()
    if not path.is_file():
        raise SeriesFileError(f"{path}: no such file")
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - reported with the file name
        raise SeriesFileError(f"{path}: cannot be read as {suffix[1:]}: {str(err).splitlines()[0]}") from err
    raise SeriesFileError(f"{path}: expected a .csv or .parquet file, got {suffix or 'no extension'!r}")


def _numbers(path: Path, frame, column: str, allow_empty: bool) -> np.ndarray:  # noqa: ANN001
    """Column as float (NaN for empty cells when allowed); the first bad cell is an error."""
    import pandas as pd

    raw = frame[column]
    text = raw.astype(str).str.strip() if raw.dtype == object else None
    vals = pd.to_numeric(text.replace("", np.nan) if text is not None else raw, errors="coerce")
    vals = np.asarray(vals, dtype=np.float64)
    empty = (text == "").to_numpy() | raw.isna().to_numpy() if text is not None else raw.isna().to_numpy()
    bad = (np.isnan(vals) & ~empty) | (vals < 0) | np.isinf(vals)
    if not allow_empty:
        bad |= empty
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        got = raw.iloc[i]
        raise SeriesFileError(
            f"{path}: column {column!r}, row {i + 1}: expected a non-negative number"
            f"{'' if allow_empty else ' (not empty)'}, got {got!r}"
        )
    return vals


def _periods(path: Path, frame, column: str) -> np.ndarray:  # noqa: ANN001
    """Period column as sortable int64 (integers, or ISO dates as nanoseconds)."""
    import pandas as pd

    raw = frame[column]
    num = np.asarray(pd.to_numeric(raw, errors="coerce"), dtype=np.float64)
    nan = np.isnan(num)
    if nan.any() and not nan.all():  # integers with a stray non-number
        i = int(np.flatnonzero(nan)[0])
        raise SeriesFileError(f"{path}: column {column!r}, row {i + 1}: expected an integer period or an ISO "
                              f"date (YYYY-MM-DD), got {raw.iloc[i]!r}")
    if not nan.any():
        v = num
        frac = v != np.round(v)
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise SeriesFileError(f"{path}: column {column!r}, row {i + 1}: expected an integer period or "
                                  f"an ISO date, got {raw.iloc[i]!r}")
        return v.astype(np.int64)
    dt = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    bad = np.asarray(dt.isna())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SeriesFileError(f"{path}: column {column!r}, row {i + 1}: expected an integer period or an ISO "
                              f"date (YYYY-MM-DD), got {raw.iloc[i]!r}")
    return np.asarray(dt.astype("int64"))


def read_series_file(path: str | os.PathLike[str]) -> DemandSeries:
    """Demand series from a plain CSV or Parquet file (long or wide layout, module docstring).

    Raises:
        SeriesFileError: the file is missing, unreadable, or a cell breaks a rule.
    """
    p = Path(path)
    frame = _read_frame(p)
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    if not cols:
        raise SeriesFileError(f"{p}: no columns")
    sid = _pick(cols, SERIES_COLUMNS)
    per = _pick(cols, PERIOD_COLUMNS)
    dem = _pick(cols, DEMAND_COLUMNS)
    if per is not None or dem is not None:  # long layout
        missing = [what for what, c in (("series", sid), ("period", per), ("demand", dem)) if c is None]
        if missing:
            names = {"series": SERIES_COLUMNS, "period": PERIOD_COLUMNS, "demand": DEMAND_COLUMNS}
            need = "; ".join(f"{m}: one of {', '.join(names[m])}" for m in missing)
            raise SeriesFileError(f"{p}: long layout needs a column for {need} (found {', '.join(cols)})")
        assert sid is not None and per is not None and dem is not None
        return _long(p, frame, sid, per, dem, _pick(cols, ("location",)) if sid.lower() == "sku" else None)
    return _wide(p, frame, cols)


def _long(path: Path, frame, sid: str, per: str, dem: str, loc: str | None) -> DemandSeries:  # noqa: ANN001
    ids = frame[sid].astype(str).str.strip().to_numpy()
    empty = ids == ""
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise SeriesFileError(f"{path}: column {sid!r}, row {i + 1}: expected a series id, got an empty cell")
    if loc is not None:
        ids = np.char.add(np.char.add(ids.astype(str), "@"), frame[loc].astype(str).str.strip().to_numpy().astype(str))
    periods = _periods(path, frame, per)
    values = _numbers(path, frame, dem, allow_empty=True)
    order = np.lexsort((periods, ids))
    ids_s, per_s = ids[order], periods[order]
    dup = np.flatnonzero((ids_s[1:] == ids_s[:-1]) & (per_s[1:] == per_s[:-1]))
    if dup.size:
        i = int(order[dup[0] + 1])
        raise SeriesFileError(f"{path}: column {per!r}, row {i + 1}: expected one row per series and period, "
                              f"series {ids_s[dup[0]]!r} has period {frame[per].iloc[i]!r} twice")
    change = np.flatnonzero(ids_s[1:] != ids_s[:-1]) + 1
    indptr = np.concatenate(([0], change, [ids_s.size])).astype(np.int64)
    keys = [str(ids_s[i]) for i in indptr[:-1]] if ids_s.size else []
    if not keys:
        indptr = np.zeros(1, dtype=np.int64)
    return DemandSeries(keys, values[order], np.zeros(values.size, dtype=bool), indptr)


def _wide(path: Path, frame, cols: list[str]) -> DemandSeries:  # noqa: ANN001
    if len(cols) < 2:
        raise SeriesFileError(
            f"{path}: expected a long layout (series, period and demand columns) or a wide layout "
            f"(series id then one column per period); found only {cols}"
        )
    ids = frame[cols[0]].astype(str).str.strip().to_numpy()
    V = np.column_stack([_numbers(path, frame, c, allow_empty=True) for c in cols[1:]])
    vals, ptr = [], [0]
    for row in V:
        obs = np.flatnonzero(~np.isnan(row))
        r = row[: obs.max() + 1] if obs.size else row[:0]
        vals.append(r)
        ptr.append(ptr[-1] + r.size)
    values = np.concatenate(vals) if vals else np.zeros(0)
    return DemandSeries([str(i) for i in ids], values, np.zeros(values.size, dtype=bool),
                        np.asarray(ptr, dtype=np.int64))
