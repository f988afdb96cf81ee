"""The portfolio's efficient frontier: ``OUT/frontier.parquet`` from the solver's side columns.

A solver that can price other service targets on the paths it already simulated returns,
per customer-facing row, four ``list<double>`` side columns (:data:`SIDE_COLUMNS`, null on
other rows): the target shifts it priced (``frontier_target_shift`` [-], the same list on
every row), and the row's level [units], fill rate [-] and mean on hand [units] at each
shift.  ``multi_echelon`` does (its final run's position histograms give a leaf's fill and
on hand at every level, with the internal stages at their chosen levels).

The side columns travel in the batch's part file (so a resumed run keeps them) and are
split off at the merge (:func:`split_side_columns`): ``recommendations.parquet`` never
holds them.  The driver then sums them per shift (:func:`frontier_table`): every row
without side data (internal stages, stages of other solvers) keeps its recommended
figures, so a point is the portfolio with every customer-facing stage's target moved by
the shift and the network placement (internal levels) as chosen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.parts import write_parquet_atomic
from platform_core.plan import SharedInputs

__all__ = ["SIDE_COLUMNS", "OPTIONAL_SIDE_COLUMNS", "FRONTIER_SCHEMA", "FRONTIER_FILE", "split_side_columns", "frontier_table",
           "side_arrays", "write_frontier", "unit_cost_by_input_row"]

#: Side columns a solver may return (list<double> per row; null where it has none).
SIDE_COLUMNS = ("frontier_target_shift", "frontier_level", "frontier_fill_rate", "frontier_on_hand")
#: Further side columns a solver may add: the standard deviation [units] and third central moment
#: [units^3] over periods of on hand at each shift (the coupling constraints' p95 space,
#: :mod:`platform_core.constraints`), the standard error [units] of the mean on hand at each
#: shift (batch means over replication groups), and per row (float64, every row the solver
#: simulated) the standard error [units] of ``mean_on_hand`` at its recommended level (the
#: constraints' confidence margin); and the mean, SD, third central moment and SE of on hand at
#: each shift measured again on fresh paths, independent of those that chose the levels (what the
#: constraints count when given).
OPTIONAL_SIDE_COLUMNS = ("frontier_on_hand_sd", "frontier_on_hand_k3", "frontier_on_hand_se", "recommended_on_hand_se",
                         "frontier_fresh_on_hand", "frontier_fresh_on_hand_sd", "frontier_fresh_on_hand_k3",
                         "frontier_fresh_on_hand_se")
FRONTIER_FILE = "frontier.parquet"
#: Columns of ``frontier.parquet``: one row per target shift, ascending.
FRONTIER_SCHEMA = pa.schema([
    pa.field("target_shift", pa.float64()),  # [-] added to every customer-facing stage's target
    pa.field("recommended", pa.bool_()),  # the point of the recommendation (shift 0)
    pa.field("investment_at_level_currency", pa.float64()),  # sum of level x unit cost, ok rows
    pa.field("expected_on_hand_value_currency", pa.float64()),  # sum of mean on hand x unit cost, ok rows
    pa.field("customer_fill_rate_demand_weighted", pa.float64()),  # over customer-facing ok rows with demand
    pa.field("changed_stages", pa.int64()),  # rows whose level the shift moved
])


def split_side_columns(table: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """``table`` without the side columns, and the side columns (None when it has none)."""
    present = [c for c in SIDE_COLUMNS if c in table.column_names]
    extra = [c for c in OPTIONAL_SIDE_COLUMNS if c in table.column_names]
    if not present and not extra:
        return table, None
    side = table.select(present + extra)
    return table.drop_columns(present + extra), side if len(present) == len(SIDE_COLUMNS) else None


def side_arrays(side: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The side columns as dense arrays: shifts (K,), has (n,), level, fill, on hand (n, K).

    Raises:
        ValueError: rows with side data disagree on the shifts.
    """
    n = side.num_rows
    has = np.asarray(pc.invert(pc.is_null(side.column("frontier_level"))).to_numpy(zero_copy_only=False),
                     dtype=bool)
    if not has.any():
        return np.zeros(0), has, np.zeros((n, 0)), np.zeros((n, 0)), np.zeros((n, 0))
    rows = np.flatnonzero(has)
    shift_lists = side.column("frontier_target_shift").take(pa.array(rows))
    shifts = np.asarray(shift_lists[0].as_py(), dtype=np.float64)
    if not np.all(pc.list_value_length(shift_lists).to_numpy(zero_copy_only=False) == shifts.size) or not \
            np.array_equal(np.asarray(pc.list_flatten(shift_lists).to_numpy(zero_copy_only=False),
                                      dtype=np.float64).reshape(rows.size, shifts.size), np.tile(shifts, (rows.size, 1))):
        raise ValueError("frontier side columns: rows carry different target shifts")

    def dense(name: str) -> np.ndarray:
        out = np.full((n, shifts.size), np.nan)
        lists = side.column(name).take(pa.array(rows))
        if not np.all(pc.list_value_length(lists).to_numpy(zero_copy_only=False) == shifts.size):
            raise ValueError(f"frontier side column {name}: expected {shifts.size} values per row")
        flat = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
        out[rows] = np.asarray(flat, dtype=np.float64).reshape(rows.size, shifts.size)
        return out

    return shifts, has, dense("frontier_level"), dense("frontier_fill_rate"), dense("frontier_on_hand")


