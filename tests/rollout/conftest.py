"""A run to roll out: the recommendations of a real ``echelon run`` on a generated dataset.

``data/recommendations_gen1500_seed5.parquet`` holds the columns the rollout reads of the
recommendations ``echelon run`` wrote for ``echelon generate --sku-locations 1500 --seed 5``
(solver: 20 replications of 150 periods; it takes a minute, so the output is stored and
the input is regenerated here: the generator is bit-for-bit deterministic).  100 networks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def rollout_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory (recommendations.parquet, summary.json) whose input is regenerated."""
    from platform_core.data.generate import generate_dataset

    root = tmp_path_factory.mktemp("rollout")
    generate_dataset(root / "data", sku_locations=1500, seed=5)
    out = root / "run"
    out.mkdir()
    shutil.copy(DATA / "recommendations_gen1500_seed5.parquet", out / "recommendations.parquet")
    (out / "summary.json").write_text(json.dumps({"run_id": "gen1500seed5", "input_dir": str(root / "data")}))
    return out


@pytest.fixture(scope="session")
def rollout_units(rollout_run: Path):  # type: ignore[no-untyped-def]
    """The run's SKU-locations as the rollout reads them."""
    from platform_core.rollout.units import load_units

    return load_units(rollout_run)
