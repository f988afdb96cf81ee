"""The run's coupling constraints: from the input and the frontier points to the chosen levels.

After the merge the driver holds, per customer-facing row of a solver that prices the
frontier (``multi_echelon``), its level, fill rate and mean on hand at each target shift,
all read off the final run's simulated paths (:mod:`platform_core.frontier`).  Here:

* :func:`coupling_inputs` keeps what the constraints need from the input (item volumes,
  suppliers, the ``constraints`` rows) before the driver drops the Arrow tables;
* :func:`allocation_problem` turns the rows into networks' points (shifts <= 0: a
  constraint can only cut stock) with their expected stockout cost [currency/period] and
  their use of each constraint;
* :func:`apply_constraints` allocates (:func:`platform_core.constraints.allocate.allocate`)
  and writes the chosen points into the recommendations (level, fill, on hand and the
  money columns, all the simulated figures of the chosen level; figures the frontier does
  not carry, such as cycle service and backorders, become null), marks every cut row in
  ``message``, and returns the ``constraints`` section of ``summary.json``.

Space at a location counts every ``ok`` row there: ``unit_volume_m3 x mean on hand``
(statistic ``mean``), or its 95th percentile over periods (``p95``, the default): the
Cornish-Fisher quantile of the sum over independent networks, from each stage's mean,
variance and third central moment of on hand as measured on the final run's paths
(``frontier_on_hand_sd`` / ``frontier_on_hand_k3``); a stage without them (an internal
stage) counts its mean and the variance bound ``level x mean - mean^2`` (on hand lies in
``[0, level]`` under base stock).  The budget counts every ``ok`` row's
``unit_cost x mean on hand`` (``on_hand_value``) or ``unit_cost x level``
(``level_value``).  A supplier's capacity is compared with the mean flow of the stages it
supplies (``mean_demand_per_period``, in units or m3): under full backordering a stage
orders what is demanded of it whatever its level, so levels cannot change it; the
constraint is reported (shadow price 0) and an excess is flagged, not allocated.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.constraints.allocate import (
    AllocationProblem,
    ConstraintRows,
    allocate,
    constraint_usage,
    estimate_variance,
)
from platform_core.data.columns import decoded
from platform_core.data.schemas import CONSTRAINT_TYPES, Dataset
from platform_core.frontier import side_arrays
from platform_core.plan import SharedInputs

__all__ = ["ConstraintSpec", "CouplingInputs", "coupling_inputs", "allocation_problem", "apply_constraints",
           "Z_P95"]

#: normal deviate of the 95th percentile [-]
Z_P95 = 1.6448536269514722
#: one-sided confidence that a space or budget limit holds for the true mean use, not only
#: for the run's estimate (``constraints.confidence`` when null) [-]
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class ConstraintSpec:
    """One row of the ``constraints`` table (statistic resolved to its default)."""

    constraint_id: str
    constraint_type: str
    location: str | None
    supplier: str | None
    limit: float
    unit: str
    statistic: str
    confidence: float = DEFAULT_CONFIDENCE
    rows_without_se: int = 0  # counted rows whose estimate has no standard error (set by allocation_problem)


@dataclass(frozen=True)
class CouplingInputs:
    """What the constraints need from the input, per input row of ``stages``.

    Attributes:
        unit_volume_m3: [m3/unit] per row, NaN where not given.
        location: location per row.
        supplier: supplier per row (None where not given).
        constraints: the ``constraints`` rows.
    """

    unit_volume_m3: np.ndarray
    location: np.ndarray
    supplier: np.ndarray
    constraints: tuple[ConstraintSpec, ...]


def _strings(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, None, dtype=object)
    return np.asarray(decoded(table.column(name)).to_pylist(), dtype=object)


def coupling_inputs(dataset: Dataset) -> CouplingInputs | None:
    """The constraints of a validated dataset (None without a ``constraints`` table)."""
    table = dataset.get("constraints")
    if table is None or table.num_rows == 0:
        return None
    stages = dataset.stages
    vol = (np.asarray(pc.fill_null(stages.column("unit_volume_m3"), math.nan).to_numpy(zero_copy_only=False),
                      dtype=np.float64) if "unit_volume_m3" in stages.column_names else np.full(stages.num_rows, np.nan))
    rows = table.to_pylist()
    specs = tuple(ConstraintSpec(
        constraint_id=str(r["constraint_id"]), constraint_type=str(r["constraint_type"]), location=r.get("location"),
        supplier=r.get("supplier"), limit=float(r["limit"]), unit=str(r["unit"]),
        statistic=str(r.get("statistic") or CONSTRAINT_TYPES[str(r["constraint_type"])][1][0]),
        confidence=DEFAULT_CONFIDENCE if r.get("confidence") is None else float(r["confidence"])) for r in rows)
    return CouplingInputs(unit_volume_m3=vol, location=_strings(stages, "location"),
                          supplier=_strings(stages, "supplier"), constraints=specs)


def _col(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return np.array(pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _by_input_row(shared: SharedInputs, values: np.ndarray) -> np.ndarray:
    out = np.empty(values.shape, dtype=values.dtype)
    out[shared.input_row] = values
    return out


@dataclass
class _Rows:
    """Per-row inputs of the problem (input order) and the networks' compact index."""

    ok: np.ndarray
    movable: np.ndarray
    net: np.ndarray  # compact network of each movable row (-1 elsewhere)
    n_nets: int
    shifts: np.ndarray
    k0: int
    level: np.ndarray
    fill: np.ndarray
    on_hand: np.ndarray
    rec_level: np.ndarray
    rec_on_hand: np.ndarray
    on_hand_sd: np.ndarray | None = None  # [n, K] sd over periods of on hand (None: not given)
    on_hand_k3: np.ndarray | None = None  # [n, K] its third central moment (None: not given)
    on_hand_se: np.ndarray | None = None  # [n, K] standard error of the mean on hand (None: not given)
    rec_on_hand_se: np.ndarray | None = None  # [n] that at the recommended level, every row (None: not given)
    network_id: np.ndarray | None = None  # [n] network of every row (input order)
    counted_on_hand: np.ndarray | None = None  # [n, K] the mean on hand the limits count (None: on_hand)
    fresh: bool = False  # the counted figures (mean, sd, k3, SE) were measured on fresh paths

    def counted(self) -> np.ndarray:
        """[n, K] the mean on hand the limits count: the fresh paths' where measured, else ``on_hand``."""
        return self.on_hand if self.counted_on_hand is None else self.counted_on_hand


