"""Helpers shared by the lead-time models."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from platform_core.data.columns import lead_time_days
from platform_core.distributions import DiscreteDistribution

__all__ = ["lead_days", "discretise_cdf", "lane_keys", "column_or_none"]


lead_days = lead_time_days  # [days] per receipt; one definition for the platform


def lane_keys(table: pa.Table, columns: tuple[str, ...]) -> list[tuple]:
    """Row tuples of ``columns`` (missing columns give None)."""
    cols = [table.column(c).to_pylist() if c in table.column_names else [None] * table.num_rows
            for c in columns]
    return list(zip(*cols, strict=True)) if cols else [() for _ in range(table.num_rows)]


def column_or_none(table: pa.Table, name: str) -> list | None:
    """The column as a list, or None when absent."""
    return table.column(name).to_pylist() if name in table.column_names else None


def discretise_cdf(cdf: Callable[[np.ndarray], np.ndarray], upper_days: float,
                   period_days: float) -> DiscreteDistribution:
    """PMF in periods of a continuous lead time [days] by rounding to the nearest period.

    ``P(k) = F((k + 0.5) pd) - F((k - 0.5) pd)``, the mass below half a period folded
    onto 0 and the mass above ``upper_days`` onto the last period.
    """
    pd_ = float(period_days)
    kmax = max(int(np.ceil(upper_days / pd_)) + 1, 1)
    k = np.arange(kmax + 1, dtype=np.float64)
    hi = cdf((k + 0.5) * pd_)
    lo = np.concatenate(([0.0], hi[:-1]))
    pmf = np.maximum(hi - lo, 0.0)
    pmf[-1] += max(0.0, 1.0 - float(hi[-1]))
    if pmf.sum() <= 0:
        return DiscreteDistribution.point(int(round(upper_days / pd_)))
    pmf[pmf < 1e-12] = 0.0
    return DiscreteDistribution(pmf, 0)
