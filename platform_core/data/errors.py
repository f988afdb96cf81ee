"""Errors raised when an input dataset does not meet the data contract.

Row numbers are 1-based *data* row numbers as a user sees them in the file: for a CSV
file, row 1 is the first data line after the header (so row ``r`` is on line ``r + 1``
when no quoted field spans several lines); for a Parquet file, row 1 is the first row of
the table (row groups concatenated in file order).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["DataValidationError", "ErrorCollector", "MAX_REPORTED_ERRORS"]

#: How many errors one exception reports at most.
MAX_REPORTED_ERRORS = 20


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DataValidationError(ValueError):
    """One (or the first of several) violations of the data contract.

    Attributes:
        file: path of the offending file (or the dataset directory / the file that
            was expected, for a missing file).
        column: the offending column, comma-separated columns for a key, or None when
            the error is about the whole file.
        row: 1-based data row number of the first offending row (see module doc), or
            None when the error is not about one row.
        expected: what the contract expects, e.g. ``"a number >= 0"``.
        got: what was found, as text (e.g. ``"-3.0"``), or None.
        rows: all rows involved (e.g. both rows of a duplicate key), or None.
        errors: every error collected, this one first (at most
            ``MAX_REPORTED_ERRORS``); ``[self]`` for a single error.
        total: how many errors were found (may exceed ``len(errors)``).
    """

    def __init__(
        self,
        file: str | os.PathLike[str],
        column: str | None = None,
        row: int | None = None,
        expected: str = "",
        got: Any = None,
        *,
        rows: tuple[int, ...] | None = None,
        detail: str | None = None,
    ) -> None:
        self.file = os.fspath(file)
        self.column = column
        self.row = row
        self.expected = expected
        self.got = None if got is None else (got if isinstance(got, str) else _short(got))
        self.rows = rows
        self.detail = detail
        self.errors: list[DataValidationError] = [self]
        self.total = 1
        self.line = self._format()
        super().__init__(self.line)

    def _format(self) -> str:
        where = [os.path.basename(self.file) or self.file]
        if self.column is not None:
            cols = self.column.split(",")
            if len(cols) == 1:
                where.append(f"column '{self.column}'")
            else:
                where.append("columns (" + ", ".join(f"'{c}'" for c in cols) + ")")
        if self.rows is not None and len(self.rows) > 1:
            where.append("rows " + " and ".join(str(r) for r in self.rows))
        elif self.row is not None:
            where.append(f"row {self.row}")
        text = where[0] + (": " + ", ".join(where[1:]) if len(where) > 1 else "")
        text += f": expected {self.expected}"
        if self.got is not None:
            text += f", got {self.got}"
        if self.detail:
            text += f" ({self.detail})"
        return text

    @classmethod
    def combine(
        cls, errors: Iterable[DataValidationError], total: int | None = None
    ) -> DataValidationError:
        """One exception reporting several errors; it carries the first one's attributes.

        Args:
            errors: the errors, first (most important) first; at most
                ``MAX_REPORTED_ERRORS`` are reported.
            total: how many errors were found in all, when more were seen than kept.

        Returns:
            The first error, with ``errors``/``total`` set and a message listing them all.
        """
        errs = list(errors)
        if not errs:
            raise ValueError("combine() needs at least one error")
        shown = errs[:MAX_REPORTED_ERRORS]
        first = shown[0]
        n = max(total or 0, len(errs))
        first.errors = shown
        first.total = n
        if n > 1:
            head = f"{n} data errors"
            if n > len(shown):
                head += f" (showing the first {len(shown)})"
            msg = head + ":\n" + "\n".join(f"  {e.line}" for e in shown)
            if n > len(shown):
                msg += f"\n  ... and {n - len(shown)} more"
            first.args = (msg,)
        return first


class ErrorCollector:
    """Collects errors and raises them together.

    Attributes:
        errors: the errors kept (at most ``limit``).
        total: how many errors were added.
    """

    def __init__(self, limit: int = MAX_REPORTED_ERRORS) -> None:
        self.limit = limit
        self.errors: list[DataValidationError] = []
        self.total = 0

    def add(self, error: DataValidationError) -> None:
        """Record one error (kept only while fewer than ``limit`` are kept)."""
        self.total += 1
        if len(self.errors) < self.limit:
            self.errors.append(error)

    @property
    def full(self) -> bool:
        """Whether ``limit`` errors are already kept (callers may stop checking)."""
        return len(self.errors) >= self.limit

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        """Raise one DataValidationError reporting the collected errors, if any.

        Raises:
            DataValidationError: carrying the first error's attributes.
        """
        if self.errors:
            raise DataValidationError.combine(self.errors, self.total)
