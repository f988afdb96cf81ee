"""The optional ``signals`` table: loaded, validated with file/column/row errors, on the demand grid."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_core.data.errors import DataValidationError
from platform_core.data.generate import SIGNAL_COLUMNS, generate_dataset
from platform_core.data.loaders import load_dataset
from platform_core.forecasting.series import demand_series_from_table

START = dt.date(2024, 1, 1)


def _signals(rows: list[tuple[str, str, object, object]], **extra: list[object]) -> pa.Table:
    cols: dict[str, pa.Array] = {
        "sku": pa.array([r[0] for r in rows], pa.string()),
        "location": pa.array([r[1] for r in rows], pa.string()),
        "period": pa.array([r[2] for r in rows], pa.date32()),
        "pos": pa.array([r[3] for r in rows], pa.float64()),
    }
    for name, values in extra.items():
        cols[name] = pa.array(values)
    return pa.table(cols)


def _week(k: int) -> dt.date:
    return START + dt.timedelta(days=7 * k)


def _error(make_dataset, tables, fmt="parquet") -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_dataset(make_dataset(tables, fmt))
    return info.value


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_signals_load_as_numbers_and_reach_the_series(make_dataset, tables, fmt):
    rows = [("A", "S1", _week(k), float(10 * k)) for k in range(6)]
    tables["signals"] = _signals(rows, inquiries=[1, None, 3, 4, 5, 6])
    ds = load_dataset(make_dataset(tables, fmt))
    sig = ds.get("signals")
    assert sig.schema.field("pos").type == pa.float64()
    assert sig.schema.field("inquiries").type == pa.float64()  # integers (or CSV text) become numbers
    series = demand_series_from_table(ds.demand, sig)
    assert series.exogenous_names == ("pos", "inquiries")
    i = series.keys.index("A@S1")
    a, b = int(series.indptr[i]), int(series.indptr[i + 1])
    assert series.exogenous[a:b, 0].tolist() == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert np.isnan(series.exogenous[a + 1, 1])
    j = series.keys.index("B@S2")  # no signal rows: NaN
    assert np.isnan(series.exogenous[int(series.indptr[j]) : int(series.indptr[j + 1])]).all()


def test_text_in_a_signal_column_names_file_column_row(make_dataset, tables):
    tables["signals"] = _signals([("A", "S1", _week(0), 1.0), ("A", "S1", _week(1), 2.0)],
                                 orders=["3", "lots"])
    err = _error(make_dataset, tables, "csv")
    assert err.file.endswith("signals.csv") and err.column == "orders" and err.row == 2
    assert err.expected == "a number" and "lots" in err.got


def test_infinite_signal_and_unknown_stage(make_dataset, tables):
    tables["signals"] = _signals([("A", "S1", _week(0), 1.0), ("A", "S1", _week(1), float("inf"))])
    err = _error(make_dataset, tables)
    assert (err.column, err.row) == ("pos", 2) and "[-1e12, 1e12]" in err.expected
    tables["signals"] = _signals([("A", "S1", _week(0), 1.0), ("Z", "S9", _week(1), 2.0)])
    err = _error(make_dataset, tables)
    assert (err.column, err.row) == ("sku,location", 2) and err.expected == "a stage listed in stages"


def test_duplicate_key_and_no_signal_column(make_dataset, tables):
    tables["signals"] = _signals([("A", "S1", _week(0), 1.0), ("A", "S1", _week(0), 2.0)])
    err = _error(make_dataset, tables)
    assert err.column == "sku,location,period" and err.rows == (1, 2)
    tables["signals"] = _signals([("A", "S1", _week(0), 1.0)]).drop_columns(["pos"])
    err = _error(make_dataset, tables)
    assert err.column is None and "at least one signal column" in err.expected


def test_periods_must_be_on_the_demand_grid(make_dataset, tables):
    tables["signals"] = _signals([("A", "S1", _week(0), 1.0), ("A", "S1", _week(1) + dt.timedelta(days=2), 2.0)])
    err = _error(make_dataset, tables)
    assert (err.column, err.row) == ("period", 2)
    assert err.expected == "the first day of a period of the demand grid (7-day periods from 2024-01-01 to 2024-02-05)"
    assert err.got == "2024-01-10"
    tables["signals"] = _signals([("A", "S1", _week(5), 1.0), ("A", "S1", _week(6), 2.0), ("A", "S2", _week(-1), 3)])
    err = _error(make_dataset, tables)  # after the last demand period, and before the first
    assert (err.row, err.got) == (2, "2024-02-12") and "1 more row like this" in err.line


def test_generator_signals_leave_every_other_file_alone_and_lead_by_two(tmp_path):
    plain = generate_dataset(tmp_path / "a", 40, 5, periods=30)
    withs = generate_dataset(tmp_path / "b", 40, 5, periods=30, signals=True)
    for name in ("stages", "edges", "demand", "receipts", "costs", "current_policy"):
        assert pq.read_table(tmp_path / "a" / f"{name}.parquet").equals(pq.read_table(tmp_path / "b" / f"{name}.parquet"))
    assert "signals.parquet" in withs["files"] and "signals.parquet" not in plain["files"]
    ds = load_dataset(tmp_path / "b")
    sig = ds.get("signals")
    assert tuple(sig.column_names[3:]) == SIGNAL_COLUMNS
    truth = pq.read_table(tmp_path / "b" / "truth" / "demand_truth.parquet")
    assert sig.select(["sku", "location", "period"]).equals(truth.select(["sku", "location", "period"]).cast(
        sig.select(["sku", "location", "period"]).schema))
    # pos_lead2 at t is the true demand of t + 2 times exp(N(0, 0.2^2)): the log ratio has sd 0.2
    true_q, pos = truth.column("true_quantity").to_numpy(), sig.column("pos_lead2").to_numpy()
    same = np.r_[(truth.column("sku").to_numpy(zero_copy_only=False)[2:] ==
                  truth.column("sku").to_numpy(zero_copy_only=False)[:-2])
                 & (truth.column("location").to_numpy(zero_copy_only=False)[2:] ==
                    truth.column("location").to_numpy(zero_copy_only=False)[:-2]), [False, False]]
    ahead = np.r_[true_q[2:], [0.0, 0.0]]
    ok = same & (ahead >= 5)
    ratio = np.log(pos[ok] / ahead[ok])
    assert abs(ratio.mean()) < 0.03 and 0.17 < ratio.std() < 0.23
    assert np.all(pos[same & (ahead == 0)] == 0)
    # within a series, the noise signals are unrelated to demand two periods on (pos_lead2 is not)
    key = np.char.add(truth.column("sku").to_numpy(zero_copy_only=False).astype(str),
                      truth.column("location").to_numpy(zero_copy_only=False).astype(str))
    _, code = np.unique(key, return_inverse=True)

    def demeaned(x: np.ndarray) -> np.ndarray:
        x = x[same]
        return x - (np.bincount(code[same], weights=x) / np.maximum(np.bincount(code[same]), 1))[code[same]]

    # (bounds about 4 standard errors of a correlation over these ~900 rows; the AR(1) index and the
    # seasonal demand are both autocorrelated, which widens the spread of a null correlation)
    for name, low, high in (("noise_orders", -0.15, 0.15), ("noise_index", -0.2, 0.2), ("pos_lead2", 0.8, 1.0)):
        r = np.corrcoef(demeaned(sig.column(name).to_numpy()), demeaned(ahead))[0, 1]
        assert low < r < high, (name, r)
