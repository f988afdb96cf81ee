"""A lost-sales policy learned by simulation: approximate policy iteration with CRN rollouts.

The method is Deep Controlled Learning's (Temizöz et al. 2023) approximate policy
iteration, with a table in place of the neural network:

1. start from the best capped base-stock policy (found by exact search);
2. **sample states** by simulating the current policy (each visited state once);
3. **improve** each sampled state: every candidate order ``z`` (the current policy's
   order ``± window``) is followed by ``horizon_periods`` periods of the current policy,
   ``rollouts`` times, on *common random numbers* (the same demand paths for every ``z`` of
   a state); the best candidate becomes the state's label only where it beats the current
   order by more than ``z_noise`` paired standard errors (else the label is the current
   order: noise does not move the policy);
4. the next policy takes the labels at the visited states and keeps the current order
   everywhere else (a tabular policy over the state grid: the grids of these instances
   are small enough to hold, so no function approximator is needed — DCL's neural
   network generalises to unvisited states; here they keep the previous, already
   improved policy, which cannot make them worse than the baseline);
5. repeat for ``generations``; the winner among the generations (and the baseline) is
   chosen by a **paired simulation** on held-out common random numbers (no exact DP is
   used in training or selection).

Everything is seeded from one ``seed`` (Numba SplitMix64 streams keyed by seed, state and
rollout), so training is reproducible bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from echelon_solvers.kit.crn import crn_key, crn_uniform
from echelon_solvers.kit.lost_sales_dp import (
    CappedBaseStock,
    LostSalesInstance,
    backorder_base_stock_bound,
    best_capped_base_stock,
    capped_base_stock_orders,
    state_grid,
)

__all__ = ["LearnedLostSalesPolicy", "PairedComparison", "train_policy", "paired_cost_difference",
           "simulate_policy_costs"]

@njit(cache=True, nogil=True)
def _period(state, z, d, holding, penalty):
    """Advance ``state`` in place by one period with order ``z`` and demand ``d``; cost."""
    lt = state.size
    x0 = state[0]
    sold = min(x0, d)
    left = x0 - sold
    cost = holding * left + penalty * (d - sold)
    if lt == 1:
        state[0] = left + z
    else:
        state[0] = left + state[1]
        for k in range(1, lt - 1):
            state[k] = state[k + 1]
        state[lt - 1] = z
    return cost


@njit(cache=True, nogil=True)
def _index(state, base):
    f = 0
    m = 1
    for k in range(state.size):
        f += state[k] * m
        m *= base
    return f


@njit(cache=True, nogil=True)
def _simulate(orders, base, lt, cdf, holding, penalty, seed, stream, periods, warmup, sample_every,
              samples_out):
    """Average cost of the table policy over ``periods`` after ``warmup``; states sampled."""
    state = np.zeros(lt, dtype=np.int64)
    total = 0.0
    n_s = 0
    for t in range(warmup + periods):
        z = orders[_index(state, base)]
        d = np.searchsorted(cdf, crn_uniform(crn_key(seed, stream, t, 7)), side="right")
        if d >= cdf.size:
            d = cdf.size - 1
        c = _period(state, z, d, holding, penalty)
        if t >= warmup:
            total += c
            if sample_every > 0 and (t - warmup) % sample_every == 0 and n_s < samples_out.shape[0]:
                for k in range(lt):
                    samples_out[n_s, k] = state[k]
                n_s += 1
    return total / periods


@njit(cache=True, nogil=True)
def _rollout_q(states, orders, base, bound, cap, cdf, holding, penalty, seed, rollouts, horizon,
               window, q_out, se_out, z_lo_out):
    """Mean cost of each candidate order ``z_lo .. z_lo + width - 1`` per sampled state (CRN).

    ``se_out[i, j]`` is the standard error of the paired difference between candidate ``j``
    and the current policy's order over the rollouts (same demand paths).
    """
    n, lt = states.shape
    width = q_out.shape[1]
    st = np.empty(lt, dtype=np.int64)
    ref = np.empty(rollouts)
    for i in range(n):
        total = 0
        for k in range(lt):
            total += states[i, k]
        z_max = min(bound - total, cap)
        cur = orders[_index(states[i], base)]
        z_lo = max(0, min(cur - window, z_max - width + 1))
        z_lo_out[i] = z_lo
        for jj in range(width + 1):
            # the current order first (jj = 0) so that every candidate is paired with it
            z = cur if jj == 0 else z_lo + jj - 1
            if z > z_max:
                q_out[i, jj - 1] = np.inf
                se_out[i, jj - 1] = 0.0
                continue
            s1 = 0.0
            s2 = 0.0
            acc = 0.0
            for m in range(rollouts):
                for k in range(lt):
                    st[k] = states[i, k]
                d = np.searchsorted(cdf, crn_uniform(crn_key(seed, i, m, 0)), side="right")
                if d >= cdf.size:
                    d = cdf.size - 1
                c = _period(st, z, d, holding, penalty)
                for t in range(1, horizon + 1):
                    zz = orders[_index(st, base)]
                    d = np.searchsorted(cdf, crn_uniform(crn_key(seed, i, m, t)), side="right")
                    if d >= cdf.size:
                        d = cdf.size - 1
                    c += _period(st, zz, d, holding, penalty)
                if jj == 0:
                    ref[m] = c
                else:
                    diff = c - ref[m]
                    s1 += diff
                    s2 += diff * diff
                    acc += c
            if jj > 0:
                q_out[i, jj - 1] = acc / rollouts
                var = max(s2 / rollouts - (s1 / rollouts) ** 2, 0.0)
                se_out[i, jj - 1] = np.sqrt(var / max(rollouts - 1, 1))


@dataclass(frozen=True)
class PairedComparison:
    """Policy A minus policy B on common random numbers.

    Attributes:
        cost_a / cost_b: mean cost [currency/period].
        difference: ``cost_a - cost_b`` [currency/period].
        difference_se: standard error of the difference over the paths [currency/period].
        paths / periods: the simulation's size.
    """

    cost_a: float
    cost_b: float
    difference: float
    difference_se: float
    paths: int
    periods: int


def simulate_policy_costs(instance: LostSalesInstance, orders: np.ndarray, bound: int, seed: int,
                          paths: int = 32, periods: int = 20_000, warmup: int = 200) -> np.ndarray:
    """Average cost per path [currency/period] of a table policy (one stream per path)."""
    cdf = np.cumsum(instance.demand_pmf)
    dummy = np.zeros((0, instance.lead_time_periods), dtype=np.int64)
    return np.array([
        _simulate(orders, bound + 1, instance.lead_time_periods, cdf, instance.holding_cost,
                  instance.lost_sale_cost, seed, p, periods, warmup, 0, dummy)
        for p in range(paths)
    ])


def paired_cost_difference(instance: LostSalesInstance, orders_a: np.ndarray, orders_b: np.ndarray,
                           bound: int, seed: int, paths: int = 32, periods: int = 20_000,
                           warmup: int = 200) -> PairedComparison:
    """Compare two table policies on the same demand paths (common random numbers)."""
    a = simulate_policy_costs(instance, orders_a, bound, seed, paths, periods, warmup)
    b = simulate_policy_costs(instance, orders_b, bound, seed, paths, periods, warmup)
    diff = a - b
    return PairedComparison(float(a.mean()), float(b.mean()), float(diff.mean()),
                            float(diff.std(ddof=1) / np.sqrt(paths)), paths, periods)


@dataclass(frozen=True)
class LearnedLostSalesPolicy:
    """A policy learned by approximate policy iteration, as an order table.

    Attributes:
        orders: dense order table [units] over ``state_grid(L, bound)``.
        bound: the grid's system-inventory bound [units].
        baseline: the capped base-stock policy training started from.
        baseline_orders: its order table.
        generation: the generation chosen (0: the baseline itself).
        selection: paired comparison of the chosen policy against the baseline on the
            selection random numbers.
        generation_orders: the order table of every generation (0: the baseline).
        training_seconds: wall time of training [s].
        seed: the training seed.
    """

    orders: np.ndarray = field(repr=False)
    bound: int
    baseline: CappedBaseStock
    baseline_orders: np.ndarray = field(repr=False)
    generation: int
    selection: PairedComparison
    training_seconds: float
    seed: int
    generation_orders: tuple[np.ndarray, ...] = field(default=(), repr=False)

    def order(self, state: np.ndarray) -> int:
        """The order [units] in ``state`` = (on hand, pipeline ...) [units]."""
        grid = state_grid(len(state), self.bound)
        return int(self.orders[int(grid.index(np.asarray(state)))])


def train_policy(instance: LostSalesInstance, seed: int = 0, generations: int = 8, states: int = 2000,
                 rollouts: int = 1000, horizon_periods: int = 20, window: int = 4,
                 selection_paths: int = 32, selection_periods: int = 20_000, z_noise: float = 2.0,
                 rollout_budget: int = 1_000_000, baseline: CappedBaseStock | None = None,
                 ) -> LearnedLostSalesPolicy:
    """Train a lost-sales policy by simulation (see the module docstring).

    Args:
        instance: the instance (any integer demand PMF, lead time, costs, capacity).
        seed: the one seed of every random number in training and selection.
        generations: policy-improvement rounds.
        states: states sampled per generation.
        rollouts: CRN rollouts per candidate order (at least).
        horizon_periods: periods simulated after the candidate order.
        rollout_budget: rollouts per candidate and generation shared by the visited states:
            each gets ``max(rollouts, budget / visited)``, at most ``20 * rollouts``.
        window: candidate orders are the current order ``± window``.
        selection_paths: paths of the paired simulation that picks the winner.
        selection_periods: periods per selection path [periods].
        z_noise: a visited state's order changes only when the best candidate beats the
            current order by more than this many paired standard errors [-].
        baseline: the starting capped base-stock policy (default: found by exact search).
    """
    t0 = time.perf_counter()
    base_policy = best_capped_base_stock(instance) if baseline is None else baseline
    bound = max(backorder_base_stock_bound(instance), base_policy.level_units)
    lt = instance.lead_time_periods
    grid = state_grid(lt, bound)
    cap_units = bound if instance.max_order_units is None else min(bound, int(instance.max_order_units))
    cap_policy = base_policy.cap_units if base_policy.cap_units is not None else instance.max_order_units
    baseline_orders = capped_base_stock_orders(lt, bound, base_policy.level_units, cap_policy)
    cdf = np.cumsum(instance.demand_pmf)
    h, p = instance.holding_cost, instance.lost_sale_cost
    candidates = [baseline_orders]
    current = baseline_orders
    width = 2 * window + 1
    for gen in range(1, generations + 1):
        sampled = np.zeros((states, lt), dtype=np.int64)
        _simulate(current, bound + 1, lt, cdf, h, p, seed, 1_000_000 + gen, states * 4, 200, 4, sampled)
        flat_s = grid.index(sampled)
        uniq, first = np.unique(flat_s, return_index=True)
        sampled = sampled[first]  # each visited state once
        q = np.empty((sampled.shape[0], width))
        se = np.empty((sampled.shape[0], width))
        z_lo = np.empty(sampled.shape[0], dtype=np.int64)
        # few visited states (short lead times): spend the budget on more rollouts each
        per_state = int(min(max(rollouts, rollout_budget // max(sampled.shape[0], 1)), 20 * rollouts))
        _rollout_q(sampled, current, bound + 1, bound, cap_units, cdf, h, p, seed * 7919 + gen,
                   per_state, horizon_periods, window, q, se, z_lo)
        j_best = np.argmin(q, axis=1)
        rows = np.arange(sampled.shape[0])
        cur = current[uniq]
        # change the order only where the rollouts show a gain beyond their noise
        q_cur = np.take_along_axis(q, np.clip(cur - z_lo, 0, width - 1)[:, None], axis=1)[:, 0]
        gain = q_cur - q[rows, j_best]
        labels = np.where(gain > z_noise * se[rows, j_best], z_lo + j_best, cur)
        new = current.copy()  # unvisited states keep the current policy's order
        new[uniq] = labels
        candidates.append(new)
        current = new
    # selection on held-out random numbers (a seed stream training never used)
    sel_seed = seed * 104729 + 17
    costs = np.array([simulate_policy_costs(instance, c, bound, sel_seed, selection_paths, selection_periods)
                      for c in candidates])
    best = int(np.argmin(costs.mean(axis=1)))
    diff = costs[best] - costs[0]
    selection = PairedComparison(float(costs[best].mean()), float(costs[0].mean()), float(diff.mean()),
                                 float(diff.std(ddof=1) / np.sqrt(selection_paths)) if best else 0.0,
                                 selection_paths, selection_periods)
    return LearnedLostSalesPolicy(candidates[best], bound, base_policy, baseline_orders, best, selection,
                                  time.perf_counter() - t0, int(seed), tuple(candidates))
