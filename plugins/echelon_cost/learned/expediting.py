"""Expediting cost learned from expedite records.

A log-linear regression (ordinary least squares, statsmodels) of the cost per unit
expedited::

    log(cost / quantity) = rate[carrier] + gamma[mode] x log(days_saved)
                           + beta_value x log(unit_cost) + beta_size x log(quantity) + e

(``unit_cost`` of the receiving stage).  A prediction is the median ``exp(mean)``, with a
prediction interval from the t distribution of the residuals.  The cost of expediting one
unit short at a stage is the cheapest carrier among those seen on the stage's lanes (all
carriers seen anywhere when its lanes have none) for the days it takes to recover (its lead
time), at the median quantity expedited into the stage; the days are clamped to the range
the data saw (no extrapolation).
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pyarrow as pa
import statsmodels.api as sm

__all__ = ["ExpediteCostModel", "mean_absolute_percentage_error"]


def mean_absolute_percentage_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of ``|predicted - actual| / actual`` [-] (actual > 0)."""
    actual = np.asarray(actual, dtype=float)
    return float(np.mean(np.abs(np.asarray(predicted, dtype=float) - actual) / actual))


class ExpediteCostModel:
    """Cost of an expedite by carrier, mode, days saved, value and size (see module doc).

    Args:
        interval: central probability of the prediction intervals [-].
    """

    def __init__(self, interval: float = 0.9) -> None:
        if not 0 < interval < 1:
            raise ValueError(f"interval must be in (0, 1), got {interval}")
        self.interval = interval

    def _design(self, carrier: np.ndarray, days: np.ndarray, unit_cost: np.ndarray,
                quantity: np.ndarray) -> np.ndarray:
        c = np.searchsorted(self.carriers_, carrier)
        m = self.mode_of_carrier_[c]
        x = np.zeros((carrier.size, self.carriers_.size + self.modes_.size + 2))
        x[np.arange(carrier.size), c] = 1.0
        x[np.arange(carrier.size), self.carriers_.size + m] = np.log(days)
        x[:, -2] = np.log(np.maximum(unit_cost, 1e-6))
        x[:, -1] = np.log(quantity)
        return x

    def fit(self, expedites: pa.Table, unit_cost: np.ndarray) -> Self:
        """Fit on expedite rows (schema ``EXPEDITES``) and the receiving stage's unit cost per row.

        Raises:
            ValueError: fewer rows than parameters + 2.
        """
        carrier = np.asarray(expedites.column("carrier").to_pylist(), dtype=str)
        mode = np.asarray(expedites.column("shipment_mode").to_pylist(), dtype=str)
        self.carriers_ = np.unique(carrier)
        self.modes_ = np.unique(mode)
        pairs = {(c, m) for c, m in zip(carrier.tolist(), mode.tolist(), strict=True)}
        modes_of: dict[str, str] = {}
        for c, m in sorted(pairs):
            modes_of.setdefault(c, m)  # a carrier seen with several modes: its first (a carrier's rate is its own)
        self.mode_of_carrier_ = np.searchsorted(self.modes_, [modes_of[c] for c in self.carriers_])
        qty = np.asarray(expedites.column("quantity").to_numpy(zero_copy_only=False), dtype=float)
        days = np.asarray(expedites.column("days_saved").to_numpy(zero_copy_only=False), dtype=float)
        cost = np.asarray(expedites.column("cost").to_numpy(zero_copy_only=False), dtype=float)
        keep = cost > 0
        x = self._design(carrier[keep], days[keep], unit_cost[keep], qty[keep])
        if keep.sum() < x.shape[1] + 2:
            raise ValueError(f"expedites: {int(keep.sum())} rows with a cost > 0 cannot fit {x.shape[1]} parameters "
                             "(carriers, modes, value, size); more expedites are needed")
        self.result_ = sm.OLS(np.log(cost[keep] / qty[keep]), x).fit()
        self.days_range_ = (float(days.min()), float(days.max()))
        self.median_quantity_ = float(np.median(qty))
        return self

    def predict_per_unit(self, carrier: np.ndarray, days: np.ndarray, unit_cost: np.ndarray,
                         quantity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Median cost per unit expedited [currency/unit] and its prediction interval (lo, hi)."""
        d = np.clip(np.asarray(days, dtype=float), *self.days_range_)
        x = self._design(np.asarray(carrier, dtype=str), d, np.asarray(unit_cost, float), np.asarray(quantity, float))
        pred = self.result_.get_prediction(x).summary_frame(alpha=1.0 - self.interval)
        return (np.exp(pred["mean"].to_numpy()), np.exp(pred["obs_ci_lower"].to_numpy()),
                np.exp(pred["obs_ci_upper"].to_numpy()))

    def predict_cost(self, expedites: pa.Table, unit_cost: np.ndarray) -> np.ndarray:
        """Predicted (median) total cost [currency] of each expedite row."""
        qty = np.asarray(expedites.column("quantity").to_numpy(zero_copy_only=False), dtype=float)
        per_unit, _, _ = self.predict_per_unit(
            np.asarray(expedites.column("carrier").to_pylist(), dtype=str),
            np.asarray(expedites.column("days_saved").to_numpy(zero_copy_only=False), dtype=float), unit_cost, qty)
        return per_unit * qty

    def stage_cost(self, stage_carriers: list[list[str]], recovery_days: np.ndarray, unit_cost: np.ndarray,
                   stage_quantity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Cheapest expediting cost per unit per stage [currency/unit], its interval, and the carrier.

        Args:
            stage_carriers: carriers seen on each stage's lanes (empty: every known carrier).
            recovery_days: days to recover per stage [days] (NaN: no estimate).
            unit_cost: [currency/unit] per stage.
            stage_quantity: units per expedite per stage (NaN: the median of the data).
        """
        n = len(stage_carriers)
        best, lo, hi = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        which = np.full(n, "", dtype=object)
        known = set(self.carriers_.tolist())
        rows, cars = [], []
        for i, cs in enumerate(stage_carriers):
            if not np.isfinite(recovery_days[i]):
                continue
            options = [c for c in cs if c in known] or list(self.carriers_)
            rows += [i] * len(options)
            cars += options
        if not rows:
            return best, lo, hi, which
        r = np.asarray(rows)
        qty = np.where(np.isfinite(stage_quantity[r]), stage_quantity[r], self.median_quantity_)
        mid, low, high = self.predict_per_unit(np.asarray(cars, dtype=str), recovery_days[r], unit_cost[r], qty)
        order = np.lexsort((mid, r))  # per stage, cheapest first
        first = np.ones(order.size, bool)
        first[1:] = r[order][1:] != r[order][:-1]
        pick = order[first]
        best[r[pick]], lo[r[pick]], hi[r[pick]] = mid[pick], low[pick], high[pick]
        which[r[pick]] = np.asarray(cars, dtype=object)[pick]
        return best, lo, hi, which
