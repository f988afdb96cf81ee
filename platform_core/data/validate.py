"""Vectorised validation of an input dataset against the data contract.

Every check runs on whole Arrow columns (``pyarrow.compute`` / numpy); only the first
offending row of each check is looked up, so row numbers stay exact while 10M demand
rows validate in a few seconds. Rules (see ``docs/data.md``):

* required files and required columns are present; ``stages`` has at least one row;
  every column has its spec type
  (a column of ``FileSpec.dictionary_columns`` may also be dictionary-encoded);
* no nulls in non-nullable columns; numbers are finite and within the spec range
  (an upper bound on every number the model would overflow on); dates within
  ``[MIN_DATE, MAX_DATE]``;
* ``abc_class`` is A/B/C, ``policy_type`` is base_stock/rQ/sS/min_max (when not null);
* keys are unique per file (both rows are named);
* ``receipt_date`` is not before ``order_date``;
* a lead-time spread (``lead_time_days_sd``, ``transit_days_sd``) has its mean on the row,
  and is 0 when the mean is 0;
* an overrides row holds a whole-number ``pinned_level`` or a corridor (``min_level`` /
  ``max_level``, one side may be null, min not above max), never both;
* demand, costs, current_policy, overrides, signals, order_lines and expedites rows, and both
  ends of every edge, name a stage of ``stages``; the network (edges) has no cycle;
* ``signals`` has at least one signal column, and every signal column is a finite number in
  ``[-MAX_SIGNAL, MAX_SIGNAL]`` or null (its periods are checked against the demand grid after
  loading: :func:`platform_core.data.signals.check_signal_periods`);
* an order_lines row says whether it was short (``quantity_filled`` or ``short``), and
  ``quantity_filled`` is not above ``quantity_ordered``;
* the ``constraints`` rows follow :mod:`platform_core.data.validate_constraints`.

Stages without demand rows are allowed (internal stages see no external demand).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import deque
from collections.abc import Collection
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from platform_core.data.columns import decoded
from platform_core.data.errors import DataValidationError, ErrorCollector
from platform_core.data.schemas import FILE_SPECS, ColumnSpec, Dataset, FileSpec
from platform_core.data.stage_index import StageIndex
from platform_core.data.validate_constraints import check_constraint_refs, check_constraint_rows

__all__ = ["validate_dataset", "check_table", "type_expectation", "range_expectation", "date_text"]

_EPOCH = dt.date(1970, 1, 1)

_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("stages", "abc_class"): ("A", "B", "C"),
    ("current_policy", "policy_type"): ("base_stock", "rQ", "sS", "min_max"),
}

#: (file, spread column) -> its mean column: a spread needs its mean on the same row, and a
#: positive spread a positive mean (a non-negative time of mean 0 cannot vary).
_SPREADS: dict[tuple[str, str], str] = {
    ("stages", "lead_time_days_sd"): "lead_time_days",
    ("edges", "transit_days_sd"): "transit_days",
}

_STAGE_REFS: dict[str, tuple[tuple[str, str], ...]] = {
    "demand": (("sku", "location"),),
    "costs": (("sku", "location"),),
    "current_policy": (("sku", "location"),),
    "overrides": (("sku", "location"),),
    "signals": (("sku", "location"),),
    "order_lines": (("sku", "location"),),
    "expedites": (("sku", "location"),),
    "edges": (("upstream_sku", "upstream_location"), ("downstream_sku", "downstream_location")),
}


def type_expectation(t: pa.DataType) -> str:
    """Human description of what a value of Arrow type ``t`` must look like."""
    if pa.types.is_floating(t):
        return "a number"
    if pa.types.is_integer(t):
        return "an integer"
    if pa.types.is_date(t):
        return "a date YYYY-MM-DD"
    if pa.types.is_boolean(t):
        return "a boolean (true/false/1/0)"
    return "text"


def _fmt(x: float) -> str:
    return re.sub(r"e\+?0*(\d)", r"e\1", f"{x:g}")  # 1e+08 -> 1e8


def date_text(days: int) -> str:
    """ISO text of the date ``days`` days after 1970-01-01, also beyond Python's years 1-9999."""
    return str(np.datetime64(int(days), "D"))


