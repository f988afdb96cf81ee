"""Calibration of demand and lead-time models on a holdout, as aggregated tables.

Demand: the last ``horizon`` periods of every (sampled) series are held out; a model
fitted on (or, when frozen, fed with) the earlier part predicts the per-period demand
distribution, which is scored against each held-out period
(:func:`echelon_mlflow.scoring.score_distributions`).  Lead times: receipt lines ordered
in the last ``horizon`` periods before the latest order date are held out; the model
learns from the earlier lines and predicts the held-out lines' lead times [periods].

Three tables per model and run (Parquet artifacts; never one MLflow run per SKU):

* ``observations``: one row per scored outcome (``sku, location, step, y, pit, crps, ...``
  plus the group columns) — what the monitor compares over time;
* ``per_sku``: one row per SKU-location: ``n, crps, scaled_crps, pinball_50, pinball_90,
  coverage_80, coverage_90, mean_pit, bias`` plus the group columns;
* ``summary``: one row per ``(group_by, group)`` including ``("all", "all")``, with the
  same metrics and the PIT histogram ``pit_00 .. pit_09`` (share per tenth) [-].
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from echelon_mlflow.scoring import PIT_BINS, SCORES, pit_histogram, score_distributions
from platform_core.components import DemandSeries
from platform_core.data.columns import lead_time_days, plain_strings
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.classes import classify

__all__ = [
    "DEMAND_GROUPS",
    "LEAD_TIME_GROUPS",
    "Holdout",
    "Calibration",
    "demand_holdout",
    "lead_time_holdout",
    "calibrate",
    "sample_skus",
]

DEMAND_GROUPS = ("demand_class", "product_group", "location_type")
LEAD_TIME_GROUPS = ("shipment_mode", "product_group")
_METRICS = ("crps", "scaled_crps", "pinball_50", "pinball_90", "coverage_80", "coverage_90",
            "mean_pit", "bias")


@dataclass
class Holdout:
    """What a model is calibrated on.

    Attributes:
        kind: ``"demand"`` or ``"lead_time"``.
        sku: SKU per row.
        location: location per row.
        outcomes: (n, H) held-out outcomes ([units/period] or [periods]); NaN = none.
        scale: per-row scale of the scaled CRPS (mean training demand) [units/period].
        groups: group_by -> label per row.
        as_of: date of the latest period of the history (ISO).
        train: demand: the :class:`DemandSeries` before the holdout; lead time: the
            receipts before the holdout (``pa.Table``).
        test: lead time only: the held-out receipt lines.
    """

    kind: str
    sku: np.ndarray
    location: np.ndarray
    outcomes: np.ndarray
    scale: np.ndarray
    groups: dict[str, np.ndarray]
    as_of: str
    train: Any
    test: pa.Table | None = None

    def __len__(self) -> int:
        return int(self.sku.size)


@dataclass
class Calibration:
    """Calibration of one model in one run (see the module docstring).

    Attributes:
        kind: ``"demand"`` or ``"lead_time"``.
        model: component name, e.g. ``"quantile_gbm"``.
        version: registered model version, or ``"local"`` (refitted every run).
        observations: one row per scored outcome.
        per_sku: one row per SKU-location.
        summary: one row per (group_by, group).
        overall: metrics of the ``all`` row.
    """

    kind: str
    model: str
    version: str
    observations: pa.Table
    per_sku: pa.Table
    summary: pa.Table
    overall: dict[str, float] = field(default_factory=dict)


def sample_skus(keys: pa.Table, max_keys: int | None) -> pa.Array | None:
    """SKUs whose SKU-locations number at most ``max_keys``, by a stable hash of the SKU.

    Whole SKUs are sampled (all their locations), so product groups and networks stay
    complete and the same SKUs are followed from run to run.

    Args:
        keys: a table with ``sku`` and ``location`` (e.g. the stages).
        max_keys: the cap (None = no sampling).

    Returns:
        The chosen SKUs, or None when every SKU fits under the cap.
    """
    if max_keys is None or keys.num_rows <= max_keys:
        return None
    counts = keys.select(["sku", "location"]).group_by(["sku"]).aggregate([("location", "count_distinct")])
    sku = counts.column("sku").to_pylist()
    n = counts.column("location_count_distinct").to_numpy(zero_copy_only=False)
    h = np.fromiter((zlib.crc32(str(x).encode()) for x in sku), dtype=np.int64, count=len(sku))
    order = np.argsort(h, kind="stable")
    take = max(1, int(np.searchsorted(np.cumsum(n[order]), int(max_keys), side="right")))
    return pa.array([sku[i] for i in order[:take]], pa.string())


def _sample(table: pa.Table, keys: pa.Table | None, max_keys: int | None) -> pa.Table:
    chosen = sample_skus(keys if keys is not None else table, max_keys)
    if chosen is None:
        return table
    return table.filter(pc.is_in(table.column("sku"), value_set=chosen))


def _strings(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(col.to_numpy(zero_copy_only=False)).astype(str)


def _lookup(sku: np.ndarray, location: np.ndarray | None, table: pa.Table | None, column: str) -> np.ndarray:
    """``column`` of ``table`` per (sku[, location]); ``"unknown"`` where absent."""
    out = np.full(sku.size, "unknown", dtype=object)
    if table is None or column not in table.column_names or table.num_rows == 0 or sku.size == 0:
        return out
    table = table.filter(pc.is_in(table.column("sku"), value_set=pa.array(np.unique(sku.astype(str)))))
    ts = _strings(table.column("sku"))
    tv = table.column(column).cast(pa.string()).fill_null("unknown").to_numpy(zero_copy_only=False)
    if location is None:
        ref = dict(zip(ts, tv, strict=True))
        keys: Sequence[Any] = list(sku)
    else:
        tl = _strings(table.column("location"))
        ref = dict(zip(zip(ts, tl, strict=True), tv, strict=True))
        keys = list(zip(sku, location, strict=True))
    return np.array([ref.get(k, "unknown") for k in keys], dtype=object)


def _series(demand: pa.Table) -> DemandSeries:
    """Demand series sorted by sku, location, period (key ``sku@location``), vectorised."""
    t = plain_strings(demand).sort_by([("sku", "ascending"), ("location", "ascending"), ("period", "ascending")])
    n = t.num_rows
    q = t.column("quantity").cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
    if "stocked_out" in t.column_names:
        so = t.column("stocked_out").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    else:
        so = np.zeros(n, dtype=bool)
    if n == 0:
        return DemandSeries([], np.zeros(0), np.zeros(0, dtype=bool), np.zeros(1, dtype=np.int64))
    codes = []
    for c in ("sku", "location"):
        enc = pc.dictionary_encode(t.column(c)).combine_chunks()
        codes.append(enc.indices.to_numpy(zero_copy_only=False))
    change = np.flatnonzero((codes[0][1:] != codes[0][:-1]) | (codes[1][1:] != codes[1][:-1])) + 1
    indptr = np.concatenate(([0], change, [n])).astype(np.int64)
    first = indptr[:-1]
    sk = t.column("sku").take(pa.array(first)).to_pylist()
    lc = t.column("location").take(pa.array(first)).to_pylist()
    keys = [f"{a}@{b}" for a, b in zip(sk, lc, strict=True)]
    return DemandSeries(keys, np.asarray(q, dtype=np.float64), so, indptr)


def demand_holdout(
    demand: pa.Table,
    horizon: int = 8,
    *,
    stages: pa.Table | None = None,
    receipts: pa.Table | None = None,
    max_series: int | None = 2000,
    min_train: int = 12,
) -> Holdout:
    """Split the demand history into a training part and the last ``horizon`` periods.

    Args:
        demand: demand table (schema ``DEMAND``).
        horizon: held-out periods per series [periods].
        stages: stages table (for ``location_type``).
        receipts: receipts table (for ``product_group`` per SKU).
        max_series: calibrate the series of SKUs with at most this many SKU-locations
            in all (stable hash sample of whole SKUs, :func:`sample_skus`).
        min_train: series with fewer training periods are skipped [periods].

    Returns:
        The holdout; groups ``demand_class`` (of the training part), ``product_group``
        and ``location_type``.
    """
    h = int(horizon)
    demand = _sample(demand, stages, max_series)
    ds = _series(demand)
    indptr = np.asarray(ds.indptr, dtype=np.int64)
    lengths = np.diff(indptr)
    keep = np.flatnonzero(lengths >= h + int(min_train))
    train_len = lengths[keep] - h
    new_ptr = np.zeros(keep.size + 1, dtype=np.int64)
    np.cumsum(train_len, out=new_ptr[1:])
    within = np.arange(int(new_ptr[-1])) - np.repeat(new_ptr[:-1], train_len)
    src = np.repeat(indptr[keep], train_len) + within
    values = np.asarray(ds.values, dtype=np.float64)
    so = np.asarray(ds.stocked_out, dtype=bool)
    train = DemandSeries([ds.keys[i] for i in keep], values[src], so[src], new_ptr)
    Y = values[(indptr[keep + 1] - h)[:, None] + np.arange(h)[None, :]] if keep.size else np.zeros((0, h))
    sku = np.array([k.split("@", 1)[0] for k in train.keys], dtype=object)
    loc = np.array([k.split("@", 1)[1] for k in train.keys], dtype=object)
    with np.errstate(invalid="ignore"):
        tv = np.where(np.isnan(values[src]), np.nan, values[src])
        sums = np.add.reduceat(np.nan_to_num(tv), new_ptr[:-1]) if keep.size else np.zeros(0)
        cnt = np.add.reduceat(~np.isnan(tv), new_ptr[:-1]) if keep.size else np.zeros(0)
    scale = np.where(cnt > 0, sums / np.maximum(cnt, 1), 0.0)
    groups = {
        "demand_class": np.asarray(classify(train).label, dtype=object) if keep.size else np.zeros(0, object),
        "product_group": _lookup(sku, None, receipts, "product_group"),
        "location_type": _lookup(sku, loc, stages, "location_type"),
    }
    as_of = str(pc.max(demand.column("period")).as_py()) if demand.num_rows else ""
    return Holdout("demand", sku, loc, Y, scale, groups, as_of, train)


def lead_time_holdout(
    receipts: pa.Table,
    horizon: int = 8,
    period_days: float = 7.0,
    *,
    stages: pa.Table | None = None,
    max_lanes: int | None = 2000,
) -> Holdout:
    """Hold out the receipt lines ordered in the last ``horizon`` periods.

    Args:
        receipts: receipts table (schema ``RECEIPTS``).
        horizon: held-out periods [periods].
        period_days: length of a period [days].
        stages: stages table (the SKU-locations sampled from).
        max_lanes: keep the lines of SKUs with at most this many SKU-locations in all.

    Returns:
        The holdout (``train`` and ``test`` are receipt tables; outcomes in periods).
    """
    t = _sample(receipts, stages, max_lanes)
    ks, kl = _strings(t.column("sku")), _strings(t.column("location"))
    day = t.column("order_date").cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    cutoff = (int(day.max()) if day.size else 0) - int(round(horizon * period_days))
    test_mask = day > cutoff
    train = t.filter(pa.array(~test_mask))
    test = t.filter(pa.array(test_mask))
    days = lead_time_days(test)
    y = np.rint(days / float(period_days))[:, None]
    groups = {g: (test.column(g).cast(pa.string()).fill_null("unknown").to_numpy(zero_copy_only=False)
                  .astype(object) if g in test.column_names else np.full(test.num_rows, "unknown", object))
              for g in LEAD_TIME_GROUPS}
    as_of = str(pc.max(receipts.column("order_date")).as_py()) if receipts.num_rows else ""
    return Holdout("lead_time", ks[test_mask].astype(object), kl[test_mask].astype(object), y,
                   np.ones(test.num_rows), groups, as_of, train, test)


def _aggregate(codes: np.ndarray, k: int, obs: dict[str, np.ndarray], scale: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group means of the observation scores (codes: group code per observation)."""
    n = np.bincount(codes, minlength=k).astype(np.float64)
    den = np.maximum(n, 1.0)

    def mean(v: np.ndarray) -> np.ndarray:
        return np.where(n > 0, np.bincount(codes, weights=v, minlength=k) / den, np.nan)

    sc = np.where(scale > 0, obs["crps"] / np.where(scale > 0, scale, 1.0), np.nan)
    ok_sc = np.isfinite(sc)
    n_sc = np.bincount(codes, weights=ok_sc.astype(np.float64), minlength=k)
    out = {
        "n": n,
        "crps": mean(obs["crps"]),
        "scaled_crps": np.where(n_sc > 0, np.bincount(codes, weights=np.where(ok_sc, sc, 0.0), minlength=k)
                                / np.maximum(n_sc, 1.0), np.nan),
        "pinball_50": mean(obs["pinball_50"]),
        "pinball_90": mean(obs["pinball_90"]),
        "coverage_80": mean(obs["covered_80"]),
        "coverage_90": mean(obs["covered_90"]),
        "mean_pit": mean(obs["pit"]),
        "bias": mean(obs["y"] - obs["median"]),
    }
    return out


