"""Gather what a report needs from a run's output directory (and the run's input).

Reads ``OUT/recommendations.parquet`` (required), ``OUT/summary.json``,
``OUT/exceptions.parquet`` and ``OUT/frontier.parquet`` (optional) and, from the run's
input directory (``summary.json``'s ``input_dir`` or ``--data``), the stages and edges
tables: the echelon of each SKU-location (1 = customer-facing, 2 = the stage that feeds
it, ...), its network, unit cost and ABC class.  Whatever is absent is recorded in
``notes`` (shown in the report), never guessed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from platform_core.data.loaders import find_file, load_table
from platform_core.data.schemas import EDGES, STAGES, Dataset
from platform_core.networks import index_networks

__all__ = ["RunOutputs", "ReportInputError", "load_run_outputs", "abc_classes", "echelon_depths",
           "EXCEPTION_COLUMNS", "FRONTIER_COLUMNS", "REQUIRED_COLUMNS"]

#: Columns of ``recommendations.parquet`` the report cannot do without.
REQUIRED_COLUMNS = ("sku", "location", "status", "safety_stock", "mean_demand_per_period",
                    "expected_fill_rate", "inventory_investment")
#: Columns of ``exceptions.parquet``.
EXCEPTION_COLUMNS = ("list", "rank", "sku", "location", "magnitude", "magnitude_unit", "reason")
#: Columns of ``frontier.parquet`` the report reads (written by the run: platform_core.frontier).
FRONTIER_COLUMNS = ("target_shift", "recommended", "investment_at_level_currency", "expected_on_hand_value_currency",
                    "customer_fill_rate_demand_weighted")
#: ABC classes by cumulative share of demand value: A up to 80 %, B up to 95 %, C the rest.
ABC_SHARES = (0.80, 0.95)


class ReportInputError(ValueError):
    """A run output the report cannot read: names the file, the column and what was expected."""


@dataclass
class RunOutputs:
    """A run's outputs, one row per SKU-location, with the input's structure joined in.

    Attributes:
        out_dir: the run's output directory.
        rows: recommendations plus ``unit_cost`` [currency/unit], ``echelon`` (1 =
            customer-facing; 0 where the input is unknown), ``network`` (label of the SKU
            network: its first SKU-location), ``abc_class`` and ``abc_source``
            (``input`` or ``demand value``).
        summary: ``summary.json`` (empty when absent).
        exceptions: ``exceptions.parquet`` (None when absent).
        frontier: ``frontier.parquet`` (:data:`platform_core.frontier.FRONTIER_SCHEMA`:
            one row per target shift; None when absent).
        input_dir: the run's input directory (None when unknown).
        notes: what is missing, in sentences a planner can read.
    """

    out_dir: Path
    rows: pd.DataFrame
    summary: dict[str, Any]
    exceptions: pd.DataFrame | None
    frontier: pd.DataFrame | None
    input_dir: Path | None
    notes: list[str] = field(default_factory=list)

    def has(self, column: str) -> bool:
        """The recommendations have ``column``."""
        return column in self.rows.columns

    def columns_starting(self, prefix: str) -> list[str]:
        """Recommendation columns whose name starts with ``prefix``, in file order."""
        return [c for c in self.rows.columns if c.startswith(prefix)]


def _read_parquet(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ReportInputError(f"{path}: expected a readable Parquet file ({exc})") from exc
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise ReportInputError(f"{path}: column '{missing[0]}' missing: expected columns "
                               f"{', '.join(required)}")
    return table.to_pandas()


def echelon_depths(n_stages: int, up: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Echelon of each stage: 1 without a downstream stage, else 1 + its deepest downstream's.

    Args:
        n_stages: number of stages.
        up: upstream stage row of each arc.
        down: downstream stage row of each arc (the arcs are acyclic, as validation ensures).
    """
    depth = np.ones(n_stages, dtype=np.int64)
    for _ in range(n_stages):
        new = depth.copy()
        np.maximum.at(new, up, depth[down] + 1)
        if np.array_equal(new, depth):
            break
        depth = new
    return depth


def abc_classes(sku: pd.Series, demand_value: pd.Series) -> pd.Series:
    """ABC class per row from each SKU's total demand value.

    SKUs sorted by demand value [currency/period] (summed over the rows given): A while
    the cumulative share is at most 80 %, B up to 95 %, C after (the first SKU is always A).
    """
    per_sku = demand_value.groupby(sku.to_numpy()).sum().sort_values(ascending=False, kind="stable")
    total = float(per_sku.sum())
    share_before = (per_sku.cumsum() - per_sku) / total if total > 0 else per_sku * 0.0
    cls = np.where(share_before < ABC_SHARES[0], "A", np.where(share_before < ABC_SHARES[1], "B", "C"))
    mapping = dict(zip(per_sku.index, cls, strict=True))
    return sku.map(mapping).fillna("C")


def _input_dir(summary: dict[str, Any], data_dir: str | os.PathLike[str] | None) -> Path | None:
    if data_dir is not None:
        return Path(data_dir)
    recorded = summary.get("input_dir")
    if not recorded:
        return None
    path = Path(recorded)
    return path if path.is_absolute() else (Path.cwd() / path)


