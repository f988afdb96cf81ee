"""A perishable-stock policy learned by simulation, against base stock and (s, S) found by search.

The model is :mod:`echelon_solvers.kit.perishable_dp`'s with lost sales (one stage, shelf
life ``m``, lead time ``L >= 1``, FIFO or LIFO issuing): a period starts with the stock
carried by periods of life left ``1 .. m-1`` and the ``L`` orders in the pipeline (the
first arriving now, fresh, with ``m`` periods of life); the order ``q`` is placed; demand
is issued; what is short is lost; stock at the end of its life outdates. Cost of a
period [currency]: ``holding`` x units left, ``shortage`` x units lost, ``waste`` x units
outdated, ``ordering`` x units ordered.

A policy is a **table**: one order [units] per DP state, in the DP's state order
(``numpy.ravel_multi_index`` over ``(max_order + 1,) * (m - 1 + L)``), so any table is also
scored exactly by :func:`~echelon_solvers.kit.perishable_dp.evaluate_policy` — the test of
the simulator, and the way the benchmark prints the optimum beside the learned policy.

* :func:`simulate_perishable_costs` — average cost per path of a table policy (Numba; one
  SplitMix64 stream per (seed, path): common random numbers across policies).
* :func:`search_heuristics` — the best base stock ``S`` (order ``S - IP``), the best
  ``(s, S)`` and the best waste-adjusted base stock (the simulator's
  ``S - IP + expected waste``) by exhaustive search on one set of random numbers.
* :func:`train_perishable_policy` — approximate policy iteration (as
  :mod:`echelon_solvers.kit.lost_sales_api`): sample the states the current policy
  visits, roll every order ``0 .. max_order`` out for ``horizon_periods`` periods of the
  current policy on common random numbers, relabel a state only where the best order
  wins by more than ``z_noise`` paired standard errors; the generation kept is chosen
  by a paired simulation on random numbers training never used. The DP is not used.

Everything is seeded from one ``seed``: same seed, same table, bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from echelon_solvers.kit.crn import crn_key, crn_uniform
from echelon_solvers.kit.perishable_dp import PerishableInstance, base_stock_orders

__all__ = [
    "HeuristicSearch",
    "LearnedPerishablePolicy",
    "perishable_base_stock_table",
    "perishable_states",
    "s_S_table",
    "search_heuristics",
    "simulate_perishable_costs",
    "perishable_step_period",
    "train_perishable_policy",
    "waste_adjusted_table",
]


def _check(inst: PerishableInstance) -> None:
    if inst.backorders:
        raise ValueError("perishable_learned: lost sales only (instance.backorders must be False)")
    if inst.lead_time < 1:
        raise ValueError(f"perishable_learned: lead_time >= 1 expected, got {inst.lead_time}")


def _dims(inst: PerishableInstance) -> tuple[int, ...]:
    return (inst.max_order + 1,) * (inst.shelf_life - 1 + inst.lead_time)


def perishable_states(inst: PerishableInstance) -> np.ndarray:
    """Every state ``(carried by life 1..m-1, pipeline arriving in 0..L-1)`` [units], DP order."""
    _check(inst)
    dims = _dims(inst)
    return np.indices(dims).reshape(len(dims), -1).T.astype(np.int64)


def _demand_table(inst: PerishableInstance) -> tuple[np.ndarray, int]:
    return np.cumsum(inst.demand.pmf), int(inst.demand.offset)


@njit(cache=True, nogil=True)
def _period(state, q, d, life, lifo, holding, shortage, waste, ordering, lives):
    """Advance ``state`` (carried m-1, pipeline L) in place by one period; return the cost."""
    m = life
    nl = state.size - (m - 1)
    for j in range(m - 1):
        lives[j] = state[j]
    lives[m - 1] = state[m - 1]  # the pipeline's first order arrives fresh
    rem = d
    if lifo:
        for j in range(m - 1, -1, -1):
            take = min(lives[j], rem)
            lives[j] -= take
            rem -= take
    else:
        for j in range(m):
            take = min(lives[j], rem)
            lives[j] -= take
            rem -= take
    outdated = lives[0]
    left = 0
    for j in range(1, m):
        state[j - 1] = lives[j]
        left += lives[j]
    for k in range(nl - 1):
        state[m - 1 + k] = state[m + k]
    state[m - 1 + nl - 1] = q
    return holding * left + shortage * rem + waste * outdated + ordering * q


@njit(cache=True, nogil=True)
def _flat(state, base):
    f = 0
    for k in range(state.size):
        f = f * base + state[k]
    return f


@njit(cache=True, nogil=True)
def _demand(cdf, offset, u):
    d = np.searchsorted(cdf, u, side="right")
    if d >= cdf.size:
        d = cdf.size - 1
    return offset + d


@njit(cache=True, nogil=True)
def _simulate(orders, base, nstate, life, lifo, h, p, w, c, cdf, offset, seed, stream, periods, warmup,
              sample_every, samples_out):
    state = np.zeros(nstate, dtype=np.int64)
    lives = np.zeros(life, dtype=np.int64)
    total = 0.0
    n_s = 0
    for t in range(warmup + periods):
        q = orders[_flat(state, base)]
        d = _demand(cdf, offset, crn_uniform(crn_key(seed, stream, t, 11)))
        cost = _period(state, q, d, life, lifo, h, p, w, c, lives)
        if t >= warmup:
            total += cost
            if sample_every > 0 and (t - warmup) % sample_every == 0 and n_s < samples_out.shape[0]:
                for k in range(nstate):
                    samples_out[n_s, k] = state[k]
                n_s += 1
    return total / periods


@njit(cache=True, nogil=True)
def _rollout_q(states, orders, base, life, lifo, h, p, w, c, cdf, offset, seed, rollouts, horizon,
               q_out, se_out):
    """Mean cost of every first order ``0 .. base-1`` per state over CRN rollouts.

    ``se_out[i, a]`` is the standard error of the paired difference between order ``a``
    and the current policy's order (the same demand paths).
    """
    n, nstate = states.shape
    width = q_out.shape[1]
    st = np.empty(nstate, dtype=np.int64)
    lives = np.zeros(life, dtype=np.int64)
    ref = np.empty(rollouts)
    for i in range(n):
        cur = orders[_flat(states[i], base)]
        for jj in range(width + 1):
            a = cur if jj == 0 else jj - 1
            s1 = 0.0
            s2 = 0.0
            acc = 0.0
            for r in range(rollouts):
                for k in range(nstate):
                    st[k] = states[i, k]
                d = _demand(cdf, offset, crn_uniform(crn_key(seed, i, r, 0)))
                cost = _period(st, a, d, life, lifo, h, p, w, c, lives)
                for t in range(1, horizon + 1):
                    d = _demand(cdf, offset, crn_uniform(crn_key(seed, i, r, t)))
                    cost += _period(st, orders[_flat(st, base)], d, life, lifo, h, p, w, c, lives)
                if jj == 0:
                    ref[r] = cost
                else:
                    diff = cost - ref[r]
                    s1 += diff
                    s2 += diff * diff
                    acc += cost
            if jj > 0:
                q_out[i, jj - 1] = acc / rollouts
                var = max(s2 / rollouts - (s1 / rollouts) ** 2, 0.0)
                se_out[i, jj - 1] = np.sqrt(var / max(rollouts - 1, 1))


def perishable_step_period(inst: PerishableInstance, state: np.ndarray, order_units: int, demand_units: int
                ) -> tuple[np.ndarray, float]:
    """One period from ``state`` with order ``order_units`` and demand ``demand_units``: (next state, cost)."""
    _check(inst)
    st = np.array(state, dtype=np.int64, copy=True)
    lives = np.zeros(inst.shelf_life, dtype=np.int64)
    cost = _period(st, int(order_units), int(demand_units), inst.shelf_life, inst.issuing == "lifo",
                   inst.holding, inst.shortage, inst.waste, inst.ordering, lives)
    return st, float(cost)


def _args(inst: PerishableInstance) -> tuple[int, int, int, bool, float, float, float, float]:
    return (inst.max_order + 1, inst.shelf_life - 1 + inst.lead_time, inst.shelf_life, inst.issuing == "lifo",
            float(inst.holding), float(inst.shortage), float(inst.waste), float(inst.ordering))


def simulate_perishable_costs(inst: PerishableInstance, orders: np.ndarray, seed: int, paths: int = 16,
                   periods: int = 20_000, warmup: int = 200) -> np.ndarray:
    """Average cost per path [currency/period] of a table policy (path ``k``: stream ``(seed, k)``)."""
    _check(inst)
    o = np.asarray(orders, dtype=np.int64)
    n = (inst.max_order + 1) ** (inst.shelf_life - 1 + inst.lead_time)
    if o.shape != (n,) or o.min() < 0 or o.max() > inst.max_order:
        raise ValueError(f"orders: expected {n} orders in 0..{inst.max_order}, got shape {o.shape}")
    cdf, offset = _demand_table(inst)
    dummy = np.zeros((0, 1), dtype=np.int64)
    a = _args(inst)
    return np.array([_simulate(o, *a, cdf, offset, int(seed), k, int(periods), int(warmup), 0, dummy)
                     for k in range(int(paths))])


def perishable_base_stock_table(inst: PerishableInstance, level_units: int) -> np.ndarray:
    """Base stock ``S``: order ``min((S - IP)^+, max_order)``, IP = carried + pipeline [units]."""
    ip = perishable_states(inst).sum(axis=1)
    return np.minimum(np.maximum(int(level_units) - ip, 0), inst.max_order)


def s_S_table(inst: PerishableInstance, reorder_point_units: int, order_up_to_units: int) -> np.ndarray:  # noqa: N802
    """(s, S): order ``min(S - IP, max_order)`` when ``IP <= s``, else nothing [units]."""
    ip = perishable_states(inst).sum(axis=1)
    q = np.minimum(np.maximum(int(order_up_to_units) - ip, 0), inst.max_order)
    return np.where(ip <= int(reorder_point_units), q, 0)


def waste_adjusted_table(inst: PerishableInstance, level_units: int) -> np.ndarray:
    """The simulator's waste-adjusted base stock ``S - IP + expected waste`` as a table."""
    rule = base_stock_orders(inst, int(level_units), waste_adjusted=True)
    return np.array([rule(s) for s in perishable_states(inst)], dtype=np.int64)


