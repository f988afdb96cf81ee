"""Two echelons, several SKUs sharing a plant's capacity, correlated demand: base stock vs a learned policy.

**The system** (:class:`CapacityInstance`). A plant makes ``N`` SKUs and can make at
most ``capacity_units`` units per period in total, any mix. What it makes for SKU ``i``
reaches the SKU's stock at a central warehouse ``production_lead_periods`` later; the
warehouse ships to the SKU's store, where it is available ``shipping_lead_periods``
later; demand at the store that finds no stock is lost. Demand of SKU ``i`` in period ``t``
is Poisson with mean ``mean_demand[i] * G_t``: ``G_t`` a common market factor drawn each
period from ``factor_levels`` with ``factor_probs`` (mean 1), so the SKUs' demands are
positively correlated (:meth:`CapacityInstance.demand_correlation`). A period:

1. production made ``Lp`` periods ago arrives at the warehouse, shipments sent ``Lr``
   periods ago arrive at the stores;
2. the policy decides production ``x_i`` (``sum x <= capacity``) and shipments
   ``y_i <= warehouse stock_i``;
3. demand is served from store stock, the rest is lost;
4. cost [currency]: ``warehouse_holding`` x warehouse stock + ``store_holding`` x store
   stock + ``lost_sale_cost`` x units lost, per SKU.

The state of a SKU is ``(production pipeline (Lp), warehouse stock, shipments in transit
(Lr), store stock)`` [units], read after the arrivals.

**Policies** (:class:`PolicyParameters`, one family, one Numba rule). Production wanted
for SKU ``i`` is ``u_i = min(cap_p, (S_e - E_i)^+)`` with the weighted echelon position
``E_i = a_P sum(pipeline) + a_W warehouse + a_T sum(in transit) + a_R store``; when
``sum u > capacity`` the capacity is **rationed**, proportionally (largest remainders) or by
**priority** (one unit at a time to the SKU with the largest unmet want). Shipments: with
the store position ``Q_i = b_T sum(in transit) + b_R store``, ship
``min(warehouse_i, cap_r, (S_r - Q_i)^+)`` when ``Q_i <= s_r``. With all weights 1, no caps and
``s_r = S_r - 1`` this is **echelon base stock** per SKU (Clark–Scarf's structure), with
``s_r < S_r - 1`` an **(s, S)** rule at the store.

* :func:`search_base_stock` — every ``(S_e, S_r)`` on a grid, both rationing rules,
  optionally every ``s_r`` ((s, S)), all on the same random numbers.
* :func:`train_capacity_policy` — the cross-entropy method over the weights, levels and
  caps (a state-dependent policy: 14 numbers), started at the best base stock, each
  candidate scored on common random numbers; the iterate kept is chosen on held-out
  random numbers. Seeded: same seed, same policy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from scipy import stats

from echelon_solvers.kit.crn import crn_key, crn_uniform

__all__ = [
    "CapacityInstance",
    "PolicyParameters",
    "BaseStockSearch",
    "LearnedCapacityPolicy",
    "paired_costs",
    "search_base_stock",
    "search_capped_base_stock",
    "simulate_capacity_costs",
    "capacity_step_period",
    "train_capacity_policy",
]

RATION_PROPORTIONAL = 0
RATION_PRIORITY = 1
_BIG = 1e9


@dataclass(frozen=True)
class CapacityInstance:
    """One capacity-shared two-echelon instance.

    Args:
        mean_demand: mean demand per SKU [units/period] (at factor 1).
        capacity_units: plant capacity shared by all SKUs [units/period].
        production_lead_periods: ``Lp >= 1`` from production to warehouse [periods].
        shipping_lead_periods: ``Lr >= 1`` from warehouse to store [periods].
        warehouse_holding: [currency/unit/period] on warehouse stock.
        store_holding: [currency/unit/period] on store stock.
        lost_sale_cost: [currency/unit] per unit of demand lost.
        factor_levels: values of the common demand factor ``G`` [-].
        factor_probs: their probabilities [-] (``E[G]`` must be 1).
    """

    mean_demand: tuple[float, ...]
    capacity_units: int
    production_lead_periods: int = 1
    shipping_lead_periods: int = 2
    warehouse_holding: float = 0.5
    store_holding: float = 1.0
    lost_sale_cost: float = 9.0
    factor_levels: tuple[float, ...] = (0.4, 1.0, 1.6)
    factor_probs: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)

    def __post_init__(self) -> None:
        lam = np.asarray(self.mean_demand, dtype=float)
        lv, pr = np.asarray(self.factor_levels, dtype=float), np.asarray(self.factor_probs, dtype=float)
        if lam.ndim != 1 or lam.size < 1 or np.any(lam <= 0):
            raise ValueError(f"mean_demand: expected positive means per SKU, got {self.mean_demand}")
        if int(self.capacity_units) < 1:
            raise ValueError(f"capacity_units: expected an integer >= 1, got {self.capacity_units}")
        if int(self.production_lead_periods) < 1 or int(self.shipping_lead_periods) < 1:
            raise ValueError("production_lead_periods and shipping_lead_periods: expected integers >= 1, got "
                             f"{self.production_lead_periods} and {self.shipping_lead_periods}")
        if min(self.warehouse_holding, self.store_holding, self.lost_sale_cost) < 0:
            raise ValueError("warehouse_holding, store_holding, lost_sale_cost: expected >= 0")
        if (lv.shape != pr.shape or lv.size < 1 or np.any(lv < 0) or np.any(pr < 0) or abs(pr.sum() - 1) > 1e-9
                or abs(lv @ pr - 1) > 1e-9):
            raise ValueError("factor_levels / factor_probs: expected matching non-negative arrays, probabilities "
                             f"summing to 1 and mean factor 1, got {self.factor_levels} / {self.factor_probs}")

    @property
    def skus(self) -> int:
        """Number of SKUs [-]."""
        return len(self.mean_demand)

    @property
    def state_width(self) -> int:
        """Numbers per SKU in the state: ``Lp + 1 + Lr + 1`` [-]."""
        return int(self.production_lead_periods) + int(self.shipping_lead_periods) + 2

    def demand_correlation(self) -> float:
        """Correlation of two SKUs' demands in a period [-] (equal means: exact; else of the first two)."""
        lv, pr = np.asarray(self.factor_levels), np.asarray(self.factor_probs)
        var_g = float(pr @ (lv - 1.0) ** 2)
        lam = np.asarray(self.mean_demand, dtype=float)
        if lam.size < 2:
            return 0.0
        a, b = lam[0], lam[1]
        return float(a * b * var_g / np.sqrt((a + a * a * var_g) * (b + b * b * var_g)))

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(factor CDF (G,), demand CDF (N, G, D))``: inverse-CDF sampling tables."""
        lam = np.asarray(self.mean_demand, dtype=float)
        lv = np.asarray(self.factor_levels, dtype=float)
        top = int(stats.poisson.isf(1e-12, max(lam.max() * lv.max(), 1e-9))) + 2
        d = np.arange(top)
        cdf = stats.poisson.cdf(d[None, None, :], np.maximum(lam[:, None, None] * lv[None, :, None], 1e-300))
        cdf[..., -1] = 1.0
        return np.cumsum(np.asarray(self.factor_probs, dtype=float)), np.ascontiguousarray(cdf)


@dataclass(frozen=True)
class PolicyParameters:
    """The policy family (see the module docstring); integers for base stock.

    Attributes:
        echelon_level: ``S_e`` [units] on the weighted echelon position.
        weights: ``(a_P, a_W, a_T, a_R)`` of the echelon position [-].
        production_cap: ``cap_p`` [units/period] per SKU.
        store_level: ``S_r`` [units] on the store position.
        store_weights: ``(b_T, b_R)`` [-].
        store_reorder: ``s_r`` [units]: ship only when the store position is at or below.
        shipping_cap: ``cap_r`` [units/period] per SKU.
        rationing: 0 proportional, 1 priority.
        projection_weight: ``c`` [-], weight of the projected sales in the store position.
        projection_sales: ``mu_r`` [units/period], sales per period in the projection.
    """

    echelon_level: float
    store_level: float
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    production_cap: float = _BIG
    store_weights: tuple[float, float] = (1.0, 1.0)
    store_reorder: float | None = None
    shipping_cap: float = _BIG
    rationing: int = RATION_PROPORTIONAL
    projection_weight: float = 0.0
    projection_sales: float = 0.0

    def vector(self) -> np.ndarray:
        """The 14 numbers the Numba rule reads."""
        s_r = self.store_level - 1.0 if self.store_reorder is None else self.store_reorder
        return np.array([self.echelon_level, *self.weights, self.production_cap, self.store_level,
                         *self.store_weights, s_r, self.shipping_cap, float(self.rationing),
                         self.projection_weight, self.projection_sales], dtype=np.float64)

    @classmethod
    def base_stock(cls, echelon_level: int, store_level: int, rationing: int = RATION_PROPORTIONAL
                   ) -> PolicyParameters:
        """Echelon base stock ``(S_e, S_r)`` with a rationing rule."""
        return cls(float(echelon_level), float(store_level), rationing=int(rationing))


@njit(cache=True, nogil=True)
def _decide(state, theta, capacity, lp, lr, want, prod, ship):
    """Production ``prod`` and shipments ``ship`` [units] of the policy ``theta`` in ``state``."""
    n = state.shape[0]
    iw = lp
    ir = lp + lr + 1
    total = 0
    for i in range(n):
        pipe = 0.0
        for k in range(lp):
            pipe += state[i, k]
        transit = 0.0
        for k in range(lr):
            transit += state[i, lp + 1 + k]
        pos = theta[1] * pipe + theta[2] * state[i, iw] + theta[3] * transit + theta[4] * state[i, ir]
        u = np.floor(theta[0] - pos + 0.5)
        u = min(max(u, 0.0), np.floor(theta[5] + 0.5))
        want[i] = np.int64(u)
        total += want[i]
        # projected store stock when a shipment sent now arrives: sales of theta[13] per period
        proj = float(state[i, ir])
        for k in range(lr):
            proj = max(proj - theta[13], 0.0) + state[i, lp + 1 + k]
        q = theta[7] * transit + theta[8] * state[i, ir] + theta[12] * (proj - transit - state[i, ir])
        y = 0.0
        if q <= theta[9] + 1e-9:
            y = min(max(np.floor(theta[6] - q + 0.5), 0.0), np.floor(theta[10] + 0.5))
        ship[i] = min(np.int64(y), state[i, iw])
    if total <= capacity:
        for i in range(n):
            prod[i] = want[i]
        return
    if theta[11] < 0.5:  # proportional, largest remainders (ties: lower index)
        given = 0
        for i in range(n):
            prod[i] = (want[i] * capacity) // total
            given += prod[i]
        while given < capacity:
            best = -1
            best_r = -1.0
            for i in range(n):
                r = want[i] * capacity / total - prod[i]
                if r > best_r + 1e-12 and prod[i] < want[i]:
                    best, best_r = i, r
            prod[best] += 1
            given += 1
    else:  # priority: one unit at a time to the largest unmet want
        for i in range(n):
            prod[i] = 0
        for _ in range(capacity):
            best = -1
            best_r = 0
            for i in range(n):
                r = want[i] - prod[i]
                if r > best_r:
                    best, best_r = i, r
            prod[best] += 1


@njit(cache=True, nogil=True)
def _arrive(state, lp, lr):
    n = state.shape[0]
    iw = lp
    ir = lp + lr + 1
    for i in range(n):
        state[i, iw] += state[i, 0]
        for k in range(lp - 1):
            state[i, k] = state[i, k + 1]
        state[i, lp - 1] = 0
        state[i, ir] += state[i, lp + 1]
        for k in range(lr - 1):
            state[i, lp + 1 + k] = state[i, lp + 2 + k]
        state[i, lp + lr] = 0


@njit(cache=True, nogil=True)
def _act_and_serve(state, prod, ship, demand, lp, lr, hw, hr, p):
    """Place ``prod`` / ``ship``, serve ``demand``; return the period's cost [currency]."""
    n = state.shape[0]
    iw = lp
    ir = lp + lr + 1
    cost = 0.0
    for i in range(n):
        state[i, lp - 1] = prod[i]
        state[i, iw] -= ship[i]
        state[i, lp + lr] = ship[i]
        sold = min(state[i, ir], demand[i])
        state[i, ir] -= sold
        cost += hw * state[i, iw] + hr * state[i, ir] + p * (demand[i] - sold)
    return cost


