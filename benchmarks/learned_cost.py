"""Learned cost-to-serve (issue #21): recovery of the known truth, and what it is worth.

Usage:
    python benchmarks/learned_cost.py [--seeds 50] [--stages 300] [--replications 100] [--cost-seeds 3]
                                      [--spreads 0,0.5,1,1.5,2,3] [--mix 0.6,0.15] [--sweep-seeds 2] [--quick]

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

Every policy of part 2 is also costed EXACTLY (no simulation): with backorders, a fixed
lead time ``L`` and review every period, the on-hand stock at the end of a period is
``(S - D_{L+1})^+`` and the units short in a period ``(D_{L+1} - S)^+ - (D_L - S)^+``
(``D_k``: demand over ``k`` periods, the k-fold convolution of the PMF), so each stage's cost
curve over ``S`` is computed from the PMF; each policy takes the ``S`` minimising its
planned cost, and the blanket's ``k`` is tuned on a fine grid (121 values, 0 .. 300). This
is the noise-free check of the simulated figures (the same protocol, a second method).

Part 3, heterogeneity sweep: the saving of any stage-specific stockout cost over a tuned
blanket one is zero when every stage's true cost is the same multiple of its margin, and
grows with the spread of ``F`` across stages. The generator's customer behaviour
(:class:`~platform_core.data.generate_costs.CustomerBehaviour`) is scaled by
``with_spread(s)`` for ``s`` in ``--spreads`` (0: all segments alike, 1: the default), at
each stage-mix concentration of ``--mix`` (0.6: the default; smaller: stages sell to one
segment), ``--sweep-seeds`` datasets each; per point the exact and simulated savings of the
learned (``prior_sd="auto"``, and the former fixed ``prior_sd=1``) and true costs.

``--quick``: 3 recovery seeds (20 replications), 1 value dataset, sweep ``--spreads 0,1,3``
at the default mix, 1 dataset each (``learned_cost_quick.json``).
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
from platform_core.data.generate_costs import CustomerBehaviour, true_future_units  # noqa: E402
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


def exact_cost_curves(pmf: np.ndarray, lead_time: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean on hand [units] and mean units short per period [units/period] for every level ``S``.

    Base stock with backorders, review every period, a fixed lead time [periods] and
    i.i.d. demand with PMF ``pmf`` on ``0, 1, ...`` [units/period]: the level ``S`` runs over
    ``0 .. (lead_time + 1) x max demand`` (beyond it nothing is short).
    """
    d_l = np.array([1.0])
    for _ in range(lead_time):
        d_l = np.convolve(d_l, pmf)
    d_l1 = np.convolve(d_l, pmf)
    levels = np.arange(d_l1.size)

    def expected_excess(pmf_k: np.ndarray) -> np.ndarray:  # E[(D - S)^+] for every S in levels
        x = np.arange(pmf_k.size)
        tail = np.cumsum(pmf_k[::-1])[::-1]  # P(D >= x)
        # E[(D - S)^+] = sum_{x > S} P(D >= x)
        after = np.concatenate((np.cumsum(tail[::-1])[::-1][1:], [0.0]))
        out = np.zeros(levels.size)
        out[:x.size] = after
        return out

    short_l1, short_l = expected_excess(d_l1), expected_excess(d_l)
    mean_l1 = float(np.dot(np.arange(d_l1.size), d_l1))
    on_hand = levels - mean_l1 + short_l1  # E[(S - D)^+] = S - E[D] + E[(D - S)^+]
    return on_hand, short_l1 - short_l


def _exact_realised(curves: list[tuple[np.ndarray, np.ndarray]], hold: np.ndarray, p_plan: np.ndarray,
                    p_true: np.ndarray) -> float:
    total = 0.0
    for i, (on_hand, short) in enumerate(curves):
        s = int(np.argmin(hold[i] * on_hand + p_plan[i] * short))
        total += hold[i] * on_hand[s] + p_true[i] * short[s]
    return total


