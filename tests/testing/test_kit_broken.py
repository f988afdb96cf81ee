"""Deliberately broken components fail the kit with a message saying what is wrong."""

import threading

import numpy as np
import pyarrow as pa
import pytest

from platform_core.components import CostModel, Forecaster, LeadTimeModel, Solver, StageCosts
from platform_core.distributions import DiscreteDistribution
from platform_core.executor import Executor
from platform_core.testing import ComponentUnderTest, check_component, check_forecaster, checks_for
from platform_core.testing.solver_checks import poisson_fill_rate


def run_check(cls, name, **params):
    spec = ComponentUnderTest(cls, params)
    (check,) = [c for c in checks_for(spec.family) if c.name == name]
    check(spec)


# ---- forecasters ----------------------------------------------------------------------------


class MeanForecaster(Forecaster):
    """A correct baseline: Poisson with the mean of the observed periods."""

    def __init__(self, floor: float = 0.0):
        self.floor = floor

    def _means(self, demand):
        means = []
        for i in range(len(demand)):
            values, _ = demand.series(i)
            ok = values[np.isfinite(values)]
            means.append(max(float(ok.mean()) if ok.size else 0.0, self.floor))
        return means

    def fit(self, demand):
        self.means_ = self._means(demand)
        return self

    def period_demand(self):
        return [DiscreteDistribution.poisson(m) for m in self.means_]


class LeakyForecaster(MeanForecaster):
    """Series 3's PMF loses 7 % of its mass (sums to 0.93)."""

    def period_demand(self):
        out = super().period_demand()
        if len(out) > 3:
            out[3] = DiscreteDistribution._trusted(out[3].pmf * 0.93, out[3].offset)
        return out


class UnseededForecaster(MeanForecaster):
    """Jitters every mean with an unseeded generator."""

    def fit(self, demand):
        rng = np.random.default_rng()
        self.means_ = [m + rng.uniform(0.0, 0.5) for m in self._means(demand)]
        return self


class UnpicklableForecaster(MeanForecaster):
    """Keeps a lock (no pickle can ship it to a Ray worker)."""

    def fit(self, demand):
        self.lock_ = threading.Lock()
        return super().fit(demand)


class LeakyUnpicklableForecaster(LeakyForecaster, UnpicklableForecaster):
    """Both of the above."""


def test_a_correct_forecaster_passes():
    check_forecaster(MeanForecaster)


def test_pmf_not_summing_to_one_fails():
    with pytest.raises(AssertionError) as err:
        run_check(LeakyForecaster, "pmf_sums_to_one")
    assert str(err.value) == (
        "forecaster 'LeakyForecaster': period_demand()[3] sums to 0.93, expected 1 (PMFs must sum to one)"
    )


def test_unseeded_forecaster_fails_determinism():
    with pytest.raises(AssertionError, match=r"differs between two fresh instances fitted on the same data") as err:
        run_check(UnseededForecaster, "deterministic")
    assert "forecaster 'UnseededForecaster': period_demand()[0]" in str(err.value)
    assert "expected identical results" in str(err.value)


def test_unpicklable_forecaster_fails():
    with pytest.raises(AssertionError) as err:
        run_check(UnpicklableForecaster, "picklable")
    message = str(err.value)
    assert message.startswith("forecaster 'UnpicklableForecaster': a fitted instance does not pickle")
    assert "cannot pickle '_thread.lock' object" in message and "keep only picklable state" in message


def test_check_component_lists_every_failure():
    with pytest.raises(AssertionError) as err:
        check_component(LeakyUnpicklableForecaster, "forecaster", name="mine")
    message = str(err.value)
    # series 3 leaks only in batches of 4+ series, so a per-series fit differs too
    assert message.startswith("forecaster 'mine' failed 3 of 17 conformance checks:\n")
    assert "\n  - pmf_sums_to_one: forecaster 'mine': period_demand()[3] sums to 0.93" in message
    assert "\n  - picklable: forecaster 'mine': a fitted instance does not pickle" in message
    assert "\n  - local_fit_is_per_series: forecaster 'mine': period_demand()[3] (intermittent@DC1) differs" in message


def test_forecaster_raising_on_missing_history_fails():
    class Strict(MeanForecaster):
        def fit(self, demand):
            for i in range(len(demand)):
                if not np.isfinite(demand.series(i)[0]).any():
                    raise ValueError("no history")
            return super().fit(demand)

    with pytest.raises(AssertionError, match=r"fit\(\) on a batch of a regular series and one all-missing "
                                             r"series raised ValueError: no history; expected it to succeed"):
        run_check(Strict, "handles_all_missing_series")


# ---- solvers -------------------------------------------------------------------------------


def _table(problem, levels, fill, *, source="input", rows=None):
    n = len(problem.keys) if rows is None else rows
    levels = np.asarray(levels, dtype=np.float64)[:n]
    target = np.asarray(problem.service_target, dtype=np.float64)[:n]
    return pa.table({
        "policy_type": ["base_stock"] * n,
        "service_metric": ["fill_rate"] * n,
        "service_target": target,
        "target_source": [source] * n,
        "base_stock_level": levels,
        "reorder_point": levels - 1.0,
        "order_up_to": levels,
        "safety_stock": levels,
        "mean_demand_per_period": np.array([d.mean() for d in problem.period_demand])[:n],
        "mean_lead_time_periods": np.array([lt.mean() for lt in problem.lead_time])[:n],
        "expected_fill_rate": np.asarray(fill, dtype=np.float64)[:n],
        "fill_rate_se": np.zeros(n),
    })


def _cover(problem):
    """Mean demand over lead time + review [units] per stage."""
    return np.array([d.mean() * (lt.mean() + r) for d, lt, r in
                     zip(problem.period_demand, problem.lead_time, problem.review_period, strict=True)])


