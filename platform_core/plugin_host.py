"""The typed plugin host: the only place that touches pluggy.

The rest of the code asks the host for a component class by name, one typed method per
family (``host.solver("single_echelon") -> type[Solver]``), for the configuration
sections and ``echelon run`` options plugins own, or fires a lifecycle event
(``host.run_started(run)``).  Plugins are loaded from the ``echelon`` entry-point group;
the built-in plugins are registered through that same group, with no back door.

Set ``ECHELON_DISABLE_PLUGIN_AUTOLOAD=1`` to load only the entry points of the
``echelon`` distribution itself (the built-ins), skipping every third-party plugin;
plugins passed to :class:`PluginHost` explicitly are still registered.
"""

from __future__ import annotations

import argparse
import importlib.metadata as importlib_metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import pluggy

from platform_core import hookspecs
from platform_core.components import CostModel, Forecaster, LeadTimeModel, Solver
from platform_core.executor import Executor

if TYPE_CHECKING:
    import pyarrow as pa

    from platform_core.data.schemas import Dataset
    from platform_core.run_context import RunContext, RunResult

__all__ = ["ComponentInfo", "PluginHost", "FAMILIES", "AUTOLOAD_ENV", "UnknownComponentError"]

AUTOLOAD_ENV = "ECHELON_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_DISTRIBUTION = "echelon"

# family -> (registration hook name, base class)
FAMILIES: dict[str, tuple[str, type]] = {
    "forecaster": ("register_forecasters", Forecaster),
    "lead_time": ("register_lead_time_models", LeadTimeModel),
    "cost": ("register_cost_models", CostModel),
    "solver": ("register_solvers", Solver),
    "executor": ("register_executors", Executor),
}


