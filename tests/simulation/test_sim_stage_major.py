"""The stage-major tree kernel against the general and the fast kernel, bit for bit.

``kernel="stage_major"`` (and ``"auto"``) run installation base-stock trees in exact mode
on :mod:`platform_core.simulation._stage_major`, which computes every order stream
bottom-up from the demand draws and then each stage's inventory top-down, one stage's
whole path at a time. The general kernel (period by period, all stages, float64) is an
independent implementation of the same model: every metric of every replication and
every position-histogram bin must agree exactly, on random trees (depths 1-3, fan-out
1-6, review periods 1-4, fixed and stochastic lead times with and without crossing,
per-period demand cycles, correlated demand, scarce suppliers that ration FIFO).
"""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import DemandSchedule, Network, Policy, simulate
from platform_core.simulation import _fast_kernels as FK
from platform_core.simulation import _stage_major as SM
from platform_core.simulation.engine import _kernel_choice, _pack_network
from platform_core.simulation.joint_demand import JointDemand

_HIST_FIELDS = ("ptr", "x_counts", "y_counts", "x_tail_n", "x_tail_sum", "y_tail_n", "y_tail_sum", "demand_sum")


def _random_tree(rng: np.random.Generator, name: str) -> Network:
    """Depth 1-3 (one to three levels), fan-out 1-6 per internal stage, indices shuffled;
    sometimes two trees side by side."""
    depth = int(rng.integers(1, 4))
    arcs: list[tuple[int, int]] = []
    n = 1
    level = [0]
    for _ in range(depth - 1):
        nxt = []
        for u in level:
            for _ in range(int(rng.integers(1, 7 if len(level) == 1 else 4))):
                arcs.append((u, n))
                nxt.append(n)
                n += 1
        level = nxt
    if rng.random() < 0.2:  # a second, serial tree
        arcs.append((n, n + 1))
        n += 2
    perm = rng.permutation(n)
    return Network(n, tuple((int(perm[u]), int(perm[d]), 1.0) for u, d in arcs), name=name)


def _random_dist(rng: np.random.Generator, scale: float) -> DiscreteDistribution:
    c = rng.integers(4)
    if c == 0:
        return DiscreteDistribution.poisson(float(rng.uniform(0.2, 6.0) * scale))
    if c == 1:
        return DiscreteDistribution.normal(float(rng.uniform(1.0, 8.0) * scale), float(rng.uniform(0.3, 3.0)))
    if c == 2:
        return DiscreteDistribution.point(int(rng.integers(0, 4)))
    pmf = rng.random(int(rng.integers(2, 7)))
    return DiscreteDistribution(pmf / pmf.sum(), int(rng.integers(0, 3)))


def _random_case(rng: np.random.Generator, name: str, cycles: bool) -> tuple[Network, Policy, object, object]:
    net = _random_tree(rng, name)
    n = net.n_stages
    fan = np.array([1.0 + 3.0 * len(net.downstream(j)) for j in range(n)])
    # integer levels; some stages starved (rationing, backlogs beyond the histogram caps)
    levels = np.round(rng.uniform(0.0, 14.0, n) * fan * rng.choice([0.15, 1.0, 1.0], n))
    reviews = [int(rng.integers(2, 5)) if rng.random() < 0.4 else 1 for _ in range(n)]
    pol = Policy.base_stock(levels, review_period=reviews)
    demand: dict[int, object] = {}
    for j in range(n):
        if not net.downstream(j) or rng.random() < 0.2:  # leaves, and some internal stages
            if cycles and rng.random() < 0.4:
                demand[j] = DemandSchedule([_random_dist(rng, 1.0) for _ in range(int(rng.integers(2, 8)))])
            else:
                demand[j] = _random_dist(rng, 1.0)
    if rng.random() < 0.3:
        lead: object = int(rng.integers(0, 4))
    else:
        lead = [(_random_dist(rng, 0.5) if rng.random() < 0.6 else int(rng.integers(0, 4))) for _ in range(n)]
    return net, pol, demand, lead