def range_expectation(col: ColumnSpec) -> str:
    """Human description of the allowed values of a column, e.g. ``a number in [0, 1e8]``."""
    base = type_expectation(col.type)
    if col.min_date is not None or col.max_date is not None:
        lo_d = col.min_date.isoformat() if col.min_date else "..."
        hi_d = col.max_date.isoformat() if col.max_date else "..."
        return f"a date in [{lo_d}, {hi_d}]"
    lo, hi = col.min_value, col.max_value
    if lo is not None and hi is not None:
        left = "(" if col.exclusive_min else "["
        return f"{base} in {left}{_fmt(lo)}, {_fmt(hi)}]"
    if lo is not None:
        return f"{base} {'>' if col.exclusive_min else '>='} {_fmt(lo)}"
    if hi is not None:
        return f"{base} <= {_fmt(hi)}"
    return f"a finite {base[2:] if base.startswith('a ') else base}"


def _first(mask: pa.ChunkedArray | pa.Array) -> tuple[int, int]:
    """(0-based index of the first True, number of Trues) of a boolean mask (nulls = False)."""
    mask = pc.fill_null(mask, False)
    n = pc.sum(mask).as_py() or 0
    if n == 0:
        return -1, 0
    return int(pc.index(mask, True).as_py()), int(n)


def _more(n: int) -> str | None:
    return f"{n - 1} more row{'s' if n > 2 else ''} like this" if n > 1 else None


def _check_column(
    spec: FileSpec, col: ColumnSpec, arr: pa.ChunkedArray, file: str, errors: ErrorCollector
) -> bool:
    """Null, finiteness, range and enumeration checks of one column; False if any failed."""
    ok = True
    if not col.nullable and arr.null_count:
        i, n = _first(pc.is_null(arr))
        errors.add(DataValidationError(file, col.name, i + 1, f"{type_expectation(col.type)} (no nulls)",
                                       "null", detail=_more(n)))
        ok = False
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        bad = None
        if pa.types.is_floating(col.type):
            bad = pc.invert(pc.is_finite(arr))
        if col.min_value is not None:
            below = (pc.less_equal if col.exclusive_min else pc.less)(arr, col.min_value)
            bad = below if bad is None else pc.or_(bad, below)
        if col.max_value is not None:
            above = pc.greater(arr, col.max_value)
            bad = above if bad is None else pc.or_(bad, above)
        if bad is not None:
            i, n = _first(bad)
            if n:
                value = arr[i].as_py()
                expected = range_expectation(col)
                if col.limit_note and col.max_value is not None and value > col.max_value:
                    expected += f" ({col.limit_note})"
                errors.add(DataValidationError(file, col.name, i + 1, expected, value, detail=_more(n)))
                ok = False
    if pa.types.is_date(col.type) and (col.min_date is not None or col.max_date is not None):
        days = pc.cast(arr, pa.int32())
        bad_d = None
        if col.min_date is not None:
            bad_d = pc.less(days, (col.min_date - _EPOCH).days)
        if col.max_date is not None:
            above_d = pc.greater(days, (col.max_date - _EPOCH).days)
            bad_d = above_d if bad_d is None else pc.or_(bad_d, above_d)
        assert bad_d is not None
        i, n = _first(bad_d)
        if n:
            errors.add(DataValidationError(file, col.name, i + 1, range_expectation(col),
                                           date_text(days[i].as_py()), detail=_more(n)))
            ok = False
    allowed = _ENUMS.get((spec.name, col.name))
    if allowed is not None:
        bad = pc.invert(pc.is_in(arr, value_set=pa.array(allowed, type=col.type)))
        i, n = _first(pc.and_(bad, pc.is_valid(arr)))
        if n:
            errors.add(DataValidationError(file, col.name, i + 1, "one of " + ", ".join(allowed),
                                           repr(arr[i].as_py()), detail=_more(n)))
            ok = False
    return ok


