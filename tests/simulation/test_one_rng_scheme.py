"""One random-number scheme: the single-stage kernel draws the network engine's numbers.

:mod:`platform_core.simulation.single_stage` (the ``single_echelon`` solver's Monte Carlo)
keys a stage's demand and lead-time streams as the engine keys stage 0 and its lane from
the external supplier in a one-stage network with the same seed, and samples with the
same inverse-CDF tables. Its model is the engine's for that network (receipts, review,
demand, measurement in the same order), so the two give the same metrics replication by
replication, bit for bit: the strongest check that the streams, the sampler and the
dynamics are the same. Only the conventions for an empty denominator differ (the
single-stage kernel reports 1 where the engine reports ``nan``).
"""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.distributions import DiscreteDistribution as DD
from platform_core.distributions import pack_distributions
from platform_core.seeds import stage_seeds
from platform_core.simulation import Network, Policy, simulate
from platform_core.simulation._rng import threshold_block, threshold_tables
from platform_core.simulation.single_stage import (
    TARGET_COST,
    TARGET_CYCLE,
    TARGET_FILL,
    _evaluate,
    evaluate_base_stock,
    optimise_base_stock,
)

# single-stage metric -> engine metric
_SAME = {
    "fill_rate": "fill_rate",
    "cycle_service": "cycle_service_level",
    "ready_rate": "ready_rate",
    "mean_on_hand": "on_hand",
    "mean_backorders": "backorders",
}


def _random_dist(rng: np.random.Generator, scale: float) -> DD:
    c = rng.integers(4)
    if c == 0:
        return DD.poisson(float(rng.uniform(0.1, 12.0) * scale))
    if c == 1:
        return DD.normal(float(rng.uniform(2.0, 30.0) * scale), float(rng.uniform(0.5, 8.0)))
    if c == 2:
        return DD.point(int(rng.integers(0, 5)))
    pmf = rng.random(int(rng.integers(2, 9)))
    pmf[rng.random(pmf.size) < 0.3] = 0.0
    pmf[0] += 1e-3
    return DD(pmf / pmf.sum(), int(rng.integers(0, 4)))


def _engine_replicates(demand, lead, seeds, levels, review, **kw):
    """Per-replication engine metrics, one one-stage network per stage (its own seed)."""
    nets = [Network.serial(1, name=f"s{k}") for k in range(len(demand))]
    pols = [Policy.base_stock([float(s)], review_period=int(r)) for s, r in zip(levels, review, strict=True)]
    out = {}
    for kernel in ("auto", "general"):
        res = simulate(nets, pols, list(demand), lead_times=list(lead), seeds=np.asarray(seeds, dtype=np.uint64),
                       kernel=kernel, **kw)
        out[kernel] = res.replicates
    return out


def test_threshold_block_gives_the_engines_tables() -> None:
    rng = np.random.default_rng(0)
    dists = [_random_dist(rng, 1.0 + 20.0 * rng.random()) for _ in range(200)]
    cdf, ptr, _ = pack_distributions(dists)
    thr, g_ptr, guide, g_shift = threshold_tables(cdf, ptr)
    for b in range(len(dists)):
        tab, shift = threshold_block(cdf, int(ptr[b]), int(ptr[b + 1]))
        m = int(ptr[b + 1] - ptr[b])
        np.testing.assert_array_equal(tab[:m], thr[ptr[b]:ptr[b + 1]])
        np.testing.assert_array_equal(tab[m:], guide[g_ptr[b]:g_ptr[b + 1]])
        assert int(shift) == int(g_shift[b])


