"""Conformance checks of the forecaster family (:class:`~platform_core.components.Forecaster`).

Every check fits fresh instances on the kit's own series (:mod:`platform_core.testing.inputs`).
Decisions the checks encode:

* every distribution is a :class:`~platform_core.distributions.DiscreteDistribution`
  with finite, non-negative probabilities summing to one and a finite mean;
* edge cases (an empty series, all zeros, all missing, a single period, every period
  censored) must be handled *without raising*: the pipeline hands a forecaster whole
  batches, and a stage without history is common (its series is all missing), so a
  forecaster that cannot forecast a series returns a fallback (e.g. zero demand) for it;
* ``is_global = False`` promises a per-series fit: a series' forecast must not depend on
  the other series of the batch (the pipeline's results must not depend on batching);
* ``handles_censoring = True`` promises that a period flagged ``stocked_out`` is read
  as "demand was at least the sales": the fitted mean can then only be larger than when
  the same values are taken as true demand, and is strictly larger when high periods
  are flagged.
"""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import numpy as np

from platform_core.components import DemandSeries
from platform_core.distributions import DiscreteDistribution
from platform_core.testing import inputs
from platform_core.testing._core import (
    ComponentUnderTest,
    NotApplicable,
    init_stores_params,
    make_checks,
)
from platform_core.testing._validate import SUM_TOLERANCE, distribution_problem

__all__ = ["CHECKS"]

# ---- helpers ------------------------------------------------------------------------------


def _fit(spec: ComponentUnderTest, demand: DemandSeries, what: str = "the kit's demand") -> Any:
    """A fresh instance fitted on ``demand`` (whatever ``fit`` returns: see fit_returns_self)."""
    forecaster = spec.create()
    spec.call(f"fit() on {what}", lambda: forecaster.fit(demand))
    return forecaster


def _outputs(
    spec: ComponentUnderTest, forecaster: Any, demand: DemandSeries, what: str = "the kit's demand"
) -> tuple[list[Any], list[Any]]:
    """``period_demand()`` and ``lead_time_demand(...)`` with the kit's lead times and seeds."""
    n = len(demand)
    period = list(spec.call(f"period_demand() after fitting {what}", forecaster.period_demand))
    ltd = _lead_time_demand_of(spec, forecaster, inputs.lead_times(n), inputs.review_periods(n),
                               inputs.series_seeds(demand), what)
    return period, ltd


def _lead_time_demand_of(
    spec: ComponentUnderTest, forecaster: Any, lts: list[DiscreteDistribution], reviews: np.ndarray,
    seeds: np.ndarray, what: str,
) -> list[Any]:
    return list(spec.call(
        f"lead_time_demand(...) after fitting {what}",
        lambda: forecaster.lead_time_demand(lts, reviews, seeds),
    ))


def _fitted_outputs(spec: ComponentUnderTest) -> tuple[list[Any], list[Any]]:
    demand = inputs.demand_series()
    return _outputs(spec, _fit(spec, demand), demand)


def _named(period: list[Any], ltd: list[Any]) -> list[tuple[str, list[Any]]]:
    return [("period_demand()", period), ("lead_time_demand(...)", ltd)]


def _require_distribution(spec: ComponentUnderTest, where: str, d: Any) -> DiscreteDistribution:
    if not isinstance(d, DiscreteDistribution):
        raise spec.fail(
            f"{where} is a {type(d).__name__}, expected a platform_core.distributions.DiscreteDistribution"
        )
    return d


def _require_valid(spec: ComponentUnderTest, demand: DemandSeries, period: list[Any], ltd: list[Any], what: str) -> None:
    for name, dists in _named(period, ltd):
        if len(dists) != len(demand):
            raise spec.fail(
                f"{name} after fitting {what} gave {len(dists)} distributions for {len(demand)} series, "
                "expected one per series"
            )
        for i, d in enumerate(dists):
            problem = distribution_problem(f"{name}[{i}] ({demand.keys[i]}, {what})", d)
            if problem:
                raise spec.fail(problem)


