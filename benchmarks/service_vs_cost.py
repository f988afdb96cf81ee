"""Service vs cost: Echelon's multi-echelon portfolio optimisation vs the blanket-ABC rule.

Usage:
    python benchmarks/service_vs_cost.py [--quick] [--stages N] [--seed S]

Protocol (both policies see the same data and are evaluated by the same engine):

1. generate a three-echelon dataset (plants / central DCs -> regional DCs -> stores,
   104 weekly periods); the first 78 periods are the training window, the last 26 are
   held out;
2. fit, on the training window only: each stage's demand PMF (empirical, observed
   demand of the last 52 training periods; internal stages: their own plus all
   descendants'), lead-time PMFs from the receipts (weeks, rounded up);
3. blanket-ABC: every stage ``S = mu (L + R) + z sigma sqrt(L + R)`` with z from the
   SKU's ABC class (98/95/90 %);
4. Echelon: internal stages at the fill level chosen by simulation on the *training*
   distributions (among a few candidate levels), the resulting replenishment delay
   (METRIC: expected backorders / demand) added to the lead time of their customers,
   and the customer-facing levels set on the portfolio's efficient frontier
   (marginal analysis, exact per-stage curves) for a portfolio fill-rate target;
5. evaluate both by the network engine (installation base-stock, backorders, common
   random numbers) with demand drawn from the *held-out true* demand of each stage
   (the generator's truth, not seen by the optimiser);
6. bisect Echelon's portfolio target until its realised portfolio fill rate equals the
   blanket-ABC's, and compare inventory investment at that equal service.

Service is measured at the customer-facing stages (stores and leaf DCs); the wholesale
demand of internal DCs is simulated but not part of the portfolio fill rate.

Prints a table and writes benchmarks/results/service_vs_cost.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import write_result  # noqa: E402
from echelon_solvers.baseline import blanket_abc_levels  # noqa: E402
from echelon_solvers.frontier import allocate_fill_target, portfolio_frontier, stage_curve  # noqa: E402

from platform_core.data.generate import generate_dataset  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.simulation import Costs, Network, Policy, simulate  # noqa: E402

TRAIN = 78
FIT_WINDOW = 52


# ---------------------------------------------------------------- data --------------
def _keys(table: pa.Table, sku: str = "sku", loc: str = "location") -> pa.Array:
    return pc.binary_join_element_wise(table.column(sku), table.column(loc), "@")


def load(path: Path) -> dict:
    """Arrays of the generated dataset, one row per stage (generator order)."""
    stages = pq.read_table(path / "stages.parquet")
    edges = pq.read_table(path / "edges.parquet")
    demand = pq.read_table(path / "demand.parquet")
    truth = pq.read_table(path / "truth" / "demand_truth.parquet")
    receipts = pq.read_table(path / "receipts.parquet")
    keys = _keys(stages)
    n = stages.num_rows
    parent = np.full(n, -1, dtype=np.int64)
    child = pc.index_in(_keys(edges, "downstream_sku", "downstream_location"), value_set=keys).to_numpy()
    up = pc.index_in(_keys(edges, "upstream_sku", "upstream_location"), value_set=keys).to_numpy()
    parent[child] = up
    day = pc.cast(demand.column("period"), pa.int32()).to_numpy()
    t = (day - day.min()) // 7
    periods = int(t.max()) + 1
    row = pc.index_in(_keys(demand), value_set=keys).to_numpy()
    observed = np.full((n, periods), np.nan)
    observed[row, t] = demand.column("quantity").to_numpy(zero_copy_only=False)
    stocked_out = np.zeros((n, periods), dtype=bool)
    stocked_out[row, t] = demand.column("stocked_out").to_numpy(zero_copy_only=False)
    true = np.full((n, periods), np.nan)
    trow = pc.index_in(_keys(truth), value_set=keys).to_numpy()
    tday = pc.cast(truth.column("period"), pa.int32()).to_numpy()
    true[trow, (tday - day.min()) // 7] = truth.column("true_quantity").to_numpy()
    has_demand = np.zeros(n, dtype=bool)
    has_demand[row] = True
    rrow = pc.index_in(_keys(receipts), value_set=keys).to_numpy()
    lead_days = (pc.cast(receipts.column("receipt_date"), pa.int32()).to_numpy()
                 - pc.cast(receipts.column("order_date"), pa.int32()).to_numpy())
    lead_weeks = np.maximum(1, np.ceil(lead_days / 7.0)).astype(np.int64)
    order = np.argsort(rrow, kind="stable")
    bounds = np.searchsorted(rrow[order], np.arange(n + 1))
    lead = []
    for i in range(n):
        w = lead_weeks[order[bounds[i]:bounds[i + 1]]]
        lead.append(DiscreteDistribution.from_samples(w) if w.size else DiscreteDistribution.point(1))
    sku = stages.column("sku").to_numpy(zero_copy_only=False)
    return {
        "n": n, "sku": sku, "parent": parent, "observed": observed, "true": true,
        "has_demand": has_demand, "lead": lead, "stocked_out": stocked_out,
        "truth_params": pq.read_table(path / "truth" / "series_truth.parquet"),
        "truth_rows": pc.index_in(_keys(pq.read_table(path / "truth" / "series_truth.parquet")),
                                  value_set=keys).to_numpy(),
        "unit_cost": stages.column("unit_cost").to_numpy(),
        "abc": stages.column("abc_class").to_numpy(zero_copy_only=False),
        "review": pc.fill_null(stages.column("review_period"), 1).to_numpy(),
        "carrying": stages.column("carrying_rate").to_numpy(),
    }


def aggregate(values: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Own plus all descendants' series (stages are listed parent-first per SKU)."""
    out = np.nan_to_num(values, nan=0.0).copy()
    for i in range(out.shape[0] - 1, -1, -1):
        if parent[i] >= 0:
            out[parent[i]] += out[i]
    return out


