"""Exact single-stage lot sizing: (s, S) by Zheng & Federgruen (1991), (r, Q) by Federgruen & Zheng (1992).

The model (periodic review, full backorders, integer demand): every ``R`` periods the
inventory position ``IP`` is reviewed; an order placed at review ``t`` arrives ``L``
periods later (``L`` may be random: the lead-time demand is then the compound
distribution, exact only when orders cannot cross). ``y`` is the position after
ordering. The expected cost of the ``R`` periods a review covers is

``G(y) = sum_{k=1..R} [h E(y - X_{L+k})^+ + b E(X_{L+k} - y)^+] + pi [E(X_{L+R} - y)^+ - E(X_L - y)^+]``

with ``X_n`` the demand of ``n`` periods [units], ``h`` the holding cost
[currency/unit/period] on end-of-period stock, ``b`` a backorder cost
[currency/unit/period] on end-of-period backorders (the published test problems) and
``pi`` a shortage cost [currency/unit short] on every unit of demand not met from stock
(Echelon's ``stockout_cost``). The last bracket is the expected number of units short in
the ``R`` periods [units]. ``(s, S)`` orders ``S - IP`` when ``IP <= s``; ``(r, Q)``
(``(r, nQ)``) orders the least multiple of ``Q`` that lifts ``IP`` above ``r`` — the
engine's ``sS`` and ``rQ`` policies, with the same timing (``docs/simulation.md``).

Long-run cost per period [currency/period], with ``D`` the demand of one review
period and ``m``, ``M`` its renewal mass / renewal function (ZF eq. 2):

* ``(s, S)``: ``c(s, S) = [K + sum_{j<S-s} m(j) G(S - j)] / (R M(S - s))`` (ZF eq. 3);
* ``(r, Q)``: ``c(r, Q) = [K E min(D, Q) + sum_{y=r+1..r+Q} G(y)] / (R Q)``: ``IP`` after
  ordering is uniform on ``r+1 .. r+Q`` and an order is placed in a review with
  probability ``E min(D, Q) / Q`` (continuous review with unit demands: ``K λ``).

Exactness. :func:`zheng_federgruen` is the paper's algorithm: exact when ``G`` is
quasi-convex, which it is with ``pi = 0`` (``G`` convex) and which the function checks
(``G`` with ``pi > 0`` is checked on the grid; if it is not quasi-convex the exhaustive
search is used). :func:`best_s_S` and :func:`best_r_Q` search every ``(s, S)`` /
``(r, Q)`` of a grid exhaustively (a window sum per candidate, vectorised): they are exact
on the grid, take constraints (``S - s >= moq``; ``Q`` a multiple of the order multiple
and ``>= moq``) and a fill-rate floor, and stop the order-size scan with a lower bound
(see their docstrings). Units throughout: quantities [units], costs [currency/period].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from platform_core.components import compound
from platform_core.distributions import DiscreteDistribution

__all__ = [
    "LotSizingProblem",
    "LotSizingResult",
    "PolicyMetrics",
    "lot_sizing_problem",
    "renewal_mass",
    "s_S_cost",
    "s_S_metrics",
    "r_Q_cost",
    "r_Q_metrics",
    "zheng_federgruen",
    "best_s_S",
    "best_r_Q",
    "order_size_distribution",
    "optimal_lot_policy",
]


def _loss(pmf: np.ndarray, offset: int, y: np.ndarray) -> np.ndarray:
    """First-order loss ``E(X - y)^+`` of an integer distribution at integer ``y`` [units]."""
    support = np.arange(offset, offset + pmf.size)
    mean = float(np.dot(support, pmf))
    sf = 1.0 - np.cumsum(pmf)  # P(X > offset + i)
    # loss(offset + i) = loss(offset + i - 1) - P(X > offset + i - 1)
    lo = mean - offset  # loss at y = offset
    tail = np.empty(pmf.size)
    tail[0] = lo
    if pmf.size > 1:
        tail[1:] = lo - np.cumsum(sf[:-1])
    tail = np.maximum(tail, 0.0)
    idx = y - offset
    out = np.where(idx < 0, mean - y, 0.0)
    inside = (idx >= 0) & (idx < pmf.size)
    out[inside] = tail[idx[inside]]
    return out


@dataclass(frozen=True)
class LotSizingProblem:
    """One stage's single-stage lot-sizing problem on an integer grid of positions.

    Attributes:
        y: the grid of positions after ordering [units] (consecutive integers).
        holding: ``sum_k E(y - X_{L+k})^+`` per grid point [unit-periods per review].
        backorder: ``sum_k E(X_{L+k} - y)^+`` [unit-periods per review].
        short: expected units short in a review's ``R`` periods [units].
        review_demand: PMF of the demand of one review period ``D`` (offset 0) [units].
        review_period: ``R`` [periods].
        mean_demand: mean demand per period [units/period].
    """

    y: np.ndarray
    holding: np.ndarray
    backorder: np.ndarray
    short: np.ndarray
    review_demand: np.ndarray
    review_period: int
    mean_demand: float
    _renewal: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def renewal(self, n: int) -> np.ndarray:
        """``m(0 .. n-1)`` of the review demand (:func:`renewal_mass`), cached."""
        have = self._renewal.get(0)
        if have is None or have.size < n:
            have = renewal_mass(self.review_demand, max(n, 2 * (0 if have is None else have.size)))
            self._renewal[0] = have
        return have[:n]

    def g(self, holding_cost: float, backorder_cost: float = 0.0, shortage_cost: float = 0.0) -> np.ndarray:
        """``G(y)`` per review [currency] for the given cost rates."""
        return holding_cost * self.holding + backorder_cost * self.backorder + shortage_cost * self.short


def lot_sizing_problem(
    period_demand: DiscreteDistribution,
    lead_time: DiscreteDistribution | int,
    review_period: int = 1,
    *,
    lead_time_demand: list[DiscreteDistribution] | None = None,
    span: int | None = None,
) -> LotSizingProblem:
    """Build the grid quantities of one stage.

    Args:
        period_demand: demand per period [units/period].
        lead_time: lead time [periods] (int or PMF; a random one is compounded).
        review_period: ``R`` [periods].
        lead_time_demand: optional ``[X_L, X_{L+1}, ..., X_{L+R}]`` to use instead of
            compounding. Continuous-review textbook problems (cost on the position
            minus the lead-time demand ``X``): ``R = 1`` and ``[point(0), X]``, with
            ``order_rate = λ`` in :func:`best_r_Q`.
        span: grid half-width above the largest lead-time demand [units]; default from
            the demand.
    """
    r = int(review_period)
    if r < 1:
        raise ValueError("review_period must be >= 1")
    if lead_time_demand is None:
        lt = lead_time if isinstance(lead_time, DiscreteDistribution) else DiscreteDistribution.point(int(lead_time))
        xs = [compound(period_demand, lt, k) for k in range(r + 1)]
    else:
        xs = list(lead_time_demand)
        if len(xs) != r + 1:
            raise ValueError("lead_time_demand needs R + 1 distributions (X_L .. X_{L+R})")
    review = DiscreteDistribution.point(0)
    for _ in range(r):
        review = review.convolve(period_demand)
    rd = np.zeros(review.offset + review.pmf.size)
    rd[review.offset:] = review.pmf
    top = xs[-1]
    mean_r = review.mean()
    sd_r = review.std()
    if span is None:
        span = int(np.ceil(4.0 * (mean_r + 4.0 * sd_r) + 30))
    y_lo = -int(np.ceil(top.mean() + 6.0 * top.std() + 10))
    y_hi = int(top.offset + top.pmf.size + span)
    y = np.arange(y_lo, y_hi + 1)
    holding = np.zeros(y.size)
    backorder = np.zeros(y.size)
    for x in xs[1:]:
        loss = _loss(x.pmf, x.offset, y)
        backorder += loss
        holding += y - x.mean() + loss
    short = _loss(xs[-1].pmf, xs[-1].offset, y) - _loss(xs[0].pmf, xs[0].offset, y)
    return LotSizingProblem(y=y, holding=holding, backorder=backorder, short=np.maximum(short, 0.0),
                            review_demand=rd, review_period=r, mean_demand=float(period_demand.mean()))


def renewal_mass(review_demand: np.ndarray, n: int) -> np.ndarray:
    """``m(0..n-1)`` of ZF eq. 2: expected number of reviews the position spends ``j`` below its start.

    ``m(0) = 1 / (1 - p0)``, ``m(j) = sum_{l=1..j} p_l m(j - l) / (1 - p0)``.
    """
    p = np.asarray(review_demand, dtype=np.float64)
    p0 = float(p[0]) if p.size else 1.0
    if p0 >= 1.0:
        raise ValueError("demand is zero with probability one: no lot size is needed")
    m = np.zeros(n)
    if n == 0:
        return m
    m[0] = 1.0 / (1.0 - p0)
    pl = np.zeros(n)
    k = min(n, p.size)
    pl[1:k] = p[1:k]
    for j in range(1, n):
        m[j] = np.dot(pl[1:j + 1], m[j - 1::-1][:j]) / (1.0 - p0)
    return m


def _index(prob: LotSizingProblem, value: int) -> int:
    i = int(value - prob.y[0])
    if i < 0 or i >= prob.y.size:
        raise ValueError(f"position {value} is outside the grid [{prob.y[0]}, {prob.y[-1]}]")
    return i


def s_S_cost(prob: LotSizingProblem, g: np.ndarray, s: int, big_s: int, fixed_cost: float,
             m: np.ndarray | None = None) -> float:
    """``c(s, S)`` [currency/period] (ZF eq. 3, divided by ``R``)."""
    delta = big_s - s
    if delta < 1:
        raise ValueError("S must exceed s")
    m = renewal_mass(prob.review_demand, delta) if m is None or m.size < delta else m
    hi = _index(prob, big_s)
    window = g[hi - delta + 1:hi + 1][::-1]  # G(S - j), j = 0 .. delta-1
    return float((fixed_cost + np.dot(m[:delta], window)) / (m[:delta].sum() * prob.review_period))


@dataclass(frozen=True)
class PolicyMetrics:
    """Long-run per-period figures of a policy from the exact stationary distribution.

    Attributes:
        on_hand: mean end-of-period stock [units].
        backorders: mean end-of-period backorders [units].
        short: units short per period [units/period].
        fill_rate: ``1 - short / mean demand`` [-].
        order_frequency: orders per period [1/period].
    """

    on_hand: float
    backorders: float
    short: float
    fill_rate: float
    order_frequency: float

    def cost(self, holding_cost: float, ordering_cost: float, shortage_cost: float = 0.0,
             backorder_cost: float = 0.0) -> float:
        """Holding + ordering (+ shortage, + backorder) cost [currency/period]."""
        return (holding_cost * self.on_hand + ordering_cost * self.order_frequency + shortage_cost * self.short
                + backorder_cost * self.backorders)


def _metrics(prob: LotSizingProblem, weights: np.ndarray, lo: int, orders_per_review: float) -> PolicyMetrics:
    """Figures of a stationary distribution ``weights`` of ``y`` on ``lo .. lo+len-1``."""
    i = _index(prob, lo)
    sl = slice(i, i + weights.size)
    r = prob.review_period
    short = float(np.dot(weights, prob.short[sl])) / r
    mean_d = prob.mean_demand
    return PolicyMetrics(
        on_hand=float(np.dot(weights, prob.holding[sl])) / r,
        backorders=float(np.dot(weights, prob.backorder[sl])) / r,
        short=short,
        fill_rate=1.0 - short / mean_d if mean_d > 0 else 1.0,
        order_frequency=orders_per_review / r,
    )


def s_S_metrics(prob: LotSizingProblem, s: int, big_s: int) -> PolicyMetrics:
    """Exact per-period figures of ``(s, S)``: ``P(y = S - j) = m(j) / M(S - s)``."""
    delta = big_s - s
    m = prob.renewal(delta)
    w = m / m.sum()
    return _metrics(prob, w[::-1], s + 1, 1.0 / m.sum())


def _expected_min(review_demand: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``E min(D, Q)`` for each ``Q`` [units]: ``sum_{i=1..Q} P(D >= i)``."""
    sf = 1.0 - np.cumsum(review_demand)  # P(D > i) for i = 0..
    ge = np.concatenate([[1.0], np.maximum(sf, 0.0)])  # P(D >= i) for i = 0..
    cum = np.cumsum(ge[1:])  # sum_{i=1..k} P(D >= i), k = 1..len
    qi = np.asarray(q, dtype=np.int64)
    return np.where(qi <= cum.size, cum[np.minimum(qi, cum.size) - 1], cum[-1] if cum.size else 0.0)


