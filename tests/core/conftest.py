"""Fixtures for the core tests."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def example_plugin_on_path(tmp_path, monkeypatch):
    """The third-party example plugin, pip-installed into a temporary site directory
    that is put on ``sys.path`` (entry points are found there like in site-packages)."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO / "docs" / "examples" / "third_party_plugin")],
        check=True,
    )
    monkeypatch.syspath_prepend(str(target))
    return target
