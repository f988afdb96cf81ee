"""How often a binding budget and space limit hold on exact figures, over many run seeds.

    python benchmarks/constraints_confidence.py [--seeds 160]

The instance and the judge are those of ``tests/core/test_constraints_confidence.py``
(imported from there): 16 single-stage SKUs at each of two stores, a p95 space limit at
store A and an on-hand-value budget at 85 % of the free plan's figures; the chosen levels
are judged exactly (on hand is ``(S - D)+``, ``D`` the demand of ``L + 1`` periods: the
mean on-hand value is exact, the store's p95 volume read off 200,000 independent draws).
Each seed is one run (its allocation: the run's on hand estimated on fresh paths, with the
0.95 confidence margin); on the same run's frontier points the allocation is also made
counting the final run's own on hand (the paths that chose the levels: the estimate before
the fresh paths), and both without the margin (confidence 0.5).

Besides the held fractions it reports the bias the fresh paths remove: ``(exact -
estimate) / SE`` of the budget's on-hand value at the recommended (unconstrained) levels,
for the final run's estimate and the fresh one, and at the allocated levels.  Writes
``benchmarks/results/constraints_confidence.json``.  Runs one seed after another in
process (about 2 s each on a quiet machine; the pooled forecaster's parameters fitted once
by the free run are reused: they do not depend on the seed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "tests" / "core"))
from _harness import write_result  # noqa: E402
from test_constraints_confidence import _config, _Exact, _limits_table, _truth  # noqa: E402
from test_constraints_run import _dataset  # noqa: E402

import platform_core.pipeline as pipeline  # noqa: E402

FRESH = ("frontier_fresh_on_hand", "frontier_fresh_on_hand_sd", "frontier_fresh_on_hand_k3",
         "frontier_fresh_on_hand_se")


def _budget_z_at_recommendation(side, merged, exact, stages) -> tuple[float, float]:
    """``(exact - estimate) / SE`` of the on-hand value at the recommended levels: final run, fresh paths."""
    from platform_core.frontier import side_arrays

    shifts, _has, level, _fill, _oh = side_arrays(side)
    k0 = int(np.flatnonzero(shifts == 0.0)[0])

    def at_k0(name: str) -> np.ndarray:
        return np.array([row[k0] if row is not None else np.nan for row in side.column(name).to_pylist()])

    rec = merged.select(["sku", "location"]).to_pandas().merge(stages, on=["sku", "location"], how="left")
    cost = rec["unit_cost"].to_numpy()
    truth = sum(exact.mean((s, loc), lv) * c for s, loc, lv, c in
                zip(rec["sku"], rec["location"], level[:, k0], cost, strict=True))
    out = []
    for mean_name, se_name in (("frontier_on_hand", "frontier_on_hand_se"),
                               ("frontier_fresh_on_hand", "frontier_fresh_on_hand_se")):
        est = float(np.sum(cost * at_k0(mean_name)))
        se = float(np.sqrt(np.sum((cost * at_k0(se_name)) ** 2)))  # single-stage networks: independent
        out.append((truth - est) / se)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=160)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="echelon-confidence-"))
    try:
        free = _dataset(base / "free")
        pipeline.run(free, base / "out_free", _config(42), progress=False)
        stages = pq.read_table(free / "stages.parquet").to_pandas()
        exact = _Exact(free)
        table, limits = _limits_table(free, base / "out_free", exact, stages)
        bound = _dataset(base / "bound", table)
        seen: dict[str, tuple] = {}
        real = pipeline.apply_constraints

        def keep_inputs(*a):
            seen["args"] = a
            return real(*a)

        pipeline.apply_constraints = keep_inputs
        variants = ("fresh_margin", "run_paths_margin", "fresh_no_margin", "run_paths_no_margin")
        held = {v: {"budget": 0, "space_p95": 0, "space_mean": 0} for v in variants}
        z_alloc = {"fresh_margin": [], "run_paths_margin": []}
        z_rec = {"run_paths": [], "fresh": []}
        for seed in range(1, args.seeds + 1):
            out = base / f"out_{seed}"
            pipeline.run(bound, out, _config(seed), progress=False, pooled_from=base / "out_free")
            merged, side, shared, inputs = seen["args"]
            no_margin = replace(inputs, constraints=tuple(replace(c, confidence=0.5) for c in inputs.constraints))
            old_side = side.drop_columns([c for c in FRESH if c in side.column_names])
            docs = {"fresh_margin": json.loads((out / "summary.json").read_text())}
            chosen = {"fresh_margin": pq.read_table(out / "recommendations.parquet").to_pandas()}
            for name, (s, inp) in {"run_paths_margin": (old_side, inputs), "fresh_no_margin": (side, no_margin),
                                   "run_paths_no_margin": (old_side, no_margin)}.items():
                t, doc = real(merged, s, shared, inp)
                chosen[name], docs[name] = t.to_pandas(), doc
            for v in variants:
                value, mean_a, p95_a = _truth(exact, stages, chosen[v])
                held[v]["budget"] += int(value <= limits["budget"])
                held[v]["space_p95"] += int(p95_a <= limits["space_A"])
                held[v]["space_mean"] += int(mean_a <= limits["space_A"])
                if v in z_alloc:
                    b = {c["constraint_id"]: c for c in docs[v]["constraints"]}["budget"]
                    z_alloc[v].append((value - b["planned"]) / b["planned_se"])
            zr, zf = _budget_z_at_recommendation(side, merged, exact, stages)
            z_rec["run_paths"].append(zr)
            z_rec["fresh"].append(zf)
            if seed % 20 == 0:
                print(f"{seed} seeds: {json.dumps(held)}", flush=True)
                shutil.rmtree(base / f"out_{seed}", ignore_errors=True)
        pipeline.apply_constraints = real

        def stats(z: list[float]) -> dict[str, float]:
            a = np.asarray(z)
            return {"mean": float(a.mean()), "mean_se": float(a.std(ddof=1) / np.sqrt(a.size)),
                    "sd": float(a.std(ddof=1))}

        row = {"seeds": args.seeds, "confidence": 0.95, "limits": limits, "held": held,
               "held_share": {v: {k: n / args.seeds for k, n in h.items()} for v, h in held.items()},
               "budget_z_at_allocation": {v: stats(z) for v, z in z_alloc.items()},
               "budget_z_at_recommendation": {v: stats(z) for v, z in z_rec.items()},
               "note": "z = (exact - estimate) / SE of the budget's on-hand value; fresh: the run's on hand "
                       "measured again on independent paths; run_paths: on the final run's own paths"}
        print(json.dumps(row, indent=2))
        write_result("constraints_confidence", row)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
