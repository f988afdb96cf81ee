"""A run's SKU-locations as the rollout sees them.

Read from the run's output directory (``recommendations.parquet``, ``summary.json``) and
its input (stages, edges and demand history), through the report's reader
(:func:`platform_core.report.outputs.load_run_outputs`): network, unit cost and ABC class
per SKU-location; the demand class (ADI / CV², :mod:`platform_core.forecasting.classes`)
of its demand history; the levels and promises of the run.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from platform_core.data.loaders import find_file, load_table
from platform_core.data.schemas import DEMAND
from platform_core.forecasting.classes import classify
from platform_core.forecasting.series import demand_series_from_table

__all__ = ["RolloutUnits", "load_units", "UNIT_COLUMNS", "RUN_COLUMNS"]

#: Columns of ``recommendations.parquet`` the rollout reads.
RUN_COLUMNS = ("sku", "location", "status", "mean_demand_per_period", "expected_fill_rate", "base_stock_level",
               "mean_on_hand")
#: Columns of :attr:`RolloutUnits.table`.
UNIT_COLUMNS = ("sku", "location", "network", "abc_class", "demand_class", "unit_cost", "demand_per_period",
                "promised_fill", "today_fill", "recommended_level", "today_level", "recommended_on_hand_units",
                "today_on_hand_units")


class RunInputError(ValueError):
    """A run output the rollout cannot use (names the file and what was expected)."""


@dataclass(frozen=True)
class RolloutUnits:
    """The solved SKU-locations of a run.

    Attributes:
        run_dir: the run's output directory.
        run_id: the run's id (``summary.json``; "" when unknown).
        forecaster: the forecaster that made the promises ("" when unknown).
        next_period: the first period after the run's demand history [date].
        period_days: length of a period [days] (the run's demand grid; 7 when unknown).
        table: one row per SKU-location with status ``ok``, columns :data:`UNIT_COLUMNS`:
            ``network`` (label: the network's first SKU-location), ``unit_cost``
            [currency/unit], ``demand_per_period`` [units/period], ``promised_fill`` (the
            run's expected fill at the recommended level) [-], ``today_fill`` (at today's
            level; NaN without a current policy) [-], levels [units] and expected on-hand
            [units] at the recommended and today's level (today's: NaN without a current
            policy); then every other numeric column of the recommendations under its
            own name (a rule may sort by it).
    """

    run_dir: Path
    run_id: str
    forecaster: str
    table: pd.DataFrame
    next_period: dt.date
    period_days: float


def _demand_classes(input_dir: Path, period_days: float) -> tuple[dict[str, str], dt.date]:
    """Demand class per ``sku@location`` and the first period after the history."""
    from platform_core.data.periods import demand_on_grid

    path = find_file(input_dir, DEMAND)
    assert path is not None  # DEMAND is required: find_file raised otherwise
    demand, _ = demand_on_grid(load_table(path, DEMAND), period_days)
    series = demand_series_from_table(demand)
    labels = classify(series).label
    last = demand.column("period").to_numpy(zero_copy_only=False).max() if demand.num_rows else None
    nxt = (dt.date.fromisoformat(str(last)[:10]) + dt.timedelta(days=period_days)) if last is not None \
        else dt.date(1970, 1, 1)
    return {k: str(v) for k, v in zip(series.keys, labels, strict=True)}, nxt


def load_units(run_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None,
               period_days: float = 7.0) -> RolloutUnits:
    """The run's solved SKU-locations, with network, ABC and demand class.

    Args:
        run_dir: the run's ``--out`` directory.
        data_dir: the run's input directory (default: ``summary.json``'s ``input_dir``).
        period_days: length of the run's planning period [days].

    Raises:
        RunInputError: no recommendations, a column missing, or the input is unknown.
        platform_core.data.errors.DataValidationError: the input breaks the data contract.
    """
    from platform_core.report.outputs import ReportInputError, load_run_outputs

    try:
        run = load_run_outputs(run_dir, data_dir)
    except ReportInputError as exc:
        raise RunInputError(str(exc)) from exc
    rows = run.rows
    rec_path = Path(run_dir) / "recommendations.parquet"
    missing = [c for c in RUN_COLUMNS if c not in rows.columns]
    if missing:
        raise RunInputError(f"{rec_path}: column '{missing[0]}' missing: expected {', '.join(RUN_COLUMNS)}")
    if run.input_dir is None:
        raise RunInputError(f"{Path(run_dir) / 'summary.json'}: the run's input directory is unknown or gone: "
                            "expected it in input_dir, or pass --data")
    rows = rows[rows["status"] == "ok"].reset_index(drop=True)
    if rows.empty:
        raise RunInputError(f"{rec_path}: expected SKU-locations with status ok, found none")
    classes, next_period = _demand_classes(run.input_dir, period_days)
    key = rows["sku"].astype(str) + "@" + rows["location"].astype(str)

    def col(name: str) -> np.ndarray:
        return (rows[name].to_numpy(dtype=np.float64) if name in rows.columns
                else np.full(len(rows), np.nan))

    table = pd.DataFrame({
        "sku": rows["sku"].astype(str),
        "location": rows["location"].astype(str),
        "network": rows["network"].astype(str),
        "abc_class": rows["abc_class"].astype(str),
        "demand_class": key.map(classes).fillna("none").astype(str),
        "unit_cost": col("unit_cost"),
        "demand_per_period": col("mean_demand_per_period"),
        "promised_fill": col("expected_fill_rate"),
        "today_fill": col("current_expected_fill_rate"),
        "recommended_level": col("base_stock_level"),
        "today_level": col("current_level"),
        "recommended_on_hand_units": col("mean_on_hand"),
        "today_on_hand_units": col("current_mean_on_hand"),
    })
    used = set(table.columns) | set(RUN_COLUMNS) | {"current_expected_fill_rate", "current_level",
                                                    "current_mean_on_hand"}
    extra = {c: rows[c].to_numpy() for c in rows.columns
             if c not in used and pd.api.types.is_numeric_dtype(rows[c]) and not pd.api.types.is_bool_dtype(rows[c])}
    if extra:
        table = pd.concat([table, pd.DataFrame(extra)], axis=1)
    forecaster = str(rows["forecaster"].iloc[0]) if "forecaster" in rows.columns else ""
    return RolloutUnits(Path(run_dir), str(run.summary.get("run_id", "")), forecaster, table, next_period,
                        float(period_days))
