"""Lead times without receipts: per-stage and per-edge columns (issue #22, defect 6).

Distributions are checked against an independent method: the mass of each period as an
integral of the gamma density against the interpolation kernel (``scipy.integrate.quad``).
"""

from __future__ import annotations

import os
from typing import Self

import numpy as np
import pyarrow as pa
import pytest
from scipy import integrate, stats

from platform_core.components import LeadTimeModel
from platform_core.data.errors import DataValidationError
from platform_core.data.loaders import load_dataset
from platform_core.data.schemas import Dataset
from platform_core.data.validate import validate_dataset
from platform_core.distributions import DiscreteDistribution
from platform_core.fitting import fit_lead_times
from platform_core.networks import index_networks


def _col(t: pa.Table, name: str, values: list) -> pa.Table:
    arr = pa.array(values, pa.float64())
    if name in t.column_names:
        return t.set_column(t.column_names.index(name), name, arr)
    return t.append_column(name, arr)


def _stage_values(t: pa.Table, values: dict[tuple[str, str], float | None]) -> list:
    keys = zip(t.column("sku").to_pylist(), t.column("location").to_pylist(), strict=True)
    return [values.get(k) for k in keys]


def _kernel_pmf(mean: float, sd: float, k_max: int) -> np.ndarray:
    """P(K = k) = E[max(0, 1 - |X - k|)], X ~ gamma(mean, sd) [periods], by quadrature."""
    a, scale = (mean / sd) ** 2, sd * sd / mean
    f = stats.gamma(a, scale=scale).pdf
    out = []
    for k in range(k_max + 1):
        lo, hi = max(0.0, k - 1.0), k + 1.0
        val, _ = integrate.quad(lambda x, k=k: (1.0 - abs(x - k)) * f(x), lo, hi, points=[k], limit=200)
        out.append(val)
    return np.array(out)


def _full(d: DiscreteDistribution, size: int) -> np.ndarray:
    out = np.zeros(max(size, d.offset + d.pmf.size))
    out[d.offset : d.offset + d.pmf.size] = d.pmf
    return out


@pytest.mark.parametrize(("mean_days", "sd_days", "period_days"), [
    (30.0, 6.0, 7.0), (7.0, 2.0, 7.0), (45.0, 20.0, 7.0), (3.0, 1.0, 1.0), (10.0, 9.0, 3.5), (200.0, 30.0, 7.0),
])
def test_gamma_lead_time_mean_is_exact_and_matches_quadrature(mean_days, sd_days, period_days):
    from platform_core.fitting import lead_time_distribution

    d = lead_time_distribution(mean_days, sd_days, period_days)
    m, s = mean_days / period_days, sd_days / period_days
    assert d.mean() == pytest.approx(m, rel=1e-9, abs=1e-12)
    k_max = d.offset + d.pmf.size - 1
    ref = _kernel_pmf(m, s, k_max)
    np.testing.assert_allclose(_full(d, k_max + 1)[: k_max + 1], ref, atol=1e-8)
    # the kernel adds E[frac * (1 - frac)] < 1/4 period^2 to the gamma's variance
    assert s * s <= d.var() <= s * s + 0.25 + 1e-9
    assert d.pmf.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("mean_days", "period_days", "support", "pmf"), [
    (10.0, 7.0, [1, 2], [4 / 7, 3 / 7]),
    (14.0, 7.0, [2], [1.0]),
    (0.0, 7.0, [0], [1.0]),
    (5.0, 2.0, [2, 3], [0.5, 0.5]),
])
def test_zero_spread_splits_between_neighbouring_periods(mean_days, period_days, support, pmf):
    from platform_core.fitting import lead_time_distribution

    d = lead_time_distribution(mean_days, 0.0, period_days)
    assert d.support.tolist() == support
    np.testing.assert_allclose(d.pmf, pmf, atol=1e-15)
    assert d.mean() == pytest.approx(mean_days / period_days, abs=1e-12)


@pytest.mark.parametrize(("days", "period_days"), [(21.0, 7.0), (10.0, 7.0), (11.0, 7.0), (3.5, 7.0), (0.0, 7.0)])
def test_without_spread_the_lead_time_is_fixed_and_rounded_as_before(days, period_days):
    from platform_core.fitting import lead_time_distribution

    d = lead_time_distribution(days, None, period_days)
    assert d.support.tolist() == [int(round(days / period_days))] and d.pmf.tolist() == [1.0]


class _OnlyLanes(LeadTimeModel):
    """A stub lead-time model that knows only the lanes it is given (periods fixed)."""

    def __init__(self, known: dict[tuple[str, str], int] | None = None) -> None:
        self.known = known or {}

    def fit(self, receipts: pa.Table) -> Self:
        return self

    def predict(self, lanes: pa.Table, period_days: float) -> list[DiscreteDistribution | None]:
        keys = zip(lanes.column("sku").to_pylist(), lanes.column("location").to_pylist(), strict=True)
        return [DiscreteDistribution.point(self.known[k]) if k in self.known else None for k in keys]


