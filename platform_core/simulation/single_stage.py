"""Monte Carlo of single-stage periodic-review base-stock systems, many stages per call.

Model (per stage, per replication, per period ``t``):

1. orders due at ``t`` arrive (at the start of the period);
2. at a review epoch (``t % review_period == 0``) an order for everything consumed
   since the previous review is placed; its lead time ``L`` is drawn from the stage's
   lead-time PMF [periods] and it arrives at the start of period ``t + L`` (with order
   crossing), or at ``max(t + L, previous arrival)`` (without crossing);
3. demand ``d_t`` [units] is drawn from the stage's per-period PMF and is filled from
   on-hand stock; what cannot be filled is backordered.

Under base-stock with backorders the inventory position after each review equals the
base-stock level ``S``, so the net inventory at the end of period ``t`` is ``S - X_t``
where ``X_t`` (outstanding orders plus consumption since the last review) does not depend
on ``S``.  The kernel therefore simulates the ``X_t`` paths once (common random numbers)
and evaluates every candidate ``S`` exactly on them: this is a simulation of the real
dynamics, including stochastic lead times and order crossing, not an approximation.

Metrics per stage for a level ``S`` (after a warm-up):

* fill rate (type 2) = 1 - units short / units demanded;
* cycle service level (type 1) = fraction of replenishment cycles without backorders at
  their end; the cycle opened by an order ends just before the next order arrives, so
  with a fixed lead time ``L`` this is ``P(demand over L + review periods <= S)``;
* ready rate (type 3) = fraction of periods that end with stock on hand (> 0);
* mean on-hand and mean backorders [units], at the end of each period.

Standard errors are across replications (each replication is one long run).

Random numbers are the network engine's (:mod:`platform_core.simulation._rng`): a stage
with seed ``seed`` draws the demand of period ``t`` (counted from the first warm-up
period) of replication ``rep`` from stream ``stream_key(seed, rep, STREAM_DEMAND, 0)``
and the lead time of an order placed in period ``t`` from ``stream_key(seed, rep,
STREAM_LEAD_TIME, 0)``, both at counter ``t``, with the same inverse-CDF sampler: the
streams of a one-stage network (stage 0, its lane 0 from the external supplier) with the
same seed. :func:`.engine.simulate` of that network under base-stock ``S`` therefore
gives the metrics of :func:`evaluate_base_stock` at ``S`` bit for bit, replication by
replication (``tests/simulation/test_one_rng_scheme.py``), except that this module
reports a fill rate or cycle service of 1 where no demand or no cycle was seen (the
engine: ``nan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numba as nb
import numpy as np

from platform_core.distributions import DiscreteDistribution, pack_distributions
from platform_core.simulation._rng import (
    STREAM_DEMAND,
    STREAM_LEAD_TIME,
    sample_block,
    stream_key,
    threshold_block,
)

__all__ = ["SingleStageResult", "optimise_base_stock", "evaluate_base_stock", "TARGET_FILL", "TARGET_CYCLE", "TARGET_COST"]

TARGET_FILL = 0
TARGET_CYCLE = 1
TARGET_COST = 2

_U0 = np.uint64(0)


class _Stages(NamedTuple):
    """The stages of one call: distributions (CSR inverse-CDF tables), review, seed."""

    d_cdf: np.ndarray  # demand [units/period]
    d_ptr: np.ndarray
    d_off: np.ndarray
    l_cdf: np.ndarray  # lead time [periods]
    l_ptr: np.ndarray
    l_off: np.ndarray
    review: np.ndarray  # [periods]
    seed: np.ndarray  # uint64


class _Choice(NamedTuple):
    """How each stage's level is chosen (``fixed_level >= 0``: given)."""

    mode: np.ndarray
    target: np.ndarray
    hold: np.ndarray
    stockout: np.ndarray
    fixed_level: np.ndarray


class _Run(NamedTuple):
    reps: int
    periods: int
    warmup: int
    crossing: bool


