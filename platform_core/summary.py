"""The run's summary: aggregate metrics of the recommendations and ``summary.json``.

``summary.json`` is strict JSON (RFC 8259): a metric that is undefined for the run (the
demand-weighted service of a run without demand, NaN in Python) is written as ``null``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from platform_core.plan import BatchSpec, SharedInputs

__all__ = ["summarise", "customer_facing", "write_summary"]


def summarise(table: pa.Table, customer_facing: np.ndarray | None = None) -> dict[str, float]:
    """Aggregate metrics of a recommendations table.

    Service figures are demand-weighted over ``ok`` stages with demand (an internal
    stage weighs with its derived demand); money in currency, levels in units.  Where no
    ``ok`` stage has demand the demand-weighted service figures are undefined: NaN here,
    ``null`` in ``summary.json``.  With ``customer_facing`` (bool per row: the stage has
    external demand and no downstream stages) the same figures are also given over those
    stages only (``customer_fill_rate_demand_weighted``, ``customer_fill_rate_interval_low``
    / ``_high``, ...): the service the end
    customers see, which a multi-echelon plan targets while its internal stages run at
    whatever service is cheapest for the network.  Money: ``investment_at_level_currency``
    is the money tied up at the recommended levels (level x unit cost),
    ``expected_on_hand_value_currency`` the expected average on-hand value
    (``inventory_investment_currency`` is the same figure under its old name).
    """
    out = _summarise(table)
    if customer_facing is not None:
        cf = np.asarray(customer_facing, dtype=bool)
        if cf.size != table.num_rows:
            raise ValueError(f"customer_facing has {cf.size} entries for {table.num_rows} rows")
        sub = _summarise(table.filter(pa.array(cf)))
        out["customer_fill_rate_demand_weighted"] = sub["fill_rate_demand_weighted"]
        out["customer_cycle_service_demand_weighted"] = sub["cycle_service_demand_weighted"]
        out["customer_fill_rate_interval_low"] = sub["fill_rate_interval_low"]
        out["customer_fill_rate_interval_high"] = sub["fill_rate_interval_high"]
    return out


def customer_facing(shared: SharedInputs) -> np.ndarray:
    """Per input row: the stage has external demand and no downstream stage."""
    n = int(shared.sku.size)
    leaf = np.ones(n, dtype=bool)
    leaf[shared.edge_up] = False
    out = np.zeros(n, dtype=bool)
    out[shared.input_row] = shared.has_demand & leaf
    return out


def _summarise(table: pa.Table) -> dict[str, float]:
    ok = pc.equal(table.column("status"), "ok")
    n_ok = int(pc.sum(ok.cast(pa.int64())).as_py() or 0)
    okt = table.filter(ok)
    demand = np.nan_to_num(okt.column("mean_demand_per_period").to_numpy(zero_copy_only=False).astype(float))
    fill = np.nan_to_num(okt.column("expected_fill_rate").to_numpy(zero_copy_only=False).astype(float))
    csl_raw = okt.column("expected_cycle_service").to_numpy(zero_copy_only=False).astype(float)
    csl = np.nan_to_num(csl_raw)
    csl_w = np.where(np.isfinite(csl_raw), demand, 0.0)  # a row cut by a constraint has none measured

    def total(name: str) -> float:
        if name not in okt.column_names:  # a table from before the column existed
            return float("nan")
        return float(np.nansum(okt.column(name).to_numpy(zero_copy_only=False).astype(float)))

    w = demand.sum()
    interval = {}
    for name in ("fill_rate_interval_low", "fill_rate_interval_high"):
        # demand-weighted bound: as if every stage erred the same way (conservative)
        v = okt.column(name).to_numpy(zero_copy_only=False).astype(float) if name in okt.column_names else fill
        interval[name] = float((np.where(np.isfinite(v), v, fill) * demand).sum() / w) if w > 0 else float("nan")
    return {
        "sku_locations": float(table.num_rows),
        "sku_locations_ok": float(n_ok),
        "sku_locations_error": float(table.num_rows - n_ok),
        "fill_rate_demand_weighted": float((fill * demand).sum() / w) if w > 0 else float("nan"),
        "cycle_service_demand_weighted": float((csl * csl_w).sum() / csl_w.sum()) if csl_w.sum() > 0 else float("nan"),
        # the expected average on-hand value; inventory_investment_currency is its old name
        "inventory_investment_currency": total("inventory_investment"),
        "expected_on_hand_value_currency": total("inventory_investment"),
        "investment_at_level_currency": total("investment_at_level"),
        "safety_stock_units": total("safety_stock"),
        "holding_cost_per_period_currency": total("holding_cost_per_period"),
        "stockout_cost_per_period_currency": total("stockout_cost_per_period"),
        **interval,
    }


def _strict(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf) replaced by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def write_summary(
    path: Path,
    run_id: str,
    metrics: Mapping[str, float],
    components: Mapping[str, Mapping[str, str]],
    batches: list[BatchSpec],
    batch_seconds: Mapping[int, float],
    *,
    seed: int | None = None,
    input_fingerprint: str | None = None,
    input_files: Mapping[str, str] | None = None,
    executor: Mapping[str, Any] | None = None,
    input_dir: str | None = None,
    sections: Mapping[str, Any] | None = None,
) -> None:
    """Write ``summary.json`` atomically, as strict JSON (non-finite numbers as ``null``).

    It holds the run id, the run seed, the input directory (as given to the run), the input's fingerprint (SHA-256 of the lines
    ``table:sha256-of-file``, see :func:`platform_core.parts.input_fingerprint`) and each
    input file's SHA-256, the executor that ran the batches (and why, when ``auto``
    chose it), the metrics, the components and per batch its stages, estimated work
    [simulated stage-periods] and compute time [s] (None for batches finished before a
    resume), and any further ``sections`` (e.g. ``compared_with_today``, ``exceptions``).
    """
    per_batch: list[dict[str, Any]] = [
        {"batch_id": b.batch_id, "stages": b.stop - b.start, "work_estimate": b.work,
         "compute_seconds": batch_seconds.get(b.batch_id)}
        for b in batches
    ]
    doc = {
        "run_id": run_id,
        "seed": seed,
        "input_dir": input_dir,
        "input_fingerprint": input_fingerprint,
        "input_files": dict(input_files or {}),
        "executor": dict(executor or {}),
        "metrics": dict(metrics),
        "components": dict(components),
        "batches": per_batch,
        **dict(sections or {}),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_strict(doc), indent=2, allow_nan=False, default=str))
    os.replace(tmp, path)
