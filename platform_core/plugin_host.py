"""The typed plugin host: the only place that touches pluggy.

The rest of the code asks the host for a component by family and name
(``host.create("solver", "single_echelon")``) or fires a lifecycle event
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
from typing import TYPE_CHECKING, Any

import pluggy

from platform_core import hookspecs
from platform_core.components import CostModel, Forecaster, LeadTimeModel, Solver

if TYPE_CHECKING:
    import pyarrow as pa

    from platform_core.data.schemas import Dataset
    from platform_core.executor import Executor
    from platform_core.run_context import RunContext, RunResult

__all__ = ["ComponentInfo", "PluginHost", "FAMILIES", "AUTOLOAD_ENV", "UnknownComponentError"]

AUTOLOAD_ENV = "ECHELON_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_DISTRIBUTION = "echelon"

# family -> (registration hook name, base class)
FAMILIES: dict[str, tuple[str, type | None]] = {
    "forecaster": ("register_forecasters", Forecaster),
    "lead_time": ("register_lead_time_models", LeadTimeModel),
    "cost": ("register_cost_models", CostModel),
    "solver": ("register_solvers", Solver),
    "executor": ("register_executors", None),
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
                    _base: type | None = base,
                    _plugin: str = plugin_name,
                    _registry: dict[str, ComponentInfo] = registry,
                ) -> None:
                    if _base is not None and not (isinstance(cls, type) and issubclass(cls, _base)):
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

    def create(self, family: str, name: str, **params: Any) -> Any:
        """Instantiate component ``name`` of ``family`` with ``params``."""
        return self.info(family, name).cls(**params)

    def executor(self, name: str, **params: Any) -> Executor:
        """Instantiate the executor ``name``."""
        return self.create("executor", name, **params)  # type: ignore[no-any-return]

    def plugin_versions(self) -> dict[str, str]:
        """Plugin name -> distribution and version."""
        return dict(self._versions)

    # ---- CLI ----------------------------------------------------------------------
    def register_cli_commands(self, subparsers: argparse._SubParsersAction) -> None:
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

