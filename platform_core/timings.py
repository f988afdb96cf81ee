"""Where a run's wall time went, phase by phase, in seconds."""

from __future__ import annotations

import time

__all__ = ["RunTimer"]


class RunTimer:
    """Marks the end of each phase of a run and reports the phases' durations [s].

    ``mark(name)`` records that phase ``name`` ended now; a phase lasts from the previous
    mark (or the timer's creation) to its own.  ``add(name, seconds)`` records a span
    measured elsewhere (e.g. the executor's start, overlapped with planning) that
    ``seconds_between`` can subtract.
    """

    def __init__(self) -> None:
        self._t0 = time.perf_counter()
        self._marks: dict[str, float] = {}
        self.spans: dict[str, float] = {}

    def mark(self, name: str) -> None:
        """Phase ``name`` ends now."""
        self._marks[name] = time.perf_counter()

    def add(self, name: str, seconds: float) -> None:
        """Record a span of ``seconds`` measured elsewhere."""
        self.spans[name] = self.spans.get(name, 0.0) + seconds

    def since(self, mark: str | None = None) -> float:
        """Seconds from ``mark`` (or the start) to now."""
        return time.perf_counter() - (self._t0 if mark is None else self._marks[mark])

    def between(self, start: str | None, end: str) -> float:
        """Seconds from mark ``start`` (None: the timer's creation) to mark ``end``."""
        return self._marks[end] - (self._t0 if start is None else self._marks[start])
