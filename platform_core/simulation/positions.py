"""Position histograms: a base-stock stage's metrics at every level from one run.

Under installation base-stock with full backordering (review period ``R``, no MOQ,
order multiple or capacity) a stage orders exactly what is demanded of it, whatever its
level ``S``: with common random numbers its demand, lead-time and allocation paths depend
only on its ancestors' levels. Per measured period the kernel records

* ``X = S - NI`` at the end of the period (``NI`` = on hand - customer backorders -
  downstream orders not shipped; ``X >= 0`` is what the stage's pipeline and this
  period's external demand hold back from ``S``), and
* ``Y = X - d`` (``d``: units demanded of the stage in the period, external demand plus
  downstream orders placed; ``S - Y`` is the net inventory after the period's receipts,
  before its demand),

both independent of ``S``. For any integer level ``S' >= 0`` on the same paths the
stage's units short of the period's demand are ``(X - S')^+ - (Y - S')^+``, its backlog
(customer backorders + owed downstream) is ``(X - S')^+`` and its on hand ``(S' - X)^+``.
:class:`PositionHistograms` turns the counts of ``X`` and ``max(Y, 0)`` into these curves
(see ``docs/simulation.md``, "Position histograms").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._position_curves import position_curves

__all__ = ["PositionCurves", "PositionHistograms"]


@dataclass(frozen=True)
class PositionCurves:
    """A stage's metrics as functions of its level ``S' = 0 .. cap`` (same sample paths).

    Attributes:
        level: ``S'`` [units].
        fill_rate: type 2 fill rate, the mean over replication groups of each group's
            filled / demanded units [-] (with one group per replication: exactly the
            engine's ``fill_rate``).
        fill_rate_se: its standard error over the groups (batch means) [-].
        backlog: mean end-of-period customer backorders + downstream orders owed
            (the engine's ``backorders + owed_downstream``) [units].
        on_hand: mean end-of-period on hand [units].
        on_hand_se: its standard error over the replication groups (batch means; NaN with
            one group) [units].
    """

    level: np.ndarray
    fill_rate: np.ndarray
    fill_rate_se: np.ndarray
    backlog: np.ndarray
    on_hand: np.ndarray
    on_hand_se: np.ndarray


@dataclass(frozen=True)
class PositionHistograms:
    """Histograms of ``X`` and ``max(Y, 0)`` per stage (rows as :class:`SimulationResult`).

    Row ``i``'s bins (values ``0 .. cap_i`` [units]) are ``ptr[i]:ptr[i + 1]``; a row with
    no bins is not applicable (not installation base-stock with review period, no MOQ,
    order multiple or capacity). Values above ``cap_i`` are kept as a count and a sum, so
    the curves are exact for every ``S' <= cap_i``.

    Attributes:
        ptr: ``int64 [rows + 1]`` CSR offsets.
        x_counts: ``float64 [groups, bins]`` measured periods with ``X`` = the bin's value.
        y_counts: ``float64 [groups, bins]`` the same for ``max(Y, 0)``.
        x_tail_n, x_tail_sum: ``float64 [groups, rows]`` periods with ``X > cap`` and
            their sum of ``X`` [units].
        y_tail_n, y_tail_sum: the same for ``max(Y, 0)``.
        demand_sum: ``float64 [groups, rows]`` units demanded of the stage (``sum X - Y``).
        periods_per_group: measured periods per group (periods x replications / groups).
    """

    ptr: np.ndarray
    x_counts: np.ndarray
    y_counts: np.ndarray
    x_tail_n: np.ndarray
    x_tail_sum: np.ndarray
    y_tail_n: np.ndarray
    y_tail_sum: np.ndarray
    demand_sum: np.ndarray
    periods_per_group: int

    @property
    def groups(self) -> int:
        """Replication groups (replication ``r`` is in group ``r % groups``)."""
        return int(self.x_counts.shape[0])

    @property
    def applicable(self) -> np.ndarray:
        """``bool [rows]``: the row has histograms."""
        return np.diff(self.ptr) > 0

    def cap(self, row: int) -> int:
        """Largest level of row ``row``'s curves [units] (-1: not applicable)."""
        return int(self.ptr[row + 1] - self.ptr[row]) - 1

    def _all(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray, np.ndarray]:
        """Flat (bins,) level, fill, fill SE, backlog, on hand, on-hand SE of ``rows``' bins (default: all)."""
        c = np.ascontiguousarray
        rows = np.arange(self.ptr.size - 1) if rows is None else rows
        return position_curves(c(self.ptr, dtype=np.int64), c(rows, dtype=np.int64),
                               c(self.x_counts, dtype=np.float64),
                               c(self.y_counts, dtype=np.float64), c(self.x_tail_n, dtype=np.float64),
                               c(self.x_tail_sum, dtype=np.float64), c(self.y_tail_n, dtype=np.float64),
                               c(self.y_tail_sum, dtype=np.float64), c(self.demand_sum, dtype=np.float64),
                               float(self.periods_per_group))

    def flat_curves(self, rows: np.ndarray | None = None) -> PositionCurves:
        """The :meth:`curves` of ``rows`` (default: all), concatenated in that order.

        One array per metric (no object per row), for callers that read many rows: row
        ``rows[i]``'s values are at ``p[i]:p[i + 1]`` with ``p`` the cumulative sum of
        ``np.diff(ptr)[rows]`` from 0; the values are those of :meth:`all_curves` (and of
        ``select(rows).flat_curves()``, without copying the histograms).
        """
        return PositionCurves(*self._all(None if rows is None else np.asarray(rows, dtype=np.int64)))

    def select(self, rows: np.ndarray) -> PositionHistograms:
        """The histograms of ``rows`` only (in that order), e.g. to compute fewer curves.

        Args:
            rows: ``int [k]`` row indices (each at most once is not required).
        """
        rows = np.asarray(rows, dtype=np.int64)
        sizes = self.ptr[rows + 1] - self.ptr[rows]
        ptr = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(sizes, out=ptr[1:])
        bins = (np.repeat(self.ptr[rows] - ptr[:-1], sizes) + np.arange(int(ptr[-1]))).astype(np.int64)
        return PositionHistograms(
            ptr=ptr, x_counts=self.x_counts[:, bins], y_counts=self.y_counts[:, bins],
            x_tail_n=self.x_tail_n[:, rows], x_tail_sum=self.x_tail_sum[:, rows],
            y_tail_n=self.y_tail_n[:, rows], y_tail_sum=self.y_tail_sum[:, rows],
            demand_sum=self.demand_sum[:, rows], periods_per_group=self.periods_per_group,
        )

    def curves(self, row: int) -> PositionCurves:
        """Row ``row``'s fill rate, backlog and on hand at every level ``0 .. cap``.

        Raises:
            ValueError: the row has no histograms (not an applicable stage).
        """
        if not self.applicable[row]:
            raise ValueError(f"row {row}: no position histograms (not an installation base-stock stage "
                             "without MOQ, order multiple or capacity)")
        curves = self.all_curves()[row]
        assert curves is not None
        return curves

    def all_curves(self) -> list[PositionCurves | None]:
        """:meth:`curves` of every row (``None`` for rows without histograms), vectorised."""
        level, fill, se, backlog, on_hand, on_hand_se = self._all()
        out: list[PositionCurves | None] = []
        for i in range(self.ptr.size - 1):
            sl = slice(int(self.ptr[i]), int(self.ptr[i + 1]))
            out.append(PositionCurves(level[sl], fill[sl], se[sl], backlog[sl], on_hand[sl], on_hand_se[sl])
                       if sl.stop > sl.start else None)
        return out

    def min_levels(self, fill_target: float) -> np.ndarray:
        """Per row, the smallest level ``S'`` [units] whose fill rate is ``>= fill_target``.

        Returns:
            ``int64 [rows]``; ``-1`` where no level up to the row's cap meets the target
            or the row has no histograms.
        """
        level, fill, _se, _b, _oh, _oh_se = self._all()
        ok = fill >= fill_target
        res = np.full(self.ptr.size - 1, -1, dtype=np.int64)
        for i in range(self.ptr.size - 1):
            hit = np.flatnonzero(ok[self.ptr[i]:self.ptr[i + 1]])
            if hit.size:
                res[i] = int(level[self.ptr[i] + hit[0]])
        return res
