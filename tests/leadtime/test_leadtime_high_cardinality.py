"""``quantile_gbm`` with categorical features of more levels than scikit-learn's limit (255)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from echelon_leadtime.models import QuantileGBMLeadTime
from echelon_leadtime.models.feature import MAX_CATEGORIES

from platform_core.data.columns import lead_time_days


def _receipts(locations: list[str], days: list[int]) -> pa.Table:
    n = len(days)
    start = dt.date(2023, 1, 1)
    order = [start + dt.timedelta(days=i % 365) for i in range(n)]
    return pa.table({
        "order_id": [f"o{i}" for i in range(n)],
        "sku": ["A"] * n,
        "location": locations,
        "supplier": ["S"] * n,
        "order_date": pa.array(order, pa.date32()),
        "receipt_date": pa.array([o + dt.timedelta(days=d) for o, d in zip(order, days, strict=True)], pa.date32()),
        "quantity": np.full(n, 10.0),
    })


def _valid_pmfs(dists) -> None:
    for d in dists:
        assert d is not None
        assert d.offset >= 0 and np.all(d.pmf >= 0)
        assert d.pmf.sum() == pytest.approx(1.0, abs=1e-9)


def test_more_locations_than_the_categorical_limit_keep_their_own_lead_times():
    # 300 locations: loc000..loc199 with 60 receipts each, lead time 7 days (even index)
    # or 21 days (odd); loc200..loc299 with 5 receipts each, lead time 14 days.  The 254
    # most frequent locations keep a category each, so the frequent ones must be told
    # apart exactly; the rare rest shares one "other" category (all 14 days here).
    locs, days = [], []
    for i in range(300):
        k = 60 if i < 200 else 5
        locs += [f"loc{i:03d}"] * k
        days += [(7 if i % 2 == 0 else 21) if i < 200 else 14] * k
    t = _receipts(locs, days)
    m = QuantileGBMLeadTime(levels=(0.1, 0.5, 0.9), max_iter=200, learning_rate=0.1).fit(t)

    codes = m.categories_["location"]
    assert len(codes) == 300 and len(set(codes.values())) == MAX_CATEGORIES == 255
    assert m.pooled_levels_["location"] == 300 - (MAX_CATEGORIES - 1)
    assert len({codes[f"loc{i:03d}"] for i in range(200)}) == 200  # every frequent one is its own

    ask = ["loc000", "loc001", "loc198", "loc199", "loc299", "unseen"]
    lanes = pa.table({"sku": ["A"] * len(ask), "location": ask, "supplier": ["S"] * len(ask)})
    med = m.predict_quantiles(lanes)[:, 1]
    assert med[:4] == pytest.approx([7, 21, 7, 21], abs=0.5)
    assert med[4] == pytest.approx(14, abs=0.5)  # loc299 is pooled into "other"
    dists = m.predict(lanes, period_days=1.0)
    _valid_pmfs(dists)
    assert [int(np.argmax(d.pmf)) + d.offset for d in dists[:4]] == [7, 21, 7, 21]


def test_run_lead_time_step_on_generated_data_with_more_than_255_locations(tmp_path):
    # the generator's own data (419 locations in all; 373 of them at 1,000 SKU-locations):
    # what `lead_time_model = "quantile_gbm"` does in `echelon run`
    from platform_core.data.generate import generate_dataset
    from platform_core.data.loaders import load_dataset
    from platform_core.fitting import fit_lead_times
    from platform_core.networks import index_networks

    generate_dataset(tmp_path / "data", sku_locations=1000, seed=5)
    ds = load_dataset(tmp_path / "data")
    receipts = ds.get("receipts")
    assert len(set(receipts.column("location").to_pylist())) > MAX_CATEGORIES
    model = QuantileGBMLeadTime()
    lt = fit_lead_times(ds, index_networks(ds), model, period_days=7.0, default_lead_time_days=14.0)
    assert lt.offset.size == ds.stages.num_rows
    sums = np.add.reduceat(lt.pmf, lt.ptr[:-1])
    assert np.all(lt.pmf >= 0) and np.allclose(sums, 1.0) and np.all(lt.offset >= 0)
    assert np.mean(lt.source == "receipts") > 0.9
    assert model.pooled_levels_["location"] > 0
    # calibrated in sample: for each level l the predicted l-quantile q_l of a receipt has
    # about a share l of the (integer) observed lead times below it:
    # share(obs < q_l) <= l <= share(obs <= q_l), up to the fit's error
    q = model.predict_quantiles(receipts)
    obs = lead_time_days(receipts)
    for j, level in enumerate(model.levels):
        assert np.mean(obs < q[:, j] - 1e-9) <= level + 0.05, level
        assert np.mean(obs <= q[:, j] + 1e-9) >= level - 0.05, level
