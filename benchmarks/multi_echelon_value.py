"""Multi-echelon by default (#14): the default solver vs `single_echelon` and blanket ABC.

Usage:
    python benchmarks/multi_echelon_value.py [--quick] [--stages N] [--seed S]
        [--default-solver NAME] [--replay trace|iid] [--oracle] [--dump PATH]

Protocol (all three solvers get the same StageProblems and are judged by the same engine
on demand none of them saw):

1. generate a three-echelon dataset (plants / central DCs -> regional DCs -> stores,
   104 weekly periods, ``service_vs_cost.load``); the first 78 weeks are the training
   window, the last 26 are held out;
2. write the training window as a dataset of its own (demand rows of weeks 0..77,
   receipts received before week 78) and plan it with the real pipeline
   (``load_dataset``, ``plan_dataset`` with the default configuration: forecaster,
   lead-time and cost models as ``echelon run`` uses them); every batch's
   :class:`~platform_core.components.StageProblem` is built once by
   :func:`platform_core.batch.stage_problem`;
3. solve every problem with each solver as registered, default parameters:
   ``multi_echelon`` (the default; ``--default-solver`` names another for development),
   ``single_echelon`` and ``blanket_abc``, at several *target sets* (service level per
   ABC class, the dataset's 98/95/90 % among them; every stage, internal ones too, gets
   its class's target, a null target included).  The blanket-ABC rule's levels for the
   other target sets come from :func:`echelon_solvers.baseline.blanket_abc_levels` on
   the same inputs the solver uses (checked equal to the solver at 98/95/90 %);
4. replay every policy on the held-out weeks with the network engine (installation
   base-stock, backorders; ``service_vs_cost.simulate_portfolio``).  ``--replay trace``
   (default): each stage's 26 realised weeks of true (uncensored) demand as a
   :class:`~platform_core.simulation.DemandSchedule` of point masses, every stage of a
   network on the same week (the realised joint demand, cycled); replications differ by
   lead times only.  ``--replay iid``: each stage's own held-out weeks as an i.i.d.
   empirical PMF (as ``service_vs_cost.py`` does; no dependence between stages);
5. per solver, the curve (realised customer-facing portfolio fill, inventory investment
   of all stages) over the target sets; investments compared at equal realised fill by
   linear interpolation of each curve in fill (never extrapolated: a fill outside a
   curve's range is reported as NaN).  Headline: the default's investment at the fill
   each peer realises with the dataset's targets (98/95/90 %), and on a grid of common
   fills.  Also reported: the internal (DC) stages' fill chosen by the default (the
   solver's own simulated fill, and the fill realised in the replay).

6. where the stock is: each solver's investment and realised fill per group of stages
   (location type, internal / customer-facing, ABC class, demand class of the stage's
   own series) interpolated at blanket ABC's realised fill with the dataset's targets,
   with the weights of the solver's curve (``curve_weights``); and two hybrids at
   98/95/90 %: one method's internal levels with the other's customer-facing ones;
7. ``--oracle``: the default solver and the blanket rule also planned on the held-out
   weeks themselves (``oracle_problems``: each stage's demand the empirical PMF of its
   held-out true weeks, those weeks as the demand history, the replay's lead times), at
   lower target sets too (``ORACLE_TARGET_SETS``), and compared with the training-planned
   curves at equal realised fill: the saving a perfect forecast would give.

Customer-facing stages are those with external demand and no downstream stage; the
wholesale demand of internal DCs is simulated but not part of the portfolio fill.

Prints a table and writes benchmarks/results/multi_echelon_value[_quick].json.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from _harness import write_result  # noqa: E402
from echelon_solvers.baseline import blanket_abc_levels  # noqa: E402
from service_vs_cost import aggregate, load, networks, portfolio_fill, simulate_portfolio  # noqa: E402

from platform_core.batch import stage_problem  # noqa: E402
from platform_core.components import StageProblem  # noqa: E402
from platform_core.config import load_config  # noqa: E402
from platform_core.data.generate import generate_dataset  # noqa: E402
from platform_core.data.loaders import load_dataset  # noqa: E402
from platform_core.distributions import DiscreteDistribution  # noqa: E402
from platform_core.pipeline import plan_dataset, prepare_components  # noqa: E402
from platform_core.plugin_host import PluginHost  # noqa: E402
from platform_core.run_context import RunContext  # noqa: E402
from platform_core.simulation import DemandSchedule  # noqa: E402

TRAIN_WEEKS = 78
HOLDOUT_WEEKS = 26
WARMUP_PERIODS = 52  # simulate_portfolio's warm-up: two cycles of the held-out trace
DATASET_TARGETS = (0.98, 0.95, 0.90)
#: service level per ABC class (A, B, C) [-]; the dataset's own set is the middle one
TARGET_SETS: tuple[tuple[float, float, float], ...] = (
    (0.90, 0.85, 0.80),
    (0.95, 0.90, 0.85),
    DATASET_TARGETS,
    (0.99, 0.98, 0.95),
    (0.995, 0.99, 0.98),
)
QUICK_TARGET_SETS = TARGET_SETS[1:4]
#: target sets of the oracle arms (planned on the held-out weeks: realised fill near the
#: targets, so lower sets reach down to the fills the training-window plans realise)
ORACLE_TARGET_SETS: tuple[tuple[float, float, float], ...] = (
    (0.70, 0.60, 0.50),
    (0.80, 0.70, 0.60),
    (0.90, 0.85, 0.80),
    DATASET_TARGETS,
    (0.995, 0.99, 0.98),
)
PEERS = ("single_echelon", "blanket_abc")
_CHOSEN = re.compile(r"internal stage: fill (\d\.\d+) to its customers chosen")


# ------------------------------------------------------------- data -----------------
def training_dataset(src: Path, dst: Path, train_weeks: int) -> None:
    """``src`` cut to its first ``train_weeks`` weeks: demand rows of those weeks and
    receipts received before their end; the generator's truth is left out."""
    dst.mkdir(parents=True)
    demand = pq.read_table(src / "demand.parquet")
    day = pc.cast(demand.column("period"), pa.int32()).to_numpy()
    end = int(day.min()) + 7 * train_weeks
    pq.write_table(demand.filter(pa.array(day < end)), dst / "demand.parquet")
    receipts = pq.read_table(src / "receipts.parquet")
    received = pc.cast(receipts.column("receipt_date"), pa.int32()).to_numpy()
    pq.write_table(receipts.filter(pa.array(received < end)), dst / "receipts.parquet")
    for f in src.glob("*.parquet"):
        if f.name not in ("demand.parquet", "receipts.parquet"):
            shutil.copy(f, dst / f.name)


