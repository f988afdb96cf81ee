"""Load a dataset directory into Arrow tables that follow the data contract.

Each file of ``FILE_SPECS`` is read from ``NAME.parquet`` or ``NAME.csv`` (both present is
an error). CSV files are read with every column as text and then converted, so a value
that does not convert is reported with its column and data row (row 1 = first line after
the header). Conversions: numbers in decimal notation (``1e3``, ``-0.5``; surrounding
spaces allowed), integers also as ``3.0`` (never hexadecimal), dates ISO ``YYYY-MM-DD``, booleans
``true``/``false``/``1``/``0`` (any case); an empty CSV field is null. Columns not in the
contract are kept (after the contract's columns) and not validated, except in a file whose
spec has ``extra_columns`` (``signals``: every other column is a number). After validation the
demand rows are put on the period grid (:mod:`platform_core.data.periods`).
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Callable, Collection
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from platform_core.data.errors import DataValidationError, ErrorCollector
from platform_core.data.periods import DEFAULT_PERIOD_DAYS, demand_on_grid
from platform_core.data.schemas import FILE_SPECS, Dataset, FileSpec
from platform_core.data.signals import check_signal_periods
from platform_core.data.validate import type_expectation, validate_dataset

__all__ = ["load_dataset", "load_table", "find_file", "write_table"]

_Convert = Callable[[pa.Array], pa.Array]

#: Bytes per block when reading CSV (several blocks -> several chunks per column).
CSV_BLOCK_SIZE = 1 << 24


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def find_file(root: str | os.PathLike[str], spec: FileSpec) -> str | None:
    """The path of ``spec``'s file in ``root`` (``NAME.parquet`` or ``NAME.csv``), or None.

    Raises:
        DataValidationError: if both files exist, or a required file is missing.
    """
    root = os.fspath(root)
    pq_path = os.path.join(root, spec.name + ".parquet")
    csv_path = os.path.join(root, spec.name + ".csv")
    has_pq, has_csv = os.path.isfile(pq_path), os.path.isfile(csv_path)
    if has_pq and has_csv:
        raise DataValidationError(
            os.path.join(root, spec.name), None, None,
            f"one file {spec.name}.parquet or {spec.name}.csv in {root}", "both")
    if has_pq:
        return pq_path
    if has_csv:
        return csv_path
    if spec.required:
        raise DataValidationError(
            os.path.join(root, spec.name), None, None,
            f"a required file {spec.name}.parquet or {spec.name}.csv in {root}", "none")
    return None


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_bytes(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t))


def _compatible(src: pa.DataType, dst: pa.DataType) -> bool:
    """Whether a column of type ``src`` may be converted to the contract type ``dst``.

    Text (and bytes, as CSV cells are read) converts to anything; otherwise only
    conversions that keep the value: numbers to numbers (a float to an integer only when
    whole, checked per value), dates and timestamps to dates. An identifier stored as a
    number is refused: its leading zeros were lost before the file was written.
    """
    if pa.types.is_dictionary(src):
        return _compatible(src.value_type, dst)
    if _is_text(src) or _is_bytes(src) or pa.types.is_null(src):
        return True
    if _is_text(dst):
        return False
    if pa.types.is_floating(dst) or pa.types.is_integer(dst):
        return bool(pa.types.is_integer(src) or pa.types.is_floating(src) or pa.types.is_decimal(src))
    if pa.types.is_date(dst):
        return bool(pa.types.is_date(src) or pa.types.is_timestamp(src))
    if pa.types.is_boolean(dst):
        return bool(pa.types.is_boolean(src))
    return bool(src == dst)


def _converter(src: pa.DataType, dst: pa.DataType) -> _Convert:
    """A function converting an array of type ``src`` to ``dst`` (raises pa.ArrowInvalid)."""
    if pa.types.is_dictionary(dst):
        if pa.types.is_dictionary(src):  # e.g. dictionary<int8, large_string>
            return lambda a: pc.dictionary_encode(pc.cast(a, dst.value_type))
        inner_dst = _converter(src, dst.value_type)
        return lambda a: pc.dictionary_encode(inner_dst(a))
    if _is_bytes(src):  # CSV cells: the UTF-8 check raises ArrowInvalid, so the row is found
        inner_text = _converter(pa.string(), dst)
        return lambda a: inner_text(pc.cast(a, pa.string()))
    if _is_text(src):
        if _is_text(dst):
            return lambda a: pc.cast(a, dst)

        def from_text(a: pa.Array) -> pa.Array:
            a = pc.utf8_trim_whitespace(a)
            if pa.types.is_integer(dst):
                if pc.any(pc.match_substring_regex(a, r"^[+-]?0[xX]")).as_py():
                    raise pa.ArrowInvalid("hexadecimal integer")  # Arrow would read 0x10 as 16
                try:
                    return pc.cast(a, dst)
                except pa.ArrowInvalid:
                    return pc.cast(pc.cast(a, pa.float64()), dst)
            return pc.cast(a, dst)

        return from_text
    if pa.types.is_dictionary(src):
        inner = _converter(src.value_type, dst)
        return lambda a: inner(pc.cast(a, src.value_type))
    if pa.types.is_date(dst) and pa.types.is_timestamp(src):
        return lambda a: pc.cast(a, dst, safe=False)
    return lambda a: pc.cast(a, dst)


def _first_failure(arr: pa.Array, convert: _Convert) -> int:
    """Index of the first element of ``arr`` that ``convert`` rejects (bisection)."""
    lo, n = 0, len(arr)
    while n > 1:
        half = n // 2
        try:
            convert(arr.slice(lo, half))
        except (pa.ArrowInvalid, ValueError):
            n = half
            continue
        lo, n = lo + half, n - half
    return lo


def _what_failed(value: pa.Scalar, dst: pa.DataType) -> tuple[str, str]:
    """``(expected, got)`` for a value that did not convert to ``dst``."""
    raw = value.as_py()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "UTF-8 text", _show(raw)
    return type_expectation(dst), _show(raw)


def _convert_column(arr: pa.ChunkedArray, want: pa.DataType, value_type: pa.DataType, file: str,
                    name: str, errors: ErrorCollector) -> pa.ChunkedArray | None:
    """``arr`` converted to ``want``, or None after reporting the first value that does not convert.

    ``value_type`` is the type a value must have (``want`` without its dictionary encoding).
    """
    convert = _converter(arr.type, want)
    try:
        return pa.chunked_array([convert(c) for c in arr.chunks], type=want)
    except pa.ArrowNotImplementedError:
        errors.add(DataValidationError(file, name, None, f"a column of type {value_type}", f"type {arr.type}"))
        return None
    except (pa.ArrowInvalid, ValueError):
        offset = 0
        for chunk in arr.chunks:
            try:
                convert(chunk)
            except (pa.ArrowInvalid, ValueError):
                i = _first_failure(chunk, convert)
                errors.add(DataValidationError(file, name, offset + i + 1, *_what_failed(chunk[i], value_type)))
                break
            offset += len(chunk)
        return None


def _convert_table(spec: FileSpec, table: pa.Table, file: str, errors: ErrorCollector) -> pa.Table:
    """Convert the contract's columns of ``table`` to their spec types; extras kept as read.

    Extra columns read from CSV (bytes) are decoded to text.
    """
    names = table.column_names
    out_names: list[str] = []
    out_cols: list[pa.ChunkedArray] = []
    for col in spec.columns:
        if col.name not in names:
            continue
        arr: pa.ChunkedArray | None = table.column(col.name)
        assert arr is not None
        want = spec.memory_type(col)
        if arr.type != want and arr.type != col.type and not _compatible(arr.type, col.type):
            hint = " (identifiers are text: store them as strings so leading zeros survive)" \
                if _is_text(col.type) else ""
            errors.add(DataValidationError(
                file, col.name, None, f"a column of type {col.type}{hint}", f"type {arr.type}"))
            continue
        if arr.type != want:
            arr = _convert_column(arr, want, col.type, file, col.name, errors)
            if arr is None:
                continue
        out_names.append(col.name)
        out_cols.append(arr)
    spec_names = {c.name for c in spec.columns}
    rule = spec.extra_columns
    for name in names:
        if name not in spec_names and name not in out_names:
            extra: pa.ChunkedArray | None = table.column(name)
            if extra is not None and rule is not None and extra.type != rule.type:  # e.g. signals: numbers
                if not _compatible(extra.type, rule.type):
                    errors.add(DataValidationError(file, name, None, f"a column of type {rule.type}",
                                                   f"type {extra.type}"))
                    continue
                extra = _convert_column(extra, rule.type, rule.type, file, name, errors)
            elif extra is not None and _is_bytes(extra.type):
                extra = _convert_column(extra, pa.string(), pa.string(), file, name, errors)
            if extra is None:
                continue
            out_names.append(name)
            out_cols.append(extra)
    return pa.Table.from_arrays(out_cols, names=out_names)


def _read_csv(path: str) -> pa.Table:
    """Read a CSV file with every column as text (nothing is type-guessed).

    The header line is parsed here (a UTF-8 byte-order mark is dropped) and handed to
    Arrow as the column names, so every column, the first included, is read untyped: an
    identifier ``000123`` stays ``000123``. Cells are read as bytes; their UTF-8 check
    happens in the conversion, which names the row of a cell that is not UTF-8.

    Raises:
        DataValidationError: a header line that is not UTF-8, or names a column twice.
    """
    with open(path, "rb") as fh:
        first = fh.readline()
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError(path, None, None, "a UTF-8 encoded header line",
                                  f"bytes that are not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    header = next(csv.reader([line]), []) if line.strip() else []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataValidationError(path, name, None, "each column name once in the header",
                                      "a second column of that name")
        seen.add(name)
    if not header:
        return pa.table({})
    read = pcsv.ReadOptions(block_size=CSV_BLOCK_SIZE, column_names=header, skip_rows=1)
    parse = pcsv.ParseOptions(newlines_in_values=True)  # a quoted value may span lines
    convert = pcsv.ConvertOptions(
        column_types={h: pa.binary() for h in header},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    try:
        return pcsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        ragged = _ragged_row(path, len(header))
        if ragged is None:
            raise
        row, fields = ragged
        raise DataValidationError(path, None, row, f"{len(header)} fields as in the header",
                                  f"{fields} field{'s' if fields != 1 else ''}") from exc


def _ragged_row(path: str, n_fields: int) -> tuple[int, int] | None:
    """(data row, fields) of the first record whose number of fields is not ``n_fields``."""
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for row, record in enumerate(reader, start=1):
                if len(record) != n_fields and record:  # a blank line is skipped by Arrow too
                    return row, len(record)
    except csv.Error:
        return None
    return None


def load_table(path: str | os.PathLike[str], spec: FileSpec,
               errors: ErrorCollector | None = None) -> pa.Table:
    """Read one file (Parquet or CSV by extension) and convert it to ``spec``'s types.

    Columns are not checked for presence, nulls or ranges here (see ``validate``).

    Args:
        path: the ``.parquet`` or ``.csv`` file.
        spec: the file's spec.
        errors: collector for conversion errors; when None they are raised at once.

    Returns:
        The converted table (a column that failed to convert is left out).

    Raises:
        DataValidationError: a value that does not convert (when ``errors`` is None), or
            an unreadable file.
    """
    file = os.fspath(path)
    own = errors is None
    errs = ErrorCollector() if errors is None else errors
    try:
        if file.endswith(".csv"):
            raw = _read_csv(file)
        else:
            # the spec's dictionary columns are decoded straight into dictionary arrays
            # (never materialised as plain strings)
            names = set(pq.read_schema(file).names) if spec.dictionary_columns else set()
            raw = pq.read_table(file, read_dictionary=[c for c in spec.dictionary_columns if c in names])
    except (pa.ArrowInvalid, OSError) as exc:
        err = DataValidationError(file, None, None, "a readable Parquet or CSV file", str(exc))
        raise err from exc
    table = _convert_table(spec, raw, file, errs)
    if own:
        errs.raise_if_any()
    return table


def load_dataset(path: str | os.PathLike[str], period_days: float = DEFAULT_PERIOD_DAYS,
                 validated: Collection[str] = ()) -> Dataset:
    """Load and validate the dataset in directory ``path``; put demand on the period grid.

    Args:
        path: directory holding ``NAME.parquet`` or ``NAME.csv`` per file of the contract.
        period_days: length of a planning period [days]: pass the run's
            ``config.run.period_days``. Demand rows of one stage in one period are summed
            (see :func:`platform_core.data.periods.demand_on_grid`).
        validated: tables whose files are known to pass validation, byte for byte (an
            incremental run's structure tables, same SHA-256 as the previous run's): read
            and converted, their own checks skipped (``validate_dataset``).

    Returns:
        The validated Dataset (tables converted to the contract's Arrow types; demand with
        at most one row per stage and period, ``ds.demand_grid`` saying what was done).

    Raises:
        DataValidationError: a missing directory or required file, both a Parquet and a CSV
            file for one name, a value that does not convert, any rule of
            ``validate_dataset`` (up to 20 errors are reported in one exception), or a
            ``signals`` row off the demand grid.
        ValueError: ``period_days`` is not a positive number.
    """
    if not (isinstance(period_days, int | float) and 0 < float(period_days) < float("inf")):
        raise ValueError(f"period_days must be a positive number of days, got {period_days!r}")
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise DataValidationError(root, None, None, "a dataset directory", "no such directory")
    errors = ErrorCollector()
    tables: dict[str, pa.Table] = {}
    sources: dict[str, str] = {}
    for name, spec in FILE_SPECS.items():
        try:
            file = find_file(root, spec)
        except DataValidationError as err:
            errors.add(err)
            continue
        if file is None:
            continue
        sources[name] = file
        tables[name] = load_table(file, spec, errors)
    errors.raise_if_any()
    ds = Dataset(root=root, tables=tables, sources=sources)
    validate_dataset(ds, validated)
    ds.tables["demand"], ds.demand_grid = demand_on_grid(ds.demand, period_days)
    check_signal_periods(ds)
    return ds


def write_table(table: pa.Table, path: str | os.PathLike[str]) -> None:
    """Write ``table`` atomically to ``path`` (Parquet, or CSV if it ends with ``.csv``).

    The file is written to a temporary file in the same directory and renamed over
    ``path``, so readers never see a half-written file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        if target.suffix == ".csv":
            pcsv.write_csv(table, tmp)
        else:
            pq.write_table(table, tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