@nb.njit(cache=True, nogil=True)
def _simulate_positions(stages, i, run, x_out, d_out, cyc_out):
    """Simulate one stage's level-independent position paths.

    Fills x_out/d_out [reps, periods] with positions and demands (after warm-up) and
    counts in cyc_out the replenishment cycles that end in each period.

    Random numbers: the network engine's streams (:mod:`._rng`) of stage 0 and of its
    lane from the external supplier (lane 0) in a one-stage network with this stage's
    seed, drawn with the fast network kernel's sampler (:func:`._rng.sample_block`): the
    demand of period ``t`` of replication ``rep`` is the engine's, and so is the lead
    time of an order placed in period ``t``.
    """
    reps, periods, warmup, crossing = run.reps, run.periods, run.warmup, run.crossing
    seed = stages.seed[i]
    d_m = stages.d_ptr[i + 1] - stages.d_ptr[i]
    d_tab, d_shift = threshold_block(stages.d_cdf, stages.d_ptr[i], stages.d_ptr[i + 1])
    l_m = stages.l_ptr[i + 1] - stages.l_ptr[i]
    l_off = stages.l_off[i]
    l_tab, l_shift = threshold_block(stages.l_cdf, stages.l_ptr[i], stages.l_ptr[i + 1])
    l_fix = l_off if l_m == 1 else -1  # a deterministic lead time needs no draws
    lmax = l_off + l_m - 1
    horizon = warmup + periods
    hu = np.uint64(horizon)
    ring = np.zeros(lmax + horizon + 2, dtype=np.int64)  # arrivals by period (long enough)
    dbuf = np.empty(horizon, dtype=np.int64)  # demand of every period of a replication
    lbuf = np.empty(horizon, dtype=np.int64)  # lead time of an order placed in each period
    zb = np.empty(horizon, dtype=np.uint64)
    r = stages.review[i]
    for rep in range(reps):
        # every draw is a pure function of (stream key, period): drawn ahead, vectorised
        sample_block(dbuf, _U0, hu, d_tab, 0, d_m, d_shift, stages.d_off[i],
                     stream_key(seed, rep, STREAM_DEMAND, 0), _U0, zb)
        if l_fix < 0:
            sample_block(lbuf, _U0, hu, l_tab, 0, l_m, l_shift, l_off,
                         stream_key(seed, rep, STREAM_LEAD_TIME, 0), _U0, zb)
        ring[:] = 0
        cyc_out[rep, :] = 0
        pipeline = 0
        consumed = 0
        last_arrival = 0
        phase = 0  # periods since the last review (avoids a modulo per period)
        for t in range(horizon):
            pipeline -= ring[t]
            if phase == 0:
                lt = l_fix if l_fix >= 0 else lbuf[t]
                due = t + lt
                if not crossing and due < last_arrival:
                    due = last_arrival
                if consumed > 0:
                    last_arrival = due
                    if due > t:  # due == t: arrives before this period's demand
                        ring[due] += consumed
                        pipeline += consumed
                # the replenishment cycle this review closes ends just before its arrival
                end = due - 1 - warmup
                if 0 <= end < periods:
                    cyc_out[rep, end] += 1
                consumed = 0
            phase += 1
            if phase == r:
                phase = 0
            d = dbuf[t]
            consumed += d
            if t >= warmup:
                k = t - warmup
                x_out[rep, k] = pipeline + consumed
                d_out[rep, k] = d


@nb.njit(cache=True, nogil=True)
def _metrics_at(x, d, cyc, s):
    """Per-replication fill rate, cycle service, ready rate, on-hand, backorders at level s."""
    reps, periods = x.shape
    fill = np.empty(reps)
    csl = np.empty(reps)
    ready = np.empty(reps)
    oh = np.empty(reps)
    bo = np.empty(reps)
    short_mean = np.empty(reps)
    inv = 1.0 / periods
    for rep in range(reps):
        dem = 0.0
        short = 0.0
        ncyc = 0
        okcyc = 0
        nready = 0
        sum_oh = 0.0
        sum_bo = 0.0
        for k in range(periods):
            xv = x[rep, k]
            dv = d[rep, k]
            dem += dv
            over = xv - s
            if over > 0:
                short += min(dv, over)
                sum_bo += over
            else:
                sum_oh += -over
                if over < 0:
                    nready += 1
            c = cyc[rep, k]
            if c:
                ncyc += c
                if over <= 0:
                    okcyc += c
        # the network engine's formulas, operation for operation (filled / demanded,
        # sums times 1 / periods), so a one-stage network gives the same bits
        fill[rep] = (dem - short) / dem if dem > 0 else 1.0
        csl[rep] = okcyc / ncyc if ncyc > 0 else 1.0
        ready[rep] = nready * inv
        oh[rep] = sum_oh * inv
        bo[rep] = sum_bo * inv
        short_mean[rep] = short * inv
    return fill, csl, ready, oh, bo, short_mean


