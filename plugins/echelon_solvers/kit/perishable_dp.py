"""Exact dynamic programming for small perishable-inventory instances (Nahmias-style).

One stage, fixed shelf life ``m`` [periods] from receipt, fixed lead time ``L``
[periods], i.i.d. discrete demand, FIFO or LIFO issuing, lost sales or backorders; the
events of a period are those of :mod:`platform_core.simulation.perishable`:

1. the order placed ``L`` periods ago arrives fresh (``L = 0``: this period's order, at
   once); it clears backorders first;
2. the order ``q`` of this period is placed (at most ``max_order`` units);
3. demand is issued oldest first (FIFO) or freshest first (LIFO); what is short is lost
   or backordered;
4. stock whose shelf life ends this period outdates; the rest ages by one period.

Costs of a period [currency/period]: ``holding`` x units left at its end (after
outdating), ``shortage`` x units short (lost or backordered, once), ``waste`` x units
outdated, ``ordering`` x units ordered.

The state at the start of a period is the stock carried over by periods of life left
(``1 .. m - 1``), the orders in the pipeline (``L`` of them, the first arriving now) and,
with backorders, the backlog (only when no stock is carried). Each component is at
most ``max_order`` (a batch is one order), the backlog at most ``max_backlog`` (what would
exceed it is dropped: a truncation, harmless when the cap is rarely reached, which
:attr:`PolicyEvaluation.backlog_at_cap` reports). Demand beyond what any state can fill
is merged into one outcome (its shortage cost uses the tail's conditional mean, so
expected costs are exact).

:func:`optimal_policy` runs value iteration: discounted (``discount < 1``) or, for the
long-run average cost, relative value iteration (``discount = 1``).
:func:`evaluate_policy` gives the exact long-run averages of a stationary policy (the
optimal one, or base stock ``S`` with or without the expected-waste adjustment of
:func:`platform_core.simulation.perishable.order_quantity`) from the stationary
distribution of its Markov chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation.perishable import (
    POLICY_BASE_STOCK,
    POLICY_WASTE_ADJUSTED,
    order_quantity,
)

__all__ = ["PerishableInstance", "PolicyEvaluation", "DPSolution", "optimal_policy", "evaluate_policy",
           "evaluate_policies", "base_stock_orders"]


@dataclass(frozen=True)
class PerishableInstance:
    """A small perishable instance for the DP.

    Attributes:
        demand: demand per period [units/period].
        shelf_life: ``m`` [periods] >= 1.
        lead_time: ``L`` [periods] >= 0.
        holding: [currency/unit/period] on stock left at the end of a period.
        shortage: [currency/unit] per unit short (lost or backordered), once.
        waste: [currency/unit] per unit outdated.
        ordering: [currency/unit] per unit ordered.
        issuing: ``"fifo"`` or ``"lifo"``.
        backorders: backorder unmet demand (``False``: lost sales).
        max_order: largest order [units] (and so largest batch).
        max_backlog: largest backlog kept [units] (backorders only).
    """

    demand: DiscreteDistribution
    shelf_life: int
    lead_time: int
    holding: float
    shortage: float
    waste: float
    ordering: float = 0.0
    issuing: str = "fifo"
    backorders: bool = False
    max_order: int = 10
    max_backlog: int = 0

    def __post_init__(self) -> None:
        if self.shelf_life < 1 or self.lead_time < 0 or self.max_order < 1 or self.max_backlog < 0:
            raise ValueError("need shelf_life >= 1, lead_time >= 0, max_order >= 1, max_backlog >= 0")
        if self.issuing not in ("fifo", "lifo"):
            raise ValueError(f"issuing must be 'fifo' or 'lifo', got {self.issuing!r}")


@dataclass(frozen=True)
class _Model:
    """States and per-(action, demand outcome) transitions of an instance."""

    states: np.ndarray  # (n, dims): carried stock by life 1..m-1, pipeline (arriving in 0..L-1), [backlog]
    next_state: np.ndarray  # (actions, outcomes, n) int64
    prob: np.ndarray  # (outcomes,)
    cost: np.ndarray  # (actions, n) expected cost of the period
    parts: np.ndarray  # (4, actions, n) expected on hand, short, outdated, demand
    backlog_cap_hit: np.ndarray  # (actions, n) probability the backlog reaches its cap


def _model(inst: PerishableInstance) -> _Model:
    m, lead, qmax = inst.shelf_life, inst.lead_time, inst.max_order
    bmax = inst.max_backlog if inst.backorders else 0
    dims = [qmax + 1] * (m - 1 + lead) + ([bmax + 1] if bmax > 0 else [])
    grid = np.indices(dims).reshape(len(dims), -1).T if dims else np.zeros((1, 0), dtype=np.int64)
    stock_cols = slice(0, m - 1)
    if bmax > 0:  # a backlog only when no stock is carried
        ok = (grid[:, -1] == 0) | (grid[:, stock_cols].sum(axis=1) == 0)
        grid = grid[ok]
    n = grid.shape[0]
    full_index = np.full(int(np.prod(dims)) if dims else 1, -1, dtype=np.int64)
    flat = np.ravel_multi_index(grid.T, dims) if dims else np.zeros(1, dtype=np.int64)
    full_index[flat] = np.arange(n)
    # demand outcomes: 0 .. cap (the last one "cap or more")
    pmf = inst.demand.pmf
    values = inst.demand.offset + np.arange(pmf.size)
    cap = m * qmax + bmax + 1
    prob = np.zeros(cap + 1)
    np.add.at(prob, np.minimum(values, cap), pmf)
    tail = values >= cap
    d_cost = np.arange(cap + 1, dtype=np.float64)
    if prob[cap] > 0:
        d_cost[cap] = float((values[tail] * pmf[tail]).sum() / prob[cap])
    outcomes = np.flatnonzero(prob > 0)
    prob = prob[outcomes]
    n_act = qmax + 1
    nxt = np.empty((n_act, outcomes.size, n), dtype=np.int64)
    cost = np.zeros((n_act, n))
    parts = np.zeros((4, n_act, n))
    cap_hit = np.zeros((n_act, n))
    carried = grid[:, stock_cols].astype(np.float64)
    pipe = grid[:, m - 1:m - 1 + lead]
    backlog = grid[:, -1].astype(np.float64) if bmax > 0 else np.zeros(n)
    for q in range(n_act):
        arriving = (pipe[:, 0] if lead > 0 else np.full(n, q)).astype(np.float64)
        new_pipe = np.column_stack([pipe[:, 1:], np.full(n, q)]) if lead > 0 else np.zeros((n, 0), dtype=np.int64)
        cleared = np.minimum(arriving, backlog)
        b0 = backlog - cleared
        # stock by life 1..m (the arrival has m periods of life)
        lives = np.column_stack([carried, arriving - cleared])
        order = range(m) if inst.issuing == "fifo" else range(m - 1, -1, -1)
        for k, d in enumerate(outcomes):
            left = lives.copy()
            rem = np.full(n, float(d))
            for j in order:
                take = np.minimum(left[:, j], rem)
                left[:, j] -= take
                rem -= take
            filled = float(d) - rem
            short = d_cost[d] - filled
            outdated = left[:, 0]
            nxt_carried = left[:, 1:]
            b1 = b0 + short if inst.backorders else np.zeros(n)
            if bmax > 0:
                cap_hit[q] += prob[k] * (b1 >= bmax)
                b1 = np.minimum(np.rint(b1), bmax)
            on_hand = nxt_carried.sum(axis=1)
            c = inst.holding * on_hand + inst.shortage * short + inst.waste * outdated + inst.ordering * q
            cost[q] += prob[k] * c
            parts[0, q] += prob[k] * on_hand
            parts[1, q] += prob[k] * short
            parts[2, q] += prob[k] * outdated
            parts[3, q] += prob[k] * d_cost[d]
            cols = [nxt_carried.astype(np.int64), new_pipe] + ([b1.astype(np.int64)[:, None]] if bmax > 0 else [])
            ns = np.column_stack(cols) if dims else np.zeros((n, 0), dtype=np.int64)
            nxt[q, k] = full_index[np.ravel_multi_index(ns.T, dims)] if dims else 0
    return _Model(grid, nxt, prob, cost, parts, cap_hit)


@dataclass(frozen=True)
class PolicyEvaluation:
    """Exact long-run averages of a stationary policy (per period).

    Attributes:
        cost: [currency/period].
        on_hand: end-of-period stock [units].
        short: units short [units/period].
        outdated: units outdated [units/period].
        fill_rate: ``1 - short / demand`` [-].
        backlog_at_cap: probability per period that the backlog reaches ``max_backlog``.
    """

    cost: float
    on_hand: float
    short: float
    outdated: float
    fill_rate: float
    backlog_at_cap: float


@dataclass(frozen=True)
class DPSolution:
    """Value iteration's result.

    Attributes:
        states: (states, dims) carried stock by life ``1 .. m-1``, pipeline, [backlog].
        order: the optimal order per state [units].
        value: the value function (relative values when average-cost).
        gain: average cost per period (average-cost runs; NaN when discounted).
        iterations: value-iteration sweeps run.
        evaluation: the exact long-run averages of the optimal policy.
    """

    states: np.ndarray
    order: np.ndarray
    value: np.ndarray
    gain: float
    iterations: int
    evaluation: PolicyEvaluation


def _stationary(model: _Model, act: np.ndarray) -> np.ndarray:
    """Stationary distribution of the chain of actions ``act`` (one per state), started empty."""
    n = model.states.shape[0]
    rows = np.repeat(np.arange(n), model.prob.size)
    cols = model.next_state[act, :, np.arange(n)].reshape(-1)
    vals = np.tile(model.prob, n)
    p = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    # the states reachable from the empty state (state 0): one recurrent class under a stationary policy here
    seen = np.zeros(n, dtype=bool)
    seen[0] = True
    frontier = np.array([0])
    while frontier.size:
        nxt = np.unique(p[frontier].indices)
        frontier = nxt[~seen[nxt]]
        seen[frontier] = True
    idx = np.flatnonzero(seen)
    sub = p[idx][:, idx].T.tolil()
    a = (sub - sp.identity(idx.size, format="lil")).tolil()
    a[-1, :] = np.ones(idx.size)
    rhs = np.zeros(idx.size)
    rhs[-1] = 1.0
    pi_sub = spla.spsolve(a.tocsc(), rhs)
    pi = np.zeros(n)
    pi[idx] = np.clip(pi_sub, 0.0, None)
    return pi / pi.sum()


def _evaluate(model: _Model, act: np.ndarray) -> PolicyEvaluation:
    pi = _stationary(model, act)
    s = np.arange(act.size)
    on_hand, short, outdated, demand = (float(pi @ model.parts[j, act, s]) for j in range(4))
    return PolicyEvaluation(
        cost=float(pi @ model.cost[act, s]), on_hand=on_hand, short=short, outdated=outdated,
        fill_rate=1.0 - short / demand if demand > 0 else 1.0, backlog_at_cap=float(pi @ model.backlog_cap_hit[act, s]),
    )


def base_stock_orders(inst: PerishableInstance, level: int, waste_adjusted: bool = False) -> Callable[[np.ndarray], int]:
    """The order rule of base stock ``level`` [units] (optionally waste-adjusted) on DP states.

    The very order function the simulator uses
    (:func:`platform_core.simulation.perishable.order_quantity`), fed the state's batches.
    """
    m, lead = inst.shelf_life, inst.lead_time
    mu = inst.demand.mean()
    kind = POLICY_WASTE_ADJUSTED if waste_adjusted else POLICY_BASE_STOCK
    bq = np.zeros(max(m, 1))
    be = np.zeros(max(m, 1), dtype=np.int64)

    def rule(state: np.ndarray) -> int:
        carried = state[:m - 1]
        pipe = state[m - 1:m - 1 + lead]
        backlog = state[m - 1 + lead] if inst.backorders and inst.max_backlog > 0 else 0
        # the simulator orders after this period's arrival: the batch arriving now has m periods of life
        arriving = pipe[0] if lead > 0 else 0
        cnt = 0
        for life in range(1, m):
            if carried[life - 1] > 0:
                bq[cnt], be[cnt] = carried[life - 1], life - 1
                cnt += 1
        net_arrival = max(arriving - backlog, 0)
        if net_arrival > 0:
            bq[cnt], be[cnt] = net_arrival, m - 1
            cnt += 1
        ip = float(carried.sum() + pipe.sum() - backlog)
        q = order_quantity(kind, float(level), ip, bq, be, 0, cnt, 0, mu, float(lead + 1))
        return int(min(q, inst.max_order))

    return rule


def evaluate_policy(inst: PerishableInstance, rule: Callable[[np.ndarray], int] | np.ndarray) -> PolicyEvaluation:
    """Exact long-run averages of a stationary policy: an order per state, or a rule on states."""
    return evaluate_policies(inst, [rule])[0]


def evaluate_policies(inst: PerishableInstance,
                      rules: Sequence[Callable[[np.ndarray], int] | np.ndarray]) -> list[PolicyEvaluation]:
    """:func:`evaluate_policy` of several policies (the transitions are built once)."""
    model = _model(inst)
    out = []
    for rule in rules:
        if callable(rule):
            act = np.array([rule(s) for s in model.states], dtype=np.int64)
        else:
            act = np.asarray(rule, dtype=np.int64)
        if act.shape != (model.states.shape[0],) or act.min() < 0 or act.max() > inst.max_order:
            raise ValueError("a policy orders 0 .. max_order units in every state")
        out.append(_evaluate(model, act))
    return out


_TAU = 0.5  # aperiodicity transform of relative value iteration


def optimal_policy(inst: PerishableInstance, discount: float = 1.0, tol: float = 1e-7,
                   max_iterations: int = 100_000) -> DPSolution:
    """Value iteration: the optimal order per state, discounted or long-run average cost.

    Args:
        inst: the instance.
        discount: factor per period in (0, 1]; 1 runs relative value iteration for the
            long-run average cost.
        tol: stop when the value changes by less (discounted: the largest change; average:
            the span of the change, which bounds the gain's error).
        max_iterations: a bound on the sweeps (reaching it raises).
    """
    if not 0.0 < discount <= 1.0:
        raise ValueError("discount must be in (0, 1]")
    model = _model(inst)
    n = model.states.shape[0]
    v = np.zeros(n)
    gain = np.nan
    it = 0
    while True:
        it += 1
        if it > max_iterations:
            raise RuntimeError(f"value iteration did not converge in {max_iterations} sweeps")
        q_val = model.cost + discount * np.tensordot(model.prob, v[model.next_state], axes=(0, 1))
        new = q_val.min(axis=0)
        diff = new - v
        if discount < 1.0:
            v = new
            if np.abs(diff).max() < tol:
                break
        else:
            # aperiodicity transform (Puterman 8.5.4): v <- v + tau (T v - v), the same optimal
            # policies, gain bounds min / max of (T v - v); without it a periodic chain (e.g.
            # LIFO) makes plain relative value iteration oscillate
            lo, hi = diff.min(), diff.max()
            v = v + _TAU * diff
            v -= v[0]
            if hi - lo < tol:
                gain = 0.5 * (lo + hi)
                break
    q_val = model.cost + discount * np.tensordot(model.prob, v[model.next_state], axes=(0, 1))
    act = np.argmin(q_val, axis=0)
    return DPSolution(states=model.states, order=act, value=v, gain=float(gain), iterations=it,
                      evaluation=_evaluate(model, act))
