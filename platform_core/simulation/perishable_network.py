"""Monte Carlo of perishable stock in a one-DC, N-store network (fixed shelf life, ages tracked).

A distribution centre (stage 0) is supplied by an external supplier with a fixed lead time
``L0`` [periods]; it supplies stores ``1 .. N`` with fixed lead times ``L_i``. A unit's
shelf life ``m`` [periods] counts from its receipt at the DC: it outdates at the end of
period ``t0 + m - 1`` wherever it is (at the DC, in transit, at a store), so a store
receives stock that has already aged at the DC and on the way. Stock is held per expiry
period (a calendar of ``m`` slots per stage and per shipment in transit).

Period ``t`` (the events of the network engine, :mod:`._kernels`, plus ageing):

1. the DC's supplier order due at ``t`` arrives fresh; shipments due at the stores
   arrive (units already past their expiry outdate at the store on arrival), clearing
   store backorders first;
2. reviews every period: each store orders ``S_i - IP_i`` (``IP_i`` = on hand + in transit
   + owed by the DC - backorders), then the DC orders ``S_0 - IP_0`` (installation
   position: on hand + on order - owed to the stores) from its supplier;
3. the DC ships what it owes, oldest store order first, oldest stock first (FIFO at the
   DC whatever the stores' issuing); what it cannot ship stays owed;
4. store demand is issued FIFO or LIFO; what is short is lost or backordered;
5. stock whose shelf life ends in ``t`` outdates (waste) at the DC and at the stores.

Random numbers follow :mod:`._rng`: store ``i``'s demand of replication ``rep`` is drawn
from ``stream_key(seed, rep, STREAM_DEMAND, i)`` at counter ``t``. With an infinite shelf
life the model is the engine's distribution network (same events, FIFO allocation), and
the test compares the two within their standard errors (the engine keys its streams by
its own stage order, so the paths differ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np

from platform_core.distributions import DiscreteDistribution, pack_distributions

from ._rng import STREAM_DEMAND, sample_table, stream_key, uniform_at

__all__ = ["NETWORK_METRICS", "PerishableNetworkResult", "simulate_perishable_network"]

#: metrics per stage (row 0: the DC, rows 1..N: the stores)
NETWORK_METRICS: tuple[tuple[str, str], ...] = (
    ("demand", "[units/period]"),  # DC: units ordered by the stores
    ("fill_rate", "[-]"),  # DC: share of store orders shipped in the period they were placed
    ("on_hand", "[units]"),
    ("backorders", "[units]"),  # DC: owed to the stores
    ("lost_sales", "[units/period]"),
    ("outdated", "[units/period]"),
    ("order_quantity", "[units/period]"),
)
_M_DEMAND, _M_FILL, _M_ON_HAND, _M_BACKORDERS, _M_LOST, _M_OUTDATED, _M_ORDERED = range(len(NETWORK_METRICS))
_N_METRICS = len(NETWORK_METRICS)
_QUEUE = 64  # owed store orders kept in time order (older ones merge into the newest)


@nb.njit(cache=True, nogil=True, inline="always")
def _take(stock: np.ndarray, s: int, t: int, life: int, want: float, lifo: bool, out: np.ndarray) -> float:
    """Take up to ``want`` units from stage ``s``'s calendar ``stock[s, slot]``; ``out[slot]`` += taken."""
    rem = want
    for k in range(life):
        e = t + (life - 1 - k if lifo else k)
        slot = e % life
        q = stock[s, slot]
        if q > 0.0:
            f = q if q <= rem else rem
            stock[s, slot] = q - f
            out[slot] += f
            rem -= f
            if rem <= 0.0:
                break
    return want - rem