@njit(cache=True, nogil=True)
def _draw(fcdf, dcdf, seed, path, t, demand):
    n = dcdf.shape[0]
    g = np.searchsorted(fcdf, crn_uniform(crn_key(seed, path, t, 1_000_003)), side="right")
    if g >= fcdf.size:
        g = fcdf.size - 1
    for i in range(n):
        d = np.searchsorted(dcdf[i, g], crn_uniform(crn_key(seed, path, t, i)), side="right")
        demand[i] = min(d, dcdf.shape[2] - 1)


@njit(cache=True, nogil=True)
def _simulate(theta, n, width, capacity, lp, lr, hw, hr, p, fcdf, dcdf, seed, path, periods, warmup):
    state = np.zeros((n, width), dtype=np.int64)
    want = np.zeros(n, dtype=np.int64)
    prod = np.zeros(n, dtype=np.int64)
    ship = np.zeros(n, dtype=np.int64)
    demand = np.zeros(n, dtype=np.int64)
    total = 0.0
    for t in range(warmup + periods):
        _arrive(state, lp, lr)
        _decide(state, theta, capacity, lp, lr, want, prod, ship)
        _draw(fcdf, dcdf, seed, path, t, demand)
        c = _act_and_serve(state, prod, ship, demand, lp, lr, hw, hr, p)
        if t >= warmup:
            total += c
    return total / periods


