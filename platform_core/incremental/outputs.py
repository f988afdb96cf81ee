"""The planner's files of an incremental run, for its complete output (copied + re-planned rows).

* ``OUT/exceptions.parquet``: the ranked exception lists of the whole recommendations
  file, with the recent demand of this cycle's data (:func:`exceptions_for_rows`); the
  copied rows' rows of the lists that read no demand history are the previous run's
  (:func:`exceptions_since`: the same table, without formatting ~a million reasons again);
* ``OUT/frontier.parquet``: the portfolio's efficient frontier from the per-row side
  data: the copied rows' from the previous run (``PREVIOUS/sensing/frontier_side.parquet``,
  which every run writes when its solver gives side data, :func:`write_frontier_side`),
  the re-planned rows' fresh (:func:`combined_side`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.data.columns import float_column
from platform_core.data.schemas import Dataset
from platform_core.exception_lists import (
    EXCEPTION_LISTS,
    EXCEPTIONS_SCHEMA,
    RECENT_PERIODS,
    ROW_ONLY_LISTS,
    RULES_KEY,
    UNRANKED_SCHEMA,
    exception_lists,
    exception_rows,
    rank_exceptions,
    rules_digest,
)
from platform_core.incremental.state import SENSING_DIR, SensingGrid
from platform_core.incremental.subset import in_values
from platform_core.networks import NetworkStructure
from platform_core.parts import write_parquet_atomic

__all__ = ["FRONTIER_SIDE_FILE", "write_frontier_side", "read_frontier_side", "combined_side",
           "exceptions_for_rows", "exceptions_since", "reusable_exception_rows", "interleave",
           "demand_from"]

#: The per-row side data of the frontier (input order), kept for a later ``--since`` run.
FRONTIER_SIDE_FILE = "frontier_side.parquet"


#: side columns that serve only the run's own coupling constraints (on hand on fresh paths,
#: :mod:`platform_core.constraints.fresh`): not kept, a ``--since`` run does not measure them
RUN_ONLY_SIDE_COLUMNS = ("frontier_fresh_on_hand", "frontier_fresh_on_hand_sd", "frontier_fresh_on_hand_k3",
                         "frontier_fresh_on_hand_se")


def write_frontier_side(out_dir: str | os.PathLike[str], side: pa.Table | None) -> Path | None:
    """Write ``OUT/sensing/frontier_side.parquet`` (nothing when ``side`` is None).

    The :data:`RUN_ONLY_SIDE_COLUMNS` are left out (a ``--since`` run's re-planned rows have
    none, and its frontier needs every row's columns alike).
    """
    if side is None:
        return None
    side = side.drop_columns([c for c in RUN_ONLY_SIDE_COLUMNS if c in side.column_names])
    path = Path(out_dir) / SENSING_DIR / FRONTIER_SIDE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(side, path)
    return path


def read_frontier_side(out_dir: str | os.PathLike[str]) -> pa.Table | None:
    """The side data a previous run wrote (None when it wrote none)."""
    path = Path(out_dir) / SENSING_DIR / FRONTIER_SIDE_FILE
    return pq.read_table(path) if path.is_file() else None


def combined_side(previous: pa.Table | None, new: pa.Table | None, replan: np.ndarray,
                  new_input_rows: np.ndarray) -> pa.Table | None:
    """Side data of every input row: copied rows from ``previous``, re-planned rows from ``new``.

    Args:
        previous: the previous run's side data (input order), or None.
        new: the re-planned rows' side data, row ``j`` belonging to input row
            ``new_input_rows[j]``; None when nothing was re-planned or the solver gave none.
        replan: per input row, whether it was re-planned.
        new_input_rows: see ``new``.

    Returns:
        The side data in input order; None when a part is missing (a frontier needs every row's).
    """
    n = replan.size
    if previous is None or previous.num_rows != n:
        return None
    if not replan.any():
        return previous
    if new is None:
        return None
    names = [c for c in previous.column_names if c in new.column_names]
    if len(names) != len(previous.column_names):
        return None
    return interleave(previous, new.select(names).cast(previous.schema), replan, new_input_rows)


def interleave(previous: pa.Table, fresh: pa.Table, replan: np.ndarray, fresh_rows: np.ndarray) -> pa.Table:
    """Per input row, ``previous``'s row where not ``replan``, else ``fresh``'s row of it.

    Args:
        previous: a row per input row.
        fresh: the re-planned rows, row ``j`` belonging to input row ``fresh_rows[j]``
            (each re-planned row once), with ``previous``'s schema.
        replan: bool per input row.
        fresh_rows: see ``fresh``.

    Returns:
        The table in input order, built of zero-copy slices of the two: one per run of
        copied or re-planned rows (whole networks re-planned give a few thousand runs at
        a million rows; taking every row would copy all of them).
    """
    replan = np.asarray(replan, dtype=bool)
    rows = np.asarray(fresh_rows, dtype=np.int64)
    if rows.size != int(replan.sum()) or not np.array_equal(np.sort(rows), np.flatnonzero(replan)):
        raise ValueError("fresh_rows must name every re-planned row once")
    if not replan.any():
        return previous
    ordered = fresh.take(pa.array(np.argsort(rows, kind="stable"))) if rows.size > 1 else fresh
    n = replan.size
    bounds = np.concatenate([[0], np.flatnonzero(replan[1:] != replan[:-1]) + 1, [n]]).tolist()
    pieces = []
    used = 0
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if replan[a]:
            pieces.append(ordered.slice(used, b - a))
            used += b - a
        else:
            pieces.append(previous.slice(a, b - a))
    return pa.concat_tables(pieces)


def demand_from(demand: pa.Table, grid: SensingGrid, first_period: int) -> pa.Table:
    """The rows of ``demand`` in period ``first_period`` of ``grid`` or later."""
    first_day = int(np.ceil(grid.origin_day + first_period * grid.period_days))
    return demand.filter(pc.greater_equal(demand.column("period").cast(pa.int32()), pa.scalar(first_day, pa.int32())))


def _history_inputs(recommendations: pa.Table, dataset: Dataset, structure: NetworkStructure, grid: SensingGrid,
                    last_period: int, demand_tail: pa.Table | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: demand and stock-out flags of the last ``RECENT_PERIODS`` periods, mean own demand (failed rows).

    ``demand_tail``: the demand rows from those periods on (or from earlier), when the
    caller has them already (else they are filtered out of the whole demand table).
    """
    n = recommendations.num_rows
    demand = dataset.demand
    first = last_period - RECENT_PERIODS + 1
    recent = np.full((n, RECENT_PERIODS), np.nan)
    flags = np.zeros((n, RECENT_PERIODS), dtype=bool)
    tail = demand_from(demand if demand_tail is None else demand_tail, grid, first)
    if tail.num_rows:
        days = tail.column("period").cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
        col = np.floor((days - grid.origin_day) / grid.period_days).astype(np.int64) - first
        rows = structure.index.lookup(tail)
        ok = (rows >= 0) & (col >= 0) & (col < RECENT_PERIODS)
        recent[rows[ok], col[ok]] = tail.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64)[ok]
        if "stocked_out" in tail.column_names:
            so = tail.column("stocked_out").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
            flags[rows[ok], col[ok]] = so[ok]
    mean_own = np.zeros(n)  # the not-solved rows' magnitude: their mean own demand per period
    failed = pc.not_equal(recommendations.column("status"), "ok")
    if pc.any(failed).as_py() and demand.num_rows:
        skus = pc.unique(recommendations.column("sku").filter(failed))
        mine = demand.filter(in_values(demand.column("sku"), skus))
        rows = structure.index.lookup(mine)
        qty = mine.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64)
        ok = rows >= 0
        total = np.bincount(rows[ok], weights=qty[ok], minlength=n)
        count = np.bincount(rows[ok], minlength=n)
        mean_own = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return recent, flags, mean_own