@dataclass(frozen=True)
class HeuristicSearch:
    """Best heuristic policies by exhaustive search on common random numbers.

    Attributes:
        base_stock_level: best ``S`` [units] and its simulated cost [currency/period].
        s_S: best ``(s, S)`` [units] and its simulated cost [currency/period].
        waste_adjusted_level: best waste-adjusted ``S`` [units] and its cost [currency/period].
        tables: the three order tables, keyed ``"base_stock"``, ``"s_S"``, ``"waste_adjusted"``.
        candidates: policies simulated [-].
    """

    base_stock_level: tuple[int, float]
    s_S: tuple[int, int, float]  # noqa: N815
    waste_adjusted_level: tuple[int, float]
    tables: dict[str, np.ndarray] = field(repr=False)
    candidates: int = 0


def search_heuristics(inst: PerishableInstance, seed: int, paths: int = 8, periods: int = 10_000,
                      max_level_units: int | None = None) -> HeuristicSearch:
    """Exhaustive search of base stock, (s, S) and waste-adjusted base stock by simulation.

    Every ``0 <= S <= max_level_units`` (default ``(m - 1 + L) * max_order``, the largest
    inventory position a state can have), every ``-1 <= s < S``; all candidates on the
    same random numbers (``seed``). Ties keep the smaller levels.
    """
    top = (inst.shelf_life - 1 + inst.lead_time) * inst.max_order if max_level_units is None else max_level_units
    best_bs: tuple[int, float] | None = None
    best_ss: tuple[int, int, float] | None = None
    best_wa: tuple[int, float] | None = None
    n = 0
    for level in range(top + 1):
        for s in range(-1, level):
            cost = float(simulate_perishable_costs(inst, s_S_table(inst, s, level), seed, paths, periods).mean())
            n += 1
            if best_ss is None or cost < best_ss[2]:
                best_ss = (s, level, cost)
            if s == level - 1 and (best_bs is None or cost < best_bs[1]):
                best_bs = (level, cost)
        cost = float(simulate_perishable_costs(inst, waste_adjusted_table(inst, level), seed, paths, periods).mean())
        n += 1
        if best_wa is None or cost < best_wa[1]:
            best_wa = (level, cost)
    assert best_bs is not None and best_ss is not None and best_wa is not None
    tables = {"base_stock": perishable_base_stock_table(inst, best_bs[0]), "s_S": s_S_table(inst, best_ss[0], best_ss[1]),
              "waste_adjusted": waste_adjusted_table(inst, best_wa[0])}
    return HeuristicSearch(best_bs, best_ss, best_wa, tables, n)


