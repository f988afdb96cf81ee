"""Common base of Echelon's batch forecasters."""

from __future__ import annotations

import numpy as np

from echelon_demand.models._common import compound_batch
from platform_core.components import Forecaster
from platform_core.distributions import DiscreteDistribution

__all__ = ["BatchForecaster"]


class BatchForecaster(Forecaster):
    """A forecaster whose fit leaves ``period_dists_`` (one PMF per series).

    Lead-time demand assumes i.i.d. periods and is compounded for all series at once with
    FFTs (:func:`echelon_demand.models._common.compound_batch`), which is exact up to a
    tail mass below 1e-10 and much faster than pairwise convolution.
    """

    period_dists_: list[DiscreteDistribution]

    def _check_fitted(self) -> None:
        if not hasattr(self, "period_dists_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")

    def period_demand(self) -> list[DiscreteDistribution]:
        """Per-period demand distribution [units/period] of each fitted series."""
        self._check_fitted()
        return list(self.period_dists_)

    def lead_time_demand(
        self,
        lead_times: list[DiscreteDistribution],
        review_periods: np.ndarray,
        seeds: np.ndarray,
    ) -> list[DiscreteDistribution]:
        """Demand over lead time + review period [units] per series (i.i.d. periods)."""
        self._check_fitted()
        if len(lead_times) != len(self.period_dists_):
            raise ValueError("one lead-time distribution per fitted series is required")
        return compound_batch(self.period_dists_, lead_times, np.asarray(review_periods))

    def mean(self) -> np.ndarray:
        """Mean demand per period [units/period] of each fitted series."""
        self._check_fitted()
        return np.array([d.mean() for d in self.period_dists_])
