"""The synthetic dataset generator: exact size, determinism, realism, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from platform_core.data import generate as gen
from platform_core.data.generate import DEMAND_CLASSES, generate_dataset
from platform_core.data.loaders import load_dataset

N = 400
PERIODS = 60


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gen") / "ds"
    meta = generate_dataset(out, N, seed=11, periods=PERIODS)
    return out, meta


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed(tmp_path, generated):
    root, _ = generated
    generate_dataset(tmp_path / "again", N, seed=11, periods=PERIODS)
    a, b = _files(root), _files(tmp_path / "again")
    assert sorted(a) == sorted(b)
    assert "truth/demand_truth.parquet" in a and "generator.json" in a
    for name in a:
        assert a[name] == b[name], name


def test_different_seeds_differ(tmp_path, generated):
    root, _ = generated
    generate_dataset(tmp_path / "other", N, seed=12, periods=PERIODS)
    for name in ("demand", "stages", "receipts"):
        t1 = pq.read_table(root / f"{name}.parquet")
        t2 = pq.read_table(tmp_path / "other" / f"{name}.parquet")
        assert not t1.equals(t2), name


@pytest.mark.parametrize("n", [1, 2, 3, 17, 123])
def test_exact_sku_location_count(tmp_path, n):
    meta = generate_dataset(tmp_path / "ds", n, seed=n, periods=12)
    ds = load_dataset(tmp_path / "ds")
    assert ds.stages.num_rows == n == meta["counts"]["stages"]
    assert meta["parameters"]["sku_locations"] == n


def test_loads_and_validates_cleanly(generated):
    root, meta = generated
    ds = load_dataset(root)
    assert set(ds.tables) == {"stages", "edges", "demand", "receipts", "costs", "current_policy"}
    assert ds.stages.num_rows == N
    assert ds.demand.num_rows == meta["counts"]["demand_rows"]
    assert ds.tables["receipts"].num_rows == meta["counts"]["receipts"]
    assert json.loads((root / "generator.json").read_text())["counts"] == meta["counts"]
    types = set(ds.stages.column("location_type").to_pylist())
    assert types == {"plant", "central_dc", "regional_dc", "store"}


def test_csv_format_round_trips(tmp_path, generated):
    root, _ = generated
    generate_dataset(tmp_path / "csv", N, seed=11, periods=PERIODS, fmt="csv")
    assert (tmp_path / "csv" / "demand.csv").exists()
    a, b = load_dataset(root), load_dataset(tmp_path / "csv")
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name


def _sb_classes(truth: pa.Table) -> tuple[list[tuple[str, str]], np.ndarray]:
    """Syntetos-Boylan class of every (sku, location) series of the true demand."""
    key = pc.binary_join_element_wise(truth.column("sku"), truth.column("location"), "|")
    uniq = pc.unique(key)
    idx = pc.index_in(key, value_set=uniq).to_numpy()
    q = truth.column("true_quantity").to_numpy()
    k = len(uniq)
    n = np.bincount(idx, minlength=k)
    nz = q > 0
    cnt = np.bincount(idx, weights=nz, minlength=k)
    s1 = np.bincount(idx, weights=q, minlength=k)
    s2 = np.bincount(idx, weights=q**2, minlength=k)
    mean = s1 / np.maximum(cnt, 1)
    cv2 = (s2 / np.maximum(cnt, 1) - mean**2) / np.maximum(mean, 1e-12) ** 2
    adi = n / np.maximum(cnt, 1)
    cls = np.where(adi < 1.32, np.where(cv2 < 0.49, 0, 1), np.where(cv2 < 0.49, 2, 3))
    keys = [tuple(s.split("|")) for s in uniq.to_pylist()]
    return keys, cls


def test_all_demand_classes_present(generated):
    root, _ = generated
    truth = pq.read_table(root / "truth" / "demand_truth.parquet")
    keys, cls = _sb_classes(truth)
    counts = np.bincount(cls, minlength=4)
    assert (counts >= 5).all(), dict(zip(DEMAND_CLASSES, counts, strict=True))
    series = pq.read_table(root / "truth" / "series_truth.parquet")
    intended = dict(zip(zip(series.column("sku").to_pylist(), series.column("location").to_pylist(),
                            strict=True), series.column("demand_class").to_pylist(), strict=True))
    agree = np.mean([intended[k] == DEMAND_CLASSES[c] for k, c in zip(keys, cls, strict=True)])
    assert agree > 0.9


def test_censored_periods_observed_below_true(generated):
    root, _ = generated
    d = pq.read_table(root / "demand.parquet")
    t = pq.read_table(root / "truth" / "demand_truth.parquet")
    for col in ("sku", "location", "period"):
        assert d.column(col).equals(t.column(col))
    so = d.column("stocked_out").to_numpy(zero_copy_only=False)
    obs = d.column("quantity").to_numpy(zero_copy_only=False)  # nulls -> nan
    true = t.column("true_quantity").to_numpy()
    assert so.sum() > 10
    assert (obs[so] < true[so]).all()
    ok = ~so & ~np.isnan(obs)
    np.testing.assert_array_equal(obs[ok], true[ok])
    assert np.isnan(obs).sum() == d.column("quantity").null_count


def test_lead_times_differ_by_mode(generated):
    root, _ = generated
    t = pq.read_table(root / "receipts.parquet")
    r = t.select(["supplier", "shipment_mode"]).to_pandas()
    r["lt"] = pc.days_between(t.column("order_date"), t.column("receipt_date")).to_numpy()
    med = r.groupby("shipment_mode")["lt"].median()
    assert {"Air", "Ocean", "Truck"} <= set(med.index)
    assert med["Air"] < med["Ocean"]
    ext = r[r["supplier"].str.startswith("SUP")]
    both = ext.groupby(["supplier", "shipment_mode"])["lt"].mean().unstack()
    both = both.dropna(subset=[c for c in ("Air", "Ocean") if c in both.columns])
    if {"Air", "Ocean"} <= set(both.columns) and len(both):
        assert (both["Air"] < both["Ocean"]).all()
    # lead times vary by supplier
    assert ext.groupby("supplier")["lt"].mean().std() > 1.0
    # internal transfers come from the upstream location
    internal = r[~r["supplier"].str.startswith("SUP")]
    assert len(internal) and (internal["shipment_mode"] == "Truck").all()


def test_costs_grow_downstream_and_targets_follow_abc(generated):
    root, _ = generated
    ds = load_dataset(root)
    st = ds.stages.to_pandas().set_index(["sku", "location"])
    e = ds.tables["edges"].to_pandas()
    up = st.loc[list(zip(e.upstream_sku, e.upstream_location, strict=True)), "unit_cost"].to_numpy()
    down = st.loc[list(zip(e.downstream_sku, e.downstream_location, strict=True)), "unit_cost"].to_numpy()
    assert (down >= up).all() and (down > up).any()
    assert (st.price > st.unit_cost).all()
    assert st.carrying_rate.between(0.15, 0.35).all()
    tgt = st.dropna(subset=["service_target"])
    expected = tgt.abc_class.map({"A": 0.98, "B": 0.95, "C": 0.90})
    np.testing.assert_allclose(tgt.service_target, expected)
    assert 0 < st.service_target.isna().sum() < len(st) / 3
    assert set(st.abc_class) == {"A", "B", "C"}
    # every downstream stage has exactly one supplier in the tree
    assert not e.duplicated(["downstream_sku", "downstream_location"]).any()


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def boom(table, path):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        pq.write_table(table, path)

    monkeypatch.setattr(gen, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        generate_dataset(tmp_path / "ds", 50, seed=1, periods=12)
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []


def test_existing_directory(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    generate_dataset(out, 20, seed=1, periods=12)  # empty dir is fine
    with pytest.raises(FileExistsError):
        generate_dataset(out, 20, seed=2, periods=12)
    before = (out / "stages.parquet").read_bytes()
    generate_dataset(out, 20, seed=2, periods=12, overwrite=True)
    assert (out / "stages.parquet").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


@pytest.mark.parametrize("kwargs", [{"sku_locations": 0}, {"fmt": "xlsx"}, {"periods": 2}])
def test_bad_arguments(tmp_path, kwargs):
    args = {"sku_locations": 10, "seed": 1, **kwargs}
    with pytest.raises(ValueError):
        generate_dataset(tmp_path / "ds", **args)
    assert not (tmp_path / "ds").exists()
