"""Settings of the tracking plugin, read from the ``[tracking]`` configuration section.

Keys (all optional; defaults in brackets):

* ``uri`` [``sqlite:///mlflow.db``], ``experiment`` [``echelon``] — as before;
* ``calibration`` [true] — calibrate the demand and lead-time models every run;
* ``holdout_periods`` [8] — H, the held-out last periods [periods];
* ``calibration_max_series`` [2000] — calibrate at most this many SKU-locations (a
  stable hash sample) and lead-time keys;
* ``register_models`` [true] — log and register fitted global models;
* ``recalibrate`` [``"off"``] — ``"auto"``: refit flagged global models as
  ``@challenger`` and promote them when they win the backtest;
* ``reference_runs`` [1] — runs of a version that form its reference window;
* ``monitoring_experiment`` [``<experiment>-monitoring``];
* ``drift_alpha`` [0.01], ``drift_psi`` [0.25], ``drift_coverage_drop`` [0.15],
  ``drift_pit_shift`` [0.1], ``drift_min_obs`` [30] — see :mod:`echelon_mlflow.monitor`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = ["TrackingSettings", "DriftThresholds", "artifact_location"]


def artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps its artifacts: next to a SQLite store file.

    ``sqlite:///dir/mlflow.db`` -> ``dir/mlruns/<experiment>`` (MLflow's default would be
    ``./mlruns`` of whatever directory the command runs in); None for other stores
    (their server decides).
    """
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return None
    import re
    from pathlib import Path

    db = Path(uri[len("sqlite:///"):]).resolve()
    return str(db.parent / "mlruns" / re.sub(r"[^\w.-]", "_", experiment))


@dataclass(frozen=True)
class DriftThresholds:
    """When a group counts as drifted (see :mod:`echelon_mlflow.monitor`).

    Attributes:
        alpha: KS test significance level (Bonferroni-corrected over groups) [-].
        psi: PSI of the PIT histogram above which the shift is material [-].
        coverage_drop: drop of the 80 % interval coverage that is material [-].
        pit_shift: absolute change of the mean PIT that is material [-].
        min_obs: fewest outcomes in both windows to judge a group [-].
    """

    alpha: float = 0.01
    psi: float = 0.25
    coverage_drop: float = 0.15
    pit_shift: float = 0.1
    min_obs: int = 30


@dataclass(frozen=True)
class TrackingSettings:
    """Resolved tracking settings (see the module docstring)."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str = "echelon"
    calibration: bool = True
    holdout_periods: int = 8
    calibration_max_series: int = 2000
    register_models: bool = True
    recalibrate: str = "off"
    reference_runs: int = 1
    monitoring_experiment: str = ""
    drift: DriftThresholds = DriftThresholds()

    @property
    def enabled(self) -> bool:
        """Whether tracking is on (``uri`` neither empty nor ``none``)."""
        return bool(self.uri) and self.uri.lower() != "none"

    @property
    def monitor_experiment(self) -> str:
        """Name of the monitoring experiment."""
        return self.monitoring_experiment or f"{self.experiment}-monitoring"

    @classmethod
    def from_mapping(cls, section: dict[str, Any] | None) -> TrackingSettings:
        """Settings from a ``[tracking]`` mapping (unknown keys are ignored here)."""
        s = dict(section or {})
        drift_kw: dict[str, Any] = {}
        for f in fields(DriftThresholds):
            if f"drift_{f.name}" in s:
                cast = int if f.name == "min_obs" else float
                drift_kw[f.name] = cast(s[f"drift_{f.name}"])
        drift = DriftThresholds(**drift_kw)
        mode = str(s.get("recalibrate") or "off").lower()
        if mode not in ("off", "auto"):
            raise ValueError(f"[tracking] recalibrate must be 'off' or 'auto', got {mode!r}")
        return cls(
            uri=str(s.get("uri") or ""),
            experiment=str(s.get("experiment") or "echelon"),
            calibration=bool(s.get("calibration", True)),
            holdout_periods=int(s.get("holdout_periods", 8)),
            calibration_max_series=int(s.get("calibration_max_series", 2000)),
            register_models=bool(s.get("register_models", True)),
            recalibrate=mode,
            reference_runs=max(1, int(s.get("reference_runs", 1))),
            monitoring_experiment=str(s.get("monitoring_experiment") or ""),
            drift=drift,
        )
