"""Stockout costs learned from order lines, expedites and the bill of materials (docs/costs.md).

Generates a small dataset with a cost history (known switching and expediting truth),
fits the ``learned`` cost model the way a run does, and prints what it learned: the
portfolio's switching probability and volume loss with their 90 % intervals, and the
stockout cost, its interval and its driver for a few SKU-locations.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from echelon_cost.learned import LearnedCostModel

from platform_core.data.generate import generate_dataset
from platform_core.data.loaders import load_dataset
from platform_core.fitting import fit_costs


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_dataset(data, 120, seed=7, cost_history=True)
        dataset = load_dataset(data)
        model = LearnedCostModel(replications=20)
        costs = fit_costs(dataset, model, period_days=7.0)  # what `echelon run` does with cost_model = "learned"
        truth = json.loads((data / "truth" / "cost_truth.json").read_text())

    s = model.summary_
    print(f"{int(s['switching_events'])} first stockouts: switching probability {s['switching_switch_probability']:.3f} "
          f"[{s['switching_switch_probability_lo']:.3f}, {s['switching_switch_probability_hi']:.3f}], "
          f"volume loss {s['switching_volume_loss']:.3f} [{s['switching_volume_loss_lo']:.3f}, "
          f"{s['switching_volume_loss_hi']:.3f}] (truth per segment: {truth['volume_loss']})")
    if model.switching_ is not None:  # prior_sd="auto": how far apart the data put the segments (logit scale)
        print("segment spread (prior sd) of switching, volume loss:", [round(x, 2) for x in model.switching_.prior_sd_])
    print(f"expediting regression R^2 {s['expediting_r_squared']:.3f} on {int(s['expediting_rows'])} expedites")
    cols = costs.columns
    print("drivers:", dict(Counter(cols["learned_cost_driver"].tolist())))
    sku, loc = dataset.stages.column("sku").to_pylist(), dataset.stages.column("location").to_pylist()
    for i in np.argsort(-cols["learned_stockout_cost"])[:5]:
        print(f"  {sku[i]}@{loc[i]}: p = {cols['learned_stockout_cost'][i]:8.2f} "
              f"[{cols['learned_stockout_cost_lo'][i]:.2f}, {cols['learned_stockout_cost_hi'][i]:.2f}] "
              f"({cols['learned_cost_driver'][i]}), cost-optimal service {costs.cost_optimal_service[i]:.4f}")


if __name__ == "__main__":
    main()
