"""The exception lists' ranking: list order, magnitude descending, then sku and location."""

from __future__ import annotations

import numpy as np

from platform_core.exception_lists import EXCEPTION_LISTS, _ranked


def _reference(rows, sku, loc):
    """The ranking written out with Python's sort, independently of the array sort."""
    order = {name: i for i, name in enumerate(EXCEPTION_LISTS)}
    ranked = sorted(rows, key=lambda r: (order[r[0]], -r[2], sku[r[1]], loc[r[1]]))
    out, prev, rank = [], None, 0
    for r in ranked:
        rank = rank + 1 if r[0] == prev else 1
        prev = r[0]
        out.append({"list": r[0], "rank": rank, "sku": sku[r[1]], "location": loc[r[1]], "magnitude": r[2],
                    "magnitude_unit": r[3], "reason": r[4]})
    return out


def test_ranking_matches_a_plain_sort_with_ties():
    rng = np.random.default_rng(4)
    n = 3000
    sku = [f"S{rng.integers(0, 40):03d}" for _ in range(n)]
    loc = [f"L{i % 7}" + ("é" if i % 11 == 0 else "") for i in range(n)]  # non-ASCII names too
    rows = []
    for name in EXCEPTION_LISTS[:4]:
        for k in rng.choice(n, 700, replace=False).tolist():
            magnitude = float(rng.integers(0, 5))  # many ties: sku and location decide
            rows.append((name, k, magnitude, "currency", f"{name} {k}"))
    rows.sort(key=lambda r: r[4])  # not in list order
    assert _ranked(list(rows), sku, loc).to_pylist() == _reference(rows, sku, loc)


def test_no_rows_gives_an_empty_table():
    assert _ranked([], ["a"], ["b"]).num_rows == 0
