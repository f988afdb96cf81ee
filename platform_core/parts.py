"""The output directory: its lock, part files of a run in flight, resume, merge.

``OUT/.echelon.lock`` is held (an OS file lock, :func:`fcntl.flock`) by the run writing
into ``OUT`` for the whole run, so a second run into the same directory stops at once
with a message naming the first (:class:`OutputLock`).  A run refuses a directory that
holds anything but the lock unless told to overwrite or resume
(:func:`check_output_dir`).

``OUT/_parts/`` holds ``part-NNNNNN.parquet`` per finished batch and a ``manifest.json``
with the fingerprint of everything that decides the run's rows (input files, the
configuration that matters, the batch cuts).  Part files are written atomically
(temporary name, then rename), so a retried batch replaces its part and never duplicates
a SKU-location.  If the driver is killed, a run with ``resume=True`` keeps the complete
parts of a run with the same fingerprint and runs only the other batches.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from platform_core.components import RECOMMENDATION_SCHEMA
from platform_core.plan import BatchSpec

__all__ = [
    "LOCK_FILE",
    "PARTS_DIR",
    "RUN_OUTPUTS",
    "OutputDirectoryError",
    "OutputLock",
    "PartStore",
    "check_output_dir",
    "input_fingerprint",
    "input_file_digests",
    "remove_run_outputs",
    "run_fingerprint",
    "write_parquet_atomic",
]

PARTS_DIR = "_parts"
LOCK_FILE = ".echelon.lock"
RUN_OUTPUTS = ("recommendations.parquet", "summary.json", "exceptions.parquet", "frontier.parquet", PARTS_DIR)
"""What a run writes into its output directory (plugins may add files, e.g. MLflow's)."""
# run settings that decide where batches run, not what they compute
_PLACEMENT_KEYS = ("executor", "in_process_below", "address", "num_workers", "node_ip_address")


class OutputDirectoryError(Exception):
    """The output directory cannot take this run: another run holds it, or it is not empty."""


class OutputLock:
    """An exclusive OS lock on ``OUT/.echelon.lock``, held for the whole run.

    ``acquire`` creates ``OUT`` if needed and takes the lock without waiting; the lock
    file holds the run id, process id, host and start time of the holder, which a
    refused run quotes.  ``release`` deletes the lock file (and ``OUT`` itself when this
    lock created it and nothing else was written there).  The OS drops the lock of a
    killed process, so a stale lock file never blocks a later run.

    Args:
        out_dir: the output directory.
        run_id: the id of the run taking the lock.
    """

    def __init__(self, out_dir: Path, run_id: str) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_FILE
        self.run_id = run_id
        self._fd: int | None = None
        self._created_dir = False

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            OutputDirectoryError: another run holds it (naming the directory and that run),
                or ``OUT`` exists and is not a directory.
        """
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise OutputDirectoryError(f"{self.out_dir} is not a directory: --out needs a directory")
        self._created_dir = not self.out_dir.exists()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise OutputDirectoryError(
                    f"{self.out_dir} is in use: another echelon run ({holder}) is writing there; "
                    "wait for it to finish or choose another --out"
                ) from None
            # the holder before us may have deleted the file between our open and our lock
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {"run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd

    def release(self) -> None:
        """Delete the lock file and drop the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing drops the lock
            self._fd = None
        if self._created_dir:
            try:
                self.out_dir.rmdir()  # only if nothing was written
            except OSError:
                pass

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return (f"run {str(info['run_id'])[:8]}, pid {info['pid']} on {info['host']}, "
                f"started {info['started']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "starting up"


def check_output_dir(out_dir: Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse an output directory that holds anything but the lock, unless told otherwise.

    Raises:
        OutputDirectoryError: ``out_dir`` is not empty and neither ``overwrite`` nor
            ``resume`` is set (naming what it holds).
    """
    if overwrite or resume or not out_dir.is_dir():
        return
    found = sorted(p.name for p in out_dir.iterdir() if p.name != LOCK_FILE)
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise OutputDirectoryError(
            f"{out_dir} is not empty (it holds {shown}): pass --overwrite to replace an earlier run's "
            "results, or --resume to continue an interrupted run"
        )


def remove_run_outputs(out_dir: Path) -> None:
    """Delete an earlier run's results in ``out_dir`` (:data:`RUN_OUTPUTS`); other files stay."""
    for name in RUN_OUTPUTS:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` under a temporary name, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def input_file_digests(sources: Mapping[str, str | os.PathLike[str]]) -> dict[str, str]:
    """SHA-256 (hex) of each input file, by table name; each file is read once, in blocks."""
    out = {}
    for name in sorted(sources):
        h = hashlib.sha256()
        with open(sources[name], "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        out[name] = h.hexdigest()
    return out


def input_fingerprint(digests: Mapping[str, str]) -> str:
    """One SHA-256 (hex) for the whole input: of the lines ``name:digest``, names sorted."""
    return hashlib.sha256("".join(f"{name}:{digests[name]}\n" for name in sorted(digests)).encode()).hexdigest()


def run_fingerprint(
    input_print: str, core_sections: Mapping[str, Mapping[str, Any]], batches: Iterable[BatchSpec]
) -> str:
    """Hash of everything that decides a run's rows: input files, configuration, batch cuts.

    Args:
        input_print: the input's :func:`input_fingerprint`.
        core_sections: the core's configuration sections (``run``, ``components`` and the
            component parameters); the run's placement keys (executor, address, workers)
            are left out, since results do not depend on them.
        batches: the planned batches.
    """
    h = hashlib.sha256(input_print.encode())
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
            merged = pa.concat_tables(tables, promote_options="default")  # side columns may be in some parts only
        else:
            merged = RECOMMENDATION_SCHEMA.empty_table().append_column("input_row", pa.array([], pa.int64()))
        rows = merged.column("input_row").to_numpy()
        if rows.size != n_stages or np.unique(rows).size != n_stages:
            raise RuntimeError(f"internal error: {rows.size} rows for {n_stages} SKU-locations")
        return merged.take(pa.array(np.argsort(rows))).drop_columns(["input_row"]).replace_schema_metadata(None)

    def metadata(self, batches: list[BatchSpec]) -> list[dict[bytes, bytes]]:
        """Each part's schema metadata, in batch order (e.g. its fitted artefacts)."""
        return [dict(pq.read_schema(self._path(b.batch_id)).metadata or {}) for b in batches]

    def remove(self) -> None:
        """Delete the folder (after the merged file is written)."""
        shutil.rmtree(self.dir)
