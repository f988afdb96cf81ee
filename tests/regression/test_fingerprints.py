"""The numbers of fixed cases are bit-identical to a stored reference.

The reference tables were computed by ``fingerprint_cases.py`` from an earlier version of
the code (see ``REFERENCE``); a reshaping of the code must not move them. A change that
is meant to move numbers stores a new reference and says why (docs/architecture.md).

``post23`` is ``pre23`` with the seven cases that run the single-stage kernel
(``demo``, ``single_stage``, ``cost_mode``, ``blanket_abc`` and the three
``forecaster_*``) recomputed after that kernel switched to the network engine's random
numbers (#23); ``test_rng_change.py`` checks against ``pre23`` that they moved only
within their Monte Carlo noise. The other five cases are unchanged copies.

``post14`` is ``post23`` with the ``engine`` case recomputed after assemblies switched to
whole kits (#14; ``test_kit_change.py`` checks that only the assembly's rows moved).
``post15`` is ``post14`` with ``stochastic_service`` and ``network_frontier`` recomputed after
``kit.own_demand`` stopped giving a stage without demand rows of its own a phantom own
demand (the difference of its derived forecast and its customers'); two networks of 200
stages moved (SKU000001, SKU000012: levels within 2 units).

Columns added to an output after a reference was stored are not compared (new outputs,
not moved numbers); every column the reference has is, bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.regression.fingerprint_cases import CASES, digest, run_case

HERE = Path(__file__).parent
REFERENCE = HERE / "reference" / "post15"


def _first_difference(new, old) -> str:
    if new.schema != old.schema:
        return f"schema differs:\n{new.schema}\nvs\n{old.schema}"
    if new.num_rows != old.num_rows:
        return f"{new.num_rows} rows vs {old.num_rows}"
    for name in new.column_names:
        a = new.column(name).to_pylist()
        b = old.column(name).to_pylist()
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same = x == y or (isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y))
            if not same:
                return f"column {name!r}, row {i}: {x!r} now, {y!r} in the reference"
    return "identical values, different buffers"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fingerprints")


@pytest.mark.parametrize("case", sorted(CASES))
def test_numbers_match_the_stored_reference(case, workdir):
    stored = json.loads((REFERENCE / "fingerprints.json").read_text())
    reference = pq.read_table(REFERENCE / f"{case}.parquet")
    assert digest(reference) == stored[case], "the stored reference file does not match its digest"
    table = run_case(case, workdir)
    # columns added after the reference was stored are new outputs, not moved numbers:
    # the reference pins the columns it has (a removed or renamed one still fails)
    extra = [c for c in table.column_names if c not in reference.column_names]
    table = table.drop_columns(extra) if extra else table
    if digest(table) != stored[case]:
        pytest.fail(f"case {case!r} moved from the reference {REFERENCE.name}: {_first_difference(table, reference)}")
