"""Lead-time regime shifts per lane and per supplier, learned from the receipts.

A receipt's lead time is ``receipt_date - order_date`` [days]; the detectors watch
``x = log(1 + days)``, on which a lead time ``c`` times longer is a shift of ``log(c)``
whatever the lane's usual lead time.

* Lane ``(sku, location, supplier)``: baseline mean ``mu`` and sd ``sigma`` (at least
  :data:`SIGMA_FLOOR`) of ``x`` over its latest :data:`HISTORY_RECEIPTS` receipts (at
  least :data:`MIN_RECEIPTS`); each new receipt gives ``z = (x - mu) / sigma``, scored
  to exactly N(0, 1) under normal noise whatever the baseline's size
  (:func:`~platform_core.incremental.calibration.lead_time_score`: ``z`` is Student-t),
  and a two-sided CUSUM of the scores with allowance ``k = log(1.5) / (2 sigma)`` (tuned
  to +50 %).
* Supplier, pooled across its lanes: the same CUSUM over the scores of every receipt
  from the supplier in receipt order (a lane with too few receipts is standardised by
  the supplier's own pooled baseline), so a supplier that turns late on all its lanes
  is seen after a few receipts even when each lane gets one now and then.

Thresholds (:func:`platform_core.incremental.calibration.lead_time_threshold`) are set by
simulation so that a lane or supplier without change alarms with the set probability
per year, given its receipts per year and the receipts its baseline rests on; a supplier
with many lanes pools independent N(0, 1) scores, whose threshold is known at any volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.data.columns import lead_time_days
from platform_core.incremental.calibration import (
    lead_time_score,
    lead_time_statistics,
    lead_time_threshold,
    snap_k,
)

__all__ = ["LeadTimeState", "fit_lead_time_state", "update_lead_time_state", "fill_lead_time_thresholds", "STATS", "lane_keys", "receipt_days",
           "SHIFT_RATIO", "HISTORY_RECEIPTS", "MIN_RECEIPTS", "SIGMA_FLOOR"]

#: Lead-time ratio the detectors are tuned to [-].
SHIFT_RATIO = 1.5
#: Receipts a baseline is fitted on (the latest ones) [-].
HISTORY_RECEIPTS = 50
#: A lane with fewer receipts gets no lane detector [-].
MIN_RECEIPTS = 5
#: Least sd of log(1 + lead time) [-] (a lane that always took 7 days: one day late is 1.3 sd).
SIGMA_FLOOR = 0.1
_SEP = "\x1f"
LANE, SUPPLIER, NEW_LANE = "lead_time_lane", "lead_time_supplier", "lead_time_new_lane"


def lane_keys(table: pa.Table) -> pa.Array:
    """``sku␟location␟supplier`` per row."""
    cols = [pc.fill_null(pc.cast(table.column(c), pa.string()), "") for c in ("sku", "location", "supplier")]
    return pc.binary_join_element_wise(*cols, _SEP).combine_chunks()


def receipt_days(table: pa.Table) -> np.ndarray:
    """Receipt date of every row [days since 1970-01-01]."""
    return np.asarray(table.column("receipt_date").cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass
class LeadTimeState:
    """Detectors of every lane and supplier.

    Attributes:
        lane_key: ``sku␟location␟supplier`` per lane; lane_supplier: its supplier's index.
        supplier: supplier names.
        For lanes and suppliers (``lane_*`` / ``supplier_*``): ``mu``, ``sigma`` [log days],
        ``n`` receipts in the baseline, ``k`` allowance [-], ``h`` threshold [-] (inf: off),
        ``up``, ``down`` CUSUM statistics [-].
        cutoff_day: the latest receipt date the state has seen [days since 1970-01-01].
    """

    lane_key: np.ndarray
    lane_supplier: np.ndarray
    supplier: np.ndarray
    lane: dict[str, np.ndarray]
    sup: dict[str, np.ndarray]
    cutoff_day: int


def _encode(arr: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    out: pa.DictionaryArray = pc.dictionary_encode(arr)
    return out


def _recent(codes: np.ndarray, day: np.ndarray, tie: np.ndarray, limit: int) -> np.ndarray:
    """Mask of each group's latest ``limit`` rows (by day, then ``tie``)."""
    order = np.lexsort((-tie, -day, codes))
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if codes.size else np.zeros(0, int)
    rank = np.arange(codes.size) - np.repeat(starts, np.diff(np.r_[starts, codes.size]))
    keep = np.zeros(codes.size, dtype=bool)
    keep[order[rank < limit]] = True
    return keep


