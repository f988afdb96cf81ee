"""Fixtures for the core tests."""

import subprocess
import sys
import time
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


# ``echelon`` in a child process, with the fault-injection forecasters of
# ``echelon_ray.faults`` (``slow``, ``crash_once``) registered as if installed, so a test
# can interrupt or race a real command-line run.
_CLI_WITH_FAULTS = """
import signal
import sys
# Ctrl-C as in a terminal: a process that inherits SIGINT ignored (a test worker in which an
# earlier test left it ignored, e.g. by starting Ray) keeps ignoring it across exec
signal.signal(signal.SIGINT, signal.default_int_handler)
import echelon_ray.faults
from platform_core import plugin_host
_init = plugin_host.PluginHost.__init__
def _with_faults(self, plugins=(), autoload=None):
    _init(self, plugins=[echelon_ray.faults, *plugins], autoload=autoload)
plugin_host.PluginHost.__init__ = _with_faults
from platform_core.cli import main
sys.exit(main(sys.argv[1:]))
"""

# in process, 20 SKU-locations per batch, 0.4 s per batch: a run of the 240 generated
# SKU-locations takes about 5 s, long enough to interrupt or race
_SLOW_TOML = """
[run]
executor = "in_process"
batch_stages = 20
[components]
forecaster = "slow"
[forecaster]
delay_s = 0.4
[solver]
replications = 20
periods = 150
"""

_FAST_TOML = """
[run]
executor = "in_process"
[solver]
replications = 20
periods = 150
"""


class ChildCli:
    """``echelon`` command lines for child processes, and the configurations they use.

    Attributes:
        slow_toml: in process, about 10 batches of 0.4 s on the generated dataset.
        fast_toml: in process, same solver settings, the plain ``bootstrap`` forecaster.
    """

    def __init__(self, root: Path) -> None:
        self.slow_toml = root / "slow.toml"
        self.slow_toml.write_text(_SLOW_TOML)
        self.fast_toml = root / "fast.toml"
        self.fast_toml.write_text(_FAST_TOML)

    @staticmethod
    def command(*argv: str) -> list[str]:
        """The argument list of ``echelon ARGV...`` in a child process (``slow`` registered)."""
        return [sys.executable, "-c", _CLI_WITH_FAULTS, *argv]

    @staticmethod
    def wait_for_parts(out: Path, count: int, proc: subprocess.Popen[str], timeout: float = 120.0) -> None:
        """Wait until ``out/_parts`` holds ``count`` part files; fails if ``proc`` ends first."""
        deadline = time.time() + timeout
        while len(list((out / "_parts").glob("part-*.parquet"))) < count:
            if proc.poll() is not None:
                raise AssertionError(f"the run ended (exit {proc.returncode}) before {count} batches finished")
            if time.time() > deadline:
                raise AssertionError(f"fewer than {count} finished batches in {out / '_parts'} after {timeout} s")
            time.sleep(0.05)


@pytest.fixture
def child_cli(tmp_path: Path) -> ChildCli:
    """Command lines and configurations for ``echelon`` in child processes."""
    return ChildCli(tmp_path)