def _difference(a: DiscreteDistribution, b: DiscreteDistribution) -> float:
    """Largest absolute difference of two PMFs (0 when identical)."""
    lo = min(a.offset, b.offset)
    hi = max(a.offset + a.pmf.size, b.offset + b.pmf.size)
    pa_ = np.zeros(hi - lo)
    pb_ = np.zeros(hi - lo)
    pa_[a.offset - lo : a.offset - lo + a.pmf.size] = a.pmf
    pb_[b.offset - lo : b.offset - lo + b.pmf.size] = b.pmf
    return float(np.max(np.abs(pa_ - pb_)))


def _compare(
    spec: ComponentUnderTest, first: list[Any], second: list[Any], keys: list[str], name: str, how: str,
    expected: str, atol: float = 0.0, start: int = 0,
) -> None:
    """Fail unless ``first`` and ``second`` hold the same distributions (series ``start``, ...)."""
    if len(first) != len(second):
        raise spec.fail(f"{name} gave {len(first)} then {len(second)} distributions {how}; expected {expected}")
    for k, (a, b) in enumerate(zip(first, second, strict=True)):
        i = start + k
        a = _require_distribution(spec, f"{name}[{i}]", a)
        b = _require_distribution(spec, f"{name}[{i}]", b)
        diff = _difference(a, b)
        if diff > atol:
            raise spec.fail(
                f"{name}[{i}] ({keys[k]}) differs {how} (largest PMF difference {diff:.3g}, "
                f"means {a.mean():.6g} vs {b.mean():.6g}); expected {expected}"
            )


def _edge_case(spec: ComponentUnderTest, case: str) -> None:
    for with_regular in (True, False):
        demand = inputs.edge_case_series(case, with_regular)
        what = f"a batch of {'a regular series and ' if with_regular else ''}one {case.replace('_', '-')} series"
        forecaster = _fit(spec, demand, what)
        period, ltd = _outputs(spec, forecaster, demand, what)
        _require_valid(spec, demand, period, ltd, what)


# ---- checks -------------------------------------------------------------------------------


def fit_returns_self(spec: ComponentUnderTest) -> None:
    """``fit(demand)`` returns the forecaster itself."""
    forecaster = spec.create()
    demand = inputs.demand_series()
    out = spec.call("fit() on the kit's demand", lambda: forecaster.fit(demand))
    if out is not forecaster:
        raise spec.fail(f"fit() returned {type(out).__name__} {out!r:.80}, expected self (estimator style)")


def one_distribution_per_series(spec: ComponentUnderTest) -> None:
    """``period_demand()`` and ``lead_time_demand()`` give one DiscreteDistribution per series."""
    demand = inputs.demand_series()
    period, ltd = _fitted_outputs(spec)
    for name, dists in _named(period, ltd):
        if len(dists) != len(demand):
            raise spec.fail(
                f"{name} gave {len(dists)} distributions for {len(demand)} series, expected one per series"
            )
        for i, d in enumerate(dists):
            _require_distribution(spec, f"{name}[{i}]", d)


def pmf_non_negative(spec: ComponentUnderTest) -> None:
    """Every probability is finite and >= 0."""
    period, ltd = _fitted_outputs(spec)
    for name, dists in _named(period, ltd):
        for i, d in enumerate(dists):
            pmf = np.asarray(_require_distribution(spec, f"{name}[{i}]", d).pmf, dtype=np.float64)
            if not np.all(np.isfinite(pmf)):
                raise spec.fail(f"{name}[{i}] has non-finite probabilities, expected finite ones")
            if np.any(pmf < 0):
                raise spec.fail(f"{name}[{i}] has a negative probability ({pmf.min():.3g}), expected all >= 0")
            if int(d.offset) < 0:
                raise spec.fail(f"{name}[{i}] starts at {d.offset}, expected demand >= 0")


def pmf_sums_to_one(spec: ComponentUnderTest) -> None:
    """Every PMF sums to one."""
    period, ltd = _fitted_outputs(spec)
    for name, dists in _named(period, ltd):
        for i, d in enumerate(dists):
            total = float(np.sum(_require_distribution(spec, f"{name}[{i}]", d).pmf))
            if not abs(total - 1.0) <= SUM_TOLERANCE:
                raise spec.fail(f"{name}[{i}] sums to {total:.6g}, expected 1 (PMFs must sum to one)")


