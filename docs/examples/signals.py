"""Signals beyond the history: a signal that leads demand sharpens the next two periods (a few seconds).

1. generate 100 SKU-locations with a ``signals`` table: ``pos_lead2`` leads demand by 2
   periods, ``noise_orders`` and ``noise_index`` are noise;
2. fit the ``signals`` forecaster on the history and its signals: it reports which
   (signal, lag) it chose per horizon and how much each lowered the held-out error;
3. forecast the 2 periods after the history and score the 0.9 quantile against the true
   demand of those periods (``truth/demand_future.parquet``), against the history-only
   default ``calibrated``.

A run uses it with ``[components] forecaster = "signals"`` (the ``signals`` table is read
from the dataset directory like any other file).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT, ROOT / "plugins"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from echelon_demand.models import FORECASTERS  # noqa: E402

from platform_core.data.generate import generate_dataset  # noqa: E402
from platform_core.data.loaders import load_dataset  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.forecasting.scores import pinball, quantiles  # noqa: E402
from platform_core.forecasting.series import demand_series_from_table, padded  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_dataset(data, sku_locations=100, seed=3, periods=60, signals=True)
        ds = load_dataset(data)
        series = demand_series_from_table(ds.demand, ds.get("signals"))
        future = pq.read_table(data / "truth" / "demand_future.parquet").to_pylist()
    truth = {(r["sku"], r["location"], k % 2): r["true_quantity"] for k, r in enumerate(future)}
    n = len(series)
    y = np.array([[truth[(*key.split("@"), h)] for h in range(2)] for key in series.keys])

    sig = FORECASTERS["signals"]().fit(series)
    for h, entry in enumerate(sig.model_["horizons"], start=1):
        chosen = ", ".join(f"{name} at lag {lag} (held-out error -{g:.0%})"
                           for (name, lag), g in zip(entry["features"], entry["gain"], strict=True))
        print(f"h={h}: {chosen or 'no signal (history only)'}")

    cal = FORECASTERS["calibrated"]().fit(series)
    one = cal.lead_time_demand([DiscreteDistribution.point(1)] * n, np.zeros(n), np.zeros(n, dtype=np.int64))
    Y, _ = padded(series)
    scale = np.nanmean(np.abs(np.diff(Y, axis=1)), axis=1)  # M5 scale of each series' history
    ok = scale > 0
    for name, dists in (("calibrated", [[d, d] for d in one]), ("signals", sig.horizon_demand())):
        q90 = np.array([quantiles(d, np.array([0.9]))[:, 0] for d in dists])  # (n, 2)
        spl = pinball(q90[ok], y[ok], 0.9) / scale[ok, None]
        print(f"{name:10s} scaled pinball loss at 0.9, next 2 periods: {spl.mean():.3f}; "
              f"share of outcomes <= q90: {(y[ok] <= q90[ok]).mean():.2f}")


if __name__ == "__main__":
    main()