def seasonal_pmf(y: np.ndarray, censored: np.ndarray, horizon: np.ndarray, rng: np.random.Generator,
                 window: int = FIT_WINDOW) -> DiscreteDistribution:
    """Demand PMF for the ``horizon`` weeks from the training history ``y`` (weeks 0..T-1).

    A level ``a + b t + c sin(2 pi t / 52) + d cos(2 pi t / 52)`` is fitted by least squares
    on the uncensored weeks; the last ``window`` weeks' ratios ``y_t / level_t`` are then
    re-scaled to each horizon week's level (trend extrapolation capped to x0.67..x1.5
    of the recent level).  Sparse series (< 20 non-zero weeks) keep the plain empirical
    PMF of the last ``window`` weeks.
    """
    t_all = np.arange(y.size, dtype=np.float64)
    ok = ~np.isnan(y) & ~censored
    recent = y[-window:][ok[-window:]]
    if ok.sum() < 26 or np.count_nonzero(y[ok]) < 20 or recent.size == 0:
        return _pmf(recent if recent.size else y[ok])

    def design(t: np.ndarray) -> np.ndarray:
        w = 2 * np.pi * t / 52.0
        return np.stack([np.ones_like(t), (t - y.size) / 52.0, np.sin(w), np.cos(w)], axis=1)

    beta, *_ = np.linalg.lstsq(design(t_all[ok]), y[ok], rcond=None)
    mean_recent = max(float(recent.mean()), 1e-9)
    fit = np.clip(design(t_all) @ beta, 0.2 * mean_recent, None)
    ratios = (y[-window:] / fit[-window:])[ok[-window:]]
    level = np.clip(design(horizon.astype(np.float64)) @ beta, 0.67 * mean_recent, 1.5 * mean_recent)
    samples = (ratios[None, :] * level[:, None]).ravel()
    samples = np.floor(samples + rng.random(samples.size))
    return DiscreteDistribution.from_samples(samples)


def _pmf(samples: np.ndarray) -> DiscreteDistribution:
    s = samples[~np.isnan(samples)]
    return DiscreteDistribution.from_samples(s) if s.size else DiscreteDistribution.point(0)


