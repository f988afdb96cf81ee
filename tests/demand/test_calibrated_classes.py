"""``calibrated``'s demand classes in its backtest.

Checked on generated data against fresh periods of the same process (new random
numbers), never against the history the forecaster was fitted on.

* A backtest series is pooled with the class it had at its origin.  Every series below
  is the same stationary intermittent process; ADI/CV² splits them into ``intermittent``
  and ``lumpy`` by chance.  The class factor a plan needs is what the next periods of the
  series classed so *now* realise against their forecast (below 1 for ``lumpy``: their
  large past sizes raised the forecast; above 1 for ``intermittent``).  A class read off
  the whole history (scored periods included) gets it the wrong way round for ``lumpy``:
  it selects the series whose *scored* periods held the bursts.
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
