"""Exact average-cost optimum of the single-stage lost-sales system (relative value iteration).

The model is Zipkin (2008), "Old and new methods for lost-sales inventory systems",
Operations Research 56(5), and Echelon's engine with ``backorders=False``: a period runs

1. the order placed ``L`` periods ago arrives (``L = lead_time_periods >= 1``);
2. an order ``z`` is placed (at most ``max_order_units``, the per-period capacity);
3. demand ``D`` (i.i.d., integer) is filled from on-hand stock; the rest is lost;
4. cost ``holding_cost * (on_hand - D)^+ + lost_sale_cost * (D - on_hand)^+``.

The state after the receipt is ``x = (x_0, ..., x_{L-1})``: ``x_0`` on hand, ``x_k`` the
order arriving in ``k`` periods. The next state is ``((x_0 - D)^+ + x_1, x_2, ..., z)``.

**Truncation.** Orders are limited so that the system inventory after ordering,
``x_0 + ... + x_{L-1} + z``, stays at or below ``bound`` — by default the optimal
base-stock level of the same system with backorders, the smallest ``S`` with
``P(D_1 + ... + D_{L+1} <= S) >= p / (p + h)``. Morton (1969) showed that the optimal
lost-sales order never takes the system inventory above that level (Zipkin 2008 §3 uses
the same bound; Janakiraman & Roundy 2004 prove the order-quantity bounds), so the
truncated problem has the same optimum; states with larger sums are transient. The set
``{sum(x) <= bound}`` is closed under the dynamics, so the truncated chain is exact, not
an approximation: :func:`solve_optimal` with a larger ``bound`` returns the same cost
(tests check this). For ``L = 4``, ``p = 39`` and Poisson(5) demand the bound is 35 and
the grid 82,251 states.

Policies are tables over the dense grid ``(bound + 1)^L`` (entry ``sum_k x_k (bound+1)^k``),
so any stationary policy — base stock, capped base stock, a learned classifier — is
evaluated exactly on the same Markov chain (:func:`evaluate_lost_sales_policy`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numba import njit
from scipy import stats

__all__ = [
    "LostSalesInstance",
    "StateGrid",
    "LostSalesSolution",
    "CappedBaseStock",
    "state_grid",
    "backorder_base_stock_bound",
    "solve_optimal",
    "evaluate_lost_sales_policy",
    "capped_base_stock_orders",
    "best_base_stock",
    "best_capped_base_stock",
]


@dataclass(frozen=True)
class LostSalesInstance:
    """One single-stage lost-sales instance.

    Args:
        demand_pmf: ``P(D = d)`` for ``d = 0, 1, ...`` [-] (integer demand [units/period]).
        lead_time_periods: ``L >= 1`` [periods] from order to availability.
        holding_cost: per unit on hand at the end of a period [currency/unit/period].
        lost_sale_cost: per unit of demand lost [currency/unit].
        max_order_units: per-period order capacity [units/period] (``None``: uncapacitated).
    """

    demand_pmf: np.ndarray
    lead_time_periods: int
    holding_cost: float = 1.0
    lost_sale_cost: float = 4.0
    max_order_units: int | None = None

    def __post_init__(self) -> None:
        pmf = np.asarray(self.demand_pmf, dtype=np.float64)
        if pmf.ndim != 1 or pmf.size == 0 or np.any(pmf < 0) or abs(pmf.sum() - 1.0) > 1e-9:
            raise ValueError("demand_pmf: expected a 1-D array of probabilities summing to 1 "
                             f"(got shape {pmf.shape}, sum {pmf.sum():.6g})")
        if int(self.lead_time_periods) < 1:
            raise ValueError(f"lead_time_periods: expected an integer >= 1, got {self.lead_time_periods}")
        if self.holding_cost <= 0 or self.lost_sale_cost <= 0:
            raise ValueError("holding_cost and lost_sale_cost: expected > 0, got "
                             f"{self.holding_cost} and {self.lost_sale_cost}")
        if self.max_order_units is not None and int(self.max_order_units) < 1:
            raise ValueError(f"max_order_units: expected an integer >= 1 or None, got {self.max_order_units}")
        object.__setattr__(self, "demand_pmf", pmf)

    @classmethod
    def poisson(cls, mean_demand: float, lead_time_periods: int, holding_cost: float = 1.0,
                lost_sale_cost: float = 4.0, max_order_units: int | None = None,
                tail_probability: float = 1e-15) -> LostSalesInstance:
        """Poisson demand [units/period], truncated where the tail is below ``tail_probability``.

        The truncated mass is put on the last support point, so the mean moves by less
        than ``1e-13`` units for the grid's instances.
        """
        top = int(stats.poisson.isf(tail_probability, mean_demand)) + 1
        pmf = stats.poisson.pmf(np.arange(top + 1), mean_demand)
        pmf[-1] += 1.0 - pmf.sum()
        return cls(pmf, int(lead_time_periods), float(holding_cost), float(lost_sale_cost), max_order_units)

    @property
    def mean_demand(self) -> float:
        """Mean demand [units/period]."""
        return float(np.arange(self.demand_pmf.size) @ self.demand_pmf)


@dataclass(frozen=True)
class StateGrid:
    """The states ``x`` with ``sum(x) <= bound`` on the dense grid ``(bound + 1)^L``."""

    lead_time_periods: int
    bound: int
    coords: np.ndarray = field(repr=False)  # (n_states, L) int64
    flat: np.ndarray = field(repr=False)  # (n_states,) dense index
    size: int = 0  # (bound + 1)^L

    def index(self, state: np.ndarray) -> np.ndarray:
        """Dense index of states ``(..., L)`` [-]."""
        s = np.asarray(state, dtype=np.int64)
        strides = (self.bound + 1) ** np.arange(self.lead_time_periods, dtype=np.int64)
        return s @ strides


@lru_cache(maxsize=64)
def state_grid(lead_time_periods: int, bound: int) -> StateGrid:
    """Every state with system inventory ``<= bound`` (cached per ``(L, bound)``)."""
    lt, b = int(lead_time_periods), int(bound)
    axes = np.meshgrid(*([np.arange(b + 1, dtype=np.int64)] * lt), indexing="ij")
    coords = np.stack([a.ravel(order="F") for a in axes], axis=1)  # first coord fastest
    keep = coords.sum(axis=1) <= b
    coords = np.ascontiguousarray(coords[keep])
    strides = (b + 1) ** np.arange(lt, dtype=np.int64)
    flat = coords @ strides
    return StateGrid(lt, b, coords, flat, (b + 1) ** lt)


def backorder_base_stock_bound(instance: LostSalesInstance) -> int:
    """Optimal base-stock level of the backorder system [units]: the truncation bound.

    The smallest ``S`` with ``P(D_1 + ... + D_{L+1} <= S) >= p / (p + h)``.
    """
    pmf = instance.demand_pmf
    conv = np.array([1.0])
    for _ in range(instance.lead_time_periods + 1):
        conv = np.convolve(conv, pmf)
    ratio = instance.lost_sale_cost / (instance.lost_sale_cost + instance.holding_cost)
    return int(np.searchsorted(np.cumsum(conv), ratio - 1e-12))


def _one_period_cost(instance: LostSalesInstance, bound: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pmf [bound+1], tail P(D >= k) [bound+2], expected cost per on-hand [bound+1])``."""
    raw = instance.demand_pmf
    d = np.arange(raw.size, dtype=np.float64)
    pmf = np.zeros(bound + 1)
    pmf[: min(raw.size, bound + 1)] = raw[: bound + 1]
    tail = np.array([raw[k:].sum() for k in range(bound + 2)])
    cost = np.empty(bound + 1)
    for x in range(bound + 1):
        cost[x] = (instance.holding_cost * (np.maximum(x - d, 0.0) @ raw)
                   + instance.lost_sale_cost * (np.maximum(d - x, 0.0) @ raw))
    return pmf, tail, cost


