"""Demand classification by ADI and CV² (Syntetos & Boylan, 2005).

* ADI: average inter-demand interval = observed periods / periods with demand [periods].
* CV²: squared coefficient of variation of the non-zero demand sizes [-].

Classes with the cut-offs ADI 1.32 and CV² 0.49: ``smooth`` (ADI < 1.32, CV² < 0.49),
``erratic`` (ADI < 1.32, CV² >= 0.49), ``intermittent`` (ADI >= 1.32, CV² < 0.49) and
``lumpy`` (ADI >= 1.32, CV² >= 0.49); ``none`` for a series without any demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from platform_core.components import DemandSeries
from platform_core.forecasting.series import padded

__all__ = ["ADI_CUTOFF", "CV2_CUTOFF", "CLASSES", "DemandClasses", "classify", "classify_matrix"]

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "none")


@dataclass
class DemandClasses:
    """Classification of many series.

    Attributes:
        adi: average inter-demand interval per series [periods] (inf without demand).
        cv2: squared coefficient of variation of non-zero sizes per series [-].
        label: class name per series (one of :data:`CLASSES`).
    """

    adi: np.ndarray
    cv2: np.ndarray
    label: np.ndarray


def classify_matrix(
    Y: np.ndarray, adi_cutoff: float = ADI_CUTOFF, cv2_cutoff: float = CV2_CUTOFF
) -> DemandClasses:
    """Classify the rows of a (n, T) matrix (NaN = missing)."""
    obs = ~np.isnan(Y)
    nz = obs & (Y > 0)
    n_obs = obs.sum(axis=1)
    n_nz = nz.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(n_nz > 0, n_obs / np.maximum(n_nz, 1), np.inf)
        s = np.where(nz, Y, 0.0)
        m = s.sum(axis=1) / np.maximum(n_nz, 1)
        var = np.where(nz, (Y - m[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(n_nz, 1)
        cv2 = np.where(n_nz > 0, var / np.where(m > 0, m, 1.0) ** 2, np.nan)
    label = np.where(
        n_nz == 0,
        "none",
        np.where(
            adi < adi_cutoff,
            np.where(cv2 < cv2_cutoff, "smooth", "erratic"),
            np.where(cv2 < cv2_cutoff, "intermittent", "lumpy"),
        ),
    )
    return DemandClasses(adi=adi, cv2=cv2, label=label.astype(object))


def classify(
    demand: DemandSeries,
    adi_cutoff: float = ADI_CUTOFF,
    cv2_cutoff: float = CV2_CUTOFF,
    max_history: int | None = None,
) -> DemandClasses:
    """Classify every series of ``demand`` by ADI and CV² (population variance of sizes).

    Args:
        demand: the series; missing values are ignored.
        adi_cutoff: ADI boundary between smooth/erratic and intermittent/lumpy [periods].
        cv2_cutoff: CV² boundary between smooth/intermittent and erratic/lumpy [-].
        max_history: only the most recent periods count [periods].

    Returns:
        The ADI, CV² and class label of every series.
    """
    Y, _ = padded(demand, max_history)
    return classify_matrix(Y, adi_cutoff, cv2_cutoff)
