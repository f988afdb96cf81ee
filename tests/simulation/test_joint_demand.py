"""Correlated demand across a network's stages (empirical checkerboard copula).

Checked against independent references: Python big-integer arithmetic for the 64-bit
slice mapping, scipy's Spearman for the summary, the PMFs themselves (chi-square) for the
marginals, the exact distribution of the checkerboard copula (computed here from the
PMFs and ranks, no simulation) for the rank correlation, the history itself (with the
history's own empirical marginals the simulation must resample whole historical periods,
so every simulated period is a historical one), and the general kernel for the fast one.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy import stats

from platform_core.simulation import (
    DemandSchedule,
    DiscreteDistribution,
    InsufficientHistoryError,
    JointDemand,
    Network,
    Policy,
    simulate,
)
from platform_core.simulation._rng import history_row, joint_z, mulhi64
from platform_core.simulation.joint_demand import MIN_PERIODS, _average_ranks

TWO64 = 1 << 64


def _factor_history(rng: np.random.Generator, n_stores: int, periods: int, mean: float = 40.0,
                    shape: float = 4.0) -> np.ndarray:
    """``[1 + n_stores, periods]``: a DC without demand (NaN) and stores driven by a common gamma factor."""
    f = rng.gamma(shape, 1.0 / shape, periods)  # mean 1, cv 1/sqrt(shape)
    stores = rng.poisson(mean * f[None, :] * rng.uniform(0.7, 1.3, (n_stores, 1)))
    return np.vstack([np.full(periods, np.nan), stores.astype(np.float64)])


def _one_period_demand(net: Network, dem: object, n: int, jd: JointDemand | None, seed: int = 5,
                       kernel: str = "auto") -> np.ndarray:
    """``[n, stages]`` demand of single measured periods (one per replication: independent samples)."""
    res = simulate(net, Policy.base_stock([0.0] * net.n_stages), dem, lead_times=0, seeds=seed,
                   replications=n, periods=1, warmup=0, joint_demand=jd, kernel=kernel)
    return res.replicates["demand"]


def _spearman_with_se(a: np.ndarray, b: np.ndarray, batches: int = 20) -> tuple[float, float]:
    """Spearman of the samples and its standard error from batch means."""
    rho = float(stats.spearmanr(a, b)[0])
    per = [stats.spearmanr(x, y)[0] for x, y in zip(np.array_split(a, batches), np.array_split(b, batches),
                                                     strict=True)]
    return rho, float(np.std(per, ddof=1) / np.sqrt(batches))


def _checkerboard_spearman(d1: DiscreteDistribution, d2: DiscreteDistribution, r1: np.ndarray,
                           r2: np.ndarray) -> float:
    """Exact Spearman (mid-ranks) of the two stages' demand under the checkerboard copula.

    Period ``h`` puts stage ``j``'s uniform uniformly on ``[r_j[h] / H, (r_j[h] + 1) / H)``;
    the demand is ``min{k : cdf[k] > u}``, so its conditional PMF is the overlap of that
    slice with each support point's CDF interval, times ``H``. The population Spearman
    of discrete variables is the correlation of their mid-distribution functions.
    """
    h = r1.size

    def cond_mid(d: DiscreteDistribution, r: np.ndarray) -> tuple[np.ndarray, float]:
        cdf = np.cumsum(d.pmf)
        lo_k = np.r_[0.0, cdf[:-1]]
        mid = lo_k + d.pmf / 2  # mid-distribution function at each support point
        a = r[:, None] / h
        b = (r[:, None] + 1) / h
        cond = np.clip(np.minimum(cdf[None, :], b) - np.maximum(lo_k[None, :], a), 0.0, None) * h
        var = float(np.sum(d.pmf * mid**2) - 0.25)
        return cond @ mid, var

    m1, v1 = cond_mid(d1, r1)
    m2, v2 = cond_mid(d2, r2)
    return float((np.mean(m1 * m2) - 0.25) / np.sqrt(v1 * v2))


# ---- the 64-bit arithmetic -----------------------------------------------------------

def test_mulhi_and_slices_match_big_integer_arithmetic() -> None:
    rng = np.random.default_rng(3)
    zs = [0, 1, TWO64 - 1, 1 << 63, (1 << 32) - 1, 1 << 32] + [int(x) for x in
                                                               rng.integers(0, TWO64, 200, dtype=np.uint64)]
    for h in (8, 9, 100, 1000, 4096, 104729):
        width = TWO64 // h
        for z in zs:
            assert int(mulhi64(np.uint64(z), np.uint64(width))) == (z * width) >> 64
            assert int(history_row(np.uint64(z), np.uint64(h))) == (z * h) >> 64 < h
            for rank in (0, 1, h // 2, h - 1):
                zp = int(joint_z(np.uint64(z), np.int64(rank), np.uint64(width)))
                assert zp == rank * width + ((z * width) >> 64)  # no wrap-around
                assert zp // width == rank  # inside the rank's slice
                # u' = (rank + u) / H up to (H + 1) / 2**64: 0 <= (rank + u) 2**64 - z' H <= H**2 + H
                assert 0 <= rank * TWO64 + z - zp * h <= h * h + h


# ---- building the model ------------------------------------------------------------------

def test_from_history_ranks_participation_and_summary() -> None:
    rng = np.random.default_rng(1)
    x = _factor_history(rng, 3, 60)
    x = np.vstack([x, np.full(60, 7.0)])  # a constant stage: independent
    x[1, 5] = np.nan  # a missing period of one store: period 5 is not used
    x[2, :10] = np.round(x[2, :10] / 10) * 10  # ties
    jd = JointDemand.from_history(x, seed=4, n_stages=5)
    assert jd.periods_used == 59
    np.testing.assert_array_equal(jd.participating, [False, True, True, True, False])
    rows = np.flatnonzero(~np.isnan(x[1]))
    for j in (1, 2, 3):
        r = jd.ranks[:, j]
        np.testing.assert_array_equal(np.sort(r), np.arange(59))
        v = x[j, rows]
        # ranks order the values (ties in some order)
        assert np.all(np.diff(v[np.argsort(r)]) >= 0)
    assert np.all(jd.ranks[:, [0, 4]] == -1)
    # tie-breaking: reproducible from the seed, different for another seed
    np.testing.assert_array_equal(JointDemand.from_history(x, seed=4).ranks, jd.ranks)
    assert not np.array_equal(JointDemand.from_history(x, seed=5).ranks, jd.ranks)
    s = jd.summary()
    ref = [stats.spearmanr(x[a, rows], x[b, rows])[0] for a, b in ((1, 2), (1, 3), (2, 3))]
    assert s.periods_used == 59 and s.participating == (1, 2, 3)
    assert s.spearman_mean == pytest.approx(np.mean(ref), abs=1e-12)
    assert s.spearman_min == pytest.approx(min(ref), abs=1e-12)
    assert s.spearman_max == pytest.approx(max(ref), abs=1e-12)
    assert "3 stages over 59 periods" in str(s)
    with pytest.raises(ValueError):
        jd.ranks[0, 1] = 3  # frozen


def test_from_history_validation() -> None:
    rng = np.random.default_rng(2)
    x = _factor_history(rng, 2, 30)
    with pytest.raises(ValueError, match="transposed"):
        JointDemand.from_history(x.T, n_stages=3)
    with pytest.raises(ValueError, match=r"\[stages, periods\]"):
        JointDemand.from_history(x[0])
    y = x.copy()
    y[1, 3] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        JointDemand.from_history(y)
    with pytest.raises(InsufficientHistoryError, match="two stages"):
        JointDemand.from_history(np.vstack([x[:2], np.full(30, np.nan)]))
    y = x.copy()
    y[2, MIN_PERIODS - 1:] = np.nan
    with pytest.raises(InsufficientHistoryError, match=f"need {MIN_PERIODS}.*stage 2 misses"):
        JointDemand.from_history(y)
    with pytest.raises(ValueError, match="permutation"):
        JointDemand(ranks=np.tile(np.arange(10)[:, None], (1, 2)) % 9)
    net = Network.distribution(3)
    jd = JointDemand.from_history(x)
    with pytest.raises(ValueError, match="built for 3 stages, the network has 4"):
        simulate(net, Policy.base_stock([5] * 4), DiscreteDistribution.poisson(3.0), joint_demand=jd)
    with pytest.raises(TypeError, match="JointDemand or None"):
        simulate(net, Policy.base_stock([5] * 4), DiscreteDistribution.poisson(3.0), joint_demand=[jd])


# ---- (a), (b): marginals exact, dependence from the history --------------------------------

def test_marginals_unchanged_and_rank_correlation_is_the_copulas() -> None:
    rng = np.random.default_rng(7)
    x = _factor_history(rng, 2, 80)
    jd = JointDemand.from_history(x, seed=1)
    d1, d2 = DiscreteDistribution.poisson(6.0), DiscreteDistribution.normal(30.0, 9.0)
    net = Network.distribution(2, name="pair")
    n = 40_000
    for joint in (jd, None):
        dem = _one_period_demand(net, [None, d1, d2], n, joint)
        # (a) each store's demand follows its PMF (chi-square, cells with >= 20 expected)
        for col, d in ((1, d1), (2, d2)):
            k = dem[:, col].astype(np.int64) - d.offset
            obs = np.bincount(k, minlength=d.pmf.size)[: d.pmf.size]
            exp = d.pmf * n
            big = exp >= 20
            obs_c = np.r_[obs[big], n - obs[big].sum()]
            exp_c = np.r_[exp[big], n - exp[big].sum()]
            p = stats.chisquare(obs_c, exp_c).pvalue
            assert p > 1e-3, (joint is not None, col, p)
            se = np.sqrt(d.var() / n)
            assert abs(dem[:, col].mean() - d.mean()) < 4 * se
        rho, se = _spearman_with_se(dem[:, 1], dem[:, 2])
        if joint is None:  # (b) independent: no rank correlation
            assert abs(rho) < 4 * se
        else:  # (b) the checkerboard copula's exact Spearman, near the history's
            exact = _checkerboard_spearman(d1, d2, jd.ranks[:, 1], jd.ranks[:, 2])
            print(f"\nSpearman: history {jd.spearman[1, 2]:.4f}, copula exact {exact:.4f}, "
                  f"simulated {rho:.4f} ± {se:.4f}")
            assert abs(rho - exact) < 4 * se
            assert abs(exact - jd.spearman[1, 2]) < 0.05  # Poisson(6) ties lower it a little
            assert exact > 0.6


def test_empirical_marginals_resample_whole_historical_periods() -> None:
    """With each store's own history as its PMF, every simulated period is a historical period."""
    rng = np.random.default_rng(8)
    x = _factor_history(rng, 4, 52)
    x[3, 7] = np.nan  # period 7 is incomplete: never resampled
    jd = JointDemand.from_history(x, seed=3)
    rows = np.flatnonzero(~np.isnan(x[1:]).any(axis=0))  # the periods the model uses
    assert rows.size == jd.periods_used == 51
    marg = [None] + [DiscreteDistribution.from_samples(x[j, rows]) for j in range(1, 5)]
    n = 20_000
    dem = _one_period_demand(Network.distribution(4), marg, n, jd)[:, 1:]
    hist = x[1:, rows].T
    lookup = {tuple(r): k for k, r in enumerate(hist)}  # (duplicate rows: last wins, counted below)
    assert all(tuple(r) in lookup for r in dem)  # every simulated period is a historical one
    counts = np.bincount([lookup[tuple(r)] for r in dem], minlength=len(hist))
    expected = np.bincount([lookup[tuple(r)] for r in hist], minlength=len(hist)) * n / len(hist)
    keep = expected > 0
    assert stats.chisquare(counts[keep], expected[keep]).pvalue > 1e-3  # each period equally likely
    rho, se = _spearman_with_se(dem[:, 0], dem[:, 1])
    assert abs(rho - jd.spearman[1, 2]) < 4 * se


