"""Service vs cost: Echelon's multi-echelon portfolio optimisation vs the blanket-ABC rule.

Usage:
    python benchmarks/service_vs_cost.py [--quick] [--stages N] [--seed S] [--training-periods T]

Protocol (both policies see the same data and are evaluated by the same engine):

1. generate a three-echelon dataset (plants / central DCs -> regional DCs -> stores,
   104 weekly periods); the first 78 periods are the training window, the last 26 are
   held out;
2. fit, on the training window only: each stage's demand PMF (empirical, observed
   demand of the last 52 training periods; internal stages: their own plus all
   descendants'), lead-time PMFs from the receipts (weeks, rounded up);
3. blanket-ABC: every stage ``S = mu (L + R) + z sigma sqrt(L + R)`` with z from the
   SKU's ABC class (98/95/90 %);
4. Echelon (training data only): internal stages at the fill level chosen among
   0.5/0.8/0.95 by investment on the training model; for every customer-facing stage,
   12 candidate levels spread (in standard deviations of lead-time demand) around the
   analytic frontier's choice, whose fill rate and stock are *measured on the whole SKU
   network* with the engine on the training model (one run per candidate column serves
   every store: ``echelon_solvers.network_frontier``); the portfolio frontier on those
   measured curves.  Each stage's target is its measured model fill at its level;
5. evaluate both by the network engine (installation base-stock, backorders, common
   random numbers) with demand drawn from the *held-out* demand of each stage (its 26
   realised weeks, and secondary the generator's true process of those weeks; neither
   seen by the optimiser);
6. choose the number of frontier steps so that Echelon's realised portfolio fill equals
   the blanket-ABC's, and compare inventory investment at that equal service;
7. oracle: the same optimiser given the true held-out process (an upper bound that
   separates forecast error from optimiser error);
8. known shape: the same optimiser given the true held-out process with only its scale
   (``mean_size``) estimated from the training weeks; every other parameter of each
   series (occurrence probability, size CV, season amplitude and phase, trend) is the
   generator's.  The scale is the maximum-likelihood estimate from the uncensored,
   non-missing training weeks with positive demand (``known_shape_scale``).  One
   parameter per series instead of five: a (near-)best case for any forecaster that
   learns from the training history, i.e. the bound the history length puts on the
   +-2 pp share.  Also reported: the relative error of each customer-facing stage's
   half-year mean demand (this arm, and the forecaster of step 2).

``--training-periods T`` generates a dataset of T + 26 weeks (another dataset: the
generator's random stream depends on the length) and writes
``results/service_vs_cost_train<T>.json``; the empirical fit still uses the last 52
training weeks, the known-shape scale all T.

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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import special, stats

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import write_result  # noqa: E402
from echelon_solvers.baseline import blanket_abc_levels  # noqa: E402
from echelon_solvers.frontier import allocate_fill_target, portfolio_frontier, stage_curve  # noqa: E402
from echelon_solvers.network_frontier import (  # noqa: E402
    NetworkCurves,
    SkuNetworks,
    candidate_levels,
    lead_time_demand_sd,
    simulated_curves,
)

from platform_core.data.generate import generate_dataset  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.simulation import Costs, Network, Policy, simulate  # noqa: E402

TRAIN = 78
HOLDOUT = 26
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


_TRUTH_COLUMNS = ("occurrence_probability", "size_cv", "mean_size", "season_amplitude", "season_phase",
                  "trend_per_year", "first_period")


def relative_levels(data: dict, weeks: np.ndarray, period_days: int = 7) -> tuple[dict, np.ndarray, np.ndarray]:
    """The truth columns, and each true series' season and trend factors over ``weeks``.

    ``level_t = mean_size * season_t * trend_t`` for series r (``truth/series_truth.parquet``
    order, rows of the returned (series x weeks) arrays): ``season_t = 1 + amp sin(2 pi
    (t + phase))``, ``trend_t = max(0.2, 1 + trend (t - ymean))`` with t in years; the
    generator centres the trend on the mean year of all demand rows.
    """
    tp = data["truth_params"]
    cols = {c: tp.column(c).to_numpy() for c in _TRUTH_COLUMNS}
    periods = data["true"].shape[1]
    counts = periods - cols["first_period"]
    sum_t = (periods - 1) * periods / 2 - (cols["first_period"] - 1) * cols["first_period"] / 2
    ymean = float(sum_t.sum() / counts.sum()) * period_days / 365.25
    years = np.asarray(weeks, dtype=np.float64) * period_days / 365.25
    season = 1 + cols["season_amplitude"][:, None] * np.sin(2 * np.pi * (years[None, :]
                                                                         + cols["season_phase"][:, None]))
    trend = np.maximum(0.2, 1 + cols["trend_per_year"][:, None] * (years[None, :] - ymean))
    return cols, season, trend


def truth_distributions(data: dict, weeks: np.ndarray, period_days: int = 7,
                        mean_size: np.ndarray | None = None) -> list[DiscreteDistribution | None]:
    """The generator's true demand PMF per stage over ``weeks`` (mixture of the weeks).

    Demand in week t: with probability p a size max(1, round(G)), G ~ gamma with mean
    ``level_t`` (season and trend from ``truth/series_truth.parquet``) and CV ``size_cv``.
    ``mean_size`` (one per series, series_truth order) replaces the true scale: the
    known-shape forecaster's PMFs.
    """
    cols, season, trend = relative_levels(data, weeks, period_days)
    scale = cols["mean_size"] if mean_size is None else np.asarray(mean_size, dtype=np.float64)
    out: list[DiscreteDistribution | None] = [None] * data["n"]
    for r, stage in enumerate(data["truth_rows"]):
        level = scale[r] * season[r] * trend[r]
        shape = 1.0 / cols["size_cv"][r] ** 2
        top = int(stats.gamma.isf(1e-9, shape, scale=level.max() / shape)) + 2
        edges = np.arange(1, top + 1) + 0.5  # size k in [k - 0.5, k + 0.5), k = 1 takes G < 1.5
        cdf = stats.gamma.cdf(edges[None, :], shape, scale=(level / shape)[:, None])
        size_pmf = np.diff(np.concatenate([np.zeros((weeks.size, 1)), cdf], axis=1), axis=1).mean(axis=0)
        p = cols["occurrence_probability"][r]
        pmf = np.concatenate([[1.0 - p], p * size_pmf])
        out[int(stage)] = DiscreteDistribution(pmf, 0)
    return out


def _size_loglik(theta: np.ndarray, k: np.ndarray, rel: np.ndarray, shape: np.ndarray,
                 row: np.ndarray, n_rows: int) -> np.ndarray:
    """Per-series log-likelihood of positive sizes ``k`` (one entry per week) at scale ``theta``.

    P(size = k) = P(k - 0.5 <= G < k + 0.5) (k = 1: G < 1.5), G ~ gamma(shape, mean theta rel).
    """
    x = shape / (theta[row] * rel)  # G / scale = gamma(shape, 1) variate, scaled
    lo = np.where(k <= 1, 0.0, (k - 0.5) * x)
    hi = (k + 0.5) * x
    cdf_lo, cdf_hi = special.gammainc(shape, lo), special.gammainc(shape, hi)
    upper = cdf_lo > 0.5  # in the upper tail use survival functions (no cancellation)
    prob = np.where(upper, special.gammaincc(shape, lo) - special.gammaincc(shape, hi), cdf_hi - cdf_lo)
    return np.bincount(row, weights=np.log(np.maximum(prob, 1e-300)), minlength=n_rows)


def known_shape_scale(data: dict, train: int, iterations: int = 40) -> dict[str, np.ndarray]:
    """Maximum-likelihood scale (``mean_size``) per true series, every other parameter known.

    Uses the uncensored, non-missing training weeks 0..train-1 with positive demand: with
    the occurrence probability known, zero weeks carry no information on the scale, and
    stockouts (which only hit weeks with positive true demand, independently of the size)
    leave the uncensored sizes an unbiased sample of the size distribution, so dropping
    censored weeks does not bias the estimate.  The exact discretised likelihood
    (size max(1, round(G))) is maximised by golden-section search in log scale around
    the continuous-gamma MLE ``mean(y_t / rel_t)``, which is also returned ("moment")
    together with the number of positive uncensored weeks per series.  Series without
    any such week get scale 1 (the smallest scale the generator produces).
    """
    cols, season, trend = relative_levels(data, np.arange(train))
    rel_all = season * trend
    rows = data["truth_rows"]
    y = data["observed"][rows, :train]
    ok = ~np.isnan(y) & ~data["stocked_out"][rows, :train] & (np.nan_to_num(y) > 0)
    row, t = np.nonzero(ok)
    k = y[row, t]
    rel = rel_all[row, t]
    shape = (1.0 / cols["size_cv"] ** 2)[row]
    n_rows = rows.size
    n_pos = np.bincount(row, minlength=n_rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        moment = np.bincount(row, weights=k / rel, minlength=n_rows) / n_pos
    moment = np.where(n_pos > 0, moment, 1.0)
    a, b = np.log(moment / 10.0), np.log(moment * 3.0)
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc = _size_loglik(np.exp(c), k, rel, shape, row, n_rows)
    fd = _size_loglik(np.exp(d), k, rel, shape, row, n_rows)
    for _ in range(iterations):
        left = fc > fd  # maximum in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new_c, new_d = b - g * (b - a), a + g * (b - a)
        c_next = np.where(left, new_c, d)
        d_next = np.where(left, c, new_d)
        f_eval = _size_loglik(np.exp(np.where(left, new_c, new_d)), k, rel, shape, row, n_rows)
        fc, fd = np.where(left, f_eval, fd), np.where(left, fc, f_eval)
        c, d = c_next, d_next
    ml = np.where(n_pos > 0, np.exp((a + b) / 2.0), 1.0)
    return {"ml": ml, "moment": moment, "positive_uncensored_weeks": n_pos}


def _means(dists: list[DiscreteDistribution | None], idx: np.ndarray) -> np.ndarray:
    """Means of ``dists`` at stages ``idx`` (NaN where a stage has no demand model)."""
    return np.array([np.nan if (d := dists[i]) is None else d.mean() for i in idx])


def _error_summary(est: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Relative error of estimated vs true half-year mean demand [%]."""
    ok = true > 0
    e = 100.0 * (est[ok] / true[ok] - 1.0)
    a = np.abs(e)
    return {"series": int(ok.sum()), "median_abs_percent": float(np.median(a)),
            "mean_abs_percent": float(np.mean(a)),
            "p25_abs_percent": float(np.quantile(a, 0.25)), "p75_abs_percent": float(np.quantile(a, 0.75)),
            "p90_abs_percent": float(np.quantile(a, 0.9)), "median_signed_percent": float(np.median(e)),
            "share_within_5_percent": float(np.mean(a <= 5.0)), "share_within_10_percent": float(np.mean(a <= 10.0))}


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
    dem_r = res.replicates["demand"]
    short_r = (1.0 - fill_r) * dem_r
    short = short_r.mean(axis=0)
    dem = dem_r.mean(axis=0)
    # per-stage fill as 1 - short / demand (the portfolio's definition), SE over replications
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ratio = np.where(dem > 0, 1.0 - short / np.where(dem > 0, dem, 1.0), np.nan)
        ratio_r = 1.0 - short_r / np.where(dem_r > 0, dem_r, np.nan)
        se = np.nanstd(ratio_r, axis=0, ddof=1) / np.sqrt(np.maximum(np.sum(~np.isnan(ratio_r), axis=0), 1))
    order = np.concatenate(groups)
    out = {}
    for name, v in (("fill", ratio), ("fill_se", se), ("demand", dem), ("short", short),
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


def sku_networks(data: dict, groups: list[np.ndarray], levels: np.ndarray, demand: list) -> SkuNetworks:
    """The portfolio as engine networks (stage order within a network = generator order)."""
    parent = data["parent"]
    nets, lvs, dems, lts, revs, units = [], [], [], [], [], []
    for g in groups:
        local = {int(s): k for k, s in enumerate(g)}
        arcs = tuple((local[int(parent[s])], local[int(s)], 1.0) for s in g if parent[s] >= 0)
        nets.append(Network(len(g), arcs, name=str(data["sku"][g[0]])))
        lvs.append(levels[g].astype(np.float64))
        dems.append({k: demand[s] for k, s in enumerate(g) if demand[s] is not None})
        lts.append([data["lead"][s] for s in g])
        revs.append(np.asarray(data["review"][g]))
        units.append(np.asarray(data["unit_cost"][g], dtype=np.float64))
    return SkuNetworks(nets, lvs, dems, lts, revs, units)


class EchelonPlan:
    """Echelon's plan for one internal fill level, fitted on a demand model only.

    Internal (DC) levels at fill ``ratio`` of their aggregated training demand; the
    customer-facing candidate levels spread around the analytic (METRIC) frontier's
    choice at ``centre_target``; their curves measured on the whole network with the
    engine on ``model`` demand (:mod:`echelon_solvers.network_frontier`); the frontier
    on those measured curves.
    """

    def __init__(self, data: dict, groups: list[np.ndarray], agg_dist: list, model: list, internal: np.ndarray,
                 ratio: float, centre_target: float, sim: dict) -> None:
        n = data["n"]
        self.levels, delay = echelon_internal(data, agg_dist, internal, ratio)
        self.portfolio = sku_networks(data, groups, self.levels, model)
        cf = self.portfolio.customer_facing()
        # customer-facing stages in network order (global stage ids)
        self.leaves = np.concatenate([g[c] for g, c in zip(groups, cf, strict=True)])
        curves = echelon_curves(data, model, self.leaves, delay)
        self.analytic = curves
        centre = allocate_fill_target(curves, centre_target, portfolio_frontier(curves)).levels
        spread = np.empty(self.leaves.size)
        for k, i in enumerate(self.leaves):
            p = int(data["parent"][i])
            lt = _shift(data["lead"][i], delay[p] if p >= 0 else 0.0)
            spread[k] = lead_time_demand_sd(model[i], lt, int(data["review"][i]))
        self.candidates = candidate_levels(centre, spread)
        self.model = simulated_curves(self.portfolio, self.candidates, **sim)
        self.frontier = portfolio_frontier(self.model.curves)
        self.n = n

    def at_target(self, target: float) -> int:
        """Frontier steps reaching the model portfolio fill ``target``."""
        fr = self.frontier
        base = 1.0 - fr.base_short / fr.total_demand
        if base >= target or fr.fill_rate.size == 0:
            return 0
        return min(int(np.searchsorted(fr.fill_rate, target, side="left")) + 1, fr.fill_rate.size)

    def leaf_levels(self, steps: int) -> np.ndarray:
        return self.frontier.levels_at(steps)

    def all_levels(self, steps: int) -> np.ndarray:
        lv = self.levels.copy()
        lv[self.leaves] = self.leaf_levels(steps)
        return lv

    def investment(self, steps: int, curves: NetworkCurves | None = None) -> float:
        c = self.model if curves is None else curves
        return c.fixed_investment + float(c.lookup(self.leaf_levels(steps))["investment"].sum())

    def evaluate(self, demand: list, data: dict, groups: list[np.ndarray], sim: dict) -> NetworkCurves:
        """The same candidate levels measured on other demand (e.g. held out)."""
        pf = sku_networks(data, groups, self.levels, demand)
        return simulated_curves(pf, self.candidates, **sim)

    def steps_for_realised_fill(self, held: NetworkCurves, goal: float) -> int:
        """Fewest frontier steps whose realised portfolio fill on ``held`` reaches ``goal``
        (realised fill is non-decreasing in the steps: each step raises one level)."""
        lo, hi = 0, int(self.frontier.fill_rate.size)
        if held.portfolio_fill(self.leaf_levels(hi)) < goal:
            return hi
        while lo < hi:
            mid = (lo + hi) // 2
            if held.portfolio_fill(self.leaf_levels(mid)) >= goal:
                hi = mid
            else:
                lo = mid + 1
        return lo


def _within(realised: np.ndarray, target: np.ndarray, tol: float = 0.02) -> np.ndarray:
    return np.abs(realised - target) <= tol + 1e-12


def _se_summary(se: np.ndarray) -> dict[str, float]:
    v = se[~np.isnan(se)]
    return {"median_pp": 100.0 * float(np.median(v)), "p95_pp": 100.0 * float(np.quantile(v, 0.95)),
            "max_pp": 100.0 * float(v.max())} if v.size else {}


def informed_arm(data: dict, groups: list[np.ndarray], agg_dist: list, model: list, internal: np.ndarray,
                 ratio: float, base_fill: float, hold_dist: list, truth_dist: list, leaf_mask: np.ndarray,
                 sim_train: dict, sim_hold: dict) -> dict:
    """The optimiser run on another demand model ``model`` (the oracle: the true held-out
    process; known shape: the true process with the scale estimated from training weeks),
    internal levels and fill level as Echelon's, frontier position at the blanket-ABC's
    realised portfolio fill; evaluated on the realised held-out weeks and the true process."""
    n = data["n"]
    plan = EchelonPlan(data, groups, agg_dist, model, internal, ratio, base_fill, sim_train)
    held = plan.evaluate(hold_dist, data, groups, sim_hold)
    steps = plan.steps_for_realised_fill(held, base_fill)
    lv = plan.all_levels(steps)
    tgt = np.full(n, np.nan)
    tgt[plan.leaves] = plan.model.lookup(plan.leaf_levels(steps))["fill_rate"]
    o_h = simulate_portfolio(data, groups, lv, hold_dist, **sim_hold)
    o_t = simulate_portfolio(data, groups, lv, truth_dist, **sim_hold)
    mh = leaf_mask & (o_h["demand"] > 0)
    mt = leaf_mask & (o_t["demand"] > 0)
    return {"plan": plan, "target": tgt, "heldout": o_h, "true": o_t, "mask_heldout": mh, "mask_true": mt,
            "within_heldout": _within(o_h["fill"][mh], tgt[mh]), "within_true": _within(o_t["fill"][mt], tgt[mt])}


def _by_class(data: dict, mask: np.ndarray, within: np.ndarray) -> dict[str, float]:
    """Share within +-2 pp per generator demand class (customer-facing stages in ``mask``)."""
    cls = np.full(data["n"], "", dtype=object)
    cls[data["truth_rows"]] = data["truth_params"].column("demand_class").to_numpy(zero_copy_only=False)
    c = cls[mask]
    return {str(k): float(within[c == k].mean()) for k in sorted(set(c)) if np.any(c == k)}


#: ``--demand-model`` values fitted by a registered forecaster (``calibrated-X``: calibrated(base X)).
FORECASTER_MODELS = ("bootstrap", "calibrated", "auto", "calibrated-auto")


def forecaster_dists(data: dict, train: int, model: str) -> list[DiscreteDistribution | None]:
    """Per-period PMFs of the stages with demand from a registered forecaster fitted on the
    training weeks (stocked-out weeks flagged); ``calibrated`` is told each stage's lead
    time and review period, as a run tells it."""
    from echelon_demand.models import FORECASTERS
    from echelon_demand.plugin import BootstrapForecaster

    from platform_core.components import DemandSeries

    idx = np.flatnonzero(data["has_demand"])
    y = data["observed"][idx, :train]
    so = data["stocked_out"][idx, :train]
    k, t = y.shape
    series = DemandSeries([str(i) for i in idx], y.reshape(-1), so.reshape(-1), np.arange(0, k * t + 1, t))
    if model.startswith("calibrated"):
        base = {"base": model.split("-", 1)[1]} if "-" in model else {}  # calibrated: its default base
        fc = FORECASTERS["calibrated"](**base).fit(series)
        fc.set_replenishment([data["lead"][i] for i in idx], data["review"][idx])
    elif model == "bootstrap":
        fc = BootstrapForecaster().fit(series)
    else:
        fc = FORECASTERS[model]().fit(series)
    out: list[DiscreteDistribution | None] = [None] * data["n"]
    for i, d in zip(idx, fc.period_demand(), strict=True):
        out[int(i)] = d
    return out


def planned_vs_realised(data: dict, leaves: np.ndarray, planned: dict[str, np.ndarray],
                        realised: dict[str, np.ndarray]) -> dict[str, Any]:
    """Planned (the plan's model) vs realised (held-out) fill: portfolio, per ABC and demand class.

    Each fill is ``1 - sum(short) / sum(demand)`` over the group's customer-facing stages
    (``planned``: the model's short and demand at the chosen levels, by stage in
    ``leaves`` order; ``realised``: per stage, global index)."""
    cls = np.full(data["n"], "", dtype=object)
    cls[data["truth_rows"]] = data["truth_params"].column("demand_class").to_numpy(zero_copy_only=False)
    groups: dict[str, np.ndarray] = {"portfolio": np.ones(leaves.size, dtype=bool)}
    for a in ("A", "B", "C"):
        groups[f"abc_{a}"] = data["abc"][leaves] == a
    for c in ("smooth", "erratic", "intermittent", "lumpy"):
        groups[c] = cls[leaves] == c
    out: dict[str, Any] = {}
    for name, g in groups.items():
        if not g.any():
            continue
        p = 1.0 - planned["short"][g].sum() / planned["demand"][g].sum()
        r = 1.0 - realised["short"][leaves[g]].sum() / realised["demand"][leaves[g]].sum()
        out[name] = {"stages": int(g.sum()), "planned_fill_rate": float(p), "realised_fill_rate": float(r),
                     "realised_minus_planned_points": 100.0 * float(r - p)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 SKU-locations")
    ap.add_argument("--stages", type=int, default=None, help="SKU-locations (default 10,000; quick 2,000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--demand-model", choices=("empirical", "seasonal", *FORECASTER_MODELS), default="empirical",
                    help="Echelon's fit of customer-facing demand (the baseline always uses mean/sd)")
    ap.add_argument("--no-oracle", action="store_true", help="skip the oracle (true-distribution) policy")
    ap.add_argument("--no-known-shape", action="store_true",
                    help="skip the known-shape policy (true process, scale estimated from training)")
    ap.add_argument("--training-periods", type=int, default=TRAIN,
                    help=f"training weeks (default {TRAIN}); the dataset has this many + {HOLDOUT} held-out weeks "
                         "(another value generates another dataset and writes service_vs_cost_train<N>.json)")
    args = ap.parse_args()
    train = args.training_periods
    if train < FIT_WINDOW:
        ap.error(f"--training-periods must be >= {FIT_WINDOW}")
    n_stages = args.stages or (2000 if args.quick else 10000)
    reps, periods = 8, 1000
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(Path(tmp) / "data", n_stages, seed=args.seed, periods=train + HOLDOUT)
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

    train_obs = data["observed"][:, train - FIT_WINDOW:train]
    censored = data["stocked_out"][:, train - FIT_WINDOW:train]
    # stocked-out periods are censored: left out of a stage's own fit, imputed by the
    # stage's uncensored mean in the aggregated (internal) series
    train_own = np.where(censored, np.nan, train_obs)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fill_in = np.nanmean(train_own, axis=1, keepdims=True)
    train_agg = aggregate(np.where(censored, np.nan_to_num(fill_in), train_obs), parent)
    if args.demand_model == "seasonal":
        rng = np.random.default_rng(args.seed)
        horizon = np.arange(train, data["true"].shape[1])
        own_dist = [
            seasonal_pmf(data["observed"][i, :train], data["stocked_out"][i, :train], horizon, rng)
            if data["has_demand"][i] else None for i in range(n)
        ]
    elif args.demand_model in FORECASTER_MODELS:
        own_dist = forecaster_dists(data, train, args.demand_model)
    else:
        own_dist = [_pmf(train_own[i]) if data["has_demand"][i] else None for i in range(n)]
    agg_dist = [DiscreteDistribution.from_samples(train_agg[i]) for i in range(n)]
    hold_dist = [_pmf(data["true"][i, train:]) if data["has_demand"][i] else None for i in range(n)]
    weeks = np.arange(train, data["true"].shape[1])
    truth_dist = truth_distributions(data, weeks)
    sim_train = dict(seed=args.seed + 1, replications=reps, periods=periods)
    sim_hold = dict(seed=args.seed + 2, replications=reps, periods=periods)
    sim_fresh = dict(seed=args.seed + 3, replications=reps, periods=periods)

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

    # ---- Echelon, on the training model only: internal fill level, measured curves ----
    plans: dict[float, EchelonPlan] = {}
    candidates: dict[float, float] = {}
    for r in (0.5, 0.8, 0.95):
        plan = EchelonPlan(data, groups, agg_dist, own_dist, internal, r, base_fill_train, sim_train)
        plans[r] = plan
        candidates[r] = plan.investment(plan.at_target(base_fill_train))
    ratio = min(candidates, key=lambda r: candidates[r])
    plan = plans[ratio]
    if not np.array_equal(np.sort(plan.leaves), leaves):
        raise RuntimeError("customer-facing stages differ between the engine networks and the data")
    t_plan = time.perf_counter() - t1

    # ---- evaluation on held-out demand at equal realised portfolio fill --------------
    # The portfolio target is the one protocol knob set on held-out results (equal
    # realised fill for the cost comparison); every stage's target is then its fill on
    # Echelon's own model at the level the frontier gives it, fixed by the plan above.
    held = plan.evaluate(hold_dist, data, groups, sim_hold)
    steps = plan.steps_for_realised_fill(held, base_fill)
    leaf_lv = plan.leaf_levels(steps)
    ech_levels = plan.all_levels(steps)
    ech_target_fill = float(plan.frontier.fill_rate[steps - 1]) if steps > 0 else float("nan")
    target = plan.model.lookup(leaf_lv)
    held_v = held.lookup(leaf_lv)
    # a direct engine run of the final levels reproduces the curve look-up exactly
    ech = simulate_portfolio(data, groups, ech_levels, hold_dist, **sim_hold)
    check_short = float(np.max(np.abs(ech["short"][plan.leaves] - held_v["short"])))
    ech_fill = portfolio_fill(ech, leaf_mask)
    inv_base = float(base["investment"].sum())
    inv_ech = float(ech["investment"].sum())
    savings = 100.0 * (1.0 - inv_ech / inv_base)
    tgt = np.full(n, np.nan)
    tgt[plan.leaves] = target["fill_rate"]
    tgt_se = np.full(n, np.nan)
    tgt_se[plan.leaves] = target["fill_rate_se"]
    measured = leaf_mask & (ech["demand"] > 0)
    within = _within(ech["fill"][measured], tgt[measured])
    w = ech["demand"][measured]
    within_w = float((w * within).sum() / w.sum())
    base_within = _within(base["fill"][measured], base_target[measured])
    # the optimiser's own accuracy: the chosen levels on its model, fresh random numbers
    ech_model = simulate_portfolio(data, groups, ech_levels, own_dist, **sim_fresh)
    m_m = leaf_mask & (ech_model["demand"] > 0)
    model_within = _within(ech_model["fill"][m_m], tgt[m_m])
    # what the analytic (METRIC-shifted) curves alone would have predicted
    analytic = np.full(n, np.nan)
    analytic[plan.leaves] = [float(c.fill_rate[min(int(v), c.levels.size - 1)])
                             for c, v in zip(plan.analytic, leaf_lv, strict=True)]
    analytic_within = _within(ech_model["fill"][m_m], analytic[m_m])
    t_eval = time.perf_counter() - t1 - t_plan

    # ---- the generator's true demand process of the held-out weeks (same levels) ------
    base_t = simulate_portfolio(data, groups, base_levels, truth_dist, **sim_hold)
    ech_t = simulate_portfolio(data, groups, ech_levels, truth_dist, **sim_hold)
    m_t = leaf_mask & (ech_t["demand"] > 0)
    within_t = _within(ech_t["fill"][m_t], tgt[m_t])
    base_within_t = _within(base_t["fill"][m_t], base_target[m_t])
    diff_se = np.sqrt(tgt_se[m_t] ** 2 + ech_t["fill_se"][m_t] ** 2)
    truth_eval = {
        "baseline_inventory_investment_currency": float(base_t["investment"].sum()),
        "baseline_fill_rate": portfolio_fill(base_t, leaf_mask),
        "baseline_share_within_2pp_of_target": float(base_within_t.mean()),
        "echelon_inventory_investment_currency": float(ech_t["investment"].sum()),
        "echelon_fill_rate": portfolio_fill(ech_t, leaf_mask),
        "echelon_share_within_2pp_of_target": float(within_t.mean()),
        "echelon_mean_error_points": 100.0 * float(np.mean(ech_t["fill"][m_t] - tgt[m_t])),
        "echelon_median_abs_error_points": 100.0 * float(np.median(np.abs(ech_t["fill"][m_t] - tgt[m_t]))),
        "savings_percent": 100.0 * (1.0 - float(ech_t["investment"].sum()) / float(base_t["investment"].sum())),
        "per_stage_fill_rate_se": _se_summary(ech_t["fill_se"][m_t]),
        "per_stage_error_se": _se_summary(diff_se),
    }

    # ---- oracle: the same optimiser given the TRUE held-out demand process ------------
    oracle: dict = {}
    oracle_by_class: dict = {}
    if not args.no_oracle:
        o = informed_arm(data, groups, agg_dist, truth_dist, internal, ratio, base_fill, hold_dist, truth_dist,
                         leaf_mask, sim_train, sim_hold)
        oracle = {
            "description": "levels optimised on the generator's true held-out process (not a feasible "
                           "policy; separates forecast error from optimiser error)",
            "inventory_investment_currency": float(o["heldout"]["investment"].sum()),
            "fill_rate": portfolio_fill(o["heldout"], leaf_mask),
            "share_within_2pp_of_target_heldout_sample": float(o["within_heldout"].mean()),
            "share_within_2pp_of_target_true_process": float(o["within_true"].mean()),
        }
        oracle_by_class = _by_class(data, o["mask_true"], o["within_true"])
    t_total = time.perf_counter() - t1

    # ---- known shape: the true process with only the scale estimated from training ----
    known: dict = {}
    ks_scale = known_shape_scale(data, train)
    ks_dist = truth_distributions(data, weeks, mean_size=ks_scale["ml"])
    if not args.no_known_shape:
        k_arm = informed_arm(data, groups, agg_dist, ks_dist, internal, ratio, base_fill, hold_dist, truth_dist,
                             leaf_mask, sim_train, sim_hold)
        k_inv = float(k_arm["heldout"]["investment"].sum())
        known = {
            "description": "levels optimised on the generator's true held-out process with the true "
                           "shape (occurrence probability, size CV, season amplitude and phase, trend) "
                           "and only the scale mean_size estimated from the training weeks (exact "
                           "discretised-gamma maximum likelihood on the uncensored, non-missing positive "
                           "training weeks); a (near-)best case for any forecaster learning from the "
                           "training history",
            "scale_estimator": "maximum likelihood, uncensored positive training weeks",
            "inventory_investment_currency": k_inv,
            "fill_rate": portfolio_fill(k_arm["heldout"], leaf_mask),
            "savings_percent": 100.0 * (1.0 - k_inv / inv_base),
            "known_shape_within_2pp_heldout_sample_share": float(k_arm["within_heldout"].mean()),
            "known_shape_within_2pp_true_process_share": float(k_arm["within_true"].mean()),
            "true_process_fill_rate": portfolio_fill(k_arm["true"], leaf_mask),
            "true_process_mean_error_points": 100.0 * float(np.mean(
                k_arm["true"]["fill"][k_arm["mask_true"]] - k_arm["target"][k_arm["mask_true"]])),
            "true_process_median_abs_error_points": 100.0 * float(np.median(np.abs(
                k_arm["true"]["fill"][k_arm["mask_true"]] - k_arm["target"][k_arm["mask_true"]]))),
            "known_shape_within_2pp_true_process_share_by_demand_class":
                _by_class(data, k_arm["mask_true"], k_arm["within_true"]),
        }
    # relative error of each customer-facing stage's half-year (held-out) mean demand
    true_mean = _means(truth_dist, leaves)
    half_year_error: dict[str, Any] = {
        "reference": "mean of the generator's true process over the held-out weeks, customer-facing stages",
        "current_forecaster": _error_summary(_means(own_dist, leaves), true_mean),
        "known_shape_ml": _error_summary(_means(ks_dist, leaves), true_mean),
    }
    ks_mom = truth_distributions(data, weeks, mean_size=ks_scale["moment"])
    half_year_error["known_shape_moment"] = _error_summary(_means(ks_mom, leaves), true_mean)
    half_year_error["realised_weeks_vs_true_process"] = _error_summary(
        _means(hold_dist, leaves), true_mean)
    n_pos = np.zeros(n)
    n_pos[data["truth_rows"]] = ks_scale["positive_uncensored_weeks"]
    half_year_error["known_shape_positive_uncensored_training_weeks"] = {
        "median": float(np.median(n_pos[leaves])), "min": int(n_pos[leaves].min()),
        "series_without_any": int(np.sum(n_pos[leaves] == 0))}
    if known:
        # how the +-2 pp share depends on the error of the stage's half-year mean
        err = np.full(n, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            err[leaves] = 100.0 * np.abs(_means(ks_dist, leaves) / true_mean - 1.0)
        e_k = err[k_arm["mask_true"]]
        bins = ((0, 2), (2, 5), (5, 10), (10, 20), (20, np.inf))
        known["known_shape_within_2pp_true_process_share_by_abs_mean_error_percent"] = {
            f"{lo}-{hi}": {"stages": int(np.sum((e_k >= lo) & (e_k < hi))),
                           "share": float(k_arm["within_true"][(e_k >= lo) & (e_k < hi)].mean())
                           if np.any((e_k >= lo) & (e_k < hi)) else float("nan")}
            for lo, hi in bins}
    echelon_by_class = _by_class(data, m_t, within_t)
    t_known = time.perf_counter() - t1 - t_total

    rows = [
        ("blanket ABC", inv_base, base_fill, float(base_within.mean())),
        ("Echelon", inv_ech, ech_fill, float(within.mean())),
    ]
    print(f"service vs cost, {n} SKU-locations ({len(groups)} SKU networks), held-out demand "
          f"({reps} x {periods} periods per evaluation)")
    print(f"{'policy':<14}{'investment [currency]':>24}{'portfolio fill':>16}{'within +-2pp':>14}")
    for name, inv, fill, wi in rows:
        print(f"{name:<14}{inv:>24,.0f}{fill:>16.4f}{wi:>14.3f}")
    print("  on the true demand process of the held-out weeks (same levels):")
    print(f"{'blanket ABC':<14}{truth_eval['baseline_inventory_investment_currency']:>24,.0f}"
          f"{truth_eval['baseline_fill_rate']:>16.4f}{truth_eval['baseline_share_within_2pp_of_target']:>14.3f}")
    print(f"{'Echelon':<14}{truth_eval['echelon_inventory_investment_currency']:>24,.0f}"
          f"{truth_eval['echelon_fill_rate']:>16.4f}{truth_eval['echelon_share_within_2pp_of_target']:>14.3f}")
    if oracle:
        print(f"{'oracle':<14}{oracle['inventory_investment_currency']:>24,.0f}{oracle['fill_rate']:>16.4f}"
              f"{oracle['share_within_2pp_of_target_heldout_sample']:>14.3f}   (true process: "
              f"{oracle['share_within_2pp_of_target_true_process']:.3f})")
    if known:
        print(f"{'known shape':<14}{known['inventory_investment_currency']:>24,.0f}{known['fill_rate']:>16.4f}"
              f"{known['known_shape_within_2pp_heldout_sample_share']:>14.3f}   (true process: "
              f"{known['known_shape_within_2pp_true_process_share']:.3f})")
    print("within +-2pp on the true process by demand class: "
          f"Echelon {echelon_by_class}; oracle {oracle_by_class}; known shape "
          f"{known.get('known_shape_within_2pp_true_process_share_by_demand_class', {})}")
    if known:
        print("known shape, true process within +-2pp by |half-year mean error| [%]: "
              + ", ".join(f"{k}: {v['share']:.3f} ({v['stages']})" for k, v in
                          known["known_shape_within_2pp_true_process_share_by_abs_mean_error_percent"].items()))
    print("half-year mean demand, |estimate / true process - 1| [%] over customer-facing stages "
          "(median / p75 / p90; median signed):")
    for key in ("current_forecaster", "known_shape_ml", "known_shape_moment", "realised_weeks_vs_true_process"):
        e = half_year_error[key]
        print(f"  {key:<32}{e['median_abs_percent']:>7.1f}{e['p75_abs_percent']:>7.1f}{e['p90_abs_percent']:>7.1f}"
              f"{e['median_signed_percent']:>+8.1f}")
    print(f"savings at equal fill: {savings:.1f} %   internal fill level chosen: {ratio}   "
          f"portfolio target (model): {ech_target_fill:.4f}")
    print(f"internal-level candidates (training model, investment): {candidates}")
    print(f"model world (fresh random numbers) within +-2pp of target: {model_within.mean():.3f} "
          f"(analytic METRIC curves: {analytic_within.mean():.3f}); demand-weighted held-out share: {within_w:.3f}")
    print(f"per-stage fill SE [pp]: target {_se_summary(tgt_se[measured])}, true-process "
          f"{truth_eval['per_stage_fill_rate_se']}; direct-run check max |short diff| = {check_short:.2e}")
    print(f"time: plan {t_plan:.0f} s, held-out evaluation {t_eval:.0f} s, total {t_total:.0f} s"
          f" (+ known shape {t_known:.0f} s)")
    payload = {
        "command": "python benchmarks/service_vs_cost.py" + (" --quick" if args.quick else "")
        + (f" --demand-model {args.demand_model}" if args.demand_model != "empirical" else "")
        + (f" --training-periods {train}" if train != TRAIN else ""),
        "demand_model": args.demand_model,
        "mode": "quick" if args.quick else "full",
        "sku_locations": int(n),
        "sku_networks": len(groups),
        "customer_facing_stages": int(leaf_mask.sum()),
        "dataset_seed": args.seed,
        "training_periods": train,
        "holdout_periods": int(data["true"].shape[1] - train),
        "simulation": {"replications": reps, "periods": periods, "warmup_periods": 52,
                       "candidate_levels_per_customer_facing_stage": int(plan.candidates.shape[1])},
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
            "target": "fill rate of the chosen level measured on Echelon's training model (network simulation)",
            "model_world_share_within_2pp_of_target": float(model_within.mean()),
            "model_world_share_within_2pp_of_analytic_curve": float(analytic_within.mean()),
            "model_world_fill_rate": portfolio_fill(ech_model, leaf_mask),
            "per_stage_target_se": _se_summary(tgt_se[measured]),
            "per_stage_heldout_fill_se": _se_summary(ech["fill_se"][measured]),
            "direct_run_max_abs_short_difference_units": check_short,
            "internal_fill_level": ratio,
            "portfolio_target_fill_rate_model": ech_target_fill,
            "internal_candidates_investment_currency": {str(k): v for k, v in candidates.items()},
        },
        "savings_percent": savings,
        "planned_vs_realised_heldout": planned_vs_realised(data, plan.leaves, target, ech),
        "planned_vs_realised_true_process": planned_vs_realised(data, plan.leaves, target, ech_t),
        "true_process_evaluation": truth_eval,
        "oracle": oracle,
        "known_shape": known,
        "half_year_mean_demand_relative_error": half_year_error,
        "within_2pp_true_process_share_by_demand_class": {
            "echelon": echelon_by_class, "oracle": oracle_by_class,
            "known_shape": known.get("known_shape_within_2pp_true_process_share_by_demand_class", {})},
        "fill_rate_gap_points": 100.0 * (ech_fill - base_fill),
        "data_seconds": t_load,
        "plan_seconds": t_plan,
        "optimise_and_evaluate_seconds": t_total,
        "known_shape_seconds": t_known,
    }
    for key in ("planned_vs_realised_heldout", "planned_vs_realised_true_process"):
        print(key + ": " + ", ".join(f"{k} {v['planned_fill_rate']:.4f}->{v['realised_fill_rate']:.4f}"
                                     for k, v in payload[key].items()))
    path = write_result("service_vs_cost" + (f"_train{train}" if train != TRAIN else "")
                        + (f"_{args.demand_model}" if args.demand_model in FORECASTER_MODELS else "")
                        + ("_quick" if args.quick else ""), payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
