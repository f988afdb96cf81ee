"""Clark-Scarf: exact optimal echelon base-stock levels of a serial system.

The serial system has stages ``0 -> 1 -> ... -> N-1`` (stage 0 is supplied by an
uncapacitated external supplier, stage ``N-1`` faces the customers); unmet customer
demand is backordered.  With echelon holding costs ``h_j`` [currency/unit/period] and a
backorder cost ``p`` [currency/unit/period] at the customer-facing stage, an echelon
base-stock policy is optimal (Clark & Scarf 1960) and its levels follow from the exact
recursion of Chen & Zheng (1994) (numbering stages ``1 .. N`` from the customer up,
``D_j`` the demand over stage ``j``'s lead time, ``H = sum h``)::

    g0(x)     = (p + H) * max(-x, 0)
    ghat_j(x) = h_j * x + gbar_{j-1}(x)
    g_j(y)    = E[ghat_j(y - D_j)]
    S*_j      = argmin_y g_j(y)
    gbar_j(x) = g_j(min(S*_j, x))

and the optimal cost per period is ``g_N(S*_N)``.  The functions are computed exactly on
a lattice ``x = k * step``: below zero every function is linear (demand is
non-negative), so the lattice starts at 0 and values below it are extended by the exact
slope; above, it ends where the total lead-time demand has tail mass < 1e-12.  With
integer (e.g. Poisson) demand ``step = 1`` and the result is exact up to that
truncation; continuous demand is discretised onto a finer lattice
(:func:`normal_lattice`).

References:
    A. J. Clark and H. Scarf (1960), Management Science 6(4):475-490.
    F. Chen and Y.-S. Zheng (1994), Management Science 40(11):1426-1443.
    K. H. Shang and J.-S. Song (2003), Management Science 49(5):618-638.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
from scipy import stats

from echelon_solvers.kit.decompose import problem_networks
from echelon_solvers.kit.tables import policy_table
from platform_core.components import Solver, StageProblem, compound
from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Network, Policy, simulate

__all__ = [
    "SerialSolution",
    "solve_serial",
    "evaluate_serial",
    "lead_time_demands",
    "normal_lattice",
    "echelon_holding_costs",
    "ClarkScarfSolver",
]


@dataclass(frozen=True)
class SerialSolution:
    """Optimal echelon base-stock policy of a serial system (stages upstream first).

    Attributes:
        echelon_base_stock: echelon base-stock level per stage [units].
        local_base_stock: installation (local) base-stock level per stage [units]:
            the echelon level minus the echelon level of the next stage downstream.
        expected_cost: expected holding + backorder cost [currency/period].
        stage_cost: ``g_j(S*_j)`` per stage [currency/period], the optimal cost of the
            subsystem from the customer up to and including the stage.
    """

    echelon_base_stock: np.ndarray
    local_base_stock: np.ndarray
    expected_cost: float
    stage_cost: np.ndarray


def lead_time_demands(
    period_demand: DiscreteDistribution, lead_times: Sequence[int]
) -> list[DiscreteDistribution]:
    """Demand over each stage's deterministic lead time [units], stages upstream first.

    Args:
        period_demand: demand per period [units/period] at the customer-facing stage.
        lead_times: integer lead time per stage [periods].

    Returns:
        One distribution per stage: the ``L_j``-fold convolution of ``period_demand``.
    """
    out = []
    for lt in lead_times:
        if int(lt) != lt or lt < 0:
            raise ValueError(f"lead times must be non-negative integers, got {lt}")
        acc = DiscreteDistribution.point(0)
        for _ in range(int(lt)):
            acc = acc.convolve(period_demand)
        out.append(acc)
    return out


def normal_lattice(mean: float, sd: float, step: float) -> DiscreteDistribution:
    """Normal demand discretised onto the lattice ``k * step`` (mass of each cell).

    Args:
        mean: mean [units].
        sd: standard deviation [units].
        step: lattice step [units].

    Returns:
        A distribution over the lattice index ``k`` (values are ``k * step`` [units]);
        the mass below 0 is folded onto 0.
    """
    if step <= 0:
        raise ValueError("step must be > 0")
    if sd <= 0:
        return DiscreteDistribution.point(max(0, int(round(mean / step))))
    lo = max(0, int(np.floor((mean - 9.0 * sd) / step)))
    hi = max(lo + 1, int(np.ceil((mean + 9.0 * sd) / step)))
    k = np.arange(lo, hi + 1)
    pmf = np.diff(stats.norm.cdf((np.append(k, hi + 1) - 0.5) * step, mean, sd))
    pmf[0] += stats.norm.cdf((lo - 0.5) * step, mean, sd)
    return DiscreteDistribution(pmf, lo)


def echelon_holding_costs(local_holding_cost: Sequence[float] | np.ndarray) -> np.ndarray:
    """Echelon holding costs from local (installation) ones, stages upstream first.

    ``h_j = h'_j - h'_{j-1}`` [currency/unit/period] (the value added at stage ``j``);
    the first stage's echelon cost is its local cost.
    """
    loc = np.asarray(local_holding_cost, dtype=np.float64)
    return np.diff(loc, prepend=0.0)


def _check(
    echelon_holding_cost: Sequence[float] | np.ndarray,
    stockout_cost: float,
    lead_time_demand: Sequence[DiscreteDistribution],
    step: float,
) -> np.ndarray:
    h = np.asarray(echelon_holding_cost, dtype=np.float64)
    if h.ndim != 1 or h.size == 0 or h.size != len(lead_time_demand):
        raise ValueError("echelon_holding_cost and lead_time_demand need one entry per stage")
    if not np.all(np.isfinite(h)):
        raise ValueError("echelon holding costs must be finite")
    if not stockout_cost > 0:
        raise ValueError("stockout_cost must be > 0")
    if not step > 0:
        raise ValueError("step must be > 0")
    return h


def _recursion(
    h_up: np.ndarray,
    p: float,
    ltd_up: Sequence[DiscreteDistribution],
    step: float,
    given: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the recursion; returns echelon levels [lattice index] and g_j(S_j), upstream first."""
    n = h_up.size
    h = h_up[::-1]  # customer-facing stage first
    ltd = list(ltd_up)[::-1]
    big_h = float(h.sum())
    # lattice 0..top: beyond the (1 - 1e-12) quantile of the total lead-time demand
    top = int(sum(d.offset + d.pmf.size - 1 for d in ltd)) + 2
    if given is not None:
        top = max(top, int(given.max()) + 2)
    x = np.arange(top + 1) * step
    gbar = np.zeros(top + 1)  # g0 = (p+H) x^- vanishes on x >= 0
    slope = -(p + big_h)  # slope of gbar_{j-1} on x <= 0
    levels = np.zeros(n, dtype=np.int64)
    costs = np.zeros(n)
    for j in range(n):
        ghat = h[j] * x + gbar
        slope += h[j]
        d = ltd[j]
        m = d.offset + d.pmf.size - 1
        f = np.zeros(m + 1)
        f[d.offset :] = d.pmf
        below = ghat[0] + slope * (np.arange(-m, 0) * step)
        g = np.convolve(np.concatenate([below, ghat]), f, mode="valid")
        if given is None:
            s = int(np.argmin(g))
        else:
            s = int(given[n - 1 - j])
        levels[j] = s
        costs[j] = g[s]
        gbar = g.copy()
        gbar[s:] = g[s]
        if s < 0:
            raise ValueError("echelon base-stock levels must be >= 0")
    return levels[::-1], costs[::-1]


