"""Demand rows are put on the period grid by the loader (issue #22, defect 4).

Expected values are computed here from the rows with plain Python (dicts of sums), not
by the code under test.
"""

from __future__ import annotations

import datetime as dt
import math
import os

import numpy as np
import pyarrow as pa
import pytest

from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import load_dataset
from platform_core.data.schemas import FILE_SPECS

START = dt.date(2024, 1, 1)  # a Monday


def _demand(rows: list[tuple]) -> pa.Table:
    """Demand table from (sku, location, date, quantity, stocked_out) rows."""
    spec = FILE_SPECS["demand"]
    cols = list(zip(*rows, strict=True))
    names = ["sku", "location", "period", "quantity", "stocked_out"]
    return pa.table({n: pa.array(list(c), type=spec.column(n).type) for n, c in zip(names, cols, strict=True)})


def _rows(ds) -> list[tuple]:
    d = ds.demand
    cols = [d.column(c).to_pylist() for c in ("sku", "location", "period", "quantity", "stocked_out")]
    return list(zip(*cols, strict=True))


def _expected(rows: list[tuple], period_days: float, drop_after: dt.date | None = None) -> dict:
    """(sku, location, period start) -> (sum or None if any null, any stocked_out), by hand."""
    first = min(r[2] for r in rows)
    out: dict = {}
    for sku, loc, day, q, so in rows:
        k = math.floor((day - first).days / period_days)
        start = first + dt.timedelta(days=math.ceil(k * period_days))
        if drop_after is not None and start >= drop_after:
            continue
        s, n_null, flag = out.get((sku, loc, start), (0.0, 0, False))
        out[(sku, loc, start)] = (s + (q or 0.0), n_null + (q is None), flag or bool(so))
    return {k: (None if n else s, f) for k, (s, n, f) in out.items()}


def test_two_rows_in_one_period_are_summed_not_overwritten(make_dataset, tables):
    # the reported case: a 500 landed in the same week as another row and vanished in planning
    rows = [("A", "S1", START + dt.timedelta(days=7 * p), float(p + 1), False) for p in range(6)]
    rows.append(("A", "S1", START + dt.timedelta(days=9), 500.0, False))  # Wednesday of week 2
    tables["demand"] = _demand(rows)
    ds = load_dataset(make_dataset(tables), period_days=7.0)
    got = {(s, loc, p): q for s, loc, p, q, _ in _rows(ds)}
    assert got[("A", "S1", START + dt.timedelta(days=7))] == 2.0 + 500.0
    assert len(got) == 6 and ds.demand.num_rows == 6
    assert sum(got.values()) == sum(r[3] for r in rows)
    assert ds.demand_grid is not None and ds.demand_grid.aggregated
    assert ds.demand_grid.rows_in == 7 and ds.demand_grid.rows_out == 6
    # weekly rows with one off their day: still weekly rows, the last week is whole
    assert ds.demand_grid.row_spacing_days == 7 and ds.demand_grid.partial_period is None


def test_planning_sees_the_sum(make_dataset, tables):
    from platform_core.networks import index_networks
    from platform_core.plan import _demand_matrix

    rows = [("A", "S1", START + dt.timedelta(days=7 * p), 10.0, False) for p in range(4)]
    rows.append(("A", "S1", START + dt.timedelta(days=8), 500.0, True))
    tables["demand"] = _demand(rows)
    ds = load_dataset(make_dataset(tables), period_days=7.0)
    structure = index_networks(ds)
    matrix, flags, _ = _demand_matrix(ds.demand, structure.index, structure.rank, 7.0)
    row = structure.rank[structure.index.lookup(pa.table({"sku": ["A"], "location": ["S1"]}))[0]]
    assert matrix[row].tolist() == [10.0, 510.0, 10.0, 10.0]
    assert flags[row].tolist() == [False, True, False, False]


