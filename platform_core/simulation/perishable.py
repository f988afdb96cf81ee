"""Monte Carlo of a single stage holding perishable stock (fixed shelf life, age tracked).

Model (per stage, per replication, per period ``t``; the events of the network engine,
:mod:`._kernels`, plus ageing):

1. orders due at ``t`` arrive, fresh: a unit received in period ``t`` can be sold in
   periods ``t .. t + m - 1`` and outdates at the end of period ``t + m - 1`` (``m`` the
   shelf life [periods], counted from receipt). Received units clear backorders first;
   the rest join the stock as one batch per receipt period;
2. at a review epoch (``t % review_period == 0``) an order is placed (see the policies
   below); its lead time ``L`` is drawn from the lead-time PMF [periods] and it arrives at
   the start of ``t + L`` (``L = 0``: at once, before this period's demand), or at
   ``max(t + L, previous arrival)`` without order crossing;
3. demand ``d_t`` [units] is issued from stock, oldest batch first (FIFO) or freshest
   first (LIFO); what is not filled is backordered or lost;
4. at the end of the period the units whose shelf life ends in ``t`` are outdated
   (waste); the end-of-period measurements (after the warm-up) count what is left.

Policies (order quantities in whole units, never negative):

* ``POLICY_BASE_STOCK``: ``S - IP``, with ``IP`` = stock on hand + on order - backorders;
* ``POLICY_WASTE_ADJUSTED`` (the "expected waste" adjustment of Broekmeulen & van
  Donselaar, 2009): ``S - IP + EW``, ``EW`` the stock expected to outdate before the
  order's cover ends (``L + R`` periods with ``L`` the mean lead time and ``R`` the
  review period). Batches are taken oldest first; a batch with ``r`` periods of life left
  (``r <= L + R``) is expected to outdate by ``max(0, cum_r - EW_before - mu * r)``,
  ``cum_r`` the stock in it and older batches, ``mu`` the mean demand per period: an
  order that replaces the stock which will go to waste anyway.

With an infinite shelf life (``shelf_life`` 0, NaN or ``inf``) nothing outdates and
the stage is the network engine's single stage: the random numbers are the engine's
(:mod:`._rng`: demand of replication ``rep`` from ``stream_key(seed, rep, STREAM_DEMAND,
0)``, lead times from ``stream_key(seed, rep, STREAM_LEAD_TIME, 0)``, at counter ``t``,
by the same inverse CDF), so :func:`simulate_perishable` gives the very numbers of
:func:`.engine.simulate` on a one-stage network with the same seed (a test checks it).

Many "jobs" (stage, policy, level) run in one parallel call; jobs of one stage share its
seed, so candidate levels are compared on common random numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba as nb
import numpy as np

from platform_core.distributions import DiscreteDistribution, pack_distributions

from ._rng import STREAM_DEMAND, STREAM_LEAD_TIME, sample_table, stream_key, uniform_at

__all__ = [
    "ISSUE_FIFO", "ISSUE_LIFO", "POLICY_BASE_STOCK", "POLICY_WASTE_ADJUSTED", "METRICS",
    "PerishableCosts", "PerishableResult", "simulate_perishable", "expected_waste", "order_quantity",
]

ISSUE_FIFO = 0
ISSUE_LIFO = 1
POLICY_BASE_STOCK = 0
POLICY_WASTE_ADJUSTED = 1
_ISSUING = {"fifo": ISSUE_FIFO, "lifo": ISSUE_LIFO}
_POLICIES = {"base_stock": POLICY_BASE_STOCK, "waste_adjusted": POLICY_WASTE_ADJUSTED}

#: metrics per job, in kernel order, with units
METRICS: tuple[tuple[str, str], ...] = (
    ("demand", "[units/period]"),
    ("fill_rate", "[-]"),
    ("ready_rate", "[-]"),
    ("on_hand", "[units]"),
    ("backorders", "[units]"),
    ("lost_sales", "[units/period]"),
    ("short", "[units/period]"),
    ("outdated", "[units/period]"),
    ("order_quantity", "[units/period]"),
    ("order_frequency", "[orders/period]"),
)
_M_DEMAND, _M_FILL, _M_READY, _M_ON_HAND, _M_BACKORDERS, _M_LOST, _M_SHORT, _M_OUTDATED, _M_ORDERED, \
    _M_ORDERS = range(len(METRICS))
_N_METRICS = len(METRICS)

# columns of the packed job table (int64)
_J_DEM, _J_LT, _J_LIFE, _J_REVIEW, _J_KIND = range(5)
_N_JOB_FIELDS = 5
_NO_EXPIRY = np.iinfo(np.int64).max


@nb.njit(cache=True, nogil=True)
def expected_waste(bq: np.ndarray, be: np.ndarray, head: int, cnt: int, t: int, mean_demand: float,
                   horizon: float) -> float:
    """Units of stock expected to outdate within ``horizon`` periods (see the module notes).

    Args:
        bq: batch quantities [units] of a ring buffer of batches in expiry order.
        be: the period at whose end each batch outdates.
        head: ring position of the oldest batch.
        cnt: number of batches.
        t: the current period.
        mean_demand: [units/period].
        horizon: [periods] (mean lead time + review period).
    """
    cap = bq.shape[0]
    cum = 0.0
    waste = 0.0
    for k in range(cnt):
        p = (head + k) % cap
        r = be[p] - t + 1  # periods of life left, this one included
        if r > horizon:
            break
        cum += bq[p]
        w = cum - waste - mean_demand * r
        if w > 0.0:
            waste += w
    return waste


@nb.njit(cache=True, nogil=True)
def order_quantity(kind: int, level: float, ip: float, bq: np.ndarray, be: np.ndarray, head: int, cnt: int,
                   t: int, mean_demand: float, horizon: float) -> float:
    """Whole units to order under ``kind`` with base-stock level ``level`` and position ``ip``."""
    x = level - ip
    if kind == POLICY_WASTE_ADJUSTED:
        x += expected_waste(bq, be, head, cnt, t, mean_demand, horizon)
    x = np.floor(x + 0.5)
    return x if x > 0.0 else 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def _receive(q: float, t: int, life: int, bq: np.ndarray, be: np.ndarray, head: int, cnt: int,
             bo: float) -> tuple[int, float, float]:
    """Units ``q`` received in ``t``: backorders first, then a batch (merged when it expires with the newest).

    Returns the new batch count, backorders and the units added to stock.
    """
    f = min(q, bo)
    bo -= f
    q -= f
    if q <= 0.0:
        return cnt, bo, 0.0
    cap = bq.shape[0]
    exp = t + life - 1 if life > 0 else _NO_EXPIRY
    if cnt > 0:
        tail = (head + cnt - 1) % cap
        if be[tail] == exp or cnt == cap:  # same expiry, or (no expiry) one batch
            bq[tail] += q
            return cnt, bo, q
    p = (head + cnt) % cap
    bq[p] = q
    be[p] = exp
    return cnt + 1, bo, q


@nb.njit(cache=True, nogil=True)
def _simulate_job(k: int, jobs_i: np.ndarray, level: np.ndarray, mean_lead: np.ndarray, seeds: np.ndarray,
                  d_cdf: np.ndarray, d_ptr: np.ndarray, d_off: np.ndarray, d_mean: np.ndarray, l_cdf: np.ndarray,
                  l_ptr: np.ndarray, l_off: np.ndarray, reps: int, n_total: int, warmup: int, backorders: bool,
                  crossing: bool, lifo: bool, out: np.ndarray) -> None:
    """Job ``k``'s replications into ``out[metric, rep, k]`` (see the module notes)."""
    di = jobs_i[k, _J_DEM]
    li = jobs_i[k, _J_LT]
    life = jobs_i[k, _J_LIFE]
    review = jobs_i[k, _J_REVIEW]
    kind = jobs_i[k, _J_KIND]
    s_level = level[k]
    mu = d_mean[di]
    horizon = mean_lead[k] + review
    seed = seeds[k]
    d_lo, d_hi, d_o = d_ptr[di], d_ptr[di + 1], d_off[di]
    l_lo, l_hi, l_o = l_ptr[li], l_ptr[li + 1], l_off[li]
    lfix = l_o if l_hi - l_lo == 1 else -1
    lmax = l_o + l_hi - l_lo - 1
    cal = 1
    while cal <= lmax:
        cal <<= 1
    cmask = cal - 1
    cap = life if life > 0 else 1
    bq = np.zeros(cap)
    be = np.zeros(cap, dtype=np.int64)
    arrivals = np.zeros(cal)
    acc = np.zeros(_N_METRICS)
    n_measured = n_total - warmup
    for r in range(reps):
        dkey = stream_key(seed, r, STREAM_DEMAND, 0)
        lkey = stream_key(seed, r, STREAM_LEAD_TIME, 0)
        arrivals[:] = 0.0
        acc[:] = 0.0
        head = 0
        cnt = 0
        on_hand = 0.0
        pipeline = 0.0
        bo = 0.0
        last_arrival = 0
        filled_sum = 0.0
        for t in range(n_total):
            measure = t >= warmup
            slot = t & cmask
            a = arrivals[slot]
            if a != 0.0:
                arrivals[slot] = 0.0
                pipeline -= a
                cnt, bo, added = _receive(a, t, life, bq, be, head, cnt, bo)
                on_hand += added
            if review == 1 or t % review == 0:
                q = order_quantity(kind, s_level, on_hand + pipeline - bo, bq, be, head, cnt, t, mu, horizon)
                if q > 0.0:
                    lead = lfix
                    if lead < 0:
                        lead = sample_table(l_cdf, l_lo, l_hi, l_o, uniform_at(lkey, t))
                    due = t + lead
                    if not crossing:
                        if due < last_arrival:
                            due = last_arrival
                        last_arrival = due
                    if measure:
                        acc[_M_ORDERED] += q
                        acc[_M_ORDERS] += 1.0
                    if due == t:
                        cnt, bo, added = _receive(q, t, life, bq, be, head, cnt, bo)
                        on_hand += added
                    else:
                        arrivals[due & cmask] += q
                        pipeline += q
            # demand, issued oldest (FIFO) or freshest (LIFO) first
            d = d_o if d_hi - d_lo == 1 else sample_table(d_cdf, d_lo, d_hi, d_o, uniform_at(dkey, t))
            if d > 0:
                dem = float(d)
                f = dem if on_hand >= dem else on_hand
                rem = f
                while rem > 0.0:
                    p = (head + cnt - 1) % cap if lifo else head
                    take = bq[p] if bq[p] <= rem else rem
                    bq[p] -= take
                    rem -= take
                    if bq[p] <= 0.0:
                        cnt -= 1
                        if not lifo:
                            head = (head + 1) % cap
                on_hand -= f
                miss = dem - f
                if miss > 0.0:
                    if backorders:
                        bo += miss
                    elif measure:
                        acc[_M_LOST] += miss
                if measure:
                    acc[_M_DEMAND] += dem
                    filled_sum += f
                    acc[_M_SHORT] += miss
            # outdating at the end of the period
            if life > 0:
                while cnt > 0 and be[head] <= t:
                    if measure:
                        acc[_M_OUTDATED] += bq[head]
                    on_hand -= bq[head]
                    bq[head] = 0.0
                    head = (head + 1) % cap
                    cnt -= 1
                if cnt == 0:
                    on_hand = 0.0  # no drift of float sums
            if measure:
                acc[_M_READY] += 1.0 if on_hand > 0.0 else 0.0
                acc[_M_ON_HAND] += on_hand
                acc[_M_BACKORDERS] += bo
        inv = 1.0 / n_measured
        for m in range(_N_METRICS):
            out[m, r, k] = acc[m] * inv
        dem = acc[_M_DEMAND]
        out[_M_FILL, r, k] = filled_sum / dem if dem > 0.0 else np.nan


