"""Property-based fuzzing of ``load_dataset`` (issue #22).

Each example starts from the small valid dataset of ``conftest.small_tables``, applies
*benign* changes that keep it valid (identifiers of any text, dates moved inside their
period, other period lengths, extra columns, column order, nulls where allowed, optional
files, lead-time columns, Parquet types that convert without loss, row groups, byte-order
marks, CRLF files written by Python's ``csv``) and at most one *corruption* whose place is
known (wrong types, missing columns, nulls in keys, negative / huge / NaN / infinite
values, far dates, duplicate keys, unknown stages, cycles, empty or missing files,
identifiers stored as numbers, bad UTF-8, ragged rows, truncated Parquet, ...). It writes
the dataset as Parquet or CSV and loads it. Then:

* with a corruption, ``load_dataset`` raises ``DataValidationError`` (never another
  exception) with an error at the corrupted file, column and row, and every error's
  line names its file, its column(s) and its row;
* without one, it returns the dataset, and every value written is the value read:
  compared with the tables as written, demand put on the period grid by a plain-Python
  re-implementation of the documented rule (``docs/data.md``, Demand periods).

Bounded for the default suite (``max_examples``, a deadline); ``ECHELON_FUZZ_EXAMPLES=2000``
runs a longer campaign.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import load_dataset
from platform_core.data.schemas import FILE_SPECS, MAX_DATE, MIN_DATE, ColumnSpec

EPOCH = dt.date(1970, 1, 1)
DAY_MIN, DAY_MAX = (MIN_DATE - EPOCH).days, (MAX_DATE - EPOCH).days
UNKNOWN = "\x01nowhere"
N_EXAMPLES = int(os.environ.get("ECHELON_FUZZ_EXAMPLES", "300"))

IDENT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=6)
FREE_TEXT = st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",)), max_size=8))
EXTREME = [0.0, -0.0, 5e-324, 1e-300, -1e-300, 0.5, 1.0, 5.0, 5.000000000000001, 1000.0, 1001.0, 3650.0,
           3650.0000000000005, 1e6, 1.0000000000000002e6, 1e8, 100000000.00000001, 1.5e8, 1e12,
           1.0000000000000002e12, 1e13, 1e300, 1e308, -1.0, -1e308, math.inf, -math.inf, math.nan]
NOT_A_NUMBER = st.one_of(st.sampled_from(["abc", "1,5", "--1", "1.2.3", "x7", "1e", "0x10", "\u221e", "one"]),
                         st.text(st.characters(categories=("Lu", "Ll")), min_size=1, max_size=5))
NOT_A_DATE = st.sampled_from(["15/01/2024", "2024-13-01", "2024-02-30", "2024-1-5x", "yesterday", "20240101x"])
NOT_A_BOOL = st.sampled_from(["yes", "no", "Y", "2", "tru", "-1", "t"])


# -- the cases ------------------------------------------------------------------------------


@dataclass
class Case:
    """One dataset to write and load."""

    fmt: str
    period_days: float
    tables: dict[str, pa.Table]  # as meant: contract types (or text where text is the corruption)
    writer: str = "arrow"  # csv: "arrow" (pyarrow) or "python" (csv module, CRLF)
    boms: set[str] = field(default_factory=set)
    row_group: int | None = None
    parquet_types: dict[tuple[str, str], pa.DataType] = field(default_factory=dict)
    raw: list[tuple[str, str]] = field(default_factory=list)  # byte-level corruptions
    expect: tuple[str, str | None, int | None] | None = None  # (file, column, row) of the corruption
    expect_text: str = ""
    story: list[str] = field(default_factory=list)


def _set(t: pa.Table, col: str, i: int, value: Any, type_: pa.DataType | None = None) -> pa.Table:
    vals = t.column(col).to_pylist()
    vals[i] = value
    typ = type_ or t.schema.field(col).type
    return t.set_column(t.column_names.index(col), col, pa.array(vals, type=typ))


def _put(t: pa.Table, col: str, values: list, type_: pa.DataType) -> pa.Table:
    arr = pa.array(values, type=type_)
    if col in t.column_names:
        return t.set_column(t.column_names.index(col), col, arr)
    return t.append_column(col, arr)


def _ident_cols(name: str) -> tuple[str, ...]:
    return ("upstream_sku", "downstream_sku") if name == "edges" else ("sku",)


def _rename_sku(tables: dict[str, pa.Table], old: str, new: str) -> None:
    for name, t in tables.items():
        for col in _ident_cols(name):
            if col in t.column_names:
                t = _put(t, col, [new if v == old else v for v in t.column(col).to_pylist()], pa.string())
        tables[name] = t


def _within(col: ColumnSpec, v: float) -> bool:
    if not math.isfinite(v):
        return False
    if col.min_value is not None and (v < col.min_value or (col.exclusive_min and v == col.min_value)):
        return False
    return col.max_value is None or v <= col.max_value


def _numeric_columns(tables: dict[str, pa.Table]) -> list[tuple[str, str]]:
    out = []
    for name, t in tables.items():
        for c in FILE_SPECS[name].columns:
            if c.name in t.column_names and t.num_rows and (pa.types.is_floating(c.type) or pa.types.is_integer(c.type)):
                if c.name in ("lead_time_days", "lead_time_days_sd", "transit_days_sd"):
                    continue  # tied to their spreads: fuzzed by their own cases
                if c.name == "transit_days" and "transit_days_sd" in t.column_names:
                    continue
                out.append((name, c.name))
    return out


@st.composite
def cases(draw: st.DrawFn, tables: dict[str, pa.Table]) -> Case:
    tables = dict(tables)
    case = Case(fmt=draw(st.sampled_from(["parquet", "csv"])),
                period_days=draw(st.sampled_from([7.0, 7.0, 14.0, 3.5, 1.0])), tables=tables)
    say = case.story.append

    # ---- benign changes (the dataset stays valid) ----
    if draw(st.booleans()):
        new = draw(IDENT.filter(lambda s: s != "B"))
        _rename_sku(tables, "A", new)
        say(f"sku A -> {new!r}")
    if draw(st.booleans()):
        tables["costs"] = pa.table({
            "sku": pa.array(tables["stages"].column("sku").to_pylist()[::3]),
            "location": pa.array(tables["stages"].column("location").to_pylist()[::3]),
            "holding_cost": pa.array([1.5, None, 0.0]), "stockout_cost": pa.array([None, 20.0, 3.25]),
        })
        say("costs")
    if draw(st.booleans()):
        st_ = tables["stages"]
        tables["current_policy"] = pa.table({
            "sku": st_.column("sku").slice(0, 4), "location": st_.column("location").slice(0, 4),
            "policy_type": pa.array(["base_stock", "rQ", "sS", "min_max"]),
            "reorder_point": pa.array([-2.0, 5.0, None, 7.5]), "safety_stock": pa.array([1.0, None, 0.0, 2.0]),
        })
        say("current_policy")
    if draw(st.booleans()):
        d = tables["demand"]
        shifts = draw(st.lists(st.integers(-3, 3), min_size=d.num_rows, max_size=d.num_rows))
        days = [p + timedelta(days=s) for p, s in zip(d.column("period").to_pylist(), shifts, strict=True)]
        tables["demand"] = _put(d, "period", days, pa.date32())
        say("demand dates moved inside their weeks")
    if draw(st.booleans()):
        st_ = tables["stages"]
        n = st_.num_rows
        mean = draw(st.lists(st.one_of(st.none(), st.floats(0.0, 3650.0)), min_size=n, max_size=n))
        sd = [draw(st.one_of(st.none(), st.floats(0.0, 3650.0))) if m else (0.0 if m == 0.0 and draw(st.booleans()) else None)
              for m in mean]
        tables["stages"] = _put(_put(st_, "lead_time_days", mean, pa.float64()), "lead_time_days_sd", sd, pa.float64())
        ed = tables["edges"]
        tr = ed.column("transit_days").to_pylist()
        tables["edges"] = _put(ed, "transit_days_sd",
                               [draw(st.one_of(st.none(), st.floats(0.0, 3650.0))) if v else None for v in tr],
                               pa.float64())
        say("lead-time columns")
    for _ in range(draw(st.integers(0, 2))):  # nulls where the contract allows them
        name = draw(st.sampled_from(sorted(tables)))
        t = tables[name]
        cols = [c.name for c in FILE_SPECS[name].columns if c.nullable and c.name in t.column_names
                and f"{c.name}_sd" not in t.column_names]  # a mean whose spread is given is needed
        if cols and t.num_rows:
            col, i = draw(st.sampled_from(cols)), draw(st.integers(0, t.num_rows - 1))
            tables[name] = _set(t, col, i, None)
            say(f"null {name}.{col}[{i}]")
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(tables)))
        t = tables[name]
        tables[name] = t.append_column("note", pa.array(draw(st.lists(FREE_TEXT, min_size=t.num_rows, max_size=t.num_rows)),
                                                        pa.string()))
        say(f"extra column {name}.note")
    for name in sorted(tables):
        if draw(st.integers(0, 3)) == 0:
            t = tables[name]
            tables[name] = t.select(draw(st.permutations(t.column_names)))
    if case.fmt == "csv":
        case.writer = draw(st.sampled_from(["arrow", "python"]))
        case.boms = {n for n in tables if draw(st.integers(0, 3)) == 0}
    else:
        case.row_group = draw(st.sampled_from([None, 3]))

    # ---- at most one corruption ----
    kinds = ["none", "none", "number", "null", "text_in_number", "bad_date_text", "far_date", "receipt_date",
             "duplicate", "unknown_stage", "missing_column", "empty_stages", "missing_file", "cycle",
             "spread_without_mean", "both_formats"]
    kinds += ["dup_header", "bad_utf8", "ragged", "bad_bool"] if case.fmt == "csv" else \
        ["id_as_int", "wrong_type", "truncated"]
    kind = draw(st.sampled_from(kinds))
    say(f"corruption: {kind}")
    event(f"{case.fmt}: {kind}")
    ext = case.fmt

    def row_of(name: str) -> int:
        return draw(st.integers(0, tables[name].num_rows - 1))

    if kind == "number":
        name, col = draw(st.sampled_from(_numeric_columns(tables)))
        spec = FILE_SPECS[name].column(col)
        i = row_of(name)
        if pa.types.is_integer(spec.type):
            v: Any = draw(st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-2, 1002)))
        else:
            v = draw(st.one_of(st.floats(), st.sampled_from(EXTREME)))
        tables[name] = _set(tables[name], col, i, v)
        say(f"{name}.{col}[{i}] = {v!r}")
        if not _within(spec, float(v)):
            case.expect = (f"{name}.{ext}", col, i + 1)
    elif kind == "null":
        name = draw(st.sampled_from(sorted(tables)))
        cols = [c.name for c in FILE_SPECS[name].columns if not c.nullable and c.name in tables[name].column_names]
        col, i = draw(st.sampled_from(cols)), row_of(name)
        tables[name] = _set(tables[name], col, i, None)
        case.expect = (f"{name}.{ext}", col, i + 1)
    elif kind in ("text_in_number", "bad_date_text", "bad_bool"):
        pick = {"text_in_number": lambda c: pa.types.is_floating(c.type) or pa.types.is_integer(c.type),
                "bad_date_text": lambda c: pa.types.is_date(c.type),
                "bad_bool": lambda c: pa.types.is_boolean(c.type)}[kind]
        options = [(n, c.name) for n, t in tables.items() for c in FILE_SPECS[n].columns
                   if pick(c) and c.name in t.column_names]
        name, col = draw(st.sampled_from(options))
        text = draw({"text_in_number": NOT_A_NUMBER, "bad_date_text": NOT_A_DATE, "bad_bool": NOT_A_BOOL}[kind])
        i = row_of(name)
        t = tables[name]
        as_text = [None if v is None else _text(v) for v in t.column(col).to_pylist()]
        as_text[i] = text
        tables[name] = _put(t, col, as_text, pa.string())
        case.expect = (f"{name}.{ext}", col, i + 1)
        say(f"{name}.{col}[{i}] = {text!r}")
    elif kind == "far_date":
        options = [(n, c) for n in ("demand", "receipts") for c in ("period", "order_date", "receipt_date")
                   if c in tables[n].column_names]
        name, col = draw(st.sampled_from(options))
        days = draw(st.one_of(st.integers(-(2**31) + 1, DAY_MIN - 1), st.integers(DAY_MAX + 1, 2**31 - 1)))
        i = row_of(name)
        t = tables[name]
        vals = t.column(col).cast(pa.int32()).to_pylist()
        vals[i] = days
        tables[name] = t.set_column(t.column_names.index(col), col, pa.array(vals, pa.int32()).cast(pa.date32()))
        case.expect = (f"{name}.{ext}", col, i + 1)
        say(f"{name}.{col}[{i}] = day {days}")
    elif kind == "receipt_date":  # any date in range: valid unless before the order date
        i = row_of("receipts")
        days = draw(st.integers(DAY_MIN, DAY_MAX))
        r = tables["receipts"]
        tables["receipts"] = _set(r, "order_date", i, EPOCH + timedelta(days=days))
        say(f"receipts.order_date[{i}] = {EPOCH + timedelta(days=days)}")
        if EPOCH + timedelta(days=days) > r.column("receipt_date")[i].as_py():
            case.expect = (f"receipts.{ext}", "receipt_date", i + 1)
    elif kind == "duplicate":
        name = draw(st.sampled_from([n for n in sorted(tables) if tables[n].num_rows >= 2]))
        t = tables[name]
        a = draw(st.integers(0, t.num_rows - 2))
        b = draw(st.integers(a + 1, t.num_rows - 1))
        for k in FILE_SPECS[name].key:
            t = _set(t, k, b, t.column(k)[a].as_py())
        tables[name] = t
        case.expect = (f"{name}.{ext}", ",".join(FILE_SPECS[name].key), b + 1)
        say(f"{name} row {b} repeats the key of row {a}")
    elif kind == "unknown_stage":
        name = draw(st.sampled_from([n for n in ("demand", "costs", "current_policy", "edges") if n in tables]))
        ends = (("upstream_sku", "upstream_location"), ("downstream_sku", "downstream_location")) \
            if name == "edges" else (("sku", "location"),)
        sku_col, loc_col = draw(st.sampled_from(ends))
        i = row_of(name)
        tables[name] = _set(tables[name], draw(st.sampled_from([sku_col, loc_col])), i, UNKNOWN)
        case.expect = (f"{name}.{ext}", f"{sku_col},{loc_col}", i + 1)
    elif kind == "missing_column":
        name = draw(st.sampled_from(sorted(tables)))
        col = draw(st.sampled_from([c.name for c in FILE_SPECS[name].columns if c.required]))
        tables[name] = tables[name].drop_columns([col])
        case.expect = (f"{name}.{ext}", col, None)
    elif kind == "empty_stages":
        tables["stages"] = tables["stages"].slice(0, 0)
        case.expect = (f"stages.{ext}", None, None)
        case.expect_text = "at least one stage"
    elif kind == "missing_file":
        name = draw(st.sampled_from(["stages", "demand"]))
        del tables[name]
        case.expect = (name, None, None)
        case.expect_text = "a required file"
    elif kind == "cycle":
        e = tables["edges"]
        sku = tables["stages"].column("sku")[0].as_py()
        back = pa.table({c: pa.array([v], e.schema.field(c).type) for c, v in (
            ("upstream_sku", sku), ("upstream_location", "S1"), ("downstream_sku", sku),
            ("downstream_location", "P1"), ("quantity_per", 1.0))})
        tables["edges"] = pa.concat_tables([e, back], promote_options="default").select(e.column_names)
        case.expect = (f"edges.{ext}", None, None)
        case.expect_text = "an acyclic network"
    elif kind == "spread_without_mean":
        st_ = tables["stages"]
        i = row_of("stages")
        sd = [None] * st_.num_rows
        sd[i] = draw(st.floats(0.0, 3650.0))
        tables["stages"] = _put(_put(st_, "lead_time_days", [None] * st_.num_rows, pa.float64()),
                                "lead_time_days_sd", sd, pa.float64())
        case.expect = (f"stages.{ext}", "lead_time_days", i + 1)
    elif kind in ("both_formats", "bad_utf8", "ragged", "truncated"):
        name = draw(st.sampled_from(sorted(tables)))
        if kind == "bad_utf8":
            t = tables[name]
            i = row_of(name)
            comment = ["ok"] * t.num_rows
            comment[i] = "@@BAD@@"  # becomes bytes that are not UTF-8 once written
            tables[name] = t.append_column("comment", pa.array(comment))
            case.expect = (f"{name}.{ext}", "comment", i + 1)
        elif kind == "ragged":
            case.expect = (f"{name}.{ext}", None, tables[name].num_rows + 1)
        else:
            case.expect = (name if kind == "both_formats" else f"{name}.{ext}", None, None)
        case.raw.append((name, kind))
    elif kind == "dup_header":
        name = draw(st.sampled_from(sorted(tables)))
        t = tables[name]
        col = draw(st.sampled_from(t.column_names))
        tables[name] = pa.Table.from_arrays([*t.columns, t.column(col)], names=[*t.column_names, col])
        case.expect = (f"{name}.{ext}", col, None)
    elif kind == "id_as_int":
        t = tables["stages"]
        tables["stages"] = _put(t, "sku", list(range(t.num_rows)), pa.int64())
        case.expect = ("stages.parquet", "sku", None)
    elif kind == "wrong_type":
        options = [(n, c.name) for n, t in tables.items() for c in FILE_SPECS[n].columns
                   if c.name in t.column_names and not pa.types.is_string(c.type) and t.num_rows]
        name, col = draw(st.sampled_from(options))
        spec = FILE_SPECS[name].column(col)
        n = tables[name].num_rows
        if pa.types.is_date(spec.type):  # days as plain integers: not a date type
            wrong = pa.array(range(n), pa.int32())
        elif pa.types.is_boolean(spec.type):
            wrong = pa.array([1.0] * n, pa.float64())
        else:  # a number stored as a boolean
            wrong = pa.array([True] * n, pa.bool_())
        t = tables[name]
        tables[name] = t.set_column(t.column_names.index(col), col, wrong)
        case.expect = (f"{name}.{ext}", col, None)
    if case.fmt == "parquet":  # other Parquet types that convert without loss (after the corruption)
        for name, t in tables.items():
            for c in FILE_SPECS[name].columns:
                if c.name not in t.column_names or t.schema.field(c.name).type != c.type or draw(st.integers(0, 3)):
                    continue
                col = t.column(c.name)
                vals = [v for v in (col.cast(pa.int32()) if pa.types.is_date(c.type) else col).to_pylist() if v is not None]
                if pa.types.is_floating(c.type) and all(math.isfinite(v) and v.is_integer() and abs(v) < 2**53 for v in vals):
                    case.parquet_types[(name, c.name)] = pa.int64()
                elif pa.types.is_string(c.type):
                    case.parquet_types[(name, c.name)] = draw(st.sampled_from([pa.large_string(), pa.dictionary(pa.int8(), pa.string())]))
                elif pa.types.is_date(c.type) and all(DAY_MIN <= v <= DAY_MAX for v in vals):
                    case.parquet_types[(name, c.name)] = pa.timestamp("ms")
        if case.parquet_types:
            say(f"parquet types {sorted(case.parquet_types.items())}")
    return case


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


# -- writing --------------------------------------------------------------------------------


def _dates_as_text(t: pa.Table) -> pa.Table:
    """Date columns as ISO text (numpy's, so years beyond 9999 or before 1 are written too)."""
    for i, f in enumerate(t.schema):
        if pa.types.is_date(f.type):
            days = t.column(i).cast(pa.int32()).to_pylist()
            t = t.set_column(i, f.name, pa.array([None if d is None else str(np.datetime64(d, "D")) for d in days]))
    return t


def _write(case: Case, root: Path) -> None:
    for name, t in case.tables.items():
        path = root / f"{name}.{case.fmt}"
        if case.fmt == "parquet":
            for (n, col), typ in case.parquet_types.items():
                if n == name and col in t.column_names:
                    t = t.set_column(t.column_names.index(col), col, t.column(col).cast(typ))
            pq.write_table(t, path, row_group_size=case.row_group)
        else:
            t = _dates_as_text(t)
            if case.writer == "arrow":
                pcsv.write_csv(t, path)
            else:
                with open(path, "w", newline="", encoding="utf-8") as fh:
                    w = csv.writer(fh, lineterminator="\r\n")
                    w.writerow(t.column_names)
                    for row in zip(*(t.column(c).to_pylist() for c in range(t.num_columns)), strict=True):
                        w.writerow(["" if v is None else _text(v) for v in row])
            if name in case.boms:
                path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    for name, kind in case.raw:
        path = root / f"{name}.{case.fmt}"
        if kind == "both_formats":
            other = root / f"{name}.{'csv' if case.fmt == 'parquet' else 'parquet'}"
            other.write_bytes(b"sku,location\n" if case.fmt == "parquet" else b"PAR1")
        elif kind == "bad_utf8":
            path.write_bytes(path.read_bytes().replace(b"@@BAD@@", b"x\xff\xfey"))
        elif kind == "ragged":
            data = path.read_bytes()
            eol = b"\r\n" if case.writer == "python" else b"\n"
            path.write_bytes(data + b"only_one_field" + eol)
        elif kind == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])


