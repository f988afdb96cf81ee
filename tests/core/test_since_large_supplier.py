"""The pooled lead-time detector of a supplier with many lanes and 20,000 receipts a year.

At a million SKU-locations a supplier has thousands of lanes and tens of thousands of
receipts a year, beyond the receipts per year the thresholds are simulated for.  The
false-alarm rate must stay the set one (2.5 % per supplier-year) there too, and a +50 %
lead-time shift must still be found within 10 receipts.

The data are generated here, independently of the calibration: lognormal lead times
rounded to whole days (the calibration assumes normal log lead times, unrounded), lanes
of different usual lead times, baselines of different sizes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from platform_core.incremental.calibration import lead_time_threshold
from platform_core.incremental.lead_time_sensing import (
    HISTORY_RECEIPTS,
    SIGMA_FLOOR,
    fit_lead_time_state,
    update_lead_time_state,
)

PER_YEAR = 20_000
LANES = 400  # per supplier: each lane ~50 receipts a year
RATE = 0.025


def _days(rng: np.random.Generator, usual: np.ndarray, sigma: float, factor: float = 1.0) -> np.ndarray:
    return np.maximum(1.0, np.round(usual * factor * np.exp(rng.normal(0.0, sigma, usual.shape))))


def test_false_alarms_of_a_20000_receipt_supplier_stay_at_the_set_rate():
    """Supplier-years of noise scored and watched by code written here.

    Each path: 400 lanes, each with a baseline of its own latest 8-50 receipts (log of
    1 + days: mean, sd at least the floor), then a year of 20,000 receipts on random lanes,
    scored through the t distribution (scipy) and watched by a CUSUM written here.
    """
    rng = np.random.default_rng(20_000)
    paths, k, block = 800, 1.0, 2000
    usual = np.exp(rng.uniform(np.log(7), np.log(40), (paths, LANES)))
    n = rng.integers(8, HISTORY_RECEIPTS + 1, (paths, LANES))
    base = np.log1p(_days(rng, np.repeat(usual[..., None], HISTORY_RECEIPTS, axis=2), 0.2))
    used = np.arange(HISTORY_RECEIPTS)[None, None, :] < n[..., None]
    mu = np.where(used, base, 0.0).sum(axis=2) / n
    sd = np.sqrt(np.where(used, (base - mu[..., None]) ** 2, 0.0).sum(axis=2) / (n - 1))
    sd = np.maximum(sd, SIGMA_FLOOR)
    h = float(lead_time_threshold(np.array([k]), np.array([float(n.mean())]), np.array([PER_YEAR]), RATE,
                                  np.array([LANES]))[0])
    rows = np.arange(paths)[:, None]
    up, down, hit = np.zeros(paths), np.zeros(paths), np.zeros(paths, dtype=bool)
    for _ in range(PER_YEAR // block):
        lane = rng.integers(0, LANES, (paths, block))
        days = _days(rng, usual[rows, lane], 0.2).astype(np.int64)
        # a lane's lead times take a few whole-day values: score each (path, lane, days) once
        key, where = np.unique((rows * LANES + lane) * 1024 + np.minimum(days, 1023), return_inverse=True)
        series, d = key // 1024, (key % 1024).astype(np.float64)
        z = (np.log1p(d) - mu.reshape(-1)[series]) / sd.reshape(-1)[series]
        m = n.reshape(-1)[series]
        score = stats.norm.isf(stats.t.sf(z / np.sqrt(1.0 + 1.0 / m), m - 1.0))[where.reshape(paths, block)]
        for t in range(block):
            up = np.maximum(0.0, up + score[:, t] - k)
            down = np.maximum(0.0, down - score[:, t] - k)
            hit |= (up > h) | (down > h)
    rate = float(hit.mean())
    assert rate <= 0.03, rate
    assert rate >= 0.01, rate  # live, not switched off (se of the rate 0.55 %)


@pytest.mark.parametrize("k", [0.5, 1.0, 1.5])
def test_the_threshold_above_the_simulated_grid_gives_the_set_rate_on_independent_scores(k):
    """20,000 receipts a year, 8 times the grid's top: fresh N(0, 1) noise, a CUSUM written here."""
    h = float(lead_time_threshold(np.array([k]), np.array([20.0]), np.array([PER_YEAR]), RATE,
                                  np.array([LANES]))[0])
    rng = np.random.default_rng(int(k * 100))
    paths = 2000
    up, down, hit = np.zeros(paths), np.zeros(paths), np.zeros(paths, dtype=bool)
    for _ in range(PER_YEAR // 2000):
        z = rng.standard_normal((2000, paths))
        for t in range(2000):
            up = np.maximum(0.0, up + z[t] - k)
            down = np.maximum(0.0, down - z[t] - k)
            hit |= (up > h) | (down > h)
    rate = float(hit.mean())
    se = np.sqrt(RATE * (1 - RATE) / paths)
    assert abs(rate - RATE) < 4 * se, rate


def _receipts(suppliers: int, start: int, days: int, per_year: float, sigma: float, factor: float,
              seed: int) -> pa.Table:
    """Receipts of ``suppliers`` suppliers of ``LANES`` lanes each, ``per_year`` each a year."""
    own = np.random.default_rng(7)  # the lanes' usual lead times: the same in every call
    usual = np.exp(own.uniform(np.log(7), np.log(40), suppliers))[:, None] * np.exp(own.normal(0, 0.2, (suppliers, LANES)))
    rng = np.random.default_rng(seed)
    count = int(round(per_year * days / 365))
    sup = np.repeat(np.arange(suppliers), count)
    lane = rng.integers(0, LANES, sup.size)
    receipt = start + rng.integers(0, days, sup.size)  # receipts spread evenly over the days
    order = receipt - _days(rng, usual[sup, lane], sigma, factor).astype(np.int64)
    idx = np.lexsort((np.arange(sup.size), receipt))
    sup, lane, order, receipt = sup[idx], lane[idx], order[idx], receipt[idx]
    lane_names = pa.array([f"K{s}-{ln}" for s in range(suppliers) for ln in range(LANES)])
    return pa.table({
        "order_id": pa.array([f"o{seed}-{i:08d}" for i in range(sup.size)]),
        "sku": lane_names.take(pa.array(sup * LANES + lane)),
        "location": pa.array([f"L{ln % 7}" for ln in range(LANES)]).take(pa.array(lane)),
        "supplier": pa.array([f"SUP{s}" for s in range(suppliers)]).take(pa.array(sup)),
        "order_date": pa.array(order.astype(np.int32)).cast(pa.date32()),
        "receipt_date": pa.array(receipt.astype(np.int32)).cast(pa.date32()),
    })


def _first(table: pa.Table, per_supplier: int) -> pa.Table:
    sup = np.asarray(table.column("supplier").to_pylist())
    _, inverse = np.unique(sup, return_inverse=True)
    rank = np.zeros(sup.size, dtype=np.int64)
    seen = np.zeros(inverse.max() + 1, dtype=np.int64)
    for i, s in enumerate(inverse.tolist()):
        rank[i] = seen[s]
        seen[s] += 1
    return table.filter(pa.array(rank < per_supplier))


def _found_within_10(sigma: float, suppliers: int) -> float:
    history = _receipts(suppliers, 0, 400, PER_YEAR, sigma, 1.0, seed=1)
    state = fit_lead_time_state(history, RATE)
    assert (state.sup["per_year"] > 0.95 * PER_YEAR).all(), state.sup["per_year"]  # receipts in its last 365 days
    assert (state.sup["lanes"] == LANES).all()
    later = _first(_receipts(suppliers, 400, 2, PER_YEAR, sigma, 1.5, seed=2), 10)  # after the history
    alarms = update_lead_time_state(state, later)
    found = set(alarms.suppliers) | set(alarms.lanes.column("supplier").to_pylist())
    return len(found) / suppliers


def test_plus_50_percent_on_a_20000_receipt_supplier_found_within_10_receipts():
    """The real detectors, fitted on a year of 20,000 receipts per supplier (lanes' sd of log 0.2).

    Every lane of each of 40 suppliers turns 50 % slower; the supplier's next 10 receipts
    (10 different lanes, mostly) must raise an alarm for at least 36 of them.
    """
    assert _found_within_10(0.2, 40) >= 0.90