@nb.njit(cache=True, nogil=True, parallel=True)
def _simulate_jobs(jobs_i: np.ndarray, level: np.ndarray, mean_lead: np.ndarray, seeds: np.ndarray,
                   d_cdf: np.ndarray, d_ptr: np.ndarray, d_off: np.ndarray, d_mean: np.ndarray, l_cdf: np.ndarray,
                   l_ptr: np.ndarray, l_off: np.ndarray, reps: int, n_total: int, warmup: int, backorders: bool,
                   crossing: bool, lifo: bool, out: np.ndarray) -> None:
    """Every job, in parallel (jobs are independent: each has its own seed and buffers)."""
    for k in nb.prange(jobs_i.shape[0]):
        _simulate_job(k, jobs_i, level, mean_lead, seeds, d_cdf, d_ptr, d_off, d_mean, l_cdf, l_ptr, l_off,
                      reps, n_total, warmup, backorders, crossing, lifo, out)


@dataclass(frozen=True)
class PerishableCosts:
    """Cost rates of a perishable stage (scalars, or one value per job).

    Attributes:
        holding: [currency/unit/period] on end-of-period stock on hand (after outdating).
        shortage: [currency/unit] per unit of demand not filled from stock (lost or
            backordered), once.
        waste: [currency/unit] per unit outdated (e.g. its purchase cost plus disposal).
        ordering: [currency/unit] per unit ordered (0 by default: under lost sales it
            rewards selling a unit; with backorders every unit is bought sooner or later).
    """

    holding: float | np.ndarray = 0.0
    shortage: float | np.ndarray = 0.0
    waste: float | np.ndarray = 0.0
    ordering: float | np.ndarray = 0.0


