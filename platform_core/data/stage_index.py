"""Map ``(sku, location)`` pairs to rows of the stages table, one record batch at a time.

A million SKU-locations come with ~87 M demand rows. Hashing such a table as a whole
(or joining its sku and location into one string key per row) costs several GB, so
validation and planning walk the table in record batches: the sku and location values
of a batch are looked up in the stages' vocabularies (a dictionary-encoded batch only
maps its small dictionary), and the pair is resolved through a dense table of
``skus x locations`` (or a sorted array when that table would be large). Memory stays
proportional to one batch plus the stages.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.data.columns import decoded

__all__ = ["StageIndex", "DENSE_LIMIT"]

#: Largest ``skus x locations`` product resolved through a dense int32 table (256 MiB).
DENSE_LIMIT = 1 << 26


def _vocabulary(arr: pa.ChunkedArray) -> pa.Array:
    """The distinct non-null values of a string column, as a plain string array."""
    uniq = pc.unique(decoded(arr))
    if uniq.null_count:
        uniq = uniq.drop_null()
    return uniq.cast(pa.string()) if uniq.type != pa.string() else uniq


def _map(arr: pa.Array, vocabulary: pa.Array) -> np.ndarray:
    """Position of each value of ``arr`` in ``vocabulary`` (int64; -1 for null or absent)."""
    if pa.types.is_dictionary(arr.type):
        positions = _map(arr.dictionary, vocabulary)
        indices = arr.indices
        idx = indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        out = positions[idx] if positions.size else np.full(len(arr), -1, dtype=np.int64)
        if indices.null_count:
            out[indices.is_null().to_numpy(zero_copy_only=False)] = -1
        return out
    if arr.type != vocabulary.type:
        arr = arr.cast(vocabulary.type)
    found = pc.index_in(arr, value_set=vocabulary)
    if found.null_count:
        found = found.fill_null(-1)
    codes: np.ndarray = found.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes


class StageIndex:
    """Row number in ``stages`` of a ``(sku, location)`` pair (-1 when no stage has it).

    Built once from the stages table (whose keys validation has found unique; with
    duplicate keys the last row wins). Pairs resolve through a dense table when
    ``skus x locations <= dense_limit``, else by binary search.

    Attributes:
        stages: the stages table.
        n_stages: its number of rows.
    """

    def __init__(self, stages: pa.Table, dense_limit: int = DENSE_LIMIT) -> None:
        self.stages = stages
        self.n_stages = stages.num_rows
        sku, loc = stages.column("sku"), stages.column("location")
        self._skus = _vocabulary(sku)
        self._locs = _vocabulary(loc)
        self._n_locs = max(1, len(self._locs))
        pair = self._pairs(
            np.concatenate([_map(c, self._skus) for c in sku.chunks]) if sku.num_chunks else np.zeros(0, np.int64),
            np.concatenate([_map(c, self._locs) for c in loc.chunks]) if loc.num_chunks else np.zeros(0, np.int64),
        )
        rows = np.arange(self.n_stages, dtype=np.int32)
        card = len(self._skus) * self._n_locs
        self._dense: np.ndarray | None = None
        self._sorted = self._sorted_rows = np.zeros(0, dtype=np.int64)
        if card <= dense_limit:
            self._dense = np.full(card + 1, -1, dtype=np.int32)  # the last slot answers pair -1
            ok = pair >= 0
            self._dense[pair[ok]] = rows[ok]
        else:
            ok = pair >= 0
            order = np.argsort(pair[ok], kind="stable")
            self._sorted = pair[ok][order]
            self._sorted_rows = np.flatnonzero(ok)[order]

    def _pairs(self, si: np.ndarray, li: np.ndarray) -> np.ndarray:
        pair: np.ndarray = si * self._n_locs + li
        pair[(si < 0) | (li < 0)] = -1
        return pair

    def rows(self, sku: pa.Array, location: pa.Array) -> np.ndarray:
        """Stage row of every element of two aligned arrays (int64; -1 when not a stage).

        Plain or dictionary-encoded string arrays; one chunk (see :meth:`batches` for tables).
        """
        pair = self._pairs(_map(sku, self._skus), _map(location, self._locs))
        if self._dense is not None:
            rows: np.ndarray = self._dense[pair].astype(np.int64)  # pair -1 hits the trailing -1
            return rows
        if self._sorted.size == 0:
            return np.full(pair.size, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._sorted, pair), self._sorted.size - 1)
        hit = (pair >= 0) & (self._sorted[pos] == pair)
        return np.where(hit, self._sorted_rows[pos], -1).astype(np.int64)

    def batches(
        self, table: pa.Table, sku_col: str = "sku", loc_col: str = "location", columns: tuple[str, ...] = ()
    ) -> Iterator[tuple[int, np.ndarray, pa.RecordBatch]]:
        """Walk ``table`` in record batches: ``(offset of the batch, stage rows, batch)``.

        The batch holds ``sku_col``, ``loc_col`` and ``columns``; ``offset`` is the index
        of its first row in ``table``.
        """
        names = list(dict.fromkeys((sku_col, loc_col, *columns)))
        offset = 0
        for batch in table.select(names).to_batches():
            if batch.num_rows == 0:
                continue
            yield offset, self.rows(batch.column(sku_col), batch.column(loc_col)), batch
            offset += batch.num_rows

    def lookup(self, table: pa.Table, sku_col: str = "sku", loc_col: str = "location") -> np.ndarray:
        """Stage row of every row of ``table`` (int64; -1 when not a stage)."""
        parts = [rows for _, rows, _ in self.batches(table, sku_col, loc_col)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def name(self, row: int) -> str:
        """``('sku', 'location')`` of stage ``row``, for messages."""
        sku = self.stages.column("sku")[row].as_py()
        loc = self.stages.column("location")[row].as_py()
        return f"({sku!r}, {loc!r})"