def solve_serial(
    echelon_holding_cost: Sequence[float] | np.ndarray,
    stockout_cost: float,
    lead_time_demand: Sequence[DiscreteDistribution],
    *,
    step: float = 1.0,
) -> SerialSolution:
    """Optimal echelon base-stock levels of a serial system (exact recursion).

    Args:
        echelon_holding_cost: ``h_j`` per stage [currency/unit/period], upstream first
            (the customer-facing stage last).
        stockout_cost: backorder cost ``p`` at the customer-facing stage
            [currency/unit/period].
        lead_time_demand: demand over each stage's lead time, upstream first, as a
            distribution over lattice indices (values ``k * step`` [units]).
        step: lattice step [units] (1 for integer demand).

    Returns:
        The optimal :class:`SerialSolution`.
    """
    h = _check(echelon_holding_cost, stockout_cost, lead_time_demand, step)
    lv, costs = _recursion(h, float(stockout_cost), lead_time_demand, float(step), None)
    ech = lv * float(step)
    local = np.diff(ech[::-1], prepend=0.0)[::-1]
    return SerialSolution(ech, local, float(costs[0]), costs)


def evaluate_serial(
    echelon_base_stock: Sequence[float] | np.ndarray,
    echelon_holding_cost: Sequence[float] | np.ndarray,
    stockout_cost: float,
    lead_time_demand: Sequence[DiscreteDistribution],
    *,
    step: float = 1.0,
) -> float:
    """Exact expected cost [currency/period] of given echelon base-stock levels.

    Args:
        echelon_base_stock: echelon level per stage [units], upstream first; values are
            rounded to the lattice.  Levels need not be nested (an upstream level below
            a downstream one simply caps the downstream position).
        echelon_holding_cost: ``h_j`` per stage [currency/unit/period], upstream first.
        stockout_cost: backorder cost [currency/unit/period].
        lead_time_demand: per stage, on the lattice (see :func:`solve_serial`).
        step: lattice step [units].
    """
    h = _check(echelon_holding_cost, stockout_cost, lead_time_demand, step)
    s = np.rint(np.asarray(echelon_base_stock, dtype=np.float64) / step).astype(np.int64)
    if s.shape != h.shape:
        raise ValueError("echelon_base_stock needs one level per stage")
    if np.any(s < 0):
        raise ValueError("echelon base-stock levels must be >= 0")
    _, costs = _recursion(h, float(stockout_cost), lead_time_demand, float(step), s)
    return float(costs[0])