def finite_means(spec: ComponentUnderTest) -> None:
    """Every distribution has a finite mean."""
    period, ltd = _fitted_outputs(spec)
    for name, dists in _named(period, ltd):
        for i, d in enumerate(dists):
            mean = _require_distribution(spec, f"{name}[{i}]", d).mean()
            if not np.isfinite(mean):
                raise spec.fail(f"{name}[{i}] has mean {mean}, expected a finite mean")


def lead_time_demand_mean_bound(spec: ComponentUnderTest) -> None:
    """On i.i.d. series, mean lead-time demand >= mean period demand x minimum lead time."""
    demand = inputs.demand_series()
    period, ltd = _fitted_outputs(spec)
    lts = inputs.lead_times(len(demand))
    for i in inputs.SMOOTH_SERIES:
        p = _require_distribution(spec, f"period_demand()[{i}]", period[i]).mean()
        m = _require_distribution(spec, f"lead_time_demand(...)[{i}]", ltd[i]).mean()
        bound = p * lts[i].offset
        if m < bound * (1.0 - 1e-9) - 1e-9:
            raise spec.fail(
                f"lead_time_demand(...)[{i}] ({demand.keys[i]}) has mean {m:.4g}, below the period mean "
                f"{p:.4g} x the minimum lead time {lts[i].offset} = {bound:.4g}; expected at least that "
                "(demand over lead time + review period covers at least the minimum lead time)"
            )


def deterministic(spec: ComponentUnderTest) -> None:
    """Two fresh instances fitted on the same data give identical distributions."""
    demand = inputs.demand_series()
    first = _outputs(spec, _fit(spec, demand), demand)
    second = _outputs(spec, _fit(spec, demand), demand)
    for (name, a), (_, b) in zip(_named(*first), _named(*second), strict=True):
        _compare(spec, a, b, demand.keys, name, "between two fresh instances fitted on the same data",
                 "identical results (draw random numbers only from seeded generators: parameters "
                 "or the seeds argument)")


def picklable(spec: ComponentUnderTest) -> None:
    """Pickles unfitted and fitted (Ray ships components to workers) with the same results."""
    demand = inputs.demand_series()
    forecaster = spec.create()
    try:
        copy = pickle.loads(pickle.dumps(forecaster))
    except Exception as exc:
        raise spec.fail(
            f"an unfitted instance does not pickle ({type(exc).__name__}: {exc}); expected it to "
            "(Ray ships components to workers): keep only picklable state"
        ) from exc
    expected = _outputs(spec, _fit(spec, demand), demand)
    spec.call("fit() of an unpickled instance", lambda: copy.fit(demand))
    got = _outputs(spec, copy, demand, "the kit's demand (unpickled, then fitted)")
    for (name, a), (_, b) in zip(_named(*expected), _named(*got), strict=True):
        _compare(spec, a, b, demand.keys, name, "after a pickle round trip of the unfitted instance",
                 "the same results")
    fitted = _fit(spec, demand)
    try:
        restored = pickle.loads(pickle.dumps(fitted))
    except Exception as exc:
        raise spec.fail(
            f"a fitted instance does not pickle ({type(exc).__name__}: {exc}); expected it to "
            "(fitted components are shipped and registered): keep only picklable state"
        ) from exc
    got = _outputs(spec, restored, demand, "the kit's demand (unpickled)")
    for (name, a), (_, b) in zip(_named(*expected), _named(*got), strict=True):
        _compare(spec, a, b, demand.keys, name, "after a pickle round trip of the fitted instance",
                 "the same results")


def handles_empty_series(spec: ComponentUnderTest) -> None:
    """A series with no periods gets a valid distribution (no exception)."""
    _edge_case(spec, "empty")


def handles_all_zero_series(spec: ComponentUnderTest) -> None:
    """A series of zeros gets a valid distribution (no exception)."""
    _edge_case(spec, "all_zero")


def handles_all_missing_series(spec: ComponentUnderTest) -> None:
    """A series whose every value is missing (NaN) gets a valid distribution (no exception)."""
    _edge_case(spec, "all_missing")


def handles_one_period_series(spec: ComponentUnderTest) -> None:
    """A series of a single period gets a valid distribution (no exception)."""
    _edge_case(spec, "one_period")


def handles_censored_periods(spec: ComponentUnderTest) -> None:
    """A series censored in every period (stocked_out flags) gets a valid distribution."""
    _edge_case(spec, "censored")


