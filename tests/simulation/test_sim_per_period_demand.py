"""Per-period demand (``DemandSchedule``) against exact convolutions computed with scipy.

Under base-stock ``S`` with lead time ``L`` a stage ends period ``t`` with net inventory
``S - X_t``, ``X_t = D_{t-L} + ... + D_t`` (docs/simulation.md). With a demand cycle the
``L + 1`` demands of the window come from the cycle's entries ``(t - k) % n``, so every
phase of the cycle has its own exact distribution of ``X_t``: the convolution of those
entries' PMFs. The demand not filled from stock in period ``t`` is
``(X_t - S)^+ - (X'_t - S)^+`` with ``X'_t = D_{t-L} + ... + D_{t-1}``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from platform_core.simulation import DemandSchedule, DiscreteDistribution, Network, Policy, simulate


def _pmf(dist: DiscreteDistribution, n: int) -> np.ndarray:
    """``dist`` as a PMF on 0..n-1 (``dist`` must fit)."""
    out = np.zeros(n)
    out[dist.offset: dist.offset + dist.pmf.size] = dist.pmf
    return out


def _window(pmfs: list[np.ndarray], phase: int, periods: int) -> np.ndarray:
    """PMF of the demand of ``periods`` consecutive periods ending in a period of ``phase``."""
    n = len(pmfs)
    x = np.zeros(1)
    x[0] = 1.0
    for k in range(periods):
        x = np.convolve(x, pmfs[(phase - k) % n])
    return x


def _exact(pmfs: list[np.ndarray], lead: int, s: int) -> dict[str, np.ndarray]:
    """Per phase of the cycle: backorders, on hand, ready rate, cycle service, shortage."""
    out: dict[str, list[float]] = {k: [] for k in ("backorders", "on_hand", "ready_rate", "csl", "short", "mean")}
    for p in range(len(pmfs)):
        x = _window(pmfs, p, lead + 1)
        k = np.arange(x.size)
        eb = float(np.sum(np.maximum(k - s, 0) * x))
        prev = _window(pmfs, p - 1, lead) if lead > 0 else np.ones(1)
        kp = np.arange(prev.size)
        out["backorders"].append(eb)
        out["on_hand"].append(float(np.sum(np.maximum(s - k, 0) * x)))
        out["ready_rate"].append(float(x[:s].sum()))
        out["csl"].append(float(x[: s + 1].sum()))
        out["short"].append(eb - float(np.sum(np.maximum(kp - s, 0) * prev)))
        out["mean"].append(float(np.dot(np.arange(pmfs[p].size), pmfs[p])))
    return {k: np.array(v) for k, v in out.items()}


def _within(sim: float, se: float, exact: float, n_se: float = 3.0) -> None:
    assert abs(sim - exact) <= n_se * se + 1e-12, f"sim {sim} +- {se} vs exact {exact}"


N = 160  # support of the exact PMFs (every window below fits)


@pytest.mark.parametrize("kernel", ["auto", "general"])
@pytest.mark.parametrize(("means", "lead", "s"), [((2.0, 7.0), 2, 16), ((3.0, 9.0), 0, 6), ((4.0, 1.0), 4, 12)])
def test_alternating_poisson_per_phase_matches_exact_convolution(kernel: str, means: tuple[float, float],
                                                                 lead: int, s: int) -> None:
    """Each phase measured on its own: one measured period per replication, in phase
    ``warmup % 2``; every replication is independent, so the mean over replications
    estimates that phase's expectation."""
    dists = [DiscreteDistribution.poisson(m) for m in means]
    pmfs = [_pmf(d, N) for d in dists]
    ex = _exact(pmfs, lead, s)
    assert abs(ex["backorders"][0] - ex["backorders"][1]) > 0.1  # the phases differ
    for phase in (0, 1):
        res = simulate(Network.serial(1), Policy.base_stock(s), DemandSchedule(dists), lead_times=lead,
                       seeds=100 + phase, replications=4000, periods=1, warmup=30 + phase, kernel=kernel)
        checks = [("backorders", "backorders"), ("on_hand", "on_hand"), ("ready_rate", "ready_rate"),
                  ("demand", "mean")]
        if lead > 0:  # with L = 0 a cycle is counted in the period after it ends (not simulated)
            checks.append(("cycle_service_level", "csl"))
        for metric, key in checks:
            _within(res[metric][0], res.se[metric][0], ex[key][phase])


