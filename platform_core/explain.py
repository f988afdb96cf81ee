"""Why this level: each recommended level split into stock by purpose and by cause.

For every stage whose policy was set, :func:`explain_levels` adds the columns of
:data:`EXPLANATION_COLUMNS` to the solver's table (units: stock [units], money
[currency], days of supply [days]):

* ``pipeline_stock`` = mean demand x mean lead time (expected on order) and
  ``cycle_stock`` = mean demand x (review period - 1) / 2 (the average end-of-period
  on hand that ordering only every ``R`` periods adds; 0 for ``R = 1``).  The level is
  ``pipeline_stock + mean demand x R + safety_stock``.
* ``safety_stock`` (the solver's) split by an ordered attribution into analytic
  single-stage safety stocks, each with a perfectly reliable supplier, the stage's own
  demand and lead-time distributions (those the solver used) and its own target
  (``service_metric``/``service_target`` of the row):

  1. ``SS_D``: the lead time fixed at its mean (two-point interpolation between the
     whole periods around a fractional mean), review period 1;
  2. ``SS_DL``: the random lead time, review period 1;
  3. ``SS_DLR``: the random lead time and the stage's review period.

  ``from_demand_variability = SS_D``, ``from_lead_time_variability = SS_DL - SS_D``,
  ``from_review_and_lot_size = SS_DLR - SS_DL``; the solver's safety stock minus
  ``SS_DLR`` is ``from_upstream`` for a stage supplied by another stage under a
  network-aware solver (the upstream stock's delays, or its credit) and ``from_other``
  otherwise (simulation noise, whole units; for a stage that supplies others under a
  network-aware solver also how its customers' orders differ from i.i.d. demand).  The
  five parts add up to ``safety_stock``.

The analytic level for a target is exact for the model the engine simulates
(:mod:`platform_core.simulation.single_stage`: periodic review every ``R`` periods,
full backordering, i.i.d. lead times, orders that cross).  At the end of period ``k``
(1..R) of a cycle the stock consumed + in transit is ``X_k``: ``k`` periods of demand
plus each earlier order (``R`` periods of demand) still in transit with probability
``P(L > m R + k - 1)``; ``Y_k`` is ``X_k`` less that period's demand.

* fill rate ``b``: smallest ``S`` with ``1 - mean_k(E(X_k - S)+ - E(Y_k - S)+) / mu >= b``;
* cycle service (and any other quantile target, e.g. ``committed_service``) ``a``:
  smallest ``S`` with ``P(X_c <= S) >= a``, ``X_c`` the stock consumed + in transit at
  the end of a replenishment cycle (just before its order arrives);
* cost: the ``S`` of least ``h x mean_k E(S - X_k)+ + p x mean_k(E(X_k - S)+ - E(Y_k - S)+)``
  (holding on end-of-period on hand, stockout cost per unit short: the single-stage
  solver's objective).

With a fixed lead time these are the textbook ``X_{L+R}`` formulas; the tests check them
against scipy.stats and against the engine.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from scipy import fft as sp_fft
from threadpoolctl import ThreadpoolController

from platform_core._explain_kernels import cost_level, fill_rate_level, quantile_level
from platform_core.components import StageProblem
from platform_core.distributions import DiscreteDistribution

__all__ = ["EXPLANATION_COLUMNS", "explain_levels", "analytic_safety_stock", "stock_level"]

#: columns :func:`explain_levels` adds, in schema order (all float64 but ``explanation``)
EXPLANATION_COLUMNS: tuple[str, ...] = (
    "cycle_stock",
    "pipeline_stock",
    "safety_stock_from_demand_variability",
    "safety_stock_from_lead_time_variability",
    "safety_stock_from_review_and_lot_size",
    "safety_stock_from_upstream",
    "safety_stock_from_other",
    "safety_stock_value",
    "days_of_supply_safety_stock",
    "days_of_supply_level",
    "investment_at_level",
    "explanation",
)

_EPS = 1e-12
_SOURCE_WORDS = {
    "input": "given",
    "cost_optimal": "set by cost",
    "network": "chosen for the network",
    "abc_class": "by ABC class",
    "gsm_pooled": "GSM pooled",
}


_DIRECT_WORK = 4_000_000  # np.convolve below this many multiply-adds, FFT above


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """PMF of the sum: direct for small supports, by FFT (negatives clipped) for large ones.

    The FFT product is ``scipy.signal.fftconvolve``'s own (real FFTs of the next fast
    length, product, inverse, cut to the full length) without its argument checks.
    """
    if a.size == 1 and a[0] == 1.0:  # no demand yet: np.convolve's one-term dot products, 0 + 1 x b
        return b + 0.0
    if a.size * b.size <= _DIRECT_WORK or min(a.size, b.size) < 64:
        return np.convolve(a, b)
    n = a.size + b.size - 1
    fast = sp_fft.next_fast_len(n, True)
    out = np.asarray(sp_fft.irfft(sp_fft.rfft(a, fast) * sp_fft.rfft(b, fast), fast)[:n], dtype=np.float64)
    return np.maximum(out, 0.0, out=out)


class _Powers:
    """Dense PMFs of demand summed over ``0, 1, 2, ...`` periods (index = units), and PMF means."""

    def __init__(self, period: DiscreteDistribution) -> None:
        dense = np.zeros(period.offset + period.pmf.size)
        dense[period.offset :] = period.pmf
        self._one = dense
        self._list: list[np.ndarray] = [np.ones(1)]
        self._means: dict[int, tuple[np.ndarray, float]] = {}  # id -> (the array, kept alive; its mean)
        self._lots: dict[tuple[int, int], list[np.ndarray]] = {}
        #: the level found for ``X_k`` and ``Y_k`` arrays (by id; one stage's target), with the arrays
        self.levels: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[float, list[np.ndarray], list[np.ndarray]]] = {}

    def __getitem__(self, n: int) -> np.ndarray:
        while len(self._list) <= n:
            self._list.append(_convolve(self._list[-1], self._one))
        return self._list[n]

    def with_lots(self, base: int, review: int, lots: int) -> np.ndarray:
        """Demand of ``base`` periods convolved ``lots`` times with ``review`` periods' (in that order)."""
        chain = self._lots.setdefault((base, review), [self[base]])
        while len(chain) <= lots:
            chain.append(_convolve(chain[-1], self[review]))
        return chain[lots]

    def mean_of(self, pmf: np.ndarray) -> float:
        """Mean of a PMF on ``0..`` (``np.dot`` with the support), once per array."""
        hit = self._means.get(id(pmf))
        if hit is None:
            hit = self._means[id(pmf)] = (pmf, _mean_of(pmf))
        return hit[1]


