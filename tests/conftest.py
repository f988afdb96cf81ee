"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SHIPPED_DATA = REPO_ROOT / "tests" / "reference_data"
# data sets of ../shared/data that the repository does not ship, and why (a test that
# needs one skips with this reason where ../shared/data is absent)
NOT_SHIPPED = {
    "demand/carparts_2674_monthly.csv": (
        "Hyndman's carparts data is GPL-3 (R package expsmooth), so this Apache-2.0 "
        "project does not ship it; the test runs where ../shared/data has it"
    ),
}

# Ray: keep the local instance quiet in tests.
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# Every Ray instance the tests start (local ones and the two-node loopback cluster) runs
# without token authentication.  Ray caches the auth mode per process at the first
# ray.init(), so mixing modes inside one pytest process makes later instances fail
# ("Failed to start GCS ... InvalidAuthToken"); one mode for the whole session avoids it.
os.environ["RAY_AUTH_MODE"] = "disabled"

# `make test` runs the suite on every core (pytest-xdist, --dist loadgroup): the tests that
# start Ray instances run one after another on one worker, as in a serial run.
_RAY_TESTS = ("tests/cluster/", "tests/core/test_pipeline.py", "tests/testing/test_kit_ray.py")


def _compile_each_numba_signature_once() -> None:
    """Across xdist workers, compile each cached Numba signature once.

    The kernels are ``cache=True``: a signature one worker compiled is loaded from disk by the
    other. On a fresh clone the cache is empty and both workers start with runs, so both
    compiled the same signatures at the same time (tens of CPU-seconds each). A file lock per
    (function, signature) makes the second worker wait for the first, then load its result
    from the cache (Numba checks the disk cache before it compiles). Different signatures still
    compile in parallel; the compiled code and every number are unchanged.
    """
    import fcntl
    import hashlib
    import tempfile

    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    compile_ = Dispatcher.compile
    locks = Path(tempfile.gettempdir()) / "echelon-test-numba-locks"
    locks.mkdir(exist_ok=True)

    def compile_once(self: Dispatcher, sig: object) -> object:
        cache = getattr(self, "_cache", None)
        if cache is None or isinstance(cache, NullCache):
            return compile_(self, sig)
        key = f"{cache.cache_path}|{self.py_func.__module__}.{self.py_func.__qualname__}|{sig}"
        with open(locks / hashlib.sha256(key.encode()).hexdigest()[:32], "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            return compile_(self, sig)

    Dispatcher.compile = compile_once  # type: ignore[method-assign]


if os.environ.get("PYTEST_XDIST_WORKER"):
    _compile_each_numba_signature_once()

# a module with more tests than this is spread over the workers test by test: its tests
# outweigh one more set-up of its fixtures (the conformance kit's 600 checks share a small model)
_MAX_GROUP_TESTS = 100


def _work_unit(nodeid: str, tests_per_module: Counter[str]) -> str:
    """The unit of work of ``nodeid`` for xdist: the Ray tests together, else its module
    (module-scoped fixtures, often whole runs, are set up once, not on every worker), else
    the test alone (in modules of more than ``_MAX_GROUP_TESTS`` tests)."""
    module = nodeid.split("::", 1)[0]
    if module.startswith(_RAY_TESTS):
        return "ray"
    return module if tests_per_module[module] <= _MAX_GROUP_TESTS else nodeid


@pytest.hookimpl(optionalhook=True)  # an xdist hook: no error where xdist is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with the units of :func:`_work_unit`.

    xdist groups by an ``@group`` suffix that it appends to the node ids of marked tests; from
    pytest 9.2 on, a node id is no longer read from the attribute xdist writes
    (``Node._nodeid``), so the suffix never appears and every test was scheduled alone (the Ray
    tests ran on both workers at once, each worker set up the module fixtures again). The
    controller sees only node ids, so the units are found from those.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleScheduling(LoadGroupScheduling):
        _per_module: Counter[str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._per_module is None:
                ids = next(iter(self.registered_collections.values()))
                self._per_module = Counter(i.split("::", 1)[0] for i in ids)
            return _work_unit(nodeid, self._per_module)

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(REPO_ROOT).as_posix()
        if rel.startswith(_RAY_TESTS):
            item.add_marker(pytest.mark.xdist_group("ray"))


class ReferenceData:
    """Public reference data sets, looked up file by file in ``roots`` (first match wins).

    The team's ``../shared/data`` comes first; a clone without it uses the copies shipped
    in ``tests/reference_data`` (README there: sources, licences, citations).
    """

    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = roots

    def path(self, relative: str) -> Path:
        """The file ``relative`` (e.g. ``"willems2008/chain_01.json"``); skips when absent."""
        for root in self.roots:
            candidate = root / relative
            if candidate.exists():
                return candidate
        reason = NOT_SHIPPED.get(relative, "it is neither shipped in tests/reference_data nor in ../shared/data")
        pytest.skip(f"reference data {relative} not available: {reason}")


@pytest.fixture(scope="session")
def shared_data() -> ReferenceData:
    """Real public data sets: ``../shared/data``, else the copy shipped in the repository."""
    return ReferenceData((SHARED_DATA, SHIPPED_DATA))


@pytest.fixture(scope="session")
def generated_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated dataset of 240 SKU-locations (seed 11), shared by the session."""
    from platform_core.data.generate import generate_dataset

    out = tmp_path_factory.mktemp("gen") / "data"
    generate_dataset(out, sku_locations=240, seed=11)
    return out