class UnknownComponentError(KeyError):
    """A configuration names a component that no plugin registered."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ComponentInfo:
    """One registered component: its family, name, class, and the plugin that gave it."""

    family: str
    name: str
    cls: type
    plugin: str
    version: str


class PluginHost:
    """Loads plugins and wraps every hook call with a typed method.

    Args:
        plugins: extra plugin objects (modules or instances) to register, e.g. in tests.
        autoload: load entry points of the ``echelon`` group.  ``None`` means: yes,
            unless ``ECHELON_DISABLE_PLUGIN_AUTOLOAD`` is set (then built-ins only).
    """

    def __init__(self, plugins: Iterable[object] = (), autoload: bool | None = None) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        for spec in hookspecs.ALL_SPECS:
            self._pm.add_hookspecs(spec)
        self._versions: dict[str, str] = {}
        builtin_only = bool(os.environ.get(AUTOLOAD_ENV)) if autoload is None else not autoload
        self._load_entry_points(builtin_only=builtin_only)
        for plugin in plugins:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            self._pm.register(plugin, name=name)
            self._versions[name] = str(getattr(plugin, "__version__", "unversioned"))
        self._pm.check_pending()
        self._components: dict[str, dict[str, ComponentInfo]] = {f: {} for f in FAMILIES}
        self._collect()
        self._sections: dict[str, tuple[type, str]] = {}
        self._collect_sections()

    # ---- loading ------------------------------------------------------------------
    def _load_entry_points(self, builtin_only: bool) -> None:
        for ep in importlib_metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
            dist = ep.dist
            dist_name = dist.metadata["Name"] if dist is not None else ""
            if builtin_only and dist_name != BUILTIN_DISTRIBUTION:
                continue
            if self._pm.get_plugin(ep.name) is not None or self._pm.is_blocked(ep.name):
                continue
            plugin = ep.load()
            self._pm.register(plugin, name=ep.name)
            version = dist.version if dist is not None else "unknown"
            self._versions[ep.name] = f"{dist_name} {version}".strip()

    def _collect(self) -> None:
        for family, (hook_name, base) in FAMILIES.items():
            for plugin_name, plugin in self._pm.list_name_plugin():
                caller = self._pm.subset_hook_caller(
                    hook_name,
                    remove_plugins=[p for p in self._pm.get_plugins() if p is not plugin],
                )
                registry = self._components[family]

                def register(
                    name: str,
                    cls: type,
                    *,
                    _family: str = family,
                    _base: type = base,
                    _plugin: str = plugin_name,
                    _registry: dict[str, ComponentInfo] = registry,
                ) -> None:
                    if not (isinstance(cls, type) and issubclass(cls, _base)):
                        raise TypeError(
                            f"plugin {_plugin!r} registered {name!r} as a {_family}, "
                            f"but {cls!r} is not a subclass of {_base.__name__}"
                        )
                    if name in _registry and _registry[name].cls is not cls:
                        raise ValueError(
                            f"{_family} {name!r} is registered twice: by "
                            f"{_registry[name].plugin!r} and by {_plugin!r}"
                        )
                    _registry[name] = ComponentInfo(
                        _family, name, cls, _plugin, self._versions.get(_plugin, "unversioned")
                    )

                caller(register=register)

    def _collect_sections(self) -> None:
        for plugin_name, plugin in self._pm.list_name_plugin():
            caller = self._pm.subset_hook_caller(
                "register_config_sections",
                remove_plugins=[p for p in self._pm.get_plugins() if p is not plugin],
            )

            def register(section: str, cls: type, *, _plugin: str = plugin_name) -> None:
                import dataclasses

                if not dataclasses.is_dataclass(cls):
                    raise TypeError(f"plugin {_plugin!r} registered section [{section}] with {cls!r}, not a dataclass")
                if section in ("run", "components", "forecaster", "lead_time_model", "cost_model", "solver"):
                    raise ValueError(f"plugin {_plugin!r} cannot register the core's section [{section}]")
                if section in self._sections and self._sections[section][0] is not cls:
                    raise ValueError(
                        f"section [{section}] is registered twice: by {self._sections[section][1]!r} and by {_plugin!r}"
                    )
                self._sections[section] = (cls, _plugin)

            caller(register=register)

    # ---- components ---------------------------------------------------------------
    def components(self, family: str | None = None) -> list[ComponentInfo]:
        """Every registered component (of one family when given), sorted by name."""
        fams = [family] if family else list(FAMILIES)
        return [info for f in fams for _, info in sorted(self._components[f].items())]

    def info(self, family: str, name: str) -> ComponentInfo:
        """The registration record of ``name`` in ``family``."""
        if family not in self._components:
            raise UnknownComponentError(f"unknown component family {family!r}; known: {sorted(FAMILIES)}")
        try:
            return self._components[family][name]
        except KeyError:
            known = ", ".join(sorted(self._components[family])) or "none"
            raise UnknownComponentError(
                f"no {family} named {name!r} is registered (known: {known}); "
                "is the plugin that provides it installed?"
            ) from None

    def forecaster(self, name: str) -> type[Forecaster]:
        """The forecaster class registered as ``name``."""
        return cast("type[Forecaster]", self.info("forecaster", name).cls)  # checked at registration

    def lead_time_model(self, name: str) -> type[LeadTimeModel]:
        """The lead-time model class registered as ``name``."""
        return cast("type[LeadTimeModel]", self.info("lead_time", name).cls)

    def cost_model(self, name: str) -> type[CostModel]:
        """The cost model class registered as ``name``."""
        return cast("type[CostModel]", self.info("cost", name).cls)

    def solver(self, name: str) -> type[Solver]:
        """The solver class registered as ``name``."""
        return cast("type[Solver]", self.info("solver", name).cls)

    def executor(self, name: str) -> type[Executor]:
        """The executor class registered as ``name``."""
        return cast("type[Executor]", self.info("executor", name).cls)

    # ---- configuration --------------------------------------------------------------
    def config_sections(self) -> dict[str, type]:
        """Plugin-owned configuration section -> its settings dataclass."""
        return {name: cls for name, (cls, _) in sorted(self._sections.items())}

    def add_run_options(self, parser: argparse.ArgumentParser) -> None:
        """Let every plugin add options to ``echelon run`` (dest ``SECTION.KEY``)."""
        self._pm.hook.add_run_options(parser=parser)

    def plugin_versions(self) -> dict[str, str]:
        """Plugin name -> distribution and version."""
        return dict(self._versions)

    # ---- CLI ----------------------------------------------------------------------
    def register_cli_commands(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        """Let every plugin add sub-commands to the CLI."""
        self._pm.hook.register_cli_commands(subparsers=subparsers)

    # ---- lifecycle ----------------------------------------------------------------
    def run_started(self, run: RunContext) -> None:
        """Fire ``run_started`` on every plugin."""
        self._pm.hook.run_started(run=run)

    def input_validated(self, run: RunContext, dataset: Dataset) -> None:
        """Fire ``input_validated`` on every plugin."""
        self._pm.hook.input_validated(run=run, dataset=dataset)

    def batch_finished(self, run: RunContext, batch_id: int, recommendations: pa.Table) -> None:
        """Fire ``batch_finished`` on every plugin."""
        self._pm.hook.batch_finished(run=run, batch_id=batch_id, recommendations=recommendations)

    def run_finished(self, run: RunContext, result: RunResult) -> None:
        """Fire ``run_finished`` on every plugin."""
        self._pm.hook.run_finished(run=run, result=result)

    def run_failed(self, run: RunContext, error: BaseException) -> None:
        """Fire ``run_failed`` on every plugin."""
        self._pm.hook.run_failed(run=run, error=error)

    def hook_names(self) -> list[str]:
        """Names of every hook specification (for the documentation check)."""
        return sorted(
            name for name in dir(self._pm.hook) if not name.startswith("_")
        )

