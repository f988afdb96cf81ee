"""The sensing thresholds: the shipped table is what the code simulates, and a threshold
gives its set false-alarm rate on noise drawn independently of the calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from platform_core.incremental import calibration as cal


def test_the_shipped_table_is_what_the_code_simulates():
    table = cal._table()
    if table is None:
        pytest.fail(f"{cal.TABLE_FILE} is missing or computed on other grids: "
                    "run python -m platform_core.incremental.calibration")
    assert float(table["alpha"]) == cal.TABLE_ALPHA
    a, b, c = 10, 3, 4  # mean 5, dispersion 2, 52 periods of history
    cell = cal._demand_cell(float(cal._MEAN_GRID[a]), float(cal._DISPERSION_GRID[b]), int(cal._HISTORY_GRID[c]),
                            cal.TABLE_PERIODS_PER_YEAR, cal.TABLE_ALPHA)
    assert table["demand"][a, b, c].tolist() == [cell.level, cell.variability, cell.zero]
    zero = cal._zero_cell(float(cal._ZERO_GRID[4]), int(cal._HISTORY_GRID[4]), cal.TABLE_PERIODS_PER_YEAR,
                          cal.TABLE_ALPHA)  # zero rate 0.2, 52 periods
    assert float(table["zero"][4, 4]) == zero
    b, c, d = 3, 2, 2  # 20 receipts per lane, 25 receipts a year, 4 lanes
    lead = cal._lead_time_cells(int(cal._RECEIPTS_GRID[b]), int(cal._YEAR_GRID[c]), cal.TABLE_ALPHA,
                                int(cal._LANES_GRID[d]))
    assert table["lead_time"][:, b, c, d].tolist() == lead.tolist()
    iid = cal._lead_time_iid_cells(int(cal._YEAR_GRID[c]), cal.TABLE_ALPHA)  # independent scores, 25 a year
    assert table["lead_time_iid"][:, c].tolist() == iid.tolist()


def _own_cusum_max(z: np.ndarray, k: float) -> np.ndarray:
    """Largest two-sided CUSUM value per row, written out independently of the package."""
    top = np.zeros(z.shape[0])
    for i, row in enumerate(z):
        up = down = 0.0
        for x in row:
            up = max(0.0, up + x - k)
            down = max(0.0, down - x - k)
            top[i] = max(top[i], up, down)
    return top


def test_a_lead_time_threshold_gives_its_false_alarm_rate_on_fresh_noise():
    k, receipts, per_year = 0.75, 35, 25
    h = float(cal.lead_time_threshold(np.array([k]), np.array([receipts]), np.array([per_year]), 0.025)[0])
    rng = np.random.default_rng(2024)  # not the calibration's stream
    paths = 6000
    base = rng.normal(10.0, 3.0, (paths, receipts))  # any mean and sd: the z are scale-free
    m, s = base.mean(axis=1), base.std(axis=1, ddof=1)
    z = (rng.normal(10.0, 3.0, (paths, per_year)) - m[:, None]) / s[:, None]
    # the detector watches normal scores: z / sqrt(1 + 1/n) is Student-t with n - 1 degrees of freedom
    score = stats.norm.isf(stats.t.sf(z / np.sqrt(1.0 + 1.0 / receipts), receipts - 1))
    rate = float(np.mean(_own_cusum_max(score, k) > h))
    se = np.sqrt(0.025 * 0.975 / paths)
    assert abs(rate - 0.025) < 4 * se, rate
