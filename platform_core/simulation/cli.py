r"""``echelon simulate``: Monte Carlo evaluation of given policies on a dataset's networks.

Usage::

    echelon simulate NETWORK_DIR --policy POLICY.parquet|csv \\
        [--demand-schedule FILE] [--replications R] [--periods T] [--warmup W]
        [--seed S] [--out FILE]

``NETWORK_DIR`` holds the platform's ``stages`` and (optionally) ``edges`` files
(``docs/data.md``); each connected component of the stage graph is one SKU network.
The policy file has one row per stage (sku, location) with the columns:

* ``policy_type``: ``base_stock``, ``echelon_base_stock``, ``sS``/``min_max``, ``rQ``;
* ``reorder_point`` [units], ``order_up_to`` [units], optional ``order_quantity`` [units];
* ``mean_demand`` [units/period] and optional ``std_demand`` [units/period] of the
  external demand at the stage (normal discretised to integers when ``std_demand > 0``,
  else Poisson; a null or zero mean means no external demand);
* optional ``lead_time`` [periods] (default 1) and ``lead_time_std`` [periods] of the
  stage's inbound lanes (normal discretised, truncated at 0, when the std is > 0);
* optional ``backorder_cost`` [currency/unit/period].

``--demand-schedule FILE`` (optional) gives stages demand that differs per period: one
row per stage and period of a cycle with ``sku``, ``location``, ``period`` (0, 1, ...,
n - 1: the cycle's positions, all present), ``mean_demand`` [units/period] and optional
``std_demand`` [units/period] (normal discretised when > 0, else Poisson; a zero mean is
no demand in that period). Period ``t`` of a replication, counted from the first warm-up
period, draws from position ``t mod n`` (:class:`DemandSchedule`). A stage listed there
ignores its policy row's ``mean_demand``/``std_demand``.

Holding cost per period is ``unit_cost x carrying_rate / periods_per_year``; the
stage's ``review_period`` and ``moq`` columns are honoured.  The output (Parquet or
CSV by extension) has one row per stage with every metric and its standard error.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from platform_core.data.loaders import find_file, load_table
from platform_core.data.schemas import EDGES, STAGES
from platform_core.distributions import DiscreteDistribution

from .dataset_inputs import StageInputs, dataset_stage_inputs
from .engine import Costs, DemandSchedule, simulate
from .network import Network, Policy

__all__ = ["add_simulate_command", "run_simulate", "build_networks", "read_demand_schedule", "policy_levels"]

_POLICY_REQUIRED = ("sku", "location", "policy_type")


def add_simulate_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``simulate`` sub-command to an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser("simulate", help="Monte Carlo evaluation of given policies")
    p.add_argument("network_dir", help="directory with the stages (and edges) files")
    p.add_argument("--policy", required=True, help="policy file (.parquet or .csv), one row per stage")
    p.add_argument("--demand-schedule", default=None, metavar="FILE",
                   help="per-period demand cycles (.parquet or .csv): sku, location, period, mean_demand[, std_demand]")
    p.add_argument("--replications", type=int, default=10)
    p.add_argument("--periods", type=int, default=5000, help="measured periods per replication")
    p.add_argument("--warmup", type=int, default=200, help="discarded periods per replication")
    p.add_argument("--seed", type=int, default=0, help="run seed")
    p.add_argument("--periods-per-year", type=float, default=52.0,
                   help="converts the annual carrying rate to a per-period holding cost")
    p.add_argument("--lost-sales", action="store_true", help="lose unmet demand (default: backorder)")
    p.add_argument("--no-crossing", action="store_true", help="orders on a lane arrive in sequence")
    p.add_argument("--allocation", choices=["fifo", "proportional"], default="fifo")
    p.add_argument("--out", help="output file (.parquet or .csv); default: print a summary")
    p.add_argument("--moq", action="store_true",
                   help="with a run's recommendations or current_policy file, apply the stages' moq too (the run "
                        "does not model it, so by default neither does the simulation of its files)")
    p.add_argument("--config", default=None,
                   help="the run's TOML configuration: with a policy file without mean_demand "
                        "(recommendations, current_policy) demand and lead times are fitted as that run fits them "
                        "(default: the built-in defaults)")
    p.set_defaults(func=run_simulate)
    return p


def _read_any(path: str) -> pa.Table:
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return pcsv.read_csv(path) if path.endswith(".csv") else pq.read_table(path)


def _col(table: pa.Table, name: str, default: float) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, default, dtype=np.float64)
    arr = pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False)
    return np.where(np.isnan(arr), default, arr)


def _lead_time(mean: float, sd: float) -> DiscreteDistribution | int:
    if sd > 0:
        return DiscreteDistribution.normal(mean, sd)
    return max(0, int(round(mean)))


def _demand(mean: float, sd: float) -> DiscreteDistribution:
    if mean <= 0:
        return DiscreteDistribution.point(0)
    return DiscreteDistribution.normal(mean, sd) if sd > 0 else DiscreteDistribution.poisson(mean)


def read_demand_schedule(table: pa.Table, file: str = "demand schedule") -> dict[tuple[str, str], DemandSchedule]:
    """Per-period demand cycles by ``(sku, location)`` from a schedule table (see the module docstring).

    Raises:
        ValueError: a missing column, or a row with a null key, a negative, non-finite or
            non-integer period, a negative or non-finite mean or std, a repeated
            ``(sku, location, period)``, or a stage whose periods are not ``0 .. n-1``;
            the message names the file, the column and the 1-based data row.
    """
    for c in ("sku", "location", "period", "mean_demand"):
        if c not in table.column_names:
            raise ValueError(f"{file}: missing column {c!r} (need sku, location, period, mean_demand)")
    skus = table.column("sku").to_pylist()
    locs = table.column("location").to_pylist()
    per = _col(table, "period", np.nan)
    mean = _col(table, "mean_demand", np.nan)
    sd = _col(table, "std_demand", 0.0)
    cells: dict[tuple[str, str], dict[int, tuple[float, float]]] = {}
    for r in range(table.num_rows):
        row = r + 1
        if skus[r] is None or locs[r] is None:
            raise ValueError(f"{file}: row {row}: column {'sku' if skus[r] is None else 'location'!r}: expected a value, got null")
        if not (np.isfinite(per[r]) and per[r] >= 0 and per[r] == int(per[r])):
            raise ValueError(f"{file}: row {row}: column 'period': expected an integer >= 0, got {per[r]!r}")
        for name, v in (("mean_demand", mean[r]), ("std_demand", sd[r])):
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{file}: row {row}: column {name!r}: expected a finite number >= 0, got {v!r}")
        key = (str(skus[r]), str(locs[r]))
        stage = cells.setdefault(key, {})
        if int(per[r]) in stage:
            raise ValueError(f"{file}: row {row}: columns sku, location, period: {key} period {int(per[r])} repeated")
        stage[int(per[r])] = (float(mean[r]), float(sd[r]))
    out = {}
    for key, stage in cells.items():
        n = len(stage)
        if set(stage) != set(range(n)):
            gap = min(set(range(n)) - set(stage))
            raise ValueError(f"{file}: column 'period': stage {key} has periods {sorted(stage)[:8]}...; "
                             f"expected 0 .. {n - 1} (missing {gap})")
        out[key] = DemandSchedule([_demand(*stage[t]) for t in range(n)])
    return out


_BASE_STOCK_KINDS = ("base_stock", "installation_base_stock", "echelon_base_stock")


def policy_levels(policy: pa.Table, file: str = "policy file") -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Policy kind, ``s``, ``S`` and ``Q`` [units] per row of a policy file, whichever shape it has.

    Three shapes are accepted: ``echelon simulate``'s own (``mean_demand`` with the
    levels ``reorder_point``, ``order_up_to``, ``order_quantity``); a run's
    ``recommendations.parquet`` (``base_stock_level``; rows must have ``status`` ok);
    the input's ``current_policy`` file (``order_up_to`` and, for sS / min_max / rQ,
    ``reorder_point``; rQ's ``Q = order_up_to - reorder_point``, see
    :mod:`platform_core.current_policy`).

    Raises:
        ValueError: naming the file, the missing columns and what was expected, or the
            row (1-based) and column of a level that makes no policy.
    """
    from platform_core.current_policy import policy_rows

    cols = policy.column_names
    missing = [c for c in _POLICY_REQUIRED if c not in cols]
    levels = [c for c in ("base_stock_level", "order_up_to", "reorder_point", "order_quantity") if c in cols]
    if missing or not levels:
        raise ValueError(
            f"{file}: cannot use its columns {cols}: missing {missing + ([] if levels else ['order_up_to'])}; "
            "expected sku, location, policy_type and the levels: order_up_to (and reorder_point for sS, min_max, "
            "rQ) as in current_policy, base_stock_level as in a run's recommendations.parquet, or reorder_point/"
            "order_up_to/order_quantity with mean_demand (docs/simulation.md)")
    kinds = [str(k) if k is not None else "" for k in policy.column("policy_type").to_pylist()]
    rp = _col(policy, "reorder_point", np.nan)
    ou = _col(policy, "order_up_to", np.nan)
    oq = _col(policy, "order_quantity", np.nan)
    if "mean_demand" in cols:
        return kinds, rp, ou, oq
    if "base_stock_level" in cols:
        status = policy.column("status").to_pylist() if "status" in cols else ["ok"] * policy.num_rows
        level = _col(policy, "base_stock_level", np.nan)
        for r in range(policy.num_rows):
            if status[r] != "ok" or (kinds[r] in _BASE_STOCK_KINDS and not np.isfinite(level[r])):
                raise ValueError(f"{file}: row {r + 1}: columns status, base_stock_level: expected an ok row with a "
                                 f"level, got status {status[r]!r} and level {level[r]}: the run set no policy for "
                                 "this stage")
        ou = np.where([k in _BASE_STOCK_KINDS for k in kinds], level, ou)
        return kinds, rp, ou, oq
    rows = policy_rows(policy)
    bad = np.flatnonzero(rows.problem != "")
    if bad.size:
        raise ValueError(f"{file}: row {int(bad[0]) + 1}: columns policy_type, reorder_point, order_up_to: "
                         f"{rows.problem[bad[0]]}")
    return kinds, rows.reorder_point, rows.order_up_to, rows.order_quantity


