"""platform_core.artefacts: checks, collection, transport in part files, merging batches."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_core.artefacts import (
    ARTEFACTS_KEY,
    Artefact,
    ComponentArtefacts,
    collect_artefacts,
    merge_batch_artefacts,
    pack_artefacts,
    unpack_artefacts,
)


class _Fitted:
    def __init__(self, found: list[object]) -> None:
        self.found = found

    def fitted_artefacts(self) -> list[object]:
        return self.found


def test_bad_artefacts_are_refused_with_the_component_named() -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        Artefact("bad name", 1)
    with pytest.raises(TypeError, match="dict keyed by stage"):
        Artefact("p", [1, 2], per_stage=True)
    with pytest.raises(TypeError, match="solver 'mine'"):
        collect_artefacts(_Fitted(["not an artefact"]), "solver", "mine")
    with pytest.raises(ValueError, match="duplicate"):
        collect_artefacts(_Fitted([Artefact("a", 1), Artefact("a", 2)]), "cost", "mine")
    assert collect_artefacts(object(), "cost", "none") is None  # components without the method


def test_collect_sorts_by_name_and_fills_as_of() -> None:
    got = collect_artefacts(_Fitted([Artefact("z", 1), Artefact("a", 2, as_of="2024-01-07")]), "cost", "c",
                            as_of="2024-03-31")
    assert got is not None
    assert [(a.name, a.as_of) for a in got.artefacts] == [("a", "2024-01-07"), ("z", "2024-03-31")]


def test_digest_is_the_sha256_of_the_pickle() -> None:
    payload = {"x": np.arange(5.0), "y": "text"}
    want = hashlib.sha256(pickle.dumps(payload, protocol=5)).hexdigest()
    assert Artefact("m", payload).sha256() == want


def test_batches_merge_per_stage_whatever_the_batching(tmp_path: Path) -> None:
    shared = np.arange(3.0)  # one object used by two stages of one batch
    one_batch = ComponentArtefacts("solver", "s", (
        Artefact("policies", {"b@x": shared, "a@x": shared, "c@x": np.ones(2)}, {"k": "1"}, per_stage=True),))
    split = [
        [ComponentArtefacts("solver", "s", (Artefact("policies", {"c@x": np.ones(2)}, {"k": "1", "t": "3.2"},
                                                     per_stage=True),))],
        [ComponentArtefacts("solver", "s", (Artefact("policies", {"b@x": np.arange(3.0)}, {"k": "1", "t": "1.1"},
                                                     per_stage=True),
                                            Artefact("whole", 7)))],
        [ComponentArtefacts("solver", "s", (Artefact("policies", {"a@x": np.arange(3.0)}, {"k": "1"},
                                                     per_stage=True),))],
    ]
    notes: list[str] = []
    merged = merge_batch_artefacts(split, notes, as_of="2024-05-05")
    [(single,)] = [c.artefacts for c in merge_batch_artefacts([[one_batch]])]
    assert len(merged) == 1 and [a.name for a in merged[0].artefacts] == ["policies"]
    art = merged[0].artefacts[0]
    assert list(art.payload) == ["a@x", "b@x", "c@x"]
    assert art.metadata == {"k": "1"}  # values that differ between batches are dropped
    assert art.as_of == "2024-05-05"
    assert art.sha256() == single.sha256()  # shared objects in one batch do not change the digest
    assert notes == ["solver 's' artefact 'whole' is not per stage: batches cannot merge it, so it is not versioned"]


def test_artefacts_survive_a_part_file(tmp_path: Path) -> None:
    item = ComponentArtefacts("forecaster", "f", (Artefact("state", {"a@x": {"level": 2.5}}, per_stage=True),))
    table = pa.table({"x": [1]}).replace_schema_metadata({ARTEFACTS_KEY: pack_artefacts([item])})
    pq.write_table(table, tmp_path / "part.parquet")
    [back] = unpack_artefacts(pq.read_schema(tmp_path / "part.parquet").metadata)
    assert back.sha256() == item.sha256() and back.payloads() == item.payloads()
    assert unpack_artefacts(None) == [] and unpack_artefacts({b"other": b"x"}) == []