@nb.njit(cache=True, nogil=True)
def _curves(x, d, cyc):
    """Histogram-based exact curves over every integer level s in [0, xmax]."""
    xmax = 0
    reps, periods = x.shape
    for rep in range(reps):
        for k in range(periods):
            if x[rep, k] > xmax:
                xmax = x[rep, k]
    n = xmax + 2
    hx = np.zeros(n)   # histogram of X (end-of-period position)
    hy = np.zeros(n)   # histogram of X - d (position before this period's demand)
    hc = np.zeros(n)   # histogram of X at cycle ends
    dem = 0.0
    ncyc = 0.0
    for rep in range(reps):
        for k in range(periods):
            xv = x[rep, k]
            dv = d[rep, k]
            hx[xv] += 1.0
            hy[xv - dv] += 1.0
            dem += dv
            c = cyc[rep, k]
            if c:
                hc[xv] += c
                ncyc += c
    total = reps * periods
    # tail[s] = sum_{v > s} (v - s) h[v] for s = 0..n-1
    ex = np.zeros(n)
    ey = np.zeros(n)
    cnt_x = 0.0
    cnt_y = 0.0
    accx = 0.0
    accy = 0.0
    for s in range(n - 1, -1, -1):
        ex[s] = accx
        ey[s] = accy
        cnt_x += hx[s]
        cnt_y += hy[s]
        accx += cnt_x
        accy += cnt_y
    short = (ex - ey) / total          # units short per period
    backorders = ex / total
    mean_x = 0.0
    for v in range(n):
        mean_x += v * hx[v]
    mean_x /= total
    levels = np.arange(n).astype(np.float64)
    on_hand = levels - mean_x + backorders
    fill = 1.0 - short * total / dem if dem > 0 else np.ones(n)
    csl = np.cumsum(hc) / ncyc if ncyc > 0 else np.ones(n)
    return fill, csl, on_hand, short


@nb.njit(cache=True, nogil=True, parallel=True)
def _optimise(stages, choice, run, out, rep_out):
    """Choose (or take) each stage's level and write its metrics.

    ``out[i]``: the level, then mean and standard error of each of the six metrics of
    :data:`_COLUMNS`; ``rep_out[i, metric, rep]`` (when it has a row per stage) their
    per-replication values.
    """
    n = stages.seed.shape[0]
    reps, periods = run.reps, run.periods
    mode, target, hold, stockout, fixed_level = choice
    for i in nb.prange(n):
        # int32 positions/demands halve memory traffic; levels beyond 2**31 units are
        # rejected by the wrapper
        x = np.empty((reps, periods), dtype=np.int32)
        dd = np.empty((reps, periods), dtype=np.int32)
        cyc = np.empty((reps, periods), dtype=np.int16)
        _simulate_positions(stages, i, run, x, dd, cyc)
        top = 0  # the largest level of the curves (from xmax on, everything is served)
        if fixed_level[i] >= 0:
            s = fixed_level[i]
        else:
            fill, csl, on_hand, short = _curves(x, dd, cyc)
            m = fill.shape[0]
            top = m - 1
            s = m - 1
            if mode[i] == TARGET_FILL:
                for v in range(m):
                    if fill[v] >= target[i] - 1e-12:
                        s = v
                        break
            elif mode[i] == TARGET_CYCLE:
                for v in range(m):
                    if csl[v] >= target[i] - 1e-12:
                        s = v
                        break
            else:
                best = np.inf
                for v in range(m):
                    c = hold[i] * on_hand[v] + stockout[i] * short[v]
                    if c < best - 1e-12:
                        best = c
                        s = v
        fr, cs, rr, oh, bo, sh = _metrics_at(x, dd, cyc, s)
        if fixed_level[i] < 0 and mode[i] != TARGET_COST:
            # The curves pool the replications (units short over all of them / units
            # demanded: the long-run fill rate); the reported value is the mean of each
            # replication's ratio, which differs by a hair, usually upwards. Where it
            # falls short of the target, take the next level(s): the level is the
            # smallest at which both meet the target (it is usually the curves' choice).
            want = target[i] - 1e-12
            while s < top and (fr.mean() if mode[i] == TARGET_FILL else cs.mean()) < want:
                s += 1
                fr, cs, rr, oh, bo, sh = _metrics_at(x, dd, cyc, s)
        out[i, 0] = s
        vals = (fr, cs, rr, oh, bo, sh)
        for j in range(6):
            v = vals[j]
            if rep_out.shape[0] == n:
                rep_out[i, j, :] = v
            mu = v.mean()
            out[i, 1 + 2 * j] = mu
            if reps > 1:
                out[i, 2 + 2 * j] = np.sqrt(((v - mu) ** 2).sum() / (reps - 1) / reps)
            else:
                out[i, 2 + 2 * j] = np.nan


