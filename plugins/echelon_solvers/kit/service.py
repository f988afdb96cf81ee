"""Cost-optimal service fractiles: the single-stage and the multi-echelon critical ratio.

Units: holding cost [currency/unit/period], stockout cost [currency/unit short]; the
fractiles are service levels [-].
"""

from __future__ import annotations

import numpy as np

__all__ = ["critical_ratio", "multi_echelon_critical_ratio"]


def critical_ratio(holding_cost: np.ndarray | float, stockout_cost: np.ndarray | float) -> np.ndarray:
    """Single-stage cost-optimal service ``p / (p + h)`` [-].

    Args:
        holding_cost: [currency/unit/period].
        stockout_cost: [currency/unit short].
    """
    h = np.asarray(holding_cost, dtype=np.float64)
    p = np.asarray(stockout_cost, dtype=np.float64)
    den = p + h
    return np.where(den > 0, p / np.where(den > 0, den, 1.0), 0.5)


def multi_echelon_critical_ratio(
    holding_cost: np.ndarray | float,
    stockout_cost: np.ndarray | float,
    upstream_holding_cost: np.ndarray | float,
) -> np.ndarray:
    """Cost-optimal service of a customer-facing stage in a multi-echelon chain [-].

    In the Clark-Scarf recursion the customer-facing stage's newsvendor trades its
    *echelon* holding cost ``h - h_up`` against ``p + h``:  the fractile is
    ``(p + h_up) / (p + h)``, above the single-stage ``p / (p + h)`` because a unit not
    held at the stage is still held (at ``h_up``) upstream.

    Args:
        holding_cost: local holding cost ``h`` at the stage [currency/unit/period].
        stockout_cost: ``p`` [currency/unit short].
        upstream_holding_cost: local holding cost ``h_up`` of its supplier stage
            [currency/unit/period] (0 for an external supplier).
    """
    h = np.asarray(holding_cost, dtype=np.float64)
    p = np.asarray(stockout_cost, dtype=np.float64)
    hu = np.minimum(np.asarray(upstream_holding_cost, dtype=np.float64), h)
    den = p + h
    return np.where(den > 0, (p + hu) / np.where(den > 0, den, 1.0), 0.5)