# -- the expected dataset (valid cases) -----------------------------------------------------


def _expected_demand(cols: dict[str, list], period_days: float) -> dict[str, list]:
    """Demand on the period grid by the rule of docs/data.md, in plain Python."""
    n = len(cols["period"])
    if n == 0:
        return cols
    dates = cols["period"]
    first, last = min(dates), max(dates)

    def k_of(d: dt.date) -> int:
        return math.floor((d - first).days / period_days)

    def start(k: int) -> int:  # smallest whole o >= 0 with floor(o / period_days) >= k, by search
        o = max(0, int(k * period_days) - 2)
        while math.floor(o / period_days) < k:
            o += 1
        return o

    if all((d - first).days == start(k_of(d)) for d in dates):
        return cols
    uniq = sorted(set(dates))
    gaps = Counter((b - a).days for a, b in zip(uniq, uniq[1:], strict=False))
    spacing = min(g for g, c in gaps.items() if c == max(gaps.values())) if gaps else 0
    k_last = k_of(last)
    partial = (last - first).days + spacing - 1 < start(k_last + 1) - 1
    groups: dict[tuple, list[int]] = {}
    for i in range(n):
        k = k_of(dates[i])
        if partial and k == k_last:
            continue
        groups.setdefault((cols["sku"][i], cols["location"][i], k), []).append(i)
    out: dict[str, list] = {"sku": [], "location": [], "period": [], "quantity": []}
    flags = "stocked_out" in cols
    if flags:
        out["stocked_out"] = []
    for (sku, loc, k), rows in groups.items():  # dicts keep first-row order
        out["sku"].append(sku)
        out["location"].append(loc)
        out["period"].append(first + timedelta(days=start(k)))
        q = [cols["quantity"][i] for i in rows]
        out["quantity"].append(None if any(v is None for v in q) else math.fsum(q))
        if flags:
            so = [cols["stocked_out"][i] for i in rows if cols["stocked_out"][i] is not None]
            out["stocked_out"].append(any(so) if so else None)
    return out


