"""A batch's :class:`~platform_core.components.StageProblem` cut into its SKU networks.

* :func:`problem_networks` — the connected components of the batch's upstream links
  (each one independent SKU network);
* :func:`own_demand` — a stage's own external demand per period [units/period], recovered
  from the derived (own + downstream) demand the pipeline hands internal stages.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from platform_core.components import StageProblem
from platform_core.distributions import DiscreteDistribution
from platform_core.networks import network_labels

__all__ = ["problem_networks", "own_demand"]


def problem_networks(problem: StageProblem) -> list[np.ndarray]:
    """Connected components of the batch's upstream links (stage indices, sorted)."""
    comp = network_labels(problem.upstream)
    return [np.flatnonzero(comp == c) for c in np.unique(comp)]


def own_demand(problem: StageProblem, j: int, children: list[tuple[int, float]]) -> DiscreteDistribution | None:
    """A stage's own external demand: its (derived) demand minus its customers' orders.

    The pipeline hands internal stages their own plus downstream demand; the own part is
    recovered by moments (mean and variance differences) as a Poisson or negative
    binomial PMF, or None when it is negligible.
    """
    d = problem.period_demand[j]
    if not children:
        return d
    if problem.external_demand is not None and not bool(problem.external_demand[j]):
        # no demand of its own in the data: nothing to recover (a forecaster whose forecast
        # of a sum is not the sum of the forecasts, e.g. ``calibrated``, would otherwise
        # leave a phantom own demand at a DC)
        return None
    mean = d.mean() - sum(q * problem.period_demand[c].mean() for c, q in children)
    var = d.var() - sum(q * q * problem.period_demand[c].var() for c, q in children)
    if mean <= 1e-6 * max(d.mean(), 1.0):
        return None
    if var <= mean * (1 + 1e-9):
        return DiscreteDistribution.poisson(mean)
    p = mean / var
    r = mean * p / (1 - p)
    k = np.arange(int(stats.nbinom.isf(1e-12, r, p)) + 2)
    return DiscreteDistribution(stats.nbinom.pmf(k, r, p), 0)