def simulate_capacity_costs(inst: CapacityInstance, policy: PolicyParameters | np.ndarray, seed: int, paths: int = 8,
                   periods: int = 5000, warmup: int = 200) -> np.ndarray:
    """Average cost per path [currency/period] (path ``k``: random stream ``(seed, k)``, shared by policies)."""
    theta = policy.vector() if isinstance(policy, PolicyParameters) else np.asarray(policy, dtype=np.float64)
    fcdf, dcdf = inst.tables()
    return np.array([
        _simulate(theta, inst.skus, inst.state_width, int(inst.capacity_units), int(inst.production_lead_periods),
                  int(inst.shipping_lead_periods), float(inst.warehouse_holding), float(inst.store_holding),
                  float(inst.lost_sale_cost), fcdf, dcdf, int(seed), k, int(periods), int(warmup))
        for k in range(int(paths))
    ])


def paired_costs(inst: CapacityInstance, a: PolicyParameters | np.ndarray, b: PolicyParameters | np.ndarray,
                 seed: int, paths: int = 16, periods: int = 20_000) -> tuple[float, float, float, float]:
    """``(cost a, cost b, a - b, standard error of a - b)`` [currency/period] on common random numbers."""
    ca = simulate_capacity_costs(inst, a, seed, paths, periods)
    cb = simulate_capacity_costs(inst, b, seed, paths, periods)
    diff = ca - cb
    return float(ca.mean()), float(cb.mean()), float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(paths))