def _moments(codes: np.ndarray, x: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.bincount(codes, minlength=n_groups).astype(np.float64)
    s = np.bincount(codes, weights=x, minlength=n_groups)
    mu = s / np.maximum(n, 1)
    ss = np.bincount(codes, weights=(x - mu[codes]) ** 2, minlength=n_groups)
    sigma = np.maximum(np.sqrt(ss / np.maximum(n - 1, 1)), SIGMA_FLOOR)
    return mu, sigma, n


def _k(sigma: np.ndarray) -> np.ndarray:
    return snap_k(np.clip(np.log(SHIFT_RATIO) / (2.0 * sigma), 0.25, 1.5))


STATS = ("mu", "sigma", "n", "k", "h", "up", "down", "per_year", "base_n", "lanes")


def fit_lead_time_state(receipts: pa.Table | None, false_alarm_per_year: float,
                        thresholds: bool = True) -> LeadTimeState:
    """Baselines and thresholds of every lane and supplier in ``receipts``; statistics at zero.

    With ``thresholds=False`` the thresholds are left NaN for :func:`fill_lead_time_thresholds`.
    """
    if receipts is None or receipts.num_rows == 0:
        empty = np.zeros(0)
        blank = {k: empty for k in STATS}
        return LeadTimeState(np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object),
                             dict(blank), dict(blank), -(10**9))
    keys = _encode(lane_keys(receipts))
    lane_code = keys.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    sups = _encode(pc.cast(receipts.column("supplier"), pa.string()))
    sup_code = sups.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_lane, n_sup = len(keys.dictionary), len(sups.dictionary)
    x = np.log1p(np.maximum(lead_time_days(receipts), 0.0))
    day = receipt_days(receipts)
    cutoff = int(day.max())
    tie = np.arange(day.size)
    keep = _recent(lane_code, day, tie, HISTORY_RECEIPTS)
    mu, sigma, n = _moments(lane_code[keep], x[keep], n_lane)
    year = day > cutoff - 365
    lane_year = np.bincount(lane_code[year], minlength=n_lane).astype(np.float64)
    lane_sup = np.zeros(n_lane, dtype=np.int64)
    lane_sup[lane_code] = sup_code
    # supplier: its own pooled baseline (for lanes with few receipts) and the lane-standardised z
    keep_s = _recent(sup_code, day, tie, HISTORY_RECEIPTS * 4)
    s_mu, s_sigma, s_n = _moments(sup_code[keep_s], x[keep_s], n_sup)
    sup_year = np.bincount(sup_code[year], minlength=n_sup).astype(np.float64)
    lane_on = n >= MIN_RECEIPTS
    scale = np.where(lane_on, sigma, s_sigma[lane_sup])
    s_scale = np.bincount(sup_code, weights=scale[lane_code], minlength=n_sup) / np.maximum(
        np.bincount(sup_code, minlength=n_sup), 1)
    # the pooled z mixes the baseline errors of the supplier's lanes: calibrated on as many
    # lanes, each with the mean receipts of their baselines
    s_lanes = np.bincount(lane_sup, minlength=n_sup).astype(np.float64)
    s_base_n = np.bincount(lane_sup, weights=n, minlength=n_sup) / np.maximum(s_lanes, 1.0)
    k_lane = _k(sigma)
    k_sup = _k(s_scale)
    state = LeadTimeState(
        lane_key=np.asarray(keys.dictionary.to_pylist(), dtype=object), lane_supplier=lane_sup,
        supplier=np.asarray(sups.dictionary.to_pylist(), dtype=object),
        lane={"mu": mu, "sigma": sigma, "n": n, "k": k_lane, "h": np.where(lane_on, np.nan, np.inf),
              "up": np.zeros(n_lane), "down": np.zeros(n_lane), "per_year": np.maximum(lane_year, 1.0),
              "base_n": n, "lanes": np.ones(n_lane)},
        sup={"mu": s_mu, "sigma": s_sigma, "n": s_n, "k": k_sup, "h": np.where(s_n >= MIN_RECEIPTS, np.nan, np.inf),
             "up": np.zeros(n_sup), "down": np.zeros(n_sup), "per_year": np.maximum(sup_year, 1.0),
             "base_n": np.maximum(s_base_n, MIN_RECEIPTS), "lanes": np.maximum(s_lanes, 1.0)},
        cutoff_day=cutoff,
    )
    if thresholds:
        fill_lead_time_thresholds(state, false_alarm_per_year)
    return state


def fill_lead_time_thresholds(state: LeadTimeState, false_alarm_per_year: float) -> None:
    """Set the thresholds left NaN (in place)."""
    for group in (state.lane, state.sup):
        rows = np.flatnonzero(np.isnan(group["h"]))
        if rows.size:
            group["h"][rows] = lead_time_threshold(group["k"][rows], group["base_n"][rows], group["per_year"][rows],
                                                   float(false_alarm_per_year), group["lanes"][rows])


