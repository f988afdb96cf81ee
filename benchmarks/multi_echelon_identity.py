"""Bit-identity check for refactors of ``multi_echelon`` and the engine around it (#14).

    python benchmarks/multi_echelon_identity.py save DIR   # with the code before the change
    python benchmarks/multi_echelon_identity.py check DIR  # with the code after it

Generates a few datasets (different sizes and seeds), plans them as ``echelon run`` does
and runs, on every batch, ``multi_echelon.solve`` in several configurations (the default;
``objective="cost"``; ``correlation="none"``; random planner overrides: pins and
corridors on about 10 % of the stages) and ``evaluate_policies`` on the solver's own
levels shifted by -1 (base-stock) and as ``(s, S)`` with ``s = S - 2``. ``save`` writes
every table as Arrow IPC into DIR; ``check`` recomputes them and compares every column
bit for bit (floats by their bytes: NaNs and signed zeros included), then prints one
line per table and exits non-zero on the first difference. A pure speed-up must pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: (SKU-locations, seed) of the generated datasets
DATASETS = ((2000, 7), (1200, 11), (800, 23))
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "cost": {"objective": "cost"},
    "independent": {"correlation": "none"},
    "overrides": {},
}


def _with_overrides(problem: Any, seed: int) -> Any:
    """``problem`` with pins and corridors on about 10 % of its stages (reproducible)."""
    rng = np.random.default_rng(seed)
    n = len(problem.keys)
    mean = np.array([d.mean() for d in problem.period_demand]) * (1.0 + np.array(
        [lt.mean() for lt in problem.lead_time]))
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    pick = rng.random(n)
    pin = pick < 0.04
    corridor = (pick >= 0.04) & (pick < 0.10)
    lo[pin] = hi[pin] = np.round(mean[pin] * rng.uniform(0.5, 1.5, pin.sum()))
    lo[corridor] = np.round(mean[corridor] * 0.8)
    hi[corridor] = np.round(mean[corridor] * 1.3) + 1.0
    return dataclasses.replace(problem, level_min=lo, level_max=hi)


def _tables(problems: list[Any], tag: str) -> dict[str, pa.Table]:
    from echelon_solvers.multi_echelon import MultiEchelonSolver

    from platform_core.components import StagePolicies

    out: dict[str, pa.Table] = {}
    for name, params in CONFIGS.items():
        solver = MultiEchelonSolver(**params)
        for b, prob in enumerate(problems):
            if name == "overrides":
                prob = _with_overrides(prob, 1000 + b)
            table = solver.solve(prob)
            out[f"{tag}.{name}.{b}"] = table
            if name != "default":
                continue
            level = np.nan_to_num(table.column("base_stock_level").to_numpy(zero_copy_only=False), nan=0.0)
            n = level.size
            for kind, pols in (
                ("base_stock", StagePolicies(["base_stock"] * n, np.full(n, np.nan), np.maximum(level - 1, 0),
                                             np.full(n, np.nan))),
                ("sS", StagePolicies(["sS"] * n, np.maximum(level - 2, 0), level, np.full(n, np.nan))),
            ):
                out[f"{tag}.evaluate_{kind}.{b}"] = solver.evaluate_policies(prob, pols)
    return out


def _all_tables() -> dict[str, pa.Table]:
    import numba
    from multi_echelon_value import planned_problems

    from platform_core.data.generate import generate_dataset

    numba.set_num_threads(1)
    out: dict[str, pa.Table] = {}
    for n, seed in DATASETS:
        with tempfile.TemporaryDirectory() as tmp:
            generate_dataset(Path(tmp) / "data", sku_locations=n, seed=seed)
            problems = planned_problems(Path(tmp) / "data", "multi_echelon")[0]
        c = time.process_time()
        out.update(_tables(problems, f"n{n}_s{seed}"))
        print(f"{n} SKU-locations, seed {seed}: {len(problems)} batches, {time.process_time() - c:.1f} CPU-s")
    return out


def _same(a: pa.Table, b: pa.Table) -> str | None:
    """None when ``a`` and ``b`` are bit-identical, else what differs."""
    if a.schema != b.schema:
        return f"schemas differ: {a.schema} vs {b.schema}"
    if a.num_rows != b.num_rows:
        return f"rows {a.num_rows} vs {b.num_rows}"
    for name in a.column_names:
        x, y = a.column(name).combine_chunks(), b.column(name).combine_chunks()
        if pa.types.is_floating(x.type):
            xa = x.to_numpy(zero_copy_only=False).view(np.uint64)
            ya = y.to_numpy(zero_copy_only=False).view(np.uint64)
            if not np.array_equal(xa, ya) or not x.is_null().equals(y.is_null()):
                bad = int(np.flatnonzero(xa != ya)[0]) if xa.size == ya.size and np.any(xa != ya) else -1
                return f"column {name}: first difference at row {bad}"
        elif pa.types.is_list(x.type):
            if not x.offsets.equals(y.offsets) or not x.is_null().equals(y.is_null()):
                return f"column {name}: list offsets or nulls differ"
            xv = x.values.to_numpy(zero_copy_only=False).view(np.uint64)
            yv = y.values.to_numpy(zero_copy_only=False).view(np.uint64)
            if not np.array_equal(xv, yv):
                return f"column {name}: list values differ"
        elif not x.equals(y):
            return f"column {name} differs"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("save", "check"))
    ap.add_argument("dir", type=Path)
    args = ap.parse_args()
    tables = _all_tables()
    if args.mode == "save":
        args.dir.mkdir(parents=True, exist_ok=True)
        for key, t in tables.items():
            with ipc.new_file(args.dir / f"{key}.arrow", t.schema) as w:
                w.write_table(t)
        print(f"saved {len(tables)} tables to {args.dir}")
        return
    bad = 0
    for key, t in tables.items():
        before = ipc.open_file(args.dir / f"{key}.arrow").read_all()
        diff = _same(before, t)
        print(f"{key:40s} {t.num_rows:6d} rows  {'identical' if diff is None else 'DIFFERS: ' + diff}")
        bad += diff is not None
    saved = len(list(args.dir.glob("*.arrow")))
    if saved != len(tables):
        print(f"{saved} tables saved, {len(tables)} computed")
        bad += 1
    print("all identical" if not bad else f"{bad} tables differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