def _expected(case: Case) -> dict[str, dict[str, list]]:
    out = {}
    for name, t in case.tables.items():
        cols = {c: t.column(c).to_pylist() for c in t.column_names}
        if case.fmt == "csv":  # an empty CSV field is null
            cols = {c: [None if v == "" else v for v in vals] for c, vals in cols.items()}
        out[name] = cols
    out["demand"] = _expected_demand(out["demand"], case.period_days)
    return out


def _plain(arr: pa.ChunkedArray) -> list:
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr.to_pylist()


def _same(got: list, want: list, summed: bool) -> bool:
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if isinstance(w, float) and isinstance(g, float) and summed:
            if not math.isclose(g, w, rel_tol=1e-12, abs_tol=0.0):
                return False
        elif g != w:
            return False
    return True


# -- the property ---------------------------------------------------------------------------


def _check_error_lines(err: DataValidationError) -> None:
    for e in err.errors:
        assert e.line.startswith(os.path.basename(e.file) or e.file), e.line
        if e.column is not None:
            for c in e.column.split(","):
                assert f"'{c}'" in e.line, e.line
        if e.row is not None:
            assert f"row {e.row}" in e.line or f"rows {e.rows[0]}" in e.line, e.line
        assert e.expected and "Traceback" not in e.line


