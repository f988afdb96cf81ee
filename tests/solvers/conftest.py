"""Shared fixtures of the solver tests."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def benchmark_module() -> Iterator[Callable[[str], ModuleType]]:
    """``benchmark_module(name)`` imports ``benchmarks/NAME.py`` (the folder is on the path only meanwhile)."""
    path = str(BENCHMARKS)
    added = path not in sys.path
    if added:
        sys.path.insert(0, path)
    try:
        yield importlib.import_module
    finally:
        if added and path in sys.path:
            sys.path.remove(path)