class _Lead:
    """A lead-time distribution with its mean and survival ``P(L > x)`` computed once each."""

    def __init__(self, dist: DiscreteDistribution) -> None:
        self.dist = dist
        self.mean = dist.mean()
        self._survival: dict[int, float] = {}

    def survival(self, x: int) -> float:
        """``P(L > x)``."""
        q = self._survival.get(x)
        if q is None:
            q = self._survival[x] = _survival(self.dist, x)
        return q


_point_leads: dict[int, _Lead] = {}


def _point_lead(periods: int) -> _Lead:
    """The lead time of exactly ``periods`` periods (shared: its survival never changes)."""
    lead = _point_leads.get(periods)
    if lead is None:
        lead = _point_leads[periods] = _Lead(DiscreteDistribution.point(periods))
    return lead


def _survival(lead: DiscreteDistribution, x: int) -> float:
    """``P(L > x)``."""
    k = x - lead.offset
    if k < 0:
        return 1.0
    if k >= lead.pmf.size - 1:
        return 0.0
    return float(lead.pmf[k + 1 :].sum())


def _thinned(acc: np.ndarray, lot: np.ndarray, q: float) -> np.ndarray:
    """``acc`` convolved with ``lot`` present with probability ``q`` (an order in transit)."""
    if q <= 0.0:
        return acc
    if q >= 1.0:
        return _convolve(acc, lot)
    term = q * lot
    term[0] += 1.0 - q
    return _convolve(acc, term)


def _in_transit(powers: _Powers, lead: _Lead, review: int, k: int, base: int) -> np.ndarray:
    """Demand over ``base`` periods plus the orders still in transit at the end of period ``k`` (1..R).

    The order placed ``m`` reviews before the cycle's review (``m >= 0``, ``R`` periods
    of demand) is in transit with probability ``P(L > m R + k - 1)``: orders cross, each
    has its own lead time (the solvers' default).  With ``R = 1`` an order sure to be in
    transit adds one period of demand: the sum so far is then the next power of the
    period demand, the very array :class:`_Powers` builds by the same convolution; with
    ``R > 1`` the sums of ``base`` periods and whole lots are shared in the same way
    (:meth:`_Powers.with_lots`: ``X_k`` and ``Y_{k+1}`` start from the same ones).
    """
    lot = powers[review]
    m = 0
    while lead.survival(m * review + k - 1) >= 1.0:  # orders sure to be in transit
        m += 1
    acc = powers[base + m] if review == 1 else powers.with_lots(base, review, m)
    while (q := lead.survival(m * review + k - 1)) > 0.0:
        acc = _thinned(acc, lot, q)
        m += 1
    return acc