class _Encodings:
    """Per-validation cache of integer codes of columns (each big column is hashed once)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[pa.ChunkedArray, np.ndarray, pa.Array]] = {}

    def get(self, arr: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
        """Codes (0..k-1, -1 for null) of the values of ``arr`` and the k distinct values."""
        hit = self._cache.get(id(arr))
        if hit is not None and hit[0] is arr:
            return hit[1], hit[2]
        values = decoded(arr)
        uniq = pc.unique(values)
        if values.null_count:
            uniq = uniq.drop_null()
        idx = pc.index_in(values, value_set=uniq)
        if idx.null_count:
            idx = pc.fill_null(idx, -1)
        codes = np.asarray(idx.to_numpy(), dtype=np.int64)
        self._cache[id(arr)] = (arr, codes, uniq)
        return codes, uniq


def _compact(code: np.ndarray, card: int) -> tuple[np.ndarray, int]:
    """Renumber codes densely (0..k-1) without changing which rows share a code."""
    if card <= 4 * len(code) + (1 << 20):
        present = np.zeros(card, dtype=bool)
        present[code] = True
        remap = np.cumsum(present) - 1
        return remap[code], int(present.sum())
    uniq, inv = np.unique(code, return_inverse=True)
    return inv.astype(np.int64).reshape(-1), len(uniq)


def _key_codes(table: pa.Table, cols: tuple[str, ...],
               enc: _Encodings | None = None) -> tuple[np.ndarray, int]:
    """One int64 code per row identifying the tuple of values of ``cols``, and the code range."""
    enc = enc or _Encodings()
    code: np.ndarray | None = None
    card = 1
    for name in cols:
        c, uniq = enc.get(table.column(name))
        k = len(uniq) + 1  # + null
        if code is None:
            code, card = c + 1, k
            continue
        if card * k > 2 * len(code) + (1 << 20) or card * k >= 2**62:
            code, card = _compact(code, card)
        code = code * k + (c + 1)
        card = card * k
    assert code is not None
    return code, card


def _later_duplicates(code: np.ndarray, card: int) -> np.ndarray:
    """Indices of rows whose code already occurred in an earlier row (ascending)."""
    n = len(code)
    if card <= 2 * n + (1 << 20):
        counts = np.bincount(code, minlength=card)
        if counts.max(initial=0) <= 1:
            return np.empty(0, dtype=np.int64)
        cand = np.flatnonzero(counts[code] > 1)
    else:
        sc = np.sort(code)
        if not np.any(sc[1:] == sc[:-1]):
            return np.empty(0, dtype=np.int64)
        cand = np.arange(n)
    _, first = np.unique(code[cand], return_index=True)
    later = np.ones(len(cand), dtype=bool)
    later[first] = False
    return cand[later]


def _row_key(table: pa.Table, cols: tuple[str, ...], i: int) -> str:
    vals = [table.column(c)[i].as_py() for c in cols]
    return "(" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in vals) + ")"


def _test_and_set(bits: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Whether each code was already in the bit set ``bits`` or earlier in ``code``; adds them."""
    if code.size == 0:  # e.g. a batch whose rows all name unknown stages
        return np.zeros(0, dtype=bool)
    byte = code >> 3
    mask = np.left_shift(1, code & 7).astype(np.uint8)
    seen: np.ndarray = (bits[byte] & mask) != 0
    order = np.argsort(code, kind="stable")
    sc = code[order]
    seen[order[1:][sc[1:] == sc[:-1]]] = True
    sb, sm = byte[order], mask[order]
    starts = np.flatnonzero(np.concatenate(([True], sb[1:] != sb[:-1])))
    bits[sb[starts]] |= np.bitwise_or.reduceat(sm, starts)
    return seen


#: Largest key space (bits) checked for duplicates through a bit set [bits] (256 MiB).
BITSET_LIMIT = 1 << 31