def exceptions_for_rows(recommendations: pa.Table, dataset: Dataset, structure: NetworkStructure,
                        grid: SensingGrid, last_period: int) -> pa.Table:
    """:func:`platform_core.exception_lists.exception_lists` of the complete recommendations.

    The recent demand is each row's own demand in the last ``RECENT_PERIODS`` periods of
    the grid up to ``last_period`` (this cycle's data), as a full run on the same data sees it.
    """
    recent, flags, mean_own = _history_inputs(recommendations, dataset, structure, grid, last_period)
    unit_cost = float_column(dataset.stages, "unit_cost", 0.0)
    return exception_lists(recommendations, unit_cost, recent, flags, mean_own, grid.period_days)


def reusable_exception_rows(previous_exceptions: str | os.PathLike[str], structure: NetworkStructure,
                            replan: np.ndarray) -> tuple[pa.Table | None, str]:
    """The previous run's rows of the :data:`ROW_ONLY_LISTS` for the rows not re-planned, unranked.

    Those rows read only the recommendation row and its stage's unit cost; a copied row is
    the previous run's row, and the caller has checked that the stages file and the period
    length are the previous run's.  So they are the rows a computation from scratch gives
    when the file was made by the same rules (:func:`rules_digest` in its metadata) for
    this input's SKU-locations.  Returns ``(None, why)`` when it cannot be reused.
    """
    path = Path(previous_exceptions)
    if not path.is_file():
        return None, f"{path} not found"
    previous = pq.read_table(path)
    digest = (previous.schema.metadata or {}).get(RULES_KEY)
    if digest != rules_digest().encode():
        return None, f"{path} was made by other exception rules (or before they were recorded)"
    if not previous.schema.equals(EXCEPTIONS_SCHEMA, check_metadata=False):
        return None, f"{path} has another schema"
    mine = previous.filter(pc.is_in(previous.column("list"), value_set=pa.array(ROW_ONLY_LISTS, pa.string())))
    rows = structure.index.lookup(mine) if mine.num_rows else np.zeros(0, dtype=np.int64)
    if (rows < 0).any():
        return None, f"{path} names SKU-locations that are not in this input"
    kept = mine.filter(pa.array(~replan[rows])) if mine.num_rows else mine
    return kept.drop_columns(["rank"]).cast(UNRANKED_SCHEMA).replace_schema_metadata(None), ""


