"""Today's policy (the input's ``current_policy`` table) as engine policies.

The data contract's columns are ``policy_type``, ``reorder_point`` and ``order_up_to``
[units]; they map onto the engine's :class:`platform_core.simulation.Policy` as:

* ``base_stock``: order-up-to (base-stock) level ``S = order_up_to``;
* ``sS`` and ``min_max``: ``s = reorder_point`` (min), ``S = order_up_to`` (max);
* ``rQ``: ``r = reorder_point``, ``Q = order_up_to - reorder_point`` (``order_up_to``
  holds ``r + Q``, the highest inventory position the policy reaches).

Today's *level* is ``order_up_to`` in every case.  A row whose levels do not make a
policy (a missing or negative level, ``s > S``, ``Q <= 0``) is kept with the reason, and
the comparison says so on the stage's row instead of simulating it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.data.stage_index import StageIndex

__all__ = ["CurrentPolicies", "policy_rows", "planned_current_policies"]


@dataclass
class CurrentPolicies:
    """Policies per row (of a policy table, or per planned stage), as engine arrays.

    Attributes:
        has: the row has a current policy.
        policy_type: as given (``base_stock``, ``rQ``, ``sS``, ``min_max``; "" when none).
        reorder_point: ``s`` / ``r`` [units] (NaN: none).
        order_up_to: ``S`` / base-stock level / max / ``r + Q`` [units] (NaN: none).
        order_quantity: ``Q`` of ``rQ`` [units] (NaN elsewhere).
        problem: "" when the row makes a policy, else why not (a sentence).
    """

    has: np.ndarray
    policy_type: np.ndarray
    reorder_point: np.ndarray
    order_up_to: np.ndarray
    order_quantity: np.ndarray
    problem: np.ndarray

    @property
    def usable(self) -> np.ndarray:
        """The row has a current policy the engine can simulate."""
        ok: np.ndarray = self.has & (self.problem == "")
        return ok

    def take(self, idx: np.ndarray) -> CurrentPolicies:
        """The rows ``idx``."""
        return CurrentPolicies(self.has[idx], self.policy_type[idx], self.reorder_point[idx], self.order_up_to[idx],
                               self.order_quantity[idx], self.problem[idx])


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = pc.cast(table.column(name), pa.float64())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


def policy_rows(table: pa.Table) -> CurrentPolicies:
    """Engine policy arrays of every row of a ``current_policy`` table (see module doc)."""
    n = table.num_rows
    kinds = np.array([k or "" for k in table.column("policy_type").to_pylist()], dtype=object).astype(str)
    s = _floats(table, "reorder_point")
    big_s = _floats(table, "order_up_to")
    q = np.full(n, np.nan)
    problem = np.full(n, "", dtype=object)
    for i in range(n):
        k = kinds[i]
        if k not in ("base_stock", "sS", "min_max", "rQ"):
            problem[i] = f"policy_type {k!r} is not base_stock, rQ, sS or min_max"
        elif not (np.isfinite(big_s[i]) and big_s[i] >= 0):
            problem[i] = f"{k} needs order_up_to >= 0, got {big_s[i]}"
        elif k == "base_stock":
            s[i] = np.nan
        elif not np.isfinite(s[i]):
            problem[i] = f"{k} needs a reorder_point, got none"
        elif k == "rQ":
            if big_s[i] <= s[i]:
                problem[i] = f"rQ needs order_up_to (r + Q) > reorder_point (r), got {big_s[i]} <= {s[i]}"
            else:
                q[i] = big_s[i] - s[i]
        elif s[i] > big_s[i]:
            problem[i] = f"{k} needs reorder_point <= order_up_to, got {s[i]} > {big_s[i]}"
    return CurrentPolicies(np.ones(n, dtype=bool), kinds, s, big_s, q, problem.astype(str))


def planned_current_policies(table: pa.Table | None, index: StageIndex, rank: np.ndarray) -> CurrentPolicies | None:
    """Today's policy per stage in planned order (None without a ``current_policy`` table).

    Args:
        table: the validated ``current_policy`` table (every row names a stage, keys unique).
        index: the stages' index.
        rank: planned position of each input stage row.
    """
    if table is None:
        return None
    n = int(rank.size)
    rows = policy_rows(table)
    at = rank[index.lookup(table)]
    out = CurrentPolicies(np.zeros(n, dtype=bool), np.full(n, "", dtype=object), np.full(n, np.nan),
                          np.full(n, np.nan), np.full(n, np.nan), np.full(n, "", dtype=object))
    out.has[at] = True
    out.policy_type[at] = rows.policy_type
    out.reorder_point[at] = rows.reorder_point
    out.order_up_to[at] = rows.order_up_to
    out.order_quantity[at] = rows.order_quantity
    out.problem[at] = rows.problem
    out.policy_type = out.policy_type.astype(str)
    out.problem = out.problem.astype(str)
    return out