def capability_flags(spec: ComponentUnderTest) -> None:
    """``handles_intermittent``, ``handles_censoring`` and ``is_global`` are booleans."""
    for flag in ("handles_intermittent", "handles_censoring", "is_global"):
        value = getattr(spec.cls, flag, False)
        if not isinstance(value, bool):
            raise spec.fail(f"capability flag {flag} is {value!r}, expected True or False")


def local_fit_is_per_series(spec: ComponentUnderTest) -> None:
    """A local forecaster (``is_global = False``) forecasts a series the same alone or in a batch.

    A forecaster that ``pools_across_series`` is compared as a run uses it: with its pooled
    parameters fixed once, from the kit's whole demand (what ``pool_forecaster`` does on a
    run's driver), and then fitted alone and in the batch.
    """
    if getattr(spec.cls, "is_global", False):
        raise NotApplicable(f"{spec.label} declares is_global = True (fits across series)")
    demand = inputs.demand_series()
    seeds = inputs.series_seeds(demand)
    lts = inputs.lead_times(len(demand))
    reviews = inputs.review_periods(len(demand))
    if getattr(spec.cls, "pools_across_series", False):
        pool = getattr(spec.cls, "pooled_params")  # noqa: B009 - spec.cls is typed as a plain type
        pooled = spec.call("pooled_params(...) on the kit's demand", lambda: pool(spec.params, demand, lts, reviews))
        spec = dataclasses.replace(spec, params=pooled)
    batch_period, batch_ltd = _outputs(spec, _fit(spec, demand), demand)
    for i in range(len(demand)):
        values, flags = demand.series(i)
        alone = DemandSeries([demand.keys[i]], values.copy(), flags.copy(),
                             np.array([0, values.size], dtype=np.int64))
        what = f"series {i} ({demand.keys[i]}) alone"
        forecaster = _fit(spec, alone, what)
        period = list(spec.call(f"period_demand() after fitting {what}", forecaster.period_demand))
        ltd = _lead_time_demand_of(spec, forecaster, [lts[i]], reviews[i : i + 1], seeds[i : i + 1], what)
        how = "when the series is fitted alone rather than in the kit's batch"
        expected = ("the same forecast (is_global = False promises a per-series fit; "
                    "declare is_global = True for a model fitted across series)")
        _compare(spec, [batch_period[i]], period, [demand.keys[i]], "period_demand()", how, expected, 1e-9, i)
        _compare(spec, [batch_ltd[i]], ltd, [demand.keys[i]], "lead_time_demand(...)", how, expected, 1e-9, i)


def censoring_raises_mean(spec: ComponentUnderTest) -> None:
    """``handles_censoring``: flagging high periods stocked out raises the fitted mean."""
    if not getattr(spec.cls, "handles_censoring", False):
        raise NotApplicable(f"{spec.label} does not declare handles_censoring")
    flagged, plain = inputs.censoring_pair()
    with_flags = _fit(spec, flagged, "series with stockout flags")
    without = _fit(spec, plain, "the same values without flags")
    a = list(spec.call("period_demand()", with_flags.period_demand))
    b = list(spec.call("period_demand()", without.period_demand))
    for i in range(len(flagged)):
        ma = _require_distribution(spec, f"period_demand()[{i}]", a[i]).mean()
        mb = _require_distribution(spec, f"period_demand()[{i}]", b[i]).mean()
        if not ma > mb * (1.0 + 1e-9):
            n_flags = int(flagged.series(i)[1].sum())
            raise spec.fail(
                f"period_demand()[{i}] ({flagged.keys[i]}) has mean {ma:.4g} with {n_flags} high periods "
                f"flagged stocked_out and {mb:.4g} when the same values are taken as true demand; "
                "expected a larger mean with the flags (handles_censoring = True: a stockout means "
                "demand was at least the sales)"
            )


CHECKS = make_checks("forecaster", [
    init_stores_params,
    fit_returns_self,
    one_distribution_per_series,
    pmf_non_negative,
    pmf_sums_to_one,
    finite_means,
    lead_time_demand_mean_bound,
    deterministic,
    picklable,
    handles_empty_series,
    handles_all_zero_series,
    handles_all_missing_series,
    handles_one_period_series,
    handles_censored_periods,
    capability_flags,
    local_fit_is_per_series,
    censoring_raises_mean,
])
