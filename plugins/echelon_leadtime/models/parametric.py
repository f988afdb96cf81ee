"""Parametric lead-time fits per lane: gamma, lognormal and shifted gamma.

Per lane ``(sku, location, supplier)`` the lead times [days] are fitted by moments:

* ``gamma``: shape ``m²/v``, scale ``v/m``.
* ``lognormal``: ``sigma² = log(1 + v/m²)``, ``mu = log m - sigma²/2``.
* ``shifted_gamma``: a shift ``c = min - (m - min) / n`` (just below the smallest
  observation), then a gamma on ``x - c``; suits lead times with a hard minimum
  (transit) and a long right tail.

A lane with fewer than ``min_receipts`` receipts borrows the fit of its supplier (all
lanes of that supplier pooled); an unknown supplier gives None.  A lane whose lead times
are all equal is a point mass.  Distributions are in periods (days rounded to the
nearest period, see :func:`~echelon_leadtime.models._common.discretise_cdf`).
"""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import pyarrow as pa
from scipy import stats

from echelon_leadtime.models._common import discretise_cdf, lane_keys, lead_days
from platform_core.components import LeadTimeModel
from platform_core.distributions import DiscreteDistribution

__all__ = ["ParametricLeadTime", "GammaLeadTime", "LognormalLeadTime", "ShiftedGammaLeadTime"]

_LANE = ("sku", "location", "supplier")


class ParametricLeadTime(LeadTimeModel):
    """Moment fit of a continuous family per lane, supplier fallback.

    Args:
        min_receipts: receipts a lane needs to be fitted on its own.
        tail: the PMF is truncated at this upper tail probability [-].

    Attributes:
        lane_params_: lane -> (mean, var, min, n) of lead times [days].
        supplier_params_: supplier -> the same, pooled over its lanes.
    """

    family: ClassVar[str] = "gamma"

    def __init__(self, min_receipts: int = 5, tail: float = 1e-6) -> None:
        self.min_receipts = min_receipts
        self.tail = tail

    @staticmethod
    def _moments(x: np.ndarray) -> tuple[float, float, float, int]:
        x = x[np.isfinite(x)]
        return (float(x.mean()), float(x.var(ddof=1)) if x.size > 1 else 0.0, float(x.min()), int(x.size))

    def fit(self, receipts: pa.Table) -> Self:
        """Fit every lane and supplier of ``receipts``; returns self."""
        days = np.maximum(lead_days(receipts), 0.0)
        lanes = lane_keys(receipts, _LANE)
        groups: dict[tuple, list[float]] = {}
        sup: dict[str, list[float]] = {}
        for key, d in zip(lanes, days, strict=True):
            groups.setdefault(key, []).append(d)
            sup.setdefault(key[2], []).append(d)
        self.lane_params_ = {k: self._moments(np.asarray(v)) for k, v in groups.items()}
        self.supplier_params_ = {k: self._moments(np.asarray(v)) for k, v in sup.items()}
        return self

    def _dist(self, mean: float, var: float, xmin: float, n: int, period_days: float) -> DiscreteDistribution:
        if var <= 1e-12 or mean <= 0:
            return DiscreteDistribution.point(max(int(round(mean / period_days)), 0))
        fam = self.family
        if fam == "gamma":
            rv = stats.gamma(mean**2 / var, scale=var / mean)
            shift = 0.0
        elif fam == "lognormal":
            s2 = np.log1p(var / mean**2)
            rv = stats.lognorm(np.sqrt(s2), scale=np.exp(np.log(mean) - s2 / 2))
            shift = 0.0
        elif fam == "shifted_gamma":
            shift = max(0.0, xmin - (mean - xmin) / max(n, 1))
            m2 = max(mean - shift, 1e-6)
            rv = stats.gamma(m2**2 / var, scale=var / m2)
        else:  # pragma: no cover - guarded by subclasses
            raise ValueError(fam)
        upper = float(rv.isf(self.tail)) + shift
        return discretise_cdf(lambda x: rv.cdf(np.asarray(x) - shift), upper, period_days)

    def predict(self, lanes: pa.Table, period_days: float) -> list[DiscreteDistribution | None]:
        """Lead-time distribution [periods] per lane row; None for an unknown supplier."""
        out: list[DiscreteDistribution | None] = []
        cache: dict[tuple, DiscreteDistribution] = {}
        for key in lane_keys(lanes, _LANE):
            p = self.lane_params_.get(key)
            if p is None or p[3] < self.min_receipts:
                p = self.supplier_params_.get(key[2], p)
            if p is None:
                out.append(None)
                continue
            if p not in cache:
                cache[p] = self._dist(*p, period_days=float(period_days))
            out.append(cache[p])
        return out


class GammaLeadTime(ParametricLeadTime):
    """Gamma lead time per lane (moments)."""

    family = "gamma"


class LognormalLeadTime(ParametricLeadTime):
    """Lognormal lead time per lane (moments)."""

    family = "lognormal"


class ShiftedGammaLeadTime(ParametricLeadTime):
    """Gamma above a shift just below the smallest observed lead time."""

    family = "shifted_gamma"