@nb.njit(cache=True, nogil=True, parallel=True)
def _simulate(n_st: int, life: int, expires: bool, lt: np.ndarray, level: np.ndarray, d_cdf: np.ndarray, d_ptr: np.ndarray,
              d_off: np.ndarray, seed: np.uint64, reps: int, n_total: int, warmup: int, backorders: bool,
              lifo: bool, out: np.ndarray) -> None:
    """``out[metric, rep, stage]`` for every replication (independent: in parallel)."""
    ns = n_st + 1
    cal = 1
    while cal <= lt.max():
        cal <<= 1
    cmask = cal - 1
    for r in nb.prange(reps):
        stock = np.zeros((ns, life))  # per stage, units by expiry slot (e % life)
        transit = np.zeros((ns, cal, life))  # per store, shipments by due slot and expiry slot
        dc_arrivals = np.zeros(cal)
        in_transit = np.zeros(ns)  # per store: units on the way; [0]: the DC's supplier orders
        on_hand = np.zeros(ns)
        bo = np.zeros(ns)  # store backorders
        owed = np.zeros(ns)  # DC owes store i
        q_t = np.zeros(_QUEUE, dtype=np.int64)
        q_store = np.zeros(_QUEUE, dtype=np.int64)
        q_qty = np.zeros(_QUEUE)
        q_head = 0
        q_len = 0
        acc = np.zeros((_N_METRICS, ns))
        filled = np.zeros(ns)
        buf = np.zeros(life)
        keys = np.empty(ns, dtype=np.uint64)
        for i in range(1, ns):
            keys[i] = stream_key(seed, r, STREAM_DEMAND, i)
        for t in range(n_total):
            measure = t >= warmup
            slot_t = t & cmask
            fresh = (t + life - 1) % life  # the expiry slot of a unit received at the DC now
            # 1. receipts
            a = dc_arrivals[slot_t]
            if a > 0.0:
                dc_arrivals[slot_t] = 0.0
                in_transit[0] -= a
                stock[0, fresh] += a
                on_hand[0] += a
            for i in range(1, ns):
                got = 0.0
                for e in range(life):
                    q = transit[i, slot_t, e]
                    if q > 0.0:
                        transit[i, slot_t, e] = 0.0
                        got += q
                        stock[i, e] += q
                if got > 0.0:
                    in_transit[i] -= got
                    on_hand[i] += got
                    if bo[i] > 0.0:  # backorders first, oldest stock first
                        buf[:] = 0.0
                        f = _take(stock, i, t, life, min(bo[i], on_hand[i]), False, buf)
                        bo[i] -= f
                        on_hand[i] -= f
            # 2. orders: stores, then the DC
            for i in range(1, ns):
                q = level[i] - (on_hand[i] + in_transit[i] + owed[i] - bo[i])
                if q > 0.0:
                    owed[i] += q
                    owed[0] += q
                    if measure:
                        acc[_M_ORDERED, i] += q
                        acc[_M_DEMAND, 0] += q
                    if q_len == _QUEUE:
                        q_qty[(q_head + q_len - 1) % _QUEUE] += q
                    else:
                        p = (q_head + q_len) % _QUEUE
                        q_t[p] = t
                        q_store[p] = i
                        q_qty[p] = q
                        q_len += 1
            q0 = level[0] - (on_hand[0] + in_transit[0] - owed[0])
            if q0 > 0.0:
                if measure:
                    acc[_M_ORDERED, 0] += q0
                if lt[0] == 0:
                    stock[0, fresh] += q0
                    on_hand[0] += q0
                else:
                    dc_arrivals[(t + lt[0]) & cmask] += q0
                    in_transit[0] += q0
            # 3. the DC ships, oldest store order first, oldest stock first
            while q_len > 0 and on_hand[0] > 0.0:
                p = q_head
                i = q_store[p]
                want = q_qty[p]
                buf[:] = 0.0
                f = _take(stock, 0, t, life, min(want, on_hand[0]), False, buf)
                on_hand[0] -= f
                owed[0] -= f
                owed[i] -= f
                if measure and q_t[p] == t:
                    filled[0] += f
                due = t + lt[i]
                if lt[i] == 0:
                    for e in range(life):
                        stock[i, e] += buf[e]
                    on_hand[i] += f
                    if bo[i] > 0.0:
                        buf[:] = 0.0
                        g = _take(stock, i, t, life, min(bo[i], on_hand[i]), False, buf)
                        bo[i] -= g
                        on_hand[i] -= g
                else:
                    for e in range(life):
                        transit[i, due & cmask, e] += buf[e]
                    in_transit[i] += f
                if f >= want:
                    q_head = (q_head + 1) % _QUEUE
                    q_len -= 1
                else:
                    q_qty[p] = want - f
                    break
            # 4. store demand
            for i in range(1, ns):
                di = i - 1
                lo, hi = d_ptr[di], d_ptr[di + 1]
                d = d_off[di] if hi - lo == 1 else sample_table(d_cdf, lo, hi, d_off[di], uniform_at(keys[i], t))
                if d > 0:
                    dem = float(d)
                    buf[:] = 0.0
                    f = _take(stock, i, t, life, min(dem, on_hand[i]), lifo, buf)
                    on_hand[i] -= f
                    miss = dem - f
                    if miss > 0.0:
                        if backorders:
                            bo[i] += miss
                        elif measure:
                            acc[_M_LOST, i] += miss
                    if measure:
                        acc[_M_DEMAND, i] += dem
                        filled[i] += f
            # 5. outdating (the calendar slot of t holds what expires now) and measurements
            for st in range(ns):
                if expires:
                    e = t % life
                    q = stock[st, e]
                    if q > 0.0:
                        stock[st, e] = 0.0
                        on_hand[st] -= q
                        if measure:
                            acc[_M_OUTDATED, st] += q
                    if st > 0:  # units whose life ends on the way outdate at the store
                        for k in range(cal):
                            q = transit[st, k, e]
                            if q > 0.0:
                                transit[st, k, e] = 0.0
                                in_transit[st] -= q
                                if measure:
                                    acc[_M_OUTDATED, st] += q
                if measure:
                    acc[_M_ON_HAND, st] += on_hand[st]
                    acc[_M_BACKORDERS, st] += owed[0] if st == 0 else bo[st]
        inv = 1.0 / (n_total - warmup)
        for s in range(ns):
            for m in range(_N_METRICS):
                out[m, r, s] = acc[m, s] * inv
            out[_M_FILL, r, s] = filled[s] / acc[_M_DEMAND, s] if acc[_M_DEMAND, s] > 0.0 else np.nan


