"""The effect per wave: its 95 % interval covers the scenario's known truth; rates are exact.

The truth is the scenario's (``platform_core.rollout.scenario``: the generating
parameters, not an estimate).  The interval's standard error is checked against
statsmodels' cluster-robust OLS, an independent implementation.

**Coverage bound.**  ``SEEDS`` seeds x 3 waves x 2 outcomes = 36 intervals, at least 30
must cover.  At the nominal 95 % the chance of fewer is 0.2 % for independent intervals
(binomial(36, 0.95): P(X <= 29) = 0.0018); the two outcomes of a wave share a draw, so
pairs are also counted as one (18 pairs, at least 15 both covering: P(X <= 14 | 0.95) =
0.011).  A method covering only 60 % would pass with probability 0.002 (P(X >= 30 | 36,
0.6) = 0.0024).  The test cannot tell 95 % from 85 % (36 intervals are too few); that is the
job of ``benchmarks/rollout.py`` (the acceptance's 50 seeds, 300 intervals).
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from platform_core.rollout.effects import did_cluster, wave_effects
from platform_core.rollout.ledger import build_ledger
from platform_core.rollout.plan import plan_rollout
from platform_core.rollout.scenario import generate_outcomes

SEEDS = 6


def test_binomial_bound_of_this_file():
    assert stats.binom.cdf(29, 36, 0.95) < 0.002
    assert stats.binom.cdf(14, 18, 0.95) < 0.012
    assert stats.binom.sf(29, 36, 0.60) < 0.003


@pytest.fixture(scope="module")
def runs(rollout_units):
    out = []
    for seed in range(SEEDS):
        plan = plan_rollout(rollout_units, waves=3, rule="abc", control_fraction=0.3, seed=100 + seed)
        table, truth = generate_outcomes(rollout_units, plan, seed=100 + seed, override_rate=0.25)
        ledger = build_ledger(rollout_units, plan, table)
        out.append((truth, ledger, wave_effects(ledger)))
    return out


def test_interval_covers_the_true_effect(runs):
    covered, pairs = 0, 0
    for truth, _, effects in runs:
        by_wave: dict[int, bool] = {}
        for e in effects:
            key = "fill_effect" if e.outcome == "fill" else "inventory_value_effect"
            hit = e.ci_low <= truth["waves"][str(e.wave)][key] <= e.ci_high
            covered += hit
            by_wave[e.wave] = by_wave.get(e.wave, True) and hit
        pairs += sum(by_wave.values())
    assert len(runs) * 6 == 36
    assert covered >= 30, covered
    assert pairs >= 15, pairs


def test_adoption_and_override_rates_are_exact(runs):
    for truth, ledger, effects in runs:
        for e in effects:
            t = truth["waves"][str(e.wave)]
            assert e.adoption_rate == t["adopted_units"] / t["treated_units"]
            assert e.override_rate == t["overridden_units"] / t["treated_units"]
            assert e.treatment_units <= t["treated_units"]
            assert e.mean_override_units == pytest.approx(t["mean_override_units"])
        # the ledger marks every treated post row, and only those, adopted or overridden
        post_treated = (ledger["group"] == "treatment") & (ledger["period"] >= ledger["wave_start"])
        assert (ledger.loc[post_treated, "status"] != "today").all()
        assert (ledger.loc[~post_treated, "status"] == "today").all()


def test_cluster_robust_se_matches_statsmodels():
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(40), rng.integers(1, 12, size=40))
    treated = np.isin(clusters, rng.choice(40, size=15, replace=False))
    y = 0.3 * treated + rng.normal(size=40)[clusters] + rng.normal(size=clusters.size)
    est, se, lo, hi, df = did_cluster(y, treated, clusters)
    fit = sm.OLS(y, sm.add_constant(treated.astype(float))).fit(cov_type="cluster", cov_kwds={"groups": clusters},
                                                                 use_t=True)
    assert est == pytest.approx(fit.params[1], rel=1e-12)
    assert se == pytest.approx(fit.bse[1], rel=1e-10)
    ci = fit.conf_int(0.05)[1]
    assert (lo, hi) == pytest.approx((ci[0], ci[1]), rel=1e-10)
    assert df == 39