def _rows(recommendations: pa.Table, side: pa.Table | None, shared: SharedInputs) -> _Rows:
    n = recommendations.num_rows
    ok = np.asarray(pc.equal(recommendations.column("status"), "ok").to_numpy(zero_copy_only=False), dtype=bool)
    rec_level = _col(recommendations, "base_stock_level")
    rec_level = np.where(np.isfinite(rec_level), rec_level, _col(recommendations, "order_up_to"))
    rec_oh = _col(recommendations, "mean_on_hand")
    empty = np.zeros((n, 1))
    if side is None:
        return _Rows(ok, np.zeros(n, dtype=bool), np.full(n, -1), 0, np.zeros(1), 0, empty, empty, empty,
                     rec_level, rec_oh)
    shifts, has, level, fill, oh = side_arrays(side)
    keep = np.flatnonzero(shifts <= 0.0)
    if shifts.size == 0 or not np.any(shifts[keep] == 0.0):
        return _Rows(ok, np.zeros(n, dtype=bool), np.full(n, -1), 0, np.zeros(1), 0, empty, empty, empty,
                     rec_level, rec_oh)
    sd = _dense(side, "frontier_on_hand_sd", has, shifts.size)
    k3 = _dense(side, "frontier_on_hand_k3", has, shifts.size)
    se = _dense(side, "frontier_on_hand_se", has, shifts.size)
    rec_se = _col(side, "recommended_on_hand_se") if "recommended_on_hand_se" in side.column_names else None
    # the fresh paths' figures where the solver measured them (independent of the paths that chose
    # the levels), the final run's elsewhere
    f_oh, f_sd, f_k3, f_se = (_dense(side, f"frontier_fresh_on_hand{x}", has, shifts.size)
                              for x in ("", "_sd", "_k3", "_se"))
    counted = None
    if f_oh is not None and f_sd is not None and f_k3 is not None and f_se is not None:
        measured = np.isfinite(f_oh)
        counted = np.where(measured, f_oh, oh)
        sd = f_sd if sd is None else np.where(measured, f_sd, sd)
        k3 = f_k3 if k3 is None else np.where(measured, f_k3, k3)
        se = f_se if se is None else np.where(measured, f_se, se)
    shifts, level, fill, oh = shifts[keep], level[:, keep], fill[:, keep], oh[:, keep]
    k0 = int(np.flatnonzero(shifts == 0.0)[0])
    movable = ok & has & np.isfinite(level[:, k0]) & np.isfinite(oh[:, k0])
    net_id = _by_input_row(shared, np.asarray(shared.network_id, dtype=np.int64))
    uniq, compact = np.unique(net_id[movable], return_inverse=True)
    net = np.full(n, -1)
    net[movable] = compact
    return _Rows(ok, movable, net, int(uniq.size), shifts, k0, level, fill, oh, rec_level, rec_oh,
                 None if sd is None else sd[:, keep], None if k3 is None else k3[:, keep],
                 None if se is None else se[:, keep], rec_se, net_id,
                 None if counted is None else counted[:, keep], counted is not None)


