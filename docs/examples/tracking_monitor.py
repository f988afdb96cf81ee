"""Calibration drift end to end on a generated history (runs in a few seconds).

A product group's demand triples from period 94 on.  The models are calibrated and
logged at four "run dates" (the history as seen after 80, 88, 96 and 104 periods) into
./mlflow.db, then the monitor compares every date with the reference window and flags
the shifted group.  ``echelon_mlflow.recalibrate`` does the calibration part of
``echelon run`` without solving policies, so the example stays fast; ``echelon run``
with tracking logs the same.

    python docs/examples/tracking_monitor.py
    echelon ui --tracking-uri sqlite:///mlflow.db    # experiment "echelon-monitoring"
"""

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from echelon_mlflow.monitor import monitor
from echelon_mlflow.recalibrate import recalibrate

from platform_core.data.generate import START_DATE, generate_dataset

URI = "sqlite:///mlflow.db"
work = Path("tracking_example")
shutil.rmtree(work, ignore_errors=True)
generate_dataset(work / "base", sku_locations=400, seed=11, periods=104)

receipts = pq.read_table(work / "base" / "receipts.parquet")
groups = receipts.group_by(["sku"]).aggregate([("product_group", "min")])
group_of = dict(zip(groups.column("sku").to_pylist(), groups.column("product_group_min").to_pylist(), strict=True))
series = pq.read_table(work / "base" / "stages.parquet").column("sku").to_pylist()
sizes = {g: sum(group_of.get(s) == g for s in series) for g in set(group_of.values())}
shifted = max(sorted(sizes), key=lambda g: sizes[g])
shifted_skus = [s for s, g in group_of.items() if g == shifted]
start = np.datetime64(START_DATE, "D").astype(np.int64)


def as_seen_after(periods: int) -> Path:
    """The dataset after ``periods`` periods, the shifted group tripled from period 94."""
    out = work / f"after-{periods}"
    out.mkdir()
    for f in (work / "base").iterdir():
        if f.is_file() and f.name not in ("demand.parquet", "receipts.parquet"):
            shutil.copy(f, out / f.name)
    d = pq.read_table(work / "base" / "demand.parquet")
    t = (d.column("period").cast(pa.int32()).to_numpy().astype(np.int64) - start) // 7
    d, t = d.filter(pa.array(t < periods)), t[t < periods]
    hit = np.isin(d.column("sku").to_numpy(zero_copy_only=False), shifted_skus) & (t >= 94)
    q = d.column("quantity").to_numpy(zero_copy_only=False).astype(float)
    q = np.where(hit, np.round(3.0 * q), q)
    pq.write_table(d.set_column(d.schema.get_field_index("quantity"), "quantity", pa.array(q, mask=np.isnan(q))),
                   out / "demand.parquet")
    r = receipts.filter(pa.array(receipts.column("receipt_date").cast(pa.int32()).to_numpy() < start + 7 * periods))
    pq.write_table(r, out / "receipts.parquet")
    return out


for periods in (80, 88, 96, 104):
    # the plain bootstrap (the default forecaster is calibrated, which recalibrates itself
    # inside every run; the monitor watches any forecaster the same way)
    recalibrate(as_seen_after(periods), URI, experiment="echelon",
                overrides={"components": {"forecaster": "bootstrap"}})

report = monitor(URI, "echelon")
for model, drift in report.latest.items():
    print(f"{model:22s} as of {drift.as_of}: flagged {drift.flagged_groups or 'nothing'}")
print(f"shifted group: {shifted}; drift metrics of {len(report.history['demand:bootstrap'])} run dates "
      "are in experiment 'echelon-monitoring'")
assert f"product_group={shifted}" in report.flagged["demand:bootstrap"]
