"""Echelon's conformance kit: checks that a plugin's components honour the contracts.

In the manner of scikit-learn's ``check_estimator``: per-family checks a plugin author
runs in their own CI, on small synthetic inputs the kit builds itself.

* :func:`check_component` (and ``check_forecaster``, ``check_lead_time_model``,
  ``check_cost_model``, ``check_solver``, ``check_executor``) runs every check of a
  family and raises one ``AssertionError`` listing every failure;
* :func:`parametrize_with_checks` makes one pytest test per (component, check), with ids
  such as ``forecaster[recent_poisson]-pmf_sums_to_one``;
* the pytest plugin :mod:`platform_core.testing.pytest_plugin` (entry point
  ``pytest11``) provides the ``echelon_plugin_host`` fixture.

Importing this package loads nothing heavy; the checks of a family (and NumPy, Arrow)
are imported when first used.  See ``docs/plugins.md``, "Check your plugin".
"""

from platform_core.testing._core import (
    FAMILIES,
    Check,
    ComponentUnderTest,
    NotApplicable,
    check_component,
    check_cost_model,
    check_executor,
    check_forecaster,
    check_lead_time_model,
    check_solver,
    checks_for,
    parametrize_with_checks,
)

__all__ = [
    "FAMILIES",
    "Check",
    "ComponentUnderTest",
    "NotApplicable",
    "check_component",
    "check_cost_model",
    "check_executor",
    "check_forecaster",
    "check_lead_time_model",
    "check_solver",
    "checks_for",
    "parametrize_with_checks",
]
