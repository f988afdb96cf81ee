"""Synthetic datasets that follow the data contract, for tests, demos and benchmarks.

The network: external suppliers -> plants / central DCs -> regional DCs -> stores. Each
SKU has its own distribution tree (70 %: plant or central DC -> 1-4 regional DCs -> 2-12
stores each; 10 %: central DC -> 2-10 stores; 10 %: a single store supplied directly by
the supplier; 10 %: a single DC). SKUs are generated until exactly ``sku_locations``
stages (rows of ``stages``) exist: the last SKU's tree is cut to fit; its stages are
listed parent-first, so any prefix is still a tree.

Demand: every store has demand; a DC has wholesale demand when it is a leaf of its tree
and with probability 0.15 otherwise. Each series gets a Syntetos-Boylan class (smooth 40
%, erratic 20 %, intermittent 25 %, lumpy 15 %; ADI cut 1.32, CV^2 cut 0.49) through its
demand-occurrence probability and the coefficient of variation of its (gamma) sizes, an
annual seasonality (52-week cycle, amplitude 0-0.5) and a linear trend (-20 % .. +30 %
per year). 8 % of series start later (new items). Half the series see stockouts: in a
stocked-out period with true demand > 0, ``stocked_out`` is true and the observed
quantity is ``floor(true * u)``, u ~ U(0, 0.9), so observed < true. 0.1 % of the other
periods have a null (missing) quantity. The true demand is written to
``truth/demand_truth.parquet`` (same rows and order as ``demand``) and the per-series
parameters to ``truth/series_truth.parquet``; neither is part of the input contract.

Receipts: external suppliers ship into root stages (Ocean/Air from overseas suppliers,
Truck/Air from nearby ones; lead time = supplier handling time (gamma) + transit
(lognormal with supplier- and mode-specific mean)); internal transfers (supplier = the
upstream location, mode Truck) ship into every other stage with a lead time around the
lane's ``transit_days``.

Costs: unit cost grows downstream (plant x1.00, central DC x1.04, regional DC x1.08,
store x1.15 of the SKU's base cost); store prices carry a 40-150 % margin, DC (wholesale)
prices 85 % of the store price; carrying rates 0.15-0.35 per year; service targets by
ABC class (by SKU revenue: A = top 80 % of revenue, B = next 15 %, C = rest) A 0.98, B
0.95, C 0.90, 10 % null (cost-optimal). ``costs`` overrides the stockout cost of 5 % of
stages; ``current_policy`` holds a plausible, deliberately uneven policy of today.

Determinism: one ``numpy.random.Generator`` seeded with ``seed`` draws everything in a
fixed order, and no timestamp is written, so the same arguments give bit-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.data.loaders import write_table
from platform_core.data.schemas import FILE_SPECS

if TYPE_CHECKING:
    from platform_core.data.generate_costs import CustomerBehaviour

__all__ = ["generate_dataset", "DEMAND_CLASSES", "START_DATE", "SIGNAL_COLUMNS"]

#: Syntetos-Boylan classes, in the order of the ``demand_class`` codes used internally.
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
#: First period of the generated history (a Monday).
START_DATE = "2023-01-02"

_CLASS_P = (0.40, 0.20, 0.25, 0.15)
_N_PLANTS, _N_CDC, _N_RDC, _N_STORES, _N_SUPPLIERS, _N_GROUPS = 4, 3, 12, 400, 30, 12
_TYPES = ("plant", "central_dc", "regional_dc", "store")
_PLANT, _CDC, _RDC, _STORE = range(4)
_MARKUP = np.array([1.00, 1.04, 1.08, 1.15])
_HOME = "DE"
_OVERSEAS = ("CN", "VN", "IN", "BD", "TR")
_NEARBY = ("DE", "PL", "CZ", "IT", "FR")


def _locations() -> tuple[list[str], np.ndarray]:
    names = [f"P{i + 1:02d}" for i in range(_N_PLANTS)]
    names += [f"C{i + 1:02d}" for i in range(_N_CDC)]
    names += [f"R{i + 1:02d}" for i in range(_N_RDC)]
    names += [f"S{i + 1:04d}" for i in range(_N_STORES)]
    types = np.repeat(np.arange(4), [_N_PLANTS, _N_CDC, _N_RDC, _N_STORES])
    return names, types


def _network(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Stages as (sku index, location index, parent stage or -1), exactly ``n`` of them."""
    rdc0 = _N_PLANTS + _N_CDC
    store0 = rdc0 + _N_RDC
    stores_of_rdc = [store0 + np.arange(r, _N_STORES, _N_RDC) for r in range(_N_RDC)]
    sku: list[int] = []
    loc: list[int] = []
    parent: list[int] = []
    s = 0
    while len(loc) < n:
        kind = rng.choice(4, p=(0.7, 0.1, 0.1, 0.1))
        local_loc: list[int] = []
        local_par: list[int] = []
        if kind == 0:  # plant / central DC -> regional DCs -> stores
            local_loc.append(int(rng.integers(rdc0)))
            local_par.append(-1)
            for r in rng.choice(_N_RDC, size=int(rng.integers(1, 5)), replace=False):
                local_loc.append(rdc0 + int(r))
                local_par.append(0)
                me = len(local_loc) - 1
                pool = stores_of_rdc[int(r)]
                m = min(int(rng.integers(2, 13)), len(pool))
                for st in rng.choice(pool, size=m, replace=False):
                    local_loc.append(int(st))
                    local_par.append(me)
        elif kind == 1:  # central DC -> stores
            local_loc.append(_N_PLANTS + int(rng.integers(_N_CDC)))
            local_par.append(-1)
            for st in rng.choice(_N_STORES, size=int(rng.integers(2, 11)), replace=False):
                local_loc.append(store0 + int(st))
                local_par.append(0)
        elif kind == 2:  # a store supplied directly
            local_loc.append(store0 + int(rng.integers(_N_STORES)))
            local_par.append(-1)
        else:  # a single DC
            local_loc.append(_N_PLANTS + int(rng.integers(_N_CDC + _N_RDC)))
            local_par.append(-1)
        take = min(len(local_loc), n - len(loc))
        base = len(loc)
        loc += local_loc[:take]
        parent += [p if p < 0 else base + p for p in local_par[:take]]
        sku += [s] * take
        s += 1
    return np.array(sku, np.int64), np.array(loc, np.int64), np.array(parent, np.int64), s


