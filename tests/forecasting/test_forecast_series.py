"""Demand series helpers: from a demand table, and the right-aligned padded matrix."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from platform_core.components import DemandSeries
from platform_core.forecasting.series import demand_series_from_table, padded


def make_series(rows: list[np.ndarray], stocked: list[np.ndarray] | None = None) -> DemandSeries:
    ptr = np.concatenate(([0], np.cumsum([len(r) for r in rows]))).astype(np.int64)
    vals = np.concatenate(rows).astype(float) if rows else np.zeros(0)
    so = np.concatenate(stocked) if stocked else np.zeros(vals.size, dtype=bool)
    return DemandSeries([f"s{i}@L" for i in range(len(rows))], vals, so, ptr)


def demand_table(n_series: int, T: int) -> pa.Table:
    rng = np.random.default_rng(3)
    start = dt.date(2024, 1, 1)
    return pa.table({
        "sku": [f"P{i}" for i in range(n_series) for _ in range(T)],
        "location": ["DC1"] * (n_series * T),
        "period": [start + dt.timedelta(days=7 * t) for _ in range(n_series) for t in range(T)],
        "quantity": rng.poisson(3, n_series * T).astype(float),
        "stocked_out": [False] * (n_series * T),
    })


def test_padded_right_aligns_ragged_series():
    ds = make_series([np.array([1.0, 2.0, 3.0]), np.array([4.0])])
    Y, C = padded(ds)
    assert Y.shape == (2, 3)
    np.testing.assert_array_equal(Y[0], [1, 2, 3])
    assert np.isnan(Y[1, :2]).all() and Y[1, 2] == 4
    assert not C.any()


def test_padded_keeps_the_most_recent_history_and_flags():
    ds = make_series([np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 6.0])],
                     [np.array([False, False, True, False]), np.array([True, False])])
    Y, C = padded(ds, max_history=3)
    np.testing.assert_array_equal(Y, [[2, 3, 4], [np.nan, 5, 6]])
    np.testing.assert_array_equal(C, [[False, True, False], [False, True, False]])


def test_demand_series_from_table_sorts_and_keys():
    t = demand_table(3, 5)
    ds = demand_series_from_table(t.take(np.arange(t.num_rows)[::-1]))
    assert ds.keys == ["P0@DC1", "P1@DC1", "P2@DC1"]
    np.testing.assert_array_equal(ds.values[:5], t.column("quantity").to_numpy()[:5])
    np.testing.assert_array_equal(ds.indptr, [0, 5, 10, 15])


def test_demand_series_from_table_without_stockout_column_or_rows():
    t = demand_table(2, 3).drop_columns(["stocked_out"])
    ds = demand_series_from_table(t)
    assert not np.asarray(ds.stocked_out).any() and len(ds) == 2
    empty = demand_series_from_table(t.slice(0, 0))
    assert len(empty) == 0 and list(empty.indptr) == [0]
