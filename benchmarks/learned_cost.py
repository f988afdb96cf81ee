"""Learned cost-to-serve (issue #21): recovery of the known truth, and what it is worth.

Usage:
    python benchmarks/learned_cost.py [--seeds 50] [--stages 300] [--replications 100] [--cost-seeds 3]

Part 1, recovery (per seed: a generated dataset with ``cost_history=True``):

* switching: the mean switching probability and the mean lasting volume loss over the
  observed first stockouts, against the generator's truth for the same customers; a seed
  counts as recovered when the truth lies in the model's 90 % bootstrap interval;
* expediting: mean absolute percentage error of the cost on a held-out quarter of the
  expedites (the model fitted on the other three quarters).

Part 2, value (``--cost-seeds`` datasets): every customer-facing stage with order lines as
a single stage, demand drawn from its true demand history (the generator's, empirical
PMF), a fixed lead time of 2 periods. Each policy is the cost-optimal base-stock level
(engine's single-stage simulation, ``optimise_base_stock`` in cost mode) for its stockout
cost; each is evaluated on fresh paths (other seeds) at the TRUE stockout cost
``margin x (1 + F_true)`` (``true_future_units``): realised cost = holding x mean on hand +
true stockout cost x mean units short, summed over stages.

* learned: ``margin x (1 + F)`` with F from the learned model;
* blanket (margin_risk's form): ``margin x (1 + k)`` with one ``k`` for every stage, tuned
  on the same data: the ``k`` of a grid (0 .. 100) whose policy has the least realised true
  cost (a best case for the blanket parameter: it is tuned on the evaluation itself);
* blanket (the standard model's form): ``margin + g x price``, ``g`` tuned the same way;
* oracle: the true stockout cost itself (the most any learned cost can save).

``--margin-scale s`` multiplies every margin in part 2 (a sensitivity: thin-margin
distribution instead of the generator's 40-150 % retail mark-ups).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import write_result  # noqa: E402
from echelon_cost.learned import ExpediteCostModel, SwitchingModel, mean_absolute_percentage_error  # noqa: E402

from platform_core.data.generate import generate_dataset  # noqa: E402
from platform_core.data.generate_costs import true_future_units  # noqa: E402
from platform_core.data.loaders import load_dataset  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.simulation.single_stage import (  # noqa: E402
    TARGET_COST,
    evaluate_base_stock,
    optimise_base_stock,
)

HORIZON = 52.0
LEAD_TIME = 2


def _unit_cost_of(table: pa.Table, stages: pa.Table) -> np.ndarray:
    row = {k: i for i, k in enumerate(zip(stages.column("sku").to_pylist(), stages.column("location").to_pylist(),
                                          strict=True))}
    rows = [row[k] for k in zip(table.column("sku").to_pylist(), table.column("location").to_pylist(), strict=True)]
    return np.asarray(stages.column("unit_cost").to_numpy())[rows]


def recovery(seed: int, stages: int, replications: int, root: Path) -> dict[str, float]:
    """One seed of part 1."""
    data = root / f"seed{seed}"
    generate_dataset(data, stages, seed, overwrite=True, cost_history=True)
    ds = load_dataset(data)
    model = SwitchingModel(replications=replications, seed=seed).fit(ds.tables["order_lines"], ds.stages, 7)
    s = model.summary()
    truth = pq.read_table(data / "truth" / "customer_truth.parquet")
    of = {c: i for i, c in enumerate(truth.column("customer").to_pylist())}
    idx = np.array([of[c] for c in model.relationships_.customer[model.events_.relationship]])
    true_p = float(np.mean(truth.column("switch_probability").to_numpy()[idx]))
    true_v = float(np.mean(truth.column("volume_loss").to_numpy()[idx]))

    ex = ds.tables["expedites"]
    uc = _unit_cost_of(ex, ds.stages)
    held = np.random.default_rng(seed).random(ex.num_rows) < 0.25
    fit = ExpediteCostModel().fit(ex.filter(pa.array(~held)), uc[~held])
    test = ex.filter(pa.array(held))
    mape = mean_absolute_percentage_error(test.column("cost").to_numpy(), fit.predict_cost(test, uc[held]))
    return {
        "seed": seed, "events": s["events"],
        "switch_true": true_p, "switch_est": s["switch_probability"],
        "switch_lo": s["switch_probability_lo"], "switch_hi": s["switch_probability_hi"],
        "switch_covered": float(s["switch_probability_lo"] <= true_p <= s["switch_probability_hi"]),
        "volume_true": true_v, "volume_est": s["volume_loss"],
        "volume_lo": s["volume_loss_lo"], "volume_hi": s["volume_loss_hi"],
        "volume_covered": float(s["volume_loss_lo"] <= true_v <= s["volume_loss_hi"]),
        "expedite_heldout_rows": float(held.sum()), "expedite_heldout_mape": mape,
    }


def _realised(demand: list[DiscreteDistribution], hold: np.ndarray, p_plan: np.ndarray, p_true: np.ndarray,
              seeds: np.ndarray) -> float:
    lead = [DiscreteDistribution.point(LEAD_TIME)] * len(demand)
    n = len(demand)
    plan = optimise_base_stock(demand, lead, seeds, mode=np.full(n, TARGET_COST), target=np.zeros(n),
                               holding_cost=hold, stockout_cost=p_plan, replications=20, periods=400, warmup=20)
    ev = evaluate_base_stock(demand, lead, seeds + np.uint64(7919), plan.base_stock_level.astype(np.int64),
                             replications=20, periods=400, warmup=20)
    return float(np.sum(hold * ev.mean_on_hand + p_true * ev.mean_short))


def value(seed: int, stages: int, replications: int, root: Path, margin_scale: float = 1.0) -> dict[str, float]:
    """One dataset of part 2 (``margin_scale`` multiplies every margin: a sensitivity, 1 = the data's)."""
    data = root / f"seed{seed}"
    if not (data / "order_lines.parquet").exists():
        generate_dataset(data, stages, seed, overwrite=True, cost_history=True)
    ds = load_dataset(data)
    st = ds.stages
    model = SwitchingModel(replications=replications, seed=seed).fit(ds.tables["order_lines"], st, 7)
    f_est = model.stage_estimates(st.num_rows, HORIZON)["future_units"]
    f_true = true_future_units(pq.read_table(data / "truth" / "customer_truth.parquet"), st, HORIZON)
    rows = np.flatnonzero(np.isfinite(f_est) & np.isfinite(f_true))
    truth = pq.read_table(data / "truth" / "demand_truth.parquet")
    key = {k: i for i, k in enumerate(zip(st.column("sku").to_pylist(), st.column("location").to_pylist(),
                                          strict=True))}
    t_rows = np.array([key[k] for k in zip(truth.column("sku").to_pylist(), truth.column("location").to_pylist(),
                                           strict=True)])
    qty = np.rint(truth.column("true_quantity").to_numpy()).astype(np.int64)
    demand = []
    for r in rows:
        counts = np.bincount(qty[t_rows == r])
        demand.append(DiscreteDistribution(counts / counts.sum(), 0))
    unit_cost = st.column("unit_cost").to_numpy()[rows]
    margin = margin_scale * np.maximum(st.column("price").to_numpy()[rows] - unit_cost, 0.0)
    price = unit_cost + margin
    hold = unit_cost * st.column("carrying_rate").to_numpy()[rows] * 7.0 / 365.0
    p_true = margin * (1.0 + f_true[rows])
    seeds = np.arange(1, rows.size + 1, dtype=np.uint64) * np.uint64(1000003) + np.uint64(seed)
    learned = _realised(demand, hold, margin * (1.0 + f_est[rows]), p_true, seeds)
    oracle = _realised(demand, hold, p_true, p_true, seeds)
    grid = [0.0, 1.0, 2.0, 4.0, 7.0, 10.0, 14.0, 18.0, 22.0, 27.0, 33.0, 40.0, 50.0, 70.0, 100.0]
    blanket = {k: _realised(demand, hold, margin * (1.0 + k), p_true, seeds) for k in grid}
    k_best = min(blanket, key=lambda k: blanket[k])
    goodwill = {g: _realised(demand, hold, margin + g * price, p_true, seeds) for g in
                (0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 30.0, 50.0)}
    g_best = min(goodwill, key=lambda g: goodwill[g])
    return {
        "seed": seed, "stages": float(rows.size), "f_true_p10": float(np.percentile(f_true[rows], 10)),
        "f_true_p90": float(np.percentile(f_true[rows], 90)),
        "f_abs_rel_error_median": float(np.median(np.abs(f_est[rows] / f_true[rows] - 1.0))),
        "cost_learned": learned, "cost_oracle": oracle, "cost_blanket_tuned": blanket[k_best], "blanket_k": k_best,
        "learned_vs_blanket": learned / blanket[k_best] - 1.0,
        "cost_goodwill_tuned": goodwill[g_best], "goodwill_fraction": g_best,
        "learned_vs_goodwill": learned / goodwill[g_best] - 1.0,
        "oracle_vs_blanket": oracle / blanket[k_best] - 1.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--stages", type=int, default=300)
    ap.add_argument("--replications", type=int, default=100)
    ap.add_argument("--cost-seeds", type=int, default=3)
    ap.add_argument("--margin-scale", type=float, default=1.0,
                    help="part 2 only: multiply every margin (sensitivity; result file learned_cost_margin<scale>.json)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="learned_cost_") as tmp:
        root = Path(tmp)
        rec = []
        for seed in range(args.seeds):
            rec.append(recovery(seed, args.stages, args.replications, root))
            r = rec[-1]
            print(f"seed {seed}: switch {r['switch_true']:.3f} in [{r['switch_lo']:.3f}, {r['switch_hi']:.3f}] "
                  f"{bool(r['switch_covered'])}; volume {r['volume_true']:.3f} in [{r['volume_lo']:.3f}, "
                  f"{r['volume_hi']:.3f}] {bool(r['volume_covered'])}; expedite MAPE {r['expedite_heldout_mape']:.3f}",
                  flush=True)
        val = []
        for seed in range(args.cost_seeds):
            val.append(value(seed, args.stages, args.replications, root, args.margin_scale))
            v = val[-1]
            print(f"value seed {seed}: learned {v['cost_learned']:.1f}, blanket (k={v['blanket_k']}) "
                  f"{v['cost_blanket_tuned']:.1f}, goodwill (g={v['goodwill_fraction']}) {v['cost_goodwill_tuned']:.1f}, oracle {v['cost_oracle']:.1f}: {100 * v['learned_vs_blanket']:+.1f} %",
                  flush=True)
    nan = float("nan")
    summary = {
        "switch_coverage": float(np.mean([r["switch_covered"] for r in rec])) if rec else nan,
        "volume_coverage": float(np.mean([r["volume_covered"] for r in rec])) if rec else nan,
        "expedite_mape_mean": float(np.mean([r["expedite_heldout_mape"] for r in rec])) if rec else nan,
        "expedite_mape_max": float(np.max([r["expedite_heldout_mape"] for r in rec])) if rec else nan,
        "learned_vs_blanket_mean": float(np.mean([v["learned_vs_blanket"] for v in val])) if val else nan,
        "learned_vs_goodwill_mean": float(np.mean([v["learned_vs_goodwill"] for v in val])) if val else nan,
        "oracle_vs_blanket_mean": float(np.mean([v["oracle_vs_blanket"] for v in val])) if val else nan,
        "cost_learned_total": float(sum(v["cost_learned"] for v in val)),
        "cost_blanket_total": float(sum(v["cost_blanket_tuned"] for v in val)),
        "cost_oracle_total": float(sum(v["cost_oracle"] for v in val)),
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    print(summary)
    name = "learned_cost" if args.margin_scale == 1.0 else f"learned_cost_margin{args.margin_scale:g}"
    write_result(name, {"parameters": vars(args), "summary": summary, "recovery": rec, "value": val})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
