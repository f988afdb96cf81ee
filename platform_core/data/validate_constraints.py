"""Validation rules of the ``constraints`` table (coupling constraints across SKUs).

Row rules (:func:`check_constraint_rows`), after the column checks of
:func:`platform_core.data.validate.check_table`:

* ``constraint_type`` is location_space, supplier_capacity or budget;
* a location_space row names a ``location`` and no ``supplier``; a supplier_capacity row a
  ``supplier`` and no ``location``; a budget row neither; at most one budget row;
* ``unit`` and ``statistic`` (when given) are among those of the type
  (:data:`platform_core.data.schemas.CONSTRAINT_TYPES`); ``confidence`` (range checked with
  the columns) is null on a supplier_capacity row.

Cross-file rules (:func:`check_constraint_refs`): the location (supplier) of a row is one
of ``stages.location`` (``stages.supplier``), and every stage whose volume the constraint
counts has a ``unit_volume_m3``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.data.columns import decoded
from platform_core.data.errors import DataValidationError, ErrorCollector
from platform_core.data.schemas import CONSTRAINT_TYPES

__all__ = ["check_constraint_rows", "check_constraint_refs"]


def _texts(table: pa.Table, name: str) -> list[str | None]:
    if name not in table.column_names:
        return [None] * table.num_rows
    return [None if v is None else str(v) for v in decoded(table.column(name)).to_pylist()]


def check_constraint_rows(table: pa.Table, file: str, errors: ErrorCollector) -> bool:
    """Type, unit, statistic and the location/supplier each type needs, row by row (few rows)."""
    ok = True
    kinds = _texts(table, "constraint_type")
    loc, sup = _texts(table, "location"), _texts(table, "supplier")
    unit, stat = _texts(table, "unit"), _texts(table, "statistic")
    conf = (table.column("confidence").to_pylist() if "confidence" in table.column_names
            else [None] * table.num_rows)
    budget_row: int | None = None
    for i, kind in enumerate(kinds):
        row = i + 1
        if kind not in CONSTRAINT_TYPES:
            errors.add(DataValidationError(file, "constraint_type", row, "one of " + ", ".join(CONSTRAINT_TYPES),
                                           repr(kind)))
            ok = False
            continue
        units, stats = CONSTRAINT_TYPES[kind]
        needs = {"location_space": ("location", "supplier"), "supplier_capacity": ("supplier", "location")}
        if kind in needs:
            want, other = needs[kind]
            value = {"location": loc, "supplier": sup}
            if value[want][i] is None:
                errors.add(DataValidationError(file, want, row, f"a {want} (a {kind} constraint limits one)",
                                               "null"))
                ok = False
            if value[other][i] is not None:
                errors.add(DataValidationError(file, other, row, f"null (a {kind} constraint has no {other})",
                                               repr(value[other][i])))
                ok = False
        else:
            for name, value_b in (("location", loc[i]), ("supplier", sup[i])):
                if value_b is not None:
                    errors.add(DataValidationError(file, name, row, "null (the budget covers every stage)",
                                                   repr(value_b)))
                    ok = False
            if budget_row is not None:
                errors.add(DataValidationError(file, "constraint_type", row, "at most one budget row (one capital "
                                               "budget)", "a second budget", rows=(budget_row, row)))
                ok = False
            budget_row = row
        if unit[i] not in units:
            errors.add(DataValidationError(file, "unit", row, f"{' or '.join(units)} for {kind}", repr(unit[i])))
            ok = False
        if kind == "supplier_capacity" and conf[i] is not None:
            errors.add(DataValidationError(file, "confidence", row, "null for supplier_capacity (its mean flow is "
                                           "not estimated by simulation)", repr(conf[i])))
            ok = False
        if stat[i] is not None and stat[i] not in stats:
            errors.add(DataValidationError(file, "statistic", row, f"null or one of {', '.join(stats)} for {kind}",
                                           repr(stat[i])))
            ok = False
    return ok


def _first_missing_volume(stages: pa.Table, mask: np.ndarray) -> tuple[int, int]:
    """(0-based first row, count) of stages in ``mask`` without a ``unit_volume_m3``."""
    if "unit_volume_m3" in stages.column_names:
        missing = np.asarray(pc.is_null(stages.column("unit_volume_m3")).to_numpy(zero_copy_only=False), dtype=bool)
    else:
        missing = np.ones(stages.num_rows, dtype=bool)
    bad = np.flatnonzero(mask & missing)
    return (int(bad[0]), int(bad.size)) if bad.size else (-1, 0)


def check_constraint_refs(constraints: pa.Table, stages: pa.Table, file: str, stages_file: str,
                          errors: ErrorCollector) -> None:
    """Each row's location / supplier exists in ``stages``, and the stages it counts have volumes."""
    stage_loc = np.asarray(decoded(stages.column("location")).to_numpy(zero_copy_only=False), dtype=object)
    stage_sup = (np.asarray(decoded(stages.column("supplier")).to_numpy(zero_copy_only=False), dtype=object)
                 if "supplier" in stages.column_names else np.full(stages.num_rows, None, dtype=object))
    kinds = _texts(constraints, "constraint_type")
    loc, sup, unit = _texts(constraints, "location"), _texts(constraints, "supplier"), _texts(constraints, "unit")
    ids = _texts(constraints, "constraint_id")
    for i, kind in enumerate(kinds):
        if kind == "location_space":
            col, name, mask = "location", loc[i], stage_loc == loc[i]
        elif kind == "supplier_capacity":
            col, name, mask = "supplier", sup[i], stage_sup == sup[i]
        else:
            continue
        if not mask.any():
            errors.add(DataValidationError(file, col, i + 1, f"a {col} named in {stages_file.rsplit('/', 1)[-1]}",
                                           repr(name)))
            continue
        if kind == "location_space" or unit[i] == "m3/period":
            first, n = _first_missing_volume(stages, mask)
            if n:
                more = f"{n - 1} more stage{'s' if n > 2 else ''} like this" if n > 1 else None
                errors.add(DataValidationError(
                    stages_file, "unit_volume_m3", first + 1,
                    f"a volume > 0 (constraint {ids[i]!r} counts the volume of {col} {name!r})", "null",
                    detail=more))
