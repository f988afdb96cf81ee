"""A rollout from plan to outcome report, on generated data (docs/rollout.md).

Run the recommendations, plan two waves with randomised control groups, generate the
periods that follow (20 % of adoptions overridden, lumpy items' realised fill 5 pp below
the promise), read them into the outcome ledger and write the report with its outcome
section.  Tracking is off here; with an MLflow store, ``echelon rollout plan`` and
``echelon outcomes`` log to it and ``echelon monitor`` flags the promise drift.

    python docs/examples/rollout.py
"""

import shutil
from pathlib import Path

from platform_core.config import load_config
from platform_core.data.generate import generate_dataset
from platform_core.pipeline import run
from platform_core.report import build_report
from platform_core.rollout import load_units, plan_rollout, write_plan
from platform_core.rollout.record import record_outcomes
from platform_core.rollout.scenario import generate_outcomes, write_outcomes

work = Path("rollout_example")
shutil.rmtree(work, ignore_errors=True)
generate_dataset(work / "data", sku_locations=600, seed=3)
config = load_config(overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"},
                                "solver": {"replications": 20, "periods": 150}})
run(work / "data", work / "out", config)

# 1. waves: C networks first; 30 % of each wave's networks stay on today's policy
units = load_units(work / "out")
plan = plan_rollout(units, waves=2, rule="abc", control_fraction=0.3, seed=1)
write_plan(work / "out", plan)
print(plan.balance[["wave", "covariate", "std_diff", "treatment_networks", "control_networks"]].to_string(index=False))

# 2. what happened next (generated here; in real life: the ERP's periods, docs/rollout.md)
table, truth = generate_outcomes(units, plan, seed=1, override_rate=0.2, promise_drift={"lumpy": 0.05})
write_outcomes(work / "new_periods", table, truth)

# 3. the outcome ledger, the effect per wave with its 95 % interval, promise per class
rec = record_outcomes(work / "new_periods", work / "out")
for e in rec.effects.itertuples():
    true = truth["waves"][str(e.wave)]["fill_effect" if e.outcome == "fill" else "inventory_value_effect"]
    print(f"wave {e.wave} {e.outcome:15s} effect {e.estimate:9.4g} [{e.ci_low:9.4g}, {e.ci_high:9.4g}]  "
          f"true {true:9.4g}  adopted {e.adoption_rate:.0%}")
print(rec.promise[["demand_class", "units", "promised_fill", "realised_fill", "shortfall", "se"]].to_string(index=False))

print("report:", build_report(work / "out").path)
