"""The vectorised empirical lead-time model against a plain-Python re-computation."""

import datetime as dt

import numpy as np
import pyarrow as pa
from echelon_leadtime.empirical import EmpiricalLeadTime


def _receipts(rng, n=3000):
    base = dt.date(2024, 1, 1)
    sku = rng.choice(["A", "B", "C", "D"], n)
    loc = rng.choice(["L1", "L2", "L3"], n)
    sup = rng.choice(["S1", "S2", "S3"], n, p=[0.7, 0.29, 0.01])
    order = [base + dt.timedelta(days=int(d)) for d in rng.integers(0, 700, n)]
    lead = rng.gamma(4.0, 5.0, n).round().astype(int)
    receipt = [o + dt.timedelta(days=int(x)) for o, x in zip(order, lead, strict=True)]
    return pa.table({
        "order_id": [f"o{i}" for i in range(n)], "sku": sku, "location": loc, "supplier": sup,
        "order_date": pa.array(order, pa.date32()), "receipt_date": pa.array(receipt, pa.date32()),
        "quantity": np.ones(n),
    })


def _reference(receipts, sku, loc, sup, min_receipts, recent, period_days):
    rows = receipts.to_pylist()
    rows.sort(key=lambda r: r["order_date"])  # stable: ties keep file order
    for pred in (
        lambda r: (r["sku"], r["location"], r["supplier"]) == (sku, loc, sup),
        lambda r: (r["supplier"], r["location"]) == (sup, loc),
        lambda r: r["supplier"] == sup,
    ):
        days = [(r["receipt_date"] - r["order_date"]).days for r in rows if pred(r)]
        if len(days) >= min_receipts:
            periods = np.rint(np.array(days[-recent:]) / period_days).astype(int)
            return np.bincount(periods) / periods.size
    return None


def test_matches_plain_python_including_fallbacks():
    rng = np.random.default_rng(3)
    receipts = _receipts(rng)
    lanes = pa.table({
        "sku": ["A", "B", "C", "D", "A", "Z"],
        "location": ["L1", "L2", "L3", "L1", "L9", "L1"],
        "supplier": ["S1", "S2", "S3", "S3", "S1", None],
    })
    model = EmpiricalLeadTime(min_receipts=40, recent=60).fit(receipts)
    got = model.predict(lanes, period_days=7.0)
    for i, lane in enumerate(lanes.to_pylist()):
        ref = _reference(receipts, lane["sku"], lane["location"], lane["supplier"], 40, 60, 7.0) if lane["supplier"] else None
        if ref is None:
            assert got[i] is None
            continue
        full = np.zeros(max(ref.size, got[i].offset + got[i].pmf.size))
        full[got[i].offset : got[i].offset + got[i].pmf.size] = got[i].pmf
        np.testing.assert_allclose(full[: ref.size], ref, atol=1e-12)
    assert model.sources_[4] in ("supplier_location", "supplier")  # unseen location falls back
    assert model.sources_[5] == "none"
