"""The conformance kit's pytest plugin (registered by the ``pytest11`` entry point).

pytest loads it in every session of an environment where Echelon is installed, so it
imports nothing heavy: the plugin host (and NumPy, Arrow, pluggy) load inside the
fixture.  It provides:

* ``echelon_plugin_host`` (session scope): a :class:`~platform_core.plugin_host.PluginHost`
  with every installed plugin, the built-ins and yours, e.g. to assert that your plugin
  registers its components under the names you document.

The checks themselves are plain functions; use
:func:`platform_core.testing.parametrize_with_checks` to turn them into tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from platform_core.plugin_host import PluginHost

__all__ = ["echelon_plugin_host"]


@pytest.fixture(scope="session")
def echelon_plugin_host() -> PluginHost:
    """A plugin host with every installed plugin (entry points of the ``echelon`` group)."""
    from platform_core.plugin_host import PluginHost

    return PluginHost()