@njit(cache=True, nogil=True)
def _bellman(coords, flat, v, pmf, tail, cost0, bound, base, stride_last, max_order,
             policy, optimise, v_out, z_out):
    """One sweep ``v_out = c + min_z E v(next)`` (or with ``z = policy[flat]``)."""
    n, lt = coords.shape
    for s in range(n):
        x0 = coords[s, 0]
        x1 = coords[s, 1] if lt >= 2 else 0
        total = 0
        for k in range(lt):
            total += coords[s, k]
        f = flat[s]
        shifted = (f - x0 - x1 * base) // base if lt >= 2 else 0
        if optimise:
            z_lo = 0
            z_hi = min(bound - total, max_order)
            if z_hi < 0:
                z_hi = 0
        else:
            z_lo = policy[f]
            z_hi = z_lo
        best = np.inf
        best_z = z_lo
        for z in range(z_lo, z_hi + 1):
            off = shifted + z * stride_last + x1
            ev = tail[x0] * v[off]
            for d in range(x0):
                ev += pmf[d] * v[off + x0 - d]
            if ev < best - 1e-12:
                best = ev
                best_z = z
        v_out[f] = cost0[x0] + best
        z_out[f] = best_z


@njit(cache=True, nogil=True)
def _span(flat, v_new, v_old):
    lo = np.inf
    hi = -np.inf
    for s in range(flat.size):
        d = v_new[flat[s]] - v_old[flat[s]]
        lo = min(lo, d)
        hi = max(hi, d)
    return lo, hi