@dataclass(frozen=True)
class LearnedPerishablePolicy:
    """A perishable policy learned by approximate policy iteration (an order table).

    Attributes:
        orders: order [units] per state, in :func:`perishable_states` order.
        generation: the generation kept (0: the starting policy).
        selection_costs: held-out selection cost of every generation [currency/period].
        training_seconds: wall time of training [s].
        seed: the training seed.
        rollouts_simulated: periods simulated in the rollouts [periods].
    """

    orders: np.ndarray = field(repr=False)
    generation: int
    selection_costs: tuple[float, ...]
    training_seconds: float
    seed: int
    rollouts_simulated: int

    def order(self, inst: PerishableInstance, state: np.ndarray) -> int:
        """The order [units] in ``state`` (carried by life 1..m-1, pipeline) [units]."""
        return int(self.orders[np.ravel_multi_index(tuple(np.asarray(state, dtype=np.int64)), _dims(inst))])


def train_perishable_policy(inst: PerishableInstance, start_orders: np.ndarray, seed: int = 0,
                            generations: int = 6, states: int = 2000, rollouts: int = 2000,
                            horizon_periods: int = 20, z_noise: float = 2.0, selection_paths: int = 16,
                            selection_periods: int = 20_000) -> LearnedPerishablePolicy:
    """Learn an order table by approximate policy iteration on simulated rollouts.

    Args:
        inst: the instance (lost sales, ``lead_time >= 1``).
        start_orders: the policy training starts from (e.g. the best base stock's table).
        seed: the one seed of training and selection.
        generations: improvement rounds.
        states: periods of the current policy simulated to sample states (each visited
            state labelled once).
        rollouts: CRN rollouts per (state, order).
        horizon_periods: periods of the current policy after the first order [periods].
        z_noise: relabel a state only when the best order beats the current one by more than
            this many paired standard errors [-].
        selection_paths: paths of the simulation that keeps a generation.
        selection_periods: periods per selection path [periods].
    """
    _check(inst)
    t0 = time.perf_counter()
    a = _args(inst)
    base, nstate = a[0], a[1]
    cdf, offset = _demand_table(inst)
    current = np.asarray(start_orders, dtype=np.int64).copy()
    candidates = [current]
    simulated = 0
    for gen in range(1, generations + 1):
        sampled = np.zeros((states, nstate), dtype=np.int64)
        _simulate(current, *a, cdf, offset, int(seed), 1_000_000 + gen, states, 200, 1, sampled)
        flat = np.ravel_multi_index(tuple(sampled.T), _dims(inst))
        uniq, first = np.unique(flat, return_index=True)
        sampled = sampled[first]
        q = np.empty((sampled.shape[0], base))
        se = np.empty((sampled.shape[0], base))
        _rollout_q(sampled, current, base, a[2], a[3], a[4], a[5], a[6], a[7], cdf, offset,
                   int(seed) * 7919 + gen, int(rollouts), int(horizon_periods), q, se)
        simulated += sampled.shape[0] * (base + 1) * rollouts * (horizon_periods + 1)
        rows = np.arange(sampled.shape[0])
        best = np.argmin(q, axis=1)
        cur = current[uniq]
        gain = q[rows, cur] - q[rows, best]
        labels = np.where(gain > z_noise * se[rows, best], best, cur)
        new = current.copy()
        new[uniq] = labels
        candidates.append(new)
        current = new
    sel_seed = int(seed) * 104729 + 17
    costs = [float(simulate_perishable_costs(inst, c, sel_seed, selection_paths, selection_periods).mean()) for c in candidates]
    keep = int(np.argmin(costs))
    return LearnedPerishablePolicy(candidates[keep], keep, tuple(costs), time.perf_counter() - t0, int(seed),
                                   int(simulated))