class MeanCoverSolver(Solver):
    """Base class of the broken solvers: the level covers mean demand plus a margin."""

    def __init__(self, margin: float = 0.0):
        self.margin = margin

    def solve(self, problem):
        levels = np.ceil(_cover(problem) + self.margin)
        return _table(problem, levels, np.full(len(problem.keys), 0.99))


class WrongRowsSolver(MeanCoverSolver):
    def solve(self, problem):
        return _table(problem, np.ceil(_cover(problem)), np.full(len(problem.keys), 0.99),
                      rows=len(problem.keys) - 1)


class NegativeLevelSolver(MeanCoverSolver):
    def solve(self, problem):
        return _table(problem, _cover(problem) - 100.0, np.full(len(problem.keys), 0.99))


class IgnoresTargetsSolver(MeanCoverSolver):
    """Says it met the input targets, sets mean cover whatever the target."""


def test_solver_with_wrong_number_of_rows_fails():
    with pytest.raises(AssertionError) as err:
        run_check(WrongRowsSolver, "one_row_per_stage")
    assert str(err.value) == (
        "solver 'WrongRowsSolver': solve() returned 2 rows for the 3 stages of the kit's 3-stage problem, "
        "expected one row per stage, in problem order"
    )


def test_solver_with_negative_levels_fails():
    with pytest.raises(AssertionError) as err:
        run_check(NegativeLevelSolver, "levels_non_negative")
    assert str(err.value) == (
        "solver 'NegativeLevelSolver': base_stock_level of stage 0 (A1@STORE1) in the kit's 3-stage "
        "problem is -94, expected >= 0"
    )


def test_solver_ignoring_targets_fails_the_analytic_case():
    with pytest.raises(AssertionError) as err:
        run_check(IgnoresTargetsSolver, "meets_analytic_targets")
    true_fill = poisson_fill_rate(15, 5.0, 2)
    assert str(err.value) == (
        "solver 'IgnoresTargetsSolver': base_stock_level of stage 1 (P1@STORE) is 15 for a fill_rate target "
        "of 0.95 on the analytic problem (Poisson(5) demand, lead time 2, review 1); its true fill_rate is "
        f"{true_fill:.4f}, and the smallest level meeting the target is 20: expected a level within 2 units of it"
    )


def test_solver_claiming_a_fill_it_does_not_reach_fails():
    class Honest(MeanCoverSolver):
        def solve(self, problem):
            levels = np.ceil(_cover(problem))
            fill = [poisson_fill_rate(s, 5.0, 2) for s in levels]
            return _table(problem, levels, fill)

    with pytest.raises(AssertionError, match=r"expected_fill_rate of stage 0 \(P0@STORE\) in the analytic "
                                             r"problem .* is 0\.7\d+ \(SE 0\.0000\) for an input target of 0\.8; "
                                             r"expected at least the target - 3 SE = 0\.8000"):
        run_check(Honest, "meets_analytic_targets")


def test_analytic_check_does_not_apply_to_cost_optimal_solvers():
    from platform_core.testing import NotApplicable

    class CostOnly(MeanCoverSolver):
        def solve(self, problem):
            return _table(problem, np.ceil(_cover(problem)), np.full(len(problem.keys), 0.5),
                          source="cost_optimal")

    with pytest.raises(NotApplicable, match="sets no customer-facing target from the input"):
        run_check(CostOnly, "meets_analytic_targets")


def test_solver_with_bad_capabilities_fails():
    class Sloppy(MeanCoverSolver):
        replications = 0
        work_exponent = -1.0

    with pytest.raises(AssertionError, match=r"replications is 0, expected an integer >= 1"):
        run_check(Sloppy, "capabilities_sane")


# ---- lead time, cost, executor -------------------------------------------------------------


class DaysLeadTime(LeadTimeModel):
    """Forgets to convert days to periods."""

    def fit(self, receipts):
        days = pa.compute.days_between(receipts.column("order_date"), receipts.column("receipt_date"))
        self.days_ = np.asarray(days.to_numpy(zero_copy_only=False))
        return self

    def predict(self, lanes, period_days):
        return [DiscreteDistribution.from_samples(self.days_) for _ in range(lanes.num_rows)]


def test_lead_time_in_days_fails():
    with pytest.raises(AssertionError, match=r"lead_time 'DaysLeadTime': lane 0 \(A1, DC1, S1\) has a mean "
                                             r"lead time of [\d.]+ periods at period_days=7, outside \[0, 6\]"):
        run_check(DaysLeadTime, "lead_time_in_periods")


class ShortCostModel(CostModel):
    """Drops the last stage."""

    def stage_costs(self, stages, overrides, period_days):
        n = stages.num_rows - 1
        return StageCosts(np.ones(n), np.ones(n), np.zeros(n), np.full(n, 0.5))


def test_misaligned_costs_fail():
    with pytest.raises(AssertionError, match=r"cost 'ShortCostModel': stage_costs\(the kit's stages\)"
                                             r"\.holding_cost has shape \(3,\) for 4 stage rows"):
        run_check(ShortCostModel, "costs_non_negative")


class EchoExecutor(Executor):
    """Calls back twice for the first batch."""

    def map_batches(self, fn, batches, shared, on_result):
        for i, batch in enumerate(batches):
            on_result(i, fn(batch, shared))
        if batches:
            on_result(0, fn(batches[0], shared))


def test_executor_calling_back_twice_fails():
    with pytest.raises(AssertionError) as err:
        run_check(EchoExecutor, "calls_back_once_per_batch")
    assert str(err.value) == (
        "executor 'EchoExecutor': map_batches called back with batch indices [0, 0, 1, 2, 3, 4] for 5 batches, "
        "expected each index 0..4 exactly once"
    )
