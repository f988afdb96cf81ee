"""The guaranteed-service model (GSM) as a solver: safety stock placed jointly per SKU network.

:class:`GuaranteedServiceSolver` (configuration ``solver = "guaranteed_service"``) cuts a
batch's :class:`~platform_core.components.StageProblem` into its independent SKU networks
and, per network, decides with the GSM (:func:`echelon_solvers.gsm.solve_gsm`: the
Graves-Willems tree DP on trees, branch and bound / MILP on other acyclic networks) how
quickly each stage promises to serve its customers (its committed service time ``S_j``)
and so where safety stock sits.  The committed service times become installation
base-stock levels, and the Monte Carlo engine measures their service and cost.

**From the problem to the GSM** (one period = ``problem.period_days`` days; all GSM times
are in periods):

* *stage time* ``T_j = round(E[L_j]) + R_j - 1 + e_j`` [periods]: the stage's mean lead
  time rounded to whole periods (half up), plus the engine's review offset.  In the engine
  a stage with external demand (``e_j = 1``) orders one period after the demand it
  replaces, so with reliable suppliers it is exposed to ``L + R`` periods; an internal
  stage sees its customers' orders of the period before it orders and is exposed to
  ``L + R - 1`` (``docs/simulation.md``).  Whole periods keep the GSM's time grid exact
  (step 1) and its service times meaningful in a periodic system;
* *demand* per period at each stage: the mean and standard deviation of the stage's own
  external demand as the engine simulates it (customer-facing stages: their forecast;
  internal stages with demand of their own: the part left after their customers' orders,
  :func:`echelon_solvers.kit.own_demand`); the GSM aggregates it upstream with the
  quantity per arc (means add, standard deviations as a root of a sum of squares), the
  same aggregation as the pipeline's derived demand under independence;
* *safety factor* of a stage with external demand: ``z = Phi^-1(target)``, its target
  read as a cycle-service level (null target: ``costs.cost_optimal_service``); targets
  below 0.5 give ``z = 0`` and targets are capped at ``1 - 1e-6``.  Internal stages get no
  factor of their own: as in Graves & Willems (2000) an internal stage protects each
  downstream demand at that demand's own level (``k_j = sqrt((z_j sigma_j)^2 + sum (q
  k_m)^2)``), which implies the service level ``Phi(k_j / sigma_j)`` it is sized for;
  the internal stages' own targets in the data are not used;
* *holding cost* per unit per period ``costs.holding_cost``; the GSM objective is then
  ``sum_j h_j k_j sqrt(NRT_j)`` [currency/period] with ``demand_bound = "normal"``;
* *demand bound* with ``demand_bound = "quantile"`` (default): the safety stock of stage
  ``j`` at a whole NRT ``tau`` is ``Q_j(tau) - tau E[D_j]``, the quantile at
  ``Phi(k_j / sigma_j)`` of its learned per-period demand ``D_j`` (``problem.period_demand``)
  convolved ``tau`` times (:func:`safety_stock_table`), so the objective is ``sum_j h_j
  (Q_j(NRT_j) - NRT_j E[D_j])``.  The tree DP takes any cost per stage and NRT, so this is
  exact on trees; networks with undirected cycles (branch and bound / MILP, built on the
  concave square root) and the methods other than ``auto`` / ``tree`` use the normal bound
  for the optimisation (``bounds_`` says which);
* external customers' maximum service time 0 (every stage with external demand serves
  from stock); external suppliers deliver within the stage's lead time (inbound 0).

**From service times to levels.**  Stage ``j``'s net replenishment time is
``SI_j + T_j - S_j`` with the mean lead time; with its real lead time it is the random
``NRT_j = max(0, SI_j - S_j + R_j - 1 + e_j + L_j)`` [periods].  Its base-stock level is the
exact quantile, at ``Phi(k_j / sigma_j)`` (its target for a customer-facing stage), of its
per-period demand (for internal stages the pipeline's derived demand) convolved over
``NRT_j``: for deterministic lead times exactly the cycle service the GSM promises, and
lead-time variability is covered instead of ignored.  ``safety_stock`` is the level minus
the mean demand over ``NRT_j`` (the GSM's safety stock), not minus the mean demand over
lead time + review as for other solvers; a stage with ``NRT_j = 0`` holds nothing.

**Monte Carlo check.**  Every network of the batch is simulated once, in one engine call,
with its levels as installation base-stock, the same demand and lead times and the same
network seed (``problem.seeds`` of its first stage) as the other network solvers
(:func:`echelon_solvers.kit.run_copies`); the service, stock and cost columns are those
measured values.  The engine ships as soon as it has stock and does not bound demand, so
a stage whose supplier commits ``S > 0`` can see late deliveries that the GSM rules out:
that gap is what the measured service shows.

**Re-tune** (``retune = True``, default): every customer-facing stage whose simulated cycle
service misses its target is raised to the smallest whole level that meets it, on the same
random numbers (:func:`echelon_solvers.gsm.raise_to_target`, the search of ``echelon gsm
solve --retune``); only networks whose levels moved are re-simulated.  The message of a
customer-facing stage gives the measured cycle service before and after.

The committed service time, net replenishment time and GSM safety-stock cost [currency/period]
of each stage fill the columns ``committed_service_time_periods``,
``net_replenishment_time_periods`` and ``gsm_safety_stock_cost_per_period`` (and the
``message``); the per-network :class:`~echelon_solvers.gsm.GSMSolution` objects are kept in
``solutions_`` (costs in [currency/period]), the check's figures in ``check_``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import ClassVar

import numpy as np
import pyarrow as pa

from echelon_solvers.gsm import GSMNetwork, GSMSolution, raise_to_target, solve_gsm
from echelon_solvers.gsm.solve import METHODS
from echelon_solvers.kit.evaluate import run_copies
from echelon_solvers.kit.network_problem import NetworkProblem
from echelon_solvers.kit.search_network import METRICS, SearchNetwork, search_networks
from echelon_solvers.kit.tables import policy_table
from platform_core.components import Solver, StageProblem
from platform_core.distributions import DiscreteDistribution

__all__ = [
    "BOUNDS",
    "GuaranteedServiceSolver",
    "GSMPlacement",
    "demand_over",
    "gsm_network",
    "place",
    "safety_stock_table",
    "service_levels",
    "stage_times",
]

#: demand-bound models: ``quantile`` (of the learned distribution over the NRT) or ``normal`` (z sigma sqrt(NRT))
BOUNDS: tuple[str, ...] = ("quantile", "normal")

#: largest service level a target is read as [-] (z = Phi^-1 of it stays finite)
MAX_SERVICE = 1.0 - 1e-6
_TAIL = 1e-13
_NORMAL = NormalDist()


def stage_times(problem: StageProblem, stages: np.ndarray, external: np.ndarray) -> np.ndarray:
    """GSM stage time of each stage [periods]: rounded mean lead time plus the review offset.

    ``T_j = floor(E[L_j] + 0.5) + R_j - 1 + e_j`` with ``e_j = 1`` for a stage with
    external demand (see the module doc).

    Args:
        problem: the batch.
        stages: indices of the stages (into the batch).
        external: per stage of ``stages``, whether it has external demand.
    """
    mean_lt = np.array([problem.lead_time[int(s)].mean() for s in stages])
    review = np.asarray(problem.review_period, dtype=np.float64)[stages]
    return np.floor(mean_lt + 0.5) + review - 1.0 + external.astype(np.float64)


def gsm_network(problem: StageProblem, stages: np.ndarray, net: NetworkProblem) -> GSMNetwork:
    """The GSM network of one SKU network of a batch (times in periods).

    Args:
        problem: the batch.
        stages: the network's stage indices (into the batch), in the order of ``net``.
        net: the network as the engine simulates it (its ``demand`` is each stage's own
            external demand).

    Returns:
        A :class:`GSMNetwork` whose ``unit_value`` is the holding cost per unit per period,
        so that with ``holding_rate = 1`` its costs are in [currency/period].
    """
    n = stages.size
    external = np.zeros(n, dtype=bool)
    external[list(net.demand)] = True
    mean = np.zeros(n)
    sd = np.zeros(n)
    for k, dist in net.demand.items():
        mean[k] = dist.mean()
        sd[k] = dist.std()
    target = np.asarray(problem.service_target, dtype=np.float64)[stages]
    target = np.where(np.isnan(target), np.asarray(problem.costs.cost_optimal_service)[stages], target)
    level = np.clip(target, 0.5, MAX_SERVICE)
    z = np.array([_NORMAL.inv_cdf(float(t)) for t in level])
    up = np.array([u for u, _, _ in net.network.arcs], dtype=np.int64)
    down = np.array([d for _, d, _ in net.network.arcs], dtype=np.int64)
    qty = np.array([q for _, _, q in net.network.arcs], dtype=np.float64)
    return GSMNetwork(
        ids=[problem.keys[int(s)] for s in stages],
        stage_time=stage_times(problem, stages, external),
        added_cost=np.zeros(n),
        edge_up=up,
        edge_down=down,
        quantity_per=qty,
        max_service_time=np.where(external, 0.0, np.inf),
        external_inbound=np.zeros(n),
        avg_demand=mean,
        std_demand=sd,
        z=np.where(external, z, 0.0),
        name=problem.keys[int(stages[0])],
        unit_value=np.asarray(problem.costs.holding_cost, dtype=np.float64)[stages],
    )


def demand_over(period: DiscreteDistribution, periods: DiscreteDistribution) -> DiscreteDistribution:
    """Demand over a random number of periods [units] (periods i.i.d. ``period``).

    Exact up to tails below 1e-13 trimmed after each convolution.

    Args:
        period: demand per period [units/period].
        periods: number of periods [periods].
    """
    acc = DiscreteDistribution.point(0)
    top = periods.offset + periods.pmf.size - 1
    out = np.zeros(1)
    for k in range(top + 1):
        if k > 0:
            acc = _trim(acc.convolve(period))
        w = float(periods.pmf[k - periods.offset]) if k >= periods.offset else 0.0
        if w > 0.0:
            end = acc.offset + acc.pmf.size
            if end > out.size:
                out = np.concatenate([out, np.zeros(end - out.size)])
            out[acc.offset:end] += w * acc.pmf
    return DiscreteDistribution(out, 0)


def _trim(d: DiscreteDistribution) -> DiscreteDistribution:
    cdf = np.cumsum(d.pmf)
    lo = int(np.searchsorted(cdf, _TAIL, side="right"))
    hi = int(np.searchsorted(cdf, 1.0 - _TAIL, side="left"))
    hi = min(max(hi, lo), d.pmf.size - 1)
    if lo == 0 and hi == d.pmf.size - 1:
        return d
    return DiscreteDistribution(d.pmf[lo:hi + 1], d.offset + lo)


def service_levels(network: GSMNetwork) -> np.ndarray:
    """Service level each stage is sized for [-].

    ``Phi(k_j / sigma_j)``: its target at a customer-facing stage; 0.5 where the pooled
    standard deviation is 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(network.pooled_std > 0, network.demand_bound / network.pooled_std, 0.0)
    return np.array([_NORMAL.cdf(float(r)) for r in ratio])