@settings(max_examples=N_EXAMPLES, deadline=timedelta(seconds=5), database=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_load_dataset_raises_a_located_error_or_reads_every_value_back(tables, data):
    case = data.draw(cases(tables))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(case, root)
        if case.expect is None:
            ds = load_dataset(root, period_days=case.period_days)
            grid = ds.demand_grid
            event("valid: demand " + ("summed" if grid and grid.aggregated else "unchanged")
                  + (", partial period dropped" if grid and grid.partial_period else ""))
            for name, cols in _expected(case).items():
                t = ds.tables[name]
                assert set(t.column_names) == set(cols), (name, t.column_names, sorted(cols), case.story)
                summed = name == "demand" and bool(ds.demand_grid and ds.demand_grid.aggregated)
                for c, want in cols.items():
                    got = _plain(t.column(c))
                    assert _same(got, want, summed), (name, c, got, want, case.story)
            return
        with pytest.raises(DataValidationError) as info:
            load_dataset(root, period_days=case.period_days)
    err = info.value
    _check_error_lines(err)
    file, column, row = case.expect
    hits = [e for e in err.errors if os.path.basename(e.file) == file and e.column == column
            and (row is None or e.row == row) and case.expect_text in e.expected]
    assert hits, (case.expect, case.expect_text, str(err), case.story)
