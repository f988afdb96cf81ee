"""Layering: plugins import the core, never each other; the core imports no plugin.

Every ``.py`` file under ``platform_core/``, ``plugins/*/`` and ``cluster/*/`` is parsed
with :mod:`ast`, so imports inside functions, classes and ``if TYPE_CHECKING:`` blocks
count as much as top-level ones (a regex over lines would miss or mis-read some).
``importlib.import_module("...")`` and ``__import__("...")`` with a literal name count
too.  The plugin packages are discovered from the folders, so a new plugin is checked
without editing this file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = "platform_core"
PLUGIN_FOLDERS = ("plugins", "cluster")


def plugin_packages() -> dict[str, Path]:
    """Import name -> folder of every plugin package (a folder with ``__init__.py``)."""
    found: dict[str, Path] = {}
    for folder in PLUGIN_FOLDERS:
        for pkg in sorted((REPO / folder).iterdir()):
            if (pkg / "__init__.py").is_file():
                found[pkg.name] = pkg
    return found


def _imported_names(node: ast.AST) -> list[str]:
    """Absolute module names an AST node imports (empty for anything else)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module] if node.level == 0 and node.module else []  # relative: own package
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        arg = node.args[0]
        if name in ("import_module", "__import__") and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return [arg.value]
    return []


def foreign_imports(source: str, own: str | None, plugins: set[str], filename: str = "<source>") -> list[str]:
    """``"file:line: import"`` for every import of a plugin package other than ``own``.

    Args:
        source: Python source text.
        own: the plugin package the source belongs to (None for the core: every plugin
            import is foreign).
        plugins: import names of all plugin packages.
        filename: shown in the messages.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        for name in _imported_names(node):
            top = name.split(".", 1)[0]
            if top in plugins and top != own:
                found.append((node.lineno, ast.unparse(node)))
    return [f"{filename}:{line}: {text}" for line, text in sorted(found)]


def _scan(root: Path, own: str | None, plugins: set[str]) -> list[str]:
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        out += foreign_imports(path.read_text(encoding="utf-8"), own, plugins, rel)
    return out


def test_plugin_packages_are_discovered():
    names = set(plugin_packages())
    assert {"echelon_demand", "echelon_leadtime", "echelon_cost", "echelon_solvers",
            "echelon_mlflow", "echelon_ray"} <= names
    assert CORE not in names


@pytest.mark.parametrize("package", sorted(plugin_packages()))
def test_plugin_imports_no_other_plugin(package):
    plugins = plugin_packages()
    bad = _scan(plugins[package], package, set(plugins))
    assert not bad, (f"{package} imports another plugin (plugins import the core, never each "
                     "other; move shared code into platform_core):\n" + "\n".join(bad))


def test_core_imports_no_plugin():
    plugins = set(plugin_packages())
    bad = _scan(REPO / CORE, None, plugins)
    assert not bad, ("platform_core imports a plugin (dependencies point from plugins to the "
                     "core, never back):\n" + "\n".join(bad))


PLUGINS = {"echelon_demand", "echelon_mlflow", "echelon_ray"}

CROSS = {
    "top_level": "import echelon_demand\n",
    "dotted_as": "import numpy as np, echelon_demand.models.metrics as m\n",
    "from": "from echelon_demand.models.base import BatchForecaster\n",
    "in_function": "def f():\n    x = 1\n    from echelon_demand.classify import classify\n    return x\n",
    "in_method": "class A:\n    def m(self):\n        import echelon_demand.backtest\n",
    "type_checking": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from echelon_demand import models\n",
    "try_block": "try:\n    import echelon_ray\nexcept ImportError:\n    pass\n",
    "import_module": "import importlib\nmod = importlib.import_module('echelon_demand.models')\n",
    "dunder_import": "m = __import__('echelon_demand')\n",
}

ALLOWED = {
    "own_package": "from echelon_mlflow.scoring import crps\nimport echelon_mlflow\n",
    "core": "from platform_core.forecasting.scores import crps\nimport platform_core.components\n",
    "relative": "from . import scoring\nfrom .models import x\n",
    "prefix_only": "import echelon_demand_extra\nfrom echelon_rayx import y\n",
    "in_a_string": "'''from echelon_demand import x'''\ns = 'import echelon_ray'\n",
}


@pytest.mark.parametrize("source", CROSS.values(), ids=CROSS.keys())
def test_a_cross_import_is_caught(source):
    assert foreign_imports(source, "echelon_mlflow", PLUGINS)
    assert foreign_imports(source, None, PLUGINS)  # and in the core


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_allowed_imports_pass(source):
    assert foreign_imports(source, "echelon_mlflow", PLUGINS) == []


def test_message_names_file_line_and_import():
    source = "import numpy as np\n\n\ndef f():\n    from echelon_demand.models.metrics import crps\n"
    got = foreign_imports(source, "echelon_leadtime", PLUGINS, "plugins/echelon_leadtime/models/feature.py")
    assert got == ["plugins/echelon_leadtime/models/feature.py:5: from echelon_demand.models.metrics import crps"]
    # the core may import none of them, its own name is no plugin
    assert foreign_imports("import echelon_mlflow\n", None, PLUGINS, "platform_core/x.py") == [
        "platform_core/x.py:1: import echelon_mlflow"]
