"""What lifecycle hooks receive: the run's identity and, at the end, its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_core.artefacts import ComponentArtefacts
from platform_core.config import RunConfig

__all__ = ["RunContext", "RunResult"]


@dataclass
class RunContext:
    """One ``echelon run`` as plugins see it.

    Attributes:
        run_id: unique id of the run (not used for random numbers).
        data_dir: the input dataset directory.
        out_dir: the output directory.
        config: the resolved configuration.
        components: family -> {name, plugin, version} of the components in use.
        executor: the executor's parameters.
        component_params: per component section (``forecaster``, ``solver``, ...), the
            parameters the batches use, after each component's ``prepare`` step.
        notes: messages for the user, e.g. that tracking failed (plugins may append).
        tags: what kind of run this is, for trackers to record (e.g.
            ``echelon.incremental = "true"``, ``echelon.previous_run_id``); empty for a full run.
    """

    run_id: str
    data_dir: Path
    out_dir: Path
    config: RunConfig
    components: dict[str, dict[str, str]] = field(default_factory=dict)
    executor: dict[str, Any] = field(default_factory=dict)
    component_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RunResult:
    """The outcome of a finished run.

    Attributes:
        recommendations_path: the written Parquet file.
        metrics: aggregate metrics (counts, service, investment, timings [s]).
        extra_artifacts: further files written (for tracking plugins to log).
        notes: messages for the user (shared with ``RunContext.notes``).
        artefacts: the fitted artefacts the run's components exposed, one entry per
            component (:mod:`platform_core.artefacts`), for tracking plugins to version.
    """

    recommendations_path: Path
    metrics: dict[str, float]
    extra_artifacts: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    artefacts: list[ComponentArtefacts] = field(default_factory=list)