class ClarkScarfSolver(Solver):
    """Exact echelon base-stock levels for every serial chain of a batch.

    Each connected component of the batch's upstream links that is a serial chain
    (one supplier and one customer per stage, external demand at the last stage) is
    solved by :func:`solve_serial` under the engine's periodic-review timing: the
    customer-facing stage's lead-time demand spans its lead time plus its review
    period, every other stage's its lead time (lead times may be random: the demand
    over a random lead time is compounded, an approximation of Clark-Scarf's
    deterministic lead times).  Echelon holding costs are the differences of the local
    holding costs along the chain; the stockout cost [currency/unit short] is used as
    the backorder cost per unit per period.  Stages of non-serial components get NaN
    levels (the pipeline reports them as errors).  Reported service and stock come from
    the network engine under the optimal echelon policy.

    Args:
        replications: engine replications for the reported metrics.
        periods: periods per replication.
        warmup: warm-up periods.
    """

    network_aware: ClassVar[bool] = True

    def __init__(self, replications: int = 20, periods: int = 1000, warmup: int = 100) -> None:
        self.replications = replications
        self.periods = periods
        self.warmup = warmup

    def solve(self, problem: StageProblem) -> pa.Table:
        """Echelon base-stock levels per stage (NaN outside serial chains)."""
        n = len(problem.keys)
        out = {k: np.full(n, np.nan) for k in ("level", "fill", "fill_se", "csl", "csl_se", "oh", "bo", "so")}
        for comp in problem_networks(problem):
            chain = _chain(problem, comp)
            if chain is None:
                continue
            last = chain[-1]
            d = problem.period_demand[last]
            local_h = problem.costs.holding_cost[chain]
            p = float(max(problem.costs.stockout_cost[last], 1e-12))
            ltd = [
                compound(d, problem.lead_time[s], int(problem.review_period[s]) if s == last else 0)
                for s in chain
            ]
            sol = solve_serial(echelon_holding_costs(local_h), p, ltd)
            net = Network.serial(len(chain))
            res = simulate(
                net, Policy.echelon_base_stock(sol.echelon_base_stock, review_period=problem.review_period[chain]),
                {len(chain) - 1: d}, lead_times=[problem.lead_time[s] for s in chain],
                seeds=np.array([problem.seeds[last]], dtype=np.uint64), replications=self.replications,
                periods=self.periods, warmup=self.warmup,
            )
            out["level"][chain] = sol.echelon_base_stock
            out["fill"][chain] = res.mean["fill_rate"]
            out["fill_se"][chain] = res.se["fill_rate"]
            out["csl"][chain] = res.mean["cycle_service_level"]
            out["csl_se"][chain] = res.se["cycle_service_level"]
            out["oh"][chain] = res.mean["on_hand"]
            out["bo"][chain] = res.mean["backorders"]
            short = (1.0 - np.nan_to_num(res.mean["fill_rate"], nan=1.0)) * res.mean["demand"]
            so = np.zeros(len(chain))
            so[-1] = short[-1] * p
            out["so"][chain] = so
        table = policy_table(
            policy_type=["echelon_base_stock"] * n,
            service_metric=["cost"] * n,
            service_target=np.asarray(problem.costs.cost_optimal_service, dtype=np.float64),
            target_source=["cost_optimal"] * n,
            level=out["level"],
            mean_demand=np.array([x.mean() for x in problem.period_demand]),
            mean_lead_time=np.array([lt.mean() for lt in problem.lead_time]),
            review_period=np.asarray(problem.review_period, dtype=np.float64),
            fill_rate=out["fill"], fill_rate_se=out["fill_se"], cycle_service=out["csl"],
            cycle_service_se=out["csl_se"], on_hand=out["oh"], backorders=out["bo"],
            unit_cost=np.asarray(problem.unit_cost, dtype=np.float64),
            holding_cost=problem.costs.holding_cost, stockout_per_period=out["so"],
        )
        messages = [
            None if np.isfinite(level) else
            "clark_scarf needs a serial chain; this stage's network is not serial "
            "(use stochastic_service or single_echelon)"
            for level in out["level"]
        ]
        return table.append_column("message", pa.array(messages, pa.string()))


def _chain(problem: StageProblem, comp: np.ndarray) -> np.ndarray | None:
    """The component's stages upstream first, or None if it is not a serial chain."""
    members = {int(s) for s in comp}
    down: dict[int, int] = {}
    for s in comp:
        ups = [int(u) for u in problem.upstream[s]]
        if len(ups) > 1:
            return None
        for u in ups:
            if u in down or u not in members:
                return None
            down[u] = int(s)
    heads = [int(s) for s in comp if len(problem.upstream[s]) == 0]
    if len(heads) != 1:
        return None
    order = [heads[0]]
    while order[-1] in down:
        order.append(down[order[-1]])
    return np.array(order, dtype=np.int64) if len(order) == comp.size else None
