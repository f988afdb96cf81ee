"""Gradual rollout and the outcome ledger: did the recommendations work?

* :mod:`~platform_core.rollout.units` — a run's SKU-locations as the rollout sees them
  (network, ABC and demand class, levels and promises of the run);
* :mod:`~platform_core.rollout.plan` — waves by a rule, a randomised control group per
  wave, balance (standardised differences);
* :mod:`~platform_core.rollout.outcome_data` — the outcome tables' contract and loader;
* :mod:`~platform_core.rollout.ledger` — the outcome ledger per SKU-location and period;
* :mod:`~platform_core.rollout.effects` — per wave, treatment against control
  (difference in differences, network-clustered standard errors);
* :mod:`~platform_core.rollout.promise` — promised against realised fill per demand class;
* :mod:`~platform_core.rollout.scenario` — generated new periods with a known effect.

See ``docs/rollout.md``.
"""

from platform_core.rollout.effects import WaveEffect, wave_effects
from platform_core.rollout.ledger import build_ledger
from platform_core.rollout.outcome_data import OUTCOME_PERIODS, load_outcome_periods
from platform_core.rollout.plan import RolloutPlan, plan_rollout, read_plan, write_plan
from platform_core.rollout.promise import flag_promise_drift, promise_by_class
from platform_core.rollout.units import RolloutUnits, load_units

__all__ = [
    "OUTCOME_PERIODS",
    "RolloutPlan",
    "RolloutUnits",
    "WaveEffect",
    "build_ledger",
    "load_outcome_periods",
    "load_units",
    "plan_rollout",
    "flag_promise_drift",
    "promise_by_class",
    "read_plan",
    "wave_effects",
    "write_plan",
]
