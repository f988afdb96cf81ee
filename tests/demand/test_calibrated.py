"""The ``calibrated`` forecaster and the fill-rate interval, checked on data with known truth.

Every check scores on *fresh* simulated periods (new random numbers, the same true
process), never on the history the forecaster was fitted on.  Tolerances are three
binomial standard errors of the exceedance (or coverage) rate, with the number of
*series* as the sample size (windows of one series share its level error, so counting
windows would overstate the information).
"""

from __future__ import annotations

import numpy as np
import pytest
from echelon_demand.models import FORECASTERS
from echelon_demand.models.calibrated import CalibratedForecaster, calibrate_period
from scipy import stats

from platform_core.components import DemandSeries
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.batch import compound_batch
from platform_core.forecasting.fill_interval import fill_rate_interval
from platform_core.forecasting.scores import quantiles

LEVELS = np.array([0.8, 0.9, 0.95])
T, H, L = 104, 26, 3


def _series(y: np.ndarray) -> DemandSeries:
    n, t = y.shape
    return DemandSeries([f"s{i}" for i in range(n)], y.reshape(-1).astype(np.float64),
                        np.zeros(n * t, dtype=bool), np.arange(0, n * t + 1, t))


def _growth_rates(n: int, growth: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Poisson rates of T + H periods growing by ``growth`` per period, mean 4..12 at t = 0."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(4.0, 12.0, n)
    lam = base[:, None] * (1.0 + growth) ** np.arange(T + H)[None, :]
    return lam, rng.poisson(lam[:, :T])


def _exceedance(dists: list[DiscreteDistribution], lam: np.ndarray, seed: int) -> np.ndarray:
    """Exceedance rates of the iid L-sum quantiles by fresh realised L-sums of the next H periods.

    One non-overlapping window per series and replicate of the future; 4 replicates."""
    n = len(dists)
    ltd = compound_batch(dists, [DiscreteDistribution.point(L)] * n, np.zeros(n, dtype=np.int64))
    q = quantiles(ltd, LEVELS)
    rng = np.random.default_rng(seed)
    hits = np.zeros(LEVELS.size)
    count = 0
    for _ in range(4):
        fut = rng.poisson(lam[:, T:])
        for start in range(0, H - L + 1, L):
            y = fut[:, start : start + L].sum(axis=1)
            hits += (y[:, None] > q).sum(axis=0)
            count += n
    return hits / count


def _tolerance(n_series: int) -> np.ndarray:
    return 3.0 * np.sqrt(LEVELS * (1.0 - LEVELS) / n_series)


def test_trend_is_calibrated_where_the_base_is_not() -> None:
    """Demand growing 1 %/period: the bootstrap's last-52-period PMF is biased low."""
    n = 300
    lam, y = _growth_rates(n, 0.01, seed=1)
    series = _series(y)
    base = FORECASTERS["calibrated"](base="bootstrap", lead_periods=L, horizon_periods=H).fit(series)
    from echelon_demand.bootstrap import BootstrapForecaster

    raw = BootstrapForecaster().fit(series).period_demand()
    tol = _tolerance(n)
    exc_raw = _exceedance(raw, lam, seed=2)
    exc_cal = _exceedance(base.period_demand(), lam, seed=2)
    claimed = 1.0 - LEVELS
    assert np.all(exc_raw - claimed > tol), (exc_raw, claimed, tol)  # the base is miscalibrated
    assert np.all(np.abs(exc_cal - claimed) <= tol), (exc_cal, claimed, tol)


def test_iid_demand_is_left_nearly_as_it_is() -> None:
    """Stationary Poisson demand: bootstrap is already right up to its sampling error."""
    n = 300
    lam, y = _growth_rates(n, 0.0, seed=3)
    fc = CalibratedForecaster(base="bootstrap", lead_periods=L, horizon_periods=H).fit(_series(y))
    fc.class_calibration()  # calibrates (on first use)
    # mean factor: realised / forecast over ~n*60 Poisson periods, SE ~ 1/sqrt(n*60*8) ~ 0.3 %
    assert np.all(np.abs(fc.mean_factor_ - 1.0) < 0.02)
    assert np.all((fc.stretch_ > 0.85) & (fc.stretch_ < 1.2))
    exc = _exceedance(fc.period_demand(), lam, seed=4)
    assert np.all(np.abs(exc - (1.0 - LEVELS)) <= _tolerance(n)), exc


def test_calibrate_period_moments() -> None:
    """Mean m mu and variance m^2 s^2 var, up to the integer split (<= 1/4 per period).

    A shrink (s < 1) of an intermittent PMF keeps its zeros and shrinks the sizes, so its
    variance cannot fall below the occurrence's own, m^2 p0 (1 - p0) mu_size^2."""
    d = DiscreteDistribution(np.array([0.5, 0.1, 0.1, 0.2, 0.1]), 0)
    mu_size = d.mean() / 0.5
    floor = 0.5 * 0.5 * mu_size**2  # 1.69 against var 2.21
    for m, s in ((1.1, 0.7), (1.1, 0.95), (0.9, 1.5), (1.0, 3.0)):
        c = calibrate_period(d, m, s)
        assert c.mean() == pytest.approx(m * d.mean(), rel=1e-9)
        want = m**2 * max(s**2 * d.var(), floor) if s < 1 else (m * s) ** 2 * d.var()
        assert abs(c.var() - want) <= 0.25 + 1e-9
        if s < 1:
            assert c.pmf[0] == pytest.approx(0.5)  # the zeros stay zeros
    smooth = DiscreteDistribution(np.array([0.2, 0.3, 0.3, 0.2]), 1)  # no zeros: affine shrink
    c = calibrate_period(smooth, 1.0, 0.5)
    assert abs(c.var() - 0.25 * smooth.var()) <= 0.25 + 1e-9


def _simulate_window_fill(mu: np.ndarray, level: float, lead: int, warm: int, rng: np.random.Generator) -> float:
    """Plain event-by-event base-stock simulation (R = 1, backorders) of one window.

    Independent of ``fill_interval``, with the engine's order of events (docs/simulation.md):
    receipts, then the order (last period's demand, arriving ``lead`` periods later), then
    demand; explicit on-hand, backlog and pipeline bookkeeping."""
    on_hand, backlog, last = level, 0.0, 0.0
    pipeline = [0.0] * lead
    short = dem = 0.0
    for t in range(warm + mu.size):
        if lead:
            on_hand += pipeline.pop(0)
            pipeline.append(last)
        else:
            on_hand += last
        served_backlog = min(on_hand, backlog)
        on_hand -= served_backlog
        backlog -= served_backlog
        d = float(rng.poisson(mu[t - warm] if t >= warm else mu[0]))
        served = min(on_hand, d)
        on_hand -= served
        backlog += d - served
        last = d
        if t >= warm:
            short += d - served
            dem += d
    return 1.0 - short / dem


@pytest.mark.parametrize("level_sd", [0.0, 0.25])
def test_fill_interval_covers_fresh_windows(level_sd: float) -> None:
    """80 % interval vs the fill of fresh 26-period windows of the true process."""
    mu0, lead, level = 6.0, 2, 20.0
    # promise: long-run fill, analytic for R = 1: 1 - (E(D_{L+1} - S)+ - E(D_L - S)+) / mu
    # (the period's demand is short by what exceeds S over L+1 periods, less the backlog
    # already there); with level uncertainty: averaged over the lognormal level
    z = stats.norm.ppf((np.arange(16) + 0.5) / 16)
    theta = np.exp(level_sd * z - 0.5 * level_sd**2)

    def loss(m: float) -> float:
        k = np.arange(0, 400)
        return float(np.sum(np.maximum(k - level, 0.0) * stats.poisson.pmf(k, m)))

    shorts = np.array([loss((lead + 1) * mu0 * t) - loss(lead * mu0 * t) for t in theta])
    promise = 1.0 - float(np.sum(shorts)) / float(np.sum(mu0 * theta))
    ratios = theta[None, :] if level_sd > 0 else None
    lo, hi = fill_rate_interval([DiscreteDistribution.poisson(mu0)], np.array([level]), np.array([promise]),
                                np.array([lead]), np.array([1]), np.array([7]), ratios, H, windows=400)
    rng = np.random.default_rng(11)
    n = 400
    fills = np.array([_simulate_window_fill(np.full(H, mu0 * theta[j % theta.size]), level, lead, warm=30, rng=rng)
                      for j in range(n)])
    # each end is a 10 % / 90 % quantile; a window's fill has an atom at 1.0, so the upper
    # end is checked only where it is below 1 (at 1.0 nothing can lie above it)
    tol = 3.0 * np.sqrt(0.09 / n)
    below, above = float(np.mean(fills < lo[0])), float(np.mean(fills > hi[0]))
    assert abs(below - 0.1) <= tol, (below, lo, hi, promise)
    assert abs(above - 0.1) <= tol if hi[0] < 1.0 else above == 0.0, (above, lo, hi, promise)


def test_same_seed_same_numbers_and_batch_invariance() -> None:
    lam, y = _growth_rates(120, 0.005, seed=5)
    y = y.astype(np.float64)
    y[::3, ::2] = 0.0  # some intermittent series, so several classes are pooled
    full = CalibratedForecaster(lead_periods=L).fit(_series(y))
    again = CalibratedForecaster(lead_periods=L).fit(_series(y))
    for a, b in zip(full.period_demand(), again.period_demand(), strict=True):
        assert a.offset == b.offset and np.array_equal(a.pmf, b.pmf)
    # with the pooled parameters fixed, a series' result does not depend on its batch
    alone_rows = np.arange(0, 120, 7)
    sub = DemandSeries([f"s{i}" for i in alone_rows], y[alone_rows].reshape(-1),
                       np.zeros(alone_rows.size * T, dtype=bool), np.arange(0, alone_rows.size * T + 1, T))
    fixed = CalibratedForecaster(lead_periods=L, class_params=full.class_calibration()).fit(_series(y))
    alone = CalibratedForecaster(lead_periods=L, class_params=full.class_calibration()).fit(sub)
    for k, i in enumerate(alone_rows):
        a, b = fixed.period_demand()[i], alone.period_demand()[k]
        assert a.offset == b.offset and np.allclose(a.pmf, b.pmf, rtol=0, atol=1e-12)
    # fill interval: a stage's interval does not depend on the other stages fitted with it
    d = fixed.period_demand()
    lv = np.array([dd.quantile(0.95) * (L + 1) for dd in d], dtype=np.float64)
    args = (np.full(120, 0.9), np.full(120, 2), np.ones(120, dtype=np.int64), np.arange(120) + 99)
    lo_all, hi_all = fill_rate_interval(d, lv, *args, fixed.demand_level_ratios())
    lo_one, hi_one = fill_rate_interval([d[5]], lv[5:6], *(a[5:6] for a in args), fixed.demand_level_ratios()[5:6])
    assert lo_all[5] == lo_one[0] and hi_all[5] == hi_one[0]


def test_documented_configuration_builds_the_forecaster(tmp_path) -> None:
    """The TOML of docs/calibration.md loads and its [forecaster] section builds ``calibrated``."""
    import re
    from pathlib import Path

    from platform_core.config import load_config

    doc = Path(__file__).resolve().parents[2] / "docs" / "calibration.md"
    (block,) = re.findall(r"^```toml\n(.*?)^```", doc.read_text(), re.M | re.S)
    (tmp_path / "echelon.toml").write_text(block)
    config = load_config(tmp_path / "echelon.toml")
    assert config.components.forecaster == "calibrated"
    fc = FORECASTERS["calibrated"](**config.component_params("forecaster"))
    assert list(fc.base) == ["bootstrap", "negbin"] and fc.horizon_periods == 26


def test_lead_time_demand_is_the_iid_sum_calibrated_for_that_lead_time() -> None:
    """What a backtest scores is what the solvers use: the i.i.d. sum of the calibrated PMF."""
    lam, y = _growth_rates(60, 0.01, seed=9)
    fc = CalibratedForecaster(horizon_periods=H).fit(_series(y))
    lts = [DiscreteDistribution.point(L)] * 60
    ltd = fc.lead_time_demand(lts, np.zeros(60, dtype=np.int64), np.arange(60, dtype=np.uint64))
    assert np.all(fc.lead_periods_ == L)
    again = compound_batch(fc.period_demand(), lts, np.zeros(60, dtype=np.int64))
    for a, b in zip(ltd, again, strict=True):
        assert a.offset == b.offset and np.allclose(a.pmf, b.pmf, atol=1e-12)


def test_a_stockout_in_the_backtest_is_scored_at_the_expected_demand_given_the_sales() -> None:
    """A censored held-out period counts as ``E[D | D >= sales]`` under the base at that origin."""
    rng = np.random.default_rng(4)
    y = rng.poisson(10.0, 120).astype(float)
    flags = np.zeros(120, dtype=bool)
    flags[-5] = True  # inside the last backtest window (horizon 26, first origin)
    y[-5] = 9.0  # sold out at 9: demand was at least 9
    series = DemandSeries(keys=["a@b"], values=y, stocked_out=flags, indptr=np.array([0, 120]))
    f = CalibratedForecaster(horizon_periods=26, origins=1).fit(series)
    idx, dists, real = f.bt_[0]
    h = 26 - 5
    d = dists[0]
    tail = d.support >= 9
    expected = float((d.support[tail] * d.pmf[tail]).sum() / d.pmf[tail].sum())
    assert real[0, h] == pytest.approx(expected, rel=1e-12) and expected > 9.0
    assert real[0, h - 1] == y[-6]  # uncensored periods as observed


def test_pool_weights_go_to_the_member_whose_quantiles_are_right() -> None:
    """Over-dispersed demand (negative binomial, variance 4x the mean): a Poisson member's
    upper quantiles are too low, so the backtest's quantile loss puts the pool's weight on
    ``negbin``; and the pool is the linear mixture of the members' PMFs."""
    from echelon_demand.models.calibrated import _mix

    rng = np.random.default_rng(7)
    n, t, mean = 120, 78, 6.0
    y = rng.negative_binomial(mean / 3.0, 0.25, size=(n, t))  # mean 6, variance 24
    fc = CalibratedForecaster(base=("poisson", "negbin"), lead_periods=L, horizon_periods=H).fit(_series(y))
    params = fc.class_calibration()
    labels, counts = np.unique(np.asarray(fc.classes_, dtype=str), return_counts=True)
    for cls in labels[counts >= 20]:  # classes with enough series to choose weights
        assert params[cls]["weight_negbin"] >= 0.75, (cls, params[cls])
    a, b = DiscreteDistribution.poisson(2.0), DiscreteDistribution(np.array([0.5, 0.0, 0.0, 0.0, 0.5]), 0)
    mixed = _mix([a, b], np.array([0.25, 0.75]))
    assert mixed.mean() == pytest.approx(0.25 * 2.0 + 0.75 * 2.0)
    assert mixed.pmf[4 - mixed.offset] == pytest.approx(0.25 * a.pmf[4 - a.offset] + 0.75 * 0.5)
