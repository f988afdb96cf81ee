"""Fixtures of the conformance-kit tests.

The kit's pytest plugin is registered by the ``pytest11`` entry point once Echelon is
(re)installed; importing its fixture here makes the tests independent of that.
"""

from platform_core.testing.pytest_plugin import echelon_plugin_host  # noqa: F401 - fixture