def _cycle_end_pmf(powers: _Powers, lead: _Lead, review: int) -> np.ndarray:
    """PMF of demand consumed + in transit at the end of a replenishment cycle.

    The cycle opened by an order placed at a review with lead time ``l`` ends just before
    that order arrives (end of period ``l - 1`` after the review), as the simulation
    counts it.  Then the order itself (``R`` periods of demand) is in transit, each later
    order placed ``i`` reviews after it with probability ``P(L >= l - i R)``, each earlier
    one placed ``m`` reviews before with probability ``P(L > m R + l - 1)``, plus the
    demand since the last review; mixed over ``l``.
    """
    lot = powers[review]
    out = np.zeros(1)
    for j, w in enumerate(lead.dist.pmf):
        if w <= 0.0:
            continue
        lt = lead.dist.offset + j
        acc = lot
        if lt >= 1:
            last = (lt - 1) // review
            for i in range(1, last + 1):
                acc = _thinned(acc, lot, lead.survival(lt - i * review - 1))
            acc = _convolve(acc, powers[lt - last * review])
        m = 1
        while (q := lead.survival(m * review + lt - 1)) > 0.0:
            acc = _thinned(acc, lot, q)
            m += 1
        if acc.size > out.size:
            out = np.concatenate((out, np.zeros(acc.size - out.size)))
        out[: acc.size] += w * acc
    return out


_support = np.arange(1024, dtype=np.float64)  # 0, 1, 2, ... as float64, grown on demand


def _mean_of(pmf: np.ndarray) -> float:
    """Mean of a PMF on ``0..``: ``np.dot(np.arange(n), pmf)``.

    ``np.dot`` casts the integer support to float64 before its BLAS product; taking a
    float64 support once saves the cast, not a bit of the result.
    """
    global _support
    if _support.size < pmf.size:
        _support = np.arange(max(pmf.size, 2 * _support.size), dtype=np.float64)
    return float(np.dot(_support[: pmf.size], pmf))


def _analytic_level(
    powers: _Powers, lead: _Lead, review: int, metric: str, target: float,
    holding: float, stockout: float,
) -> float:
    """Single-stage base-stock level [units] for the target, reliable supplier."""
    if metric not in ("fill_rate", "cost"):  # cycle service, or any other quantile target
        if not np.isfinite(target):
            return math.nan
        return float(quantile_level(_cycle_end_pmf(powers, lead, review), target - _EPS))
    if metric == "fill_rate" and not np.isfinite(target):
        return math.nan
    if metric == "cost" and (not (np.isfinite(holding) and np.isfinite(stockout)) or holding + stockout <= 0):
        return math.nan
    # end of period k of a cycle: X_k (in transit + consumed), Y_k = X_k - that period's demand
    xs = [_in_transit(powers, lead, review, k, k) for k in range(1, review + 1)]
    ys = [_in_transit(powers, lead, review, k, k - 1) for k in range(1, review + 1)]
    key = (tuple(id(x) for x in xs), tuple(id(y) for y in ys))  # the same arrays: the same level
    if (hit := powers.levels.get(key)) is not None:
        return hit[0]
    size = max(x.size for x in xs)
    if review == 1:
        x_all, y_all = xs[0], ys[0][:size]
        x_ptr = np.array([0, x_all.size], dtype=np.int64)
        y_ptr = np.array([0, y_all.size], dtype=np.int64)
    else:
        x_ptr = np.zeros(review + 1, dtype=np.int64)
        y_ptr = np.zeros(review + 1, dtype=np.int64)
        np.cumsum([x.size for x in xs], out=x_ptr[1:])
        np.cumsum([min(y.size, size) for y in ys], out=y_ptr[1:])
        x_all = np.concatenate(xs)
        y_all = np.concatenate([y[:size] for y in ys])
    mean_x = np.array([powers.mean_of(x) for x in xs])
    mean_y = np.array([powers.mean_of(y) for y in ys])
    if metric == "fill_rate":
        mu = powers.mean_of(powers[1])
        level = 0.0 if mu <= 0 else float(fill_rate_level(x_all, x_ptr, y_all, y_ptr, mean_x, mean_y, size, review,
                                                          mu, target - _EPS))
    else:
        level = float(cost_level(x_all, x_ptr, y_all, y_ptr, mean_x, mean_y, size, review, holding, stockout))
    powers.levels[key] = (level, xs, ys)  # the arrays kept alive: their ids stay theirs
    return level