def safety_stock_table(problem: StageProblem, stages: np.ndarray, network: GSMNetwork) -> np.ndarray:
    """The quantile demand bound of every stage, as safety stock per whole NRT [units].

    ``SS_j(tau) = Q_j(tau) - tau E[D_j]`` for ``tau = 0 .. H`` periods, where ``Q_j(tau)`` is
    the quantile at :func:`service_levels` of the stage's per-period demand ``D_j``
    (``problem.period_demand``: the forecast of a customer-facing stage, the pipeline's
    derived demand of an internal one) convolved ``tau`` times (tails below 1e-13 trimmed),
    and ``H`` the longest net replenishment time the network allows.  For normal demand this
    is ``z sigma sqrt(tau)``; for a discrete, skewed or lumpy distribution it is the safety
    stock the level actually needs.

    Args:
        problem: the batch.
        stages: the network's stage indices (into the batch), in the order of ``network``.
        network: the network (square-root form; gives ``H`` and the service levels).

    Returns:
        ``(n, H + 1)`` array for :attr:`GSMNetwork.safety_stock_table`.
    """
    horizon = int(np.rint(np.max(network.max_inbound + network.stage_time))) if stages.size else 0
    q = service_levels(network)
    tab = np.zeros((stages.size, horizon + 1))
    for k, st in enumerate(stages.tolist()):
        period = problem.period_demand[st]
        mean = period.mean()
        acc = DiscreteDistribution.point(0)
        for tau in range(1, horizon + 1):
            acc = _trim(acc.convolve(period))
            tab[k, tau] = float(acc.quantile(float(q[k]))) - tau * mean
    return tab