def _column(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def frontier_table(recommendations: pa.Table, side: pa.Table, unit_cost: np.ndarray,
                   customer_facing: np.ndarray) -> pa.Table | None:
    """Portfolio investment and customer-facing fill at each target shift (None: no side data).

    Args:
        recommendations: the merged recommendations (input order, without side columns).
        side: their side columns (same rows).
        unit_cost: per row [currency/unit].
        customer_facing: per row: external demand and no downstream stage.

    Sums over ``ok`` rows as ``summary.json`` does: investment at level (level x unit cost),
    expected on-hand value (mean on hand x unit cost), customer-facing fill weighted by
    ``mean_demand_per_period``.  Rows with side data take the shift's level, fill and on
    hand; the others their recommended figures.  A shift at which some ``ok`` row has no
    level (its target lies beyond what the final run measured) is left out.
    """
    shifts, has, level, fill, on_hand = side_arrays(side)
    if shifts.size == 0:
        return None
    ok = np.asarray(pc.equal(recommendations.column("status"), "ok").to_numpy(zero_copy_only=False), dtype=bool)
    inv = _column(recommendations, "investment_at_level")
    ohv = _column(recommendations, "inventory_investment")
    rec_fill = _column(recommendations, "expected_fill_rate")
    rec_level = np.where(np.isfinite(_column(recommendations, "order_up_to")),
                         _column(recommendations, "order_up_to"), _column(recommendations, "base_stock_level"))
    demand = np.nan_to_num(_column(recommendations, "mean_demand_per_period"))
    facing = ok & np.asarray(customer_facing, dtype=bool)
    mine = ok & has
    cols: dict[str, list[float | bool | int]] = {f.name: [] for f in FRONTIER_SCHEMA}
    w = float(demand[facing].sum())
    for k, shift in enumerate(shifts):
        if not np.all(np.isfinite(level[mine, k])):
            continue
        inv_k = np.where(mine, level[:, k] * unit_cost, inv)
        ohv_k = np.where(mine, on_hand[:, k] * unit_cost, ohv)
        fill_k = np.where(mine, fill[:, k], rec_fill)
        cols["target_shift"].append(float(shift))
        cols["recommended"].append(bool(shift == 0.0))
        cols["investment_at_level_currency"].append(float(np.nansum(inv_k[ok])))
        cols["expected_on_hand_value_currency"].append(float(np.nansum(ohv_k[ok])))
        cols["customer_fill_rate_demand_weighted"].append(
            float((np.nan_to_num(fill_k[facing]) * demand[facing]).sum() / w) if w > 0 else float("nan"))
        cols["changed_stages"].append(int(np.sum(mine & (level[:, k] != rec_level))))
    return pa.table(cols, schema=FRONTIER_SCHEMA)


def unit_cost_by_input_row(shared: SharedInputs) -> np.ndarray:
    """Unit cost [currency/unit] per input row (the shared arrays are in planned order)."""
    out = np.full(int(shared.sku.size), np.nan)
    out[shared.input_row] = shared.unit_cost
    return out


def write_frontier(out_dir: Path, table: pa.Table | None) -> Path | None:
    """Write ``OUT/frontier.parquet`` (nothing when ``table`` is None)."""
    if table is None:
        return None
    path = Path(out_dir) / FRONTIER_FILE
    write_parquet_atomic(table, path)
    return path