@pytest.mark.parametrize("kernel", ["auto", "general"])
def test_long_run_fill_rate_and_backorders_of_a_cycle(kernel: str) -> None:
    """Averages over an even number of measured periods weight the two phases equally;
    fill rate = (sum of mean demand - expected shortage) / sum of mean demand. Phase 1 is
    negative binomial (not Poisson): the convolution is still exact."""
    lead, s = 2, 17
    nb = stats.nbinom(4, 0.4)  # mean 6, variance 15
    k = np.arange(N)
    nb_pmf = nb.pmf(k)
    dists = [DiscreteDistribution.poisson(3.0), DiscreteDistribution(nb_pmf[: 80], 0)]
    pmfs = [_pmf(d, N) for d in dists]
    ex = _exact(pmfs, lead, s)
    res = simulate(Network.serial(1), Policy.base_stock(s), DemandSchedule(dists), lead_times=lead,
                   seeds=7, replications=20, periods=8000, warmup=50, kernel=kernel)
    _within(res["backorders"][0], res.se["backorders"][0], ex["backorders"].mean())
    _within(res["on_hand"][0], res.se["on_hand"][0], ex["on_hand"].mean())
    _within(res["ready_rate"][0], res.se["ready_rate"][0], ex["ready_rate"].mean())
    fill = 1.0 - ex["short"].sum() / ex["mean"].sum()
    _within(res["fill_rate"][0], res.se["fill_rate"][0], fill)
    # the stationary mixture (every period drawn from the 50/50 mixture) is a different
    # system: its backorders are clearly different, so the test can tell them apart
    mix = 0.5 * (pmfs[0] + pmfs[1])
    ex_mix = _exact([mix], lead, s)
    assert abs(ex_mix["backorders"][0] - ex["backorders"].mean()) > 10 * res.se["backorders"][0]


def test_schedule_in_a_distribution_tree_with_ample_warehouse() -> None:
    """An ample warehouse ships every order at once, so each retailer is a single stage
    with its own demand cycle (lengths 2 and 3 and stationary) and lead time 1."""
    lead, levels = 1, [10_000, 12, 14, 9]
    scheds = [DemandSchedule.poisson([2.0, 8.0]), DemandSchedule.poisson([1.0, 5.0, 9.0]),
              DiscreteDistribution.poisson(4.0)]
    res = simulate(Network.distribution(3), Policy.base_stock(levels), [None, *scheds], lead_times=lead,
                   seeds=3, replications=20, periods=6000, warmup=60)
    assert res["fill_rate"][0] == 1.0
    for r, sched in enumerate(scheds, start=1):
        dists = list(sched.distributions) if isinstance(sched, DemandSchedule) else [sched]
        ex = _exact([_pmf(d, N) for d in dists], lead, levels[r])
        _within(res["backorders"][r], res.se["backorders"][r], ex["backorders"].mean())
        _within(res["on_hand"][r], res.se["on_hand"][r], ex["on_hand"].mean())
        _within(res["fill_rate"][r], res.se["fill_rate"][r], 1.0 - ex["short"].sum() / ex["mean"].sum())
        # the warehouse sees the retailers' orders: mean demand per period
        assert res["demand"][r] == pytest.approx(ex["mean"].mean(), rel=0.02)


@pytest.mark.parametrize("kernel", ["auto", "general", "fast_float"])
def test_schedule_of_identical_distributions_gives_the_stationary_numbers(kernel: str) -> None:
    d = DiscreteDistribution.normal(5, 1)
    p = DiscreteDistribution.poisson(2.5)
    nets = [Network.serial(3, name="a"), Network.distribution(4, name="b")]
    pols = [Policy.echelon_base_stock([23, 12, 6]), Policy.base_stock([30, 5, 5, 5, 5])]
    leads = [[2, 1, 0], DiscreteDistribution(np.array([0.5, 0.5]), 1)]
    kw = dict(seeds=5, replications=3, periods=1500, warmup=25, kernel=kernel)
    ref = simulate(nets, pols, [d, p], leads, **kw)
    cyc = simulate(nets, pols, [DemandSchedule([d] * 3), {j: [p, p] for j in range(1, 5)}], leads, **kw)
    one = simulate(nets, pols, [DemandSchedule([d]), DemandSchedule([p])], leads, **kw)
    for m in ref.replicates:
        np.testing.assert_array_equal(cyc.replicates[m], ref.replicates[m], err_msg=m)
        np.testing.assert_array_equal(one.replicates[m], ref.replicates[m], err_msg=m)


def test_schedules_independent_of_batching() -> None:
    """Cycles are packed at different offsets when networks are grouped differently."""
    scheds = [DemandSchedule.poisson([1.0, 3.0, 5.0]), DemandSchedule.poisson([4.0, 2.0]),
              DiscreteDistribution.poisson(3.0)]
    nets = [Network.serial(2, name=f"n{k}") for k in range(3)]
    pol = Policy.base_stock([12, 6])
    kw = dict(seeds=9, replications=2, periods=700, warmup=13)
    together = simulate(nets, pol, scheds, 1, **kw)
    for k in range(3):
        alone = simulate([nets[k]], pol, [scheds[k]], 1, **kw)
        for m in together.replicates:
            np.testing.assert_array_equal(alone.replicates[m][:, 0:2], together.replicates[m][:, 2 * k:2 * k + 2])


def test_schedule_validation() -> None:
    with pytest.raises(ValueError):
        DemandSchedule([])
    with pytest.raises(TypeError):
        DemandSchedule([1.0, 2.0])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        simulate(Network.serial(1), Policy.base_stock(3), {0: 2.0}, periods=10)  # type: ignore[dict-item]
    sched = DemandSchedule.poisson([1.0, 2.0, 1.0])
    assert len(sched) == 3 and sched.distributions[0] is sched.distributions[2]
    np.testing.assert_allclose(sched.means(), [1.0, 2.0, 1.0], atol=1e-9)


def test_docs_per_period_example_runs() -> None:
    """The per-period demand example of docs/simulation.md runs as printed."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "simulation.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "DemandSchedule" in b]
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/simulation.md", "exec"), {})
