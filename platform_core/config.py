"""Run configuration: defaults, overridden by a TOML file, overridden by CLI flags.

Example ``echelon.toml``::

    [run]
    seed = 42
    period_days = 7
    batch_stages = 500           # SKU-locations per batch (whole networks kept together)
    executor = "ray"             # or "in_process"
    num_workers = 2              # local Ray CPUs; ignored with --address

    [components]
    forecaster = "bootstrap"
    lead_time_model = "empirical"
    cost_model = "standard"
    solver = "single_echelon"

    [forecaster]                 # keyword arguments of the forecaster
    window = 52

    [solver]                     # keyword arguments of the solver
    service_metric = "fill_rate"
    target_mode = "target"
    replications = 100
    periods = 365

    [tracking]
    uri = "sqlite:///mlflow.db"  # "none" disables tracking
    experiment = "echelon"
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunConfig", "DEFAULTS", "load_config"]

DEFAULTS: dict[str, Any] = {
    "run": {
        "seed": 42,
        "period_days": 7.0,
        "batch_stages": 500,
        "executor": "ray",
        "num_workers": None,
        "address": None,
        "node_ip_address": None,
        "default_lead_time_days": 14.0,
    },
    "components": {
        "forecaster": "bootstrap",
        "lead_time_model": "empirical",
        "cost_model": "standard",
        "solver": "single_echelon",
    },
    "forecaster": {},
    "lead_time_model": {},
    "cost_model": {},
    "solver": {},
    "tracking": {
        "uri": "sqlite:///mlflow.db",
        "experiment": "echelon",
        # calibration, registry and drift (see docs/tracking.md)
        "calibration": True,
        "holdout_periods": 8,
        "calibration_max_series": 2000,
        "register_models": True,
        "recalibrate": "off",
        "reference_runs": 1,
        "monitoring_experiment": "",
        "drift_alpha": 0.01,
        "drift_psi": 0.25,
        "drift_coverage_drop": 0.15,
        "drift_pit_shift": 0.1,
        "drift_min_obs": 30,
    },
}


@dataclass
class RunConfig:
    """The resolved configuration of one run (sections as in the TOML file)."""

    sections: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    def flat(self) -> dict[str, Any]:
        """``section.key -> value`` for logging as run parameters."""
        return {f"{s}.{k}": v for s, kv in self.sections.items() for k, v in kv.items()}


def load_config(path: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> RunConfig:
    """Defaults, then the TOML file at ``path``, then ``overrides`` (None values ignored).

    Raises:
        ValueError: unknown section or key in the file, naming the file and the key.
    """
    sections = copy.deepcopy(DEFAULTS)
    if path is not None:
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: not valid TOML: {exc}") from None
        for section, values in data.items():
            if section not in sections:
                raise ValueError(f"{path}: unknown section [{section}]; known: {', '.join(sections)}")
            if not isinstance(values, dict):
                raise ValueError(f"{path}: [{section}] must be a table")
            if section in ("run", "components", "tracking"):
                unknown = set(values) - set(sections[section])
                if unknown:
                    raise ValueError(
                        f"{path}: unknown key(s) {sorted(unknown)} in [{section}]; "
                        f"known: {sorted(sections[section])}"
                    )
            sections[section].update(values)
    for section, values in (overrides or {}).items():
        sections.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    return RunConfig(sections)