def _join_structure(rows: pd.DataFrame, input_dir: Path, notes: list[str]) -> pd.DataFrame:
    """Unit cost, echelon, network and ABC class from the input's stages and edges."""
    stages_file = find_file(input_dir, STAGES)
    assert stages_file is not None  # required: find_file raised otherwise
    stages = load_table(stages_file, STAGES)
    edges_file = find_file(input_dir, EDGES)
    tables = {"stages": stages}
    if edges_file is not None:
        tables["edges"] = load_table(edges_file, EDGES)
    structure = index_networks(Dataset(root=str(input_dir), tables=tables))
    rec = pa.table({"sku": rows["sku"].astype(str).to_numpy(), "location": rows["location"].astype(str).to_numpy()})
    stage_row = structure.index.lookup(rec)
    if (stage_row < 0).any():
        bad = int(np.flatnonzero(stage_row < 0)[0])
        raise ReportInputError(
            f"recommendations.parquet row {bad + 1}: ({rows['sku'].iloc[bad]!r}, {rows['location'].iloc[bad]!r}) "
            f"is not a stage of {stages_file}: expected the input the run read")
    depth = echelon_depths(stages.num_rows, structure.up, structure.down)
    # network label: the first SKU-location of each network in planned order
    network_of_rank = structure.network_id
    first_rank = np.searchsorted(network_of_rank, network_of_rank, side="left")
    first_row = structure.order[first_rank]
    sku_in = stages.column("sku").to_numpy(zero_copy_only=False)
    loc_in = stages.column("location").to_numpy(zero_copy_only=False)
    label = np.array([f"{sku_in[r]} @ {loc_in[r]}" for r in first_row], dtype=object)
    network_of_row = np.empty(stages.num_rows, dtype=object)
    network_of_row[structure.order] = label
    out = rows.copy()
    out["unit_cost"] = stages.column("unit_cost").to_numpy(zero_copy_only=False)[stage_row]
    out["echelon"] = depth[stage_row]
    out["network"] = network_of_row[stage_row]
    if "location_type" in stages.column_names:
        out["location_type"] = stages.column("location_type").to_numpy(zero_copy_only=False)[stage_row]
    given = (stages.column("abc_class").to_numpy(zero_copy_only=False)[stage_row]
             if "abc_class" in stages.column_names else None)
    if given is not None and not pd.isna(given).any():
        out["abc_class"] = given
        out["abc_source"] = "input"
    else:
        demand = out["mean_demand_per_period"].fillna(0.0) * out["unit_cost"].fillna(0.0)
        facing = out["echelon"] == 1
        per_sku = abc_classes(out.loc[facing, "sku"], demand[facing])
        mapping = dict(zip(out.loc[facing, "sku"], per_sku, strict=True))
        out["abc_class"] = out["sku"].map(mapping).fillna("C")
        out["abc_source"] = "demand value"
        notes.append("ABC class computed from customer-facing demand value (mean demand x unit cost): "
                     "A up to 80 % of the value, B up to 95 %, C the rest (the input has no abc_class).")
    return out


def load_run_outputs(out_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None) -> RunOutputs:
    """Read a run's output directory (and its input's structure) for the report.

    Args:
        out_dir: the run's ``--out`` directory.
        data_dir: the run's input directory; default: ``summary.json``'s ``input_dir``.

    Raises:
        ReportInputError: no or unreadable ``recommendations.parquet``, a required column
            missing, or an input that does not hold the recommendations' SKU-locations.
        DataValidationError: the input's stages or edges break the data contract.
    """
    out = Path(out_dir)
    rec_path = out / "recommendations.parquet"
    if not rec_path.is_file():
        raise ReportInputError(f"{rec_path}: expected the recommendations of a finished run (echelon run --out {out})")
    rows = _read_parquet(rec_path, REQUIRED_COLUMNS)
    notes: list[str] = []
    summary: dict[str, Any] = {}
    summary_path = out / "summary.json"
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text())
        except json.JSONDecodeError as exc:
            raise ReportInputError(f"{summary_path}: expected JSON ({exc})") from exc
    else:
        notes.append("no summary.json: portfolio figures are computed from recommendations.parquet alone.")
    exceptions = None
    if (out / "exceptions.parquet").is_file():
        exceptions = _read_parquet(out / "exceptions.parquet", EXCEPTION_COLUMNS)
    frontier = None
    if (out / "frontier.parquet").is_file():
        frontier = _read_parquet(out / "frontier.parquet", FRONTIER_COLUMNS)
    input_dir = _input_dir(summary, data_dir)
    if input_dir is None:
        notes.append("the run's input directory is unknown (summary.json has no input_dir; pass --data): "
                     "no echelons, networks or unit costs.")
    elif not input_dir.is_dir():
        notes.append(f"the run's input directory {input_dir} is not there (pass --data): "
                     "no echelons, networks or unit costs.")
        input_dir = None
    if input_dir is not None:
        rows = _join_structure(rows, input_dir, notes)
    if "echelon" not in rows.columns:
        rows["unit_cost"] = np.nan
        rows["echelon"] = 0
        rows["network"] = "unknown"
        rows["abc_class"] = "unknown"
        rows["abc_source"] = "unknown"
    return RunOutputs(out_dir=out, rows=rows, summary=summary, exceptions=exceptions, frontier=frontier,
                      input_dir=input_dir, notes=notes)
