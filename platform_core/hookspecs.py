"""Hook specifications of Echelon's plugin system (pluggy).

Three kinds of hooks, grouped by lifecycle stage as in kedro:

* **Registration hooks** (``register_*``): a plugin registers named components of a
  family by calling ``register(name, component_class)``.  Configuration then picks one
  component by name; the core never calls every solver for every SKU.
* **Configuration hooks** (``register_config_sections``, ``add_run_options``): a plugin
  owns its configuration section and its ``echelon run`` options; the core carries no
  plugin's settings.
* **Lifecycle hooks** (``run_started`` ...): observers such as the MLflow tracker see a
  run without the core knowing about them.  Every implementation is called; return
  values are ignored.

Lifecycle hooks observe; they do not change the run.  A component that must settle its
parameters on the driver before batches start (e.g. pin a registry alias to a version)
does it in its ``prepare`` classmethod (:class:`platform_core.components.Component`).

Hooks may gain keyword arguments, never lose them; an implementation may accept fewer
arguments than the spec (pluggy's rule).  Imports used only for types sit under
``TYPE_CHECKING`` so this module loads nothing heavy.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import pyarrow as pa

    from platform_core.data.schemas import Dataset
    from platform_core.run_context import RunContext, RunResult

PROJECT = "echelon"
ENTRY_POINT_GROUP = "echelon"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[[str, type], None]

__all__ = [
    "PROJECT",
    "ENTRY_POINT_GROUP",
    "hookspec",
    "hookimpl",
    "RegistrationSpecs",
    "RunSpecs",
    "CliSpecs",
    "ConfigSpecs",
]


class RegistrationSpecs:
    """Registration hooks: one per component family."""

    @hookspec
    def register_forecasters(self, register: Register) -> None:
        """Register demand forecasters.

        Called once when the plugin host loads its plugins.  Call
        ``register(name, cls)`` for each :class:`platform_core.components.Forecaster`
        subclass the plugin provides.  Returns nothing.
        """

    @hookspec
    def register_lead_time_models(self, register: Register) -> None:
        """Register lead-time models.

        Called once when the plugin host loads its plugins.  Call
        ``register(name, cls)`` for each :class:`platform_core.components.LeadTimeModel`
        subclass.  Returns nothing.
        """

    @hookspec
    def register_cost_models(self, register: Register) -> None:
        """Register cost models.

        Called once when the plugin host loads its plugins.  Call
        ``register(name, cls)`` for each :class:`platform_core.components.CostModel`
        subclass.  Returns nothing.
        """

    @hookspec
    def register_solvers(self, register: Register) -> None:
        """Register policy solvers.

        Called once when the plugin host loads its plugins.  Call
        ``register(name, cls)`` for each :class:`platform_core.components.Solver`
        subclass.  Returns nothing.
        """

    @hookspec
    def register_executors(self, register: Register) -> None:
        """Register batch executors (where batches run: in process, Ray, ...).

        Called once when the plugin host loads its plugins.  Call
        ``register(name, cls)`` for each :class:`platform_core.executor.Executor`
        subclass.  Returns nothing.
        """


class ConfigSpecs:
    """Configuration hooks: a plugin owns its configuration section and run options."""

    @hookspec
    def register_config_sections(self, register: Register) -> None:
        """Register the configuration sections this plugin owns.

        Called once when the plugin host loads its plugins.  Call
        ``register(section, settings_class)`` for each section, where
        ``settings_class`` is a frozen dataclass whose fields (each with a default and
        a type annotation) are the section's keys.  The core checks keys and value
        types (:func:`platform_core.config.section_from_mapping`) and hands the built
        object to the plugin through ``RunContext.config.section(name)``.  Returns
        nothing.
        """

    @hookspec
    def add_run_options(self, parser: argparse.ArgumentParser) -> None:
        """Add command-line options to ``echelon run``.

        Called once when the CLI builds its parser.  An option whose ``dest`` is
        ``"SECTION.KEY"`` (e.g. ``parser.add_argument("--tracking-uri",
        dest="tracking.uri")``) overrides that key of the configuration when given.
        Returns nothing.
        """


class CliSpecs:
    """Command-line hooks."""

    @hookspec
    def register_cli_commands(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Add sub-commands to the ``echelon`` command line.

        Called once when the CLI builds its parser.  Add parsers to ``subparsers`` and
        set ``func=handler`` on each, where ``handler(args) -> int`` returns the exit
        code.  Returns nothing.
        """


class RunSpecs:
    """Lifecycle hooks of one ``echelon run``; every implementation is called."""

    @hookspec
    def run_started(self, run: RunContext) -> None:
        """Announce that a run has started.

        Called on the driver after the configuration is resolved, before any input
        is read.  ``run`` holds the run id, configuration and output directory.
        Returns nothing.
        """

    @hookspec
    def input_validated(self, run: RunContext, dataset: Dataset) -> None:
        """Announce that the input dataset is valid.

        Called on the driver once the input dataset has loaded and passed
        validation, before batches are planned.  Returns nothing.
        """

    @hookspec
    def batch_finished(self, run: RunContext, batch_id: int, recommendations: pa.Table) -> None:
        """Hand over the recommendations of one finished batch.

        Called on the driver each time a batch's recommendations arrive (in
        completion order, not batch order).  Returns nothing.
        """

    @hookspec
    def run_finished(self, run: RunContext, result: RunResult) -> None:
        """Announce that a run has finished and its results are written.

        Called on the driver after ``recommendations.parquet`` is written, with the
        summary metrics.  Returns nothing.
        """

    @hookspec
    def run_failed(self, run: RunContext, error: BaseException) -> None:
        """Announce that a run has failed.

        Called on the driver when a run stops with an error (nothing is written to
        the output directory in that case).  Returns nothing.
        """


ALL_SPECS: tuple[Any, ...] = (RegistrationSpecs, ConfigSpecs, CliSpecs, RunSpecs)