_blas_controller: ThreadpoolController | None = None


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """BLAS limited to one thread: the PMF means (``np.dot``) then have one summation order.

    OpenBLAS splits a dot product of more than 10,000 terms among its threads, which
    changes the last bits of the sum with the thread count (the machine's cores in one
    process, the task's CPUs in a Ray worker); on one thread a long product is also
    cheaper than the hand-off (60 us against 3 us at 10,001 terms).
    """
    global _blas_controller
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    limit: contextlib.AbstractContextManager[object] = _blas_controller.limit(limits=1, user_api="blas")
    return limit


def analytic_safety_stock(
    period_demand: DiscreteDistribution,
    lead_time: DiscreteDistribution,
    review_period: int,
    metric: str,
    target: float,
    holding_cost: float = math.nan,
    stockout_cost: float = math.nan,
) -> tuple[float, float, float]:
    """The ordered analytic safety stocks ``(SS_D, SS_DL, SS_DLR)`` [units].

    Single stage, perfectly reliable supplier.  ``SS_D``: lead time fixed at its mean
    (linear between the whole periods around a fractional mean), review period 1;
    ``SS_DL``: random lead time, review period 1; ``SS_DLR``: random lead time, review
    period ``review_period``.  ``metric`` is ``"fill_rate"``, ``"cost"`` (needs
    ``holding_cost`` [currency/unit/period] and ``stockout_cost`` [currency/unit]) or any
    other name, read as a cycle-service quantile ``target``.  NaN where the target is
    undefined.
    """
    mu = period_demand.mean()
    with _one_blas_thread():
        return _safety_stocks(period_demand, mu, lead_time, review_period, metric, target, holding_cost,
                              stockout_cost)


def _safety_stocks(
    period_demand: DiscreteDistribution, mu: float, lead_time: DiscreteDistribution, review_period: int,
    metric: str, target: float, holding_cost: float, stockout_cost: float,
) -> tuple[float, float, float]:
    """:func:`analytic_safety_stock` under the caller's BLAS thread limit.

    ``mu = period_demand.mean()`` [units/period] comes from the caller, outside the
    limit: the levels the limit serves are whole units, ``mu`` enters the safety stocks
    as it is, with the bits of every other ``mean()`` of the run.
    """
    powers = _Powers(period_demand)
    lead = _Lead(lead_time)
    mean_lt = lead.mean
    review = max(int(review_period), 1)

    def ss(lead: _Lead, r: int) -> float:
        level = _analytic_level(powers, lead, r, metric, target, holding_cost, stockout_cost)
        return level - mu * (lead.mean + r)

    lo = int(math.floor(mean_lt + _EPS))
    w = mean_lt - lo
    ss_d = ss(_point_lead(lo), 1)
    if w > 1e-9:
        ss_d = (1.0 - w) * ss_d + w * ss(_point_lead(lo + 1), 1)
    ss_dl = ss(lead, 1)
    ss_dlr = ss_dl if review == 1 else ss(lead, review)
    return ss_d, ss_dl, ss_dlr


def stock_level(policy_type: Sequence[str | None], base_stock_level: np.ndarray, order_up_to: np.ndarray,
                upstream: Sequence[np.ndarray]) -> np.ndarray:
    """The stock each stage's policy holds up to [units] (what ``investment_at_level`` prices).

    ``base_stock``: the base-stock level; ``echelon_base_stock``: the installation level,
    the stage's echelon level minus its direct downstream stages' echelon levels; other
    policies (``sS``, ``min_max``, ``rQ``): ``order_up_to`` when set, else the base-stock
    level.
    """
    level = np.asarray(base_stock_level, dtype=np.float64).copy()
    up_to = np.asarray(order_up_to, dtype=np.float64)
    n = level.size
    kinds = list(policy_type)
    downstream_sum = np.zeros(n)
    for k in range(n):
        for u in np.asarray(upstream[k], dtype=np.int64):
            if kinds[int(u)] == "echelon_base_stock":
                downstream_sum[int(u)] += np.nan_to_num(level[k]) if kinds[k] == "echelon_base_stock" else 0.0
    for k in range(n):
        if kinds[k] == "echelon_base_stock":
            level[k] = level[k] - downstream_sum[k]
        elif kinds[k] not in ("base_stock", None) and np.isfinite(up_to[k]):
            level[k] = up_to[k]
    return level


