"""CSV and Excel export of a run's recommendations, exceptions and summary.

``OUT/recommendations.csv`` and ``OUT/exceptions.csv`` (when the run ranked exceptions)
are written by pyarrow's CSV writer, the same values as the Parquet files; ``OUT/report.xlsx``
(openpyxl) has the sheets ``recommendations``, ``exceptions`` and ``summary`` (the metrics of
``summary.json``, one key per row).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["export_csv", "export_xlsx", "summary_rows"]


def _replace(path: Path) -> tuple[Path, Path]:
    return path, path.with_name(f".{path.name}.tmp")


def export_csv(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``recommendations.csv`` (and ``exceptions.csv`` when present) next to the Parquet files."""
    out = Path(out_dir)
    written = []
    for name in ("recommendations", "exceptions"):
        src = out / f"{name}.parquet"
        if not src.is_file():
            continue
        table = pq.read_table(src).replace_schema_metadata(None)
        path, tmp = _replace(out / f"{name}.csv")
        pacsv.write_csv(table, tmp)
        os.replace(tmp, path)
        written.append(path)
    return written


def summary_rows(out_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """``summary.json`` flattened to rows ``key``, ``value`` (nested keys joined by ``.``)."""
    path = Path(out_dir) / "summary.json"
    doc = json.loads(path.read_text()) if path.is_file() else {}
    rows: list[tuple[str, object]] = []

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list):
            rows.append((prefix, json.dumps(value)))
        else:
            rows.append((prefix, value))

    walk("", {k: v for k, v in doc.items() if k != "batches"})
    return pd.DataFrame(rows, columns=["key", "value"])


def export_xlsx(out_dir: str | os.PathLike[str]) -> Path:
    """Write ``report.xlsx``: sheets ``recommendations``, ``exceptions`` (when present), ``summary``."""
    out = Path(out_dir)
    path, tmp = _replace(out / "report.xlsx")
    with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        pq.read_table(out / "recommendations.parquet").to_pandas().to_excel(
            writer, sheet_name="recommendations", index=False)
        if (out / "exceptions.parquet").is_file():
            pq.read_table(out / "exceptions.parquet").to_pandas().to_excel(
                writer, sheet_name="exceptions", index=False)
        summary_rows(out).to_excel(writer, sheet_name="summary", index=False)
    os.replace(tmp, path)
    return path