@pytest.mark.parametrize("case_seed", range(4))
def test_single_stage_kernel_equals_engine_bit_for_bit(case_seed: int) -> None:
    rng = np.random.default_rng(1000 + case_seed)
    n = 24
    demand = [_random_dist(rng, 1.0) for _ in range(n)]
    lead = [(_random_dist(rng, 0.3) if rng.random() < 0.6 else DD.point(int(rng.integers(0, 5)))) for _ in range(n)]
    review = np.where(rng.random(n) < 0.4, rng.integers(2, 5, n), 1)  # > 1: the general kernel
    mean_cover = np.array([d.mean() * (lt.mean() + r) for d, lt, r in zip(demand, lead, review, strict=True)])
    # from well below to above the mean demand over lead time + review: many stock-outs too
    levels = np.round(mean_cover * rng.uniform(0.3, 1.6, n)).astype(np.int64)
    seeds = rng.integers(0, 2**63, n, dtype=np.uint64)
    crossing = bool(case_seed % 2)
    kw = dict(replications=5, periods=300, warmup=int(rng.integers(0, 40)), crossing=crossing)
    res, reps = _evaluate(demand, lead, seeds, levels, review_period=review, replicates=True, **kw)
    engine = _engine_replicates(demand, lead, seeds, levels, review, **kw)
    for kernel, eng in engine.items():
        for ours, theirs in _SAME.items():
            expected = eng[theirs]
            if ours in ("fill_rate", "cycle_service"):  # no demand / no cycle: 1 here, nan there
                expected = np.where(np.isnan(expected), 1.0, expected)
            np.testing.assert_array_equal(reps[ours], expected, err_msg=f"{kernel} {ours}")
    # the cases are not trivial: stock-outs, order crossing and several review periods
    assert np.min(res.fill_rate) < 0.8 and np.max(res.fill_rate) > 0.99
    assert len(set(review.tolist())) > 1 and any(lt.pmf.size > 1 for lt in lead)


def test_same_run_seed_same_numbers_through_both_public_apis() -> None:
    """A stage keyed ``sku@location`` in a run (the pipeline's stage seed) and the
    one-stage network of that name simulated with the run seed see the same numbers."""
    run_seed, key = 42, "SKU-0007@DC-EAST"
    d, lt = DD.poisson(6.0), DD(np.array([0.2, 0.5, 0.3]), 1)
    kw = dict(replications=8, periods=400, warmup=30)
    seeds = stage_seeds(run_seed, [key])
    res, reps = _evaluate([d], [lt], seeds, np.array([17]), replicates=True, **kw)
    eng = simulate(Network.serial(1, name=key), Policy.base_stock([17]), d, lead_times=lt, seeds=run_seed, **kw)
    for ours, theirs in _SAME.items():
        np.testing.assert_array_equal(reps[ours], eng.replicates[theirs], err_msg=ours)
    # the means agree too (different summation code: to rounding)
    np.testing.assert_allclose(res.fill_rate, eng["fill_rate"], rtol=1e-14)


def test_optimised_level_reevaluated_by_the_engine() -> None:
    """The optimiser's metrics at its chosen level are the engine's at that level."""
    demand = [DD.poisson(m) for m in (0.7, 3.0, 9.0, 25.0)]
    lead = [DD(np.array([0.3, 0.4, 0.3]), 1), DD.point(2), DD(np.array([0.5, 0.5]), 3), DD.point(0)]
    seeds = np.arange(11, 15, dtype=np.uint64)
    review = np.array([1, 2, 1, 3])
    kw = dict(replications=10, periods=250, warmup=25)
    opt = optimise_base_stock(demand, lead, seeds, mode=np.array([TARGET_FILL, TARGET_CYCLE, TARGET_COST, TARGET_FILL]),
                              target=np.array([0.95, 0.9, 0.0, 0.98]), holding_cost=np.ones(4),
                              stockout_cost=np.full(4, 9.0), review_period=review, **kw)
    again = evaluate_base_stock(demand, lead, seeds, opt.base_stock_level, review_period=review, **kw)
    np.testing.assert_array_equal(again.fill_rate, opt.fill_rate)
    np.testing.assert_array_equal(again.cycle_service, opt.cycle_service)
    eng = _engine_replicates(demand, lead, seeds, opt.base_stock_level, review, **kw)["auto"]
    for ours, theirs in _SAME.items():
        np.testing.assert_allclose(getattr(opt, ours), np.nanmean(eng[theirs], axis=0), rtol=1e-13, err_msg=ours)
