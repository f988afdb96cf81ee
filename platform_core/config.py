"""Run configuration: typed, frozen objects built from defaults, a TOML file and CLI flags.

Example ``echelon.toml``::

    [run]
    seed = 42
    period_days = 7
    batch_stages = 500           # SKU-locations per batch (whole networks kept together)
    executor = "auto"            # in process below in_process_below SKU-locations, else Ray
    in_process_below = 10000     # [SKU-locations]; "ray" or "in_process" force a choice
    num_workers = 2              # local Ray CPUs; ignored with --address

    [components]
    forecaster = "calibrated"    # bootstrap, recalibrated from its own rolling backtests
    lead_time_model = "empirical"
    cost_model = "standard"
    solver = "multi_echelon"

    [forecaster]                 # keyword arguments of the chosen forecaster
    base = "bootstrap"

    [solver]                     # keyword arguments of the chosen solver
    objective = "target"
    replications = 100
    periods = 365

    [tracking]                   # a section owned by a plugin (here echelon_mlflow)
    uri = "sqlite:///mlflow.db"

The core owns ``[run]``, ``[components]`` and the four component-parameter sections.
Every other section belongs to a plugin, which registers its settings class through the
``register_config_sections`` hook (:mod:`platform_core.hookspecs`); the core validates the
section's keys and value types against that class and knows nothing else about it.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from platform_core.plugin_host import PluginHost

__all__ = [
    "RunConfig",
    "RunSettings",
    "ComponentChoice",
    "COMPONENT_SECTIONS",
    "load_config",
    "section_from_mapping",
]

COMPONENT_SECTIONS: tuple[str, ...] = ("forecaster", "lead_time_model", "cost_model", "solver")
"""Sections holding the keyword arguments of the chosen component of each family."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` as the annotated type ``tp`` (int -> float widening only), else ValueError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin in (tuple, list) or tp in (tuple, list):
        if isinstance(value, list | tuple):
            return tuple(value) if (origin or tp) is tuple else list(value)
    else:
        return value
    raise ValueError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def section_from_mapping(cls: type[Any], values: Mapping[str, Any], where: str) -> Any:
    """Build the settings dataclass ``cls`` from ``values``, checking keys and value types.

    Args:
        cls: a dataclass whose fields (with defaults) are the section's keys.
        values: the keys given (from the TOML file and the command line).
        where: how errors name the section, e.g. ``"echelon.toml: [tracking]"``.

    Raises:
        ValueError: an unknown key (naming the known ones), a value of the wrong type, or
            whatever the class's own validation (``__post_init__``) rejects.
    """
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    kwargs = {k: _coerce(v, hints[k], f"{where} {k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class RunSettings:
    """The ``[run]`` section.

    Attributes:
        seed: run seed; every SKU-location's random numbers derive from it [-].
        period_days: length of one planning period [days].
        batch_stages: single-stage networks' worth of work per batch [SKU-locations].
        executor: where batches run: ``auto`` (in process for fewer than
            ``in_process_below`` SKU-locations, else ``ray``), ``ray``, ``in_process``, or
            a plugin's executor.
        in_process_below: with ``executor = "auto"``, inputs with fewer SKU-locations run
            in process, sparing Ray's start-up of several seconds [SKU-locations].
        num_workers: CPUs of a local Ray instance (None: all).
        address: Ray cluster address (None: a local instance).
        node_ip_address: this node's address for Ray (None: Ray's choice).
        default_lead_time_days: lead time of a stage with neither receipts nor an
            inbound arc's transit time [days].
    """

    seed: int = 42
    period_days: float = 7.0
    batch_stages: int = 500
    executor: str = "auto"
    in_process_below: int = 10_000
    num_workers: int | None = None
    address: str | None = None
    node_ip_address: str | None = None
    default_lead_time_days: float = 14.0

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not self.period_days > 0:
            raise ValueError(f"period_days must be > 0, got {self.period_days}")
        if self.batch_stages < 1:
            raise ValueError(f"batch_stages must be >= 1, got {self.batch_stages}")
        if self.in_process_below < 0:
            raise ValueError(f"in_process_below must be >= 0, got {self.in_process_below}")
        if self.num_workers is not None and self.num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {self.num_workers}")
        if not self.default_lead_time_days >= 0:
            raise ValueError(f"default_lead_time_days must be >= 0, got {self.default_lead_time_days}")


@dataclass(frozen=True)
class ComponentChoice:
    """The ``[components]`` section: the registered name chosen in each family."""

    forecaster: str = "calibrated"
    lead_time_model: str = "empirical"
    cost_model: str = "standard"
    solver: str = "multi_echelon"


@dataclass(frozen=True)
class RunConfig:
    """The resolved configuration of one run.

    Attributes:
        run: the ``[run]`` section.
        components: the ``[components]`` section.
        params: keyword arguments per component section (``forecaster``,
            ``lead_time_model``, ``cost_model``, ``solver``); checked against the chosen
            class when the run starts.
        plugin_sections: settings object per plugin-owned section (e.g. ``tracking``).
    """

    run: RunSettings = field(default_factory=RunSettings)
    components: ComponentChoice = field(default_factory=ComponentChoice)
    params: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: {name: {} for name in COMPONENT_SECTIONS}
    )
    plugin_sections: Mapping[str, Any] = field(default_factory=dict)

    def component_params(self, section: str) -> dict[str, Any]:
        """A copy of the keyword arguments of component section ``section``."""
        if section not in COMPONENT_SECTIONS:
            raise KeyError(f"no component section [{section}]; known: {list(COMPONENT_SECTIONS)}")
        return dict(self.params.get(section, {}))

    def section(self, name: str) -> Any:
        """The settings object of plugin-owned section ``name`` (e.g. ``"tracking"``)."""
        try:
            return self.plugin_sections[name]
        except KeyError:
            known = ", ".join(sorted(self.plugin_sections)) or "none"
            raise KeyError(f"no configuration section [{name}] (plugin sections: {known})") from None

    def with_params(self, section: str, params: Mapping[str, Any]) -> Self:
        """A copy with the keyword arguments of ``section`` replaced."""
        new = {k: dict(v) for k, v in self.params.items()}
        new[section] = dict(params)
        return dataclasses.replace(self, params=new)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Every section as plain values (for logging and fingerprints)."""
        out: dict[str, dict[str, Any]] = {
            "run": dataclasses.asdict(self.run),
            "components": dataclasses.asdict(self.components),
        }
        for name in COMPONENT_SECTIONS:
            out[name] = dict(self.params.get(name, {}))
        for name, obj in self.plugin_sections.items():
            is_instance = dataclasses.is_dataclass(obj) and not isinstance(obj, type)
            out[name] = dataclasses.asdict(obj) if is_instance else dict(vars(obj))
        return out

    def flat(self) -> dict[str, Any]:
        """``section.key -> value`` for logging as run parameters."""
        return {f"{s}.{k}": v for s, kv in self.as_dict().items() for k, v in kv.items()}


def _merge(into: dict[str, dict[str, Any]], sections: Mapping[str, Any], where: str, known: Iterable[str]) -> None:
    known = list(known)
    for name, values in sections.items():
        if name not in known:
            raise ValueError(f"{where}unknown section [{name}]; known: {', '.join(known)}")
        if not isinstance(values, Mapping):
            raise ValueError(f"{where}[{name}] must be a table")
        into.setdefault(name, {}).update({k: v for k, v in values.items() if v is not None})


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    host: PluginHost | None = None,
) -> RunConfig:
    """Defaults, then the TOML file at ``path``, then ``overrides`` (None values ignored).

    Args:
        path: a TOML file (see the module docstring).
        overrides: ``{section: {key: value}}``, e.g. from command-line flags.
        host: the plugin host whose plugins own the other sections (default: a fresh
            host with the installed plugins).

    Raises:
        ValueError: unknown section or key, or a value of the wrong type, naming the file
            (or "override") and the section and key.
    """
    if host is None:
        from platform_core.plugin_host import PluginHost

        host = PluginHost()
    plugin_classes = host.config_sections()
    known = ["run", "components", *COMPONENT_SECTIONS, *plugin_classes]
    given: dict[str, dict[str, Any]] = {}
    file_keys: dict[str, set[str]] = {}
    if path is not None:
        with open(path, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: not valid TOML: {exc}") from None
        _merge(given, data, f"{path}: ", known)
        file_keys = {name: set(values) for name, values in given.items()}
    _merge(given, overrides or {}, "override: ", known)

    def where(section: str) -> str:
        keys = given.get(section, {})
        from_file = path is not None and set(keys) <= file_keys.get(section, set())
        return f"{path}: [{section}]" if from_file else f"[{section}]"

    return RunConfig(
        run=section_from_mapping(RunSettings, given.get("run", {}), where("run")),
        components=section_from_mapping(ComponentChoice, given.get("components", {}), where("components")),
        params={name: dict(given.get(name, {})) for name in COMPONENT_SECTIONS},
        plugin_sections={
            name: section_from_mapping(cls, given.get(name, {}), where(name)) for name, cls in plugin_classes.items()
        },
    )
