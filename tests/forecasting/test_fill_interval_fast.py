"""The compiled fill-rate interval against the straightforward per-stage one, bit for bit.

The oracle is the per-stage NumPy implementation ``fill_interval`` had before its
windows were computed in one compiled pass (kept here verbatim): each stage's paths from
its own stream, the fills at its level, the effective level by bisection on two sorted
hinge sums, the fills there and ``np.quantile``.  Random stages cover no demand,
intermittent and large demand, whole and fractional (and NaN) mean lead times, review
periods above one, with and without demand-level ratios (a zero, negative or NaN ratio too, and ragged per-stage arrays),
NaN and out-of-range levels and promises, and window counts and horizons beyond the
compiled path (more than 128 periods).
"""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.fill_interval import fill_rate_interval

# ----------------------------------------------------------------- the oracle ------------


def _ref_paths(period_demand: DiscreteDistribution, lead_periods: int, review_periods: int, horizon_periods: int,
               level_ratios: np.ndarray | None, seed: int, windows: int) -> tuple[np.ndarray, np.ndarray]:
    L = max(int(lead_periods), 0)
    R = max(int(review_periods), 1)
    H = max(int(horizon_periods), 1)
    T = L + R + H
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, 0x15CA1]))
    cdf = period_demand.inverse_cdf_table()
    x = np.searchsorted(cdf, rng.random((windows, T)), side="right") + period_demand.offset
    x = x.astype(np.float64)
    if level_ratios is not None and np.size(level_ratios):
        r = np.asarray(level_ratios, dtype=np.float64)
        theta = r[np.arange(windows) % r.size]
        x = np.floor(theta[:, None] * x + rng.random((windows, T)))
    c = np.concatenate([np.zeros((windows, 1)), np.cumsum(x, axis=1)], axis=1)
    t = np.arange(L + R, T)
    tau = ((t - L) // R) * R
    return x[:, t], c[:, t + 1] - c[:, tau]


def _ref_fills(demand: np.ndarray, since: np.ndarray, level: float) -> tuple[np.ndarray, float]:
    short = np.minimum(demand, np.maximum(since - float(level), 0.0))
    dem = demand.sum(axis=1)
    sh = short.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(dem > 0, 1.0 - sh / np.where(dem > 0, dem, 1.0), np.nan)
    total = float(dem.sum())
    return fill, (1.0 - float(sh.sum()) / total) if total > 0 else float("nan")


class _RefHinge:
    def __init__(self, values: np.ndarray) -> None:
        self.v = np.sort(values.ravel())
        self.suffix = np.concatenate((np.cumsum(self.v[::-1])[::-1], [0.0]))

    def __call__(self, levels: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.v, levels, side="right")
        return np.asarray(self.suffix[k] - levels * (self.v.size - k), dtype=np.float64)


def _ref_effective_level(demand: np.ndarray, since: np.ndarray, level: float, promise: float) -> float:
    over, before = _RefHinge(since), _RefHinge(since - demand)
    total = float(demand.sum())
    lo, hi = min(0.0, float(level)), max(float(since.max()) + 1.0, float(level))
    for _ in range(6):
        grid = np.linspace(lo, hi, 17)
        fill = 1.0 - (over(grid) - before(grid)) / total
        k = int(np.searchsorted(fill, promise - 1e-12, side="left"))
        k = min(max(k, 1), 16)
        lo, hi = float(grid[k - 1]), float(grid[k])
    return hi


def reference_interval(period_demand: list[DiscreteDistribution], levels: np.ndarray, expected_fill_rate: np.ndarray,
                       lead_periods: np.ndarray, review_periods: np.ndarray, seeds: np.ndarray,
                       level_ratios: np.ndarray | None = None, horizon_periods: int = 26, coverage: float = 0.8,
                       windows: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``fill_rate_interval`` as it was: one stage at a time."""
    n = len(period_demand)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    q = np.array([(1.0 - coverage) / 2.0, (1.0 + coverage) / 2.0])
    lv = np.asarray(levels, dtype=np.float64)
    promise = np.asarray(expected_fill_rate, dtype=np.float64)
    lead = np.rint(np.nan_to_num(np.asarray(lead_periods, dtype=np.float64))).astype(np.int64)
    rev = np.asarray(review_periods, dtype=np.int64)
    for i in range(n):
        if not (np.isfinite(lv[i]) and np.isfinite(promise[i])):
            continue
        ratios = None if level_ratios is None else level_ratios[i]
        demand, since = _ref_paths(period_demand[i], int(lead[i]), int(rev[i]), horizon_periods, ratios,
                                   int(seeds[i]), windows)
        fill, pooled = _ref_fills(demand, since, lv[i])
        if not np.any(np.isfinite(fill)) or not np.isfinite(pooled):
            low[i] = high[i] = promise[i]
            continue
        fill, _ = _ref_fills(demand, since, _ref_effective_level(demand, since, lv[i],
                                                                 float(np.clip(promise[i], 0, 1))))
        lo, hi = np.quantile(fill[np.isfinite(fill)], q)
        low[i] = float(np.clip(min(lo, promise[i]), 0.0, 1.0))
        high[i] = float(np.clip(max(hi, promise[i]), 0.0, 1.0))
    return low, high


# ----------------------------------------------------------------- cases -----------------


def _random_demand(rng: np.random.Generator) -> DiscreteDistribution:
    kind = rng.integers(5)
    if kind == 0:
        return DiscreteDistribution.point(0)  # no demand at all
    if kind == 1:  # intermittent
        pmf = np.zeros(int(rng.integers(3, 25)))
        pmf[0] = rng.uniform(0.8, 0.995)
        pmf[1:] = rng.dirichlet(np.ones(pmf.size - 1)) * (1.0 - pmf[0])
        return DiscreteDistribution(pmf)
    if kind == 2:
        return DiscreteDistribution.poisson(float(rng.uniform(0.1, 40.0)))
    if kind == 3:  # large demand: sums spread over many units (the sort path of the hinge sums)
        return DiscreteDistribution.normal(float(rng.uniform(500, 5000)), float(rng.uniform(50, 2000)))
    return DiscreteDistribution(rng.dirichlet(np.ones(int(rng.integers(1, 12)))), int(rng.integers(0, 9)))


def _stages(rng: np.random.Generator, n: int, ratios: str) -> tuple:
    demand = [_random_demand(rng) for _ in range(n)]
    mean = np.array([d.mean() for d in demand])
    lead = rng.choice([0.0, 0.4, 1.0, 2.5, 3.49, 7.0, np.nan], size=n)
    review = rng.choice([0, 1, 1, 2, 3, 5], size=n).astype(np.int64)
    level = mean * (np.nan_to_num(lead) + np.maximum(review, 1)) + rng.uniform(-3, 3, n) * np.sqrt(mean + 1)
    level[rng.random(n) < 0.08] = np.nan
    level[rng.random(n) < 0.05] = -4.0
    level[rng.random(n) < 0.05] = 1e7
    promise = rng.choice([0.5, 0.9, 0.97, 0.999, 1.0, 1.2, -0.1, np.nan], size=n)
    seeds = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
    level_ratios = None
    if ratios == "lognormal":
        sd = rng.uniform(0.0, 0.8, n)[:, None]
        z = np.linspace(-1.8, 1.8, 16)[None, :]
        level_ratios = np.exp(sd * z - 0.5 * sd**2)
        level_ratios[1] = 0.0  # a level of nothing: the demand of every window 0
        level_ratios[2, 3] = -0.5  # a negative ratio: the NumPy path
    elif ratios == "empty":
        level_ratios = np.zeros((n, 0))
    elif ratios == "ragged":  # one array per stage, of its own length (none for some)
        level_ratios = [np.exp(rng.normal(0, 0.3, int(rng.integers(0, 9)))) for _ in range(n)]
        level_ratios[3] = np.array([1.0, np.nan])  # a NaN ratio: the NumPy path
    return demand, level, promise, lead, review, seeds, level_ratios


def _assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    for g, w in zip(got, want, strict=True):
        same = (g == w) | (np.isnan(g) & np.isnan(w))
        bad = np.flatnonzero(~same)
        assert bad.size == 0, f"rows {bad[:5]}: fast {g[bad[:5]]} != reference {w[bad[:5]]}"


@pytest.mark.parametrize(("seed", "ratios", "horizon", "windows"), [
    (0, "none", 26, 64), (1, "lognormal", 26, 64), (2, "empty", 13, 64), (3, "lognormal", 1, 16),
    (4, "none", 52, 7), (5, "lognormal", 130, 64), (6, "lognormal", 8, 200), (7, "ragged", 26, 64),
])
def test_fast_interval_equals_the_reference_to_the_bit(seed: int, ratios: str, horizon: int, windows: int) -> None:
    rng = np.random.default_rng(seed)
    demand, level, promise, lead, review, seeds, level_ratios = _stages(rng, 40, ratios)
    args = (demand, level, promise, lead, review, seeds, level_ratios, horizon, 0.8, windows)
    want = reference_interval(*args)
    got = fill_rate_interval(*args)
    _assert_same(got, want)
    assert np.isfinite(got[0][np.isfinite(level) & np.isfinite(promise)]).all()


def test_other_coverage_and_one_stage_batches() -> None:
    """Any coverage; a stage's interval is the same alone as in its batch (batch invariance)."""
    rng = np.random.default_rng(9)
    demand, level, promise, lead, review, seeds, level_ratios = _stages(rng, 25, "lognormal")
    args = (demand, level, promise, lead, review, seeds, level_ratios, 26, 0.5, 64)
    low, high = fill_rate_interval(*args)
    _assert_same((low, high), reference_interval(*args))
    for i in (0, 4, 7):
        one = fill_rate_interval([demand[i]], level[i:i + 1], promise[i:i + 1], lead[i:i + 1], review[i:i + 1],
                                 seeds[i:i + 1], level_ratios[i:i + 1], 26, 0.5, 64)
        _assert_same(one, (low[i:i + 1], high[i:i + 1]))
