"""Part files of a run in flight: one Parquet file per finished batch, resume, merge.

``OUT/_parts/`` holds ``part-NNNNNN.parquet`` per finished batch and a ``manifest.json``
with the fingerprint of everything that decides the run's rows (input files, the
configuration that matters, the batch cuts).  Part files are written atomically
(temporary name, then rename), so a retried batch replaces its part and never duplicates
a SKU-location.  If the driver is killed, a run with ``resume=True`` keeps the complete
parts of a run with the same fingerprint and runs only the other batches.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from platform_core.components import RECOMMENDATION_SCHEMA
from platform_core.plan import BatchSpec

__all__ = ["PARTS_DIR", "PartStore", "run_fingerprint", "write_parquet_atomic"]

PARTS_DIR = "_parts"
# run settings that decide where batches run, not what they compute
_PLACEMENT_KEYS = ("executor", "address", "num_workers", "node_ip_address")


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` under a temporary name, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def run_fingerprint(
    sources: Mapping[str, str], core_sections: Mapping[str, Mapping[str, Any]], batches: Iterable[BatchSpec]
) -> str:
    """Hash of everything that decides a run's rows: input files, configuration, batch cuts.

    Args:
        sources: table name -> input file.
        core_sections: the core's configuration sections (``run``, ``components`` and the
            component parameters); the run's placement keys (executor, address, workers)
            are left out, since results do not depend on them.
        batches: the planned batches.
    """
    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode())
        with open(sources[name], "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    relevant = {k: dict(v) for k, v in core_sections.items()}
    relevant["run"] = {k: v for k, v in relevant.get("run", {}).items() if k not in _PLACEMENT_KEYS}
    h.update(json.dumps(relevant, sort_keys=True, default=str).encode())
    h.update(json.dumps([(b.batch_id, b.start, b.stop) for b in batches]).encode())
    return h.hexdigest()


class PartStore:
    """The ``_parts`` folder of one output directory."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = Path(out_dir) / PARTS_DIR

    def _path(self, batch_id: int) -> Path:
        return self.dir / f"part-{batch_id:06d}.parquet"

    def open(self, fingerprint: str, batches: list[BatchSpec], resume: bool) -> set[int]:
        """Prepare the folder; return the ids of batches already finished (resume only).

        Raises:
            ValueError: ``resume`` into parts of a run with another fingerprint.
        """
        manifest = self.dir / "manifest.json"
        if resume and manifest.exists():
            previous = json.loads(manifest.read_text())
            if previous.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"cannot resume into {self.dir.parent}: the input files or the configuration changed "
                    "since the interrupted run (run without --resume to start afresh)"
                )
            return self._complete(batches)
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        manifest.write_text(json.dumps({"fingerprint": fingerprint, "batches": len(batches)}))
        return set()

    def _complete(self, batches: list[BatchSpec]) -> set[int]:
        done = set()
        for b in batches:
            path = self._path(b.batch_id)
            if path.exists():
                try:
                    if pq.ParquetFile(path).metadata.num_rows == b.stop - b.start:
                        done.add(b.batch_id)
                except Exception:  # noqa: BLE001 - unreadable part: run the batch again
                    pass
        return done

    def write(self, batch: BatchSpec, table: pa.Table) -> None:
        """Store a finished batch's rows (replacing an earlier attempt's)."""
        if table.num_rows != batch.stop - batch.start:
            raise RuntimeError(
                f"batch {batch.batch_id} returned {table.num_rows} rows for {batch.stop - batch.start} stages"
            )
        write_parquet_atomic(table, self._path(batch.batch_id))

    def merge(self, batches: list[BatchSpec], n_stages: int) -> pa.Table:
        """Every part's rows in input order, without the ``input_row`` column.

        Raises:
            RuntimeError: the parts do not hold each of the ``n_stages`` rows exactly once.
        """
        tables = [pq.read_table(self._path(b.batch_id)) for b in batches]
        if tables:
            merged = pa.concat_tables(tables)
        else:
            merged = RECOMMENDATION_SCHEMA.empty_table().append_column("input_row", pa.array([], pa.int64()))
        rows = merged.column("input_row").to_numpy()
        if rows.size != n_stages or np.unique(rows).size != n_stages:
            raise RuntimeError(f"internal error: {rows.size} rows for {n_stages} SKU-locations")
        return merged.take(pa.array(np.argsort(rows))).drop_columns(["input_row"]).replace_schema_metadata(None)

    def remove(self) -> None:
        """Delete the folder (after the merged file is written)."""
        shutil.rmtree(self.dir)
