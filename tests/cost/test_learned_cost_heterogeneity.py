"""The learned stockout cost when customer segments differ strongly, and the benchmark's exact costing.

* ``CustomerBehaviour.with_spread``: 1 is the generator's behaviour, 0 makes the segments
  alike, larger values move each segment's logit away from the mean by that factor;
* the switching model with ``prior_sd="auto"`` against the generator's truth at spread 3
  (segment logits 15 apart): the key accounts' switching probability and every segment's
  volume loss near the truth, and the lost future units ``F`` per stage not compressed
  (a fixed ``prior_sd=1`` is checked to fail the same bounds: the test can fail);
* ``exact_cost_curves`` of ``benchmarks/learned_cost.py`` against the definition summed by
  brute force over the demand outcomes and against the engine's single-stage simulation.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow.parquet as pq
import pytest
from echelon_cost.learned import SwitchingModel

from platform_core.data.generate import generate_dataset
from platform_core.data.generate_costs import CustomerBehaviour, true_future_units
from platform_core.data.loaders import load_dataset
from platform_core.distributions import DiscreteDistribution
from platform_core.simulation.single_stage import evaluate_base_stock

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import learned_cost as bench  # benchmarks/learned_cost.py
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return bench


def test_with_spread_scales_the_segment_logits() -> None:
    b = CustomerBehaviour()
    assert b.with_spread(1.0) == b
    same = b.with_spread(0.0)
    assert len(set(same.switch_alpha)) == 1 and same.switch_beta == 0.0
    assert np.allclose(same.volume_loss, same.volume_loss[0])
    a, a3 = np.array(b.switch_alpha), np.array(b.with_spread(3.0).switch_alpha)
    assert np.allclose(a3 - a3.mean(), 3.0 * (a - a.mean())) and np.isclose(a3.mean(), a.mean())
    logit = np.log(np.array(b.volume_loss) / (1.0 - np.array(b.volume_loss)))
    v3 = np.array(b.with_spread(3.0).volume_loss)
    assert np.allclose(np.log(v3 / (1.0 - v3)) - logit.mean(), 3.0 * (logit - logit.mean()))
    with pytest.raises(ValueError, match="spread"):
        b.with_spread(-1.0)
    with pytest.raises(ValueError, match="segment_share"):
        CustomerBehaviour(segment_share=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="volume_loss"):
        CustomerBehaviour(volume_loss=(0.0, 0.2, 0.5))


@pytest.fixture(scope="module")
def spread_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spread") / "data"
    behaviour = CustomerBehaviour(segment_mix_concentration=0.15).with_spread(3.0)
    generate_dataset(out, 300, 0, overwrite=True, cost_history=True, customer_behaviour=behaviour)
    return out


def _fit(data: Path, prior_sd: float | str) -> dict[str, np.ndarray | float]:
    ds = load_dataset(data)
    model = SwitchingModel(prior_sd=prior_sd, replications=2, seed=0).fit(ds.tables["order_lines"], ds.stages, 7)
    truth = pq.read_table(data / "truth" / "customer_truth.parquet")
    rel = model.relationships_
    of = {c: i for i, c in enumerate(truth.column("customer").to_pylist())}
    idx = np.array([of[c] for c in rel.customer])
    p, v = model.predict(rel.segment, rel.margin_rate)
    key = model.segments_.index("key")
    f_est = model.stage_estimates(ds.stages.num_rows, 52.0)["future_units"]
    f_true = true_future_units(truth, ds.stages, 52.0)
    ok = np.isfinite(f_est) & np.isfinite(f_true)
    slope = float(np.polyfit(np.log1p(f_true[ok]), np.log1p(f_est[ok]), 1)[0])
    k = rel.segment == key
    return {"p_key": float(p[k].mean()), "p_key_true": float(truth.column("switch_probability").to_numpy()[idx][k].mean()),
            "v_err": float(np.max([abs(v[rel.segment == s].mean()
                                       - truth.column("volume_loss").to_numpy()[idx][rel.segment == s].mean())
                                   for s in range(len(model.segments_))])),
            "slope": slope, "prior_sd": model.prior_sd_}


def test_auto_prior_recovers_strongly_different_segments(spread_data: Path) -> None:
    auto = _fit(spread_data, "auto")
    assert auto["p_key_true"] < 0.001  # the truth: key accounts almost never switch
    assert auto["p_key"] < 0.005, auto
    assert auto["v_err"] < 0.03, auto
    assert 0.93 <= auto["slope"] <= 1.07, auto  # F per stage on the log(1 + F) scale, not compressed
    assert min(auto["prior_sd"]) > 1.5, auto  # the spread it found is wide
    fixed = _fit(spread_data, 1.0)  # the former default shrinks the segments together
    assert fixed["p_key"] > 0.01 and fixed["slope"] < 0.85, fixed


def test_auto_prior_pools_alike_segments(tmp_path: Path) -> None:
    out = tmp_path / "data"
    generate_dataset(out, 200, 1, overwrite=True, cost_history=True,
                     customer_behaviour=CustomerBehaviour().with_spread(0.0))
    auto = _fit(out, "auto")
    assert max(auto["prior_sd"]) < 0.5, auto  # segments alike: pooled hard
    assert abs(auto["p_key"] - auto["p_key_true"]) < 0.03, auto
    assert auto["v_err"] < 0.03, auto


def _brute(pmf: np.ndarray, lead: int, level: int) -> tuple[float, float]:
    """E[(S - D_{L+1})^+] and E[units short] by summing over every demand outcome."""
    on_hand = short = 0.0
    grids = np.meshgrid(*[np.arange(pmf.size)] * (lead + 1), indexing="ij")
    prob = np.ones_like(grids[0], dtype=float)
    for g in grids:
        prob = prob * pmf[g]
    before = sum(grids[:lead]) if lead else np.zeros_like(grids[0])
    d_t = grids[lead]
    net_before = level - before  # net stock when the period's demand arrives
    on_hand = float(np.sum(prob * np.maximum(net_before - d_t, 0)))
    short = float(np.sum(prob * np.minimum(d_t, np.maximum(d_t - net_before, 0))))
    return on_hand, short


def test_exact_cost_curves_match_brute_force_and_simulation() -> None:
    bench = _bench()
    pmf = np.array([0.3, 0.1, 0.25, 0.2, 0.0, 0.15])
    on_hand, short = bench.exact_cost_curves(pmf, 2)
    assert on_hand.size == 16 and short[-1] == pytest.approx(0.0, abs=1e-12)
    for level in (0, 3, 6, 9, 12, 15):
        b_on, b_short = _brute(pmf, 2, level)
        assert on_hand[level] == pytest.approx(b_on, abs=1e-12)
        assert short[level] == pytest.approx(b_short, abs=1e-12)
    levels = np.array([4, 7, 10], dtype=np.int64)
    sim = evaluate_base_stock([DiscreteDistribution(pmf, 0)] * 3, [DiscreteDistribution.point(2)] * 3,
                              np.array([11, 12, 13], dtype=np.uint64), levels, replications=20, periods=4000,
                              warmup=20)
    for i, s in enumerate(levels):
        assert abs(sim.mean_on_hand[i] - on_hand[s]) < 4 * sim.mean_on_hand_se[i] + 1e-9
        assert abs(sim.mean_short[i] - short[s]) < 4 * sim.mean_short_se[i] + 1e-9


def test_auto_prior_keeps_segments_apart_with_few_events(tmp_path: Path) -> None:
    """30 SKU-locations, 5 key-account events: a noisy segment must not collapse the spread."""
    out = tmp_path / "data"
    generate_dataset(out, 30, 1, overwrite=True, cost_history=True)
    ds = load_dataset(out)
    model = SwitchingModel(replications=2, seed=0).fit(ds.tables["order_lines"], ds.stages, 7)
    seg = model.relationships_.segment[model.events_.relationship]
    assert np.bincount(seg, minlength=3)[model.segments_.index("key")] <= 8  # few key-account events
    order = [model.segments_.index(s) for s in ("key", "regular", "small")]
    p, _ = model.predict(np.array(order), np.full(3, model.margin_centre_))
    assert p[0] < p[1] < p[2] and p[2] - p[0] > 0.3, p  # truth at the centre margin: 0.011, 0.18, 0.62
    assert min(model.prior_sd_) > 0.5, model.prior_sd_
