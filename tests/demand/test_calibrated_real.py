"""The default forecaster's lead-time-demand quantiles on real demand (car parts).

Hyndman's ``carparts`` (2,674 intermittent monthly series, 51 months; ``../shared/data``,
not shipped: GPL-3).  Every third series with the whole 12 months after the origin is
fitted on the 39 months before it, nothing after; the realised demand of each 3-month
block of the next 12 months is scored against the i.i.d. 3-month sum of the calibrated
per-period PMF, the distribution the solvers plan with.  The randomised PIT share below
each level must be the level (exactly, for a correct model).  Tolerance: 3 binomial
standard errors with the number of *series* as the sample size (a series' blocks share its
level error), about 4 pp here.
"""

from __future__ import annotations

import numpy as np
from echelon_demand.models._common import point_lead_times, subset, truncate
from echelon_demand.models.calibrated import CalibratedForecaster
from echelon_demand.series_file import read_series_file

LEVELS = np.array([0.8, 0.9, 0.95])
ORIGIN, LEAD, HORIZON = 39, 3, 12


def _pit_shares(shared_data, **params: object) -> tuple[np.ndarray, int, CalibratedForecaster]:
    demand = read_series_file(shared_data.path("demand/carparts_2674_monthly.csv"))
    lengths = np.diff(np.asarray(demand.indptr))
    idx = np.flatnonzero(lengths >= ORIGIN + HORIZON)[::3]
    train = truncate(subset(demand, idx), lengths[idx] - ORIGIN)
    fc = CalibratedForecaster(lead_periods=LEAD, **params).fit(train)  # type: ignore[arg-type]
    zeros = np.zeros(idx.size, dtype=np.int64)
    ltd = fc.lead_time_demand(point_lead_times(np.full(idx.size, LEAD)), zeros, zeros.astype(np.uint64))
    rng = np.random.default_rng(0)
    below = np.zeros(LEVELS.size)
    blocks = 0
    for j, i in enumerate(idx):
        y, _ = demand.series(int(i))
        cdf = np.concatenate(([0.0], np.cumsum(ltd[j].pmf)))
        for start in range(ORIGIN, ORIGIN + HORIZON, LEAD):
            k = int(np.nansum(y[start : start + LEAD])) - ltd[j].offset
            lo = cdf[min(max(k, 0), cdf.size - 1)]
            hi = cdf[min(max(k + 1, 0), cdf.size - 1)]
            below += lo + rng.random() * (hi - lo) <= LEVELS
            blocks += 1
    return below / blocks, idx.size, fc


def test_default_forecaster_quantiles_hold_on_held_out_car_parts(shared_data) -> None:
    shares, n, fc = _pit_shares(shared_data)
    tol = 3.0 * np.sqrt(LEVELS * (1.0 - LEVELS) / n)
    assert fc.horizon_periods_ == 9  # 39 months: a quarter-length backtest span
    assert np.all(np.abs(shares - LEVELS) <= tol), (shares, tol)