def _joint(rng: np.random.Generator, net: Network, demand: dict[int, object]) -> JointDemand | None:
    """Correlated demand over the demand stages (a common factor in 40 historical periods)."""
    stages = sorted(demand)
    if len(stages) < 2 or rng.random() < 0.3:
        return None
    h = 40
    common = rng.normal(size=h)
    hist = np.zeros((net.n_stages, h))
    for j in stages:
        hist[j] = np.maximum(np.round(5 + 3 * common + rng.normal(size=h)), 0)
    return JointDemand.from_history(hist, seed=int(rng.integers(1000)), n_stages=net.n_stages)


def _check(nets: list, pols: list, dems: list, leads: list, **kw: object) -> object:
    """Stage-major = general = fast (every metric, replication and histogram field); the general result."""
    blocks = [_pack_network(n, p, d, lt, None) for n, p, d, lt in zip(nets, pols, dems, leads, strict=True)]
    codes = _kernel_choice(blocks, 700, "stage_major")
    assert np.all(codes == SM.STAGE_MAJOR)
    assert np.all(_kernel_choice(blocks, 700, "auto") == SM.STAGE_MAJOR)
    ref = simulate(nets, pols, dems, leads, kernel="general", **kw)
    for kernel in ("stage_major", "fast_int", "auto"):
        got = simulate(nets, pols, dems, leads, kernel=kernel, **kw)
        for m in ref.replicates:
            np.testing.assert_array_equal(got.replicates[m], ref.replicates[m], err_msg=f"{kernel} {m}")
        if ref.positions is not None:
            assert got.positions is not None
            for f in _HIST_FIELDS:
                np.testing.assert_array_equal(getattr(got.positions, f), getattr(ref.positions, f),
                                              err_msg=f"{kernel} {f}")
    return ref


@pytest.mark.parametrize(("case_seed", "crossing", "cycles", "joint", "hist"), [
    (1, True, False, False, True),
    (2, False, False, False, True),
    (3, True, True, False, False),
    (4, False, True, True, True),
    (5, True, False, True, True),
    (6, False, False, True, False),
])
def test_stage_major_bit_identical_on_random_trees(case_seed: int, crossing: bool, cycles: bool, joint: bool,
                                                  hist: bool) -> None:
    rng = np.random.default_rng(700 + case_seed)
    cases = [_random_case(rng, f"sku-{k}", cycles) for k in range(24)]
    nets, pols, dems, leads = (list(x) for x in zip(*cases, strict=True))
    kw: dict[str, object] = dict(seeds=case_seed, replications=4, periods=500, warmup=int(rng.integers(0, 30)),
                                 crossing=crossing)
    if hist:
        kw.update(position_histograms=True, histogram_groups=2)
    if joint:
        joints = [_joint(rng, n, d) for n, d in zip(nets, dems, strict=True)]  # type: ignore[arg-type]
        assert sum(j is not None for j in joints) >= 5
        kw["joint_demand"] = joints
    ref = _check(nets, pols, dems, leads, **kw)
    # the cases are not trivial: stock-outs, rationing among customers, review periods > 1
    assert np.nanmin(ref["fill_rate"]) < 0.9
    assert np.max(ref["owed_downstream"]) > 0.0
    assert sum(max(len(n.downstream(j)) for j in range(n.n_stages)) >= 3 for n in nets) >= 5
    if hist:
        pos = ref.positions
        assert pos.x_counts.sum() > 0 and pos.x_tail_n.sum() > 0 and pos.y_tail_n.sum() > 0


