"""The report's outcome section: the rollout's effect per wave and promised against realised fill.

Shown when ``echelon outcomes`` wrote ``OUT/outcomes/effects.parquet`` (and
``promise.parquet``, ``outcomes.json``) for the run (docs/rollout.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

__all__ = ["outcomes_view"]

_OUTCOME_NAMES = {"fill": ("fill [-]", "+.4f"), "inventory_value": ("on-hand value [currency]", "+,.0f")}


def _fmt(value: float, spec: str) -> str:
    return "n/a" if not math.isfinite(value) else format(value, spec)


def outcomes_view(out_dir: Path) -> dict[str, Any] | None:
    """Rows of the effects and promise tables as text cells, or None without an outcome ledger."""
    folder = Path(out_dir) / "outcomes"
    if not (folder / "effects.parquet").is_file():
        return None
    effects = pq.read_table(folder / "effects.parquet").to_pandas()
    meta = json.loads((folder / "outcomes.json").read_text()) if (folder / "outcomes.json").is_file() else {}
    rows = []
    for e in effects.itertuples():
        name, spec = _OUTCOME_NAMES.get(str(e.outcome), (str(e.outcome), "+.4g"))
        rows.append([str(e.wave), name, _fmt(float(e.estimate), spec),
                     f"[{_fmt(float(e.ci_low), spec)}, {_fmt(float(e.ci_high), spec)}]",
                     f"{e.treatment_units:,d} / {e.control_units:,d}",
                     f"{e.treatment_networks:,d} / {e.control_networks:,d}",
                     _fmt(100 * float(e.adoption_rate), ".1f") + " %", _fmt(100 * float(e.override_rate), ".1f") + " %",
                     _fmt(float(e.mean_override_units), "+,.1f")])
    promise = []
    if (folder / "promise.parquet").is_file():
        for p in pq.read_table(folder / "promise.parquet").to_pandas().itertuples():
            promise.append([str(p.demand_class), f"{p.units:,d}", _fmt(float(p.promised_fill), ".3f"),
                            _fmt(float(p.realised_fill), ".3f"), _fmt(float(p.shortfall), "+.3f"),
                            _fmt(float(p.se), ".3f")])
    return {"as_of": str(meta.get("as_of", "")), "effects": rows, "promise": promise}