def capacity_step_period(inst: CapacityInstance, state: np.ndarray, production: np.ndarray, shipments: np.ndarray,
                demand: np.ndarray) -> tuple[np.ndarray, float]:
    """One period from a post-arrival ``state`` (N, width): ``(next post-arrival state, cost)``.

    Places ``production`` and ``shipments`` (feasible: capacity, warehouse stock), serves
    ``demand`` [units], then the next period's arrivals.
    """
    st = np.array(state, dtype=np.int64, copy=True)
    lp, lr = int(inst.production_lead_periods), int(inst.shipping_lead_periods)
    cost = _act_and_serve(st, np.asarray(production, dtype=np.int64), np.asarray(shipments, dtype=np.int64),
                          np.asarray(demand, dtype=np.int64), lp, lr, float(inst.warehouse_holding),
                          float(inst.store_holding), float(inst.lost_sale_cost))
    _arrive(st, lp, lr)
    return st, float(cost)


def decide(inst: CapacityInstance, policy: PolicyParameters | np.ndarray, state: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """``(production, shipments)`` [units] of a policy in a post-arrival state (N, width)."""
    theta = policy.vector() if isinstance(policy, PolicyParameters) else np.asarray(policy, dtype=np.float64)
    n = inst.skus
    want, prod, ship = (np.zeros(n, dtype=np.int64) for _ in range(3))
    _decide(np.asarray(state, dtype=np.int64), theta, int(inst.capacity_units), int(inst.production_lead_periods),
            int(inst.shipping_lead_periods), want, prod, ship)
    return prod, ship


@dataclass(frozen=True)
class BaseStockSearch:
    """The best policies of an exhaustive search on common random numbers.

    Attributes:
        base_stock: best echelon base stock (either rationing rule).
        base_stock_cost: its simulated cost [currency/period].
        s_S: best with an (s, S) rule at the stores (``None`` when not searched).
        s_S_cost: its simulated cost [currency/period].
        candidates: policies simulated [-].
        seconds: wall time [s].
    """

    base_stock: PolicyParameters
    base_stock_cost: float
    s_S: PolicyParameters | None  # noqa: N815
    s_S_cost: float
    candidates: int
    seconds: float


def search_base_stock(inst: CapacityInstance, seed: int, echelon_levels: range, store_levels: range,
                      paths: int = 8, periods: int = 4000, with_s_S: bool = True) -> BaseStockSearch:  # noqa: N803
    """Every ``(S_e, S_r)`` (``S_r <= S_e``) x both rationing rules, then every ``s_r < S_r - 1`` at the best few.

    Identical levels for all SKUs (the instances here have identical SKUs). The (s, S)
    search takes every ``s_r`` for the 5 best ``(S_e, S_r, rule)`` of the base-stock scan and
    every ``S_r`` within 4 of theirs.
    """
    t0 = time.perf_counter()
    scored: list[tuple[float, PolicyParameters]] = []
    for se in echelon_levels:
        for sr in store_levels:
            if sr > se:
                continue
            for rule in (RATION_PROPORTIONAL, RATION_PRIORITY):
                pol = PolicyParameters.base_stock(se, sr, rule)
                scored.append((float(simulate_capacity_costs(inst, pol, seed, paths, periods).mean()), pol))
    scored.sort(key=lambda x: x[0])
    n = len(scored)
    best_cost, best = scored[0]
    ss_cost, ss = best_cost, None
    if with_s_S:
        seen: set[tuple[float, float, float, int]] = set()
        for _, top in scored[:5]:
            for sr in range(int(top.store_level) - 4, int(top.store_level) + 5):
                for s in range(-1, sr - 1):
                    key = (top.echelon_level, float(sr), float(s), top.rationing)
                    if key in seen:
                        continue
                    seen.add(key)
                    pol = PolicyParameters(top.echelon_level, float(sr), store_reorder=float(s),
                                           rationing=top.rationing)
                    c = float(simulate_capacity_costs(inst, pol, seed, paths, periods).mean())
                    n += 1
                    if c < ss_cost:
                        ss_cost, ss = c, pol
        if ss is None:
            ss = best
    return BaseStockSearch(best, best_cost, ss, ss_cost, n, time.perf_counter() - t0)


def search_capped_base_stock(inst: CapacityInstance, seed: int, echelon_levels: range, store_levels: range,
                             production_caps: range, paths: int = 4, periods: int = 4000
                             ) -> tuple[PolicyParameters, float]:
    """Echelon base stock with a per-SKU production cap ``min((S_e - E)^+, cap)``: every grid point, both rules.

    A stronger classic benchmark than plain base stock (Xin's capped base stock at the
    plant); returns the best policy and its simulated cost [currency/period].
    """
    best: tuple[PolicyParameters, float] | None = None
    for se in echelon_levels:
        for sr in store_levels:
            for cap in production_caps:
                for rule in (RATION_PROPORTIONAL, RATION_PRIORITY):
                    pol = PolicyParameters(float(se), float(sr), production_cap=float(cap), rationing=rule)
                    c = float(simulate_capacity_costs(inst, pol, seed, paths, periods).mean())
                    if best is None or c < best[1]:
                        best = (pol, c)
    if best is None:
        raise ValueError("search_capped_base_stock: empty grid")
    return best


@dataclass(frozen=True)
class LearnedCapacityPolicy:
    """A policy learned by the cross-entropy method.

    Attributes:
        theta: the policy's 14 numbers (:meth:`PolicyParameters.vector` layout).
        iteration: the CEM iteration kept (0: the starting base stock).
        selection_costs: held-out cost of each iteration's mean [currency/period].
        training_seconds: wall time [s].
        policies_simulated: candidate evaluations during training [-].
        seed: the training seed.
    """

    theta: np.ndarray = field(repr=False)
    iteration: int
    selection_costs: tuple[float, ...]
    training_seconds: float
    policies_simulated: int
    seed: int


_LOW = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0])
_HIGH = np.array([np.inf, 2.0, 2.0, 2.0, 2.0, np.inf, np.inf, 2.0, 2.0, np.inf, np.inf, 1.0, 2.0, np.inf])
_SPREAD = np.array([3.0, 0.3, 0.3, 0.3, 0.3, 3.0, 3.0, 0.3, 0.3, 3.0, 3.0, 0.3, 0.3, 1.0])