def truth_distributions(data: dict, weeks: np.ndarray, period_days: int = 7) -> list[DiscreteDistribution | None]:
    """The generator's true demand PMF per stage over ``weeks`` (mixture of the weeks).

    Demand in week t: with probability p a size max(1, round(G)), G ~ gamma with mean
    ``level_t`` (season and trend from ``truth/series_truth.parquet``) and CV ``size_cv``.
    """
    tp = data["truth_params"]
    cols = {c: tp.column(c).to_numpy() for c in ("occurrence_probability", "size_cv", "mean_size",
                                                 "season_amplitude", "season_phase", "trend_per_year",
                                                 "first_period")}
    periods = data["true"].shape[1]
    # the generator centres the trend on the mean year of all demand rows
    counts = periods - cols["first_period"]
    sum_t = (periods - 1) * periods / 2 - (cols["first_period"] - 1) * cols["first_period"] / 2
    ymean = float(sum_t.sum() / counts.sum()) * period_days / 365.25
    years = weeks * period_days / 365.25
    out: list[DiscreteDistribution | None] = [None] * data["n"]
    for r, stage in enumerate(data["truth_rows"]):
        level = cols["mean_size"][r] * (1 + cols["season_amplitude"][r]
                                        * np.sin(2 * np.pi * (years + cols["season_phase"][r])))
        level = level * np.maximum(0.2, 1 + cols["trend_per_year"][r] * (years - ymean))
        shape = 1.0 / cols["size_cv"][r] ** 2
        top = int(stats.gamma.isf(1e-9, shape, scale=level.max() / shape)) + 2
        edges = np.arange(1, top + 1) + 0.5  # size k in [k - 0.5, k + 0.5), k = 1 takes G < 1.5
        cdf = stats.gamma.cdf(edges[None, :], shape, scale=(level / shape)[:, None])
        size_pmf = np.diff(np.concatenate([np.zeros((weeks.size, 1)), cdf], axis=1), axis=1).mean(axis=0)
        p = cols["occurrence_probability"][r]
        pmf = np.concatenate([[1.0 - p], p * size_pmf])
        out[int(stage)] = DiscreteDistribution(pmf, 0)
    return out


# ------------------------------------------------------------- networks ------------
def networks(data: dict) -> list[np.ndarray]:
    """Stage indices of each SKU's network (parent-first)."""
    sku = data["sku"]
    cut = np.flatnonzero(sku[1:] != sku[:-1]) + 1
    return np.split(np.arange(data["n"]), cut)


def simulate_portfolio(data: dict, groups: list[np.ndarray], levels: np.ndarray,
                       demand: list[DiscreteDistribution | None], seed: int,
                       replications: int, periods: int) -> dict[str, np.ndarray]:
    """Per-stage fill rate, demand and on-hand investment from the engine."""
    nets, pols, dems, lts, costs = [], [], [], [], []
    parent = data["parent"]
    for g in groups:
        local = {int(s): k for k, s in enumerate(g)}
        arcs = tuple((local[int(parent[s])], local[int(s)], 1.0) for s in g if parent[s] >= 0)
        nets.append(Network(len(g), arcs, name=str(data["sku"][g[0]])))
        pols.append(Policy.base_stock(levels[g], review_period=data["review"][g]))
        dems.append({k: demand[s] for k, s in enumerate(g) if demand[s] is not None})
        lts.append([data["lead"][s] for s in g])
        costs.append(Costs(unit_value=data["unit_cost"][g]))
    res = simulate(nets, pols, dems, lead_times=lts, seeds=seed, replications=replications,
                   periods=periods, warmup=52, costs=costs)
    fill_r = np.nan_to_num(res.replicates["fill_rate"], nan=1.0)
    short = ((1.0 - fill_r) * res.replicates["demand"]).mean(axis=0)
    order = np.concatenate(groups)
    out = {}
    for name, v in (("fill", res.mean["fill_rate"]), ("demand", res.mean["demand"]), ("short", short),
                    ("investment", res.mean["inventory_investment"])):
        arr = np.empty(data["n"])
        arr[order] = v
        out[name] = arr
    return out


def portfolio_fill(sim: dict[str, np.ndarray], mask: np.ndarray) -> float:
    return float(1.0 - sim["short"][mask].sum() / sim["demand"][mask].sum())