def _realised(demand: list[DiscreteDistribution], hold: np.ndarray, p_plan: np.ndarray, p_true: np.ndarray,
              seeds: np.ndarray) -> float:
    lead = [DiscreteDistribution.point(LEAD_TIME)] * len(demand)
    n = len(demand)
    plan = optimise_base_stock(demand, lead, seeds, mode=np.full(n, TARGET_COST), target=np.zeros(n),
                               holding_cost=hold, stockout_cost=p_plan, replications=20, periods=400, warmup=20)
    ev = evaluate_base_stock(demand, lead, seeds + np.uint64(7919), plan.base_stock_level.astype(np.int64),
                             replications=20, periods=400, warmup=20)
    return float(np.sum(hold * ev.mean_on_hand + p_true * ev.mean_short))


def value(seed: int, stages: int, replications: int, root: Path, margin_scale: float = 1.0,
          spread: float = 1.0, mix: float | None = None, fixed_prior: bool = False) -> dict[str, float]:
    """One dataset of part 2 (``margin_scale`` multiplies every margin: a sensitivity, 1 = the data's).

    ``spread`` and ``mix`` set the generator's customer behaviour (part 3; 1 and None: the
    default); ``fixed_prior`` also costs the learned model with the former ``prior_sd=1``.
    """
    default = CustomerBehaviour()
    behaviour = CustomerBehaviour(segment_mix_concentration=default.segment_mix_concentration if mix is None
                                  else mix).with_spread(spread)
    data = root / (f"seed{seed}" if behaviour == default else f"seed{seed}_s{spread:g}_m{mix}")
    if not (data / "order_lines.parquet").exists():
        generate_dataset(data, stages, seed, overwrite=True, cost_history=True,
                         customer_behaviour=None if behaviour == default else behaviour)
    ds = load_dataset(data)
    st = ds.stages
    model = SwitchingModel(replications=replications, seed=seed).fit(ds.tables["order_lines"], st, 7)
    f_est = model.stage_estimates(st.num_rows, HORIZON)["future_units"]
    customers = pq.read_table(data / "truth" / "customer_truth.parquet")
    f_true = true_future_units(customers, st, HORIZON)
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

    # the same protocol costed exactly (no simulation noise), the blanket on a fine grid
    curves = [exact_cost_curves(d.pmf, LEAD_TIME) for d in demand]
    ex_learned = _exact_realised(curves, hold, margin * (1.0 + f_est[rows]), p_true)
    ex_oracle = _exact_realised(curves, hold, p_true, p_true)
    fine = np.concatenate(([0.0], np.geomspace(0.25, 300.0, 120)))
    ex_blanket = {float(k): _exact_realised(curves, hold, margin * (1.0 + k), p_true) for k in fine}
    ex_k = min(ex_blanket, key=lambda k: ex_blanket[k])
    extra: dict[str, float] = {}
    if fixed_prior:
        m1 = SwitchingModel(prior_sd=1.0, replications=replications, seed=seed).fit(ds.tables["order_lines"], st, 7)
        f1 = m1.stage_estimates(st.num_rows, HORIZON)["future_units"][rows]
        f1 = np.where(np.isfinite(f1), f1, np.nanmedian(f1))
        extra = {
            "cost_learned_prior1": _realised(demand, hold, margin * (1.0 + f1), p_true, seeds),
            "exact_learned_prior1_vs_blanket": _exact_realised(curves, hold, margin * (1.0 + f1), p_true)
            / ex_blanket[ex_k] - 1.0,
            "log_f_slope_prior1": float(np.polyfit(np.log1p(f_true[rows]), np.log1p(f1), 1)[0]),
        }
        extra["learned_prior1_vs_blanket"] = extra["cost_learned_prior1"] / blanket[k_best] - 1.0
    # heterogeneity of the truth across the stages, and the stages' switching probabilities
    q = customers.column("order_probability").to_numpy()
    c_rows = np.array([key[k] for k in zip(customers.column("sku").to_pylist(),
                                           customers.column("location").to_pylist(), strict=True)])
    w = np.bincount(c_rows, weights=q, minlength=st.num_rows)
    p_stage = np.bincount(c_rows, weights=q * customers.column("switch_probability").to_numpy(),
                          minlength=st.num_rows)[rows] / w[rows]
    one_f = 1.0 + f_true[rows]
    return {
        "spread": spread, "mix_concentration": behaviour.segment_mix_concentration,
        "one_plus_f_cv": float(one_f.std() / one_f.mean()), "log_one_plus_f_sd": float(np.log(one_f).std()),
        "p_true_cv": float(p_true.std() / p_true.mean()),
        "stage_switch_p10": float(np.percentile(p_stage, 10)), "stage_switch_p90": float(np.percentile(p_stage, 90)),
        "log_f_slope": float(np.polyfit(np.log1p(f_true[rows]), np.log1p(f_est[rows]), 1)[0]),
        "prior_sd_switch": model.prior_sd_[0], "prior_sd_volume_loss": model.prior_sd_[1],
        "exact_learned_vs_blanket": ex_learned / ex_blanket[ex_k] - 1.0,
        "exact_oracle_vs_blanket": ex_oracle / ex_blanket[ex_k] - 1.0, "exact_blanket_k": ex_k,
        **extra,
        "seed": seed, "stages": float(rows.size), "f_true_p10": float(np.percentile(f_true[rows], 10)),
        "f_true_p90": float(np.percentile(f_true[rows], 90)),
        "f_abs_rel_error_median": float(np.median(np.abs(f_est[rows] / f_true[rows] - 1.0))),
        "cost_learned": learned, "cost_oracle": oracle, "cost_blanket_tuned": blanket[k_best], "blanket_k": k_best,
        "learned_vs_blanket": learned / blanket[k_best] - 1.0,
        "cost_goodwill_tuned": goodwill[g_best], "goodwill_fraction": g_best,
        "learned_vs_goodwill": learned / goodwill[g_best] - 1.0,
        "oracle_vs_blanket": oracle / blanket[k_best] - 1.0,
    }