def planned_problems(data_dir: Path, solver: str) -> tuple[list[StageProblem], dict[str, Any]]:
    """Every batch's StageProblem as ``echelon run`` builds it (default configuration,
    batches cut for ``solver``), and the components used."""
    host = PluginHost()
    config = load_config(None, {"components": {"solver": solver}}, host=host)
    ctx = RunContext(run_id=uuid.uuid4().hex, data_dir=data_dir, out_dir=data_dir / "unused", config=config)
    specs = prepare_components(host, config, ctx)
    dataset = load_dataset(data_dir, period_days=config.run.period_days)
    shared, batches = plan_dataset(dataset, config, specs)
    problems = [stage_problem(shared, np.arange(b.start, b.stop, dtype=np.int64))[0] for b in batches]
    used = {s: {"name": spec.name, "params": dict(spec.params)} for s, spec in specs.items()}
    return problems, used


# ------------------------------------------------------------ solving ---------------
def with_targets(problem: StageProblem, targets: tuple[float, float, float]) -> StageProblem:
    """``problem`` with every stage's target its ABC class's in ``targets`` (A, B, C;
    a stage without a class counts as C, as in the blanket-ABC rule)."""
    if problem.abc_class is None:
        raise ValueError("the benchmark needs problems with ABC classes (from a dataset)")
    by_class = dict(zip("ABC", targets, strict=True))
    t = np.array([by_class.get(str(c), by_class["C"]) for c in problem.abc_class], dtype=np.float64)
    return dataclasses.replace(problem, service_target=t)