# ---- (c), (d): kernels and determinism -----------------------------------------------------

@pytest.mark.parametrize(("case_seed", "cycles", "flags"), [
    (21, False, dict(backorders=True, crossing=True, allocation="fifo")),
    (22, True, dict(backorders=False, crossing=False, allocation="proportional")),
])
def test_fast_and_general_kernels_identical_with_joint_demand(case_seed: int, cycles: bool,
                                                              flags: dict[str, object]) -> None:
    from test_sim_fast_path import _general_and_fast_agree, _random_case

    rng = np.random.default_rng(case_seed)
    cases = [_random_case(rng, f"sku-{k}", cycles) for k in range(30)]
    nets, pols, dems, leads = (list(x) for x in zip(*cases, strict=True))
    joints: list[JointDemand | None] = []
    for net in nets:
        if net.n_stages < 2 or rng.random() < 0.15:
            joints.append(None)
            continue
        h = int(rng.integers(MIN_PERIODS, 60))
        f = rng.gamma(2.0, 0.5, h)
        x = rng.poisson(5 * f[None, :] * rng.uniform(0.5, 2.0, (net.n_stages, 1))).astype(np.float64)
        x[rng.random(net.n_stages) < 0.2] = np.nan  # some stages independent
        try:
            joints.append(JointDemand.from_history(x, seed=int(rng.integers(100))))
        except InsufficientHistoryError:
            joints.append(None)
    assert sum(j is not None for j in joints) >= 15
    kw = dict(seeds=13, replications=2, periods=400, warmup=int(rng.integers(0, 30)), **flags)
    ref = _general_and_fast_agree(nets, pols, dems, leads, joint_demand=joints, **kw)
    indep = simulate(nets, pols, dems, leads, kernel="general", **kw)
    assert not np.array_equal(ref.replicates["demand"], indep.replicates["demand"])  # it does something


