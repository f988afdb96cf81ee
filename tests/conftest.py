"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

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