@dataclass
class GSMPlacement:
    """The GSM policy of one SKU network, in periods and units.

    Attributes:
        solution: the GSM solution (costs in [currency/period], times in [periods]).
        service_time: committed outbound service time ``S_j`` [periods].
        net_replenishment_time: ``SI_j + T_j - S_j`` with the rounded mean lead time [periods].
        mean_nrt: mean of the random net replenishment time ``NRT_j`` [periods].
        level: base-stock level [units].
        service_level: quantile of demand over ``NRT_j`` the level is set at [-].
    """

    solution: GSMSolution
    service_time: np.ndarray
    net_replenishment_time: np.ndarray
    mean_nrt: np.ndarray
    level: np.ndarray
    service_level: np.ndarray


def place(problem: StageProblem, stages: np.ndarray, network: GSMNetwork, solution: GSMSolution) -> GSMPlacement:
    """Base-stock levels of one network from its committed service times (see module doc)."""
    n = stages.size
    external = network.max_service_time == 0.0
    offset = np.asarray(problem.review_period, dtype=np.float64)[stages] - 1.0 + external
    s = np.rint(solution.service_times)
    si = np.rint(solution.inbound_service_times)
    q = service_levels(network)
    level = np.zeros(n)
    mean_nrt = np.zeros(n)
    for k, st in enumerate(stages.tolist()):
        lt = problem.lead_time[st]
        shift = int(si[k] - s[k] + offset[k])
        nrt_values = np.maximum(lt.support + shift, 0)
        nrt = DiscreteDistribution(np.bincount(nrt_values, weights=lt.pmf), 0)
        mean_nrt[k] = nrt.mean()
        level[k] = float(demand_over(problem.period_demand[st], nrt).quantile(float(q[k])))
    return GSMPlacement(solution, s, np.rint(solution.net_replenishment_times), mean_nrt, level, q)


