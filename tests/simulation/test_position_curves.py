"""The one-pass curves helper against the NumPy formulation it replaced, bit for bit.

``_position_curves.position_curves`` (Numba) must give exactly what the former
vectorised NumPy code of ``PositionHistograms._all`` gave (reverse cumulative sums over
all rows, then differences): the reference below is that code, kept here as an
independent second method. Checked on random integer histograms (several groups, rows
without demand, tails above the cap) and on the engine's own histograms.
"""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.simulation import (
    DiscreteDistribution,
    Network,
    Policy,
    PositionHistograms,
    simulate,
)


def _reference(h: PositionHistograms) -> tuple[np.ndarray, ...]:
    """The NumPy formulation of the curves (reverse cumulative sums over all rows)."""
    ptr = h.ptr
    sizes = np.diff(ptr)
    row_of = np.repeat(np.arange(ptr.size - 1), sizes)
    level = np.arange(ptr[-1]) - ptr[row_of]
    seg_end = ptr[row_of + 1]
    n = float(h.periods_per_group)

    def rev(v: np.ndarray) -> np.ndarray:
        rc = np.zeros((v.shape[0], v.shape[1] + 1))
        rc[:, :-1] = np.cumsum(v[:, ::-1], axis=1)[:, ::-1]
        return rc[:, np.arange(v.shape[1]) + 1] - rc[:, seg_end]

    def excess(c: np.ndarray, tn: np.ndarray, ts: np.ndarray) -> np.ndarray:
        cnt = rev(c) + tn[:, row_of]
        tot = rev(c * level) + ts[:, row_of]
        out: np.ndarray = tot - level * cnt
        return out

    bx = excess(h.x_counts, h.x_tail_n, h.x_tail_sum)
    by = excess(h.y_counts, h.y_tail_n, h.y_tail_sum)
    first = ptr[:-1][row_of]
    seg_sum = np.zeros((h.groups, ptr[-1] + 1))
    seg_sum[:, 1:] = (h.x_counts * level).cumsum(axis=1)
    ex = (seg_sum[:, seg_end] - seg_sum[:, first] + h.x_tail_sum[:, row_of]) / n
    dem = h.demand_sum[:, row_of]
    with np.errstate(invalid="ignore", divide="ignore"):
        fill_g = np.where(dem > 0, 1.0 - (bx - by) / np.where(dem > 0, dem, 1.0), np.nan)
        ng = np.sum(~np.isnan(fill_g), axis=0)
        fill = np.where(ng > 0, np.nansum(fill_g, axis=0) / np.maximum(ng, 1), np.nan)
        dev = np.where(np.isnan(fill_g), 0.0, fill_g - fill)
        se = np.where(ng > 1, np.sqrt(np.sum(dev * dev, axis=0) / np.maximum(ng - 1, 1) / np.maximum(ng, 1)),
                      np.nan)
    backlog_g = bx / n
    return (level.astype(np.float64), fill, se, backlog_g.mean(axis=0), (level - ex + backlog_g).mean(axis=0))


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(np.asarray(a, np.float64).view(np.uint64),
                                                      np.asarray(b, np.float64).view(np.uint64)))


def _random_histograms(rng: np.random.Generator, groups: int) -> PositionHistograms:
    caps = rng.integers(0, 60, size=9)
    caps[3] = -1  # a row without histograms
    ptr = np.zeros(caps.size + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(caps + 1)
    bins = int(ptr[-1])
    x = rng.integers(0, 40, size=(groups, bins)).astype(np.float64)
    y = rng.integers(0, 40, size=(groups, bins)).astype(np.float64)
    rows = caps.size
    xtn = rng.integers(0, 5, size=(groups, rows)).astype(np.float64)
    ytn = rng.integers(0, 5, size=(groups, rows)).astype(np.float64)
    xts = xtn * (caps + 1 + rng.integers(0, 30, size=(groups, rows)))
    yts = ytn * (caps + 1 + rng.integers(0, 30, size=(groups, rows)))
    dem = rng.integers(1, 4000, size=(groups, rows)).astype(np.float64)
    dem[0, 1] = 0.0  # a group without demand at one row
    dem[:, 2] = 0.0  # a row without any demand (fill undefined)
    return PositionHistograms(ptr=ptr, x_counts=x, y_counts=y, x_tail_n=xtn, x_tail_sum=xts, y_tail_n=ytn,
                              y_tail_sum=yts, demand_sum=dem, periods_per_group=730)


@pytest.mark.parametrize("groups", [1, 2, 10, 20, 150])
def test_curves_equal_numpy_formulation_on_random_histograms(groups: int) -> None:
    h = _random_histograms(np.random.default_rng(groups), groups)
    got = h.flat_curves()
    want = _reference(h)
    for name, a, b in zip(("level", "fill_rate", "fill_rate_se", "backlog", "on_hand"),
                          (got.level, got.fill_rate, got.fill_rate_se, got.backlog, got.on_hand), want, strict=True):
        assert _bits_equal(a, b), f"{name} differs from the NumPy formulation (groups={groups})"
    assert np.isnan(got.fill_rate[h.ptr[2]:h.ptr[3]]).all()  # no demand: fill undefined


def test_curves_equal_numpy_formulation_on_engine_histograms() -> None:
    net = Network.distribution(4)
    res = simulate(net, Policy.base_stock([30, 6, 7, 8, 5]), DiscreteDistribution.poisson(2.0), lead_times=[2, 1, 1, 1, 1],
                   seeds=3, replications=20, periods=300, warmup=20, position_histograms=True, histogram_groups=10)
    pos = res.positions
    assert pos is not None
    got = pos.flat_curves()
    want = _reference(pos)
    for a, b in zip((got.level, got.fill_rate, got.fill_rate_se, got.backlog, got.on_hand), want, strict=True):
        assert _bits_equal(a, b)
    curves = pos.all_curves()
    for i, c in enumerate(curves):  # the per-row curves are slices of the flat ones
        assert c is not None
        assert _bits_equal(c.on_hand, got.on_hand[pos.ptr[i]:pos.ptr[i + 1]])


def test_curves_of_chosen_rows_equal_those_of_the_selected_histograms() -> None:
    h = _random_histograms(np.random.default_rng(5), 10)
    rows = np.array([7, 0, 3, 7, 2], dtype=np.int64)  # any order, repeats, a row without bins
    got = h.flat_curves(rows)
    want = _reference(h.select(rows))
    for a, b in zip((got.level, got.fill_rate, got.fill_rate_se, got.backlog, got.on_hand), want, strict=True):
        assert _bits_equal(a, b)