@dataclass(frozen=True)
class LostSalesSolution:
    """Result of relative value iteration.

    Attributes:
        cost_per_period: long-run average cost [currency/period] (midpoint of the bounds).
        cost_lower / cost_upper: the value-iteration bounds ``min / max (T h - h)``.
        orders: dense order table [units] (the optimal or the evaluated policy).
        grid: the state grid.
        iterations: sweeps until the bounds met the tolerance.
    """

    cost_per_period: float
    cost_lower: float
    cost_upper: float
    orders: np.ndarray = field(repr=False)
    grid: StateGrid = field(repr=False)
    iterations: int = 0


def _relative_value_iteration(instance: LostSalesInstance, grid: StateGrid, policy: np.ndarray | None,
                              tolerance: float, max_iterations: int) -> LostSalesSolution:
    b = grid.bound
    pmf, tail, cost0 = _one_period_cost(instance, b)
    lt = grid.lead_time_periods
    base = b + 1
    stride_last = base ** (lt - 1)
    cap = b if instance.max_order_units is None else min(b, int(instance.max_order_units))
    v = np.zeros(grid.size)
    v_new = np.zeros(grid.size)
    z = np.zeros(grid.size, dtype=np.int64)
    pol = np.zeros(1, dtype=np.int64) if policy is None else np.asarray(policy, dtype=np.int64)
    ref = int(grid.flat[0])
    lo = hi = 0.0
    for it in range(1, max_iterations + 1):
        _bellman(grid.coords, grid.flat, v, pmf, tail, cost0, b, base, stride_last, cap, pol,
                 policy is None, v_new, z)
        lo, hi = _span(grid.flat, v_new, v)
        v, v_new = v_new - v_new[ref], v
        if hi - lo < tolerance:
            return LostSalesSolution(0.5 * (lo + hi), lo, hi, z, grid, it)
    raise RuntimeError(f"relative value iteration: bounds [{lo:.6f}, {hi:.6f}] not within "
                       f"{tolerance} after {max_iterations} sweeps")


def solve_optimal(instance: LostSalesInstance, bound: int | None = None, tolerance: float = 1e-7,
                  max_iterations: int = 20_000) -> LostSalesSolution:
    """Optimal average cost and policy by relative value iteration.

    Args:
        instance: the lost-sales instance.
        bound: system-inventory bound [units] (default :func:`backorder_base_stock_bound`).
        tolerance: stop when ``max - min`` of ``T h - h`` is below this [currency/period];
            the optimum lies between the two.
        max_iterations: give up (``RuntimeError``) after this many sweeps.
    """
    b = backorder_base_stock_bound(instance) if bound is None else int(bound)
    return _relative_value_iteration(instance, state_grid(instance.lead_time_periods, b), None,
                                     tolerance, max_iterations)