def r_Q_cost(prob: LotSizingProblem, g: np.ndarray, r: int, q: int, fixed_cost: float,
             order_rate: float | None = None) -> float:
    """``c(r, Q)`` [currency/period]; ``order_rate`` replaces ``E min(D, Q)`` (``λ`` for continuous review)."""
    i = _index(prob, r + 1)
    rate = float(_expected_min(prob.review_demand, np.array([q]))[0]) if order_rate is None else order_rate
    return float((fixed_cost * rate + g[i:i + q].sum()) / (q * prob.review_period))


def r_Q_metrics(prob: LotSizingProblem, r: int, q: int) -> PolicyMetrics:
    """Exact per-period figures of ``(r, nQ)`` (``IP`` uniform on ``r+1 .. r+Q``)."""
    rate = float(_expected_min(prob.review_demand, np.array([q]))[0]) / q
    return _metrics(prob, np.full(q, 1.0 / q), r + 1, rate)


def _quasiconvex(g: np.ndarray) -> bool:
    """Non-increasing then non-decreasing (steps below 1e-12 of the range count as flat)."""
    diff = np.diff(g)
    tol = 1e-12 * max(1.0, float(np.max(np.abs(g))))
    d = np.where(np.abs(diff) <= tol, 0.0, np.sign(diff))
    d = d[d != 0]
    return bool(np.all(np.diff(d) >= 0))