def _stage_key_duplicates(spec: FileSpec, table: pa.Table,
                          index: StageIndex) -> tuple[int, int, int] | None:
    """Duplicate keys of a table keyed by ``(sku, location[, one more column])``, batch by batch.

    The pair is resolved to its stage row, so the key is ``stage x value`` and duplicates are
    found with a bit set instead of hashing the whole table. Rows naming no stage are left
    to the reference check.

    Returns:
        ``(first row, first later duplicate row, number of later duplicates)`` (0-based),
        ``(-1, -1, 0)`` when the keys are unique, or None when this path does not apply.
    """
    if spec.key[:2] != ("sku", "location") or len(spec.key) > 3:
        return None
    rest = spec.key[2:]
    values: pa.Array | None = None
    if rest:
        values = pc.unique(table.column(rest[0]))
        if values.null_count:
            return None
    width = 1 if values is None else len(values)
    if index.n_stages * width > BITSET_LIMIT:
        return None
    bits = np.zeros((index.n_stages * width + 7) // 8, dtype=np.uint8)

    def codes(rows: np.ndarray, batch: pa.RecordBatch) -> np.ndarray:
        if values is None:
            return rows
        pos = pc.index_in(batch.column(rest[0]), value_set=values).to_numpy(zero_copy_only=False)
        return np.where(rows >= 0, rows * width + pos.astype(np.int64), -1)

    first_later, n_later, key = -1, 0, -1
    for offset, rows, batch in index.batches(table, columns=rest):
        code = codes(rows, batch)
        known = np.flatnonzero(code >= 0)
        later = known[_test_and_set(bits, code[known])]
        if later.size and first_later < 0:
            first_later, key = offset + int(later[0]), int(code[later[0]])
        n_later += int(later.size)
    if first_later < 0:
        return -1, -1, 0
    for offset, rows, batch in index.batches(table, columns=rest):
        hit = np.flatnonzero(codes(rows, batch) == key)
        if hit.size:
            return offset + int(hit[0]), first_later, n_later
    raise AssertionError("unreachable: the duplicated key has a first row")


def _check_duplicates(spec: FileSpec, table: pa.Table, file: str, errors: ErrorCollector,
                      enc: _Encodings | None, index: StageIndex | None = None) -> None:
    if table.num_rows < 2:
        return
    found = _stage_key_duplicates(spec, table, index) if index is not None else None
    if found is None:
        if len(spec.key) == 1 and pc.count_distinct(table.column(spec.key[0]), mode="all").as_py() == table.num_rows:
            return  # unique without building per-row codes (15 M receipts at 1 M SKU-locations)
        code, card = _key_codes(table, spec.key, enc)
        later = _later_duplicates(code, card)
        if len(later) == 0:
            return
        r = int(later[0])
        first, n_later = int(np.flatnonzero(code == code[r])[0]), len(later)
    else:
        first, r, n_later = found
        if r < 0:
            return
    errors.add(DataValidationError(
        file, ",".join(spec.key), r + 1, f"a unique key ({spec.key_note})" if spec.key_note else "a unique key",
        f"duplicate key {_row_key(table, spec.key, r)}", rows=(first + 1, r + 1),
        detail=_more(n_later)))


def _check_spreads(spec: FileSpec, table: pa.Table, file: str, errors: ErrorCollector) -> bool:
    """A spread (``*_sd``) needs its mean on the row, and a positive spread a positive mean."""
    ok = True
    for (name, sd_col), mean_col in _SPREADS.items():
        if name != spec.name or sd_col not in table.column_names:
            continue
        sd = table.column(sd_col)
        mean = table.column(mean_col) if mean_col in table.column_names else pa.nulls(table.num_rows, pa.float64())
        i, n = _first(pc.and_(pc.is_valid(sd), pc.is_null(mean)))
        if n:
            errors.add(DataValidationError(file, mean_col, i + 1, f"a number ({sd_col} is given on this row)",
                                           "null", detail=_more(n)))
            ok = False
        i, n = _first(pc.and_(pc.greater(sd, 0.0), pc.equal(mean, 0.0)))
        if n:
            errors.add(DataValidationError(file, sd_col, i + 1, f"0 when {mean_col} is 0 (a time of mean 0 cannot vary)",
                                           sd[i].as_py(), detail=_more(n)))
            ok = False
    return ok


_LEVELS = ("pinned_level", "min_level", "max_level")


def _check_overrides(table: pa.Table, file: str, errors: ErrorCollector) -> bool:
    """Whole-number levels; a pin or a corridor on each row, not both; min not above max."""
    ok = True
    levels = {c: table.column(c) if c in table.column_names else pa.nulls(table.num_rows, pa.float64())
              for c in _LEVELS}
    for name, col in levels.items():
        i, n = _first(pc.not_equal(col, pc.floor(col)))
        if n:
            errors.add(DataValidationError(file, name, i + 1, "a whole number of units (base-stock levels are "
                                           "integers)", col[i].as_py(), detail=_more(n)))
            ok = False
    pinned = pc.is_valid(levels["pinned_level"])
    corridor = pc.or_(pc.is_valid(levels["min_level"]), pc.is_valid(levels["max_level"]))
    i, n = _first(pc.and_(pinned, corridor))
    if n:
        errors.add(DataValidationError(
            file, "pinned_level,min_level,max_level", i + 1, "either pinned_level or a corridor (min_level / "
            "max_level), not both", f"pinned_level {levels['pinned_level'][i].as_py()} with min_level "
            f"{levels['min_level'][i].as_py()}, max_level {levels['max_level'][i].as_py()}", detail=_more(n)))
        ok = False
    i, n = _first(pc.invert(pc.or_(pinned, corridor)))
    if n:
        errors.add(DataValidationError(file, "pinned_level,min_level,max_level", i + 1,
                                       "a pinned_level, a min_level or a max_level", "all three null",
                                       detail=_more(n)))
        ok = False
    lo, hi = levels["min_level"], levels["max_level"]
    i, n = _first(pc.greater(lo, hi))
    if n:
        errors.add(DataValidationError(file, "max_level", i + 1, f"a level >= min_level ({lo[i].as_py():g})",
                                       hi[i].as_py(), detail=_more(n)))
        ok = False
    return ok


def _check_extra_columns(spec: FileSpec, rule: ColumnSpec, table: pa.Table, file: str,
                         errors: ErrorCollector) -> bool:
    """Every column outside ``spec.columns`` follows ``rule`` (signals: at least one such column)."""
    own = {c.name for c in spec.columns}
    extra = [name for name in table.column_names if name not in own]
    if not extra:
        errors.add(DataValidationError(
            file, None, None, f"at least one {spec.name[:-1] if spec.name.endswith('s') else spec.name} column "
            f"({type_expectation(rule.type)} per row) besides " + ", ".join(c.name for c in spec.columns),
            "no other column"))
        return False
    ok = True
    for name in extra:
        arr = table.column(name)
        if arr.type != rule.type:
            errors.add(DataValidationError(file, name, None, f"a column of type {rule.type}", f"type {arr.type}"))
            ok = False
            continue
        ok = _check_column(spec, replace(rule, name=name), arr, file, errors) and ok
    return ok


def _check_order_lines(table: pa.Table, file: str, errors: ErrorCollector) -> bool:
    """Each line says whether it was short; no more filled than ordered."""
    ok = True
    nulls = pa.nulls(table.num_rows, pa.float64())
    filled = table.column("quantity_filled") if "quantity_filled" in table.column_names else nulls
    short = table.column("short") if "short" in table.column_names else pa.nulls(table.num_rows, pa.bool_())
    i, n = _first(pc.and_(pc.is_null(filled), pc.is_null(short)))
    if n:
        errors.add(DataValidationError(file, "quantity_filled,short", i + 1,
                                       "a quantity_filled or a short flag (whether the line was filled in full)",
                                       "both null or absent", detail=_more(n)))
        ok = False
    ordered = table.column("quantity_ordered")
    i, n = _first(pc.greater(filled, ordered))
    if n:
        errors.add(DataValidationError(file, "quantity_filled", i + 1,
                                       f"at most quantity_ordered ({ordered[i].as_py():g})", filled[i].as_py(),
                                       detail=_more(n)))
        ok = False
    return ok


def check_table(spec: FileSpec, table: pa.Table, file: str, errors: ErrorCollector,
                _enc: _Encodings | None = None, *, stage_index: StageIndex | None = None) -> bool:
    """Check one table on its own (columns, types, nulls, ranges, unique key).

    Args:
        spec: the file's spec.
        table: the table (extra columns are ignored).
        file: path used in error messages.
        errors: collector the errors are added to.
        stage_index: the index of the (valid) stages; with it, tables keyed by
            ``(sku, location, ...)`` are checked for duplicate keys batch by batch
            (rows naming no stage are then left to the reference check).

    Returns:
        True when the table passed every check (cross-file checks may then use it).
    """
    ok = True
    if spec.name == "stages" and table.num_rows == 0:
        errors.add(DataValidationError(file, None, None, "at least one stage (data row)", "none"))
        ok = False
    names = set(table.column_names)
    for col in spec.columns:
        if col.name not in names:
            if col.required:
                errors.add(DataValidationError(
                    file, col.name, None, f"a required column of type {col.type}", "no such column",
                    detail="columns present: " + ", ".join(table.column_names)))
                ok = False
            continue
        arr = table.column(col.name)
        if arr.type not in (col.type, spec.memory_type(col)):  # tables built in code may be plain
            errors.add(DataValidationError(file, col.name, None, f"a column of type {col.type}",
                                           f"type {arr.type}"))
            ok = False
            continue
        ok = _check_column(spec, col, arr, file, errors) and ok
    if spec.extra_columns is not None:
        ok = _check_extra_columns(spec, spec.extra_columns, table, file, errors) and ok
    if ok:
        ok = _check_spreads(spec, table, file, errors)
    if ok:
        _check_duplicates(spec, table, file, errors, _enc, stage_index)
    if ok and spec.name == "receipts":
        order, receipt = table.column("order_date"), table.column("receipt_date")
        i, n = _first(pc.less(receipt, order))
        if n:
            errors.add(DataValidationError(
                file, "receipt_date", i + 1, f"a date on or after order_date ({order[i].as_py()})",
                str(receipt[i].as_py()), detail=_more(n)))
            ok = False
    if ok and spec.name == "overrides":
        ok = _check_overrides(table, file, errors)
    if ok and spec.name == "order_lines":
        ok = _check_order_lines(table, file, errors)
    if ok and spec.name == "constraints":
        ok = check_constraint_rows(table, file, errors)
    return ok and not errors.full


def _check_cycles(up: np.ndarray, down: np.ndarray, file: str, index: StageIndex,
                  errors: ErrorCollector) -> None:
    n_nodes = index.n_stages
    known = (up >= 0) & (down >= 0)
    rows = np.flatnonzero(known)
    u, d = up[known], down[known]
    if len(u) == 0:
        return
    graph = coo_matrix((np.ones(len(u), dtype=np.int8), (u, d)), shape=(n_nodes, n_nodes)).tocsr()
    _, labels = connected_components(graph, directed=True, connection="strong")
    sizes = np.bincount(labels)
    on_cycle = (labels[u] == labels[d]) & ((sizes[labels[u]] > 1) | (u == d))
    hits = np.flatnonzero(on_cycle)
    if len(hits) == 0:
        return
    k = int(hits[0])
    start, nxt = int(u[k]), int(d[k])
    path = [start]
    if nxt != start:
        comp = labels[start]
        inside = (labels[u] == comp) & (labels[d] == comp)
        adj: dict[int, list[int]] = {}
        for a, b in zip(u[inside].tolist(), d[inside].tolist(), strict=True):
            adj.setdefault(a, []).append(b)
        parent = {nxt: nxt}
        queue = deque([nxt])
        while queue and start not in parent:
            a = queue.popleft()
            for b in adj.get(a, ()):
                if b not in parent:
                    parent[b] = a
                    queue.append(b)
        back = [start]
        while back[-1] != nxt:
            back.append(parent[back[-1]])
        path += back[::-1]
    else:
        path.append(start)
    cycle = " -> ".join(index.name(p) for p in path)
    errors.add(DataValidationError(
        file, None, int(rows[k]) + 1, "an acyclic network",
        f"a cycle through {len(path) - 1} stage{'s' if len(path) > 2 else ''}: {cycle}"))


def _check_refs(name: str, table: pa.Table, file: str, stages_file: str, index: StageIndex,
                errors: ErrorCollector) -> list[np.ndarray]:
    """Report the first row naming no stage; returns the stage rows of each end for edges."""
    nodes = []
    for sku_col, loc_col in _STAGE_REFS[name]:
        first, n_bad = -1, 0
        keep: list[np.ndarray] = []
        for offset, rows, _ in index.batches(table, sku_col, loc_col):
            bad = np.flatnonzero(rows < 0)
            if bad.size and first < 0:
                first = offset + int(bad[0])
            n_bad += int(bad.size)
            if name == "edges":
                keep.append(rows)
        if n_bad:
            got = (f"(sku {table.column(sku_col)[first].as_py()!r}, location "
                   f"{table.column(loc_col)[first].as_py()!r}), which is not in "
                   f"{os.path.basename(stages_file)}")
            errors.add(DataValidationError(file, f"{sku_col},{loc_col}", first + 1,
                                           "a stage listed in stages", got, detail=_more(n_bad)))
        nodes.append(np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64))
    return nodes


