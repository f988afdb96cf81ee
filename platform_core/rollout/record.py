"""``echelon outcomes``: read new periods, write the ledger, the effects and the promise table.

Writes ``RUN/outcomes/ledger.parquet`` (:mod:`~platform_core.rollout.ledger`),
``effects.parquet`` (:mod:`~platform_core.rollout.effects`), ``promise.parquet``
(:mod:`~platform_core.rollout.promise`) and ``outcomes.json`` (as of, source, counts).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from platform_core.data.loaders import write_table
from platform_core.rollout.effects import effects_table, wave_effects
from platform_core.rollout.ledger import build_ledger
from platform_core.rollout.outcome_data import load_outcome_periods
from platform_core.rollout.plan import read_plan
from platform_core.rollout.promise import promise_by_class
from platform_core.rollout.units import load_units

__all__ = ["OutcomeRecord", "record_outcomes", "OUTCOMES_DIR"]

#: Sub-directory of the run directory holding the outcome ledger.
OUTCOMES_DIR = "outcomes"


@dataclass
class OutcomeRecord:
    """What :func:`record_outcomes` computed and wrote.

    Attributes:
        run_id: the run's id.
        forecaster: the forecaster that made the promises.
        as_of: last outcome period (ISO).
        ledger: the outcome ledger.
        effects: per wave and outcome, the effect with its 95 % interval.
        promise: promised against realised fill per demand class.
        ledger_path: where the ledger was written.
        files: every file written.
    """

    run_id: str
    forecaster: str
    as_of: str
    ledger: pd.DataFrame
    effects: pd.DataFrame
    promise: pd.DataFrame
    ledger_path: Path
    files: list[Path] = field(default_factory=list)


def record_outcomes(outcome_dir: str | os.PathLike[str], run_dir: str | os.PathLike[str], *,
                    data_dir: str | os.PathLike[str] | None = None, period_days: float = 7.0) -> OutcomeRecord:
    """Validate the outcome periods, build the ledger and the effects, write ``RUN/outcomes/``.

    Raises:
        platform_core.data.errors.DataValidationError: the outcome periods break their contract.
        FileNotFoundError: the run has no rollout plan.
    """
    units = load_units(run_dir, data_dir, period_days)
    plan = read_plan(run_dir)
    known = set(zip(plan.table["sku"].astype(str), plan.table["location"].astype(str), strict=True))
    outcomes = load_outcome_periods(outcome_dir, known)
    ledger = build_ledger(units, plan, outcomes)
    effects = effects_table(wave_effects(ledger))
    promise = promise_by_class(ledger)
    folder = Path(run_dir) / OUTCOMES_DIR
    files = [folder / "ledger.parquet", folder / "effects.parquet", folder / "promise.parquet"]
    for frame, path in zip((ledger, effects, promise), files, strict=True):
        write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    as_of = ledger["period"].max().date().isoformat() if len(ledger) else ""
    meta = {"as_of": as_of, "source": os.fspath(outcome_dir), "run_id": units.run_id,
            "forecaster": units.forecaster, "rows": len(ledger), "plan": plan.settings}
    (folder / "outcomes.json").write_text(json.dumps(meta, indent=2, default=str))
    files.append(folder / "outcomes.json")
    return OutcomeRecord(units.run_id, units.forecaster, as_of, ledger, effects, promise, files[0], files)
