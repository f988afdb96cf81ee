"""Willemain-Smart-Schwarz bootstrap of intermittent lead-time demand.

Willemain, Smart & Schwarz (2004), "A new approach to forecasting intermittent demand for
service parts inventories", IJF 20(3):375-387.  Per series:

1. occurrence follows a two-state Markov chain (zero / non-zero) whose transition
   probabilities are estimated from the history (with a +0.5 / +1 Laplace prior), started
   from the state of the last observed period, so runs of zeros and of demands are kept;
2. each non-zero period draws a size from the observed non-zero sizes and jitters it:
   ``x* = round(x + z sqrt(x))`` with ``z ~ N(0, 1)``, and ``x* = x`` when that is not
   positive, so sizes not seen before can occur (the paper's ``1 + INT(...)`` adds about
   half a unit to every size, a large upward bias for parts selling 1-2 units; we drop
   the ``1 +`` and round);
3. a lead time ``L`` is drawn from the lead-time PMF and the sizes over ``L + review``
   periods are summed; ``samples`` such sums give the lead-time-demand PMF.

Periods flagged ``stocked_out`` are kept as observed (the model is not censoring-aware).
The per-period distribution is the empirical distribution of the recent history.
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np

from platform_core.components import DemandSeries
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.batch import BatchForecaster
from platform_core.forecasting.series import padded

__all__ = ["WillemainBootstrapForecaster"]


class WillemainBootstrapForecaster(BatchForecaster):
    """Markov-occurrence, jittered-size bootstrap of lead-time demand.

    Args:
        samples: bootstrap sums per series.
        max_history: at most this many recent periods are used [periods].
        jitter: jitter the resampled sizes (step 2).

    Attributes:
        p01_: P(demand | no demand in the previous period) per series [-].
        p11_: P(demand | demand in the previous period) per series [-].
        last_state_: occurrence of the last observed period per series.
        sizes_: observed non-zero sizes per series [units].
        period_dists_: empirical per-period distribution per series.
    """

    handles_intermittent: ClassVar[bool] = True

    def __init__(self, samples: int = 1000, max_history: int | None = 24, jitter: bool = True) -> None:
        self.samples = samples
        self.max_history = max_history
        self.jitter = jitter

    def fit(self, demand: DemandSeries) -> Self:
        """Estimate the occurrence chain and keep the sizes of every series."""
        Y, _ = padded(demand, self.max_history)
        Y = np.where(np.isnan(Y), np.nan, np.rint(np.maximum(Y, 0.0)))
        obs = ~np.isnan(Y)
        nz = obs & (Y > 0)
        prev_ok = obs[:, :-1] & obs[:, 1:]
        from0 = prev_ok & ~nz[:, :-1]
        from1 = prev_ok & nz[:, :-1]
        n01 = (from0 & nz[:, 1:]).sum(axis=1)
        n11 = (from1 & nz[:, 1:]).sum(axis=1)
        self.p01_ = (n01 + 0.5) / (from0.sum(axis=1) + 1.0)
        self.p11_ = (n11 + 0.5) / (from1.sum(axis=1) + 1.0)
        has = nz.any(axis=1)
        self.p01_ = np.where(has, self.p01_, 0.0)
        self.p11_ = np.where(has, self.p11_, 0.0)
        last_col = np.where(obs.any(axis=1), obs.shape[1] - 1 - np.argmax(obs[:, ::-1], axis=1), 0)
        self.last_state_ = nz[np.arange(Y.shape[0]), last_col]
        self.sizes_ = [Y[i, nz[i]] for i in range(Y.shape[0])]
        self.period_dists_ = [
            DiscreteDistribution.from_samples(Y[i, obs[i]]) if obs[i].any() else DiscreteDistribution.point(0)
            for i in range(Y.shape[0])
        ]
        return self

    def lead_time_demand(
        self,
        lead_times: list[DiscreteDistribution],
        review_periods: np.ndarray,
        seeds: np.ndarray,
    ) -> list[DiscreteDistribution]:
        """Bootstrap distribution of demand over ``L + review`` periods [units]."""
        self._check_fitted()
        S = int(self.samples)
        out = []
        for i, (lt, r, seed) in enumerate(zip(lead_times, np.asarray(review_periods),
                                               np.asarray(seeds), strict=True)):
            sizes = self.sizes_[i]
            if sizes.size == 0:
                out.append(DiscreteDistribution.point(0))
                continue
            rng = np.random.default_rng(int(seed))
            lengths = lt.sample(rng, S) + int(r)
            H = int(lengths.max())
            if H <= 0:
                out.append(DiscreteDistribution.point(0))
                continue
            state = np.full(S, bool(self.last_state_[i]))
            occ = np.empty((S, H), dtype=bool)
            u = rng.random((S, H))
            for t in range(H):
                state = u[:, t] < np.where(state, self.p11_[i], self.p01_[i])
                occ[:, t] = state
            x = sizes[rng.integers(0, sizes.size, (S, H))]
            if self.jitter:
                j = np.rint(x + rng.standard_normal((S, H)) * np.sqrt(x))
                x = np.where(j > 0, j, x)
            within = np.arange(H)[None, :] < lengths[:, None]
            totals = np.where(occ & within, x, 0.0).sum(axis=1)
            out.append(DiscreteDistribution.from_samples(totals))
        return out