def _column(table: pa.Table, name: str, n: int) -> np.ndarray:
    if name not in table.column_names:
        return np.full(n, np.nan)
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def _strings(table: pa.Table, name: str, n: int) -> list[str | None]:
    if name not in table.column_names:
        return [None] * n
    return [None if v is None else str(v) for v in table.column(name).to_pylist()]


def _units(x: float) -> str:
    return f"{x:,.1f}" if abs(x) < 10 else f"{x:,.0f}"


_lead_ranges: dict[tuple[int, bytes], tuple[int, int]] = {}


def _lead_range(lead: DiscreteDistribution) -> tuple[int, int]:
    """The lead time's 5 % and 95 % quantiles [periods] (once per distinct lead time)."""
    key = (lead.offset, lead.pmf.tobytes())
    hit = _lead_ranges.get(key)
    if hit is None:
        if len(_lead_ranges) >= 4096:
            _lead_ranges.clear()
        hit = _lead_ranges[key] = (int(lead.quantile(0.05)), int(lead.quantile(0.95)))
    return hit


def _sentence(
    *, level: float, days_level: float, pipeline: float, review_demand: float, safety: float,
    parts: dict[str, float], cv: float, lead: DiscreteDistribution, period_days: float, review: int,
    metric: str | None, target: float, source: str | None, feeds_network: bool,
) -> str:
    """One sentence a planner reads: the level, its split, and the safety stock by cause."""
    days = f" ({days_level:,.1f} days of demand)" if np.isfinite(days_level) else " (no demand)"
    lt_lo, lt_hi = _lead_range(lead)
    lt_days = f"{lt_lo * period_days:g}" if lt_lo == lt_hi else f"{lt_lo * period_days:g}-{lt_hi * period_days:g}"
    causes = [f"{_units(parts['demand'])} demand swings" + (f" (CV {cv:.2f})" if np.isfinite(cv) else ""),
              f"{_units(parts['lead_time'])} late deliveries (lead time {lt_days} days)"]
    if review > 1 or abs(parts["review"]) >= 0.05:
        causes.append(f"{_units(parts['review'])} ordering every {review} periods ({review * period_days:g} days)")
    if abs(parts["upstream"]) >= 0.05:
        why = "the network around it (upstream delays, customers' orders)" if feeds_network else "the stock upstream"
        causes.append(f"{_units(parts['upstream'])} {why}")
    if abs(parts["other"]) >= 0.05:
        why = "the network's orders and simulation" if feeds_network else "simulation and whole units"
        causes.append(f"{_units(parts['other'])} {why}")
    origin = _SOURCE_WORDS.get(source or "", source or "")
    if metric == "cost":
        goal = "the cost-optimal level" + (f" (critical ratio {target:.3f})" if np.isfinite(target) else "")
    elif np.isfinite(target):
        what = {"fill_rate": "fill", "cycle_service": "cycle service"}.get(metric or "", metric or "service")
        goal = f"the {target * 100:.1f} % {what} target" + (f" ({origin})" if origin else "")
    else:
        goal = "no stated target"
    return (
        f"Level {_units(level)} units{days}: {_units(pipeline)} in transit, {_units(review_demand)} "
        f"used before the next order arrives and {_units(safety)} safety stock for {goal}; "
        f"safety stock by cause: " + ", ".join(causes) + "."
    )


def _pass_through_sentence(lead: DiscreteDistribution, period_days: float) -> str:
    """The sentence of an internal stage the network solver left empty (level 0)."""
    lt_lo, lt_hi = _lead_range(lead)
    lt_days = f"{lt_lo * period_days:g}" if lt_lo == lt_hi else f"{lt_lo * period_days:g}-{lt_hi * period_days:g}"
    return ("Holds no stock: the network is cheapest when this stage passes its customers' orders "
            f"straight through to its supplier (lead time {lt_days} days); its customers hold the safety "
            "stock for that delay instead (their rows count it as 'the network around it').")


