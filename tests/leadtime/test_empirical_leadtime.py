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


def test_fit_for_lanes_predicts_what_a_fit_on_all_receipts_predicts():
    # many lanes, groups of every size around min_receipts: lane, supplier-location and
    # supplier levels are all used, and ties in order dates (recent cuts through them)
    rng = np.random.default_rng(11)
    n = 6000
    base = dt.date(2024, 1, 1)
    sku = rng.choice([f"K{i}" for i in range(10)], n)
    loc = rng.choice([f"L{i}" for i in range(4)], n)
    sup = rng.choice([f"S{i}" for i in range(12)], n, p=np.r_[np.full(10, 0.099), 0.0095, 0.0005])
    order = [base + dt.timedelta(days=int(d)) for d in rng.integers(0, 60, n)]
    lead = rng.gamma(3.0, 6.0, n).round().astype(int)
    receipts = pa.table({
        "order_id": [f"o{i}" for i in range(n)], "sku": sku, "location": loc, "supplier": sup,
        "order_date": pa.array(order, pa.date32()),
        "receipt_date": pa.array([o + dt.timedelta(days=int(x)) for o, x in zip(order, lead, strict=True)],
                                 pa.date32()),
        "quantity": np.ones(n),
    })
    pick = rng.choice(n, 40, replace=False)
    lanes = pa.table({
        "sku": [*sku[pick].tolist(), "K1", "NEW", "K2"],
        "location": [*loc[pick].tolist(), "L99", "L1", "L2"],
        "supplier": [*sup[pick].tolist(), "S11", "S10", None],
    })
    used = set()
    for min_receipts, recent in ((5, 200), (12, 7), (60, 30), (400, 50)):
        everything = EmpiricalLeadTime(min_receipts, recent).fit(receipts).predict(lanes, 7.0)
        narrow = EmpiricalLeadTime(min_receipts, recent).fit_for_lanes(receipts, lanes)
        if min_receipts == 5:
            assert narrow.n_receipts_ < n / 2  # most lanes have their own: most receipts left out
        got = narrow.predict(lanes, 7.0)
        for a, b in zip(everything, got, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                assert a.offset == b.offset and np.array_equal(a.pmf, b.pmf)
        sources = EmpiricalLeadTime(min_receipts, recent).fit(receipts)
        sources.predict(lanes, 7.0)
        used |= set(sources.sources_)
    assert used == {"lane", "supplier_location", "supplier", "none"}  # every level was exercised