def test_same_numbers_whatever_the_batch_and_thread_count() -> None:
    rng = np.random.default_rng(9)
    jd_a = JointDemand.from_history(_factor_history(rng, 3, 40), seed=1)
    jd_b = JointDemand.from_history(_factor_history(rng, 2, 30), seed=2)
    a = (Network.distribution(3, name="a"), Policy.base_stock([30, 12, 12, 12]))
    b = (Network.distribution(2, name="b"), Policy.base_stock([20, 9, 9]))
    c = (Network.serial(3, name="c"), Policy.echelon_base_stock([30, 18, 9]))
    d = DiscreteDistribution.poisson(4.0)
    kw = dict(seeds=17, replications=3, periods=700, warmup=10, lead_times=2)
    alone = simulate(a[0], a[1], d, joint_demand=jd_a, **kw)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        batch1 = simulate([b[0], c[0], a[0]], [b[1], c[1], a[1]], d, joint_demand=[jd_b, None, jd_a], **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        batch2 = simulate([b[0], c[0], a[0]], [b[1], c[1], a[1]], d, joint_demand=[jd_b, None, jd_a], **kw)
    finally:
        numba.set_num_threads(before)
    sl = slice(int(batch1.network_ptr[2]), int(batch1.network_ptr[3]))
    for m in alone.replicates:
        np.testing.assert_array_equal(batch1.replicates[m][:, sl], alone.replicates[m])
        np.testing.assert_array_equal(batch2.replicates[m], batch1.replicates[m])
    # the network without joint demand draws exactly as today
    c_alone = simulate(c[0], c[1], d, **kw)
    sl_c = slice(int(batch1.network_ptr[1]), int(batch1.network_ptr[2]))
    np.testing.assert_array_equal(batch1.replicates["on_hand"][:, sl_c], c_alone.replicates["on_hand"])


def test_schedule_demand_with_joint_demand_keeps_each_period_pmf() -> None:
    """Per-period demand stays each phase's PMF (phase 1 here), drawn jointly."""
    rng = np.random.default_rng(11)
    jd = JointDemand.from_history(_factor_history(rng, 2, 40), seed=1)
    week = DemandSchedule.poisson([2.0, 9.0])
    n = 20_000
    res = simulate(Network.distribution(2), Policy.base_stock([0.0] * 3), [None, week, week], lead_times=0,
                   seeds=2, replications=n, periods=1, warmup=1, joint_demand=jd)
    dem = res.replicates["demand"][:, 1:]
    for col in (0, 1):
        assert abs(dem[:, col].mean() - 9.0) < 4 * np.sqrt(9.0 / n)
    rho, se = _spearman_with_se(dem[:, 0], dem[:, 1])
    assert rho > 0.5


# ---- (e): the point of the feature -------------------------------------------------------

def test_dc_fill_is_lower_when_its_stores_move_together() -> None:
    """A DC sized for independent stores fills less when the stores rise and fall together."""
    rng = np.random.default_rng(12)
    x = _factor_history(rng, 4, 104, mean=20.0, shape=3.0)
    jd = JointDemand.from_history(x, seed=1)
    marg = [None] + [DiscreteDistribution.from_samples(x[j]) for j in range(1, 5)]
    net = Network.distribution(4)
    mean_total = sum(d.mean() for d in marg[1:] if d is not None)
    # DC lead time 3 from the supplier, stores 1 from the DC; DC level: the stores' mean
    # orders over its 3-period lead time plus 1.65 standard deviations of their sum for
    # independent stores (a 95 % cycle service target, normal approximation)
    sd_indep = np.sqrt(3 * sum(d.var() for d in marg[1:] if d is not None))
    dc_level = round(3 * mean_total + 1.65 * sd_indep)
    pol = Policy.base_stock([dc_level] + [round(2 * d.mean() + 3 * np.sqrt(2 * d.var()))
                                          for d in marg[1:] if d is not None])
    kw = dict(lead_times={(-1, 0): 3, (0, 1): 1, (0, 2): 1, (0, 3): 1, (0, 4): 1}, seeds=3, replications=8,
              periods=3000, warmup=50)
    indep = simulate(net, pol, marg, **kw)
    joint = simulate(net, pol, marg, joint_demand=jd, **kw)
    f0, s0 = indep["fill_rate"][0], indep.se["fill_rate"][0]
    f1, s1 = joint["fill_rate"][0], joint.se["fill_rate"][0]
    c0, c1 = indep["cycle_service_level"][0], joint["cycle_service_level"][0]
    stores0, stores1 = indep["fill_rate"][1:].mean(), joint["fill_rate"][1:].mean()
    print(f"\n{jd.summary()}\nDC at level {dc_level}: fill independent {f0:.4f} ± {s0:.4f}, "
          f"joint {f1:.4f} ± {s1:.4f}; cycle service {c0:.4f} -> {c1:.4f}; "
          f"mean store fill {stores0:.4f} -> {stores1:.4f}")
    assert 0.93 < c0 < 0.97  # the level is right for independent stores
    assert f1 < f0 - 0.05 and f0 - f1 > 4 * np.hypot(s0, s1)
    assert c1 < c0 - 0.05
    # the store marginals are the same: their mean demand agrees within the noise
    np.testing.assert_allclose(joint["demand"][1:], indep["demand"][1:], rtol=0.03)


def test_average_ranks_of_every_column_at_once_are_scipys() -> None:
    """Spearman's tie-averaged ranks, all columns at once, against ``scipy.stats.rankdata``."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 8, 50, 300):
        v = rng.integers(0, 6, (n, 7)).astype(np.float64)  # many ties
        np.testing.assert_array_equal(_average_ranks(v), stats.rankdata(v, axis=0))
        np.testing.assert_array_equal(_average_ranks(v[:, 0]), stats.rankdata(v[:, 0]))