def build_networks(stages: pa.Table, edges: pa.Table | None, policy: pa.Table,
                   periods_per_year: float = 52.0,
                   schedules: dict[tuple[str, str], DemandSchedule] | None = None,
                   stage_inputs: StageInputs | None = None, policy_file: str = "policy file",
                   apply_moq: bool = True) -> dict[str, Any]:
    """Turn stages/edges/policy tables into the arguments of :func:`simulate`.

    ``schedules`` (from :func:`read_demand_schedule`) replaces the policy's stationary
    demand of the stages it lists.  ``stage_inputs`` (from
    :func:`~platform_core.simulation.dataset_inputs.dataset_stage_inputs`) gives every
    stage's demand and lead time instead of the policy file's columns.  ``apply_moq``
    False leaves the stages' ``moq`` out (as a run does).

    Returns:
        ``{"networks", "policies", "demand", "lead_times", "costs", "keys"}`` where
        ``keys[i]`` lists the ``(sku, location)`` of network ``i``'s stages.
    """
    ptype, rp, ou, oq = policy_levels(policy, policy_file)
    skus = stages.column("sku").to_pylist()
    locs = stages.column("location").to_pylist()
    index = {(s, loc): i for i, (s, loc) in enumerate(zip(skus, locs, strict=True))}
    n = len(index)
    arcs: list[tuple[int, int, float]] = []
    if edges is not None:
        for row in edges.to_pylist():
            u = (row["upstream_sku"], row["upstream_location"])
            d = (row["downstream_sku"], row["downstream_location"])
            if u not in index or d not in index:
                raise ValueError(f"edge {u} -> {d} refers to a stage missing from the stages file")
            arcs.append((index[u], index[d], float(row["quantity_per"])))
    # connected components (union-find)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a_up, a_down, _ in arcs:
        parent[find(a_up)] = find(a_down)
    comps: dict[int, list[int]] = {}
    for i in range(n):
        comps.setdefault(find(i), []).append(i)

    schedules = schedules or {}
    unknown = [k for k in schedules if k not in index]
    if unknown:
        raise ValueError(f"demand schedule: stage(s) {unknown[:5]} not in the stages file")
    prow: dict[tuple[str, str], int] = {}
    for i, (s, loc) in enumerate(zip(policy.column("sku").to_pylist(),
                                     policy.column("location").to_pylist(), strict=True)):
        prow[(s, loc)] = i
    md = _col(policy, "mean_demand", 0.0)
    sd = _col(policy, "std_demand", 0.0)
    lt = _col(policy, "lead_time", 1.0)
    lsd = _col(policy, "lead_time_std", 0.0)
    bc = _col(policy, "backorder_cost", 0.0)
    unit_cost = _col(stages, "unit_cost", 0.0)
    rate = _col(stages, "carrying_rate", 0.0)
    review = _col(stages, "review_period", 1.0)
    moq = _col(stages, "moq", 0.0) if apply_moq else np.zeros(stages.num_rows)

    out: dict[str, list[Any]] = {k: [] for k in ("networks", "policies", "demand", "lead_times", "costs", "keys")}
    for members in sorted(comps.values(), key=lambda m: min((skus[i], locs[i]) for i in m)):
        local = {g: k for k, g in enumerate(members)}
        keys = [(skus[g], locs[g]) for g in members]
        missing = [k for k in keys if k not in prow]
        if missing:
            raise ValueError(f"policy file: no row for stage(s) {missing[:5]}")
        rows = [prow[k] for k in keys]
        net_arcs = tuple((local[u], local[d], q) for u, d, q in arcs if u in local)
        name = "{}@{}".format(*min(keys))
        out["networks"].append(Network(len(members), net_arcs, tuple(f"{s}@{loc}" for s, loc in keys), name=name))
        out["policies"].append(Policy(kind=[ptype[r] for r in rows], reorder_point=rp[rows],
                                      order_up_to=ou[rows], order_quantity=oq[rows],
                                      review_period=review[members].astype(int), moq=moq[members]))
        dem: list[DiscreteDistribution | DemandSchedule | None] = []
        for key, r in zip(keys, rows, strict=True):
            if key in schedules:
                dem.append(schedules[key])
            elif stage_inputs is not None:
                dem.append(stage_inputs[key][0])
            else:
                dem.append(_demand(md[r], sd[r]) if md[r] > 0 else None)
        out["demand"].append(dem)
        out["lead_times"].append([stage_inputs[k][1] for k in keys] if stage_inputs is not None
                                 else [_lead_time(lt[r], lsd[r]) for r in rows])
        out["costs"].append(Costs(holding=unit_cost[members] * rate[members] / periods_per_year,
                                  backorder=bc[rows], unit_value=unit_cost[members]))
        out["keys"].append(keys)
    return out