class GuaranteedServiceSolver(Solver):
    """Guaranteed-service placement of safety stock on every SKU network of a batch.

    See the module doc for the mapping onto the GSM, the lead-time treatment, the
    internal stages' service and how levels are set, checked and re-tuned.

    Args:
        method: GSM method: ``auto`` (tree DP on trees, else branch and bound, plus the
            MILP for networks of at most 60 stages), ``tree``, ``bnb``, ``milp`` or
            ``heuristic``.
        time_limit: wall-clock limit per network for ``auto`` / ``bnb`` / ``milp`` [s].
        replications: Monte Carlo replications of the check.
        periods: measured periods per replication.
        warmup: warm-up periods per replication.
        demand_bound: ``quantile`` (default): a stage's demand bound over a net replenishment
            time is the quantile of its learned demand over that time (tree DP; networks
            with undirected cycles and the methods other than ``auto`` / ``tree`` fall back
            to ``normal``); ``normal``: the classic ``z sigma sqrt(NRT)``.
        retune: after the Monte Carlo check, raise the level of every customer-facing
            stage whose simulated cycle service misses its target to the smallest level
            that meets it (same random numbers; :func:`echelon_solvers.gsm.raise_to_target`).
    """

    network_aware: ClassVar[bool] = True
    #: one engine run per network (no search); the GSM itself is cheap on trees
    work_factor: ClassVar[float] = 1.0
    work_exponent: ClassVar[float] = 1.0

    def __init__(self, method: str = "auto", time_limit: float = 10.0, replications: int = 20,
                 periods: int = 1000, warmup: int = 100, demand_bound: str = "quantile",
                 retune: bool = True) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        if not (time_limit > 0 and math.isfinite(time_limit)):
            raise ValueError("time_limit must be a finite number of seconds > 0")
        if demand_bound not in BOUNDS:
            raise ValueError(f"demand_bound must be one of {', '.join(BOUNDS)}, got {demand_bound!r}")
        if not isinstance(retune, bool):
            raise ValueError(f"retune must be true or false, got {retune!r}")
        self.method = method
        self.time_limit = float(time_limit)
        self.replications = int(replications)
        self.periods = int(periods)
        self.warmup = int(warmup)
        self.demand_bound = demand_bound
        self.retune = retune

    @classmethod
    def warm_up(cls) -> None:
        """Load the compiled GSM and engine kernels (a two-stage chain, a few periods)."""
        from platform_core.components import StageCosts

        pt = DiscreteDistribution.point
        two = StageProblem(
            keys=["w@0", "w@1"], period_demand=[pt(1), pt(1)], lead_time=[pt(1), pt(1)],
            review_period=np.ones(2, dtype=np.int64), unit_cost=np.ones(2),
            costs=StageCosts(np.ones(2), np.ones(2), np.zeros(2), np.full(2, 0.9)),
            service_target=np.full(2, 0.9), upstream=[np.zeros(0, np.int64), np.zeros(1, np.int64)],
            quantity_per=[np.zeros(0), np.ones(1)], seeds=np.ones(2, dtype=np.uint64),
            external_demand=np.array([False, True]),
        )
        cls(replications=1, periods=4, warmup=1).solve(two)

    def _network(self, problem: StageProblem, comp: np.ndarray, np_: NetworkProblem) -> tuple[GSMNetwork, str]:
        """The GSM of one network and the demand bound it uses (``quantile`` or ``normal``)."""
        network = gsm_network(problem, comp, np_)
        if (self.demand_bound == "quantile" and self.method in ("auto", "tree")
                and network.is_spanning_forest()):
            table = safety_stock_table(problem, comp, network)
            return dataclasses.replace(network, safety_stock_table=table), "quantile"
        return network, "normal"

    def solve(self, problem: StageProblem) -> pa.Table:
        """GSM base-stock levels per stage with their simulated (and re-tuned) service and cost."""
        n = len(problem.keys)
        comps, nps, sns = search_networks(problem, "target")
        level = np.full(n, np.nan)
        quantile = np.full(n, np.nan)
        mean_nrt = np.full(n, np.nan)
        service_time = np.full(n, np.nan)
        nrt_col = np.full(n, np.nan)
        gsm_cost = np.full(n, np.nan)
        messages: list[str | None] = [None] * n
        internal = np.zeros(n, dtype=bool)
        self.solutions_: list[GSMSolution | None] = []
        self.networks_: list[GSMNetwork | None] = []
        self.bounds_: list[str | None] = []
        self.components_ = comps
        solved: list[tuple[SearchNetwork, np.ndarray]] = []
        for comp, np_, sn in zip(comps, nps, sns, strict=True):
            internal[comp] = ~sn.leaf
            try:
                network, bound = self._network(problem, comp, np_)
                solution = solve_gsm(network, holding_rate=1.0, method=self.method, time_limit=self.time_limit)
                placed = place(problem, comp, network, solution)
            except Exception as exc:  # noqa: BLE001 - reported on the network's rows
                self.networks_.append(None)
                self.solutions_.append(None)
                self.bounds_.append(None)
                for s in comp:
                    messages[s] = f"guaranteed_service could not solve this network: {type(exc).__name__}: {exc}"
                continue
            self.networks_.append(network)
            self.solutions_.append(solution)
            self.bounds_.append(bound)
            level[comp] = placed.level
            quantile[comp] = placed.service_level
            mean_nrt[comp] = placed.mean_nrt
            service_time[comp] = placed.service_time
            nrt_col[comp] = placed.net_replenishment_time
            gsm_cost[comp] = solution.stage_cost
            note = "" if solution.gap <= 1e-6 else (
                f"; GSM policy within {100 * solution.gap:.2g} % of optimal ({solution.method})")
            for k, s in enumerate(comp):
                nrt = placed.net_replenishment_time[k]
                spread = "" if abs(placed.mean_nrt[k] - nrt) < 0.05 else (
                    f" (mean {placed.mean_nrt[k]:.2g} with the lead-time distribution)")
                messages[s] = (f"GSM: committed service time {placed.service_time[k]:g} periods, "
                               f"net replenishment time {nrt:g} periods{spread}{note}")
            sn.levels = placed.level.copy()
            solved.append((sn, comp))
        mean_d = np.array([d.mean() for d in problem.period_demand])
        vals = self._check(problem, solved, level, quantile, mean_d * mean_nrt, messages)
        so = np.zeros(n)
        for sn, comp in solved:
            short = np.nan_to_num(vals[comp][:, METRICS.index("short")])
            so[comp] = np.where([k in sn.demand for k in range(comp.size)], short, 0.0) * sn.stockout_cost
        col = {name: vals[:, k] for k, name in enumerate(METRICS)}
        given = np.asarray(problem.service_target, dtype=np.float64)
        table = policy_table(
            policy_type=["base_stock"] * n,
            service_metric=["committed_service" if internal[s] else "cycle_service" for s in range(n)],
            service_target=quantile,
            target_source=["gsm_pooled" if internal[s] else "cost_optimal" if np.isnan(given[s]) else "input"
                           for s in range(n)],
            level=level,
            mean_demand=mean_d,
            mean_lead_time=np.array([lt.mean() for lt in problem.lead_time]),
            review_period=np.asarray(problem.review_period, dtype=np.float64),
            fill_rate=col["fill_rate"], fill_rate_se=col["fill_rate_se"],
            cycle_service=col["cycle_service"], cycle_service_se=col["cycle_service_se"],
            on_hand=col["on_hand"], backorders=col["backorders"],
            unit_cost=np.asarray(problem.unit_cost, dtype=np.float64),
            holding_cost=problem.costs.holding_cost, stockout_per_period=so,
        )
        # the GSM's safety stock: level minus mean demand over the net replenishment time
        k = table.schema.get_field_index("safety_stock")
        table = table.set_column(k, "safety_stock", pa.array(level - mean_d * mean_nrt, pa.float64()))
        for name, values in (("committed_service_time_periods", service_time),
                             ("net_replenishment_time_periods", nrt_col),
                             ("gsm_safety_stock_cost_per_period", gsm_cost)):
            table = table.append_column(name, pa.array(values, pa.float64()))
        return table.append_column("message", pa.array(messages, pa.string()))

    def _check(self, problem: StageProblem, solved: list[tuple[SearchNetwork, np.ndarray]], level: np.ndarray,
               target: np.ndarray, mean_over_nrt: np.ndarray, messages: list[str | None]) -> np.ndarray:
        """Monte Carlo check of the solved networks and, with ``retune``, the re-tune.

        Updates ``level`` in place (re-tuned levels) and appends the measured cycle service
        before / after to the messages of the customer-facing stages; returns the ``METRICS``
        per stage at the final levels (NaN on unsolved networks).  Keeps per stage
        ``check_["cycle_service_before"]``, ``["cycle_service_after"]``, ``["level_before"]``
        and ``["runs"]`` (engine calls).
        """
        n = level.size
        cyc = METRICS.index("cycle_service")
        cache: list[tuple[bytes, np.ndarray] | None] = [None] * len(solved)
        runs = 0

        def realised(lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            # a network's numbers depend only on its own levels and seed: simulate only the
            # networks whose levels changed since the last call (all of them in one engine call)
            nonlocal runs
            keys = [lv[comp].tobytes() for _, comp in solved]
            todo = [i for i, c in enumerate(cache) if c is None or c[0] != keys[i]]
            if todo:
                runs += 1
                out = run_copies([solved[i][0] for i in todo], [lv[solved[i][1]][None, :] for i in todo],
                                 replications=self.replications, periods=self.periods, warmup=self.warmup)
                for i, v in zip(todo, out, strict=True):
                    cache[i] = (keys[i], v[0])
            vals = np.full((n, len(METRICS)), np.nan)
            for i, (_, comp) in enumerate(solved):
                entry = cache[i]
                assert entry is not None
                vals[comp] = entry[1]
            return vals[idx, cyc], vals

        idx = np.array([s for sn, comp in solved for k, s in enumerate(comp.tolist())
                        if sn.leaf[k] and k in sn.demand], dtype=np.int64)
        before_lv = level.copy()
        self.check_: dict[str, np.ndarray | int] = {}
        if not solved:
            return np.full((n, len(METRICS)), np.nan)
        if self.retune and idx.size:
            sd = np.array([problem.period_demand[int(s)].std() for s in idx])
            step = np.maximum(np.ceil(0.25 * np.maximum(level[idx] - mean_over_nrt[idx], sd)), 1.0)
            search = raise_to_target(realised, level, idx, target[idx], step)
            before, vals = search.first, search.last
            level[idx] = search.levels[idx]
            for sn, comp in solved:
                sn.levels = level[comp].copy()
        else:
            _, vals = realised(level)
            before = vals
        for s in idx.tolist():
            b, a = before[s, cyc], vals[s, cyc]
            text = (f"Monte Carlo cycle service {b:.4f} at the GSM level {before_lv[s]:g} "
                    f"(target {target[s]:.4f})")
            if level[s] != before_lv[s]:
                text += f"; re-tuned to {level[s]:g}: {a:.4f}"
            messages[s] = f"{messages[s]}; {text}" if messages[s] else text
        self.check_ = {"cycle_service_before": before[:, cyc], "cycle_service_after": vals[:, cyc],
                       "level_before": before_lv, "runs": runs}
        return vals
