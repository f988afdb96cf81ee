"""The report of a run, and screenshots of its summary and of one drill-down.

    python docs/examples/report_screenshots.py                     # a small run of its own
    python docs/examples/report_screenshots.py demo_output/out --docs   # after `make demo`

Without OUT it generates 60 SKU-locations, runs them (in process, fast solver settings)
and writes ./report_screenshots/out/report.html and the two PNGs next to it.  With
``--docs`` the PNGs replace docs/img/report_summary.png and report_drilldown.png (the
pictures of docs/report.md).  Needs Chromium (Debian: ``apt-get install chromium``).
"""

import sys
from pathlib import Path

import pyarrow.parquet as pq

from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.pipeline import run
from platform_core.report import build_report
from platform_core.report.browser import open_report, select_drilldown

args = [a for a in sys.argv[1:] if not a.startswith("--")]
to_docs = "--docs" in sys.argv[1:]
if args:
    out = Path(args[0])
else:
    root = Path("report_screenshots")
    generate_dataset(root / "data", sku_locations=60, seed=5)
    config = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                    "solver": {"replications": 20, "periods": 150}})
    out = root / "out"
    run(root / "data", out, config, overwrite=True)

result = build_report(out)
print(f"report: {result.path} ({result.drilldown_rows:,d} of {result.total_rows:,d} SKU-locations in the drill-down)")

# the drill-down shows the top counter-intuitive move (the one a planner most needs explained),
# else the first exception, else the SKU-location with the most money on hand
if (out / "exceptions.parquet").is_file() and pq.read_metadata(out / "exceptions.parquet").num_rows:
    listed = pq.read_table(out / "exceptions.parquet").to_pylist()
    first = next((r for r in listed if r["list"] == "counter_intuitive"), listed[0])
else:
    rec = pq.read_table(out / "recommendations.parquet", columns=["sku", "location", "inventory_investment"])
    first = rec.to_pandas().sort_values("inventory_investment", ascending=False, kind="stable").iloc[0].to_dict()

img = Path(__file__).resolve().parents[1] / "img" if to_docs else out
img.mkdir(parents=True, exist_ok=True)
with open_report(result.path) as (page, problems):
    page.locator("#summary").screenshot(path=str(img / "report_summary.png"))
    select_drilldown(page, str(first["sku"]), str(first["location"]))
    page.locator("#drilldown").screenshot(path=str(img / "report_drilldown.png"))
    if problems.any:
        raise SystemExit(f"the page reported problems: {problems}")
print(f"screenshots: {img / 'report_summary.png'}, {img / 'report_drilldown.png'}")