def _dense(side: pa.Table, name: str, has: np.ndarray, k: int) -> np.ndarray | None:
    """An optional side column as [n, K] (NaN where a row has none); None when absent."""
    if name not in side.column_names:
        return None
    out = np.full((has.size, k), np.nan)
    rows = np.flatnonzero(has)
    lists = side.column(name).take(pa.array(rows))
    if not np.all(pc.list_value_length(lists).to_numpy(zero_copy_only=False) == k):
        return None
    out[rows] = np.asarray(pc.list_flatten(lists).to_numpy(zero_copy_only=False), dtype=np.float64).reshape(rows.size, k)
    return out


_Use = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]


def _row_use(spec: ConstraintSpec, inputs: CouplingInputs, unit_cost: np.ndarray, r: _Rows,
             mine: np.ndarray) -> _Use:
    """Per row of ``mine``: use at each point and at the recommendation (mean, var, third); z."""
    on_hand = r.counted()[mine]
    if spec.constraint_type == "location_space":
        w = np.nan_to_num(inputs.unit_volume_m3[mine])
        z = Z_P95 if spec.statistic == "p95" else 0.0
        mean_k, mean_0 = w[:, None] * on_hand, w * r.rec_on_hand[mine]
        if z == 0:
            return mean_k, np.zeros_like(mean_k), np.zeros_like(mean_k), mean_0, np.zeros_like(mean_0), \
                np.zeros_like(mean_0), z
        # the variance over periods of on hand: measured on the final run's paths where the
        # solver gives it, else bounded by level x mean - mean^2 (on hand lies in [0, level])
        bound_k = np.maximum(r.level[mine] * on_hand - on_hand ** 2, 0.0)
        bound_0 = np.maximum(r.rec_level[mine] * r.rec_on_hand[mine] - r.rec_on_hand[mine] ** 2, 0.0)
        if r.on_hand_sd is not None:
            sd = r.on_hand_sd[mine]
            bound_k = np.where(np.isfinite(sd), sd ** 2, bound_k)
            bound_0 = np.where(r.movable[mine] & np.isfinite(sd[:, r.k0]), sd[:, r.k0] ** 2, bound_0)
        third_k, third_0 = np.zeros_like(mean_k), np.zeros_like(mean_0)
        if r.on_hand_k3 is not None:  # the skew where measured (0 elsewhere)
            k3 = np.nan_to_num(r.on_hand_k3[mine])
            third_k = (w ** 3)[:, None] * k3
            third_0 = np.where(r.movable[mine], w ** 3 * k3[:, r.k0], 0.0)
        return mean_k, (w ** 2)[:, None] * bound_k, third_k, mean_0, w ** 2 * bound_0, third_0, z
    c = unit_cost[mine]
    if spec.statistic == "level_value":
        mean_k, mean_0 = c[:, None] * r.level[mine], c * r.rec_level[mine]
    else:
        mean_k, mean_0 = c[:, None] * on_hand, c * r.rec_on_hand[mine]
    zk, z0 = np.zeros_like(mean_k), np.zeros_like(mean_0)
    return mean_k, zk, zk, mean_0, z0, z0, 0.0