@dataclass(frozen=True)
class PerishableResult:
    """Per-job metrics of :func:`simulate_perishable` (one entry per job).

    Attributes:
        mean: ``{metric: array (jobs,)}`` mean over replications (see :data:`METRICS`
            for units; ``fill_rate`` is type 2, per replication filled / demanded).
        se: ``{metric: array (jobs,)}`` standard errors of the means (NaN with one
            replication).
        replicates: ``{metric: array (replications, jobs)}``.
        cost: mean cost per period [currency/period] (holding + shortage + waste +
            ordering of :class:`PerishableCosts`), ``cost_se`` its standard error.
        waste_cost: mean outdating cost [currency/period].
    """

    mean: dict[str, np.ndarray]
    se: dict[str, np.ndarray]
    replicates: dict[str, np.ndarray]
    cost: np.ndarray
    cost_se: np.ndarray
    waste_cost: np.ndarray

    def __getitem__(self, metric: str) -> np.ndarray:
        """The mean of ``metric`` per job."""
        return self.mean[metric]


def _per_job(x: object, n: int, what: str, dtype: type) -> np.ndarray:
    a: np.ndarray = np.asarray(x, dtype=dtype)
    if a.ndim == 0:
        return np.full(n, a, dtype=dtype)
    if a.shape != (n,):
        raise ValueError(f"{what}: expected a scalar or one value per job ({n}), got shape {a.shape}")
    return a


