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
  ``drift_pit_shift`` [0.1], ``drift_min_obs`` [30] — see :mod:`echelon_mlflow.monitor`;
* ``connect_timeout`` [5.0] — how long a tracking server may take to answer Echelon's
  probe before tracking gives up [s] (:mod:`echelon_mlflow.stores`);
* ``trusted_registry_uri`` [``""`` = ``uri``] — the only registry models are loaded
  (unpickled) from;
* ``allowed_models`` [``[]`` = any] — registered names that may be loaded;
* ``require_model_sha256`` [true] — load only versions whose artifact matches the
  SHA-256 Echelon recorded when it registered them (see :mod:`echelon_mlflow.registry`
  and ``docs/tracking.md``, "Trust model").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    """The ``[tracking]`` section (see the module docstring).

    Registered with the core through ``register_config_sections``, which checks its keys
    and value types.
    """

    uri: str = "sqlite:///mlflow.db"
    experiment: str = "echelon"
    calibration: bool = True
    holdout_periods: int = 8
    calibration_max_series: int = 2000
    register_models: bool = True
    recalibrate: str = "off"
    reference_runs: int = 1
    monitoring_experiment: str = ""
    drift_alpha: float = 0.01
    drift_psi: float = 0.25
    drift_coverage_drop: float = 0.15
    drift_pit_shift: float = 0.1
    drift_min_obs: int = 30
    connect_timeout: float = 5.0
    trusted_registry_uri: str = ""
    allowed_models: tuple[str, ...] = ()
    require_model_sha256: bool = True

    def __post_init__(self) -> None:
        if self.recalibrate not in ("off", "auto"):
            raise ValueError(f"recalibrate must be 'off' or 'auto', got {self.recalibrate!r}")
        if self.reference_runs < 1:
            raise ValueError(f"reference_runs must be >= 1, got {self.reference_runs}")
        if self.holdout_periods < 1:
            raise ValueError(f"holdout_periods must be >= 1, got {self.holdout_periods}")
        if not self.connect_timeout > 0:
            raise ValueError(f"connect_timeout must be > 0 [s], got {self.connect_timeout}")
        bad = [m for m in self.allowed_models if not isinstance(m, str) or not m]
        if bad:
            raise ValueError(f"allowed_models must be non-empty registered model names (strings), got {bad!r}")

    @property
    def enabled(self) -> bool:
        """Whether tracking is on (``uri`` neither empty nor ``none``)."""
        return bool(self.uri) and self.uri.lower() != "none"

    @property
    def trusted_registry(self) -> str:
        """The registry models may be loaded from: ``trusted_registry_uri``, else ``uri``.

        With tracking off (``uri = "none"``) the default is ``sqlite:///mlflow.db``, the
        registered forecaster's default store.
        """
        return self.trusted_registry_uri or (self.uri if self.enabled else "sqlite:///mlflow.db")

    @property
    def monitor_experiment(self) -> str:
        """Name of the monitoring experiment."""
        return self.monitoring_experiment or f"{self.experiment}-monitoring"

    @property
    def drift(self) -> DriftThresholds:
        """The drift thresholds of the ``drift_*`` keys."""
        return DriftThresholds(alpha=self.drift_alpha, psi=self.drift_psi, coverage_drop=self.drift_coverage_drop,
                               pit_shift=self.drift_pit_shift, min_obs=self.drift_min_obs)

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any] | None) -> TrackingSettings:
        """Settings from a ``[tracking]`` mapping (None values mean: the default).

        Raises:
            ValueError: an unknown key or a value of the wrong type.
        """
        from platform_core.config import section_from_mapping

        given = {k: v for k, v in (section or {}).items() if v is not None}
        return section_from_mapping(cls, given, "[tracking]")  # type: ignore[no-any-return]
