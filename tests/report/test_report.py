"""``echelon report``: the HTML page in headless Chromium, CSV / Excel export, bad input.

One real run of the session's generated dataset (240 SKU-locations, fast solver
settings), then a copy of its output with the columns other parts of the planner's view
add (stock by cause, today's policy, exceptions) filled with values this test chooses.
Every figure the page must show is computed here independently (pandas joins, networkx
for the echelons) and looked up in the page's text as Chromium renders it.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from platform_core.cli import main
from platform_core.config import load_config
from platform_core.pipeline import run
from platform_core.report import build_report
from platform_core.report.browser import chromium_path, open_report, select_drilldown
from platform_core.report.outputs import abc_classes, echelon_depths

FAST = {"solver": {"replications": 20, "periods": 150}}
CAUSES = {"demand_variability": 0.5, "lead_time_variability": 0.3, "service_target": 0.25, "pooling_credit": -0.05}


def js_fixed(x: float, digits: int) -> str:
    """JavaScript's ``toFixed`` (ties away from zero on the exact binary value) with thousands commas."""
    q = Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{q:,.{digits}f}"


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        return chromium_path()
    except FileNotFoundError as exc:  # a failure, not a skip: CI installs it (.ci/run)
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def plain_run(generated_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    config = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"}, **FAST})
    run(generated_dataset, out, config)
    return out


def _independent_frame(data: Path, out: Path) -> pd.DataFrame:
    """Recommendations joined (pandas) with unit cost, echelon (networkx) and level."""
    rec = pq.read_table(out / "recommendations.parquet").to_pandas()
    stages = pq.read_table(data / "stages.parquet").to_pandas()
    edges = pq.read_table(data / "edges.parquet").to_pandas()
    g = nx.DiGraph()
    g.add_nodes_from(zip(stages["sku"], stages["location"], strict=True))
    g.add_edges_from(((u, ul), (d, dl)) for u, ul, d, dl in zip(
        edges["upstream_sku"], edges["upstream_location"], edges["downstream_sku"], edges["downstream_location"],
        strict=True))
    depth: dict[tuple[str, str], int] = {}
    for node in reversed(list(nx.topological_sort(g))):
        depth[node] = 1 + max((depth[s] for s in g.successors(node)), default=0)
    stages["echelon_test"] = [depth[(s, loc)] for s, loc in zip(stages["sku"], stages["location"], strict=True)]
    m = rec.merge(stages[["sku", "location", "unit_cost", "abc_class", "echelon_test"]], on=["sku", "location"],
                  how="left", validate="one_to_one")
    m["level_test"] = m["order_up_to"].where(m["order_up_to"].notna(), m["base_stock_level"])
    return m


@pytest.fixture(scope="module")
def full_run(plain_run: Path, generated_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's output plus the planner's-view columns and files, with values chosen here."""
    out = tmp_path_factory.mktemp("report_full") / "out"
    shutil.copytree(plain_run, out)
    m = _independent_frame(generated_dataset, out)
    rec = pq.read_table(out / "recommendations.parquet").to_pandas()
    ss = rec["safety_stock"]
    rec["cycle_stock"] = rec["mean_demand_per_period"] / 2.0
    rec["pipeline_stock"] = rec["mean_demand_per_period"] * rec["mean_lead_time_periods"]
    for cause, share in CAUSES.items():
        rec[f"safety_stock_from_{cause}"] = share * ss
    rec["safety_stock_value"] = ss * m["unit_cost"]
    rec["investment_at_level"] = m["level_test"] * m["unit_cost"]
    rec["explanation"] = [f"Explanation number {i} for the test." for i in range(len(rec))]
    rec["current_policy_type"] = "sS"
    rec["current_level"] = np.round(m["level_test"] * 0.8)
    rec["current_reorder_point"] = rec["current_level"] - 1
    rec["current_expected_fill_rate"] = np.clip(rec["expected_fill_rate"] - 0.03, 0.0, 1.0)
    rec["current_fill_rate_se"] = 0.01
    rec["current_mean_on_hand"] = rec["mean_on_hand"] * 0.7
    rec["current_investment_at_level"] = rec["current_level"] * m["unit_cost"]
    rec["change_level_units"] = m["level_test"] - rec["current_level"]
    rec["change_investment_at_level"] = rec["investment_at_level"] - rec["current_investment_at_level"]
    rec["change_expected_fill_rate"] = rec["expected_fill_rate"] - rec["current_expected_fill_rate"]
    rec["change_driver"] = "demand variability"
    pq.write_table(pa.Table.from_pandas(rec, preserve_index=False), out / "recommendations.parquet")
    big = rec["change_investment_at_level"].abs().sort_values(ascending=False, kind="stable").index[:6]
    odd = rec.index[(m["echelon_test"] > 1).to_numpy()][:3]
    ex = pd.DataFrame({
        "list": ["large_change"] * len(big) + ["counter_intuitive"] * len(odd),
        "rank": list(range(1, len(big) + 1)) + list(range(1, len(odd) + 1)),
        "sku": list(rec.loc[big, "sku"]) + list(rec.loc[odd, "sku"]),
        "location": list(rec.loc[big, "location"]) + list(rec.loc[odd, "location"]),
        "magnitude": list(rec.loc[big, "change_investment_at_level"]) + [1.5] * len(odd),
        "magnitude_unit": ["currency"] * len(big) + ["units"] * len(odd),
        "reason": [f"large change reason {i}" for i in range(len(big))] + [f"odd move {i}" for i in range(len(odd))],
    })
    pq.write_table(pa.Table.from_pandas(ex, preserve_index=False), out / "exceptions.parquet")
    summary = json.loads((out / "summary.json").read_text())
    summary["compared_with_today"] = {"today": {"investment_at_level_currency": 12345.0},
                                      "recommended": {"investment_at_level_currency": 23456.0}}
    (out / "summary.json").write_text(json.dumps(summary))
    return out


def _table_rows(page, section: str) -> dict[str, list[str]]:
    rows = page.locator(f"#{section} table tr").all_inner_texts()
    return {r.split("\t")[0]: [c.strip() for c in r.split("\t")] for r in rows}


def test_report_of_a_full_run_shows_its_figures_in_chromium(full_run, generated_dataset, chromium, tmp_path):
    result = build_report(full_run)
    assert result.path == full_run / "report.html" and result.drilldown_rows == result.total_rows == 240
    m = _independent_frame(generated_dataset, full_run)
    ok = m["status"] == "ok"
    summary = json.loads((full_run / "summary.json").read_text())
    facing = ok & (m["echelon_test"] == 1) & (m["mean_demand_per_period"] > 0)
    cf_fill = float((m.loc[facing, "expected_fill_rate"] * m.loc[facing, "mean_demand_per_period"]).sum()
                    / m.loc[facing, "mean_demand_per_period"].sum())
    assert summary["metrics"]["customer_fill_rate_demand_weighted"] == pytest.approx(cf_fill, abs=1e-12)
    inv = m["level_test"] * m["unit_cost"]
    cur_inv = m["current_investment_at_level"]
    with open_report(result.path) as (page, problems):
        text = page.inner_text("#summary")
        assert f"{cf_fill:.4f}" in text
        assert f"{inv[ok].sum():,.0f}" in text  # investment at level
        assert f"{m.loc[ok, 'inventory_investment'].sum():,.0f}" in text  # expected on-hand value
        assert "12,345" in text and "23,456" in text  # compared_with_today, as summary.json has it
        row = _table_rows(page, "summary")["investment at the levels [currency]"]
        assert row[1:] == ["12,345", "23,456", "+11,111"]  # today, recommended, change (23,456 - 12,345)
        page.locator("#summary").screenshot(path=str(tmp_path / "summary.png"))

        by_echelon = _table_rows(page, "echelon")
        for e, g in m[ok].groupby("echelon_test"):
            row = by_echelon[str(e)]
            assert row[1] == f"{(m['echelon_test'] == e).sum():,d}"
            assert f"{inv[g.index].sum():,.0f}" in row
            assert f"{cur_inv[g.index].sum():,.0f}" in row
            assert f"{inv[g.index].sum() - cur_inv[g.index].sum():,.0f}" in row
        by_abc = _table_rows(page, "abc")
        for cls, g in m[ok].groupby("abc_class"):
            w = g["mean_demand_per_period"]
            assert f"{(g['expected_fill_rate'] * w).sum() / w.sum():.4f}" in by_abc[cls]
            assert f"{(g['current_expected_fill_rate'] * w).sum() / w.sum():.4f}" in by_abc[cls]

        ex = pq.read_table(full_run / "exceptions.parquet").to_pandas()
        ex_text = page.inner_text("#exceptions")
        for reason in ex["reason"]:
            assert reason in ex_text

        top = ex.iloc[0]
        select_drilldown(page, top["sku"], top["location"])
        row = m[(m["sku"] == top["sku"]) & (m["location"] == top["location"])].iloc[0]
        detail = page.inner_text("#dd-detail")
        page.locator("#drilldown").screenshot(path=str(tmp_path / "drilldown.png"))
        assert row["explanation"] in detail
        assert js_fixed(row["level_test"], 1) in detail
        assert js_fixed(row["current_level"], 1) in detail
        assert js_fixed(row["level_test"] - row["current_level"], 1) in detail
        assert js_fixed(row["current_expected_fill_rate"], 4) in detail
        assert js_fixed(row["expected_fill_rate"], 4) in detail
        for cause, share in CAUSES.items():
            assert f"safety stock: {cause.replace('_', ' ')}" in detail
            assert js_fixed(share * row["safety_stock"], 1) in detail
        assert f"large_change: {top['reason']}" in detail
        assert not problems.any, problems
    assert (tmp_path / "summary.png").stat().st_size > 10_000
    assert (tmp_path / "drilldown.png").stat().st_size > 10_000
    # nothing to fetch: every link and source is inside the page
    links = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', result.path.read_text())
    assert links and all(link.startswith("#") for link in links), [x for x in links if not x.startswith("#")]


def test_report_of_a_plain_run_says_what_is_missing(plain_run, generated_dataset, chromium, tmp_path):
    # no --data: the input directory recorded in summary.json is used
    assert json.loads((plain_run / "summary.json").read_text())["input_dir"] == str(generated_dataset.resolve())
    html = tmp_path / "plain.html"
    assert main(["report", str(plain_run), "--html", str(html)]) == 0
    m = _independent_frame(generated_dataset, plain_run)
    with open_report(html) as (page, problems):
        body = page.inner_text("body")
        # the run itself compares with today's policy and ranks exceptions (compare.py, exception_lists.py)
        assert "did not evaluate it" not in body and "no exceptions.parquet in the output" not in body
        assert "under_served_today" in body
        assert "No efficient frontier in this output" not in body
        assert "efficient frontier (frontier.parquet)" in page.inner_html("#frontier")  # the curve's legend
        # the points table: each frontier.parquet row; the recommended one is the run's own fill and investment
        front = pq.read_table(plain_run / "frontier.parquet").to_pandas()
        points = _table_rows(page, "frontier")
        for r in front.itertuples():
            row = points["recommended (0)" if r.recommended else f"{r.target_shift:+.3f}"]
            assert row[1:] == [f"{r.customer_fill_rate_demand_weighted:.4f}", f"{r.investment_at_level_currency:,.0f}",
                               f"{r.expected_on_hand_value_currency:,.0f}"]
        ok = m["status"] == "ok"
        facing = ok & (m["echelon_test"] == 1) & (m["mean_demand_per_period"] > 0)
        w = m.loc[facing, "mean_demand_per_period"]
        cf_fill = float((m.loc[facing, "expected_fill_rate"] * w).sum() / w.sum())
        inv = (m["level_test"] * m["unit_cost"])[ok].sum()
        assert points["recommended (0)"][1:3] == [f"{cf_fill:.4f}", f"{inv:,.0f}"]
        assert "Overrides" not in page.inner_text("nav")  # no overrides in this run: no section
        assert "safety stock: demand variability" in body  # the run's own decomposition (explain.py)
        by_echelon = _table_rows(page, "echelon")
        for e, n in m["echelon_test"].value_counts().items():
            assert by_echelon[str(e)][1] == f"{n:,d}"
        assert not problems.any, problems


def test_drilldown_is_bounded_exceptions_first_then_by_investment(full_run, tmp_path):
    result = build_report(full_run, html_path=tmp_path / "r.html", max_drilldown_rows=50)
    assert result.drilldown_rows == 50 and result.total_rows == 240
    page = result.path.read_text()
    doc = json.loads(re.search(r'<script type="application/json" id="dd-data">(.*?)</script>', page, re.S).group(1))
    keys = [(r[0], r[1]) for r in doc["rows"]]
    ex = pq.read_table(full_run / "exceptions.parquet").to_pandas()
    wanted = list(dict.fromkeys(zip(ex["sku"], ex["location"], strict=True)))
    assert keys[: len(wanted)] == wanted
    rec = pq.read_table(full_run / "recommendations.parquet").to_pandas()
    rest = rec[~pd.Series(list(zip(rec["sku"], rec["location"], strict=True))).isin(wanted).to_numpy()]
    rest = rest.sort_values("investment_at_level", ascending=False, kind="stable")
    assert keys[len(wanted):] == list(zip(rest["sku"], rest["location"], strict=True))[: 50 - len(wanted)]
    assert "50 of 240 SKU-locations" in page
    # deterministic: the same output gives the same page, byte for byte
    assert build_report(full_run, html_path=tmp_path / "again.html", max_drilldown_rows=50).path.read_text() == page


def test_csv_and_xlsx_round_trip_equal_the_parquet(full_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(full_run, out)
    assert main(["report", str(out), "--csv", "--xlsx"]) == 0
    for name in ("recommendations", "exceptions"):
        want_table = pq.read_table(out / f"{name}.parquet")
        want = want_table.to_pandas()
        types = {f.name: f.type for f in want_table.schema}
        got_csv = pacsv.read_csv(out / f"{name}.csv", convert_options=pacsv.ConvertOptions(column_types=types))
        assert got_csv.column_names == want_table.column_names
        pd.testing.assert_frame_equal(got_csv.to_pandas(), want)
        got_xlsx = pd.read_excel(out / "report.xlsx", sheet_name=name)
        # an empty cell is the sheet's one missing value: a null text (None) reads back as NaN
        text = [c for c in want.columns if want[c].dtype == object]
        want[text] = want[text].where(want[text].notna(), np.nan)
        pd.testing.assert_frame_equal(got_xlsx, want, check_dtype=False)
    summary = pd.read_excel(out / "report.xlsx", sheet_name="summary").set_index("key")["value"]
    doc = json.loads((out / "summary.json").read_text())
    assert float(summary["metrics.customer_fill_rate_demand_weighted"]) == doc["metrics"][
        "customer_fill_rate_demand_weighted"]
    assert summary["run_id"] == doc["run_id"]


def test_report_errors_name_the_file_and_column(tmp_path, capsys, plain_run):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "recommendations.parquet" in err and "Traceback" not in err
    out = tmp_path / "bad"
    shutil.copytree(plain_run, out)
    table = pq.read_table(out / "recommendations.parquet").drop_columns(["expected_fill_rate"])
    pq.write_table(table, out / "recommendations.parquet")
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err
    assert "recommendations.parquet" in err and "'expected_fill_rate'" in err


def test_abc_classes_by_cumulative_demand_value():
    # values 50, 30, 15, 5: shares before each are 0, .5, .8, .95 -> A, A, B, C
    sku = pd.Series(["w", "x", "y", "z", "x"])
    value = pd.Series([15.0, 20.0, 50.0, 5.0, 10.0])
    assert abc_classes(sku, value).tolist() == ["B", "A", "A", "C", "A"]


def test_echelon_depths_of_a_small_network():
    # 0 -> 1 -> 2, 1 -> 3, 0 -> 4; 5 alone
    up, down = np.array([0, 1, 1, 0]), np.array([1, 2, 3, 4])
    assert echelon_depths(6, up, down).tolist() == [3, 2, 1, 1, 1, 1]


def test_abc_class_from_demand_value_when_the_input_has_none(plain_run, generated_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(generated_dataset, data)
    pq.write_table(pq.read_table(data / "stages.parquet").drop_columns(["abc_class"]), data / "stages.parquet")
    build_report(plain_run, html_path=tmp_path / "r.html", data_dir=data)
    page = (tmp_path / "r.html").read_text()
    assert "ABC class computed from customer-facing demand value" in page
    # by hand: customer-facing demand value per SKU, classes by the share of the SKUs before it
    m = _independent_frame(generated_dataset, plain_run)
    facing = m[m["echelon_test"] == 1]
    value = (facing["mean_demand_per_period"].fillna(0) * facing["unit_cost"]).groupby(facing["sku"]).sum()
    value = value.sort_values(ascending=False, kind="stable")
    before = (value.cumsum() - value) / value.sum()
    cls = before.map(lambda s: "A" if s < 0.8 else ("B" if s < 0.95 else "C"))
    m["abc_test"] = m["sku"].map(cls).fillna("C")
    section = re.search(r'<section id="abc">(.*?)</section>', page, re.S).group(1)
    for c, n in m["abc_test"].value_counts().items():
        assert re.search(rf"<td>{c}</td><td>{n:,d}</td>", section), (c, n)


def test_overrides_section_lists_each_override_and_prices_each_network_once(plain_run, generated_dataset,
                                                                             chromium, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(plain_run, out)
    rec = pq.read_table(out / "recommendations.parquet").to_pandas()
    edges = pq.read_table(generated_dataset / "edges.parquet").to_pandas()
    g = nx.Graph()
    g.add_nodes_from(zip(rec["sku"], rec["location"], strict=True))
    g.add_edges_from(((u, ul), (d, dl)) for u, ul, d, dl in zip(
        edges["upstream_sku"], edges["upstream_location"], edges["downstream_sku"], edges["downstream_location"],
        strict=True))
    nets = [sorted(c) for c in nx.connected_components(g) if len(c) >= 3][:2]
    key = list(zip(rec["sku"], rec["location"], strict=True))
    # values chosen here: network A one pin, network B two overrides; per-network figures on every row
    chosen = {0: ({nets[0][0]: "pinned at 25"}, 12.5, 300.0, -0.01),
              1: ({nets[1][0]: "max 40", nets[1][1]: "min 3"}, 7.25, -50.0, -0.002)}
    text = [None] * len(rec)
    cols = {c: np.full(len(rec), np.nan) for c in ("override_level_change", "override_cost_per_period",
                                                    "override_investment_change", "override_service_change")}
    for n, (own, cost, invest, service) in chosen.items():
        for node in nets[n]:
            i = key.index(node)
            text[i] = own.get(node, "")
            cols["override_level_change"][i] = -4.0 if node in own else 1.0
            cols["override_cost_per_period"][i] = cost
            cols["override_investment_change"][i] = invest
            cols["override_service_change"][i] = service
    table = pq.read_table(out / "recommendations.parquet").drop_columns(
        [c for c in ("override", *cols) if c in rec.columns])
    table = table.append_column("override", pa.array(text, pa.string()))
    for name, values in cols.items():
        table = table.append_column(name, pa.array(values, pa.float64(), from_pandas=True))
    pq.write_table(table, out / "recommendations.parquet")
    result = build_report(out)
    with open_report(result.path) as (page, problems):
        assert "Overrides" in page.inner_text("nav")
        listed = page.locator("#override-list tr").all_inner_texts()
        assert len(listed) == 1 + 3  # header and the three overrides, not the other rows of their networks
        for own, *_rest in chosen.values():
            for (sku, loc), what in own.items():
                row = next(r for r in listed if r.startswith(f"{sku}\t{loc}"))
                assert what in row and "-4.0" in row
        costs = {r.split("\t")[1]: r for r in page.locator("#override-cost tr").all_inner_texts()[1:]}
        assert "12.50" in costs["1"] and "300" in costs["1"] and "-0.0100" in costs["1"]
        assert "7.25" in costs["2"] and "-50" in costs["2"] and "-0.0020" in costs["2"]
        total = page.locator("#override-cost tr").all_inner_texts()[-1]
        assert total.startswith("total") and "19.75" in total and "250" in total  # each network once
        sku, loc = nets[0][0]
        select_drilldown(page, sku, loc)
        detail = page.inner_text("#dd-detail")
        assert "pinned at 25" in detail and "12.50" in detail and "-4.0" in detail
        sku, loc = nets[0][1]
        select_drilldown(page, sku, loc)
        assert "none here (its network has one)" in page.inner_text("#dd-detail")
        assert not problems.any, problems


def test_without_frontier_parquet_the_page_says_it_is_not_a_frontier(plain_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(plain_run, out)
    (out / "frontier.parquet").unlink()  # as a run of a solver without one (single_echelon, gsm, ...)
    page = build_report(out).path.read_text()
    assert "No efficient frontier in this output" in page and 'id="frontier-points"' not in page
    assert "efficient frontier (frontier.parquet)" not in page


def test_a_run_with_overrides_reports_them_end_to_end(tmp_path):
    """The overrides example's dataset (a DC pinned, a store capped) run for real, then reported."""
    import runpy

    example = runpy.run_path(str(Path(__file__).resolve().parents[2] / "docs" / "examples" / "overrides.py"))
    data = example["write_dataset"](tmp_path / "data")
    config = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                    "solver": {"replications": 20, "periods": 150}})
    run(data, tmp_path / "out", config, progress=False)
    rec = pq.read_table(tmp_path / "out" / "recommendations.parquet").to_pandas()
    page = build_report(tmp_path / "out").path.read_text()
    section = re.search(r'<section id="overrides">(.*?)</section>', page, re.S).group(1)
    assert "pinned at 25" in section and "max 40" in section
    # one network: its cost once (every row carries it), as the total too
    cost = rec["override_cost_per_period"].dropna().unique()
    assert cost.size == 1
    assert section.count(f"<td>{cost[0]:,.2f}</td>") == 2  # the network's row and the total
    assert f"<td>{rec['override_investment_change'].iloc[0]:,.0f}</td>" in section
