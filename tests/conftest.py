"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Ray: keep the local instance quiet in tests.
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# Every Ray instance the tests start (local ones and the two-node loopback cluster) runs
# without token authentication.  Ray caches the auth mode per process at the first
# ray.init(), so mixing modes inside one pytest process makes later instances fail
# ("Failed to start GCS ... InvalidAuthToken"); one mode for the whole session avoids it.
os.environ["RAY_AUTH_MODE"] = "disabled"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real public data sets); skips where a clone has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is absent (it ships with the team's workspace, not the repository)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def generated_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated dataset of 240 SKU-locations (seed 11), shared by the session."""
    from platform_core.data.generate import generate_dataset

    out = tmp_path_factory.mktemp("gen") / "data"
    generate_dataset(out, sku_locations=240, seed=11)
    return out
