"""Which runs measure on hand again on fresh paths: those whose constraints count it.

A space limit and an ``on_hand_value`` budget count the mean on hand of the levels the
allocation chooses.  The final run reads each level off the same simulated paths that
chose it, so its on hand there is biased low by a fraction of its standard error: kind
paths (less demand) choose a lower level, where they overstate on hand less, harsh paths a
higher one, where they understate it more.  Over thousands of networks the bias adds up
while the SE of the sum grows only as the square root of their number.  A solver that can (``multi_echelon``'s
``fresh_on_hand``) then simulates every network once more on an independent stream and
measures the frontier levels' on hand there (:mod:`platform_core.constraints.portfolio`
counts those figures).  A run turns it on only when its ``constraints`` need it: it costs
one more final run per network.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from platform_core.components import ComponentSpec
from platform_core.data.schemas import Dataset

__all__ = ["FRESH_PARAM", "counts_on_hand_estimates", "with_fresh_estimates"]

#: the solver parameter that asks for the fresh run (None: the run decides)
FRESH_PARAM = "fresh_on_hand"


def counts_on_hand_estimates(constraints: pa.Table | None) -> bool:
    """Whether a ``constraints`` table has a row that counts simulated on hand.

    Every ``location_space`` row does; a ``budget`` row unless its statistic is
    ``level_value``; ``supplier_capacity`` rows never do.
    """
    if constraints is None or constraints.num_rows == 0:
        return False
    kind = constraints.column("constraint_type").cast(pa.string())
    stat = (constraints.column("statistic").cast(pa.string()) if "statistic" in constraints.column_names
            else pa.nulls(constraints.num_rows, pa.string()))
    space = pc.equal(kind, "location_space")
    budget = pc.and_(pc.equal(kind, "budget"), pc.invert(pc.fill_null(pc.equal(stat, "level_value"), False)))
    return bool(pc.any(pc.or_(space, budget)).as_py())


def with_fresh_estimates(dataset: Dataset, solver: ComponentSpec[Any]) -> ComponentSpec[Any]:
    """``solver`` with ``fresh_on_hand`` set when the run's constraints count on hand.

    Left as it is when the solver has no such parameter or the configuration sets it.
    """
    if FRESH_PARAM not in inspect.signature(solver.cls).parameters or solver.params.get(FRESH_PARAM) is not None:
        return solver
    return replace(solver, params={**solver.params, FRESH_PARAM: counts_on_hand_estimates(dataset.get("constraints"))})