def _use_se(spec: ConstraintSpec, inputs: CouplingInputs, unit_cost: np.ndarray, r: _Rows,
            mine: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per row of ``mine``: the SE of the run's estimate of its mean use, at each point and at the recommendation.

    [unit], NaN where the solver gave none; None when the statistic is not an estimate
    (``level_value``: levels are decided, not measured).
    """
    if spec.constraint_type == "location_space":
        w = np.nan_to_num(inputs.unit_volume_m3[mine])
    elif spec.statistic == "on_hand_value":
        w = unit_cost[mine]
    else:
        return None
    n, kk = int(np.count_nonzero(mine)), r.shifts.size
    se_k = np.full((n, kk), np.nan) if r.on_hand_se is None else w[:, None] * r.on_hand_se[mine]
    se_0 = np.full(n, np.nan) if r.rec_on_hand_se is None else w * r.rec_on_hand_se[mine]
    return se_k, se_0


def _estimate_variance(use_se: tuple[np.ndarray, np.ndarray] | None, r: _Rows, at: np.ndarray, nets: np.ndarray,
                       pos: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Squared SE of each network's estimated mean use [nets, K], the fixed rows', rows without an SE.

    The second figure is that of the rows no choice moves outside these networks. A network's stages share its simulated paths, so their SEs add up (the bound for any
    correlation between them); networks run on independent streams, so their squared SEs add.
    """
    kk = r.shifts.size
    if use_se is None:
        return np.zeros((nets.size, kk)), 0.0, 0
    se_k, se_0 = use_se
    moves = r.movable[at]
    lin = np.zeros((nets.size, kk))
    np.add.at(lin, pos, np.nan_to_num(se_k[moves]))
    missing = int(np.sum(np.any(np.isnan(se_k[moves]) & np.isfinite(r.on_hand[at][moves]), axis=1)))
    fixed_se = se_0[~moves]
    missing += int(np.sum(np.isnan(fixed_se)))
    fixed_se = np.nan_to_num(fixed_se)
    net_id = r.network_id[at] if r.network_id is not None else np.arange(int(np.count_nonzero(at)))
    fixed_net = net_id[~moves]
    ids = np.zeros(nets.size, dtype=np.int64)
    ids[pos] = net_id[moves]  # the networks' ids, ascending as ``nets``
    at_net = np.searchsorted(ids, fixed_net)
    inside = (at_net < ids.size) & (ids[np.minimum(at_net, max(ids.size - 1, 0))] == fixed_net) if ids.size else \
        np.zeros(fixed_net.size, dtype=bool)
    lin += np.bincount(at_net[inside], weights=fixed_se[inside], minlength=nets.size)[:, None]
    _u, grp = np.unique(fixed_net[~inside], return_inverse=True)
    offset = float(np.sum(np.bincount(grp, weights=fixed_se[~inside]) ** 2)) if grp.size else 0.0
    return lin ** 2, offset, missing


def allocation_problem(recommendations: pa.Table, side: pa.Table | None, shared: SharedInputs,
                       inputs: CouplingInputs) -> tuple[AllocationProblem, _Rows, list[ConstraintSpec]]:
    """The networks' points and the space and budget constraints (see module doc).

    Returns:
        the problem, the per-row inputs, and the constraints it holds (in its order).
    """
    r = _rows(recommendations, side, shared)
    unit_cost = _by_input_row(shared, np.asarray(shared.unit_cost, dtype=np.float64))
    stockout = _by_input_row(shared, np.asarray(shared.stockout_cost, dtype=np.float64))
    demand = np.nan_to_num(_col(recommendations, "mean_demand_per_period"))
    kk = r.shifts.size
    mv = np.flatnonzero(r.movable)
    net = r.net[mv]
    short = (1.0 - np.nan_to_num(r.fill[mv], nan=1.0)) * (demand[mv] * np.nan_to_num(stockout[mv]))[:, None]
    cost = np.zeros((r.n_nets, kk))
    np.add.at(cost, net, short)
    bad = np.zeros((r.n_nets, kk), dtype=bool)
    np.logical_or.at(bad, net, ~np.isfinite(r.level[mv]) | ~np.isfinite(r.on_hand[mv]))
    cost[bad] = np.nan
    start = np.full(r.n_nets, r.k0, dtype=np.int64)
    rows: list[ConstraintRows] = []
    held: list[ConstraintSpec] = []
    for spec in inputs.constraints:
        if spec.constraint_type == "supplier_capacity":
            continue
        at = r.ok if spec.constraint_type == "budget" else r.ok & (inputs.location == spec.location)
        mean_k, var_k, third_k, mean_0, var_0, third_0, z = _row_use(spec, inputs, unit_cost, r, at)
        moves = r.movable[at]
        nets, pos = np.unique(r.net[at][moves], return_inverse=True)
        m = np.zeros((nets.size, kk))
        v = np.zeros((nets.size, kk))
        t = np.zeros((nets.size, kk))
        np.add.at(m, pos, np.nan_to_num(mean_k[moves]))
        np.add.at(v, pos, np.nan_to_num(var_k[moves]))
        np.add.at(t, pos, np.nan_to_num(third_k[moves]))
        fixed = ~moves
        est, offset_est, missing = _estimate_variance(_use_se(spec, inputs, unit_cost, r, at), r, at, nets, pos)
        z_margin = NormalDist().inv_cdf(spec.confidence) if spec.statistic != "level_value" else 0.0
        rows.append(ConstraintRows(name=spec.constraint_id, nets=nets, mean=m, var=v, z=z, limit=spec.limit,
                                   offset_mean=float(np.nansum(mean_0[fixed])),
                                   offset_var=float(np.nansum(var_0[fixed])), third=t,
                                   offset_third=float(np.nansum(third_0[fixed])), est_var=est,
                                   offset_est_var=offset_est, z_margin=max(z_margin, 0.0)))
        held.append(replace(spec, rows_without_se=missing))
    return AllocationProblem(cost=cost, start=start, constraints=tuple(rows)), r, held


def _space_bound(spec: ConstraintSpec, inputs: CouplingInputs, r: _Rows, level: np.ndarray) -> float:
    """Sure bound of a location's on-hand volume: sum of volume x level [m3]."""
    at = r.ok & (inputs.location == spec.location)
    return float(np.nansum(np.nan_to_num(inputs.unit_volume_m3[at]) * level[at]))


_PRICE_UNIT = {"location_space": "currency/period per m3", "budget": "currency/period per currency",
               "supplier_capacity": "currency/period per unit of capacity"}


def apply_constraints(recommendations: pa.Table, side: pa.Table | None, shared: SharedInputs,
                      inputs: CouplingInputs | None) -> tuple[pa.Table, dict[str, Any]]:
    """The recommendations at the allocation's chosen points, and the ``constraints`` section.

    Without constraints the table is returned as it is and the section is empty.
    """
    if inputs is None:
        return recommendations, {}
    t0 = time.perf_counter()
    problem, r, held = allocation_problem(recommendations, side, shared, inputs)
    alloc = allocate(problem)
    level = r.rec_level.copy()
    rows_cut = np.zeros(recommendations.num_rows, dtype=bool)
    if r.n_nets:
        mv = np.flatnonzero(r.movable)
        k = alloc.choice[r.net[mv]]
        cut = (k != r.k0) & (r.level[mv, k] != r.rec_level[mv])  # a row whose level stays keeps its figures
        rows_cut[mv[cut]] = True
        level[mv] = r.level[mv, k]
    names_of_row = _binding_names(held, np.where(alloc.feasible, alloc.shadow_price, np.inf), inputs, r)
    table = _write_points(recommendations, shared, r, alloc.choice, rows_cut, names_of_row)
    start_use = [constraint_usage(c, problem.start) for c in problem.constraints]
    out: list[dict[str, Any]] = []
    for i, spec in enumerate(held):
        c = problem.constraints[i]
        used = float(alloc.used[i])
        entry = _entry(spec, used, float(start_use[i]), float(alloc.shadow_price[i]), bool(alloc.feasible[i]))
        se = math.sqrt(max(estimate_variance(c, alloc.choice), 0.0))
        entry |= {"planned": constraint_usage(replace(c, z_margin=0.0), alloc.choice), "planned_se": se,
                  "confidence": spec.confidence if c.z_margin > 0 else None, "margin": c.z_margin * se,
                  "rows_without_se": spec.rows_without_se,
                  "estimated_on": None if spec.statistic == "level_value" else ("fresh_paths" if r.fresh else "run_paths")}
        if spec.constraint_type == "location_space":
            entry["mean_volume_m3"] = constraint_usage(replace(c, z=0.0, z_margin=0.0), alloc.choice)
            entry["p95_volume_m3_estimate"] = (constraint_usage(replace(c, z_margin=0.0), alloc.choice)
                                               if spec.statistic == "p95" else None)
            entry["volume_at_levels_m3"] = _space_bound(spec, inputs, r, level)
        out.append(entry)
    demand = _col(table, "mean_demand_per_period")
    for spec in inputs.constraints:
        if spec.constraint_type != "supplier_capacity":
            continue
        mine = r.ok & (inputs.supplier == spec.supplier)
        flow = np.nan_to_num(demand[mine])
        if spec.unit == "m3/period":
            flow = flow * np.nan_to_num(inputs.unit_volume_m3[mine])
        used = float(flow.sum())
        entry = _entry(spec, used, used, 0.0, used <= spec.limit)
        entry["note"] = ("mean flow of the stages it supplies; levels do not change it under backordering"
                         + ("" if used <= spec.limit else ": demand exceeds the capacity, levels cannot fix it"))
        out.append(entry)
    start_cost = float(np.nansum(problem.cost[np.arange(r.n_nets), problem.start])) if r.n_nets else 0.0
    section = {
        "constraints": out,
        "allocation": {
            "networks": int(r.n_nets), "networks_cut": int(np.sum(alloc.choice != problem.start)),
            "rows_cut": int(rows_cut.sum()),
            "stockout_cost_per_period_before_currency": start_cost,
            "stockout_cost_per_period_after_currency": float(alloc.cost),
            "frontier_points": [float(x) for x in r.shifts],
            "seconds": time.perf_counter() - t0,
            "notes": list(alloc.notes) + ([] if r.n_nets or not held else
                                          ["the solver gives no frontier points: nothing to allocate"]),
        },
    }
    return table, section


def _entry(spec: ConstraintSpec, used: float, before: float, price: float, feasible: bool) -> dict[str, Any]:
    return {"constraint_id": spec.constraint_id, "constraint_type": spec.constraint_type,
            "location": spec.location, "supplier": spec.supplier, "statistic": spec.statistic,
            "unit": spec.unit, "limit": spec.limit, "used": used, "used_at_recommendation": before,
            "used_share": used / spec.limit, "binds": bool(price > 0.0 or not feasible),
            "shadow_price": price, "shadow_price_unit": _PRICE_UNIT[spec.constraint_type], "feasible": feasible}


def _binding_names(held: list[ConstraintSpec], price: np.ndarray, inputs: CouplingInputs, r: _Rows) -> np.ndarray:
    """Per row, the binding constraints that count it (text); ``price`` inf for one not met."""
    names = np.full(r.ok.size, "", dtype=object)
    for spec, p in zip(held, price, strict=True):
        if p <= 0:
            continue
        at = r.ok if spec.constraint_type == "budget" else r.ok & (inputs.location == spec.location)
        names[at] = np.where(names[at] == "", spec.constraint_id, names[at] + ", " + spec.constraint_id)
    return names


def _write_points(table: pa.Table, shared: SharedInputs, r: _Rows, choice: np.ndarray, cut: np.ndarray,
                  names: np.ndarray) -> pa.Table:
    """Cut rows at their chosen point: level, fill, on hand and money; unmeasured figures null."""
    if not cut.any():
        return table
    rows = np.flatnonzero(cut)
    k = choice[r.net[rows]]
    new_level, new_fill, new_oh = r.level[rows, k], r.fill[rows, k], r.on_hand[rows, k]
    old_level, old_fill = r.rec_level[rows], _col(table, "expected_fill_rate")[rows]
    unit_cost = _by_input_row(shared, np.asarray(shared.unit_cost, dtype=np.float64))[rows]
    holding = _by_input_row(shared, np.asarray(shared.holding_cost, dtype=np.float64))[rows]
    stockout = _by_input_row(shared, np.asarray(shared.stockout_cost, dtype=np.float64))[rows]
    demand = np.nan_to_num(_col(table, "mean_demand_per_period")[rows])
    d_level = new_level - old_level
    values: dict[str, np.ndarray] = {
        "base_stock_level": new_level, "order_up_to": new_level,
        "safety_stock": _col(table, "safety_stock")[rows] + d_level,
        "expected_fill_rate": new_fill, "mean_on_hand": new_oh,
        "inventory_investment": new_oh * unit_cost, "investment_at_level": new_level * unit_cost,
        "holding_cost_per_period": new_oh * holding,
        "stockout_cost_per_period": (1.0 - np.nan_to_num(new_fill, nan=1.0)) * demand * stockout,
        "safety_stock_value": (_col(table, "safety_stock")[rows] + d_level) * unit_cost,
        "days_of_supply_level": _col(table, "days_of_supply_level")[rows] * np.where(
            old_level > 0, new_level / np.where(old_level > 0, old_level, 1.0), np.nan),
        "change_level_units": _col(table, "change_level_units")[rows] + d_level,
        "change_investment_at_level": _col(table, "change_investment_at_level")[rows] + d_level * unit_cost,
        "change_expected_fill_rate": _col(table, "change_expected_fill_rate")[rows] + (new_fill - old_fill),
    }
    unmeasured = ("fill_rate_se", "expected_cycle_service", "cycle_service_se", "mean_backorders",
                  "fill_rate_interval_low", "fill_rate_interval_high", "safety_stock_from_demand_variability",
                  "safety_stock_from_lead_time_variability", "safety_stock_from_review_and_lot_size",
                  "safety_stock_from_upstream", "safety_stock_from_other", "days_of_supply_safety_stock")
    for name in unmeasured:
        values[name] = np.full(rows.size, np.nan)
    for name, vals in values.items():
        if name not in table.column_names:
            continue
        col = _col(table, name)
        null = np.array(pc.is_null(table.column(name)).to_numpy(zero_copy_only=False), dtype=bool)
        col[rows] = vals
        null[rows] = np.isnan(vals)
        i = table.column_names.index(name)
        table = table.set_column(i, table.schema.field(i), pa.array(col, pa.float64(), mask=null))
    msg = np.asarray(table.column("message").to_pylist(), dtype=object)
    for j, row in enumerate(rows.tolist()):
        note = (f"level cut from {old_level[j]:g} to {new_level[j]:g} by constraint {names[row] or 'allocation'} "
                f"(frontier shift {r.shifts[k[j]]:+g}): fill {old_fill[j]:.3f} -> {new_fill[j]:.3f}, as simulated "
                f"at that level")
        msg[row] = note if not msg[row] else f"{note}; {msg[row]}"
    i = table.column_names.index("message")
    table = table.set_column(i, table.schema.field(i), pa.array(msg.tolist(), pa.string()))
    if "explanation" in table.column_names:  # the why of the unconstrained level, said to be so
        why = np.asarray(table.column("explanation").to_pylist(), dtype=object)
        for j, row in enumerate(rows.tolist()):
            if why[row]:
                why[row] = (f"Cut to {new_level[j]:g} by a coupling constraint; the unconstrained level "
                            f"{old_level[j]:g}: {why[row]}")
        i = table.column_names.index("explanation")
        table = table.set_column(i, table.schema.field(i), pa.array(why.tolist(), pa.string()))
    return table