def train_capacity_policy(inst: CapacityInstance, start: PolicyParameters, seed: int = 0, iterations: int = 30,
                          population: int = 40, elite: int = 8, paths: int = 8, periods: int = 3000,
                          selection_paths: int = 16, selection_periods: int = 10_000) -> LearnedCapacityPolicy:
    """Learn the policy's 14 numbers by the cross-entropy method on common random numbers.

    The search distribution is a diagonal Gaussian started at ``start`` (levels' spread 3
    units, weights' 0.3, caps start at twice the mean demand plus 3 with spread 3, the
    rationing switch ``>= 0.5`` = priority); each iteration scores ``population`` draws on
    the same ``paths`` x ``periods`` (a fresh stream per iteration), refits to the ``elite``
    best. Each iteration's mean is scored on held-out random numbers; the best is kept.

    Args:
        inst: the instance.
        start: the policy to start from (the best base stock).
        seed: the one seed of training and selection.
        iterations: CEM iterations.
        population: draws per iteration.
        elite: draws refitted to.
        paths: paths per candidate evaluation.
        periods: periods per path [periods].
        selection_paths: held-out paths per iteration mean.
        selection_periods: periods per held-out path [periods].
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng([int(seed), 20])
    mu = start.vector()
    cap0 = 2.0 * max(inst.mean_demand) + 3.0
    mu[5] = cap0
    mu[10] = cap0
    mu[11] = 0.5 if start.rationing == RATION_PRIORITY else 0.49
    mu[13] = max(inst.mean_demand)
    sd = _SPREAD.copy()
    sel_seed = int(seed) * 104729 + 17
    means = [start.vector()]
    n = 0
    for it in range(1, iterations + 1):
        draws = np.clip(mu + sd * rng.standard_normal((population, mu.size)), _LOW, _HIGH)
        draws[0] = np.clip(mu, _LOW, _HIGH)
        costs = np.array([simulate_capacity_costs(inst, d, int(seed) * 31 + it, paths, periods).mean() for d in draws])
        n += population
        top = draws[np.argsort(costs, kind="stable")[:elite]]
        mu = top.mean(axis=0)
        sd = np.maximum(top.std(axis=0), 0.02 * _SPREAD)
        means.append(np.clip(mu, _LOW, _HIGH))
    sel = [float(simulate_capacity_costs(inst, m, sel_seed, selection_paths, selection_periods).mean()) for m in means]
    keep = int(np.argmin(sel))
    return LearnedCapacityPolicy(means[keep], keep, tuple(sel), time.perf_counter() - t0, n, int(seed))
