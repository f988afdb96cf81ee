"""``auto`` with ``select="series"``: per-series choice by a rolling backtest on its own history."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_demand.models import AutoForecaster
from echelon_demand.models._common import subset

from platform_core.components import DemandSeries


def make_series(rows: list[np.ndarray]) -> DemandSeries:
    ptr = np.concatenate(([0], np.cumsum([len(r) for r in rows]))).astype(np.int64)
    vals = np.concatenate(rows).astype(float)
    return DemandSeries([f"s{i}@L" for i in range(len(rows))], vals, np.zeros(vals.size, bool), ptr)


def _trending(rng: np.random.Generator, k: int) -> list[np.ndarray]:
    t = np.arange(48)
    return [rng.poisson(5.0 + 1.5 * t).astype(float) for _ in range(k)]  # +1.5 units per period


def _bernoulli(rng: np.random.Generator, k: int, T: int = 48) -> list[np.ndarray]:
    return [((rng.random(T) < 0.2) * rng.integers(1, 4, T)).astype(float) for _ in range(k)]


def test_trending_series_choose_ets_over_bootstrap():
    rng = np.random.default_rng(11)
    f = AutoForecaster(candidates=("bootstrap", "sf_ets")).fit(make_series(_trending(rng, 6)))
    assert list(f.selection_) == ["backtest"] * 6
    assert list(f.model_) == ["sf_ets"] * 6
    # the per-series scores say why: ETS follows the trend, the 52-period bootstrap lags it
    assert np.all(f.scores_[:, 1] < 0.5 * f.scores_[:, 0])


def test_bernoulli_intermittent_series_choose_an_intermittent_model():
    rng = np.random.default_rng(12)
    # occurrence 0.15, sizes 4-8: an ETS mean with NB noise has the wrong shape for the sums
    rows = [((rng.random(120) < 0.15) * rng.integers(4, 9, 120)).astype(float) for _ in range(30)]
    # enough origins that a series' own backtest can tell (2 origins of 3 periods barely can)
    f = AutoForecaster(candidates=("sf_ets", "sf_croston_sba"), margin=0.0, origins=8)
    f.fit(make_series(rows))
    assert np.nanmean(f.scores_[:, 1]) < np.nanmean(f.scores_[:, 0])
    assert (f.model_ == "sf_croston_sba").mean() >= 0.7  # chance: 0.5


def test_short_history_falls_back_to_the_class_map_and_says_so():
    rng = np.random.default_rng(13)
    rows = _trending(rng, 2) + [np.array([4.0, 6, 5, 7, 5, 6, 4, 5]), np.zeros(20)]
    f = AutoForecaster(candidates=("bootstrap", "sf_ets")).fit(make_series(rows))
    # 8 periods < min_train (8) + horizon (3): no origin, so the class map (smooth -> negbin)
    assert f.selection_[2] == "class_map" and f.model_[2] == "negbin"
    assert np.isnan(f.scores_[2]).all()
    assert f.selection_[3] == "none" and f.model_[3] == "jeffreys_poisson"
    assert list(f.selection_[:2]) == ["backtest", "backtest"]


def test_choice_is_per_series_deterministic_and_batch_invariant():
    rng = np.random.default_rng(14)
    rows = _trending(rng, 3) + _bernoulli(rng, 5)
    demand = make_series(rows)
    a = AutoForecaster().fit(demand)
    b = AutoForecaster().fit(demand)
    assert list(a.model_) == list(b.model_)
    np.testing.assert_array_equal(a.scores_, b.scores_)
    for part in (np.array([0, 4]), np.array([7, 1, 5])):
        c = AutoForecaster().fit(subset(demand, part))
        assert list(c.model_) == list(a.model_[part])
        for d1, d2 in zip(c.period_demand(), [a.period_demand()[i] for i in part], strict=True):
            assert d1.offset == d2.offset
            np.testing.assert_allclose(d1.pmf, d2.pmf, rtol=1e-9)


def test_margin_keeps_the_class_model_unless_clearly_beaten():
    rng = np.random.default_rng(15)
    demand = make_series(_bernoulli(rng, 20))
    free = AutoForecaster(margin=0.0).fit(demand)
    held = AutoForecaster(margin=0.99).fit(demand)
    # class map for intermittent series is tsb; with a 99 % margin nothing can replace it
    cls = np.asarray(AutoForecaster(select="class").fit(demand).model_)
    assert list(held.model_) == list(cls)
    best = np.array(held._candidates())[np.argmin(free.scores_, axis=1)]
    assert list(free.model_) == list(best)


def test_unknown_select_is_refused():
    with pytest.raises(ValueError, match="series"):
        AutoForecaster(select="nope").fit(make_series([np.ones(12)]))