def run_simulate(args: argparse.Namespace) -> int:
    """Handler of ``echelon simulate``; returns the process exit code."""
    stages_file = find_file(args.network_dir, STAGES)
    if stages_file is None:
        raise FileNotFoundError(f"no stages.parquet or stages.csv in {args.network_dir}")
    stages = load_table(stages_file, STAGES)
    edges_file = find_file(args.network_dir, EDGES)
    edges = load_table(edges_file, EDGES) if edges_file else None
    policy = _read_any(args.policy)
    schedules = None
    if args.demand_schedule:
        schedules = read_demand_schedule(_read_any(args.demand_schedule), args.demand_schedule)
    stage_inputs = None
    if "mean_demand" not in policy.column_names:
        policy_levels(policy, args.policy)  # refuse an unusable file before fitting anything
        # a run's recommendations or the current_policy file: the dataset's demand and lead times
        stage_inputs = dataset_stage_inputs(args.network_dir, getattr(args, "config", None))
    spec = build_networks(stages, edges, policy, args.periods_per_year, schedules, stage_inputs, args.policy,
                          apply_moq=stage_inputs is None or bool(getattr(args, "moq", False)))
    res = simulate(spec["networks"], spec["policies"], spec["demand"], spec["lead_times"],
                   seeds=args.seed, replications=args.replications, periods=args.periods,
                   warmup=args.warmup, backorders=not args.lost_sales,
                   crossing=not args.no_crossing, allocation=args.allocation, costs=spec["costs"])
    table = res.to_arrow()
    keys = [k for ks in spec["keys"] for k in ks]
    table = table.add_column(0, "location", pa.array([k[1] for k in keys], pa.string()))
    table = table.add_column(0, "sku", pa.array([k[0] for k in keys], pa.string()))
    if args.out:
        if args.out.endswith(".csv"):
            pcsv.write_csv(table, args.out)
        else:
            pq.write_table(table, args.out)
        print(f"simulated {len(spec['networks'])} networks, {table.num_rows} stages -> {args.out}")
    else:
        print(f"{'sku':<12}{'location':<12}{'fill':>8}{'csl':>8}{'on_hand':>10}{'backord':>10}")
        for r in table.select(["sku", "location", "fill_rate", "cycle_service_level", "on_hand",
                               "backorders"]).to_pylist():
            fill = r["fill_rate"]
            fill_s = "     n/a" if fill is None or math.isnan(fill) else f"{fill:8.4f}"
            print(f"{r['sku']:<12}{r['location']:<12}{fill_s}{r['cycle_service_level']:8.4f}"
                  f"{r['on_hand']:10.2f}{r['backorders']:10.2f}")
        print(f"total cost per period: {float(np.sum(res.network_cost)):.4f}", file=sys.stdout)
    return 0
