"""The kit's machinery: what a component under test is, what a check is, and the runner.

A *check* is a small function ``check(spec) -> None`` that raises ``AssertionError``
with a message naming the component, what is wrong and what was expected, or
:class:`NotApplicable` when the component does not claim what the check verifies.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from platform_core.plugin_host import ComponentInfo

__all__ = [
    "Check",
    "ComponentUnderTest",
    "NotApplicable",
    "FAMILIES",
    "as_spec",
    "checks_for",
    "check_component",
    "check_forecaster",
    "check_lead_time_model",
    "check_cost_model",
    "check_solver",
    "check_executor",
    "parametrize_with_checks",
]

#: family -> module holding its checks (``CHECKS``), imported on first use.
FAMILIES: dict[str, str] = {
    "forecaster": "platform_core.testing.forecaster_checks",
    "lead_time": "platform_core.testing.lead_time_checks",
    "cost": "platform_core.testing.cost_checks",
    "solver": "platform_core.testing.solver_checks",
    "executor": "platform_core.testing.executor_checks",
}

T = TypeVar("T")


class NotApplicable(Exception):  # noqa: N818 - reads as "this check is not applicable"
    """Raised by a check that does not apply to the component (it claims no such thing).

    :func:`check_component` counts it as passed; under pytest the test is skipped with
    the message as the reason.
    """


def _base_classes() -> dict[str, type]:
    from platform_core.components import CostModel, Forecaster, LeadTimeModel, Solver
    from platform_core.executor import Executor

    return {
        "forecaster": Forecaster,
        "lead_time": LeadTimeModel,
        "cost": CostModel,
        "solver": Solver,
        "executor": Executor,
    }


def _infer_family(cls: type) -> str:
    for family, base in _base_classes().items():
        if isinstance(cls, type) and issubclass(cls, base):
            return family
    raise TypeError(
        f"cannot tell the family of {cls!r}: it subclasses none of Forecaster, LeadTimeModel, "
        "CostModel, Solver, Executor; pass family= explicitly"
    )


@dataclass(frozen=True, eq=False)
class ComponentUnderTest:
    """A component under test: its class, the parameters to build it with, its family and name.

    Attributes:
        cls: the component class (what a plugin registers).
        params: keyword arguments of ``cls(**params)``; small values keep the kit fast.
        family: ``forecaster``, ``lead_time``, ``cost``, ``solver`` or ``executor``;
            inferred from the base class when empty.
        name: the registered name (used in messages and test ids); the class name
            when empty.
    """

    cls: type
    params: Mapping[str, Any] = field(default_factory=dict)
    family: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        family = self.family or _infer_family(self.cls)
        if family not in FAMILIES:
            raise ValueError(f"unknown component family {family!r}; known: {sorted(FAMILIES)}")
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "name", self.name or self.cls.__name__)
        object.__setattr__(self, "params", dict(self.params))

    @property
    def label(self) -> str:
        """How messages name the component, e.g. ``forecaster 'bootstrap'``."""
        return f"{self.family} {self.name!r}"

    @property
    def id(self) -> str:
        """Test-id prefix, e.g. ``forecaster[bootstrap]``."""
        return f"{self.family}[{self.name}]"

    def create(self) -> Any:
        """A fresh instance ``cls(**params)`` (an error here fails the check that asked)."""
        try:
            return self.cls(**self.params)
        except Exception as exc:
            raise AssertionError(
                f"{self.label}: {self.cls.__name__}(**{dict(self.params)!r}) raised "
                f"{type(exc).__name__}: {exc}; expected the constructor to store its parameters"
            ) from exc

    def fail(self, message: str) -> AssertionError:
        """An ``AssertionError`` whose message names this component (raise it)."""
        return AssertionError(f"{self.label}: {message}")

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``; an exception becomes an ``AssertionError`` saying which call raised."""
        try:
            return fn()
        except (AssertionError, NotApplicable):
            raise
        except Exception as exc:
            raise self.fail(
                f"{what} raised {type(exc).__name__}: {exc}; expected it to succeed"
            ) from exc


@dataclass(frozen=True)
class Check:
    """One named conformance check of a family."""

    family: str
    name: str
    func: Callable[[ComponentUnderTest], None]

    @property
    def doc(self) -> str:
        """The first line of the check's docstring."""
        return (inspect.getdoc(self.func) or "").splitlines()[0] if self.func.__doc__ else ""

    def __call__(self, spec: ComponentUnderTest) -> None:
        """Run the check on ``spec`` (raises AssertionError or NotApplicable)."""
        self.func(spec)

    def __repr__(self) -> str:
        return f"<check {self.family}:{self.name}>"


def init_stores_params(spec: ComponentUnderTest) -> None:
    """``__init__`` stores each parameter as an attribute of the same name (estimator style)."""
    obj = spec.create()
    init: Any = getattr(spec.cls, "__init__")  # noqa: B009 - mypy: __init__ of a class object
    signature = inspect.signature(init)
    for name, param in list(signature.parameters.items())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if not hasattr(obj, name):
            raise spec.fail(
                f"__init__ takes {name!r} but the instance has no attribute {name!r}; expected "
                "__init__ to store every parameter under its own name (fitted state goes in fit)"
            )


