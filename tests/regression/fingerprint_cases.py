"""Regression fingerprints: the numbers of fixed cases, stored from a known version.

Each case runs a public entry point (the ``echelon`` CLI in process, or the engine's
``simulate`` / ``optimise_base_stock``) with a fixed seed and returns an Arrow table.
``python -m tests.regression.fingerprint_cases DIR`` writes every case's table to
``DIR/NAME.parquet`` and their SHA-256 digests to ``DIR/fingerprints.json``; the tests in
``test_fingerprints.py`` recompute the tables and compare them with the stored ones.

The reference in ``reference/pre23`` was computed from the code before the platform-shape
issue (#23) reshaped it (commit 8504cd3); recomputing it from that commit gives the same
files.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["CASES", "digest", "run_case", "write_all"]

_DATA_CACHE: dict[tuple[int, int], Path] = {}


def _dataset(root: Path, sku_locations: int, seed: int) -> Path:
    from platform_core.data.generate import generate_dataset

    key = (sku_locations, seed)
    if key not in _DATA_CACHE or not _DATA_CACHE[key].exists():
        out = root / f"data_{sku_locations}_{seed}"
        generate_dataset(out, sku_locations=sku_locations, seed=seed, overwrite=True)
        _DATA_CACHE[key] = out
    return _DATA_CACHE[key]


def _cli_run(root: Path, name: str, sku_locations: int, seed: int, toml: str) -> pa.Table:
    """``echelon run`` in process (executor in_process, tracking off) on a generated dataset."""
    from platform_core.cli import main

    data = _dataset(root, sku_locations, seed)
    cfg = root / f"{name}.toml"
    cfg.write_text(toml)
    out = root / f"out_{name}"
    code = main(["run", str(data), "--out", str(out), "--config", str(cfg), "--executor", "in_process",
                 "--tracking-uri", "none"])
    if code != 0:
        raise RuntimeError(f"echelon run exited {code} for case {name}")
    table = pq.read_table(out / "recommendations.parquet")
    # columns added to the schema after the references were stored (the guaranteed-service
    # model's, null for every other solver): left out while they are all null, so the
    # stored digests still fingerprint the numbers they were made from
    for added in _ADDED_AFTER_REFERENCE:
        if added in table.column_names and table[added].null_count == table.num_rows:
            table = table.drop_columns([added])
    return table


_ADDED_AFTER_REFERENCE = ("committed_service_time_periods", "net_replenishment_time_periods",
                          "gsm_safety_stock_cost_per_period",
                          # planner's overrides (null without an overrides table)
                          "override", "override_level_change", "override_cost_per_period",
                          "override_investment_change", "override_service_change",
                          # (r, Q)'s Q (lot_sizing only)
                          "order_quantity")


def _run_case(components: str = "", solver: str = "", forecaster: str = "", sku_locations: int = 300,
              seed: int = 3, run_seed: int = 42) -> Callable[[Path, str], pa.Table]:
    toml = f"[run]\nseed = {run_seed}\n"
    if components:
        toml += f"[components]\n{components}\n"
    if forecaster:
        toml += f"[forecaster]\n{forecaster}\n"
    if solver:
        toml += f"[solver]\n{solver}\n"
    return lambda root, name: _cli_run(root, name, sku_locations, seed, toml)


def _engine(root: Path, name: str) -> pa.Table:
    """``simulate`` on a serial-3 line, a 1 + 6 distribution tree and an assembly, several policies."""
    from platform_core.distributions import DiscreteDistribution
    from platform_core.simulation import Network, Policy, simulate

    poisson = DiscreteDistribution.poisson(4.0)
    serial = Network.serial(3, name="serial")
    tree = Network.distribution(6, name="tree")
    assembly = Network.assembly([1.0, 2.0], name="assembly")
    nets = [serial, tree, assembly, serial]
    pols = [
        Policy.base_stock([12, 10, 14]),
        Policy.base_stock([20, 8, 8, 8, 8, 8, 8]),
        Policy.base_stock([30, 15, 12]),
        Policy.s_S([6, 5, 8], [20, 15, 18]),
    ]
    lts = [DiscreteDistribution([0.2, 0.5, 0.3], 1), 2, 1, 1]
    res = simulate(nets, pols, poisson, lead_times=lts, seeds=7, replications=6, periods=400, warmup=50)
    table = res.to_arrow()
    return table.replace_schema_metadata(None).append_column(
        "network_cost", pa.array(np.repeat(res.network_cost, np.diff(res.network_ptr)), pa.float64()))


def _single_stage(root: Path, name: str) -> pa.Table:
    """``optimise_base_stock`` on fill, cycle and cost targets with random lead times."""
    from platform_core.distributions import DiscreteDistribution
    from platform_core.simulation.single_stage import (
        TARGET_COST,
        TARGET_CYCLE,
        TARGET_FILL,
        optimise_base_stock,
    )

    dem = [DiscreteDistribution.poisson(m) for m in (0.4, 2.0, 7.5, 15.0, 3.0, 0.9)]
    lts = [DiscreteDistribution([0.3, 0.4, 0.3], 1), DiscreteDistribution.point(2),
           DiscreteDistribution([0.5, 0.5], 3), DiscreteDistribution.point(1),
           DiscreteDistribution([0.1, 0.2, 0.7], 0), DiscreteDistribution.point(4)]
    mode = np.array([TARGET_FILL, TARGET_CYCLE, TARGET_COST, TARGET_FILL, TARGET_COST, TARGET_CYCLE])
    res = optimise_base_stock(
        dem, lts, np.arange(1, 7, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15), mode=mode,
        target=np.array([0.95, 0.9, 0.0, 0.99, 0.0, 0.8]), holding_cost=np.full(6, 1.0),
        stockout_cost=np.full(6, 9.0), review_period=np.array([1, 1, 2, 1, 1, 3]),
        replications=40, periods=300, warmup=30,
    )
    return pa.table({k: np.asarray(v, dtype=np.float64) for k, v in vars(res).items()
                     if isinstance(v, np.ndarray)})


_SE = 'solver = "single_echelon"'
#: the forecaster that was the default when the references were written (the default is
#: now `calibrated`, #15)
_BOOT = 'forecaster = "bootstrap"\n'

CASES: dict[str, Callable[[Path, str], pa.Table]] = {
    # the demo: `make demo`'s dataset and configuration, in process, with the solver that was
    # the default when the references were written (single_echelon; the default is now
    # multi_echelon, #14)
    "demo": _run_case(_BOOT + _SE, sku_locations=2000, seed=7),
    "cost_mode": _run_case(_BOOT + _SE, solver='target_mode = "cost"\nreplications = 40\nperiods = 200'),
    "stochastic_service": _run_case(_BOOT + 'solver = "stochastic_service"', "replications = 4\nperiods = 200",
                                    sku_locations=200),
    "network_frontier": _run_case(_BOOT + 'solver = "network_frontier"', "replications = 4\nperiods = 200",
                                  sku_locations=200),
    "blanket_abc": _run_case(_BOOT + 'solver = "blanket_abc"'),
    "service_frontier": _run_case(_BOOT + 'solver = "service_frontier"'),
    "clark_scarf": _run_case(_BOOT + 'solver = "clark_scarf"', "replications = 10\nperiods = 300", sku_locations=200),
    # auto's class map (the reference predates #15, which made the per-series backtest the default)
    "forecaster_auto": _run_case(f'forecaster = "auto"\n{_SE}', "replications = 20\nperiods = 200",
                                 forecaster='select = "class"'),
    "forecaster_censored_negbin": _run_case(f'forecaster = "censored_negbin"\nlead_time_model = "gamma"\n{_SE}',
                                            "replications = 20\nperiods = 200"),
    "forecaster_willemain": _run_case(f'forecaster = "willemain"\ncost_model = "margin_risk"\n{_SE}',
                                      'replications = 20\nperiods = 200\ntarget_mode = "cost"'),
    "engine": _engine,
    "single_stage": _single_stage,
}
"""Case name -> function(workdir, name) -> table of the case's numbers."""


