"""#14: assemblies build whole kits only; the ``engine`` case moved only where that can matter.

``post23`` was computed when the engine made fractional kits (``min`` of components /
``quantity_per``, unrounded); ``post14`` after it switched to whole kits. On the engine
case (a serial line, a distribution tree, an assembly with ``quantity_per = (1, 2)``, an
(s, S) line) every row outside the assembly's finished stage must be bit-identical, and
the finished stage may only lose: half kits no longer become stock, so its on hand and
fill cannot rise and its backorders cannot fall.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

REFERENCE = Path(__file__).parent / "reference"


def test_only_the_assembly_moved_and_only_downwards():
    old = pq.read_table(REFERENCE / "post23" / "engine.parquet").to_pylist()
    new = pq.read_table(REFERENCE / "post14" / "engine.parquet").to_pylist()
    assert len(old) == len(new)
    finished = [i for i, r in enumerate(new) if r["network"] == 2 and r["stage"] == 2]
    assert len(finished) == 1
    for i, (a, b) in enumerate(zip(new, old, strict=True)):
        if i not in finished:
            assert a == b, f"row {i} ({a['network']}, {a['stage']}) moved"
    a, b = new[finished[0]], old[finished[0]]
    assert a != b, "the half kits made a difference on this case; if not, it cannot tell"
    assert a["on_hand"] <= b["on_hand"] and a["fill_rate"] <= b["fill_rate"]
    assert a["backorders"] >= b["backorders"]
    assert a["demand"] == b["demand"]  # same demand paths