# -------------------------------------------------------------- policies -----------
def echelon_internal(data: dict, agg_dist: list, internal: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Internal levels at fill ``ratio`` of the aggregated demand, and their delay [periods]."""
    levels = np.zeros(data["n"])
    delay = np.zeros(data["n"])
    for i in np.flatnonzero(internal):
        c = stage_curve(agg_dist[i], data["lead"][i], float(data["unit_cost"][i]), int(data["review"][i]))
        k = int(np.searchsorted(c.fill_rate, ratio - 1e-12))
        k = min(k, c.levels.size - 1)
        levels[i] = c.levels[k]
        mu = c.mean_demand
        mean_x = mu * (data["lead"][i].mean() + int(data["review"][i]))
        backorders = c.on_hand[k] - c.levels[k] + mean_x
        delay[i] = max(backorders, 0.0) / mu if mu > 0 else 0.0
    return levels, delay


def _shift(lt: DiscreteDistribution, delay: float) -> DiscreteDistribution:
    if delay <= 1e-9:
        return lt
    lo = int(np.floor(delay))
    w = delay - lo
    two = DiscreteDistribution(np.array([1.0 - w, w]), lo) if w > 1e-9 else DiscreteDistribution.point(lo)
    return lt.convolve(two)


def echelon_curves(data: dict, own_dist: list, leaves: np.ndarray, delay: np.ndarray) -> list:
    curves = []
    for i in leaves:
        p = int(data["parent"][i])
        lt = _shift(data["lead"][i], delay[p] if p >= 0 else 0.0)
        curves.append(stage_curve(own_dist[i], lt, float(data["unit_cost"][i]), int(data["review"][i])))
    return curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 SKU-locations, shorter simulation")
    ap.add_argument("--stages", type=int, default=None, help="SKU-locations (default 10,000; quick 2,000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--demand-model", choices=("empirical", "seasonal"), default="empirical",
                    help="Echelon's fit of customer-facing demand (the baseline always uses mean/sd)")
    args = ap.parse_args()
    n_stages = args.stages or (2000 if args.quick else 10000)
    reps, periods = (4, 200) if args.quick else (6, 400)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(Path(tmp) / "data", n_stages, seed=args.seed)
        data = load(Path(tmp) / "data")
    t_load = time.perf_counter() - t0
    n = data["n"]
    parent = data["parent"]
    internal = np.zeros(n, dtype=bool)
    internal[parent[parent >= 0]] = True
    leaves = np.flatnonzero(data["has_demand"] & ~internal)
    leaf_mask = np.zeros(n, dtype=bool)
    leaf_mask[leaves] = True
    groups = networks(data)

    train_obs = data["observed"][:, TRAIN - FIT_WINDOW:TRAIN]
    censored = data["stocked_out"][:, TRAIN - FIT_WINDOW:TRAIN]
    # stocked-out periods are censored: left out of a stage's own fit, imputed by the
    # stage's uncensored mean in the aggregated (internal) series
    train_own = np.where(censored, np.nan, train_obs)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fill_in = np.nanmean(train_own, axis=1, keepdims=True)
    train_agg = aggregate(np.where(censored, np.nan_to_num(fill_in), train_obs), parent)
    if args.demand_model == "seasonal":
        rng = np.random.default_rng(args.seed)
        horizon = np.arange(TRAIN, data["true"].shape[1])
        own_dist = [
            seasonal_pmf(data["observed"][i, :TRAIN], data["stocked_out"][i, :TRAIN], horizon, rng)
            if data["has_demand"][i] else None for i in range(n)
        ]
    else:
        own_dist = [_pmf(train_own[i]) if data["has_demand"][i] else None for i in range(n)]
    agg_dist = [DiscreteDistribution.from_samples(train_agg[i]) for i in range(n)]
    hold_dist = [_pmf(data["true"][i, TRAIN:]) if data["has_demand"][i] else None for i in range(n)]
    sim_train = dict(seed=args.seed + 1, replications=reps, periods=periods)
    sim_hold = dict(seed=args.seed + 2, replications=reps, periods=periods)

    # ---- baseline: blanket ABC ------------------------------------------------------
    t1 = time.perf_counter()
    mu = train_agg.mean(axis=1)
    sd = train_agg.std(axis=1)
    lt_mean = np.array([d.mean() for d in data["lead"]])
    base_levels, base_target = blanket_abc_levels(mu, sd, lt_mean, list(data["abc"]), data["review"])
    base_train = simulate_portfolio(data, groups, base_levels, own_dist, **sim_train)
    base = simulate_portfolio(data, groups, base_levels, hold_dist, **sim_hold)
    base_fill = portfolio_fill(base, leaf_mask)
    base_fill_train = portfolio_fill(base_train, leaf_mask)

    # ---- Echelon: choose the internal service on the training distributions ---------
    def echelon_levels(ratio: float, target: float) -> tuple[np.ndarray, np.ndarray]:
        lv, delay = echelon_internal(data, agg_dist, internal, ratio)
        curves = echelon_curves(data, own_dist, leaves, delay)
        alloc = allocate_fill_target(curves, target, portfolio_frontier(curves))
        lv[leaves] = alloc.levels
        expected = np.full(n, np.nan)
        expected[leaves] = alloc.stage_fill_rate
        return lv, expected

    def calibrate(ratio: float, goal: float, dists: list, sim: dict) -> tuple[np.ndarray, np.ndarray, dict, float]:
        lo, hi = 0.5, 0.9995
        best = None
        for _ in range(8):
            mid = 0.5 * (lo + hi)
            lv, exp = echelon_levels(ratio, mid)
            res = simulate_portfolio(data, groups, lv, dists, **sim)
            f = portfolio_fill(res, leaf_mask)
            if f >= goal:
                hi = mid
                best = (lv, exp, res, mid)
            else:
                lo = mid
        if best is None:
            lv, exp = echelon_levels(ratio, hi)
            best = (lv, exp, simulate_portfolio(data, groups, lv, dists, **sim), hi)
        return best

    candidates = {}
    for ratio in (0.5, 0.8, 0.95):
        lv, _, res, _ = calibrate(ratio, base_fill_train, own_dist, sim_train)
        candidates[ratio] = float(res["investment"].sum())
    ratio = min(candidates, key=lambda r: candidates[r])

    # ---- evaluation on held-out true demand at equal realised fill -------------------
    ech_levels, ech_expected, ech, ech_target = calibrate(ratio, base_fill, hold_dist, sim_hold)
    t_opt = time.perf_counter() - t1
    ech_fill = portfolio_fill(ech, leaf_mask)
    # Echelon's own prediction per stage: the same levels simulated on its (training) model
    ech_model = simulate_portfolio(data, groups, ech_levels, own_dist, **sim_train)
    model_target = ech_model["fill"]
    inv_base = float(base["investment"].sum())
    inv_ech = float(ech["investment"].sum())
    savings = 100.0 * (1.0 - inv_ech / inv_base)
    measured = leaf_mask & (ech["demand"] > 0)
    within = np.abs(ech["fill"][measured] - model_target[measured]) <= 0.02
    within_curve = np.abs(ech["fill"][measured] - ech_expected[measured]) <= 0.02
    model_within_curve = np.abs(ech_model["fill"][measured] - ech_expected[measured]) <= 0.02
    base_within = np.abs(base["fill"][measured] - base_target[measured]) <= 0.02
    # demand-weighted share, too (intermittent stages dominate the count)
    w = ech["demand"][measured]
    within_w = float((w * within).sum() / w.sum())

    # secondary: the generator's true demand process over the held-out weeks (no sampling
    # noise of 26 realised weeks), same levels
    weeks = np.arange(TRAIN, data["true"].shape[1])
    truth_dist = truth_distributions(data, weeks)
    base_t = simulate_portfolio(data, groups, base_levels, truth_dist, **sim_hold)
    ech_t = simulate_portfolio(data, groups, ech_levels, truth_dist, **sim_hold)
    m_t = leaf_mask & (ech_t["demand"] > 0)
    within_t = np.abs(ech_t["fill"][m_t] - model_target[m_t]) <= 0.02
    base_within_t = np.abs(base_t["fill"][m_t] - base_target[m_t]) <= 0.02
    truth_eval = {
        "baseline_inventory_investment_currency": float(base_t["investment"].sum()),
        "baseline_fill_rate": portfolio_fill(base_t, leaf_mask),
        "baseline_share_within_2pp_of_target": float(base_within_t.mean()),
        "echelon_inventory_investment_currency": float(ech_t["investment"].sum()),
        "echelon_fill_rate": portfolio_fill(ech_t, leaf_mask),
        "echelon_share_within_2pp_of_target": float(within_t.mean()),
        "savings_percent": 100.0 * (1.0 - float(ech_t["investment"].sum()) / float(base_t["investment"].sum())),
    }

    rows = [
        ("blanket ABC", inv_base, base_fill, float(base_within.mean())),
        ("Echelon", inv_ech, ech_fill, float(within.mean())),
    ]
    print(f"service vs cost, {n} SKU-locations ({len(groups)} SKU networks), held-out true demand")
    print(f"{'policy':<14}{'investment [currency]':>24}{'portfolio fill':>16}{'within +-2pp':>14}")
    for name, inv, fill, wi in rows:
        print(f"{name:<14}{inv:>24,.0f}{fill:>16.4f}{wi:>14.3f}")
    print(f"{'  on the true demand process of the held-out weeks (same levels):':<50}")
    print(f"{'blanket ABC':<14}{truth_eval['baseline_inventory_investment_currency']:>24,.0f}"
          f"{truth_eval['baseline_fill_rate']:>16.4f}{truth_eval['baseline_share_within_2pp_of_target']:>14.3f}")
    print(f"{'Echelon':<14}{truth_eval['echelon_inventory_investment_currency']:>24,.0f}"
          f"{truth_eval['echelon_fill_rate']:>16.4f}{truth_eval['echelon_share_within_2pp_of_target']:>14.3f}")
    print(f"savings at equal fill: {savings:.1f} %   internal fill level chosen: {ratio}   "
          f"portfolio target (model): {ech_target:.4f}")
    print(f"internal-level candidates (training sims, investment): {candidates}")
    print(f"per-stage targets = Echelon's simulated fill on its training model; demand-weighted share "
          f"within +-2pp: {within_w:.3f}; model world vs frontier curves: {model_within_curve.mean():.3f}")
    payload = {
        "command": "python benchmarks/service_vs_cost.py" + (" --quick" if args.quick else "")
        + (f" --demand-model {args.demand_model}" if args.demand_model != "empirical" else ""),
        "demand_model": args.demand_model,
        "mode": "quick" if args.quick else "full",
        "sku_locations": int(n),
        "sku_networks": len(groups),
        "customer_facing_stages": int(leaf_mask.sum()),
        "dataset_seed": args.seed,
        "training_periods": TRAIN,
        "holdout_periods": int(data["true"].shape[1] - TRAIN),
        "simulation": {"replications": reps, "periods": periods, "warmup_periods": 52},
        "baseline": {
            "inventory_investment_currency": inv_base,
            "fill_rate": base_fill,
            "share_within_2pp_of_target": float(base_within.mean()),
            "target": "ABC class service level (98/95/90 %)",
        },
        "echelon": {
            "inventory_investment_currency": inv_ech,
            "fill_rate": ech_fill,
            "share_within_2pp_of_target": float(within.mean()),
            "demand_weighted_share_within_2pp_of_target": within_w,
            "share_within_2pp_of_frontier_curve_target": float(within_curve.mean()),
            "model_world_share_within_2pp_of_frontier_curve_target": float(model_within_curve.mean()),
            "model_world_fill_rate": portfolio_fill(ech_model, leaf_mask),
            "internal_fill_level": ratio,
            "portfolio_target_fill_rate_model": ech_target,
            "internal_candidates_investment_currency": {str(k): v for k, v in candidates.items()},
        },
        "savings_percent": savings,
        "true_process_evaluation": truth_eval,
        "fill_rate_gap_points": 100.0 * (ech_fill - base_fill),
        "data_seconds": t_load,
        "optimise_and_evaluate_seconds": t_opt,
    }
    path = write_result("service_vs_cost", payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