@dataclass(frozen=True)
class PerishableNetworkResult:
    """Per-stage metrics (row 0: the DC, rows 1..N: the stores).

    Attributes:
        mean: ``{metric: array (stages,)}`` means over replications (see
            :data:`NETWORK_METRICS` for units and the DC's meaning of each).
        se: ``{metric: array (stages,)}`` their standard errors.
        replicates: ``{metric: array (replications, stages)}``.
    """

    mean: dict[str, np.ndarray]
    se: dict[str, np.ndarray]
    replicates: dict[str, np.ndarray]

    def __getitem__(self, metric: str) -> np.ndarray:
        """The mean of ``metric`` per stage."""
        return self.mean[metric]


def simulate_perishable_network(
    store_demand: Sequence[DiscreteDistribution],
    dc_lead_time: int,
    store_lead_time: Sequence[int],
    shelf_life: float,
    dc_level: float,
    store_level: Sequence[float],
    seed: int | np.uint64,
    *,
    issuing: str = "fifo",
    backorders: bool = False,
    replications: int = 20,
    periods: int = 1000,
    warmup: int = 100,
) -> PerishableNetworkResult:
    """Simulate one DC and its stores holding perishable stock under installation base stock.

    Args:
        store_demand: demand per period at each store [units/period].
        dc_lead_time: the DC's supplier lead time [periods], fixed.
        store_lead_time: DC to store lead time per store [periods], fixed.
        shelf_life: periods a unit can be sold from its receipt at the DC [periods], a
            whole number >= 1; ``inf``, NaN or 0: it never outdates.
        dc_level: the DC's base-stock level [units] (whole units >= 0).
        store_level: each store's base-stock level [units] (whole units >= 0).
        seed: the network's uint64 seed.
        issuing: the stores' issuing, ``"fifo"`` or ``"lifo"`` (the DC ships FIFO).
        backorders: backorder unmet store demand (``False``: lost sales).
        replications: independent runs (each with its own warm-up).
        periods: measured periods per run.
        warmup: periods discarded at the start of each run.

    Returns:
        Per-stage metrics with standard errors (see :class:`PerishableNetworkResult`).
    """
    n = len(store_demand)
    if n < 1 or len(store_lead_time) != n or len(store_level) != n:
        raise ValueError("store_demand, store_lead_time and store_level: one entry per store (at least one)")
    if replications < 1 or periods < 1 or warmup < 0:
        raise ValueError("need replications >= 1, periods >= 1, warmup >= 0")
    if issuing not in ("fifo", "lifo"):
        raise ValueError(f"issuing must be 'fifo' or 'lifo', got {issuing!r}")
    lt = np.array([dc_lead_time, *store_lead_time], dtype=np.int64)
    if np.any(lt < 0):
        raise ValueError("lead times must be >= 0 periods")
    level = np.array([dc_level, *store_level], dtype=np.float64)
    if np.any(~np.isfinite(level)) or np.any(level < 0) or np.any(level != np.round(level)):
        raise ValueError("levels: whole units >= 0")
    life_f = float(shelf_life)
    expires = bool(np.isfinite(life_f) and life_f != 0)
    if expires and (life_f < 1 or life_f != round(life_f)):
        raise ValueError(f"shelf_life: a whole number of periods >= 1 (or inf / NaN / 0 for none), got {shelf_life}")
    cdf, ptr, off = pack_distributions(list(store_demand))
    out = np.zeros((_N_METRICS, replications, n + 1))
    _simulate(n, int(life_f) if expires else 1, expires, lt, level, cdf, ptr, off, np.uint64(seed),
              int(replications), int(warmup + periods), int(warmup), bool(backorders), issuing == "lifo", out)
    reps = {name: out[m] for m, (name, _) in enumerate(NETWORK_METRICS)}
    mean, se = {}, {}
    for name, v in reps.items():
        k = np.sum(~np.isnan(v), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = np.nansum(v, axis=0) / np.maximum(k, 1)
            dev = np.where(np.isnan(v), 0.0, v - mu)
            mean[name] = np.where(k > 0, mu, np.nan)
            se[name] = np.where(k > 1, np.sqrt(np.sum(dev * dev, axis=0) / np.maximum(k - 1, 1) / np.maximum(k, 1)),
                                np.nan)
    return PerishableNetworkResult(mean=mean, se=se, replicates=reps)