def _file_of(ds: Dataset, name: str) -> str:
    return ds.sources.get(name) or os.path.join(ds.root, name)


def validate_dataset(ds: Dataset, validated: Collection[str] = ()) -> None:
    """Check a dataset against the data contract (see module doc for the rules).

    Args:
        ds: the dataset; ``ds.sources`` names the files in messages.
        validated: tables known to pass (e.g. files byte-identical to ones an earlier run
            validated): their own checks are skipped, and their references to the stages
            too when ``stages`` is among them.

    Raises:
        DataValidationError: the first error found, reporting up to 20 errors in all
            (``err.errors``); ``err.file``/``column``/``row``/``expected`` are the first's.
    """
    errors = ErrorCollector()
    enc = _Encodings()
    passed: dict[str, bool] = {}
    index: StageIndex | None = None
    for name, spec in FILE_SPECS.items():
        table = ds.tables.get(name)
        if table is None:
            if spec.required:
                errors.add(DataValidationError(
                    os.path.join(ds.root, name), None, None,
                    f"a required file {name}.parquet or {name}.csv in {ds.root}", "none"))
            continue
        if name in validated:
            passed[name] = True
        else:
            passed[name] = check_table(spec, table, _file_of(ds, name), errors, enc, stage_index=index)
        if name == "stages" and passed[name]:
            index = StageIndex(table)
    if index is not None and not errors.full:
        stages_file = _file_of(ds, "stages")
        for name in _STAGE_REFS:
            if not passed.get(name) or errors.full or {name, "stages"} <= set(validated):
                continue
            table = ds.tables[name]
            file = _file_of(ds, name)
            nodes = _check_refs(name, table, file, stages_file, index, errors)
            if name == "edges" and not errors.full:
                _check_cycles(nodes[0], nodes[1], file, index, errors)
        if passed.get("constraints") and not errors.full and not {"constraints", "stages"} <= set(validated):
            check_constraint_refs(ds.tables["constraints"], ds.stages, _file_of(ds, "constraints"), stages_file,
                                  errors)
    errors.raise_if_any()