_COLUMNS = (
    "fill_rate", "cycle_service", "ready_rate", "mean_on_hand", "mean_backorders", "mean_short",
)


@dataclass
class SingleStageResult:
    """Per-stage results; every array has one entry per stage.

    Attributes:
        base_stock_level: chosen (or given) level S [units].
        fill_rate, cycle_service, ready_rate: service measures [-] and their standard errors.
        mean_on_hand, mean_backorders: end-of-period averages [units].
        mean_short: units short per period [units/period].
    """

    base_stock_level: np.ndarray
    fill_rate: np.ndarray
    fill_rate_se: np.ndarray
    cycle_service: np.ndarray
    cycle_service_se: np.ndarray
    ready_rate: np.ndarray
    ready_rate_se: np.ndarray
    mean_on_hand: np.ndarray
    mean_on_hand_se: np.ndarray
    mean_backorders: np.ndarray
    mean_backorders_se: np.ndarray
    mean_short: np.ndarray
    mean_short_se: np.ndarray


def _run(
    period_demand: list[DiscreteDistribution],
    lead_time: list[DiscreteDistribution],
    review_period: np.ndarray | None,
    seeds: np.ndarray,
    mode: np.ndarray,
    target: np.ndarray,
    holding_cost: np.ndarray,
    stockout_cost: np.ndarray,
    fixed_level: np.ndarray,
    replications: int,
    periods: int,
    warmup: int,
    crossing: bool,
    replicates: bool = False,
) -> tuple[SingleStageResult, dict[str, np.ndarray]]:
    n = len(period_demand)
    if len(lead_time) != n or seeds.shape[0] != n:
        raise ValueError("period_demand, lead_time and seeds must have one entry per stage")
    if replications < 1 or periods < 1 or warmup < 0:
        raise ValueError("replications and periods must be >= 1, warmup >= 0")
    review = np.ones(n, dtype=np.int64) if review_period is None else np.asarray(review_period, dtype=np.int64)
    if np.any(review < 1):
        raise ValueError("review_period must be >= 1")
    d_cdf, d_ptr, d_off = pack_distributions(period_demand)
    l_cdf, l_ptr, l_off = pack_distributions(lead_time)
    if n:
        d_max = d_off + np.diff(d_ptr) - 1
        l_max = l_off + np.diff(l_ptr) - 1
        worst = d_max.astype(np.float64) * (l_max + review + periods + warmup)
        if worst.max() >= 2**31:
            raise ValueError("demand too large for the int32 kernels: rescale units (e.g. to packs)")
    out = np.empty((n, 13))
    rep_out = np.empty((n, len(_COLUMNS), replications) if replicates else (0, 0, 0))
    if n:
        _optimise(
            _Stages(d_cdf, d_ptr, d_off, l_cdf, l_ptr, l_off, review, np.asarray(seeds, dtype=np.uint64)),
            _Choice(np.asarray(mode, dtype=np.int64), np.asarray(target, dtype=np.float64),
                    np.asarray(holding_cost, dtype=np.float64), np.asarray(stockout_cost, dtype=np.float64),
                    np.asarray(fixed_level, dtype=np.int64)),
            _Run(int(replications), int(periods), int(warmup), bool(crossing)),
            out, rep_out,
        )
    fields: dict[str, np.ndarray] = {"base_stock_level": out[:, 0].copy()}
    for j, name in enumerate(_COLUMNS):
        fields[name] = out[:, 1 + 2 * j].copy()
        fields[name + "_se"] = out[:, 2 + 2 * j].copy()
    per_rep = {name: rep_out[:, j, :].T.copy() for j, name in enumerate(_COLUMNS)} if replicates else {}
    return SingleStageResult(**fields), per_rep