def _dedupe(dists: Sequence[DiscreteDistribution], what: str) -> tuple[list[DiscreteDistribution], np.ndarray]:
    ids: dict[int, int] = {}
    unique: list[DiscreteDistribution] = []
    idx = np.empty(len(dists), dtype=np.int64)
    for k, d in enumerate(dists):
        if not isinstance(d, DiscreteDistribution):
            raise TypeError(f"{what}[{k}]: expected a DiscreteDistribution, got {type(d).__name__}")
        j = ids.setdefault(id(d), len(unique))
        if j == len(unique):
            unique.append(d)
        idx[k] = j
    return unique, idx


def _shelf_life(x: object, n: int) -> np.ndarray:
    """Shelf lives as int64 (0: never outdates) from floats with NaN / inf / 0 for none."""
    a = _per_job(x, n, "shelf_life", np.float64)
    none = ~np.isfinite(a) | (a == 0)
    bad = ~none & ((a < 1) | (a != np.round(a)))
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"shelf_life of job {k}: expected a whole number of periods >= 1 (or inf / NaN / 0 for "
                         f"none), got {a[k]}")
    return np.where(none, 0, a).astype(np.int64)


def _mean_se(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.sum(~np.isnan(v), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(v, axis=0) / np.maximum(n, 1), np.nan)
        dev = np.where(np.isnan(v), 0.0, v - mean)
        se = np.where(n > 1, np.sqrt(np.sum(dev * dev, axis=0) / np.maximum(n - 1, 1) / np.maximum(n, 1)), np.nan)
    return mean, se


def simulate_perishable(
    period_demand: Sequence[DiscreteDistribution],
    lead_time: Sequence[DiscreteDistribution],
    shelf_life: float | Sequence[float] | np.ndarray,
    level: float | Sequence[float] | np.ndarray,
    seeds: int | Sequence[int] | np.ndarray,
    *,
    policy: str | Sequence[str] = "base_stock",
    issuing: str = "fifo",
    backorders: bool = False,
    review_period: int | Sequence[int] | np.ndarray = 1,
    replications: int = 20,
    periods: int = 1000,
    warmup: int = 100,
    crossing: bool = True,
    costs: PerishableCosts | None = None,
) -> PerishableResult:
    """Simulate perishable single stages ("jobs") under base-stock policies; metrics with SEs.

    Args:
        period_demand: per job, demand per period [units/period].
        lead_time: per job, replenishment lead time [periods].
        shelf_life: per job (or one for all), periods a unit can be sold from its receipt
            [periods], a whole number >= 1; ``inf``, NaN or 0: it never outdates.
        level: per job, the base-stock level ``S`` [units].
        seeds: per job a uint64 seed (jobs of one stage share it: common random numbers),
            or one int for every job.
        policy: ``"base_stock"`` or ``"waste_adjusted"`` (see the module notes), per job or
            for all.
        issuing: ``"fifo"`` (oldest first) or ``"lifo"`` (freshest first).
        backorders: backorder unmet demand (``False``: lost sales).
        review_period: [periods] per job or for all.
        replications: independent runs (each with its own warm-up).
        periods: measured periods per run.
        warmup: periods discarded at the start of each run.
        crossing: lead times drawn per order, so orders may cross (``False``: an order
            never arrives before an earlier one).
        costs: cost rates for ``cost`` and ``waste_cost`` (default all zero).

    Returns:
        Per-job metrics and costs (see :class:`PerishableResult`).
    """
    n = len(period_demand)
    if len(lead_time) != n:
        raise ValueError(f"lead_time: expected one entry per job ({n}), got {len(lead_time)}")
    if replications < 1 or periods < 1 or warmup < 0:
        raise ValueError("need replications >= 1, periods >= 1, warmup >= 0")
    if issuing not in _ISSUING:
        raise ValueError(f"issuing must be one of {sorted(_ISSUING)}, got {issuing!r}")
    kinds = [policy] * n if isinstance(policy, str) else list(policy)
    if len(kinds) != n or any(k not in _POLICIES for k in kinds):
        raise ValueError(f"policy: one of {sorted(_POLICIES)}, for all jobs or one per job")
    lv = _per_job(level, n, "level", np.float64)
    if np.any(~np.isfinite(lv)) or np.any(lv < 0) or np.any(lv != np.round(lv)):
        raise ValueError("level: whole units >= 0 per job")
    review = _per_job(review_period, n, "review_period", np.int64)
    if np.any(review < 1):
        raise ValueError("review_period must be >= 1")
    life = _shelf_life(shelf_life, n)
    seed_arr = _per_job(seeds, n, "seeds", np.uint64) if np.ndim(seeds) else np.full(n, seeds, dtype=np.uint64)
    d_list, d_idx = _dedupe(period_demand, "period_demand")
    l_list, l_idx = _dedupe(lead_time, "lead_time")
    jobs_i = np.empty((n, _N_JOB_FIELDS), dtype=np.int64)
    jobs_i[:, _J_DEM] = d_idx
    jobs_i[:, _J_LT] = l_idx
    jobs_i[:, _J_LIFE] = life
    jobs_i[:, _J_REVIEW] = review
    jobs_i[:, _J_KIND] = [_POLICIES[k] for k in kinds]
    out = np.zeros((_N_METRICS, replications, n))
    if n:
        d_cdf, d_ptr, d_off = pack_distributions(d_list)
        l_cdf, l_ptr, l_off = pack_distributions(l_list)
        d_mean = np.array([d.mean() for d in d_list])
        mean_lead = np.array([lt.mean() for lt in l_list])[l_idx]
        _simulate_jobs(jobs_i, lv, mean_lead, seed_arr, d_cdf, d_ptr, d_off, d_mean, l_cdf, l_ptr, l_off,
                       int(replications), int(warmup + periods), int(warmup), bool(backorders), bool(crossing),
                       _ISSUING[issuing] == ISSUE_LIFO, out)
    reps = {name: out[m] for m, (name, _) in enumerate(METRICS)}
    c = costs if costs is not None else PerishableCosts()
    waste_reps = reps["outdated"] * _per_job(c.waste, n, "costs.waste", np.float64)
    cost_reps = (reps["on_hand"] * _per_job(c.holding, n, "costs.holding", np.float64)
                 + reps["short"] * _per_job(c.shortage, n, "costs.shortage", np.float64)
                 + waste_reps + reps["order_quantity"] * _per_job(c.ordering, n, "costs.ordering", np.float64))
    mean: dict[str, np.ndarray] = {}
    se: dict[str, np.ndarray] = {}
    for name, v in reps.items():
        mean[name], se[name] = _mean_se(v)
    cost, cost_se = _mean_se(cost_reps)
    waste_cost, _ = _mean_se(waste_reps)
    return PerishableResult(mean=mean, se=se, replicates=reps, cost=cost, cost_se=cost_se, waste_cost=waste_cost)