@dataclass(frozen=True)
class LotSizingResult:
    """An optimal policy: ``s`` / ``r`` [units], ``S`` [units] (``r + Q`` for ``(r, Q)``), ``Q``, cost [currency/period]."""

    kind: str
    reorder_point: int
    order_up_to: int
    order_quantity: int
    cost: float
    metrics: PolicyMetrics


def zheng_federgruen(prob: LotSizingProblem, g: np.ndarray, fixed_cost: float) -> tuple[int, int, float]:
    """The optimal ``(s, S)`` by the algorithm of Zheng & Federgruen (1991, p. 659).

    Requires a quasi-convex ``G`` on the grid (raises ``ValueError`` otherwise).  Returns
    ``(s*, S*, c*)`` with ``c*`` [currency/period].
    """
    if not _quasiconvex(g):
        raise ValueError("G is not quasi-convex on the grid: use best_s_S")
    ystar_i = int(np.argmin(g))
    y0 = int(prob.y[0])
    n_max = prob.y.size
    m = prob.renewal(n_max)
    big_m = np.concatenate([[0.0], np.cumsum(m)])
    r = prob.review_period

    def c(s: int, big_s: int) -> float:
        d = big_s - s
        hi = big_s - y0
        return float((fixed_cost + np.dot(m[:d], g[hi - d + 1:hi + 1][::-1])) / big_m[d])

    def gv(y: int) -> float:
        i = y - y0
        if i < 0 or i >= g.size:
            raise ValueError("grid too small for the Zheng-Federgruen search")
        return float(g[i])

    ystar = y0 + ystar_i
    s = ystar - 1
    s0_big = ystar
    while c(s, s0_big) > gv(s):
        s -= 1
    c0 = c(s, s0_big)
    big_s = s0_big + 1
    while gv(big_s) <= c0:
        if c(s, big_s) < c0:
            s0_big = big_s
            while c(s, s0_big) <= gv(s + 1):
                s += 1
            c0 = c(s, s0_big)
        big_s += 1
    return s, s0_big, c0 / r


