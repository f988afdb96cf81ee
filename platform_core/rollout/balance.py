"""Standardised differences: how alike a treatment and a control group are on a covariate.

``d = (mean_t - mean_c) / sqrt((var_t + var_c) / 2)`` (Austin 2009, "Balance diagnostics
for comparing the distribution of baseline covariates"); ``|d| < 0.1`` is the usual
threshold of negligible imbalance.  Variances are sample variances (ddof 1).
"""

from __future__ import annotations

import numpy as np

__all__ = ["standardised_difference", "standardised_differences"]


def standardised_difference(x_treatment: np.ndarray, x_control: np.ndarray) -> float:
    """Standardised difference of one covariate between two groups [-] (NaN values ignored)."""
    t = np.asarray(x_treatment, dtype=np.float64)
    c = np.asarray(x_control, dtype=np.float64)
    t, c = t[np.isfinite(t)], c[np.isfinite(c)]
    if t.size < 2 or c.size < 2:
        return float("nan")
    pooled = np.sqrt((t.var(ddof=1) + c.var(ddof=1)) / 2.0)
    diff = float(t.mean() - c.mean())
    if pooled == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return float(diff / pooled)


def standardised_differences(x: np.ndarray, control: np.ndarray) -> np.ndarray:
    """Standardised difference of ``x`` for many assignments at once.

    Args:
        x: covariate per unit, shape ``(n,)`` (finite).
        control: one assignment per row, shape ``(draws, n)``, True = control.

    Returns:
        ``d`` per draw, shape ``(draws,)`` (treatment minus control).
    """
    c = control.astype(np.float64)
    t = 1.0 - c
    nc, nt = c.sum(axis=1), t.sum(axis=1)
    sc, st = c @ x, t @ x
    qc, qt = c @ (x * x), t @ (x * x)
    mc, mt = sc / nc, st / nt
    vc = (qc - nc * mc * mc) / np.maximum(nc - 1.0, 1.0)
    vt = (qt - nt * mt * mt) / np.maximum(nt - 1.0, 1.0)
    pooled = np.sqrt(np.maximum((vc + vt) / 2.0, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(pooled > 0, (mt - mc) / pooled, 0.0)
    return out
