"""Batched simulation search over the stages of many SKU networks at once (depth by depth).

Under installation base-stock with full backordering every stage orders exactly its
demand (per review period), whatever its level.  With common random numbers (same
network seed) the demand, lead-time and allocation paths are therefore the same in
every run, and a stage's simulated results depend only on its own level and the levels
of its *ancestors* (suppliers, their suppliers, ...): neither its customers' nor its
siblings' levels change what it sees.  So:

* stages are fitted **depth by depth** (depth = longest supplier path from a root);
  once the stages of depth ``< d`` are fixed, a depth-``d`` stage's metrics as a
  function of its own level are fixed functions on the sample;
* two stages of the same depth are never ancestor and descendant, so **one run with
  every depth-``d`` stage at its ``k``-th candidate level measures candidate ``k`` of
  all of them**; ``K`` copies of a network in one engine call measure ``K`` candidates of
  each of its depth-``d`` stages;
* **every network of a batch goes into the same engine call** (copies of all networks,
  each copy with its network's own seed), so one call per search pass serves the whole
  batch; a network's search path depends only on its own results, so results do not
  depend on which other networks share the call (batch size, worker count).

:func:`fit_depthwise` runs a bracketing search per stage (a pass evaluates up to ``K``
candidate levels of every unfinished stage): ``"target"`` finds the smallest integer
level whose simulated fill rate meets the stage's target (fill is non-decreasing in the
level on common random numbers), ``"cost"`` the integer level of least stage cost
(holding on on-hand and in transit to customers + stockout cost per unit short), by
refining around the best evaluated level (exact for unimodal sample cost curves).  The
metrics of each stage at its final level were measured with its final ancestors, so no
final evaluation run is needed.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from echelon_solvers.kit.evaluate import run_copies
from echelon_solvers.kit.search_network import METRICS, SearchNetwork

__all__ = ["moment_start", "fit_depthwise"]


_TOL = 1e-12


def moment_start(mean: np.ndarray, sd: np.ndarray, quantile: np.ndarray) -> np.ndarray:
    """Normal-approximation quantile ``mean + z sd`` of lead-time demand, rounded, >= 0 [units]."""
    z = stats.norm.ppf(np.clip(np.asarray(quantile, dtype=np.float64), 0.5, 0.999))
    return np.maximum(np.rint(np.asarray(mean) + z * np.asarray(sd)), 0.0)


def _next_target(ev: dict[float, np.ndarray], target: float, start: float, spread: float, k: int) -> list[float]:
    """Candidates of a smallest-level-meeting-target search (empty: done)."""
    fi = METRICS.index("fill_rate")
    if not ev:
        return _grid(start, spread, k)
    lv = np.array(sorted(ev))
    ok = np.array([ev[v][fi] >= target - _TOL for v in lv])
    fail, meet = lv[~ok], lv[ok]
    lo = float(fail.max()) if fail.size else -1.0
    if not meet.size:  # everything short: extend upwards
        step = max(1.0, np.ceil(spread), float(lo - lv.min()) / 2.0)
        return [lo + step * i for i in range(1, k + 1)]
    hi = float(meet.min())
    if lo < 0 and hi > 0:  # everything meets: extend downwards
        step = max(1.0, np.ceil(spread), float(lv.max() - hi) / 2.0)
        return sorted({max(0.0, hi - step * i) for i in range(1, k + 1)})
    return _between(lo, hi, k)


def _next_cost(ev: dict[float, np.ndarray], cost: dict[float, float], start: float, spread: float,
               k: int) -> list[float]:
    """Candidates of a least-cost-level search around the best evaluated level (empty: done)."""
    if not ev:
        return _grid(start, spread, k)
    lv = np.array(sorted(ev))
    c = np.array([cost[v] for v in lv])
    b = int(np.argmin(c))  # ties: the smaller level
    best = float(lv[b])
    if b == lv.size - 1:
        step = max(1.0, np.ceil(spread), float(best - lv.min()) / 2.0)
        return [best + step * i for i in range(1, k + 1)]
    if b == 0 and best > 0:
        step = max(1.0, np.ceil(spread), float(lv.max() - best) / 2.0)
        return sorted({max(0.0, best - step * i) for i in range(1, k + 1)})
    lo = float(lv[b - 1]) if b > 0 else best
    hi = float(lv[b + 1])
    return _between(lo, best, k // 2) + _between(best, hi, k - k // 2)


def _grid(start: float, spread: float, k: int) -> list[float]:
    """First pass: ``k`` levels around ``start``, from ``-2.5`` to ``+4`` spreads, >= 1 unit apart."""
    m = np.linspace(-2.5, 4.0, k)
    off = np.rint(m * max(spread, 0.0))
    j0 = int(np.argmin(np.abs(m)))
    steps = np.arange(k) - j0
    off = np.where(np.abs(off) >= np.abs(steps), off, steps)
    return sorted({max(0.0, float(start + o)) for o in off})


def _between(lo: float, hi: float, k: int) -> list[float]:
    """Up to ``k`` integer levels strictly between ``lo`` and ``hi``, evenly spread."""
    n_in = int(hi - lo) - 1
    if n_in <= 0 or k <= 0:
        return []
    if n_in <= k:
        return [lo + i for i in range(1, n_in + 1)]
    return sorted({float(v) for v in np.rint(np.linspace(lo, hi, k + 2)[1:-1])} - {lo, hi})


def fit_depthwise(
    nets: list[SearchNetwork],
    rule: list[np.ndarray],
    target: list[np.ndarray],
    start: list[np.ndarray],
    spread: list[np.ndarray],
    *,
    replications: int,
    periods: int,
    warmup: int,
    crossing: bool = True,
    candidates: int = 12,
    max_passes: int = 40,
) -> int:
    """Fit every stage's level, depth by depth, in batched engine calls.

    Args:
        nets: the networks; ``levels`` are overwritten with the fitted levels and
            ``records`` hold the metrics of every evaluated level.
        rule: per network, per stage: 0 = keep the current level, 1 = smallest level
            meeting ``target`` (fill rate), 2 = least stage cost.
        target: per network, per stage fill-rate target [-] (rule 1).
        start: per network, per stage starting level [units].
        spread: per network, per stage search scale (e.g. the standard deviation of
            lead-time demand) [units].
        replications: engine replications per candidate.
        periods: measured periods per replication.
        warmup: warm-up periods per replication.
        crossing: allow order crossing with stochastic lead times.
        candidates: levels per stage and pass (copies of a network per engine call).
        max_passes: cap on passes per depth.

    Returns:
        The number of engine calls made.
    """
    calls = 0
    max_depth = max((int(sn.depth.max()) for sn in nets), default=-1)
    for sn, st, ru in zip(nets, start, rule, strict=True):
        sn.levels = np.where(np.asarray(ru) != 0, st, sn.levels).astype(np.float64)
    for d in range(max_depth + 1):
        items = [(i, int(j)) for i, sn in enumerate(nets) for j in np.flatnonzero((sn.depth == d) & (rule[i] != 0))]
        active: set[tuple[int, int]] = set(items)
        for _ in range(max_passes):
            plan: dict[int, dict[int, list[float]]] = {}
            for i, j in sorted(active):
                sn = nets[i]
                ev = sn.records[j]
                if rule[i][j] == 1:
                    cand = _next_target(ev, float(target[i][j]), float(start[i][j]), float(spread[i][j]), candidates)
                else:
                    cost = {v: _cost_of(sn, j, row) for v, row in ev.items()}
                    cand = _next_cost(ev, cost, float(start[i][j]), float(spread[i][j]), candidates)
                cand = [v for v in cand if v not in ev]
                if cand:
                    plan.setdefault(i, {})[j] = cand
                else:
                    active.discard((i, j))
                    sn.levels[j] = _final(ev, rule[i][j], float(target[i][j]), sn, j)
            if not plan:
                break
            run_ids, run_nets, run_lv = [], [], []
            for i in sorted(plan):
                sn = nets[i]
                k = max(len(c) for c in plan[i].values())
                lv = np.repeat(sn.levels[None, :], k, axis=0)
                for j, cand in plan[i].items():
                    col = np.asarray(cand + [cand[-1]] * (k - len(cand)))
                    lv[:, j] = col
                run_ids.append(i)
                run_nets.append(sn)
                run_lv.append(lv)
            out = run_copies(run_nets, run_lv, replications=replications, periods=periods, warmup=warmup,
                             crossing=crossing)
            calls += 1
            for i, sn, lv, vals in zip(run_ids, run_nets, run_lv, out, strict=True):
                for j in plan[i]:
                    for r in range(lv.shape[0]):
                        sn.records[j].setdefault(float(lv[r, j]), vals[r, j])
        for i, j in sorted(active):  # pass cap reached: best so far
            sn = nets[i]
            sn.levels[j] = _final(sn.records[j], rule[i][j], float(target[i][j]), sn, j)
    return calls


def _cost_of(sn: SearchNetwork, j: int, row: np.ndarray) -> float:
    hold = float(row[METRICS.index("holding_cost")])
    short = float(np.nan_to_num(row[METRICS.index("short")]))
    return hold + (short * float(sn.stockout_cost[j]) if sn._demand_mask[j] else 0.0)


def _final(ev: dict[float, np.ndarray], rule: int, target: float, sn: SearchNetwork, j: int) -> float:
    if not ev:
        return float(sn.levels[j])
    lv = np.array(sorted(ev))
    if rule == 1:
        fi = METRICS.index("fill_rate")
        ok = [v for v in lv if ev[float(v)][fi] >= target - _TOL]
        return float(min(ok)) if ok else float(lv.max())
    c = np.array([_cost_of(sn, j, ev[float(v)]) for v in lv])
    return float(lv[int(np.argmin(c))])