def _window_costs(g: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_j weights[j] g[i + len - 1 - j]`` for every full window start ``i``."""
    return np.convolve(g, weights, mode="valid")


def best_s_S(
    prob: LotSizingProblem,
    *,
    holding_cost: float,
    fixed_cost: float,
    shortage_cost: float = 0.0,
    backorder_cost: float = 0.0,
    fill_target: float | None = None,
    min_delta: int = 1,
    max_delta: int | None = None,
) -> LotSizingResult:
    """The best ``(s, S)`` with ``S - s >= min_delta`` (an MOQ), optionally with fill ``>= fill_target``.

    Exhaustive over every ``s`` of the grid for each order-size gap ``Δ = S - s``:
    the cost of all ``s`` at once is one convolution of ``G`` with ``m(0..Δ-1)``. The
    scan over ``Δ`` stops when a lower bound exceeds the best cost found: every
    policy with gap ``Δ`` costs at least ``(rearranged window bound)`` — the largest
    renewal weights paired with the smallest cost values (rearrangement inequality) —
    and ``Δ`` runs on until that bound has exceeded the best cost for
    ``max(20, 2 E[D])`` consecutive gaps, or to ``max_delta``. With a fill target the objective is holding + ordering
    (+ backorder) cost and the feasible ``s`` of a gap are those whose exact fill
    meets the target (the least such ``s`` is optimal for that gap: holding grows in ``s``).
    """
    g_cost = prob.g(holding_cost, backorder_cost, 0.0 if fill_target is not None else shortage_cost)
    r = prob.review_period
    n = prob.y.size
    cap = n - 1 if max_delta is None else min(int(max_delta), n - 1)
    m = prob.renewal(cap)
    big_m = np.cumsum(m)
    g_asc = np.sort(g_cost)
    patience = max(20, int(np.ceil(2.0 * float(np.dot(np.arange(prob.review_demand.size), prob.review_demand)))))
    best: tuple[float, int, int] | None = None
    over = 0
    for d in range(max(1, int(min_delta)), cap + 1):
        w = m[:d]
        cost = (fixed_cost + _window_costs(g_cost, w)) / (big_m[d - 1] * r)  # index i -> s = y[i] - 1
        if fill_target is not None:
            shortv = _window_costs(prob.short, w) / (big_m[d - 1] * r)
            ok = shortv <= (1.0 - fill_target) * prob.mean_demand + 1e-12
            if not ok.any():
                continue
            cost = np.where(ok, cost, np.inf)
        i = int(np.argmin(cost))
        if best is None or cost[i] < best[0]:
            best = (float(cost[i]), int(prob.y[i]) - 1, d)
            over = 0
        lower = (fixed_cost + float(np.dot(np.sort(w)[::-1], g_asc[:d]))) / (big_m[d - 1] * r)
        if best is not None and lower > best[0]:
            over += 1
            if over >= patience:
                break
        else:
            over = 0
    if best is None:
        raise ValueError("no (s, S) on the grid meets the fill target")
    c, s, d = best
    met = s_S_metrics(prob, s, s + d)
    return LotSizingResult("sS", s, s + d, d, c, met)


def best_r_Q(
    prob: LotSizingProblem,
    *,
    holding_cost: float,
    fixed_cost: float,
    shortage_cost: float = 0.0,
    backorder_cost: float = 0.0,
    fill_target: float | None = None,
    multiple: int = 1,
    min_quantity: int = 1,
    max_quantity: int | None = None,
    order_rate: float | None = None,
) -> LotSizingResult:
    """The best ``(r, nQ)`` with ``Q`` a multiple of ``multiple`` and ``Q >= min_quantity``.

    Federgruen & Zheng (1992): for each ``Q`` the best ``r`` is the window of ``Q``
    consecutive positions of least total ``G`` — here every window is scored (prefix
    sums), so no convexity is needed. The scan over ``Q`` stops once the least window
    average (a lower bound on ``c(r, Q)``) exceeds the best cost for 20 consecutive
    candidates, or at ``max_quantity``. ``order_rate`` replaces ``E min(D, Q)`` (orders
    per review times ``Q``: ``λ`` per unit time for continuous review with unit demand).
    With a fill target the objective is holding + ordering (+ backorder) cost subject to
    the exact fill.
    """
    g_cost = prob.g(holding_cost, backorder_cost, 0.0 if fill_target is not None else shortage_cost)
    r_len = prob.review_period
    n = prob.y.size
    step = max(1, int(multiple))
    q0 = max(step, int(np.ceil(max(1, int(min_quantity)) / step)) * step)
    cap = n - 1 if max_quantity is None else min(int(max_quantity), n - 1)
    pre = np.concatenate([[0.0], np.cumsum(g_cost)])
    pre_short = np.concatenate([[0.0], np.cumsum(prob.short)])
    best: tuple[float, int, int] | None = None
    over = 0
    for q in range(q0, cap + 1, step):
        sums = pre[q:] - pre[:-q]  # window starting at index i: y[i] .. y[i+q-1]; r = y[i] - 1
        rate = float(_expected_min(prob.review_demand, np.array([q]))[0]) if order_rate is None else order_rate
        cost = (fixed_cost * rate + sums) / (q * r_len)
        if fill_target is not None:
            shortv = (pre_short[q:] - pre_short[:-q]) / (q * r_len)
            ok = shortv <= (1.0 - fill_target) * prob.mean_demand + 1e-12
            if not ok.any():
                continue
            cost = np.where(ok, cost, np.inf)
        i = int(np.argmin(cost))
        if best is None or cost[i] < best[0]:
            best = (float(cost[i]), int(prob.y[i]) - 1, q)
            over = 0
        lower = float(sums.min()) / (q * r_len)
        if lower > best[0]:
            over += 1
            if over >= 20:
                break
    if best is None:
        raise ValueError("no (r, Q) on the grid meets the fill target")
    c, r, q = best
    return LotSizingResult("rQ", r, r + q, q, c, r_Q_metrics(prob, r, q))


def order_size_distribution(prob: LotSizingProblem, kind: str, s: int, big_s: int, q: int) -> DiscreteDistribution:
    """PMF of one period's order [units] in steady state (0 when no order).

    ``(s, S)``: an order of ``S - (y - D)`` when ``y - D <= s``; ``(r, nQ)``: ``nQ``.
    ``R = 1`` is assumed (orders per period); used to hand an upstream stage the lumpy
    demand of a lot-sized customer (independent periods: the autocorrelation of the
    order stream is not kept).
    """
    d = prob.review_demand
    if kind == "sS":
        delta = big_s - s
        m = renewal_mass(d, delta)
        w = (m / m.sum())[::-1]  # y = s+1 .. S
        size = np.zeros(delta + d.size + 1)
        none = 0.0
        for k, wy in enumerate(w):
            y = s + 1 + k
            # D >= y - s  -> order S - y + D
            lo = y - s
            if lo < d.size:
                size[big_s - y + lo: big_s - y + d.size] += wy * d[lo:]
            none += wy * d[:min(lo, d.size)].sum()
        size[0] += none
        return DiscreteDistribution(size, 0)
    w = np.full(q, 1.0 / q)
    top = (d.size // q + 2) * q + 1
    size = np.zeros(top)
    for k in range(q):
        y = s + 1 + k
        for dem, p in enumerate(d):
            if p == 0.0:
                continue
            ip = y - dem
            n = 0 if ip > s else int((s - ip) // q) + 1
            size[n * q] += w[k] * p
    return DiscreteDistribution(size, 0)


def optimal_lot_policy(
    prob: LotSizingProblem,
    kind: str,
    *,
    holding_cost: float,
    fixed_cost: float,
    shortage_cost: float = 0.0,
    fill_target: float | None = None,
    min_quantity: int = 1,
    multiple: int = 1,
) -> LotSizingResult:
    """The best ``(s, S)`` (``kind = "sS"``) or ``(r, nQ)`` (``"rQ"``) of one stage.

    Cost mode (``fill_target`` None): least holding + ordering + ``shortage_cost`` x
    units short [currency/period] — Zheng-Federgruen for an unconstrained ``(s, S)``, the
    exhaustive searches otherwise (``S - s >= min_quantity``; ``Q`` a multiple of
    ``multiple``, ``>= min_quantity``).

    Fill target: least holding + ordering cost with exact fill ``>= fill_target``. The
    shortage price ``λ`` of the cost problem is searched (doubling, then 10 bisection
    steps) for the least ``λ`` whose optimum meets the target — the Lagrangian optimum,
    exact when the constraint binds at a policy of the lower convex hull — and then
    every gap / quantity up to twice that policy's (plus 10) is searched exhaustively
    for the least-cost feasible ``s`` / ``r``; the better of the two is returned.
    ``cost`` is then holding + ordering [currency/period].
    """
    if kind not in ("sS", "rQ"):
        raise ValueError(f"kind must be 'sS' or 'rQ', got {kind!r}")

    def by_cost(price: float) -> LotSizingResult:
        if kind == "rQ":
            return best_r_Q(prob, holding_cost=holding_cost, fixed_cost=fixed_cost, shortage_cost=price,
                            multiple=multiple, min_quantity=min_quantity)
        if min_quantity <= 1:
            try:
                s, big_s, c = zheng_federgruen(prob, prob.g(holding_cost, 0.0, price), fixed_cost)
            except ValueError:
                pass
            else:
                return LotSizingResult("sS", s, big_s, big_s - s, c, s_S_metrics(prob, s, big_s))
        return best_s_S(prob, holding_cost=holding_cost, fixed_cost=fixed_cost, shortage_cost=price,
                        min_delta=min_quantity)

    if fill_target is None:
        return by_cost(shortage_cost)
    # start an octave below the newsvendor price of the target (p / (p + h R) = target)
    ratio = min(fill_target, 1.0 - 1e-6)
    price_hi = max(holding_cost, 1e-9) * prob.review_period * ratio / (1.0 - ratio) / 8.0
    hi = by_cost(price_hi)
    doublings = 0
    while hi.metrics.fill_rate < fill_target and doublings < 60:
        price_hi *= 2.0
        hi = by_cost(price_hi)
        doublings += 1
    if hi.metrics.fill_rate < fill_target:
        raise ValueError(f"no policy on the grid reaches fill {fill_target}")
    price_lo = 0.0 if doublings == 0 else price_hi / 2.0
    for _ in range(10):
        mid = 0.5 * (price_lo + price_hi)
        res = by_cost(mid)
        if res.metrics.fill_rate >= fill_target:
            price_hi, hi = mid, res
        else:
            price_lo = mid
    lagrangian = LotSizingResult(hi.kind, hi.reorder_point, hi.order_up_to, hi.order_quantity,
                                 hi.metrics.cost(holding_cost, fixed_cost), hi.metrics)
    limit = 2 * hi.order_quantity + 10
    try:
        if kind == "rQ":
            polished = best_r_Q(prob, holding_cost=holding_cost, fixed_cost=fixed_cost, fill_target=fill_target,
                                multiple=multiple, min_quantity=min_quantity, max_quantity=limit)
        else:
            polished = best_s_S(prob, holding_cost=holding_cost, fixed_cost=fixed_cost, fill_target=fill_target,
                                min_delta=min_quantity, max_delta=limit)
    except ValueError:
        return lagrangian
    return polished if polished.cost < lagrangian.cost else lagrangian
