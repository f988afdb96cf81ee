"""The ``signals`` forecaster: chooses the signal that leads demand, ignores noise, sharpens h = 1, 2."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from echelon_demand.models._common import subset
from echelon_demand.models.calibrated import CalibratedForecaster
from echelon_demand.models.signals import SignalsForecaster
from scipy import stats

from platform_core.batch import POLICY_COLUMNS
from platform_core.components import DemandSeries
from platform_core.config import load_config
from platform_core.data.generate import SIGNAL_COLUMNS, generate_dataset
from platform_core.data.loaders import load_dataset, write_table
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.scores import quantiles
from platform_core.forecasting.series import demand_series_from_table
from platform_core.pipeline import run
from platform_core.plugin_host import PluginHost

ROOT = Path(__file__).resolve().parents[2]


def _gaussian_case(n: int = 300, T: int = 60, seed: int = 4) -> tuple[DemandSeries, np.ndarray]:
    """y_t = 20 + 0.8 s_(t-2) + N(0, 4^2), s ~ N(50, 10^2) i.i.d., plus an unrelated signal.

    Returns the series (signals ``lead``, ``noise``) and the conditional mean of the next
    two periods, ``20 + 0.8 s_(T-1)`` and ``20 + 0.8 s_T``, per series.
    """
    rng = np.random.default_rng(seed)
    s_full = rng.normal(50.0, 10.0, (n, T + 2))  # column k: the signal of period k - 2
    y = np.maximum(np.round(20.0 + 0.8 * s_full[:, :T] + rng.normal(0.0, 4.0, (n, T))), 0.0)
    sig = s_full[:, 2:]  # signals of periods 0 .. T-1
    noise = rng.normal(0.0, 1.0, (n, T))
    X = np.stack([sig.reshape(-1), noise.reshape(-1)], axis=1)
    series = DemandSeries([f"s{i}" for i in range(n)], y.reshape(-1), np.zeros(n * T, dtype=bool),
                          np.arange(0, n * T + 1, T), exogenous=X, exogenous_names=("lead", "noise"))
    cond = 20.0 + 0.8 * sig[:, -2:]  # periods T and T + 1 depend on the signals of T - 2 and T - 1
    return series, cond


def test_chooses_the_leading_lag_and_matches_the_gaussian_conditional_quantiles():
    series, cond = _gaussian_case()
    f = SignalsForecaster(base="normal").fit(series)  # the base serves only where no signal helps
    assert [e["features"] for e in f.model_["horizons"]] == [[["lead", 2]], [["lead", 2]]]
    assert f.model_["horizons"][0]["coef"][1] == pytest.approx(0.8 * 10 / np.sqrt(0.64 * 100 + 16), abs=0.03)
    q = np.array([quantiles(h, np.array([0.5, 0.9])) for h in f.horizon_demand()])  # (n, H, 2)
    # analytic: median = conditional mean, q90 = mean + 1.2816 * 4 (demand rounded: +-0.5)
    assert np.abs(q[:, :, 0] - cond).mean() < 1.0
    q90 = cond + stats.norm.ppf(0.9) * 4.0
    assert np.abs(q[:, :, 1] - q90).mean() < 1.2
    # calibration against the true conditional law: P(y <= q90) over the series
    share = stats.norm.cdf((q[:, :, 1] + 0.5 - cond) / 4.0).mean()
    assert 0.87 < share < 0.94


def test_noise_alone_falls_back_to_the_history_only_default_exactly():
    series, _ = _gaussian_case(n=120, T=40)
    noise = DemandSeries(series.keys, series.values, series.stocked_out, series.indptr,
                         exogenous=series.exogenous[:, 1:], exogenous_names=("noise",))
    f = SignalsForecaster().fit(noise)
    assert all(not e["features"] for e in f.model_["horizons"])
    cal = CalibratedForecaster().fit(series)
    lts = [DiscreteDistribution.point(1)] * len(series)
    review = np.ones(len(series), dtype=np.int64)
    f.set_replenishment(lts, review)
    cal.set_replenishment(lts, review)
    for a, b in zip(f.period_demand(), cal.period_demand(), strict=True):
        assert a.offset == b.offset and np.array_equal(a.pmf, b.pmf)


def test_noise_signals_are_never_chosen_over_many_draws():
    # 12 draws of demand with two pure-noise signals (one i.i.d., one a random walk): the
    # selection must reject every (signal, lag) at both horizons
    for seed in range(12):
        rng = np.random.default_rng(100 + seed)
        n, T = 80, 40
        y = rng.poisson(rng.uniform(2, 30, n)[:, None], (n, T)).astype(float)
        X = np.stack([rng.normal(0, 1, (n, T)).reshape(-1), rng.normal(0, 1, (n, T)).cumsum(axis=1).reshape(-1)],
                     axis=1)
        series = DemandSeries([f"s{i}" for i in range(n)], y.reshape(-1), np.zeros(n * T, dtype=bool),
                              np.arange(0, n * T + 1, T), exogenous=X, exogenous_names=("iid", "walk"))
        f = SignalsForecaster(base="poisson").fit(series)
        assert all(not e["features"] for e in f.model_["horizons"]), (seed, f.model_["horizons"])


def test_pooled_params_make_a_series_forecast_independent_of_its_batch():
    series, _ = _gaussian_case(n=80, T=40, seed=9)
    n = len(series)
    lts, review = [DiscreteDistribution.point(1)] * n, np.ones(n, dtype=np.int64)
    params = SignalsForecaster.pooled_params({}, series, lts, review)  # what the driver does
    assert params["model"]["horizons"][0]["features"] == [["lead", 2]]
    assert "class_params" in params["base_params"]
    whole = SignalsForecaster(**params).fit(series)
    whole.set_replenishment(lts, review)
    idx = np.arange(5, 80, 7)
    part = SignalsForecaster(**params).fit(subset(series, idx))
    part.set_replenishment([lts[i] for i in idx], review[idx])
    for a, b in zip([whole.period_demand()[i] for i in idx], part.period_demand(), strict=True):
        assert a.offset == b.offset and np.array_equal(a.pmf, b.pmf)
    for a, b in zip([whole.horizon_demand()[i] for i in idx], part.horizon_demand(), strict=True):
        assert all(x.offset == y.offset and np.array_equal(x.pmf, y.pmf) for x, y in zip(a, b, strict=True))


def _bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import signals as bench  # benchmarks/signals.py
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return bench


@pytest.fixture(scope="module")
def signal_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sig") / "data"
    generate_dataset(out, sku_locations=60, seed=18, periods=60, signals=True)
    return out


def test_lowers_the_scaled_pinball_loss_at_090_by_at_least_20_percent(signal_data):
    ds = load_dataset(signal_data)
    series = demand_series_from_table(ds.demand, ds.get("signals"))
    res = _bench().backtest_signals(series, origins=2, step=3, variants={
        "signals": SIGNAL_COLUMNS, "lead_only": SIGNAL_COLUMNS[:1]})
    s = res["scores"]
    assert s["signals"]["n"] == s["calibrated"]["n"] > 100
    assert 1.0 - s["signals"]["spl_90"] / s["calibrated"]["spl_90"] >= 0.20
    assert 0.8 < s["signals"]["share_at_or_below_q90"] < 0.97
    for model in res["models"]["signals"]:  # the noise gets no weight: the lead-only model exactly
        assert {f for e in model["horizons"] for f, _ in e["features"]} == {"pos_lead2"}
    assert [m["horizons"] for m in res["models"]["signals"]] == [m["horizons"] for m in res["models"]["lead_only"]]


def _config(forecaster: str):
    return load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                  "components": {"forecaster": forecaster},
                                  "solver": {"replications": 30, "periods": 200}})


def _copy_with_signals(src: Path, dst: Path, columns: tuple[str, ...]) -> Path:
    dst.mkdir(parents=True)
    for f in src.glob("*.parquet"):
        if f.name != "signals.parquet":
            (dst / f.name).write_bytes(f.read_bytes())
    if columns:
        t = pq.read_table(src / "signals.parquet")
        write_table(t.select(["sku", "location", "period", *columns]), dst / "signals.parquet")
    return dst


def test_a_run_with_the_noise_signals_recommends_exactly_what_it_does_without_them(tmp_path):
    host = PluginHost()
    assert host.forecaster("signals") is SignalsForecaster
    signal_data = tmp_path / "data"
    generate_dataset(signal_data, sku_locations=30, seed=7, periods=52, signals=True)
    lead = _copy_with_signals(signal_data, tmp_path / "lead", SIGNAL_COLUMNS[:1])
    noise = _copy_with_signals(signal_data, tmp_path / "noise", SIGNAL_COLUMNS[1:])
    cols = [*POLICY_COLUMNS, "expected_fill_rate", "inventory_investment"]
    all_ = pq.read_table(run(signal_data, tmp_path / "o_all", _config("signals")).recommendations_path)
    only = pq.read_table(run(lead, tmp_path / "o_lead", _config("signals")).recommendations_path)
    assert pc.all(pc.equal(all_.column("status"), "ok")).as_py()
    assert all_.select(cols).equals(only.select(cols))
    # noise alone chooses no signal (its forecasts are then calibrated's exactly, see the test above),
    # and the leading signal does reach the run: levels move against it
    sig_noise = pq.read_table(run(noise, tmp_path / "o_noise", _config("signals")).recommendations_path)
    moved = pc.sum(pc.not_equal(all_.column("base_stock_level"), sig_noise.column("base_stock_level"))).as_py()
    assert moved >= all_.num_rows // 4


def test_the_plan_puts_each_stage_signals_on_the_grid_only_for_a_forecaster_that_uses_them(tmp_path):
    import uuid

    from platform_core.batch import demand_series
    from platform_core.pipeline import plan_dataset, prepare_components
    from platform_core.run_context import RunContext

    data = tmp_path / "data"
    generate_dataset(data, sku_locations=20, seed=4, periods=20, signals=True)
    ds = load_dataset(data)
    host = PluginHost()
    planned = {}
    for name in ("calibrated", "signals"):
        config = _config(name)
        ctx = RunContext(run_id=uuid.uuid4().hex, data_dir=data, out_dir=tmp_path / "unused", config=config)
        planned[name] = plan_dataset(ds, config, prepare_components(host, config, ctx))[0]
    assert planned["calibrated"].signals is None
    shared = planned["signals"]
    assert shared.signal_names == SIGNAL_COLUMNS and shared.signals.shape == (*shared.demand.shape, 3)
    rows = pq.read_table(data / "signals.parquet").to_pylist()  # every row, read back independently
    where = {(s, loc): i for i, (s, loc) in enumerate(zip(shared.sku, shared.location, strict=True))}
    first = min(r["period"] for r in rows)  # the generator's signals have the demand's rows
    for r in rows:
        k = (r["period"] - first).days // 7  # weekly grid from the first demand date
        assert shared.signals[where[(r["sku"], r["location"])], k].tolist() == [r[c] for c in SIGNAL_COLUMNS]
    assert np.isfinite(shared.signals).sum() == 3 * len(rows)  # nothing else is filled
    series = demand_series(shared, np.arange(len(shared.sku)))
    assert series.exogenous_names == SIGNAL_COLUMNS
    assert np.array_equal(series.exogenous, shared.signals.reshape(-1, 3), equal_nan=True)