def exceptions_since(recommendations: pa.Table, dataset: Dataset, structure: NetworkStructure, grid: SensingGrid,
                     last_period: int, replan: np.ndarray,
                     previous_exceptions: str | os.PathLike[str],
                     demand_tail: pa.Table | None = None) -> tuple[pa.Table, int, str]:
    """:func:`exceptions_for_rows`, reusing the previous run's rows of the copied rows where they stay.

    The copied rows' rows in the :data:`ROW_ONLY_LISTS` come from ``previous_exceptions``
    (:func:`reusable_exception_rows`); the lists that read the demand history are computed
    for every row, all lists for the re-planned rows; one ranking of the whole.  The same
    table as :func:`exceptions_for_rows` (tested); computed from scratch when the
    previous file cannot be reused.  ``demand_tail``: as for ``_history_inputs``.

    Returns:
        The exception lists, the number of rows reused, and why none were ("" when some were).
    """
    reused, why = reusable_exception_rows(previous_exceptions, structure, replan)
    if reused is None:
        recent, flags, mean_own = _history_inputs(recommendations, dataset, structure, grid, last_period, demand_tail)
        unit_cost = float_column(dataset.stages, "unit_cost", 0.0)
        return exception_lists(recommendations, unit_cost, recent, flags, mean_own, grid.period_days), 0, why
    recent, flags, mean_own = _history_inputs(recommendations, dataset, structure, grid, last_period, demand_tail)
    unit_cost = float_column(dataset.stages, "unit_cost", 0.0)
    args = (recommendations, unit_cost, recent, flags, mean_own, grid.period_days)
    history_lists = [name for name in EXCEPTION_LISTS if name not in ROW_ONLY_LISTS]
    replanned = exception_rows(*args, rows=replan)
    copied = exception_rows(*args, lists=history_lists, rows=~replan)
    return rank_exceptions(pa.concat_tables([reused, replanned, copied])), reused.num_rows, ""