def digest(table: pa.Table) -> str:
    """SHA-256 of a table's column names, types, null positions and values (bit for bit)."""
    import pyarrow.compute as pc

    h = hashlib.sha256()
    for name, col in zip(table.column_names, table.columns, strict=True):
        h.update(name.encode())
        h.update(str(col.type).encode())
        h.update(np.packbits(col.is_null().to_numpy(zero_copy_only=False)).tobytes())
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            h.update("\x1f".join(pc.fill_null(col, "").to_pylist()).encode())
        else:
            h.update(np.ascontiguousarray(pc.fill_null(col, 0).to_numpy(zero_copy_only=False)).tobytes())
    return h.hexdigest()


def run_case(name: str, workdir: Path) -> pa.Table:
    """The table of case ``name``, computed in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    return CASES[name](workdir, name)


def write_all(out: Path, workdir: Path, names: list[str] | None = None) -> dict[str, str]:
    """Compute cases and store each as ``out/NAME.parquet`` with its digest."""
    out.mkdir(parents=True, exist_ok=True)
    index = out / "fingerprints.json"
    digests = json.loads(index.read_text()) if index.exists() else {}
    for name in names or list(CASES):
        table = run_case(name, workdir)
        pq.write_table(table, out / f"{name}.parquet", compression="zstd")
        digests[name] = digest(table)
        print(f"{name}: {table.num_rows} rows, {digests[name][:16]}", flush=True)
        index.write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")
    return digests


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        write_all(target, Path(tmp), sys.argv[2:] or None)
