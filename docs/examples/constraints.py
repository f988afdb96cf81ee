"""Space at one store and one capital budget, honoured by the run; each constraint's shadow price.

Run: python docs/examples/constraints.py   (several seconds; the first run compiles)

Twelve SKUs at two stores, each store level set for a 95 % fill rate. Store ``S1`` has
room for less than the plan wants (its 95th-percentile on-hand volume) and the company
less capital than the plan ties up. ``constraints.csv`` says so; ``echelon run`` moves
networks down their efficient frontier where the least expected stockout cost is given
up per m3 and per unit of money, reports each constraint's shadow price in
``summary.json``, and says on every cut row what it was cut from. Each limit holds for the
run's estimate plus a margin of z(0.95) standard errors of that estimate (the default
``confidence``), so that it holds for the true mean with 95 % confidence.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from platform_core.config import load_config
from platform_core.pipeline import run


def write_dataset(root: Path) -> Path:
    """stages (with unit_volume_m3), a year of weekly demand and the constraints (CSV)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    skus = [f"P{i:02d}" for i in range(6)]
    (root / "stages.csv").write_text(
        "sku,location,unit_cost,price,carrying_rate,service_target,lead_time_days,unit_volume_m3\n" + "".join(
            f"{s},{loc},{8 + 3 * i},{20 + 6 * i},0.25,0.95,14,{0.02 + 0.01 * i:.2f}\n"
            for loc in ("S1", "S2") for i, s in enumerate(skus)))
    weeks = np.datetime64("2024-01-01") + 7 * np.arange(52)
    (root / "demand.csv").write_text("sku,location,period,quantity\n" + "".join(
        f"{s},{loc},{w},{q}\n" for loc in ("S1", "S2") for i, s in enumerate(skus)
        for w, q in zip(weeks, rng.poisson(4.0 + 2 * i, weeks.size), strict=True)))
    (root / "constraints.csv").write_text(
        "constraint_id,constraint_type,location,supplier,limit,unit,statistic\n"
        "space_S1,location_space,S1,,2.2,m3,p95\n"
        "capital,budget,,,930,currency,on_hand_value\n")
    return root


def main() -> None:
    data = write_dataset(Path("constraints_demo") / "data")
    config = load_config(overrides={
        "run": {"executor": "in_process"}, "tracking": {"uri": "none"},
        "solver": {"replications": 20, "periods": 150},  # quick; defaults are larger
    })
    result = run(data, Path("constraints_demo") / "out", config, progress=False, overwrite=True)
    summary = json.loads((Path("constraints_demo") / "out" / "summary.json").read_text())
    for c in summary["constraints"]:
        print(f"{c['constraint_id']:<9} {c['statistic']:<13} limit {c['limit']:>8,.2f} {c['unit']:<8} used "
              f"{c['used']:>8,.2f} (unconstrained {c['used_at_recommendation']:>8,.2f})  binds {c['binds']!s:<5} "
              f"shadow price {c['shadow_price']:.4g} {c['shadow_price_unit']}")
        print(f"{'':<9} planned {c['planned']:,.2f} (the run's estimate), its SE {c['planned_se']:,.2f}, margin "
              f"{c['margin']:,.2f} at confidence {c['confidence']}: used = planned + margin")
    for r in pq.read_table(result.recommendations_path).to_pylist():
        if r["message"] and r["message"].startswith("level cut"):
            print(f"{r['sku']} {r['location']}: {r['message'].split(';')[0]}")
    used = {c["constraint_id"]: c for c in summary["constraints"]}
    assert all(c["used"] <= c["limit"] for c in used.values())
    assert all(math.isclose(c["used"], c["planned"] + c["margin"]) and c["margin"] > 0 for c in used.values())


if __name__ == "__main__":
    main()
