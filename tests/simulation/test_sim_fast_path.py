"""The fast tree kernel against the general kernel (an independent implementation).

``simulate(..., kernel="general")`` runs every network on the general kernel; the
default dispatches trees of base-stock stages to the fast kernel (int64 arithmetic with
integer levels on lines, float64 otherwise; ``kernel="fast_float"`` / ``"fast_int"``
force float64 / int64 where exact). All must
agree bit for bit on every metric of every replication, on random serial lines,
distribution trees and random trees, under random policies, demands, lead times and flags.
"""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import DemandSchedule, Network, Policy, simulate
from platform_core.simulation import _fast_kernels as FK
from platform_core.simulation import _stage_major as SM
from platform_core.simulation.engine import _kernel_choice, _pack_network


def _random_tree(rng: np.random.Generator, name: str) -> Network:
    kind = rng.integers(3)
    if kind == 0:
        return Network.serial(int(rng.integers(1, 6)), name=name)
    if kind == 1:
        fan = [int(rng.integers(1, 6))] if rng.random() < 0.6 else [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
        return Network.distribution(fan, name=name)
    # a random tree (several roots allowed), stage indices shuffled
    n = int(rng.integers(2, 9))
    perm = rng.permutation(n)
    arcs = []
    for k in range(1, n):
        if rng.random() < 0.85:
            arcs.append((int(perm[rng.integers(k)]), int(perm[k]), 1.0))
    return Network(n, tuple(arcs), name=name)


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


def _random_demand(rng: np.random.Generator, cycles: bool) -> object:
    """A stationary distribution or (with ``cycles``, half the time) a per-period cycle."""
    if cycles and rng.random() < 0.5:
        n = int(rng.integers(2, 8))
        pool = [_random_dist(rng, 1.0) for _ in range(int(rng.integers(1, 4)))]
        entries = [pool[int(rng.integers(len(pool)))] for _ in range(n)]
        return DemandSchedule(entries) if rng.random() < 0.5 else entries
    return _random_dist(rng, 1.0)


def _random_reviews(rng: np.random.Generator, n: int) -> list[int]:
    """Review periods [periods]: 1 at about half the stages, else 2-5."""
    return [int(rng.integers(2, 6)) if rng.random() < 0.5 else 1 for _ in range(n)]


def _random_case(rng: np.random.Generator, name: str, cycles: bool = False,
                 reviews: bool = False) -> tuple[Network, Policy, object, object]:
    net = _random_tree(rng, name)
    n = net.n_stages
    # echelon levels must exceed the children's for sensible runs, but any values are legal
    depth_demand = [1.0 + len(net.downstream(j)) for j in range(n)]
    levels = np.array([rng.uniform(0.0, 14.0) * d for d in depth_demand])
    if rng.random() < 0.6:
        levels = np.round(levels)
    kinds = [("echelon_base_stock" if rng.random() < 0.5 else "base_stock") for _ in range(n)]
    pol = Policy(kind=kinds, order_up_to=levels, review_period=_random_reviews(rng, n) if reviews else 1)
    if rng.random() < 0.5:
        demand: object = _random_demand(rng, cycles)
        if isinstance(demand, list):
            demand = DemandSchedule(demand)
    else:  # external demand at random stages, internal ones included
        demand = {j: _random_demand(rng, cycles) for j in range(n) if rng.random() < 0.6}
    if rng.random() < 0.4:
        lead: object = int(rng.integers(0, 4))
    else:
        lead = [(_random_dist(rng, 0.4) if rng.random() < 0.5 else int(rng.integers(0, 4))) for _ in range(n)]
    return net, pol, demand, lead


def _general_and_fast_agree(nets: list, pols: list, dems: object, leads: list, **kw: object):
    """The general kernel's result, after checking every fast kernel choice gives it bit for bit."""
    ref = simulate(nets, pols, dems, leads, kernel="general", **kw)
    for kernel in ("auto", "fast_float", "fast_int"):
        fast = simulate(nets, pols, dems, leads, kernel=kernel, **kw)
        for m in ref.replicates:
            np.testing.assert_array_equal(fast.replicates[m], ref.replicates[m], err_msg=f"{kernel} {m}")
    return ref


@pytest.mark.parametrize(("case_seed", "flags", "cycles", "reviews"), [
    (1, dict(backorders=True, crossing=True, allocation="fifo"), False, False),
    (2, dict(backorders=True, crossing=False, allocation="proportional"), False, False),
    (3, dict(backorders=False, crossing=True, allocation="proportional"), False, False),
    (4, dict(backorders=False, crossing=False, allocation="fifo"), False, False),
    # per-period demand cycles (lengths 2-7) at about half the demand stages
    (5, dict(backorders=True, crossing=True, allocation="fifo"), True, False),
    (6, dict(backorders=True, crossing=False, allocation="proportional"), True, False),
    (7, dict(backorders=False, crossing=True, allocation="fifo"), True, False),
    # review periods 2-5 at about half the stages (installation and echelon)
    (8, dict(backorders=True, crossing=True, allocation="fifo"), False, True),
    (9, dict(backorders=True, crossing=False, allocation="proportional"), True, True),
    (10, dict(backorders=False, crossing=True, allocation="proportional"), False, True),
    (11, dict(backorders=False, crossing=False, allocation="fifo"), True, True),
])
def test_fast_kernel_bit_identical_on_random_trees(case_seed: int, flags: dict[str, object], cycles: bool,
                                                  reviews: bool) -> None:
    rng = np.random.default_rng(case_seed)
    cases = [_random_case(rng, f"sku-{k}", cycles, reviews) for k in range(40)]
    nets, pols, dems, leads = (list(x) for x in zip(*cases, strict=True))
    blocks = [_pack_network(*c, None) for c in cases]
    if cycles:
        assert sum(int(np.sum(b.st_dlen > 1)) for b in blocks) >= 20
    if reviews:  # stages with R > 1 under both policies, with fixed and stochastic lead times
        rev = np.concatenate([b.stage["pol_review"] for b in blocks])
        ech = np.concatenate([b.stage["pol_type"] for b in blocks]) == 1
        assert np.sum((rev > 1) & ech) >= 20 and np.sum((rev > 1) & ~ech) >= 20
    assert all(b.fast for b in blocks)
    codes = _kernel_choice(blocks, 630, "fast_int")
    kinds = codes & ~FK.LINE
    assert np.sum(kinds == FK.FAST_INT) >= 5 and np.sum(kinds == FK.FAST_FLOAT) >= 5
    # both compiled loops run: the one for lines and the one for other trees
    assert np.sum(codes & FK.LINE != 0) >= 5 and np.sum(codes & FK.LINE == 0) >= 5
    kw = dict(seeds=11, replications=3, periods=600, warmup=int(rng.integers(0, 30)), **flags)
    ref = _general_and_fast_agree(nets, pols, dems, leads, **kw)
    # the cases are not trivial: stock-outs and rationing happen
    assert np.nanmin(ref["fill_rate"]) < 0.9
    assert np.max(ref["owed_downstream"]) > 0.0


def test_fast_kernel_bit_identical_on_benchmark_cases_with_scarce_warehouse() -> None:
    d = DiscreteDistribution.normal(5, 1)
    lead = DiscreteDistribution(np.array([0.3, 0.4, 0.2, 0.1]), 1)
    nets = [Network.serial(3), Network.distribution(20), Network.distribution(20), Network.distribution([3, 4])]
    pols = [Policy.echelon_base_stock([23, 12, 6]), Policy.base_stock([230] + [14] * 20),
            Policy.base_stock([90] + [14] * 20),  # scarce: ~19 orders queued per lane > 16 slots
            Policy.echelon_base_stock([80, 30, 30, 30] + [9] * 12)]
    leads = [[2, 1, 0], 1, [20] + [lead] * 20, lead]
    kw = dict(seeds=3, replications=2, periods=2000, warmup=50)
    ref = _general_and_fast_agree(nets, pols, d, leads, **kw)
    assert ref["fill_rate"][24] < 0.5  # the scarce warehouse (network 2, stage 0)
    assert ref["owed_downstream"][24] > 16 * 5 * 20  # more than 16 orders of ~5 units per lane


def test_fast_path_eligibility() -> None:
    d = DiscreteDistribution.poisson(2.0)
    assert _pack_network(Network.serial(3), Policy.base_stock([9, 6, 3]), d, 1, None).fast
    # any review period, installation and echelon
    assert _pack_network(Network.serial(2), Policy.base_stock([9, 4], review_period=[4, 2]), d, 1, None).fast
    assert _pack_network(Network.serial(2), Policy.echelon_base_stock([9, 4], review_period=3), d, 1, None).fast
    not_fast = [
        (Network.assembly([1.0, 1.0]), Policy.base_stock([5, 5, 5]), None),  # two inbound arcs
        (Network(2, ((0, 1, 2.0),)), Policy.base_stock([9, 3]), None),  # quantity_per 2
        (Network.serial(2), Policy.s_S([1, 1], [9, 4]), None),
        (Network.serial(2), Policy.base_stock([9, 4], moq=3), None),
        (Network.serial(2), Policy.base_stock([9, 4], capacity=5), None),
        (Network.serial(2), Policy.base_stock([9, 4]), [0, 1]),  # processing time
    ]
    for net, pol, proc in not_fast:
        assert not _pack_network(net, pol, d, 1, proc).fast
    # integer arithmetic only for integer levels and sums that stay below 2**52
    ints = _pack_network(Network.serial(2), Policy.base_stock([9, 4]), d, 1, None)
    frac = _pack_network(Network.serial(2), Policy.base_stock([9, 4.5]), d, 1, None)
    # (lost sales: with backorders, installation base stock in exact mode runs on the
    # stage-major kernel, see test_sim_stage_major.py)
    assert list(_kernel_choice([ints, frac], 1000, backorders=False)) == [FK.FAST_INT | FK.LINE,
                                                                          FK.FAST_FLOAT | FK.LINE]
    assert list(_kernel_choice([ints], 10**8)) == [FK.FAST_FLOAT | FK.LINE]
    assert list(_kernel_choice([ints], 1000, "general")) == [FK.GENERAL]
    # the loop for lines only where no stage has more than one customer
    dist = _pack_network(Network.distribution(2), Policy.base_stock([9, 4, 4]), d, 1, None)
    assert list(_kernel_choice([dist], 1000, backorders=False)) == [FK.FAST_FLOAT_EXACT]
    assert list(_kernel_choice([dist], 1000, "fast_int")) == [FK.FAST_INT]


def _random_line(rng: np.random.Generator, name: str) -> Network:
    """A line of 1-6 stages, in order or with shuffled stage indices (or two lines)."""
    n = int(rng.integers(1, 7))
    c = rng.integers(3)
    if c == 0 or n == 1:
        return Network.serial(n, name=name)
    perm = rng.permutation(n)
    cut = int(rng.integers(1, n)) if c == 2 else n  # c == 2: two lines (0 .. cut-1, cut .. n-1)
    arcs = tuple((int(perm[k - 1]), int(perm[k]), 1.0) for k in range(1, n) if k != cut)
    return Network(n, arcs, name=name)


@pytest.mark.parametrize("case_seed", range(8))
def test_line_loop_bit_identical_on_random_lines(case_seed: int) -> None:
    """The loop compiled for lines (``FK.LINE``) against the general kernel, bit for bit."""
    rng = np.random.default_rng(100 + case_seed)
    cycles = case_seed % 2 == 1
    flags = dict(backorders=bool(case_seed & 2), crossing=bool(case_seed & 4),
                 allocation="fifo" if rng.random() < 0.5 else "proportional")
    cases = []
    for k in range(30):
        net = _random_line(rng, f"line-{k}")
        n = net.n_stages
        levels = rng.uniform(0.0, 14.0, n) * (1.0 + np.array([len(net.downstream(j)) for j in range(n)]))
        if rng.random() < 0.6:
            levels = np.round(levels)
        kinds = [("echelon_base_stock" if rng.random() < 0.5 else "base_stock") for _ in range(n)]
        reviews = _random_reviews(rng, n) if case_seed >= 4 else 1  # R > 1 at about half the stages
        if rng.random() < 0.5:
            demand: object = _random_demand(rng, cycles)
            if isinstance(demand, list):
                demand = DemandSchedule(demand)
        else:
            demand = {j: _random_demand(rng, cycles) for j in range(n) if rng.random() < 0.6}
        if rng.random() < 0.3:
            lead: object = int(rng.integers(0, 4))
        else:
            lead = [(_random_dist(rng, 0.4) if rng.random() < 0.6 else int(rng.integers(0, 4))) for _ in range(n)]
        cases.append((net, Policy(kind=kinds, order_up_to=levels, review_period=reviews), demand, lead))
    blocks = [_pack_network(*c, None) for c in cases]
    assert all(b.fast for b in blocks)
    if cycles:  # per-period demand cycles at several stages
        assert sum(int(np.sum(b.st_dlen > 1)) for b in blocks) >= 10
    for kernel in ("auto", "fast_float", "fast_int"):
        codes = _kernel_choice(blocks, 700, kernel)
        # every line runs the loop for lines (under "auto", or the stage-major kernel)
        assert np.all((codes & FK.LINE != 0) | ((kernel == "auto") & (codes == SM.STAGE_MAJOR))), kernel
    kinds_int = _kernel_choice(blocks, 700, "fast_int") & ~FK.LINE
    assert np.sum(kinds_int == FK.FAST_INT) >= 5 and np.sum(kinds_int == FK.FAST_FLOAT) >= 5
    nets, pols, dems, leads = (list(x) for x in zip(*cases, strict=True))
    kw = dict(seeds=5, replications=2, periods=650, warmup=int(rng.integers(0, 40)), **flags)
    ref = _general_and_fast_agree(nets, pols, dems, leads, **kw)
    assert np.nanmin(ref["fill_rate"]) < 0.9  # stock-outs happen
    assert np.max(ref["owed_downstream"]) > 0.0


_HIST_FIELDS = ("ptr", "x_counts", "y_counts", "x_tail_n", "x_tail_sum", "y_tail_n", "y_tail_sum", "demand_sum")


def _integer_levels(rng: np.random.Generator, pol: Policy) -> Policy:
    """``pol`` with integer levels >= 0 (what position histograms need), some of them low:
    starved stages build backlogs beyond the histograms' caps (tails)."""
    levels = np.round(np.asarray(pol.order_up_to, dtype=np.float64) * rng.choice([0.15, 1.0, 1.0]))
    return Policy(kind=pol.kind, order_up_to=levels, review_period=pol.review_period)


@pytest.mark.parametrize(("case_seed", "crossing", "cycles", "reviews"),
                         [(21, True, False, False), (22, False, True, False), (23, True, True, True),
                          (24, False, False, True)])
def test_fast_kernel_position_histograms_bit_identical_on_random_trees(case_seed: int, crossing: bool,
                                                                       cycles: bool, reviews: bool) -> None:
    """Histograms counted by the fast kernel (every arithmetic, trees and lines, review
    periods 1-5) against the general kernel's, bit for bit: every bin, tail and demand sum
    of every group."""
    rng = np.random.default_rng(case_seed)
    cases = []
    for k in range(40):
        net, pol, dem, lead = _random_case(rng, f"sku-{k}", cycles, reviews)
        cases.append((net, _integer_levels(rng, pol), dem, lead))
    nets, pols, dems, leads = (list(x) for x in zip(*cases, strict=True))
    blocks = [_pack_network(*c, None) for c in cases]
    codes = _kernel_choice(blocks, 630, "fast_int")
    assert np.all(codes != FK.GENERAL)
    kinds = codes & ~FK.LINE
    assert np.sum(kinds == FK.FAST_INT) >= 5 and np.sum(codes & FK.LINE != 0) >= 5
    assert np.sum(codes & FK.LINE == 0) >= 5
    kw = dict(seeds=13, replications=4, periods=600, warmup=int(rng.integers(0, 30)), crossing=crossing,
              position_histograms=True, histogram_groups=2)
    ref = _general_and_fast_agree(nets, pols, dems, leads, **kw)
    want = ref.positions
    assert want is not None
    for kernel in ("auto", "fast_float", "fast_int"):
        got = simulate(nets, pols, dems, leads, kernel=kernel, **kw).positions
        assert got is not None
        for f in _HIST_FIELDS:
            np.testing.assert_array_equal(getattr(got, f), getattr(want, f), err_msg=f"{kernel} {f}")
    # the comparison covers every part of the counting: bins, both tails, echelon stages
    # without histograms next to installation stages with them
    assert want.x_counts.sum() > 0 and want.x_tail_n.sum() > 0 and want.y_tail_n.sum() > 0
    assert 0 < int(want.applicable.sum()) < want.applicable.size
    assert np.nanmin(ref["fill_rate"]) < 0.9