def evaluate_lost_sales_policy(instance: LostSalesInstance, orders: np.ndarray, bound: int,
                    tolerance: float = 1e-8, max_iterations: int = 20_000) -> float:
    """Exact long-run average cost [currency/period] of a stationary policy.

    Args:
        instance: the instance.
        orders: dense order table [units] over ``state_grid(L, bound)``; every order must
            keep the system inventory ``<= bound`` and respect ``max_order_units``.
        bound: the grid's system-inventory bound [units].
        tolerance: value-iteration tolerance [currency/period].
        max_iterations: sweeps before ``RuntimeError``.
    """
    grid = state_grid(instance.lead_time_periods, int(bound))
    o = np.asarray(orders, dtype=np.int64)
    if o.shape != (grid.size,):
        raise ValueError(f"orders: expected a dense table of {grid.size} entries, got shape {o.shape}")
    q = o[grid.flat]
    if np.any(q < 0) or np.any(grid.coords.sum(axis=1) + q > grid.bound):
        raise ValueError(f"orders: must be >= 0 and keep the system inventory <= bound {grid.bound}")
    if instance.max_order_units is not None and np.any(q > instance.max_order_units):
        raise ValueError(f"orders: exceed max_order_units {instance.max_order_units}")
    return _relative_value_iteration(instance, grid, o, tolerance, max_iterations).cost_per_period


def capped_base_stock_orders(lead_time_periods: int, bound: int, level_units: int,
                     cap_units: int | None = None) -> np.ndarray:
    """Dense order table of (capped) base stock: ``min((S - sum x)^+, r)`` [units]."""
    grid = state_grid(lead_time_periods, bound)
    orders = np.zeros(grid.size, dtype=np.int64)
    q = np.maximum(int(level_units) - grid.coords.sum(axis=1), 0)
    if cap_units is not None:
        q = np.minimum(q, int(cap_units))
    orders[grid.flat] = q
    return orders


@dataclass(frozen=True)
class CappedBaseStock:
    """A (capped) base-stock policy and its exact cost.

    Attributes:
        level_units: base-stock level ``S`` on the system inventory [units].
        cap_units: order cap ``r`` [units/period] (``None``: plain base stock).
        cost_per_period: exact long-run average cost [currency/period].
    """

    level_units: int
    cap_units: int | None
    cost_per_period: float


def _policy_cost(instance: LostSalesInstance, level: int, cap: int | None) -> float:
    eff = cap
    if instance.max_order_units is not None:
        eff = instance.max_order_units if cap is None else min(cap, instance.max_order_units)
    b = max(level, 1)
    return evaluate_lost_sales_policy(instance, capped_base_stock_orders(instance.lead_time_periods, b, level, eff), b)


def _best_level(instance: LostSalesInstance, cap: int | None, start: int, patience: int = 3) -> CappedBaseStock:
    """Scan ``S`` upwards from ``start`` until the cost has risen ``patience`` times in a row."""
    best = CappedBaseStock(start, cap, _policy_cost(instance, start, cap))
    worse = 0
    level = start + 1
    while worse < patience:
        c = _policy_cost(instance, level, cap)
        if c < best.cost_per_period - 1e-12:
            best, worse = CappedBaseStock(level, cap, c), 0
        else:
            worse += 1
        level += 1
    return best


def best_base_stock(instance: LostSalesInstance) -> CappedBaseStock:
    """Best base-stock level by exhaustive search, each level evaluated exactly.

    The cost of base stock is unimodal in ``S`` on these instances; the scan starts at
    ``floor(L * mean)`` (below it the pipeline alone cannot cover the lead time) and stops
    after three consecutive increases.
    """
    start = max(int(math.floor(instance.lead_time_periods * instance.mean_demand)), 1)
    return _best_level(instance, None, start)


def best_capped_base_stock(instance: LostSalesInstance) -> CappedBaseStock:
    """Best capped base-stock policy (Xin 2021) by search over the cap and the level.

    For each cap ``r`` from ``floor(mean) - 1`` upwards the best level is scanned as in
    :func:`best_base_stock` (from ``max(floor(L * mean), r)``); the search stops after
    three caps in a row without a better capped policy (large caps are plain base stock).
    Returns plain base stock when no cap beats it.
    """
    plain = best_base_stock(instance)
    mu = instance.mean_demand
    start = max(int(math.floor(instance.lead_time_periods * mu)), 1)
    best_capped: CappedBaseStock | None = None
    worse = 0
    cap = max(int(math.floor(mu + 1e-9)) - 1, 1)
    while worse < 3 and cap < plain.level_units:
        cand = _best_level(instance, cap, max(start, cap))
        if best_capped is None or cand.cost_per_period < best_capped.cost_per_period - 1e-12:
            best_capped, worse = cand, 0
        else:
            worse += 1
        cap += 1
    if best_capped is None or best_capped.cost_per_period >= plain.cost_per_period:
        return plain
    return best_capped