def blanket_levels(problem: StageProblem, targets: tuple[float, float, float]) -> np.ndarray:
    """The blanket-ABC rule's levels with class targets ``targets``, on the inputs
    ``BlanketABCSolver.solve`` uses."""
    mu = np.array([d.mean() for d in problem.period_demand])
    sd = np.array([d.std() for d in problem.period_demand])
    lt = np.array([d.mean() for d in problem.lead_time])
    assert problem.abc_class is not None
    levels, _ = blanket_abc_levels(mu, sd, lt, list(problem.abc_class), problem.review_period,
                                   targets=dict(zip("ABC", targets, strict=True)))
    return levels


def solve_all(problems: Sequence[StageProblem], solve: Callable[[StageProblem], pa.Table],
              row_of: dict[str, int], n: int, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """``columns`` of every problem's table, scattered to the data's stage order."""
    out = {c: np.full(n, None, dtype=object) if c == "message" else np.full(n, np.nan) for c in columns}
    for p in problems:
        table = solve(p)
        rows = np.array([row_of[k] for k in p.keys])
        for c in columns:
            if c == "message":
                if c in table.column_names:
                    out[c][rows] = table.column(c).to_pylist()
            else:
                out[c][rows] = table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
    return out


def oracle_problems(problems: Sequence[StageProblem], data: dict, row_of: dict[str, int],
                    train: int) -> list[StageProblem]:
    """``problems`` planned on the held-out weeks themselves (an oracle): each stage's demand
    the empirical PMF of its held-out true weekly demand (internal stages: own plus all
    descendants', week by week), the held-out weeks as the demand history (the joint
    demand the solver resamples) and the replay's lead times."""
    held = np.where(data["has_demand"][:, None], np.rint(np.nan_to_num(data["true"][:, train:], nan=0.0)), np.nan)
    summed = aggregate(held, data["parent"])
    out = []
    for p in problems:
        rows = np.array([row_of[k] for k in p.keys])
        dem = [DiscreteDistribution.from_samples(summed[r]) for r in rows]
        out.append(dataclasses.replace(p, period_demand=dem, demand_history=held[rows],
                                       lead_time=[data["lead"][r] for r in rows]))
    return out


# ------------------------------------------------------------ replay ----------------
def held_out_demand(data: dict, train: int, mode: str) -> list[DiscreteDistribution | DemandSchedule | None]:
    """Each stage's held-out true demand as a trace (point masses, week by week) or an
    i.i.d. empirical PMF; None for a stage without external demand."""
    true = data["true"][:, train:]
    out: list[DiscreteDistribution | DemandSchedule | None] = []
    for i in range(data["n"]):
        if not data["has_demand"][i]:
            out.append(None)
            continue
        weeks = np.nan_to_num(true[i], nan=0.0)
        if mode == "trace":
            out.append(DemandSchedule([DiscreteDistribution.point(int(round(v))) for v in weeks]))
        else:
            out.append(DiscreteDistribution.from_samples(weeks))
    return out


def curve_value(fill: np.ndarray, investment: np.ndarray, at: float) -> float:
    """Investment interpolated linearly in realised fill at ``at`` (NaN outside the curve)."""
    order = np.argsort(fill, kind="stable")
    f, v = fill[order], investment[order]
    if not f[0] - 1e-12 <= at <= f[-1] + 1e-12:
        return float("nan")
    return float(np.interp(at, f, v))


def curve_weights(fill: np.ndarray, at: float) -> dict[int, float]:
    """The points of a curve and their weights in its linear interpolation at fill ``at``
    (empty outside the curve): ``curve_value`` is ``sum(w * investment[k])``, and any other
    per-point quantity (a group's investment, its short units) is interpolated alike."""
    order = np.argsort(fill, kind="stable")
    f = np.asarray(fill, dtype=np.float64)[order]
    if not f[0] - 1e-12 <= at <= f[-1] + 1e-12:
        return {}
    if f.size == 1 or at <= f[0]:
        return {int(order[0]): 1.0}
    hi = int(min(max(np.searchsorted(f, at, side="left"), 1), f.size - 1))
    span = f[hi] - f[hi - 1]
    w = 1.0 if span <= 0 else float(min(max((at - f[hi - 1]) / span, 0.0), 1.0))
    out = {int(order[hi - 1]): 1.0 - w}
    out[int(order[hi])] = out.get(int(order[hi]), 0.0) + w
    return out


def stage_groups(data: dict, stages: pa.Table, series: pa.Table, internal: np.ndarray,
                 leaf_mask: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of the stages by echelon (location type), position (internal / customer-facing),
    ABC class and Syntetos-Boylan class of the stage's own demand series (the generator's)."""
    n = data["n"]
    out: dict[str, np.ndarray] = {"internal": internal.copy(), "customer_facing": leaf_mask.copy()}
    ltype = np.asarray(stages.column("location_type").to_pylist(), dtype=object)
    for t in ("plant", "central_dc", "regional_dc", "store"):
        out[f"type:{t}"] = ltype == t
    abc = np.asarray(data["abc"], dtype=object)
    for c in "ABC":
        out[f"abc:{c}"] = abc == c
    cls = np.full(n, "", dtype=object)
    cls[data["truth_rows"]] = np.asarray(series.column("demand_class").to_pylist(), dtype=object)
    for c in ("smooth", "erratic", "intermittent", "lumpy"):
        out[f"demand_class:{c}"] = leaf_mask & (cls == c)
    return out


def group_totals(res: dict[str, np.ndarray], groups: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Investment, short and demand [units/period] summed per group of stages."""
    return {g: {"investment_currency": float(res["investment"][m].sum()), "short": float(res["short"][m].sum()),
                "demand": float(res["demand"][m].sum())} for g, m in groups.items()}


def breakdown_at(points: list[dict[str, Any]], at: float) -> dict[str, dict[str, float]]:
    """Per group, investment and realised fill interpolated at portfolio fill ``at`` (the
    weights of :func:`curve_weights` on the solver's curve); empty outside the curve."""
    w = curve_weights(np.array([p["realised_fill_rate"] for p in points]), at)
    if not w:
        return {}
    out: dict[str, dict[str, float]] = {}
    for g in points[0]["groups"]:
        inv = sum(wk * points[k]["groups"][g]["investment_currency"] for k, wk in w.items())
        short = sum(wk * points[k]["groups"][g]["short"] for k, wk in w.items())
        dem = sum(wk * points[k]["groups"][g]["demand"] for k, wk in w.items())
        out[g] = {"investment_currency": inv, "realised_fill_rate": 1.0 - short / dem if dem > 0 else float("nan")}
    return out


def _quantiles(x: np.ndarray) -> dict[str, float]:
    x = x[~np.isnan(x)]
    if not x.size:
        return {}
    q = np.quantile(x, [0.1, 0.25, 0.5, 0.75, 0.9])
    return {"stages": int(x.size), "mean": float(x.mean()), "p10": float(q[0]), "p25": float(q[1]),
            "median": float(q[2]), "p75": float(q[3]), "p90": float(q[4]), "min": float(x.min()),
            "max": float(x.max())}


def _histogram(x: np.ndarray) -> dict[str, int]:
    edges = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0 + 1e-9)
    counts, _ = np.histogram(x[~np.isnan(x)], bins=edges)
    return {f"{lo:.2f}-{min(hi, 1.0):.2f}": int(c) for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)}