def _fallback_tables(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    st = tables["stages"]
    st = _col(st, "lead_time_days", _stage_values(st, {("A", "P1"): 21.0, ("B", "P1"): 30.0, ("B", "S1"): 10.0,
                                                       ("A", "DC1"): 99.0}))
    st = _col(st, "lead_time_days_sd", _stage_values(st, {("B", "P1"): 6.0, ("B", "S1"): 0.0}))
    tables["stages"] = st
    ed = tables["edges"]  # A: P1 -> DC1 (7 days, sd 2), DC1 -> S1/S2 (2 days); B: DC1 -> S1/S2 unknown
    ed = _col(ed, "transit_days", [7.0, 2.0, 2.0, 7.0, None, None])
    ed = _col(ed, "transit_days_sd", [2.0, None, None, None, None, None])
    tables["edges"] = ed
    return tables


def test_fallback_order_and_sources(make_dataset, tables):
    tables = _fallback_tables(tables)
    ds = load_dataset(make_dataset(tables, "csv"))
    structure = index_networks(ds)
    lt = fit_lead_times(ds, structure, _OnlyLanes({("A", "S2"): 4}), 7.0, 14.0)
    st = ds.stages
    got = {}
    for i, key in enumerate(zip(st.column("sku").to_pylist(), st.column("location").to_pylist(), strict=True)):
        d = DiscreteDistribution(lt.pmf[lt.ptr[i]:lt.ptr[i + 1]], int(lt.offset[i]))
        got[key] = (str(lt.source[i]), d)
    assert {k: v[0] for k, v in got.items()} == {
        ("A", "P1"): "stage_lead_time_days", ("A", "DC1"): "edge_transit_days",
        ("A", "S1"): "edge_transit_days", ("A", "S2"): "receipts",
        ("B", "P1"): "stage_lead_time_days", ("B", "DC1"): "edge_transit_days",
        ("B", "S1"): "stage_lead_time_days", ("B", "S2"): "default_lead_time_days",
    }
    assert got[("A", "P1")][1] == DiscreteDistribution.point(3)  # 21 days, fixed
    assert got[("A", "DC1")][1].mean() == pytest.approx(1.0, abs=1e-12)  # edge 7 +- 2 days beats the stage's 99
    assert got[("A", "DC1")][1].pmf.size > 2
    assert got[("A", "S1")][1] == DiscreteDistribution.point(0)  # 2 days, fixed: round(2/7)
    assert got[("A", "S2")][1] == DiscreteDistribution.point(4)  # receipts first
    assert got[("B", "P1")][1].mean() == pytest.approx(30 / 7, abs=1e-12)
    assert got[("B", "S1")][1].support.tolist() == [1, 2]  # 10 days +- 0: mean 10/7 exactly
    assert got[("B", "S1")][1].mean() == pytest.approx(10 / 7, abs=1e-15)
    assert got[("B", "S2")][1] == DiscreteDistribution.point(2)  # default 14 days


def test_without_the_new_columns_nothing_changes(make_dataset, tables):
    ds = load_dataset(make_dataset(tables))
    lt = fit_lead_times(ds, index_networks(ds), _OnlyLanes(), 7.0, 14.0)
    # independent: round(first inbound arc's transit / 7), else round(14 / 7)
    assert lt.offset.tolist() == [2, 1, 0, 0] * 2 and lt.pmf.tolist() == [1.0] * 8
    assert lt.source.tolist() == ["default_lead_time_days"] + ["edge_transit_days"] * 3 + \
        ["default_lead_time_days"] + ["edge_transit_days"] * 3


@pytest.mark.parametrize(("name", "col", "value", "expected"), [
    ("stages", "lead_time_days", -1.0, "a number in [0, 3650]"),
    ("stages", "lead_time_days", 1e308, "a number in [0, 3650]"),
    ("stages", "lead_time_days_sd", float("nan"), "a number in [0, 3650]"),
    ("edges", "transit_days_sd", 5000.0, "a number in [0, 3650]"),
])
def test_lead_time_columns_are_validated(make_dataset, tables, name, col, value, expected):
    tables = _fallback_tables(tables)
    t = tables[name]
    vals = t.column(col).to_pylist()
    vals[1] = value
    tables[name] = _col(t, col, vals)
    if name == "stages" and col == "lead_time_days_sd":
        tables[name] = _col(tables[name], "lead_time_days", [5.0] * t.num_rows)
    with pytest.raises(DataValidationError) as info:
        load_dataset(make_dataset(tables, "csv"))
    err = info.value
    assert (os.path.basename(err.file), err.column, err.row) == (f"{name}.csv", col, 2)
    assert err.expected == expected


def test_spread_without_its_mean_is_an_error(tables):
    tables = _fallback_tables(tables)
    ed = tables["edges"]
    tables["edges"] = _col(ed, "transit_days_sd", [2.0, None, None, None, 3.0, None])  # row 5: transit null
    st = tables["stages"]
    tables["stages"] = _col(st, "lead_time_days", [0.0] + st.column("lead_time_days").to_pylist()[1:])
    tables["stages"] = _col(tables["stages"], "lead_time_days_sd", [1.0] + [None] * 7)  # mean 0, spread 1
    with pytest.raises(DataValidationError) as info:
        validate_dataset(Dataset(root="mem", tables=tables))
    by = {(os.path.basename(e.file), e.column): e for e in info.value.errors}
    e = by[("edges", "transit_days")]
    assert e.row == 5 and e.got == "null" and "transit_days_sd is given" in e.expected
    e = by[("stages", "lead_time_days_sd")]
    assert e.row == 1 and "0 when lead_time_days is 0" in e.expected
