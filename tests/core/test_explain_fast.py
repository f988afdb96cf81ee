"""The fast analytic safety stocks of ``platform_core.explain`` against the straightforward one.

The oracle below is the per-stage NumPy implementation ``explain`` had before its level
search was compiled and its convolutions shared (kept here verbatim, fenced off from the
module): every PMF of the stock in transit built by its own chain of convolutions, each
loss and on-hand curve over every level, then searched.  The fast path must give the
same numbers to the bit on random distributions and on the edge cases: zero demand,
point lead times, fractional mean lead times, review periods above one, the cost metric,
quantile targets and NaN targets.  Both run with BLAS on one thread, as ``explain``
does (the PMF means are BLAS dot products).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy.signal import fftconvolve

from platform_core import explain
from platform_core.components import StageCosts, StageProblem
from platform_core.distributions import DiscreteDistribution

# ----------------------------------------------------------------- the oracle ------------


def _ref_convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.size * b.size <= 4_000_000 or min(a.size, b.size) < 64:
        return np.convolve(a, b)
    out = np.asarray(fftconvolve(a, b), dtype=np.float64)
    return np.maximum(out, 0.0, out=out)


class _RefPowers:
    def __init__(self, period: DiscreteDistribution) -> None:
        dense = np.zeros(period.offset + period.pmf.size)
        dense[period.offset :] = period.pmf
        self._one = dense
        self._list: list[np.ndarray] = [np.ones(1)]

    def __getitem__(self, n: int) -> np.ndarray:
        while len(self._list) <= n:
            self._list.append(_ref_convolve(self._list[-1], self._one))
        return self._list[n]


def _ref_survival(lead: DiscreteDistribution, x: int) -> float:
    k = x - lead.offset
    if k < 0:
        return 1.0
    if k >= lead.pmf.size - 1:
        return 0.0
    return float(lead.pmf[k + 1 :].sum())


def _ref_thinned(acc: np.ndarray, lot: np.ndarray, q: float) -> np.ndarray:
    if q <= 0.0:
        return acc
    if q >= 1.0:
        return _ref_convolve(acc, lot)
    term = q * lot
    term[0] += 1.0 - q
    return _ref_convolve(acc, term)


def _ref_in_transit(powers: _RefPowers, lead: DiscreteDistribution, review: int, k: int,
                    base: np.ndarray) -> np.ndarray:
    lot = powers[review]
    acc = base
    m = 0
    while (q := _ref_survival(lead, m * review + k - 1)) > 0.0:
        acc = _ref_thinned(acc, lot, q)
        m += 1
    return acc


def _ref_cycle_end_pmf(powers: _RefPowers, lead: DiscreteDistribution, review: int) -> np.ndarray:
    lot = powers[review]
    out = np.zeros(1)
    for j, w in enumerate(lead.pmf):
        if w <= 0.0:
            continue
        lt = lead.offset + j
        acc = lot
        if lt >= 1:
            last = (lt - 1) // review
            for i in range(1, last + 1):
                acc = _ref_thinned(acc, lot, _ref_survival(lead, lt - i * review - 1))
            acc = _ref_convolve(acc, powers[lt - last * review])
        m = 1
        while (q := _ref_survival(lead, m * review + lt - 1)) > 0.0:
            acc = _ref_thinned(acc, lot, q)
            m += 1
        if acc.size > out.size:
            out = np.concatenate((out, np.zeros(acc.size - out.size)))
        out[: acc.size] += w * acc
    return out


def _ref_loss_and_stock(pmf: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    p = np.zeros(size)
    p[: pmf.size] = pmf[:size]
    cdf = np.cumsum(p)
    below = np.concatenate(([0.0], np.cumsum(cdf[:-1])))
    mean = float(np.dot(np.arange(pmf.size), pmf))
    return mean - np.arange(size) + below, below


def _ref_level(powers: _RefPowers, lead: DiscreteDistribution, review: int, metric: str, target: float,
               holding: float, stockout: float) -> float:
    eps = 1e-12
    if metric not in ("fill_rate", "cost"):
        if not np.isfinite(target):
            return math.nan
        cdf = np.cumsum(_ref_cycle_end_pmf(powers, lead, review))
        hit = np.flatnonzero(cdf >= target - eps)
        return float(hit[0]) if hit.size else float(cdf.size - 1)
    ends = [(_ref_in_transit(powers, lead, review, k, powers[k]), _ref_in_transit(powers, lead, review, k, powers[k - 1]))
            for k in range(1, review + 1)]
    size = max(x.size for x, _ in ends)
    short = np.zeros(size)
    on_hand = np.zeros(size)
    for x, y in ends:
        loss_x, stock_x = _ref_loss_and_stock(x, size)
        short += loss_x - _ref_loss_and_stock(y, size)[0]
        on_hand += stock_x
    short /= review
    on_hand /= review
    if metric == "fill_rate":
        if not np.isfinite(target):
            return math.nan
        mu = float(np.dot(np.arange(powers[1].size), powers[1]))
        if mu <= 0:
            return 0.0
        hit = np.flatnonzero(1.0 - short / mu >= target - eps)
        return float(hit[0]) if hit.size else float(size - 1)
    if not (np.isfinite(holding) and np.isfinite(stockout)) or holding + stockout <= 0:
        return math.nan
    return float(np.argmin(holding * on_hand + stockout * short))


def reference_safety_stock(period_demand: DiscreteDistribution, lead_time: DiscreteDistribution, review_period: int,
                           metric: str, target: float, holding_cost: float = math.nan,
                           stockout_cost: float = math.nan) -> tuple[float, float, float]:
    """``analytic_safety_stock`` as it was: one stage, every array built on its own."""
    powers = _RefPowers(period_demand)
    mu = period_demand.mean()
    mean_lt = lead_time.mean()
    review = max(int(review_period), 1)

    def ss(lead: DiscreteDistribution, r: int) -> float:
        level = _ref_level(powers, lead, r, metric, target, holding_cost, stockout_cost)
        return level - mu * (lead.mean() + r)

    lo = int(math.floor(mean_lt + 1e-12))
    w = mean_lt - lo
    ss_d = ss(DiscreteDistribution.point(lo), 1)
    if w > 1e-9:
        ss_d = (1.0 - w) * ss_d + w * ss(DiscreteDistribution.point(lo + 1), 1)
    ss_dl = ss(lead_time, 1)
    ss_dlr = ss_dl if review == 1 else ss(lead_time, review)
    return ss_d, ss_dl, ss_dlr


# ----------------------------------------------------------------- cases -----------------


def _random_demand(rng: np.random.Generator) -> DiscreteDistribution:
    kind = rng.integers(6)
    if kind == 0:
        return DiscreteDistribution.point(0)  # no demand
    if kind == 1:
        return DiscreteDistribution.point(int(rng.integers(1, 6)))  # certain demand
    if kind == 2:
        return DiscreteDistribution.poisson(float(rng.uniform(0.05, 30.0)))
    if kind == 3:  # intermittent: mostly zero, a lump now and then
        pmf = np.zeros(int(rng.integers(5, 40)))
        pmf[0] = rng.uniform(0.5, 0.95)
        pmf[1:] = rng.dirichlet(np.ones(pmf.size - 1)) * (1.0 - pmf[0])
        return DiscreteDistribution(pmf)
    if kind == 4:  # an offset support of random shape
        return DiscreteDistribution(rng.dirichlet(np.ones(int(rng.integers(2, 30)))), int(rng.integers(0, 20)))
    return DiscreteDistribution.normal(float(rng.uniform(20, 200)), float(rng.uniform(5, 60)))


def _random_lead(rng: np.random.Generator) -> DiscreteDistribution:
    kind = rng.integers(4)
    if kind == 0:
        return DiscreteDistribution.point(int(rng.integers(0, 6)))  # point lead time
    if kind == 1:  # two whole periods around a fractional mean
        return DiscreteDistribution(np.array([1.0 - (w := rng.uniform(0.05, 0.95)), w]), int(rng.integers(0, 5)))
    if kind == 2:
        return DiscreteDistribution(rng.dirichlet(np.ones(int(rng.integers(2, 6)))), int(rng.integers(0, 4)))
    return DiscreteDistribution(np.array([0.2, 0.0, 0.0, 0.5, 0.3]), 1)  # a gap in the support


def _metric(rng: np.random.Generator) -> tuple[str, float, float, float]:
    """(metric, target, holding, stockout): fill, cost, quantile targets; NaN targets and costs too."""
    kind = rng.integers(7)
    target = float(rng.choice([0.5, 0.8, 0.9, 0.95, 0.98, 0.999, 1.0]))
    if kind == 0:
        return "fill_rate", math.nan, math.nan, math.nan
    if kind in (1, 2):
        return "fill_rate", target, math.nan, math.nan
    if kind == 3:
        return "cost", math.nan, float(rng.uniform(0.01, 2.0)), float(rng.uniform(0.5, 50.0))
    if kind == 4:
        return "cost", math.nan, math.nan, 3.0  # no holding cost: undefined
    if kind == 5:
        return "cycle_service", target, math.nan, math.nan
    return "committed_service", math.nan, math.nan, math.nan


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("seed", range(6))
def test_fast_safety_stocks_equal_the_reference_to_the_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        demand, lead = _random_demand(rng), _random_lead(rng)
        review = int(rng.choice([0, 1, 1, 2, 3, 4]))
        metric, target, holding, stockout = _metric(rng)
        with explain._one_blas_thread():
            want = reference_safety_stock(demand, lead, review, metric, target, holding, stockout)
        got = explain.analytic_safety_stock(demand, lead, review, metric, target, holding, stockout)
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (
            f"demand {demand}, lead {lead}, R {review}, {metric} {target} h {holding} p {stockout}: "
            f"fast {got} != reference {want}")


def test_fft_sized_supports_equal_the_reference() -> None:
    """Large supports take the FFT convolutions; the sums there must be the same arrays too."""
    demand = DiscreteDistribution.normal(900.0, 300.0)  # ~3,600 units of support: FFT above 4M products
    lead = DiscreteDistribution(np.array([0.1, 0.6, 0.3]), 2)
    for review, metric, target, h, p in ((1, "fill_rate", 0.95, math.nan, math.nan), (2, "cost", math.nan, 0.2, 5.0),
                                         (3, "cycle_service", 0.9, math.nan, math.nan)):
        with explain._one_blas_thread():
            want = reference_safety_stock(demand, lead, review, metric, target, h, p)
        got = explain.analytic_safety_stock(demand, lead, review, metric, target, h, p)
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (review, metric, got, want)


def test_explain_levels_uses_the_same_parts_as_the_reference() -> None:
    """The table's columns: the parts of the reference's safety stocks, row by row."""
    rng = np.random.default_rng(11)
    n = 30
    demand = [_random_demand(rng) for _ in range(n)]
    lead = [_random_lead(rng) for _ in range(n)]
    review = rng.choice([1, 1, 2, 4], size=n).astype(np.int64)
    problem = StageProblem(
        keys=[f"s{i}@l" for i in range(n)], period_demand=demand, lead_time=lead, review_period=review,
        unit_cost=np.full(n, 2.0),
        costs=StageCosts(np.full(n, 0.1), np.full(n, 4.0), np.zeros(n), np.full(n, np.nan)),
        service_target=np.full(n, 0.95), upstream=[np.zeros(0, dtype=np.int64)] * n,
        quantity_per=[np.zeros(0)] * n, seeds=np.arange(n, dtype=np.int64), period_days=7.0,
    )
    metric = ["fill_rate" if i % 3 else "cost" for i in range(n)]
    target = np.where(np.arange(n) % 7 == 0, np.nan, 0.95)
    safety = rng.uniform(-5, 50, n)
    safety[3] = np.nan  # not solved: no explanation
    level = np.array([d.mean() * (lt.mean() + r) for d, lt, r in zip(demand, lead, review, strict=True)]) + safety
    table = pa.table({"policy_type": ["base_stock"] * n, "base_stock_level": level, "safety_stock": safety,
                      "service_metric": metric, "service_target": target})
    out = explain.explain_levels(problem, table, network_aware=False)
    for k in range(n):
        row = {c: out.column(c)[k].as_py() for c in out.column_names}
        if k == 3:
            assert row["explanation"] is None
            continue
        with explain._one_blas_thread():
            ss_d, ss_dl, ss_dlr = reference_safety_stock(demand[k], lead[k], int(review[k]), metric[k],
                                                         float(target[k]), 0.1, 4.0)
        if not np.isfinite(ss_dlr):
            ss_d = ss_dl = ss_dlr = 0.0
        assert row["safety_stock_from_demand_variability"] == ss_d
        assert row["safety_stock_from_lead_time_variability"] == ss_dl - ss_d
        assert row["safety_stock_from_review_and_lot_size"] == ss_dlr - ss_dl
        assert row["safety_stock_from_other"] == safety[k] - ss_dlr