def _strings(codes: np.ndarray, names: list[str] | pa.Array) -> pa.Array:
    """A plain string array of ``names[codes]`` built without Python strings per row."""
    dictionary = names if isinstance(names, pa.Array) else pa.array(names, pa.string())
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), dictionary)
    return pc.cast(arr, pa.string())


def _ids(prefix: str, numbers: np.ndarray, width: int = 8) -> pa.Array:
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())


def _lognormal(rng: np.random.Generator, mean: np.ndarray, cv: float | np.ndarray) -> np.ndarray:
    s2 = np.log1p(np.asarray(cv) ** 2)
    out: np.ndarray = rng.lognormal(np.log(mean) - s2 / 2, np.sqrt(s2))
    return out


def _aggregate(values: np.ndarray, parent: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Each stage's value plus the values of all its descendants."""
    out = values.astype(np.float64).copy()
    for d in range(int(depth.max(initial=0)), 0, -1):
        nodes = np.flatnonzero(depth == d)
        np.add.at(out, parent[nodes], out[nodes])
    return out


def _table(name: str, cols: dict[str, Any]) -> pa.Table:
    spec = FILE_SPECS[name]
    arrays = []
    for key, val in cols.items():
        typ = spec.column(key).type
        arrays.append(val.cast(typ) if isinstance(val, pa.Array) else pa.array(val, typ))
    return pa.Table.from_arrays(arrays, names=list(cols))


def _build(rng: np.random.Generator, n: int, periods: int, period_days: int) -> dict[str, Any]:
    loc_names, loc_type_all = _locations()
    st_sku, st_loc, parent, n_sku = _network(rng, n)
    ltype = loc_type_all[st_loc]
    depth = np.zeros(n, np.int64)
    for _ in range(4):
        depth = np.where(parent >= 0, depth[np.maximum(parent, 0)] + 1, 0)
    children = np.bincount(parent[parent >= 0], minlength=n)
    leaf = children == 0

    # --- SKU attributes
    sku_names = pa.array([f"SKU{i:06d}" for i in range(n_sku)], pa.string())
    sku_pop = np.maximum(rng.lognormal(np.log(3.0), 1.0, n_sku), 0.5)
    base_cost = np.round(rng.lognormal(np.log(20.0), 0.8, n_sku), 2) + 0.5
    margin = rng.uniform(1.4, 2.5, n_sku)
    group = rng.integers(_N_GROUPS, size=n_sku)
    supplier = rng.integers(_N_SUPPLIERS, size=n_sku)

    # --- demand series
    has_dem = (ltype == _STORE) | leaf | (rng.random(n) < 0.15)
    ser = np.flatnonzero(has_dem)
    d = len(ser)
    cls = rng.choice(4, size=d, p=_CLASS_P)
    dense = cls <= 1  # smooth, erratic
    p_occ = np.where(dense, rng.uniform(0.88, 1.0, d), rng.uniform(0.12, 0.55, d))
    cv = np.where((cls == 0) | (cls == 2), rng.uniform(0.1, 0.4, d), rng.uniform(1.0, 1.8, d))
    loc_factor = np.where(ltype[ser] == _STORE, rng.lognormal(0.0, 0.5, d), 6.0)
    mean_size = sku_pop[st_sku[ser]] * loc_factor * np.where(dense, 1.0, 1.5) + 1.0
    amp = np.where(rng.random(d) < 0.3, 0.0, rng.uniform(0.1, 0.5, d))
    phase = rng.random(d)
    trend = rng.uniform(-0.2, 0.3, d)
    so_rate = np.where(rng.random(d) < 0.5, 0.0, rng.uniform(0.01, 0.12, d))
    intro = np.where(rng.random(d) < 0.08, rng.integers(periods // 4, periods // 2 + 1, d), 0)

    t = np.tile(np.arange(periods), d)
    si = np.repeat(np.arange(d), periods)
    keep = t >= intro[si]
    t, si = t[keep], si[keep]
    m = len(t)
    years = t * (period_days / 365.25)
    level = mean_size[si] * (1.0 + amp[si] * np.sin(2 * np.pi * (years + phase[si])))
    level *= np.maximum(0.2, 1.0 + trend[si] * (years - years.mean() if m else 0.0))
    shape = 1.0 / cv[si] ** 2
    occurs = rng.random(m) < p_occ[si]
    size = rng.gamma(shape, level / shape)
    true_q = np.where(occurs, np.maximum(1.0, np.round(size)), 0.0)
    del level, shape, size, years
    so = (rng.random(m) < so_rate[si]) & (true_q > 0)
    obs = true_q.copy()
    n_so = int(so.sum())
    obs[so] = np.floor(true_q[so] * rng.uniform(0.0, 0.9, n_so))
    missing = (rng.random(m) < 0.001) & ~so
    stage_of_row = ser[si]
    start_day = int(np.datetime64(START_DATE, "D").astype(np.int64))
    period_day = start_day + t * period_days

    # --- costs, prices, ABC
    unit_cost = np.round(base_cost[st_sku] * _MARKUP[ltype], 2)
    retail = base_cost[st_sku] * _MARKUP[_STORE] * margin[st_sku]
    price = np.round(np.where(ltype == _STORE, retail, 0.85 * retail), 2)
    true_sum = np.bincount(si, weights=true_q, minlength=d)
    n_rows = np.bincount(si, minlength=d)
    revenue = np.bincount(st_sku[ser], weights=true_sum * price[ser], minlength=n_sku)
    order = np.argsort(-revenue, kind="stable")
    share = np.cumsum(revenue[order]) / max(revenue.sum(), 1e-12)
    abc_sorted = np.where(share <= 0.80, 0, np.where(share <= 0.95, 1, 2))
    abc_sorted[0] = 0  # the top SKU is always A
    abc = np.empty(n_sku, np.int64)
    abc[order] = abc_sorted
    stage_abc = abc[st_sku]
    target = np.array([0.98, 0.95, 0.90])[stage_abc]
    target_null = rng.random(n) < 0.10
    carrying = np.round(rng.uniform(0.15, 0.35, n), 3)
    ord_cost = np.round(np.select([ltype == _STORE, ltype == _PLANT],
                                  [rng.uniform(5, 20, n), rng.uniform(150, 600, n)],
                                  rng.uniform(40, 150, n)), 2)
    review = np.select([ltype == _STORE, ltype == _PLANT],
                       [np.ones(n, np.int64), rng.choice([2, 4], n)], rng.choice([1, 1, 2], n))

    # --- flows (mean and variance of demand per period incl. descendants)
    mean_own = np.zeros(n)
    var_own = np.zeros(n)
    mu = true_sum / np.maximum(n_rows, 1)
    mean_own[ser] = mu
    sq = np.bincount(si, weights=true_q**2, minlength=d) / np.maximum(n_rows, 1)
    var_own[ser] = np.maximum(sq - mu**2, 0.0)
    flow = _aggregate(mean_own, parent, depth)
    flow_var = _aggregate(var_own, parent, depth)
    root = parent < 0
    moq = np.where(root & (rng.random(n) < 0.5),
                   np.maximum(1.0, np.round(flow * rng.uniform(1, 4, n))), np.nan)

    # --- edges
    child = np.flatnonzero(~root)
    up = parent[child]
    pt, ct = ltype[up], ltype[child]
    transit = np.round(np.select([(pt <= _CDC) & (ct == _RDC), (pt == _RDC) & (ct == _STORE)],
                                 [rng.uniform(2, 6, len(child)), rng.uniform(1, 3, len(child))],
                                 rng.uniform(2, 5, len(child))), 1)
    transit_of = np.zeros(n)
    transit_of[child] = transit

    # --- suppliers and receipts
    overseas = rng.random(_N_SUPPLIERS) < 0.6
    sup_country = np.where(overseas, rng.integers(len(_OVERSEAS), size=_N_SUPPLIERS),
                           len(_OVERSEAS) + rng.integers(len(_NEARBY), size=_N_SUPPLIERS))
    countries = list(_OVERSEAS) + list(_NEARBY)
    handling = rng.uniform(2, 10, _N_SUPPLIERS)
    mode_mean = np.stack([rng.uniform(3, 7, _N_SUPPLIERS),     # Air
                          rng.uniform(25, 45, _N_SUPPLIERS),   # Ocean
                          rng.uniform(2, 8, _N_SUPPLIERS)])    # Truck
    mode_cv = np.array([0.35, 0.2, 0.3])
    n_orders = np.where(root, rng.integers(10, 27, n), rng.integers(6, 25, n))
    rs = np.repeat(np.arange(n), n_orders)
    r = len(rs)
    ext = root[rs]
    sup = supplier[st_sku[rs]]
    u_mode = rng.random(r)
    mode = np.where(overseas[sup], np.where(u_mode < 0.85, 1, 0), np.where(u_mode < 0.9, 2, 0))
    mode = np.where(ext, mode, 2)
    lt_ext = rng.gamma(4.0, handling[sup] / 4.0) + _lognormal(rng, mode_mean[mode, sup], mode_cv[mode])
    lt_int = _lognormal(rng, np.maximum(transit_of[rs], 0.5), 0.25) + rng.gamma(2.0, 0.5, r)
    lead = np.maximum(1, np.ceil(np.where(ext, lt_ext, lt_int))).astype(np.int64)
    end_day = start_day + periods * period_days
    odate = start_day + rng.integers(0, max(1, periods * period_days - 60), r)
    o = np.lexsort((odate, rs))
    rs, ext, sup, mode, lead, odate = rs[o], ext[o], sup[o], mode[o], lead[o], odate[o]
    interval = periods / n_orders[rs]
    rqty = np.maximum(1.0, np.round(flow[rs] * interval * rng.uniform(0.7, 1.3, r)))
    ext_no = np.cumsum(ext) - 1
    int_no = np.cumsum(~ext) - 1
    oid = pc.if_else(pa.array(ext), _ids("PO", ext_no), _ids("TO", int_no))
    sup_names = pa.array([f"SUP{i + 1:03d}" for i in range(_N_SUPPLIERS)] + loc_names, pa.string())
    sup_code = np.where(ext, sup, _N_SUPPLIERS + st_loc[np.maximum(parent[rs], 0)])
    country_code = np.where(ext, sup_country[sup], countries.index(_HOME))

    # --- current policy
    lt_days = np.where(root, handling[supplier[st_sku]] + mode_mean[
        np.where(overseas[supplier[st_sku]], 1, 2), supplier[st_sku]], transit_of + 1.0)
    cover = lt_days / period_days + review
    z_today = rng.uniform(0.8, 2.5, n)
    ss = np.round(z_today * np.sqrt(flow_var * cover), 1)
    upto = np.round(flow * cover + ss, 1)
    pol = np.select([ltype == _STORE, ltype == _PLANT], [0, 2], 1)
    rop = np.where(pol == 0, np.nan, np.round(np.maximum(upto - flow * review, ss), 1))
    sel = np.flatnonzero(rng.random(n) < 0.05)
    hold_override = np.where(rng.random(len(sel)) < 0.2,
                             np.round(unit_cost[sel] * carrying[sel] * rng.uniform(0.8, 1.2, len(sel)), 2),
                             np.nan)
    stockout_cost = np.round(price[sel] * rng.uniform(0.3, 1.5, len(sel)), 2)

    # --- tables
    sku_col = _strings(st_sku, sku_names)
    loc_col = _strings(st_loc, loc_names)
    stages = _table("stages", {
        "sku": sku_col, "location": loc_col,
        "location_type": _strings(ltype, list(_TYPES)),
        "unit_cost": unit_cost, "price": price, "carrying_rate": carrying,
        "service_target": pa.array(target, mask=target_null),
        "ordering_cost": ord_cost, "review_period": review,
        "moq": pa.array(moq, mask=np.isnan(moq)),
        "abc_class": _strings(stage_abc, ["A", "B", "C"]),
    })
    edges = _table("edges", {
        "upstream_sku": sku_col.take(pa.array(up)), "upstream_location": loc_col.take(pa.array(up)),
        "downstream_sku": sku_col.take(pa.array(child)),
        "downstream_location": loc_col.take(pa.array(child)),
        "quantity_per": np.ones(len(child)), "transit_days": transit,
    })
    d_sku = _strings(st_sku[stage_of_row], sku_names)
    d_loc = _strings(st_loc[stage_of_row], loc_names)
    d_period = _dates(period_day)
    demand = _table("demand", {
        "sku": d_sku, "location": d_loc, "period": d_period,
        "quantity": pa.array(obs, mask=missing), "stocked_out": so,
    })
    receipts = _table("receipts", {
        "order_id": oid, "sku": _strings(st_sku[rs], sku_names), "location": _strings(st_loc[rs], loc_names),
        "supplier": _strings(sup_code, sup_names),
        "order_date": _dates(odate), "receipt_date": _dates(odate + lead),
        "quantity": rqty, "shipment_mode": _strings(mode, ["Air", "Ocean", "Truck"]),
        "country": _strings(country_code, countries),
        "product_group": _strings(group[st_sku[rs]], [f"PG{i + 1:02d}" for i in range(_N_GROUPS)]),
    })
    costs = _table("costs", {
        "sku": sku_col.take(pa.array(sel)), "location": loc_col.take(pa.array(sel)),
        "holding_cost": pa.array(hold_override, mask=np.isnan(hold_override)),
        "stockout_cost": stockout_cost,
        "ordering_cost": pa.nulls(len(sel), pa.float64()),
    })
    policy = _table("current_policy", {
        "sku": sku_col, "location": loc_col,
        "policy_type": _strings(pol, ["base_stock", "min_max", "sS"]),
        "reorder_point": pa.array(rop, mask=np.isnan(rop)),
        "order_up_to": upto, "safety_stock": ss,
    })
    truth = pa.table({
        "sku": d_sku, "location": d_loc, "period": d_period,
        "true_quantity": pa.array(true_q), "stocked_out": pa.array(so),
    })
    series = pa.table({
        "sku": sku_col.take(pa.array(ser)), "location": loc_col.take(pa.array(ser)),
        "demand_class": _strings(cls, list(DEMAND_CLASSES)),
        "occurrence_probability": p_occ, "size_cv": cv, "mean_size": mean_size,
        "season_amplitude": amp, "season_phase": phase, "trend_per_year": trend,
        "stockout_rate": so_rate, "first_period": intro,
    })
    info = {
        "skus": n_sku, "stages": n, "edges": len(child), "demand_series": d, "demand_rows": m,
        "receipts": r, "stocked_out_periods": n_so, "missing_quantities": int(missing.sum()),
        "locations": {typ: int(np.unique(st_loc[ltype == k]).size) for k, typ in enumerate(_TYPES)},
        "demand_classes": {c: int((cls == k).sum()) for k, c in enumerate(DEMAND_CLASSES)},
        "abc_skus": {c: int((abc == k).sum()) for k, c in enumerate("ABC")},
        "end_date": str(np.datetime64(end_day, "D")),
    }
    return {
        "coupling": {"sku": st_sku, "leaf": leaf, "location": st_loc, "loc_names": loc_names, "unit_cost": unit_cost,
                     "supplier": np.where(root, supplier[st_sku], -1), "flow": flow,
                     "stock": ss + flow * review / 2.0},
        "tables": {"stages": stages, "edges": edges, "demand": demand, "receipts": receipts,
                   "costs": costs, "current_policy": policy},
        "truth": {"demand_truth": truth, "series_truth": series},
        "info": info,
    }


#: Signal columns of ``generate_dataset(signals=True)``: one leads demand by 2 periods, two are noise.
SIGNAL_COLUMNS = ("pos_lead2", "noise_orders", "noise_index")


def _signals(rng: np.random.Generator, built: dict[str, Any], periods: int, period_days: int) -> None:
    """Add the ``signals`` table (and the true demand of the next 2 periods) to ``built``.

    ``pos_lead2`` at period ``t`` is the true demand of ``t + 2`` times a lognormal error
    (sd 0.2 of its log); ``noise_orders`` is drawn like demand but independently of it;
    ``noise_index`` is an AR(1) index around 100 (coefficient 0.8, innovations sd 5). The
    periods after the history are drawn from each series' own process (level, season,
    trend, occurrence, gamma sizes). Drawn after everything else: the other tables are
    the same with or without signals.
    """
    truth, par = built["truth"]["demand_truth"], built["truth"]["series_truth"]
    first = par.column("first_period").to_numpy().astype(np.int64)
    d = first.size
    n_rows = periods - first
    true_q = truth.column("true_quantity").to_numpy()
    si = np.repeat(np.arange(d), n_rows)
    t_all = np.concatenate([np.arange(f, periods) for f in first]) if d else np.zeros(0, np.int64)
    ybar = float((t_all * (period_days / 365.25)).mean()) if t_all.size else 0.0
    col = {k: par.column(k).to_numpy() for k in ("occurrence_probability", "size_cv", "mean_size",
                                                  "season_amplitude", "season_phase", "trend_per_year")}
    fut_t = np.repeat(np.array([[periods, periods + 1]]), d, axis=0)
    years = fut_t * (period_days / 365.25)
    level = col["mean_size"][:, None] * (1.0 + col["season_amplitude"][:, None] * np.sin(
        2 * np.pi * (years + col["season_phase"][:, None])))
    level *= np.maximum(0.2, 1.0 + col["trend_per_year"][:, None] * (years - ybar))
    shape = 1.0 / col["size_cv"][:, None] ** 2
    occurs = rng.random((d, 2)) < col["occurrence_probability"][:, None]
    future = np.where(occurs, np.maximum(1.0, np.round(rng.gamma(shape, level / shape))), 0.0)
    ends = np.cumsum(n_rows)
    ahead = np.empty(true_q.size)  # true demand two periods after each row
    for i in range(d):  # series by series: the last two rows look into the future
        a, b = int(ends[i] - n_rows[i]), int(ends[i])
        ahead[a:b] = np.concatenate([true_q[a:b], future[i]])[2:]
    m = true_q.size
    pos = np.round(ahead * np.exp(rng.normal(0.0, 0.2, m)), 2)
    cv = col["size_cv"][si]
    decoy_shape = 1.0 / cv**2
    decoy = np.where(rng.random(m) < col["occurrence_probability"][si],
                     np.maximum(1.0, np.round(rng.gamma(decoy_shape, col["mean_size"][si] / decoy_shape))), 0.0)
    shocks = rng.normal(0.0, 5.0, m)
    index = np.empty(m)
    for i in range(d):
        a, b = int(ends[i] - n_rows[i]), int(ends[i])
        x = 100.0
        for r in range(a, b):
            x = 100.0 + 0.8 * (x - 100.0) + shocks[r]
            index[r] = x
    built["tables"]["signals"] = pa.table({
        "sku": truth.column("sku"), "location": truth.column("location"), "period": truth.column("period"),
        SIGNAL_COLUMNS[0]: pa.array(pos), SIGNAL_COLUMNS[1]: pa.array(decoy),
        SIGNAL_COLUMNS[2]: pa.array(np.round(index, 3)),
    })
    start_day = int(np.datetime64(START_DATE, "D").astype(np.int64))
    built["truth"]["demand_future"] = pa.table({
        "sku": pa.array(np.repeat(par.column("sku").to_numpy(zero_copy_only=False), 2), pa.string()),
        "location": pa.array(np.repeat(par.column("location").to_numpy(zero_copy_only=False), 2), pa.string()),
        "period": _dates(start_day + fut_t.reshape(-1) * period_days),
        "true_quantity": pa.array(future.reshape(-1)),
    })


def generate_dataset(
    out_dir: str | os.PathLike[str],
    sku_locations: int,
    seed: int,
    periods: int = 104,
    period_days: int = 7,
    fmt: str = "parquet",
    *,
    overwrite: bool = False,
    signals: bool = False,
    cost_history: bool = False,
    constraints: bool = False,
    customer_behaviour: CustomerBehaviour | None = None,
) -> dict[str, Any]:
    """Write a realistic synthetic dataset (see module doc) into directory ``out_dir``.

    The files are built in a temporary directory next to ``out_dir`` and renamed into
    place at the end, so a failure leaves nothing half-written.

    Args:
        out_dir: directory to create (must not exist or be empty unless ``overwrite``).
        sku_locations: exact number of stages (SKU-locations, rows of ``stages``) [-].
        seed: random seed; the same arguments give bit-identical files.
        periods: number of demand periods per series [periods].
        period_days: length of a period [days].
        fmt: ``"parquet"`` or ``"csv"`` for the input files (the truth is always Parquet).
        overwrite: replace an existing non-empty ``out_dir``.
        signals: also write ``signals`` (:data:`SIGNAL_COLUMNS`: one signal leading demand
            by 2 periods, two noise) and ``truth/demand_future.parquet`` (the true demand of
            the 2 periods after the history); the other files do not change.
        cost_history: also write ``order_lines`` and ``expedites`` with a known switching
            and expediting truth (:mod:`platform_core.data.generate_costs`); the other
            files are the same either way.
        customer_behaviour: with ``cost_history``, the customers' behaviour after a stockout
            (default: the generator's; see :class:`~platform_core.data.generate_costs.CustomerBehaviour`).
        constraints: also write ``unit_volume_m3`` and ``supplier`` in ``stages`` and a
            ``constraints`` table (see :func:`_with_constraints`); the other files are
            bit-identical to those without it.

    Returns:
        The content of ``generator.json`` (parameters, counts, files) plus
        ``elapsed_s`` [s], the wall time of the call (not written to the file).

    Raises:
        ValueError: on a bad argument.
        FileExistsError: if ``out_dir`` is a non-empty directory and not ``overwrite``.
    """
    t0 = time.perf_counter()
    if sku_locations < 1:
        raise ValueError(f"sku_locations must be >= 1, got {sku_locations}")
    if periods < 8:
        raise ValueError(f"periods must be >= 8, got {periods}")
    if period_days < 1:
        raise ValueError(f"period_days must be >= 1, got {period_days}")
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', got {fmt!r}")
    out = Path(out_dir)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty directory")
    out.parent.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    built = _build(rng, int(sku_locations), int(periods), int(period_days))
    if signals:
        _signals(rng, built, int(periods), int(period_days))
    cost_truth = None
    if cost_history:
        from platform_core.data.generate_costs import cost_history as _history

        extra, extra_truth, cost_truth = _history(built["tables"], seed, int(periods), int(period_days), START_DATE,
                                                  customer_behaviour)
        built["tables"].update(extra)
        built["truth"].update(extra_truth)
    if constraints:
        _with_constraints(built, np.random.default_rng([int(seed), 17]))
    files = [f"{name}.{fmt}" for name in built["tables"]]
    files += [f"truth/{name}.parquet" for name in built["truth"]]
    meta: dict[str, Any] = {
        "generator": "platform_core.data.generate",
        "version": 1,
        "parameters": {"sku_locations": int(sku_locations), "seed": int(seed), "periods": int(periods),
                       "period_days": int(period_days), "fmt": fmt, "start_date": START_DATE,
                       **({"signals": True} if signals else {})},
        "counts": built["info"],
        "files": files,
    }
    if constraints:
        meta["parameters"]["constraints"] = True
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)
        for name, table in built["tables"].items():
            write_table(table, tmp / f"{name}.{fmt}")
        for name, table in built["truth"].items():
            write_table(table, tmp / "truth" / f"{name}.parquet")
        (tmp / "generator.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if cost_truth is not None:
            (tmp / "truth" / "cost_truth.json").write_text(json.dumps(cost_truth, indent=2, sort_keys=True) + "\n")
        if out.exists():
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()
                os.replace(tmp, out)
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
                os.replace(out, old / "x")
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**meta, "elapsed_s": round(time.perf_counter() - t0, 3)}


def _with_constraints(built: dict[str, Any], rng: np.random.Generator) -> None:
    """Item volumes, root stages' suppliers and a ``constraints`` table, from their own generator.

    Volume per SKU [m3/unit]: lognormal around 0.01 (the same at every location). The
    limits are rough, from today's policy (safety stock + half a review's flow per stage):
    space at the location with the most customer-facing stages 60 % of that stock's volume (p95), the
    budget 60 % of its value, the capacity of the supplier of the most root stages 120 % of
    their mean flow (not binding). Run once and set limits from its ``summary.json``.
    """
    c = built["coupling"]
    n_sku = int(c["sku"].max()) + 1
    volume = np.round(rng.lognormal(np.log(0.01), 0.7, n_sku), 5)[c["sku"]] + 1e-4
    sup = c["supplier"]
    stages = built["tables"]["stages"]
    stages = stages.append_column("unit_volume_m3", pa.array(volume, pa.float64()))
    names = [f"SUP{i + 1:03d}" for i in range(_N_SUPPLIERS)]
    stages = stages.append_column("supplier", pa.array([names[x] if x >= 0 else None for x in sup.tolist()],
                                                       pa.string()))
    built["tables"]["stages"] = stages
    loc = int(np.bincount(c["location"][c["leaf"]]).argmax())  # the store with the most SKUs
    at = c["location"] == loc
    stock = c["stock"]
    top = int(np.bincount(sup[sup >= 0]).argmax()) if np.any(sup >= 0) else -1
    rows: list[tuple[str, str, str | None, str | None, float, str, str]] = [
        ("space_" + c["loc_names"][loc], "location_space", c["loc_names"][loc], None,
         round(0.6 * float((volume * stock)[at].sum()), 3), "m3", "p95"),
        ("budget", "budget", None, None, round(0.6 * float((c["unit_cost"] * stock).sum()), 2), "currency",
         "on_hand_value")]
    if top >= 0:
        rows.append((f"capacity_{names[top]}", "supplier_capacity", None, names[top],
                     round(1.2 * float(c["flow"][sup == top].sum()), 3), "units/period", "mean"))
    cols = list(zip(*rows, strict=True))
    built["tables"]["constraints"] = pa.table({
        "constraint_id": pa.array(cols[0], pa.string()), "constraint_type": pa.array(cols[1], pa.string()),
        "location": pa.array(cols[2], pa.string()), "supplier": pa.array(cols[3], pa.string()),
        "limit": pa.array(cols[4], pa.float64()), "unit": pa.array(cols[5], pa.string()),
        "statistic": pa.array(cols[6], pa.string()),
    })
