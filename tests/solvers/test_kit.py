"""The solvers' shared kit: one home for shared pieces, no solver imported by the kit, one registry."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import echelon_solvers.kit as kit
import pytest

KIT = Path(kit.__file__).parent
SOLVER_MODULES = ("baseline", "clark_scarf", "frontier", "network_frontier",
                  "single_echelon", "stochastic_service", "multi_echelon", "perishable")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("path", sorted(KIT.glob("*.py")), ids=lambda p: p.name)
def test_kit_module_imports_no_solver_and_declares_all(path: Path) -> None:
    solver_imports = {m for m in _imports(path) if m.startswith("echelon_solvers.")
                      and not m.startswith("echelon_solvers.kit")}
    assert not solver_imports, f"{path.name} imports solver modules {sorted(solver_imports)}"
    module = importlib.import_module(f"echelon_solvers.kit.{path.stem}" if path.stem != "__init__"
                                     else "echelon_solvers.kit")
    assert module.__doc__ and module.__all__
    for name in module.__all__:
        assert name == "METRICS" or getattr(module, name).__module__.startswith("echelon_solvers.kit")


def test_kit_exports_every_public_piece_of_its_modules() -> None:
    for path in KIT.glob("*.py"):
        if path.stem == "__init__":
            continue
        module = importlib.import_module(f"echelon_solvers.kit.{path.stem}")
        assert set(module.__all__) <= set(kit.__all__), path.name


@pytest.mark.parametrize("name", SOLVER_MODULES)
def test_solvers_take_shared_pieces_from_the_kit(name: str) -> None:
    """A solver module defines no kit name itself: what it shares is the kit's object."""
    module = importlib.import_module(f"echelon_solvers.{name}")
    for piece in kit.__all__:
        if hasattr(module, piece):
            assert getattr(module, piece) is getattr(kit, piece), f"{name}.{piece} is not the kit's"
    imported = _imports(Path(module.__file__))
    assert not {m for m in imported if m in {f"echelon_solvers.{s}" for s in SOLVER_MODULES}}, (
        f"{name} imports another solver module")


def test_one_registry_every_builtin_solver() -> None:
    from echelon_solvers.baseline import BlanketABCSolver
    from echelon_solvers.clark_scarf import ClarkScarfSolver
    from echelon_solvers.frontier import FrontierSolver
    from echelon_solvers.multi_echelon import MultiEchelonSolver
    from echelon_solvers.network_frontier import NetworkFrontierSolver
    from echelon_solvers.perishable import PerishableSolver
    from echelon_solvers.single_echelon import SingleEchelonSolver
    from echelon_solvers.stochastic_service import StochasticServiceSolver

    from platform_core.plugin_host import PluginHost

    host = PluginHost()
    expected = {
        "single_echelon": SingleEchelonSolver, "clark_scarf": ClarkScarfSolver,
        "stochastic_service": StochasticServiceSolver, "service_frontier": FrontierSolver,
        "network_frontier": NetworkFrontierSolver, "blanket_abc": BlanketABCSolver,
        "multi_echelon": MultiEchelonSolver, "perishable": PerishableSolver,
    }
    for name, cls in expected.items():
        assert host.solver(name) is cls
        assert host.info("solver", name).plugin == "solvers"