def test_stage_major_scarce_warehouse_full_queues() -> None:
    """A warehouse so short that more orders wait per lane than its FIFO queue has slots
    (the overflow merges into the newest entry), stochastic lead times, R = 2 upstream."""
    d = DiscreteDistribution.normal(5, 1)
    lead = DiscreteDistribution(np.array([0.3, 0.4, 0.2, 0.1]), 1)
    nets = [Network.distribution(20), Network.distribution([3, 4]), Network.serial(3)]
    pols = [Policy.base_stock([90] + [14] * 20), Policy.base_stock([80, 30, 30, 30] + [9] * 12,
                                                                    review_period=[2, 1, 1, 1] + [1] * 12),
            Policy.base_stock([23, 12, 6], review_period=[4, 2, 1])]
    leads = [[20] + [lead] * 20, lead, [2, 1, 0]]
    for crossing in (True, False):
        ref = _check(nets, pols, [d] * 3, leads, seeds=3, replications=2, periods=1500, warmup=50,
                     crossing=crossing, position_histograms=True, histogram_groups=1)
        assert ref["fill_rate"][0] < 0.5
        assert ref["owed_downstream"][0] > 16 * 5 * 20  # more than 16 orders of ~5 units per lane


def test_stage_major_eligibility() -> None:
    d = DiscreteDistribution.poisson(2.0)
    ints = _pack_network(Network.distribution(3), Policy.base_stock([9, 4, 4, 4], review_period=[2, 1, 1, 1]), d,
                         1, None)
    assert list(_kernel_choice([ints], 1000)) == [SM.STAGE_MAJOR]
    assert list(_kernel_choice([ints], 1000, "fast_int")) == [FK.FAST_INT]
    assert list(_kernel_choice([ints], 1000, "general")) == [FK.GENERAL]
    # not exact (fractional level, or sums that could reach 2**52), echelon policies, lost
    # sales, proportional rationing among several customers: the fast kernel's choice
    frac = _pack_network(Network.distribution(3), Policy.base_stock([9, 4.5, 4, 4]), d, 1, None)
    ech = _pack_network(Network.distribution(3), Policy.echelon_base_stock([20, 4, 4, 4]), d, 1, None)
    assert list(_kernel_choice([frac, ech], 1000)) == [FK.FAST_FLOAT, FK.FAST_FLOAT_EXACT]
    assert list(_kernel_choice([ints], 10**8)) == [FK.FAST_FLOAT]
    assert list(_kernel_choice([ints], 1000, backorders=False)) == [FK.FAST_FLOAT_EXACT]
    assert list(_kernel_choice([ints], 1000, allocation="proportional")) == [FK.FAST_FLOAT_EXACT]
    line = _pack_network(Network.serial(2), Policy.base_stock([9, 4]), d, 1, None)
    assert list(_kernel_choice([line], 1000, allocation="proportional")) == [SM.STAGE_MAJOR]
    with pytest.raises(ValueError, match="kernel must be"):
        simulate(Network.serial(2), Policy.base_stock([9, 4]), d, kernel="stage-major")


@pytest.mark.parametrize(("case_seed", "joint"), [(11, False), (12, True)])
def test_stage_major_copies_share_draws_bit_identical(case_seed: int, joint: bool) -> None:
    """Copies of a network (same structure, distributions, seed and copula; other levels)
    in one call share their draws and order streams on the stage-major kernel; every copy
    must still equal the general kernel (which simulates each copy on its own) bit for bit,
    mixed with networks that are not copies (other seeds)."""
    rng = np.random.default_rng(900 + case_seed)
    nets, pols, dems, leads, seeds, joints = [], [], [], [], [], []
    for k in range(6):
        net, pol, dem, lead = _random_case(rng, f"sku-{k}", cycles=k % 2 == 0)
        jd = _joint(rng, net, dem) if joint else None  # type: ignore[arg-type]
        for c in range(int(rng.integers(1, 5))):  # 1-4 copies at other levels, same seed
            levels = np.maximum(np.asarray(pol.order_up_to) + rng.integers(-3, 8, net.n_stages) * (c > 0), 0)
            nets.append(net)
            pols.append(Policy.base_stock(levels.astype(float), review_period=pol.review_period))
            dems.append(dem)
            leads.append(lead)
            seeds.append(50 + k)
            joints.append(jd)
    kw: dict[str, object] = dict(seeds=np.array(seeds, dtype=np.uint64), replications=3, periods=400, warmup=20,
                                 position_histograms=True, histogram_groups=3)
    if joint:
        kw["joint_demand"] = joints
    ref = _check(nets, pols, dems, leads, **kw)
    assert len(nets) > 6 and ref.positions is not None


