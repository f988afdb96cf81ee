"""The portfolio's efficient frontier from one run: what more or less shelf service costs.

Run: python docs/examples/portfolio_frontier.py   (a few seconds; the first run compiles)

A generated dataset of 120 SKU-locations (DCs feeding stores) is run with the default
solver, ``multi_echelon``. Its final simulation already knows each store's fill and on
hand at every level, so the run also writes ``OUT/frontier.parquet``: every store's
target shifted by the same amount, the DCs as chosen. Shift 0 is the recommendation.
``echelon report OUT`` draws the curve (docs/report.md).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.pipeline import run
from platform_core.report import build_report


def main() -> None:
    root = Path("frontier_demo")
    if not (root / "data").exists():
        generate_dataset(root / "data", sku_locations=120, seed=5)
    config = load_config(overrides={
        "run": {"executor": "in_process"}, "tracking": {"uri": "none"},
        "solver": {"replications": 20, "periods": 200},  # quick; the defaults are larger
    })
    run(root / "data", root / "out", config, progress=False, overwrite=True)
    front = pq.read_table(root / "out" / "frontier.parquet").to_pandas()
    print("target shift   customer fill   investment at level   expected on-hand value")
    for r in front.itertuples():
        mark = "  <- recommended" if r.recommended else ""
        print(f"{r.target_shift:+12.3f}   {r.customer_fill_rate_demand_weighted:13.4f}   "
              f"{r.investment_at_level_currency:19,.0f}   {r.expected_on_hand_value_currency:22,.0f}{mark}")
    # what the last points of service cost: on-hand value per point of fill between neighbours
    rec = front.index[front["recommended"]][0]
    if rec + 1 < len(front):
        here, up = front.iloc[rec], front.iloc[rec + 1]
        fill = up["customer_fill_rate_demand_weighted"] - here["customer_fill_rate_demand_weighted"]
        value = up["expected_on_hand_value_currency"] - here["expected_on_hand_value_currency"]
        print(f"next step up: +{100 * fill:.2f} pp customer fill for {value:,.0f} more on hand")
    page = build_report(root / "out")
    print(f"report: {page.path}")


if __name__ == "__main__":
    main()
