"""Empirical lead-time model: the observed lead times of each lane.

A lane is ``(sku, location, supplier)``.  Lead time [days] = receipt_date - order_date,
converted to periods by rounding ``days / period_days`` to the nearest integer.  A lane
with fewer than ``min_receipts`` receipts borrows, in order: the receipts of the same
supplier into the same location, of the same supplier anywhere, and of every lane.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pyarrow as pa

from platform_core.components import LeadTimeModel
from platform_core.distributions import DiscreteDistribution

__all__ = ["EmpiricalLeadTime", "lead_time_days"]


def lead_time_days(receipts: pa.Table) -> np.ndarray:
    """Lead time of every receipt row [days]."""
    order = receipts.column("order_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
    receipt = receipts.column("receipt_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
    return (receipt - order).astype(np.float64)


class EmpiricalLeadTime(LeadTimeModel):
    """Empirical distribution per lane with a pooled fallback hierarchy.

    Args:
        min_receipts: receipts a lane needs to stand on its own.
        recent: use only the most recent receipts of each lane (by order date).
    """

    def __init__(self, min_receipts: int = 5, recent: int = 200) -> None:
        self.min_receipts = min_receipts
        self.recent = recent

    def fit(self, receipts: pa.Table) -> Self:
        """Group observed lead times by lane, by (supplier, location), by supplier."""
        days = lead_time_days(receipts)
        order = receipts.column("order_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
        sku = receipts.column("sku").to_pylist()
        loc = receipts.column("location").to_pylist()
        sup = receipts.column("supplier").to_pylist()
        idx = np.argsort(order, kind="stable")
        self.by_lane_: dict[tuple[str, str, str], list[float]] = {}
        self.by_supplier_location_: dict[tuple[str, str], list[float]] = {}
        self.by_supplier_: dict[str, list[float]] = {}
        for j in idx:
            self.by_lane_.setdefault((sku[j], loc[j], sup[j]), []).append(days[j])
            self.by_supplier_location_.setdefault((sup[j], loc[j]), []).append(days[j])
            self.by_supplier_.setdefault(sup[j], []).append(days[j])
        self.pooled_ = days
        return self

    def _pick(self, sku: str, location: str, supplier: str) -> tuple[np.ndarray | None, str]:
        for source, values in (
            ("lane", self.by_lane_.get((sku, location, supplier))),
            ("supplier_location", self.by_supplier_location_.get((supplier, location))),
            ("supplier", self.by_supplier_.get(supplier)),
        ):
            if values is not None and len(values) >= self.min_receipts:
                return np.asarray(values[-self.recent :]), source
        return None, "none"

    def predict(self, lanes: pa.Table, period_days: float) -> list[DiscreteDistribution | None]:
        """Lead-time PMF [periods] per lane row; None where no receipts qualify."""
        out: list[DiscreteDistribution | None] = []
        self.sources_: list[str] = []
        for sku, loc, sup in zip(
            lanes.column("sku").to_pylist(),
            lanes.column("location").to_pylist(),
            lanes.column("supplier").to_pylist(),
            strict=True,
        ):
            values, source = self._pick(sku, loc, sup) if sup is not None else (None, "none")
            self.sources_.append(source)
            if values is None:
                out.append(None)
                continue
            periods = np.rint(np.maximum(values, 0.0) / float(period_days))
            out.append(DiscreteDistribution.from_samples(periods))
        return out