def make_checks(family: str, funcs: Sequence[Callable[[ComponentUnderTest], None]]) -> tuple[Check, ...]:
    """``Check`` objects named after their functions."""
    return tuple(Check(family, f.__name__, f) for f in funcs)


def checks_for(family: str) -> tuple[Check, ...]:
    """Every check of ``family``, in the order they run."""
    if family not in FAMILIES:
        raise ValueError(f"unknown component family {family!r}; known: {sorted(FAMILIES)}")
    module = importlib.import_module(FAMILIES[family])
    checks: tuple[Check, ...] = module.CHECKS
    return checks


def as_spec(component: Any, params: Mapping[str, Any] | None = None) -> ComponentUnderTest:
    """A :class:`ComponentUnderTest` from a spec, a class, a ``(cls, params)`` pair or a ComponentInfo.

    ``ComponentInfo`` records come from ``PluginHost().components(family)``.
    """
    if isinstance(component, ComponentUnderTest):
        return component
    if isinstance(component, tuple) and len(component) == 2 and isinstance(component[0], type):
        return ComponentUnderTest(component[0], dict(component[1]))
    if isinstance(component, type):
        return ComponentUnderTest(component, dict(params or {}))
    if hasattr(component, "cls") and hasattr(component, "family") and hasattr(component, "name"):
        info: ComponentInfo = component
        return ComponentUnderTest(info.cls, dict(params or {}), info.family, info.name)
    raise TypeError(
        f"cannot check {component!r}: pass a ComponentUnderTest, a component class, "
        "a (class, params) pair or a ComponentInfo"
    )


def check_component(
    cls: type, family: str | None = None, params: Mapping[str, Any] | None = None, *, name: str = ""
) -> None:
    """Run every check of the component's family; one ``AssertionError`` lists every failure.

    Args:
        cls: the component class.
        family: its family (inferred from the base class when None).
        params: constructor parameters.
        name: the registered name, for messages.

    Raises:
        AssertionError: naming each failed check and what was wrong.
    """
    spec = ComponentUnderTest(cls, dict(params or {}), family or "", name)
    checks = checks_for(spec.family)
    failures: list[str] = []
    for check in checks:
        try:
            check(spec)
        except NotApplicable:
            continue
        except AssertionError as exc:
            failures.append(f"{check.name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failure to report
            failures.append(f"{check.name}: {spec.label}: the check raised {type(exc).__name__}: {exc}")
    if failures:
        lines = "\n".join(f"  - {f}" for f in failures)
        raise AssertionError(
            f"{spec.label} failed {len(failures)} of {len(checks)} conformance checks:\n{lines}"
        )


class _PytestCheck:
    """A check as a pytest parameter: ``NotApplicable`` becomes a skip."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.name = check.name

    def __call__(self, spec: ComponentUnderTest) -> None:
        import pytest

        try:
            self.check(spec)
        except NotApplicable as exc:
            pytest.skip(str(exc))

    def __repr__(self) -> str:
        return repr(self.check)


def parametrize_with_checks(
    components: Iterable[Any], params: Mapping[str, Mapping[str, Any]] | None = None
) -> Any:
    """A ``pytest.mark.parametrize("component, check", ...)`` over every (component, check).

    Args:
        components: component classes, ``(cls, params)`` pairs, :class:`ComponentUnderTest`
            objects or ``ComponentInfo`` records (``PluginHost().components(family)``).
        params: constructor parameters of the components given without any, keyed
            ``"family:name"`` (or just ``"name"``), e.g.
            ``{"forecaster:quantile_gbm": {"max_iter": 5}}``.

    Returns:
        The decorator; the test body is ``check(component)``.  Test ids read
        ``forecaster[bootstrap]-pmf_sums_to_one``; a check that does not apply is
        skipped with its reason.
    """
    import pytest

    table = params or {}
    cases = []
    for component in components:
        spec = as_spec(component)
        extra = table.get(f"{spec.family}:{spec.name}", table.get(spec.name))
        if extra is not None and not spec.params:
            spec = ComponentUnderTest(spec.cls, dict(extra), spec.family, spec.name)
        for check in checks_for(spec.family):
            cases.append(pytest.param(spec, _PytestCheck(check), id=f"{spec.id}-{check.name}"))
    return pytest.mark.parametrize("component, check", cases)


def check_forecaster(cls: type, **params: Any) -> None:
    """Run every forecaster check on ``cls(**params)`` (see :func:`check_component`)."""
    check_component(cls, "forecaster", params)


def check_lead_time_model(cls: type, **params: Any) -> None:
    """Run every lead-time check on ``cls(**params)`` (see :func:`check_component`)."""
    check_component(cls, "lead_time", params)


def check_cost_model(cls: type, **params: Any) -> None:
    """Run every cost-model check on ``cls(**params)`` (see :func:`check_component`)."""
    check_component(cls, "cost", params)


def check_solver(cls: type, **params: Any) -> None:
    """Run every solver check on ``cls(**params)`` (see :func:`check_component`)."""
    check_component(cls, "solver", params)


def check_executor(cls: type, **params: Any) -> None:
    """Run every executor check on ``cls(**params)`` (see :func:`check_component`)."""
    check_component(cls, "executor", params)