def calibrate(
    holdout: Holdout,
    dists: Sequence[DiscreteDistribution],
    model: str,
    version: str = "local",
    *,
    group_by: Sequence[str] | None = None,
    seed: int = 0,
) -> Calibration:
    """Score predicted distributions on the holdout and build the three tables.

    Args:
        holdout: from :func:`demand_holdout` or :func:`lead_time_holdout`.
        dists: one predicted distribution per holdout row.
        model: component name.
        version: registered version or ``"local"``.
        group_by: group columns of the summary (default: all of the holdout's groups).
        seed: PIT randomisation seed.

    Returns:
        The :class:`Calibration`.
    """
    scores = score_distributions(dists, holdout.outcomes, seed=seed)
    n, H = holdout.outcomes.shape
    ok = ~np.isnan(holdout.outcomes)
    row, step = np.nonzero(ok)
    obs: dict[str, np.ndarray] = {k: scores[k][row, step] for k in SCORES}
    obs["y"] = holdout.outcomes[row, step]
    scale = holdout.scale[row]
    gb = [g for g in (group_by or holdout.groups) if g in holdout.groups]
    obs_table = pa.table({
        "sku": pa.array(holdout.sku[row].astype(str)),
        "location": pa.array(holdout.location[row].astype(str)),
        "step": pa.array(step + 1, pa.int32()),
        "y": obs["y"],
        **{k: obs[k] for k in SCORES},
        **{g: pa.array(holdout.groups[g][row].astype(str)) for g in gb},
    })
    # per SKU-location
    if holdout.kind == "demand":
        codes, keys = row, np.arange(n)
    else:
        kk = np.char.add(np.char.add(holdout.sku.astype(str), "@"), holdout.location.astype(str))
        uk, first, inv = np.unique(kk, return_index=True, return_inverse=True)
        codes, keys = inv[row], first
    k = int(keys.size)
    agg = _aggregate(codes, k, obs, scale)
    per_sku = pa.table({
        "sku": pa.array(holdout.sku[keys].astype(str)),
        "location": pa.array(holdout.location[keys].astype(str)),
        **{m: agg[m] if m != "n" else agg[m].astype(np.int64) for m in ("n", *_METRICS)},
        **{g: pa.array(holdout.groups[g][keys].astype(str)) for g in gb},
    })
    # summary per group
    rows: list[dict[str, Any]] = []
    for g in ["all", *gb]:
        labels = np.full(row.size, "all", dtype=object) if g == "all" else holdout.groups[g][row]
        uniq, inv = np.unique(labels.astype(str), return_inverse=True)
        a = _aggregate(inv, uniq.size, obs, scale)
        for j, label in enumerate(uniq):
            sel = inv == j
            hist = pit_histogram(obs["pit"][sel])
            rec: dict[str, Any] = {"group_by": g, "group": str(label)}
            rec.update({m: float(a[m][j]) for m in ("n", *_METRICS)})
            rec["n"] = int(a["n"][j])
            rec.update({f"pit_{b:02d}": float(hist[b]) for b in range(PIT_BINS)})
            rows.append(rec)
    summary = pa.Table.from_pylist(rows)
    overall = {m: float(v) for m, v in rows[0].items() if m not in ("group_by", "group")} if rows else {}
    return Calibration(holdout.kind, model, str(version), obs_table, per_sku, summary, overall)