def _sweep_summary(points: list[dict[str, float]]) -> list[dict[str, float]]:
    """Mean over the datasets of each (spread, mix) point of part 3."""
    keys = sorted({(v["mix_concentration"], v["spread"]) for v in points})
    cols = ("one_plus_f_cv", "log_one_plus_f_sd", "p_true_cv", "stage_switch_p10", "stage_switch_p90",
            "oracle_vs_blanket", "learned_vs_blanket", "learned_prior1_vs_blanket", "exact_oracle_vs_blanket",
            "exact_learned_vs_blanket", "exact_learned_prior1_vs_blanket", "log_f_slope", "log_f_slope_prior1",
            "prior_sd_switch", "prior_sd_volume_loss")
    out = []
    for mix, spread in keys:
        sel = [v for v in points if v["mix_concentration"] == mix and v["spread"] == spread]
        row = {"mix_concentration": mix, "spread": spread, "datasets": float(len(sel))}
        row.update({c: float(np.mean([v[c] for v in sel])) for c in cols if all(c in v for v in sel)})
        row["learned_share_of_oracle"] = row["learned_vs_blanket"] / row["oracle_vs_blanket"]
        row["exact_learned_share_of_oracle"] = row["exact_learned_vs_blanket"] / row["exact_oracle_vs_blanket"]
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--stages", type=int, default=300)
    ap.add_argument("--replications", type=int, default=100)
    ap.add_argument("--cost-seeds", type=int, default=3)
    ap.add_argument("--margin-scale", type=float, default=1.0,
                    help="part 2 only: multiply every margin (sensitivity; result file learned_cost_margin<scale>.json)")
    ap.add_argument("--spreads", default="0,0.5,1,1.5,2,3", help="part 3: CustomerBehaviour.with_spread values")
    ap.add_argument("--mix", default="0.6,0.15", help="part 3: stage segment-mix concentrations (0.6 the default)")
    ap.add_argument("--sweep-seeds", type=int, default=2, help="part 3: datasets per point (0: no sweep)")
    ap.add_argument("--quick", action="store_true", help="a short run (see module doc)")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.replications, args.cost_seeds, args.sweep_seeds = 3, 20, 1, 1
        args.spreads, args.mix = "0,1,3", "0.6"
    spreads = [float(x) for x in args.spreads.split(",") if x]
    mixes = [float(x) for x in args.mix.split(",") if x]
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
            val.append(value(seed, args.stages, args.replications, root, args.margin_scale, fixed_prior=True))
            v = val[-1]
            print(f"value seed {seed}: learned {v['cost_learned']:.1f}, blanket (k={v['blanket_k']}) "
                  f"{v['cost_blanket_tuned']:.1f}, goodwill (g={v['goodwill_fraction']}) {v['cost_goodwill_tuned']:.1f}, oracle {v['cost_oracle']:.1f}: {100 * v['learned_vs_blanket']:+.1f} %"
                  f" (exact {100 * v['exact_learned_vs_blanket']:+.1f} %, oracle {100 * v['exact_oracle_vs_blanket']:+.1f} %)",
                  flush=True)
        sweep = []
        for mix in mixes:
            for spread in spreads:
                for seed in range(args.sweep_seeds):
                    if spread == 1.0 and mix == CustomerBehaviour().segment_mix_concentration and seed < len(val) \
                            and args.margin_scale == 1.0:
                        sweep.append(val[seed])  # the default point is part 2's dataset
                        continue
                    sweep.append(value(seed, args.stages, 2, root, args.margin_scale, spread, mix, fixed_prior=True))
                    v = sweep[-1]
                    print(f"sweep mix {mix:g} spread {spread:g} seed {seed}: sd log(1+F) {v['log_one_plus_f_sd']:.2f}, "
                          f"learned {100 * v['learned_vs_blanket']:+.1f} % (prior 1: "
                          f"{100 * v['learned_prior1_vs_blanket']:+.1f} %), oracle {100 * v['oracle_vs_blanket']:+.1f} %;"
                          f" exact {100 * v['exact_learned_vs_blanket']:+.1f} / {100 * v['exact_oracle_vs_blanket']:+.1f} %",
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
        "learned_prior1_vs_blanket_mean": float(np.mean([v["learned_prior1_vs_blanket"] for v in val])) if val else nan,
        "exact_learned_vs_blanket_mean": float(np.mean([v["exact_learned_vs_blanket"] for v in val])) if val else nan,
        "exact_oracle_vs_blanket_mean": float(np.mean([v["exact_oracle_vs_blanket"] for v in val])) if val else nan,
        "cost_learned_total": float(sum(v["cost_learned"] for v in val)),
        "cost_blanket_total": float(sum(v["cost_blanket_tuned"] for v in val)),
        "cost_oracle_total": float(sum(v["cost_oracle"] for v in val)),
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    table = _sweep_summary(sweep) if sweep else []
    print(summary)
    for row in table:
        print(f"mix {row['mix_concentration']:g} spread {row['spread']:g}: CV(1+F) {row['one_plus_f_cv']:.2f}, "
              f"sd log(1+F) {row['log_one_plus_f_sd']:.2f}; learned {100 * row['learned_vs_blanket']:+.2f} %, "
              f"oracle {100 * row['oracle_vs_blanket']:+.2f} % (exact {100 * row['exact_learned_vs_blanket']:+.2f} / "
              f"{100 * row['exact_oracle_vs_blanket']:+.2f} %)")
    name = ("learned_cost_quick" if args.quick else "learned_cost") if args.margin_scale == 1.0 \
        else f"learned_cost_margin{args.margin_scale:g}"
    write_result(name, {"parameters": vars(args), "summary": summary, "sweep": table, "recovery": rec,
                        "value": val, "sweep_points": sweep})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
