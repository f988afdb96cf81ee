"""What a run leaves for the next incremental run: ``OUT/sensing/``.

* ``demand_state.parquet`` — per input SKU-location (input order): the demand detectors'
  baseline, thresholds and statistics (:class:`~platform_core.incremental.demand_sensing.DemandState`);
* ``lead_time_lanes.parquet``, ``lead_time_suppliers.parquet`` — the lead-time detectors
  per lane and per supplier (:class:`~platform_core.incremental.lead_time_sensing.LeadTimeState`);
* ``sensing.json`` — the period grid (first period [days since 1970-01-01], period length
  [days], the last period seen), periods per year, the false-alarm rate and the input
  files' SHA-256.

A run writes it from data it has in memory anyway (the planned demand matrix, the
receipts table): about a second per 100,000 SKU-locations.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from platform_core.data.schemas import Dataset
from platform_core.incremental.demand_sensing import (
    DEFAULT_FALSE_ALARM_PER_YEAR,
    DemandState,
    fit_demand_state,
)
from platform_core.incremental.lead_time_sensing import STATS, LeadTimeState, fit_lead_time_state
from platform_core.plan import SharedInputs

__all__ = ["SensingState", "SensingGrid", "fit_sensing_state", "write_sensing_state", "read_sensing_state",
           "demand_origin_day", "SENSING_DIR", "periods_per_year"]

SENSING_DIR = "sensing"
_CHUNK = 100_000


@dataclass(frozen=True)
class SensingGrid:
    """The period grid of the demand the state has seen.

    Attributes:
        origin_day: first day of period 0 [days since 1970-01-01].
        period_days: length of a period [days].
        last_period: index of the last period seen [periods].
    """

    origin_day: int
    period_days: float
    last_period: int


@dataclass
class SensingState:
    """Everything the next incremental run needs to sense without re-reading the history."""

    sku: np.ndarray
    location: np.ndarray
    demand: DemandState
    lead_time: LeadTimeState
    grid: SensingGrid
    periods_per_year: int
    false_alarm_per_year: float
    input_files: dict[str, str]


def periods_per_year(period_days: float) -> int:
    """Whole periods in a year of 365 days [periods] (52 for weeks, 12 for 30-day months)."""
    return max(1, int(round(365.0 / float(period_days))))


def demand_origin_day(demand: pa.Table) -> int | None:
    """First demand date [days since 1970-01-01] (None for no rows): period 0 of the grid."""
    if demand.num_rows == 0:
        return None
    lo = pc.min(demand.column("period")).cast(pa.int32()).as_py()
    return None if lo is None else int(lo)


def fit_sensing_state(dataset: Dataset, shared: SharedInputs, input_files: dict[str, str],
                      false_alarm_per_year: float = DEFAULT_FALSE_ALARM_PER_YEAR) -> SensingState:
    """The detectors of a run, fitted on its whole history (statistics at zero).

    Thresholds are left NaN: the next incremental run sets them (a full run does not use them).
    """
    n = int(shared.sku.size)
    ppy = periods_per_year(shared.settings.period_days)
    parts = []
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        part = fit_demand_state(shared.demand[a:b], ppy, false_alarm_per_year, thresholds=False)
        off = ~shared.has_demand[a:b]
        for name in ("h_level", "h_variability", "h_zero"):
            getattr(part, name)[off] = np.inf
        parts.append(part)
    planned = _concat(parts, n)
    rank = np.empty(n, dtype=np.int64)
    rank[shared.input_row] = np.arange(n)
    origin = demand_origin_day(dataset.demand)
    grid = SensingGrid(origin if origin is not None else 0, float(shared.settings.period_days),
                       int(shared.demand.shape[1]) - 1)
    return SensingState(
        sku=shared.sku[rank], location=shared.location[rank], demand=planned.take(rank),
        lead_time=fit_lead_time_state(dataset.get("receipts"), false_alarm_per_year, thresholds=False), grid=grid,
        periods_per_year=ppy, false_alarm_per_year=float(false_alarm_per_year), input_files=dict(input_files),
    )


def _concat(parts: list[DemandState], n: int) -> DemandState:
    if not parts:
        return fit_demand_state(np.zeros((0, 1)), 52)
    cols = {k: np.concatenate([p.columns()[k] for p in parts]) for k in parts[0].columns()}
    return DemandState.from_columns(cols)


def _write(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_sensing_state(out_dir: Path, state: SensingState) -> Path:
    """Write ``OUT/sensing/`` (atomically per file); returns the directory."""
    d = Path(out_dir) / SENSING_DIR
    d.mkdir(parents=True, exist_ok=True)
    _write(pa.table({"sku": pa.array(state.sku.tolist(), pa.string()),
                     "location": pa.array(state.location.tolist(), pa.string()),
                     **{k: pa.array(v, pa.float64()) for k, v in state.demand.columns().items()}}),
           d / "demand_state.parquet")
    lt = state.lead_time
    _write(pa.table({"lane_key": pa.array(lt.lane_key.tolist(), pa.string()),
                     "supplier_index": pa.array(lt.lane_supplier, pa.int64()),
                     **{k: pa.array(v, pa.float64()) for k, v in lt.lane.items()}}), d / "lead_time_lanes.parquet")
    _write(pa.table({"supplier": pa.array(lt.supplier.tolist(), pa.string()),
                     **{k: pa.array(v, pa.float64()) for k, v in lt.sup.items()}}), d / "lead_time_suppliers.parquet")
    meta: dict[str, Any] = {
        "origin_day": state.grid.origin_day, "period_days": state.grid.period_days,
        "last_period": state.grid.last_period, "periods_per_year": state.periods_per_year,
        "false_alarm_per_year": state.false_alarm_per_year, "receipts_cutoff_day": lt.cutoff_day,
        "input_files": state.input_files,
    }
    tmp = d / ".sensing.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, d / "sensing.json")
    return d


def _numpy(table: pa.Table, name: str) -> np.ndarray:
    return np.array(table.column(name).to_numpy(zero_copy_only=False))  # a writable copy


def read_sensing_state(out_dir: str | os.PathLike[str]) -> SensingState:
    """Read what :func:`write_sensing_state` wrote.

    Raises:
        FileNotFoundError: the directory has no ``sensing/`` state (naming what is missing).
    """
    d = Path(out_dir) / SENSING_DIR
    meta_path = d / "sensing.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{meta_path} not found: {out_dir} is not the output of an echelon run that wrote its sensing state "
            "(runs write it since this version; run the previous cycle again, in full)")
    meta = json.loads(meta_path.read_text())
    dem = pq.read_table(d / "demand_state.parquet")
    lanes = pq.read_table(d / "lead_time_lanes.parquet")
    sups = pq.read_table(d / "lead_time_suppliers.parquet")
    lead = LeadTimeState(
        lane_key=_numpy(lanes, "lane_key").astype(object), lane_supplier=_numpy(lanes, "supplier_index").astype(np.int64),
        supplier=_numpy(sups, "supplier").astype(object),
        lane={k: _numpy(lanes, k).astype(np.float64) for k in STATS},
        sup={k: _numpy(sups, k).astype(np.float64) for k in STATS},
        cutoff_day=int(meta["receipts_cutoff_day"]),
    )
    return SensingState(
        sku=_numpy(dem, "sku").astype(str), location=_numpy(dem, "location").astype(str),
        demand=DemandState.from_columns({c: _numpy(dem, c) for c in dem.column_names if c.startswith("demand_")}),
        lead_time=lead,
        grid=SensingGrid(int(meta["origin_day"]), float(meta["period_days"]), int(meta["last_period"])),
        periods_per_year=int(meta["periods_per_year"]), false_alarm_per_year=float(meta["false_alarm_per_year"]),
        input_files=dict(meta.get("input_files") or {}),
    )