def explain_levels(problem: StageProblem, table: pa.Table, *, network_aware: bool) -> pa.Table:
    """``table`` (a solver's output for ``problem``) with :data:`EXPLANATION_COLUMNS` appended.

    Rows whose level or safety stock is not finite get nulls; columns of those names that
    the solver returned are replaced.  ``network_aware``: the solver set the levels of a
    network jointly, so a stage supplied by another stage owes the difference from its
    reliable-supplier safety stock to its upstream stages.
    """
    n = len(problem.keys)
    table = table.drop_columns([c for c in EXPLANATION_COLUMNS if c in table.column_names])
    level_in = _column(table, "base_stock_level", n)
    safety = _column(table, "safety_stock", n)
    target = _column(table, "service_target", n)
    metric = _strings(table, "service_metric", n)
    source = _strings(table, "target_source", n)
    kinds = _strings(table, "policy_type", n)
    level = stock_level(kinds, level_in, _column(table, "order_up_to", n), problem.upstream)
    review = np.maximum(np.asarray(problem.review_period, dtype=np.int64), 1)
    unit_cost = np.asarray(problem.unit_cost, dtype=np.float64)
    days = float(problem.period_days)
    feeds = np.zeros(n, dtype=bool)  # stages that supply another stage of the problem
    for ups in problem.upstream:
        feeds[np.asarray(ups, dtype=np.int64)] = True
    out = {name: np.full(n, np.nan) for name in EXPLANATION_COLUMNS[:-1]}
    text: list[str | None] = [None] * n
    analytic: dict[int, tuple[float, float, float]] = {}
    rows = np.flatnonzero(np.isfinite(level_in) & np.isfinite(safety)).tolist()
    mus = {k: problem.period_demand[k].mean() for k in rows}
    with _one_blas_thread():
        for k in rows:
            analytic[k] = _safety_stocks(
                problem.period_demand[k], mus[k], problem.lead_time[k], int(review[k]), metric[k] or "",
                float(target[k]),
                float(problem.costs.holding_cost[k]), float(problem.costs.stockout_cost[k]),
            )
    for k in range(n):
        if not (np.isfinite(level_in[k]) and np.isfinite(safety[k])):
            continue
        dist, lead = problem.period_demand[k], problem.lead_time[k]
        mu, r = mus[k], int(review[k])
        ss_d, ss_dl, ss_dlr = analytic[k]
        passes_through = network_aware and bool(feeds[k]) and level_in[k] <= 0.0
        if not np.isfinite(ss_dlr) or passes_through:
            # a stage the network leaves empty holds nothing for demand, lead time or
            # review: its (negative) safety stock is the network's placement decision
            ss_d = ss_dl = ss_dlr = 0.0
        residual = float(safety[k]) - ss_dlr
        supplied = network_aware and len(problem.upstream[k]) > 0
        parts = {"demand": ss_d, "lead_time": ss_dl - ss_d, "review": ss_dlr - ss_dl,
                 "upstream": residual if supplied else 0.0, "other": 0.0 if supplied else residual}
        daily = mu / days if days > 0 else math.nan
        out["cycle_stock"][k] = mu * (r - 1) / 2.0
        out["pipeline_stock"][k] = mu * lead.mean()
        out["safety_stock_from_demand_variability"][k] = parts["demand"]
        out["safety_stock_from_lead_time_variability"][k] = parts["lead_time"]
        out["safety_stock_from_review_and_lot_size"][k] = parts["review"]
        out["safety_stock_from_upstream"][k] = parts["upstream"]
        out["safety_stock_from_other"][k] = parts["other"]
        out["safety_stock_value"][k] = safety[k] * unit_cost[k]
        out["days_of_supply_safety_stock"][k] = safety[k] / daily if daily > 0 else math.nan
        out["days_of_supply_level"][k] = level[k] / daily if daily > 0 else math.nan
        out["investment_at_level"][k] = level[k] * unit_cost[k]
        text[k] = _pass_through_sentence(lead, days) if passes_through else _sentence(
            level=float(level[k]), days_level=float(out["days_of_supply_level"][k]),
            pipeline=float(out["pipeline_stock"][k]), review_demand=mu * r, safety=float(safety[k]),
            parts=parts, cv=dist.std() / mu if mu > 0 else math.nan, lead=lead, period_days=days, review=r,
            metric=metric[k], target=float(target[k]), source=source[k],
            feeds_network=network_aware and bool(feeds[k]),
        )
    for name, values in out.items():
        table = table.append_column(name, pa.array(values, pa.float64(), from_pandas=True))
    return table.append_column("explanation", pa.array(text, pa.string()))