def _sequences(codes: np.ndarray, z: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Groups that have rows, and their ``z`` as a NaN-padded matrix in row order."""
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    groups, starts, counts = np.unique(c, return_index=True, return_counts=True)
    pos = np.arange(c.size) - np.repeat(starts, counts)
    mat = np.full((groups.size, int(counts.max()) if counts.size else 0), np.nan)
    mat[np.repeat(np.arange(groups.size), counts), pos] = z[order]
    return groups, mat


@dataclass(frozen=True)
class LeadTimeAlarms:
    """Lanes and suppliers whose lead time changed.

    Attributes:
        lanes: ``(sku, location, supplier, reason)`` rows (reason ``lead_time_lane``,
            ``lead_time_supplier`` for every lane of an alarmed supplier, or
            ``lead_time_new_lane``).
        suppliers: names of the suppliers with an alarm.
    """

    lanes: pa.Table
    suppliers: list[str]


def update_lead_time_state(state: LeadTimeState, receipts: pa.Table | None) -> LeadTimeAlarms:
    """Run the detectors over the receipts after ``state.cutoff_day`` (in place).

    New receipts are taken in receipt-date order (ties: order_id).  Returns the alarms;
    ``state.cutoff_day`` moves to the latest receipt.
    """
    empty = pa.table({"sku": pa.array([], pa.string()), "location": pa.array([], pa.string()),
                      "supplier": pa.array([], pa.string()), "reason": pa.array([], pa.string())})
    if receipts is None or receipts.num_rows == 0:
        return LeadTimeAlarms(empty, [])
    new = receipts.filter(pc.greater(receipts.column("receipt_date").cast(pa.int32()), state.cutoff_day))
    if new.num_rows == 0:
        return LeadTimeAlarms(empty, [])
    new = new.sort_by([("receipt_date", "ascending"), ("order_id", "ascending")])
    x = np.log1p(np.maximum(lead_time_days(new), 0.0))
    keys = lane_keys(new)
    lane = pc.fill_null(pc.index_in(keys, value_set=pa.array(state.lane_key.tolist(), pa.string())), -1)
    lane_idx = lane.to_numpy(zero_copy_only=False).astype(np.int64)
    sup = pc.fill_null(pc.index_in(pc.cast(new.column("supplier"), pa.string()),
                                   value_set=pa.array(state.supplier.tolist(), pa.string())), -1)
    sup_idx = sup.to_numpy(zero_copy_only=False).astype(np.int64)
    known = lane_idx >= 0
    L, S = state.lane, state.sup
    lane_on = L["n"] >= MIN_RECEIPTS
    li = np.maximum(lane_idx, 0)
    si = np.maximum(sup_idx, 0)
    z_lane = np.where(known, lead_time_score((x - L["mu"][li]) / L["sigma"][li], L["n"][li]), np.nan)
    z_sup = np.where(known & lane_on[li], z_lane, lead_time_score((x - S["mu"][si]) / S["sigma"][si], S["n"][si]))
    z_sup = np.where(sup_idx >= 0, z_sup, np.nan)

    lane_alarm = np.zeros(L["mu"].size, dtype=bool)
    groups, mat = _sequences(lane_idx[known], z_lane[known], L["mu"].size)
    if groups.size:
        up, dn, top = lead_time_statistics(mat, L["k"][groups], L["up"][groups], L["down"][groups])
        L["up"][groups], L["down"][groups] = up, dn
        lane_alarm[groups] = top > L["h"][groups]
    sup_alarm = np.zeros(S["mu"].size, dtype=bool)
    ok = sup_idx >= 0
    groups, mat = _sequences(sup_idx[ok], z_sup[ok], S["mu"].size)
    if groups.size:
        up, dn, top = lead_time_statistics(mat, S["k"][groups], S["up"][groups], S["down"][groups])
        S["up"][groups], S["down"][groups] = up, dn
        sup_alarm[groups] = top > S["h"][groups]
    state.cutoff_day = max(state.cutoff_day, int(receipt_days(new).max()))

    rows: list[tuple[str, str, str, str]] = []
    for i in np.flatnonzero(lane_alarm).tolist():
        s, loc, supplier = str(state.lane_key[i]).split(_SEP)
        rows.append((s, loc, supplier, LANE))
    for i in np.flatnonzero(sup_alarm).tolist():
        for j in np.flatnonzero(state.lane_supplier == i).tolist():
            s, loc, supplier = str(state.lane_key[j]).split(_SEP)
            rows.append((s, loc, supplier, SUPPLIER))
    unseen = pc.unique(pc.filter(keys, pa.array(~known))).to_pylist()
    for key in unseen:
        s, loc, supplier = str(key).split(_SEP)
        rows.append((s, loc, supplier, NEW_LANE))
    table = pa.table({name: pa.array([r[c] for r in rows], pa.string())
                      for c, name in enumerate(("sku", "location", "supplier", "reason"))}) if rows else empty
    return LeadTimeAlarms(table, [str(state.supplier[i]) for i in np.flatnonzero(sup_alarm).tolist()])