def test_stage_major_histogram_stages_only() -> None:
    """``histogram_stages`` with ``metrics=False``: the chosen stages' histograms are those
    of the full run (the kernel simulates only them and their suppliers), the others'
    rows are empty, and no metrics are returned."""
    rng = np.random.default_rng(950)
    cases = [_random_case(rng, f"sku-{k}", cycles=False) for k in range(10)]
    nets, pols, dems, leads = (list(x) for x in zip(*cases, strict=True))
    kw: dict[str, object] = dict(seeds=9, replications=2, periods=300, warmup=10, position_histograms=True,
                                 histogram_groups=1)
    full = simulate(nets, pols, dems, leads, kernel="general", **kw)
    chosen = [np.flatnonzero(rng.random(n.n_stages) < 0.4) for n in nets]
    part = simulate(nets, pols, dems, leads, histogram_stages=chosen, metrics=False, **kw)
    assert part.mean == {} and part.replicates == {}
    fp, pp = full.positions, part.positions
    assert fp is not None and pp is not None
    for i, sel in enumerate(chosen):
        for j in range(nets[i].n_stages):
            r = int(full.network_ptr[i]) + j
            a, b = pp.ptr[r], pp.ptr[r + 1]
            if j not in sel:
                assert a == b and pp.demand_sum[:, r].sum() == 0.0
                continue
            np.testing.assert_array_equal(pp.x_counts[:, a:b], fp.x_counts[:, fp.ptr[r]:fp.ptr[r + 1]])
            np.testing.assert_array_equal(pp.y_counts[:, a:b], fp.y_counts[:, fp.ptr[r]:fp.ptr[r + 1]])
            for f in ("x_tail_n", "x_tail_sum", "y_tail_n", "y_tail_sum", "demand_sum"):
                np.testing.assert_array_equal(getattr(pp, f)[:, r], getattr(fp, f)[:, r], err_msg=f)
    with pytest.raises(ValueError, match="histogram_stages of network 0"):
        simulate(nets[0], pols[0], dems[0], leads[0], position_histograms=True, histogram_stages=[[99]])


def test_shape_cache_reuses_packed_networks() -> None:
    """``shape_cache`` kept between calls: the second call (other levels) packs nothing
    again and gives what a call without the cache gives, bit for bit."""
    rng = np.random.default_rng(960)
    cases = [_random_case(rng, f"sku-{k}", cycles=True) for k in range(6)]
    nets, pols, dems, leads = (list(x) for x in zip(*cases, strict=True))
    kw: dict[str, object] = dict(seeds=4, replications=2, periods=200, warmup=10, position_histograms=True)
    cache: dict[tuple[int, ...], object] = {}
    simulate(nets, pols, dems, leads, shape_cache=cache, **kw)  # type: ignore[arg-type]
    assert len(cache) == len(nets)
    packed = dict(cache)
    other = [Policy.base_stock(np.asarray(p.order_up_to) + 2.0, review_period=p.review_period) for p in pols]
    got = simulate(nets, other, dems, leads, shape_cache=cache, **kw)  # type: ignore[arg-type]
    assert cache == packed  # nothing packed again
    ref = simulate(nets, other, dems, leads, kernel="general", **kw)  # type: ignore[arg-type]
    for m in ref.replicates:
        np.testing.assert_array_equal(got.replicates[m], ref.replicates[m], err_msg=m)
    assert got.positions is not None and ref.positions is not None
    for f in _HIST_FIELDS:
        np.testing.assert_array_equal(getattr(got.positions, f), getattr(ref.positions, f), err_msg=f)
