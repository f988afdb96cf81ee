"""``calibrated``'s demand classes in its backtest, and series without any demand yet.

Checked on generated data against fresh periods of the same process (new random
numbers), never against the history the forecaster was fitted on.

* A backtest series is pooled with the class it had at its origin.  Every series below
  is the same stationary intermittent process; ADI/CV² splits them into ``intermittent``
  and ``lumpy`` by chance.  The class factor a plan needs is what the next periods of the
  series classed so *now* realise against their forecast (below 1 for ``lumpy``: their
  large past sizes raised the forecast; above 1 for ``intermittent``).  A class read off
  the whole history (scored periods included) gets it the wrong way round for ``lumpy``:
  it selects the series whose *scored* periods held the bursts.
* A series without demand yet is planned with what such series did after the backtest
  origins: here every series starts demanding at a memoryless (geometric) time, so that
  is the same at every origin and at the end of the history.
"""

from __future__ import annotations

import numpy as np
from echelon_demand.models.calibrated import CalibratedForecaster

from platform_core.components import DemandSeries

N, T, H, L = 1500, 48, 12, 3


def _series(y: np.ndarray) -> DemandSeries:
    n, t = y.shape
    return DemandSeries([f"s{i}" for i in range(n)], y.reshape(-1).astype(np.float64),
                        np.zeros(n * t, dtype=bool), np.arange(0, n * t + 1, t))


def _draw(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Occurrence 0.35 per period, geometric sizes (mean 2, CV² 0.5: on the class boundary)."""
    return np.where(rng.random(shape) < 0.35, rng.geometric(0.5, shape), 0)


def test_class_level_factor_is_what_the_class_realises_next() -> None:
    rng = np.random.default_rng(1)
    y = _draw(rng, (N, T))
    fresh = _draw(rng, (N, H))  # the next H periods: same process, new numbers
    fc = CalibratedForecaster(base="negbin", horizon_periods=H, origins=3, min_history_periods=H,
                              lead_periods=L).fit(_series(y))
    params = fc.class_calibration()
    base_mean = np.array([d.mean() for d in fc.base_dists_])
    for c in ("intermittent", "lumpy"):
        sel = fc.classes_ == c
        realised = fresh[sel].sum() / (H * base_mean[sel].sum())
        # 3 standard errors of the difference: the fresh ratio's (per-period variance 1.61,
        # mean 0.7) and about as much in the backtest estimate's
        se = np.sqrt(2.0 * 1.61 / (H * sel.sum())) / 0.7
        assert abs(params[c]["mean_factor_estimate"] - realised) <= 3 * se, (c, params[c], realised, se)
    assert params["lumpy"]["mean_factor_estimate"] < 1.0 < params["intermittent"]["mean_factor_estimate"]


def test_series_without_demand_yet_are_planned_with_what_such_series_did() -> None:
    rng = np.random.default_rng(2)
    hazard, rate = 0.04, 2.0
    start = rng.geometric(hazard, N)  # first period of demand (memoryless)
    t = np.arange(T + H)[None, :]
    y_all = np.where(t >= start[:, None], rng.poisson(rate, (N, T + H)), 0)
    fc = CalibratedForecaster(base="negbin", horizon_periods=H, origins=3, min_history_periods=H,
                              lead_periods=L).fit(_series(y_all[:, :T]))
    dists = fc.period_demand()
    new = fc.classes_ == "none"
    assert new.sum() >= 100
    planned = np.array([dists[i].mean() for i in np.flatnonzero(new)])
    assert np.ptp(planned) == 0.0  # one class prior
    realised = y_all[new, T:].mean()  # what the series without demand so far did next
    # expected per-period demand of a series that has not started: rate x P(started by then)
    expected = rate * np.mean(1.0 - (1.0 - hazard) ** (np.arange(H) + 1))
    se = np.sqrt(rate * (1 + rate) / (H * new.sum()))
    assert abs(realised - expected) <= 4 * se  # the test's own check of its process
    assert abs(planned[0] - expected) <= 0.1 * expected, (planned[0], expected, realised)
    # where the series without demand never started after an origin, they stay at zero
    y_dead = rng.poisson(rate, (N // 3, T))
    y_dead[: N // 6] = 0  # half never demand, the other half from the first period
    fc0 = CalibratedForecaster(base="negbin", horizon_periods=H, origins=3, min_history_periods=H,
                               lead_periods=L).fit(_series(y_dead))
    p0 = fc0.period_demand()
    assert all(p0[i].mean() == 0.0 for i in np.flatnonzero(fc0.classes_ == "none"))
