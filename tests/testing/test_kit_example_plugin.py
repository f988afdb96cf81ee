"""The example third-party plugin passes the kit, run as its author's CI would run it."""

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "third_party_plugin"


def test_example_plugin_passes_its_conformance_tests(tmp_path):
    # the author's checkout, and the plugin installed into a site directory of its own
    checkout = tmp_path / "checkout"
    shutil.copytree(EXAMPLE, checkout, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(checkout)],
        check=True,
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *sys.path])
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests"]
    registered = importlib.metadata.entry_points(group="pytest11", name="echelon")
    if not registered:  # an Echelon installed before the kit: load its plugin explicitly
        args[3:3] = ["-p", "platform_core.testing.pytest_plugin"]
    run = subprocess.run(args, cwd=checkout, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = run.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 15 and "failed" not in summary, summary
    assert "forecaster 'recent_poisson' does not declare handles_censoring" in run.stdout