def optimise_base_stock(
    period_demand: list[DiscreteDistribution],
    lead_time: list[DiscreteDistribution],
    seeds: np.ndarray,
    *,
    mode: np.ndarray,
    target: np.ndarray,
    holding_cost: np.ndarray | None = None,
    stockout_cost: np.ndarray | None = None,
    review_period: np.ndarray | None = None,
    replications: int = 100,
    periods: int = 365,
    warmup: int = 50,
    crossing: bool = True,
) -> SingleStageResult:
    """Choose each stage's base-stock level by Monte Carlo, then report its metrics.

    Args:
        period_demand: per-period demand distribution per stage [units/period].
        lead_time: replenishment lead-time distribution per stage [periods].
        seeds: uint64 seed per stage (see :mod:`platform_core.seeds`).
        mode: per stage ``TARGET_FILL``, ``TARGET_CYCLE`` or ``TARGET_COST``.
        target: per stage target fill rate or cycle service [-] (ignored for cost mode).
        holding_cost: [currency/unit/period], used in cost mode.
        stockout_cost: [currency/unit short], used in cost mode.
        review_period: [periods] per stage (default 1).
        replications: independent runs per stage.
        periods: periods per run after the warm-up.
        warmup: periods discarded at the start of each run.
        crossing: whether orders may cross (arrive out of order).

    Returns:
        The smallest level that meets the target (target modes) or the level of least
        expected holding + stockout cost (cost mode), with its metrics and standard
        errors, all estimated on the same simulated paths. "Meets" is judged on the
        replications pooled (units short over all of them / units demanded, the
        long-run fill rate) and on the reported value (the mean of each replication's
        ratio): both are at least the target.
    """
    n = len(period_demand)
    zeros = np.zeros(n)
    return _run(
        period_demand, lead_time, review_period, seeds, mode, target,
        zeros if holding_cost is None else holding_cost,
        zeros if stockout_cost is None else stockout_cost,
        np.full(n, -1, dtype=np.int64), replications, periods, warmup, crossing,
    )[0]


def evaluate_base_stock(
    period_demand: list[DiscreteDistribution],
    lead_time: list[DiscreteDistribution],
    seeds: np.ndarray,
    base_stock_level: np.ndarray,
    *,
    review_period: np.ndarray | None = None,
    replications: int = 100,
    periods: int = 365,
    warmup: int = 50,
    crossing: bool = True,
) -> SingleStageResult:
    """Metrics of given base-stock levels [units] (integers >= 0), one per stage."""
    return _evaluate(period_demand, lead_time, seeds, base_stock_level, review_period=review_period,
                     replications=replications, periods=periods, warmup=warmup, crossing=crossing)[0]


def _evaluate(
    period_demand: list[DiscreteDistribution],
    lead_time: list[DiscreteDistribution],
    seeds: np.ndarray,
    base_stock_level: np.ndarray,
    *,
    review_period: np.ndarray | None = None,
    replications: int = 100,
    periods: int = 365,
    warmup: int = 50,
    crossing: bool = True,
    replicates: bool = False,
) -> tuple[SingleStageResult, dict[str, np.ndarray]]:
    """:func:`evaluate_base_stock`, and the per-replication values if asked.

    With ``replicates`` the second item is ``{metric: array (replications, stages)}`` for
    every metric (else ``{}``).
    """
    n = len(period_demand)
    levels = np.asarray(base_stock_level)
    if np.any(levels < 0):
        raise ValueError("base_stock_level must be >= 0")
    return _run(
        period_demand, lead_time, review_period, seeds, np.zeros(n, dtype=np.int64), np.zeros(n),
        np.zeros(n), np.zeros(n), np.rint(levels).astype(np.int64), replications, periods,
        warmup, crossing, replicates,
    )
