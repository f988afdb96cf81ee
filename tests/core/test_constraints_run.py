"""A run with binding space at one location and a binding budget (issue 17 B acceptance).

The dataset: single-stage SKU-locations at two stores, fixed lead times, no receipts.  A
first run without constraints gives the figures the limits are set below; the second run
carries a ``constraints`` table.  Its chosen levels are then simulated here by an
independent simulator (base stock, full backorders, fixed lead time: net inventory at the
end of a period is the level minus the demand of the last ``L + 1`` periods), drawing
demand from the distributions the run fitted (``dataset_stage_inputs``): the mean and the
95th percentile over periods of each store's on-hand volume, and the budget's on-hand
value, never exceed their limits.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_core.config import load_config
from platform_core.pipeline import run
from platform_core.simulation.dataset_inputs import dataset_stage_inputs

FAST = {"solver": {"replications": 20, "periods": 150}}
N_PER_STORE = 16


def _config(**run_opts):
    return load_config(overrides={"run": {"executor": "in_process", **run_opts}, "tracking": {"uri": "none"}, **FAST})


def _dataset(root, constraints: pa.Table | None = None):
    rng = np.random.default_rng(5)
    root.mkdir(parents=True, exist_ok=True)
    sku = [f"S{i:03d}" for i in range(N_PER_STORE)] * 2
    loc = ["A"] * N_PER_STORE + ["B"] * N_PER_STORE
    n = len(sku)
    rng_v = np.random.default_rng(6)
    pq.write_table(pa.table({
        "sku": sku, "location": loc, "unit_cost": np.round(rng_v.uniform(2, 40, n), 2),
        "price": np.full(n, 60.0), "carrying_rate": np.full(n, 0.25), "service_target": np.full(n, 0.95),
        "lead_time_days": np.full(n, 14.0), "unit_volume_m3": np.round(rng_v.uniform(0.01, 0.2, n), 3),
    }), root / "stages.parquet")
    start = dt.date(2024, 1, 1)
    means = rng.uniform(3, 25, n)
    rows = {"sku": [], "location": [], "period": [], "quantity": []}
    for i in range(n):
        for t in range(52):
            rows["sku"].append(sku[i])
            rows["location"].append(loc[i])
            rows["period"].append(start + dt.timedelta(days=7 * t))
            rows["quantity"].append(float(rng.poisson(means[i])))
    pq.write_table(pa.table(rows), root / "demand.parquet")
    if constraints is not None:
        pq.write_table(constraints, root / "constraints.parquet")
    return root


def _simulate_on_hand(data, rec, periods=20000, seed=99):
    """Per stage, on hand per period at the recommended levels (independent of the engine)."""
    inputs = dataset_stage_inputs(data)
    rng = np.random.default_rng(seed)
    out = {}
    for sku, loc, level in zip(rec["sku"], rec["location"], rec["base_stock_level"], strict=True):
        demand, lead = inputs[(sku, loc)]
        lt = int(round(lead.mean()))
        assert lead.pmf.size == 1  # a fixed lead time
        pmf = demand.pmf / demand.pmf.sum()
        d = rng.choice(np.arange(demand.offset, demand.offset + pmf.size), size=periods + lt, p=pmf)
        window = np.convolve(d, np.ones(lt + 1), mode="valid")[:periods]  # demand of the last L + 1 periods
        out[(sku, loc)] = np.maximum(level - window, 0.0)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cons")
    free = _dataset(base / "free")
    run(free, base / "out_free", _config(), progress=False)
    rec = pq.read_table(base / "out_free" / "recommendations.parquet").to_pandas()
    stages = pq.read_table(free / "stages.parquet").to_pandas()
    rec = rec.merge(stages, on=["sku", "location"])
    at_a = rec["location"] == "A"
    on_hand = _simulate_on_hand(free, rec)
    p95_a = float(np.quantile(sum(on_hand[(s, "A")] * v for s, v in zip(rec["sku"][at_a], rec["unit_volume_m3"][at_a],
                                                                        strict=True)), 0.95))
    value = float((rec["mean_on_hand"] * rec["unit_cost"]).sum())
    # space at A: 85 % of the free plan's p95 volume there (simulated here); budget: 85 % of its value
    limits = {"space_A": 0.85 * p95_a, "space_B": 1e6, "budget": 0.85 * value}
    table = pa.table({
        "constraint_id": ["space_A", "space_B", "budget"], "constraint_type": ["location_space"] * 2 + ["budget"],
        "location": ["A", "B", None], "supplier": pa.nulls(3, pa.string()),
        "limit": [limits["space_A"], limits["space_B"], limits["budget"]], "unit": ["m3", "m3", "currency"],
        "statistic": ["p95", "p95", None],
    })
    bound = _dataset(base / "bound", table)
    run(bound, base / "out_bound", _config(), progress=False)
    return bound, base / "out_bound", limits, rec


def test_space_and_budget_hold_when_simulated(runs):
    data, out, limits, free = runs
    rec = pq.read_table(out / "recommendations.parquet").to_pandas()
    stages = pq.read_table(data / "stages.parquet").to_pandas()
    rec = rec.merge(stages, on=["sku", "location"])
    on_hand = _simulate_on_hand(data, rec)
    # the independent simulator agrees with the run's simulated on hand of every chosen level
    sim_mean = np.array([on_hand[(s, loc)].mean() for s, loc in zip(rec["sku"], rec["location"], strict=True)])
    assert np.allclose(sim_mean, rec["mean_on_hand"], rtol=0.05, atol=0.3)
    doc = {c["constraint_id"]: c for c in json.loads((out / "summary.json").read_text())["constraints"]}
    for loc in ("A", "B"):
        at = rec["location"] == loc
        total = sum(on_hand[(s, loc)] * v for s, v in zip(rec["sku"][at], rec["unit_volume_m3"][at], strict=True))
        assert total.mean() <= limits[f"space_{loc}"]
        assert np.quantile(total, 0.95) <= limits[f"space_{loc}"], loc
        # the run's p95 estimate (Cornish-Fisher on measured moments) against this simulation
        assert doc[f"space_{loc}"]["p95_volume_m3_estimate"] == pytest.approx(np.quantile(total, 0.95), rel=0.02)
        assert doc[f"space_{loc}"]["mean_volume_m3"] == pytest.approx(total.mean(), rel=0.02)
    value = sum(on_hand[(s, loc)].mean() * c for s, loc, c in zip(rec["sku"], rec["location"], rec["unit_cost"],
                                                                  strict=True))
    assert value <= limits["budget"] * 1.005  # Monte Carlo noise of 20,000 periods well inside 0.5 %


def test_summary_reports_shadow_prices_and_cut_rows(runs):
    _data, out, limits, free = runs
    doc = json.loads((out / "summary.json").read_text())
    by_id = {c["constraint_id"]: c for c in doc["constraints"]}
    assert by_id["space_A"]["binds"] and by_id["space_A"]["shadow_price"] > 0
    assert by_id["budget"]["binds"] and by_id["budget"]["shadow_price"] > 0
    assert not by_id["space_B"]["binds"] and by_id["space_B"]["shadow_price"] == 0
    for c in by_id.values():
        assert c["feasible"] and c["used"] <= c["limit"] * (1 + 1e-9)
    # the p95 estimate is never below the mean, and the space at levels bounds both
    a = by_id["space_A"]
    assert a["mean_volume_m3"] <= a["p95_volume_m3_estimate"] <= a["volume_at_levels_m3"] + 1e-9
    rec = pq.read_table(out / "recommendations.parquet").to_pandas()
    merged = rec.merge(free[["sku", "location", "base_stock_level"]], on=["sku", "location"], suffixes=("", "_free"))
    cut = merged["base_stock_level"] < merged["base_stock_level_free"]
    assert cut.sum() == doc["allocation"]["rows_cut"] > 0
    assert merged.loc[cut, "message"].str.startswith("level cut from").all()
    assert merged.loc[cut, "explanation"].str.startswith("Cut to ").all()
    assert merged.loc[cut, "expected_cycle_service"].isna().all()  # not measured at the cut level
    assert (merged["base_stock_level"] <= merged["base_stock_level_free"]).all()  # only cuts
    assert (merged.loc[~cut, "message"].fillna("").str.find("level cut") < 0).all()


def test_report_shows_the_constraints_table(runs, tmp_path):
    from platform_core.report.render import build_report

    _data, out, _limits, _free = runs
    html = tmp_path / "report.html"
    build_report(out, html)
    text = html.read_text()
    doc = json.loads((out / "summary.json").read_text())
    assert '<table id="constraints">' in text
    for c in doc["constraints"]:
        assert f'<td class="text">{c["constraint_id"]}</td>' in text
    budget = next(c for c in doc["constraints"] if c["constraint_id"] == "budget")
    assert f'<td>{budget["margin"]:,.2f} (0.95)</td>' in text and f'<td>{budget["planned_se"]:,.2f}</td>' in text
    assert f"{doc['allocation']['rows_cut']} SKU-locations in" in text


def test_same_allocation_whatever_the_batches(runs, tmp_path):
    """One budget across all batches: cut into 8-stage batches, the run allocates the same."""
    data, out, _limits, _free = runs
    run(data, tmp_path / "out", _config(batch_stages=8), progress=False)
    a = pq.read_table(out / "recommendations.parquet").select(["sku", "location", "base_stock_level"])
    b = pq.read_table(tmp_path / "out" / "recommendations.parquet").select(["sku", "location", "base_stock_level"])
    assert a.equals(b)
    doc_a = json.loads((out / "summary.json").read_text())
    doc_b = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert doc_a["constraints"] == doc_b["constraints"] and len(doc_b["batches"]) == 4
