"""Demand classes by ADI and CV² (Syntetos & Boylan) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from platform_core.components import DemandSeries
from platform_core.forecasting.classes import classify, classify_matrix


def make_series(rows: list[np.ndarray]) -> DemandSeries:
    ptr = np.concatenate(([0], np.cumsum([len(r) for r in rows]))).astype(np.int64)
    vals = np.concatenate(rows).astype(float)
    return DemandSeries([f"s{i}@L" for i in range(len(rows))], vals, np.zeros(vals.size, bool), ptr)


def test_classify_syntetos_boylan():
    smooth = np.full(24, 5.0)
    erratic = np.tile([1.0, 20.0], 12)
    intermittent = np.tile([0.0, 0.0, 4.0], 8)
    lumpy = np.tile([0.0, 0.0, 1.0, 0.0, 0.0, 30.0], 4)
    none = np.zeros(24)
    c = classify(make_series([smooth, erratic, intermittent, lumpy, none]))
    assert list(c.label) == ["smooth", "erratic", "intermittent", "lumpy", "none"]
    assert c.adi[2] == pytest.approx(3.0)
    assert c.cv2[1] == pytest.approx(np.var([1, 20]) / np.mean([1, 20]) ** 2)


def test_classify_matrix_ignores_missing_values_and_takes_cutoffs():
    Y = np.array([[np.nan, 0.0, 3.0, 0.0, 3.0]])  # 4 observed, 2 with demand, equal sizes
    c = classify_matrix(Y)
    assert c.adi[0] == pytest.approx(2.0) and c.cv2[0] == pytest.approx(0.0)
    assert c.label[0] == "intermittent"
    assert classify_matrix(Y, adi_cutoff=2.5).label[0] == "smooth"


def test_classify_reads_only_the_most_recent_history():
    ds = make_series([np.array([0.0, 0.0, 0.0, 0.0, 5.0, 5.0])])
    assert classify(ds).label[0] == "intermittent"
    assert classify(ds, max_history=2).label[0] == "smooth"