def _daily(n_days: int, seed: int = 5) -> list[tuple]:
    rng = np.random.default_rng(seed)
    rows = []
    for sku, loc in (("A", "S1"), ("A", "S2"), ("B", "S1")):
        for t in range(n_days):
            if rng.random() < 0.15:
                continue  # no row that day
            q = None if rng.random() < 0.03 else float(rng.integers(0, 20))
            rows.append((sku, loc, START + dt.timedelta(days=t), q, bool(rng.random() < 0.05)))
    rng.shuffle(rows)  # file order is not date order
    return rows


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_daily_rows_become_weekly_periods(make_dataset, tables, fmt):
    rows = _daily(7 * 8)  # exactly 8 whole weeks
    rows.append(("B", "S2", START + dt.timedelta(days=7 * 8 - 1), 3.0, None))  # data reaches the last day
    tables["demand"] = _demand(rows)
    ds = load_dataset(make_dataset(tables, fmt), period_days=7.0)
    want = _expected(rows, 7.0)
    got = {(s, loc, p): (q, so) for s, loc, p, q, so in _rows(ds)}
    assert got.keys() == want.keys()
    for key, (q, flag) in want.items():
        assert got[key][0] == q, key  # integer-valued sums: exact
        assert bool(got[key][1]) == flag, key
    assert all((p - START).days % 7 == 0 for _, _, p in got)
    grid = ds.demand_grid
    assert grid.first_period == START and grid.n_periods == 8 and grid.partial_period is None
    assert grid.row_spacing_days == 1
    assert grid.rows_dropped == 0 and grid.rows_in == len(rows) and grid.rows_out == len(want)
    # one row per stage-period, in the order of each period's first row in the file
    keys = [(s, loc, p) for s, loc, p, _, _ in _rows(ds)]
    assert len(set(keys)) == len(keys)
    firsts = []
    for s, loc, day, _, _ in rows:
        k = (s, loc, START + dt.timedelta(days=7 * ((day - START).days // 7)))
        if k not in firsts:
            firsts.append(k)
    assert keys == firsts


def test_partial_last_period_is_dropped_and_reported(make_dataset, tables):
    rows = _daily(7 * 5 + 3)  # 5 whole weeks and 3 days of the sixth
    tables["demand"] = _demand(rows)
    ds = load_dataset(make_dataset(tables), period_days=7.0)
    cut = START + dt.timedelta(days=35)
    want = _expected(rows, 7.0, drop_after=cut)
    got = {(s, loc, p): q for s, loc, p, q, _ in _rows(ds)}
    assert got == {k: q for k, (q, _) in want.items()}
    grid = ds.demand_grid
    assert grid.partial_period == cut and grid.n_periods == 5
    assert grid.rows_dropped == sum(1 for r in rows if r[2] >= cut) > 0
    assert "partial" in grid.describe() and "2024-02-05" in grid.describe()


def test_a_null_day_makes_its_period_null(make_dataset, tables):
    rows = [("A", "S1", START + dt.timedelta(days=t), 1.0, False) for t in range(14)]
    rows[3] = ("A", "S1", rows[3][2], None, False)
    tables["demand"] = _demand(rows)
    ds = load_dataset(make_dataset(tables), period_days=7.0)
    assert [q for *_, q, _ in _rows(ds)] == [None, 7.0]


def test_rows_on_the_grid_are_returned_unchanged(make_dataset, tables):
    root = make_dataset(tables)
    import pyarrow.parquet as pq

    raw = pq.read_table(root / "demand.parquet")
    for period_days in (7.0, 1.0, 3.5):
        ds = load_dataset(root, period_days=period_days)
        if period_days == 3.5:  # weekly rows are on a 3.5-day grid too (every second period)
            assert not ds.demand_grid.aggregated
        assert ds.demand.cast(raw.schema).equals(raw)
        assert ds.demand_grid.rows_dropped == 0 and ds.demand_grid.rows_in == ds.demand_grid.rows_out


@pytest.mark.parametrize(("weeks", "partial"), [(6, False), (5, True)])
def test_weekly_rows_on_a_fortnight_grid_are_summed(make_dataset, tables, weeks, partial):
    rows = [("A", "S1", START + dt.timedelta(days=7 * p), float(p + 1), p == 2) for p in range(weeks)]
    tables["demand"] = _demand(rows)
    ds = load_dataset(make_dataset(tables), period_days=14.0)
    # rows 7 days apart cover 7 days each: six weeks fill three fortnights, five leave the
    # third half covered (dropped as partial)
    want = [(START, 3.0, False), (START + dt.timedelta(days=14), 7.0, True),
            (START + dt.timedelta(days=28), 11.0, False)]
    grid = ds.demand_grid
    assert grid.row_spacing_days == 7
    if partial:
        assert [(p, q, so) for _, _, p, q, so in _rows(ds)] == want[:2]
        assert grid.partial_period == START + dt.timedelta(days=28) and grid.rows_dropped == 1
    else:
        assert [(p, q, so) for _, _, p, q, so in _rows(ds)] == want
        assert grid.partial_period is None and grid.rows_dropped == 0


def test_non_integer_period_days_labels_match_planning(make_dataset, tables):
    from platform_core.networks import index_networks
    from platform_core.plan import _demand_matrix

    rows = [("A", "S1", START + dt.timedelta(days=t), float(t), False) for t in range(21)]
    tables["demand"] = _demand(rows)
    ds = load_dataset(make_dataset(tables), period_days=3.5)
    want = _expected(rows, 3.5)
    got = {(s, loc, p): q for s, loc, p, q, _ in _rows(ds)}
    assert got == {k: q for k, (q, _) in want.items()}
    structure = index_networks(ds)
    matrix, _, _ = _demand_matrix(ds.demand, structure.index, structure.rank, 3.5)
    row = structure.rank[structure.index.lookup(pa.table({"sku": ["A"], "location": ["S1"]}))[0]]
    assert matrix[row].tolist() == [q for (_, _, _), (q, _) in sorted(want.items(), key=lambda kv: kv[0][2])]


def test_same_date_twice_is_an_error(make_dataset, tables):
    rows = [("A", "S1", START + dt.timedelta(days=t), 1.0, False) for t in range(10)]
    rows.append(("A", "S1", START + dt.timedelta(days=4), 2.0, False))
    tables["demand"] = _demand(rows)
    with pytest.raises(DataValidationError) as info:
        load_dataset(make_dataset(tables), period_days=7.0)
    err = info.value
    assert (os.path.basename(err.file), err.rows) == ("demand.parquet", (5, 11))
    assert "one row per stage and date" in err.expected


def test_extra_columns_of_summed_rows_are_dropped_and_reported(make_dataset, tables):
    rows = [("A", "S1", START + dt.timedelta(days=t), 1.0, False) for t in range(14)]
    tables["demand"] = _demand(rows).append_column("channel", pa.array(["web", "shop"] * 7))
    ds = load_dataset(make_dataset(tables), period_days=7.0)
    assert "channel" not in ds.demand.column_names
    assert ds.demand_grid.columns_dropped == ("channel",)


def test_period_days_must_be_positive(make_dataset, tables):
    with pytest.raises(ValueError, match="period_days"):
        load_dataset(make_dataset(tables), period_days=0.0)


def test_default_period_days_is_the_run_default():
    from platform_core.config import RunSettings
    from platform_core.data.periods import DEFAULT_PERIOD_DAYS

    assert DEFAULT_PERIOD_DAYS == RunSettings().period_days == 7.0


@pytest.mark.parametrize("period_days", [7, 14])
def test_generated_data_is_on_the_grid_and_unchanged(tmp_path, period_days):
    import pyarrow.parquet as pq

    from platform_core.data.generate import generate_dataset

    root = tmp_path / "gen"
    generate_dataset(root, sku_locations=60, seed=4, periods=20, period_days=period_days)
    raw = pq.read_table(root / "demand.parquet")
    ds = load_dataset(root, period_days=float(period_days))
    assert not ds.demand_grid.aggregated and ds.demand_grid.n_periods == 20
    assert ds.demand.cast(raw.schema).equals(raw)


def test_period_starts_against_brute_force():
    from platform_core.data.periods import period_starts

    for pd_ in (1.0, 7.0, 3.5, 0.5, 2.2, 10 / 3, 30.4375):
        got = period_starts(40, pd_).tolist()
        # smallest whole o >= 0 with floor(o / pd) >= k, by search
        want = [next(o for o in range(10_000) if math.floor(o / pd_) >= k) for k in range(40)]
        assert got == want, pd_


def test_rows_summed_across_parquet_row_groups(tmp_path, tables):
    # each row group is a chunk with its own dictionary of sku and location (found by fuzzing)
    import pyarrow.parquet as pq

    rows = [("A", "S1", START + dt.timedelta(days=t), 1.0, False) for t in range(14)]
    rows += [("B", "S2", START + dt.timedelta(days=t), 2.0, t == 3) for t in range(14)]
    tables["demand"] = _demand(rows)
    root = tmp_path / "rg"
    root.mkdir()
    for name, t in tables.items():
        pq.write_table(t, root / f"{name}.parquet", row_group_size=3)
    ds = load_dataset(root, period_days=7.0)
    assert _rows(ds) == [("A", "S1", START, 7.0, False), ("A", "S1", START + dt.timedelta(days=7), 7.0, False),
                         ("B", "S2", START, 14.0, True), ("B", "S2", START + dt.timedelta(days=7), 14.0, False)]