def _chosen_fills(messages: np.ndarray, internal: np.ndarray) -> dict[str, int]:
    """Internal stages per candidate fill the solver says it chose (``multi_echelon``'s
    message ``"internal stage: fill 0.80 to its customers chosen ..."``)."""
    found = [m.group(1) for i in np.flatnonzero(internal)
             if isinstance(messages[i], str) and (m := _CHOSEN.search(messages[i]))]
    return {f: found.count(f) for f in sorted(set(found))}


def _label(t: tuple[float, float, float]) -> str:
    return "/".join(f"{100 * v:g}" for v in t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 SKU-locations, three target sets")
    ap.add_argument("--stages", type=int, default=None, help="SKU-locations (default 10,000; quick 1,000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--default-solver", default="multi_echelon",
                    help="the solver judged as the default (another registered name for development)")
    ap.add_argument("--replay", choices=("trace", "iid"), default="trace",
                    help="held-out demand as the realised weekly trace (joint) or i.i.d. per stage")
    ap.add_argument("--oracle", action="store_true",
                    help="also plan on the held-out weeks themselves (an upper bound on what a forecast can give)")
    ap.add_argument("--dump", type=Path, default=None,
                    help="write the per-stage levels and replays at 98/95/90 %% to this pickle (analysis aid)")
    args = ap.parse_args()
    n_stages = args.stages or (1000 if args.quick else 10_000)
    target_sets = QUICK_TARGET_SETS if args.quick else TARGET_SETS
    reps, periods = 8, HOLDOUT_WEEKS * (20 if args.quick else 40)
    default = args.default_solver
    host = PluginHost()
    for name in (default, *PEERS):
        host.solver(name)  # fails early, naming the registered solvers

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        full, train_dir = Path(tmp) / "data", Path(tmp) / "train"
        generate_dataset(full, n_stages, seed=args.seed, periods=TRAIN_WEEKS + HOLDOUT_WEEKS)
        data = load(full)
        stages = pq.read_table(full / "stages.parquet")
        series = pq.read_table(full / "truth" / "series_truth.parquet")
        training_dataset(full, train_dir, TRAIN_WEEKS)
        problems, components = planned_problems(train_dir, default)
    t_data = time.perf_counter() - t0
    n = data["n"]
    keys = [f"{s}@{loc}" for s, loc in zip(stages.column("sku").to_pylist(), stages.column("location").to_pylist(),
                                            strict=True)]
    row_of = {k: i for i, k in enumerate(keys)}
    parent = data["parent"]
    internal = np.zeros(n, dtype=bool)
    internal[parent[parent >= 0]] = True
    leaf_mask = data["has_demand"] & ~internal
    groups = networks(data)
    replay = held_out_demand(data, TRAIN_WEEKS, args.replay)
    sim = dict(seed=args.seed + 2, replications=reps, periods=periods)

    cols = ("base_stock_level", "expected_fill_rate", "message")
    solvers = {name: host.solver(name)() for name in (default, *PEERS)}
    # (arm, solver, its problems, its target sets); the oracle arms plan on the held-out weeks
    arms: list[tuple[str, str, Sequence[StageProblem], tuple[tuple[float, float, float], ...]]] = [
        (name, name, problems, target_sets) for name in solvers]
    if args.oracle:
        truth = oracle_problems(problems, data, row_of, TRAIN_WEEKS)
        oracle_sets = ORACLE_TARGET_SETS[1:] if args.quick else ORACLE_TARGET_SETS
        arms += [(f"{default}_oracle", default, truth, oracle_sets), ("blanket_abc_oracle", "blanket_abc", truth,
                                                                     oracle_sets)]
    by_group = stage_groups(data, stages, series, internal, leaf_mask)
    points: dict[str, list[dict[str, Any]]] = {arm: [] for arm, *_ in arms}
    dc_fill: dict[str, Any] = {}
    levels_at_dataset: dict[str, np.ndarray] = {}
    res_at_dataset: dict[str, dict[str, np.ndarray]] = {}
    solve_seconds: dict[str, float] = {arm: 0.0 for arm, *_ in arms}
    check_blanket = float("nan")
    for arm, name, arm_problems, arm_sets in arms:
        solver = solvers[name]
        for targets in arm_sets:
            t1 = time.perf_counter()
            if name == "blanket_abc":
                levels = np.full(n, np.nan)
                for p in arm_problems:
                    levels[[row_of[k] for k in p.keys]] = blanket_levels(p, targets)
                if targets == DATASET_TARGETS and arm == name:  # the rule as registered gives the same levels
                    real = solve_all(arm_problems, solver.solve, row_of, n, cols)["base_stock_level"]
                    check_blanket = float(np.max(np.abs(real - levels)))
                    if check_blanket > 0:
                        raise RuntimeError(f"blanket_abc_levels differs from the blanket_abc solver by "
                                           f"{check_blanket} units")
                solved = {"base_stock_level": levels}
            else:
                solved = solve_all([with_targets(p, targets) for p in arm_problems], solver.solve, row_of, n, cols)
            solve_seconds[arm] += time.perf_counter() - t1
            levels = solved["base_stock_level"]
            if np.isnan(levels).any():
                raise RuntimeError(f"{arm} left {int(np.isnan(levels).sum())} stages without a level")
            if targets == DATASET_TARGETS:
                levels_at_dataset[arm] = levels
            # simulate_portfolio passes each stage's entry to the engine, which takes schedules too
            res = simulate_portfolio(data, groups, levels, cast(list, replay), **sim)
            point = {
                "targets_abc": list(targets),
                "realised_fill_rate": portfolio_fill(res, leaf_mask),
                "inventory_investment_currency": float(res["investment"].sum()),
                "internal_investment_currency": float(res["investment"][internal].sum()),
                "customer_facing_investment_currency": float(res["investment"][leaf_mask].sum()),
                "groups": group_totals(res, by_group),
            }
            points[arm].append(point)
            if targets == DATASET_TARGETS:
                res_at_dataset[arm] = res
            if arm == default:
                dc = {"targets_abc": list(targets),
                      "chosen_internal_fill_stages": _chosen_fills(solved["message"], internal),
                      "solver_fill_rate": _quantiles(solved["expected_fill_rate"][internal]),
                      "solver_fill_rate_histogram": _histogram(solved["expected_fill_rate"][internal]),
                      "replay_fill_rate": _quantiles(res["fill"][internal])}
                dc_fill[_label(targets)] = dc
            print(f"  {arm:<24} targets {_label(targets):<14} fill {point['realised_fill_rate']:.4f}  "
                  f"investment {point['inventory_investment_currency']:>14,.0f}  ({time.perf_counter() - t1:.0f} s)",
                  flush=True)

    if args.dump:  # per-stage arrays for offline analysis (before the summaries, which can be redone)
        import pickle

        with open(args.dump, "wb") as fh:
            pickle.dump({"points": points, "levels_at_dataset": levels_at_dataset, "dc_fill": dc_fill,
                         "groups": by_group, "parent": data["parent"], "unit_cost": data["unit_cost"],
                         "replay": res_at_dataset}, fh)
    # hybrids at the dataset's targets: one method's internal levels with another's customer-facing ones
    hybrids: dict[str, dict[str, Any]] = {}
    for inner, outer in ((default, "blanket_abc"), ("blanket_abc", default)):
        lv = np.where(internal, levels_at_dataset[inner], levels_at_dataset[outer])
        res = simulate_portfolio(data, groups, lv, cast(list, replay), **sim)
        hybrids[f"internal {inner}, customer-facing {outer}"] = {
            "realised_fill_rate": portfolio_fill(res, leaf_mask),
            "inventory_investment_currency": float(res["investment"].sum()),
            "groups": group_totals(res, by_group)}

    curves = {name: (np.array([p["realised_fill_rate"] for p in pts]),
                     np.array([p["inventory_investment_currency"] for p in pts])) for name, pts in points.items()}
    main_arms = (default, *PEERS)
    lo = max(float(curves[a][0].min()) for a in main_arms)
    hi = min(float(curves[a][0].max()) for a in main_arms)
    grid = [float(x) for x in np.linspace(lo, hi, 5)] if hi > lo else []
    at_dataset = {name: next(p for p in pts if tuple(p["targets_abc"]) == DATASET_TARGETS)
                  for name, pts in points.items()}

    def saving(peer: str, fill: float, mine_arm: str = default) -> float:
        mine, theirs = curve_value(*curves[mine_arm], fill), curve_value(*curves[peer], fill)
        return 100.0 * (1.0 - mine / theirs)

    headline = {}
    for peer in PEERS:
        f = at_dataset[peer]["realised_fill_rate"]
        headline[peer] = {
            "reference": f"{peer}'s realised fill with the dataset's targets (98/95/90 %)",
            "realised_fill_rate": f,
            "peer_inventory_investment_currency": at_dataset[peer]["inventory_investment_currency"],
            "default_inventory_investment_currency": curve_value(*curves[default], f),
            "savings_percent": saving(peer, f),
        }
    grid_rows = [{"realised_fill_rate": f,
                  **{f"{name}_inventory_investment_currency": curve_value(*curves[name], f) for name in main_arms},
                  **{f"savings_vs_{peer}_percent": saving(peer, f) for peer in PEERS}} for f in grid]

    print(f"\nmulti-echelon value: {n} SKU-locations ({len(groups)} networks, {len(problems)} batches), "
          f"held-out replay '{args.replay}' ({reps} x {periods} periods)")
    print(f"{'targets A/B/C [%]':<18}" + "".join(f"{name + ' fill':>22}{'investment':>14}" for name in main_arms))
    for k, targets in enumerate(target_sets):
        print(f"{_label(targets):<18}" + "".join(
            f"{points[name][k]['realised_fill_rate']:>22.4f}{points[name][k]['inventory_investment_currency']:>14,.0f}"
            for name in main_arms))
    print("\nat equal realised customer-facing fill (linear interpolation in fill; investment [currency]):")
    print(f"{'fill':>8}" + "".join(f"{name:>18}" for name in main_arms)
          + "".join(f"{'vs ' + p + ' %':>20}" for p in PEERS))
    for row in grid_rows:
        print(f"{row['realised_fill_rate']:>8.4f}"
              + "".join(f"{row[f'{name}_inventory_investment_currency']:>18,.0f}" for name in main_arms)
              + "".join(f"{row[f'savings_vs_{p}_percent']:>20.1f}" for p in PEERS))
    for peer, h in headline.items():
        print(f"at {peer}'s fill with the dataset's targets ({h['realised_fill_rate']:.4f}): {default} "
              f"{h['default_inventory_investment_currency']:,.0f} vs {h['peer_inventory_investment_currency']:,.0f}"
              f" -> savings {h['savings_percent']:.1f} %")

    # where the stock is, at blanket ABC's realised fill with the dataset's targets
    ref = at_dataset["blanket_abc"]["realised_fill_rate"]
    breakdown = {arm: breakdown_at(points[arm], ref) for arm in points}
    print(f"\nby group at blanket_abc's fill {ref:.4f} (investment [currency] / realised fill, interpolated):")
    print(f"{'group':<24}" + "".join(f"{arm:>30}" for arm in points if breakdown[arm]))
    for g in by_group:
        print(f"{g:<24}" + "".join(
            f"{breakdown[arm][g]['investment_currency']:>20,.0f} / {breakdown[arm][g]['realised_fill_rate']:.3f}"
            for arm in points if breakdown[arm]))
    print("hybrids at 98/95/90 %: " + "; ".join(
        f"{k}: fill {h['realised_fill_rate']:.4f}, investment {h['inventory_investment_currency']:,.0f}"
        for k, h in hybrids.items()))
    oracle: dict[str, Any] = {}
    if args.oracle:
        arm = f"{default}_oracle"
        for peer in (*PEERS, "blanket_abc_oracle"):
            f_peer = curves[peer][0]
            lo_o, hi_o = max(f_peer.min(), curves[arm][0].min()), min(f_peer.max(), curves[arm][0].max())
            rows = [{"realised_fill_rate": float(f), "savings_percent": saving(peer, float(f), arm)}
                    for f in (np.linspace(lo_o, hi_o, 5) if hi_o > lo_o else [])]
            f_ref = at_dataset[peer]["realised_fill_rate"]
            oracle[peer] = {"at_peer_dataset_fill": {"realised_fill_rate": f_ref,
                                                     "savings_percent": saving(peer, f_ref, arm)},
                            "grid": rows}
            print(f"oracle ({arm}) vs {peer}: at its 98/95/90 % fill {f_ref:.4f}: "
                  f"{oracle[peer]['at_peer_dataset_fill']['savings_percent']:.1f} %; over the common range "
                  + ", ".join(f"{r['realised_fill_rate']:.4f}: {r['savings_percent']:.1f} %" for r in rows))
    d = dc_fill[_label(DATASET_TARGETS)]
    print(f"DC (internal) fill chosen by {default} at 98/95/90 %: candidates {d['chosen_internal_fill_stages']}\n"
          f"  solver's simulated fill {d['solver_fill_rate']}\n"
          f"  histogram {d['solver_fill_rate_histogram']}\n  realised in the replay {d['replay_fill_rate']}")
    print("solve time [s]: " + ", ".join(f"{k} {v:.0f}" for k, v in solve_seconds.items())
          + f"; data + planning {t_data:.0f}")

    payload = {
        "command": "python benchmarks/multi_echelon_value.py" + (" --quick" if args.quick else "")
        + (f" --default-solver {default}" if default != "multi_echelon" else "")
        + (f" --replay {args.replay}" if args.replay != "trace" else "")
        + (f" --stages {args.stages}" if args.stages else "") + (" --oracle" if args.oracle else ""),
        "mode": "quick" if args.quick else "full",
        "default_solver": default,
        "peers": list(PEERS),
        "sku_locations": int(n),
        "sku_networks": len(groups),
        "batches": len(problems),
        "customer_facing_stages": int(leaf_mask.sum()),
        "internal_stages": int(internal.sum()),
        "dataset_seed": args.seed,
        "training_weeks": TRAIN_WEEKS,
        "holdout_weeks": HOLDOUT_WEEKS,
        "components": components,
        "replay": {"mode": args.replay, "replications": reps, "periods": periods, "warmup_periods": WARMUP_PERIODS,
                   "seed": sim["seed"]},
        "comparison_method": "per solver, realised customer-facing portfolio fill and inventory investment (all "
                             "stages) on the held-out replay at each target set; investment linearly interpolated "
                             "in realised fill, never extrapolated",
        "points": points,
        "at_equal_fill_grid": grid_rows,
        "headline": headline,
        "breakdown_at_blanket_abc_fill": {"realised_fill_rate": ref, "arms": breakdown},
        "hybrids_at_dataset_targets": hybrids,
        "oracle": oracle,
        "default_internal_fill": dc_fill,
        "blanket_rule_vs_solver_max_abs_level_difference_units": check_blanket,
        "solve_seconds": solve_seconds,
        "data_and_planning_seconds": t_data,
    }
    name = "multi_echelon_value" + ("_quick" if args.quick else "") + ("_iid" if args.replay == "iid" else "")
    if default != "multi_echelon":
        name += f"_{default}"
    path = write_result(name, payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
