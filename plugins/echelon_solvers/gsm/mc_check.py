"""Monte Carlo check of a GSM policy: realised service under real demand and stage times.

The guaranteed-service model sizes base stocks for *bounded* demand and *fixed* stage times
and assumes every supplier always meets its committed service time. :func:`check_solution`
simulates the GSM base stocks with the platform's Monte Carlo engine
(:mod:`platform_core.simulation`) under unbounded normal demand and the stage-time
distributions of the data, and reports the realised service at the demand stages against
the target ``Phi(z)``. :func:`retune_safety_stock` raises the demand stages' safety stocks
until the realised service meets the target.

Mapping of the GSM network onto the engine (one period = ``period_days`` days):

* every GSM stage is an engine stage running installation base-stock at
  ``ceil(B_j)``, ``B_j = mu_j NRT_j + k_j sqrt(NRT_j)`` [units] (the GSM base stock);
  arcs keep their quantity per;
* a deterministic stage time ``T_j`` is the stage's processing time (after all inputs have
  arrived), rounded to whole periods; a stochastic one (normal or discrete in the data) is
  the lead time of every lane into the stage, drawn per shipment (orders may cross). The
  external supplier of a stage without suppliers ships after ``external_inbound_j``;
* the engine reviews at the start of a period, so a customer-facing stage sees its demand
  one period after the GSM would, and a demand stage with committed service time ``S_j > 0``
  only owes its customers delivery ``S_j`` later, while the engine measures immediate
  service. Both are handled by shortening the stage's own time by ``1 + S_j`` periods (every
  replenishment then arrives that much earlier, so immediate service in the simulation is
  service within ``S_j`` of the same sample path). What the stage time cannot absorb raises
  the level to the GSM base stock of a correspondingly longer net replenishment time, the
  increase reported as ``review_allowance_units``. With this a single stage reproduces the
  GSM exactly: the cycle service level is ``P(demand over NRT <= B)``;
* external demand per period is normal(``mu * period_days``, ``sigma * sqrt(period_days)``)
  discretised to the integers and truncated at 0 (so its mean exceeds ``mu`` when the
  coefficient of variation is large), or with ``demand_model="gamma"`` a gamma distribution
  with the same mean and standard deviation;
* stages ship as soon as they have stock (FIFO over customers). An internal stage with a
  committed service time ``S_j > 0`` holds only ``mu NRT_j`` plus safety stock, so its
  customers wait about ``S_j`` on average, but longer when demand exceeds the bound or a
  stage time runs late: the guarantee the GSM relies on does not hold in the simulation,
  and that gap is what the check measures.

The realised cycle service level is the engine's share of periods in which the stage's
external demand was met in full; the fill rate is the share of demand met from stock.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy import stats

from platform_core.distributions import DiscreteDistribution
from platform_core.simulation import Network, Policy, simulate

from .network import GSMNetwork
from .solution import GSMSolution

__all__ = [
    "CheckReport",
    "StageTimeDistribution",
    "TargetSearch",
    "raise_to_target",
    "check_solution",
    "retune_safety_stock",
    "stage_time_distributions",
]

FloatArray = npt.NDArray[np.float64]
_METRICS = ("cycle_service_level", "fill_rate")
DEMAND_MODELS = ("normal", "gamma")


@dataclass(frozen=True)
class StageTimeDistribution:
    """The distribution of a stochastic stage time [days].

    Attributes:
        kind: ``"normal"`` or ``"discrete"``.
        mean: mean [days].
        std: standard deviation [days].
        values: support of a discrete distribution [days] (empty for normal).
        probs: probabilities of ``values`` [-].
    """

    kind: str
    mean: float
    std: float
    values: tuple[float, ...] = ()
    probs: tuple[float, ...] = ()

    def in_periods(self, period_days: float, shift: int = 0) -> DiscreteDistribution:
        """The stage time in whole periods (rounded to nearest), minus ``shift`` (floored at 0).

        Args:
            period_days: length of one period [days].
            shift: periods to subtract (the review offset of customer-facing stages).
        """
        if self.kind == "discrete":
            per = np.floor(np.asarray(self.values, dtype=np.float64) / period_days + 0.5).astype(np.int64)
            per = np.maximum(per - shift, 0)
            pmf = np.zeros(int(per.max()) + 1)
            np.add.at(pmf, per, np.asarray(self.probs, dtype=np.float64))
            return DiscreteDistribution(pmf, 0)
        base = DiscreteDistribution.normal(self.mean / period_days, self.std / period_days)
        if shift == 0:
            return base
        vals = np.maximum(base.support - shift, 0)
        pmf = np.zeros(int(vals.max()) + 1)
        np.add.at(pmf, vals, base.pmf)
        return DiscreteDistribution(pmf, 0)


def stage_time_distributions(chain: str | Path | Mapping[str, Any]) -> dict[str, StageTimeDistribution]:
    """Stochastic stage times of a chain JSON (Willems 2008 format), by stage id.

    Stages with ``stage_time_type`` ``"normal"`` (mean ``stage_time``, std
    ``stage_time_std``) or ``"discrete"`` (``stage_time_distribution`` = ``[[days, prob],
    ...]``) are returned; deterministic stages (and files without these fields, such as the
    ``gsm_reference`` instances) are left out.

    Args:
        chain: the JSON file or its parsed document.

    Raises:
        ValueError: naming the stage for a malformed distribution.
    """
    if isinstance(chain, Mapping):
        data: Mapping[str, Any] = chain
        name = "chain"
    else:
        name = str(chain)
        with Path(chain).open() as fh:
            data = json.load(fh)
    out: dict[str, StageTimeDistribution] = {}
    for st in data.get("stages", []):
        kind = str(st.get("stage_time_type", "deterministic")).lower()
        sid = str(st.get("id"))
        if kind == "normal":
            sd = float(st.get("stage_time_std") or 0.0)
            if sd > 0:
                out[sid] = StageTimeDistribution("normal", float(st["stage_time"]), sd)
        elif kind == "discrete":
            pairs = st.get("stage_time_distribution")
            if not pairs:
                raise ValueError(f"{name}: stage {sid!r} is missing field 'stage_time_distribution'")
            vals = tuple(float(v) for v, _ in pairs)
            probs = tuple(float(p) for _, p in pairs)
            if min(vals) < 0 or min(probs) < 0 or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
                raise ValueError(f"{name}: stage {sid!r} field 'stage_time_distribution' is not a distribution")
            mean = float(np.dot(vals, probs))
            sd = float(np.sqrt(np.dot((np.asarray(vals) - mean) ** 2, probs)))
            out[sid] = StageTimeDistribution("discrete", mean, sd, vals, probs)
    return out


@dataclass
class CheckReport:
    """Realised service of a GSM policy in simulation.

    Attributes:
        table: one row per demand stage: ``stage``, ``target`` (``Phi(z)``), ``level_units``
            (simulated base stock), ``gsm_base_stock_units``, ``safety_stock_units``,
            ``review_allowance_units``, ``cycle_service_level`` and ``fill_rate`` with
            ``_se`` (standard error over replications), ``meets_target`` (point estimate of
            the chosen metric at or above the target), ``significantly_below`` (more than two
            standard errors below), ``mean_demand_per_period`` (realised) and ``mean_on_hand_units``.
        stages_table: one row per stage: ``stage``, ``is_demand_stage``, ``service_time_days``
            (committed), ``level_units``, ``fill_rate`` (share of orders and demand served
            from stock at once), ``mean_backorders_units`` (external) and
            ``mean_owed_downstream_units`` (customer orders waiting).
        metric: the metric compared with the target (``cycle_service_level`` or ``fill_rate``).
        levels: simulated base stock per stage [units].
        totals: ``n_demand_stages``, ``n_meeting_target``, ``n_significantly_below``,
            demand-weighted
            ``fill_rate`` and ``cycle_service_level``, ``mean_target``,
            ``worst_shortfall`` (largest target minus realised), ``mean_on_hand_units``.
        settings: replications, periods, warmup, seed, period_days, crossing.
        notes: modelling caveats that apply to this network.
    """

    table: pa.Table
    stages_table: pa.Table
    metric: str
    levels: FloatArray
    totals: dict[str, float]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (non-finite numbers become ``None``)."""
        return _finite({
            "metric": self.metric,
            "totals": dict(self.totals),
            "settings": dict(self.settings),
            "notes": list(self.notes),
            "demand_stages": self.table.to_pylist(),
            "stages": self.stages_table.to_pylist(),
        })

    def format(self) -> str:
        """The demand-stage table as text."""
        rows = self.table.to_pylist()
        width = max([10] + [len(str(r["stage"])) for r in rows])
        lines = [f"{'stage':<{width}} {'target':>7} {'CSL':>7} {'+-SE':>6} {'fill':>7} {'+-SE':>6} "
                 f"{'level':>9} {'GSM B':>9}  ok"]
        for r in rows:
            lines.append(
                f"{r['stage']:<{width}} {r['target']:>7.4f} {r['cycle_service_level']:>7.4f} "
                f"{r['cycle_service_level_se']:>6.4f} {r['fill_rate']:>7.4f} {r['fill_rate_se']:>6.4f} "
                f"{r['level_units']:>9.0f} {r['gsm_base_stock_units']:>9.1f}  "
                f"{'yes' if r['meets_target'] else 'NO' if r['significantly_below'] else 'no'}")
        t = self.totals
        lines.append(f"{int(t['n_meeting_target'])} of {int(t['n_demand_stages'])} demand stages meet "
                     f"the target on {self.metric} ({int(t['n_significantly_below'])} more than 2 SE "
                     f"below: NO); demand-weighted CSL {t['cycle_service_level']:.4f}, "
                     f"fill rate {t['fill_rate']:.4f} (mean target {t['mean_target']:.4f})")
        return "\n".join(lines)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------- mapping
@dataclass
class _Model:
    net: Network
    demand: dict[int, DiscreteDistribution]
    lead: dict[tuple[int, int], int | DiscreteDistribution]
    processing: list[int]
    demand_stages: FloatArray  # indices (int)
    allowance: FloatArray  # review allowance per stage [units]
    notes: list[str]


def _periods(days: float, period_days: float) -> int:
    return max(0, int(math.floor(days / period_days + 0.5)))


def _demand_distribution(mean: float, sd: float, model: str) -> DiscreteDistribution:
    """Demand per period: normal truncated at 0, or a gamma with the same mean and sd."""
    if model == "normal" or sd <= 0 or mean <= 0:
        return DiscreteDistribution.normal(mean, sd)
    shape, scale = (mean / sd) ** 2, sd * sd / mean
    hi = int(np.ceil(stats.gamma.isf(1e-12, shape, scale=scale))) + 1
    edges = np.concatenate([[0.0], np.arange(hi + 1) + 0.5])
    pmf = np.diff(stats.gamma.cdf(edges, shape, scale=scale))
    return DiscreteDistribution(pmf, 0)


def _build_model(network: GSMNetwork, dists: Mapping[str, StageTimeDistribution],
                 period_days: float, nrt_days: FloatArray, service_days: FloatArray,
                 demand_model: str) -> _Model:
    n = network.n_stages
    up, down, q = network.edge_up.tolist(), network.edge_down.tolist(), network.quantity_per.tolist()
    has_supplier = np.zeros(n, dtype=bool)
    has_customer = np.zeros(n, dtype=bool)
    has_supplier[network.edge_down] = True
    has_customer[network.edge_up] = True
    is_demand = (network.avg_demand > 0) | (network.std_demand > 0)
    notes: list[str] = []
    unknown = sorted(set(dists) - set(network.ids))
    if unknown:
        raise ValueError(f"{network.name}: stage_time_distributions names unknown stage {unknown[0]!r}")
    demand: dict[int, DiscreteDistribution] = {}
    biased = []
    for j in np.flatnonzero(is_demand).tolist():
        mean = float(network.avg_demand[j]) * period_days
        dist = _demand_distribution(mean, float(network.std_demand[j]) * math.sqrt(period_days),
                                    demand_model)
        if dist.mean() > 1.02 * mean + 1e-9:
            biased.append(f"{network.ids[j]} (+{100 * (dist.mean() / mean - 1):.0f} %)")
        demand[j] = dist
    if biased:
        notes.append("normal demand truncated at 0 has a higher mean than the GSM assumes at "
                     + ", ".join(biased[:5]) + (" ..." if len(biased) > 5 else "")
                     + "; demand_model='gamma' keeps mean and standard deviation")
    processing = [0] * n
    lead: dict[tuple[int, int], int | DiscreteDistribution] = {}
    allowance = np.zeros(n)
    ext_ignored = []
    for j in range(n):
        sid = network.ids[j]
        # periods by which a customer-facing demand stage's own time is shortened: one for the
        # review offset plus its committed service time (customers accept delivery S_j late)
        shift = 0
        if is_demand[j] and not has_customer[j]:
            shift = 1 + _periods(float(service_days[j]), period_days)
        ext = _periods(float(network.external_inbound[j]), period_days)
        if has_supplier[j] and ext > 0:
            ext_ignored.append(sid)
        inbound = [(u, j) for u, d in zip(up, down, strict=True) if d == j] or [(-1, j)]
        st_dist = dists.get(sid)
        if st_dist is None:
            t = _periods(float(network.stage_time[j]), period_days)
            use = min(t, shift)
            processing[j] = t - use
            for lane in inbound:
                lead[lane] = ext if lane[0] < 0 else 0
        else:
            use = min(shift, int(st_dist.in_periods(period_days).offset))
            pmf = st_dist.in_periods(period_days, use)
            if ext:
                pmf = pmf.convolve(DiscreteDistribution.point(ext))
            for lane in inbound:
                lead[lane] = pmf
        rest = shift - use
        if rest > 0:
            # what no stage time can absorb: size it as the GSM would (NRT ``rest`` periods longer)
            nrt = float(nrt_days[j])
            extra = rest * period_days
            allowance[j] = (float(network.pooled_mean[j]) * extra + float(network.demand_bound[j])
                            * (math.sqrt(nrt + extra) - math.sqrt(nrt)))
        if st_dist is not None:
            if len(inbound) > 1:
                notes.append(f"stage {sid!r}: its stochastic stage time is drawn on each of its "
                             f"{len(inbound)} inbound lanes independently (kits wait for the latest)")
    if ext_ignored:
        notes.append("external inbound service times of stages with internal suppliers are ignored: "
                     + ", ".join(ext_ignored[:5]) + (" ..." if len(ext_ignored) > 5 else ""))
    mixed = [network.ids[j] for j in range(n) if is_demand[j] and has_customer[j]]
    if mixed:
        notes.append("demand stages that also supply other stages see their external demand one "
                     "period late (no review-offset correction): " + ", ".join(mixed[:5]))
    frac = [network.ids[j] for j in range(n) if network.ids[j] not in dists
            and abs(network.stage_time[j] / period_days - round(network.stage_time[j] / period_days)) > 1e-9]
    if frac:
        notes.append(f"{len(frac)} deterministic stage time(s) are rounded to whole periods of "
                     f"{period_days:g} day(s)")
    net = Network(n, tuple((u, d, qq) for u, d, qq in zip(up, down, q, strict=True)),
                  stage_names=tuple(network.ids), name=network.name)
    return _Model(net, demand, lead, processing, np.flatnonzero(is_demand).astype(np.float64),
                  allowance, notes)


def _targets(network: GSMNetwork, idx: Sequence[int],
             target: float | Sequence[float] | Mapping[str, float] | None) -> FloatArray:
    if target is None:
        return np.array([NormalDist().cdf(float(network.z[j])) for j in idx])
    if isinstance(target, Mapping):
        return np.array([float(target.get(network.ids[j], NormalDist().cdf(float(network.z[j]))))
                         for j in idx])
    arr = np.asarray(target, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(len(idx), float(arr))
    if arr.shape != (len(idx),):
        raise ValueError("target: one value, one per demand stage, or a mapping by stage id")
    return arr


@dataclass
class _Sim:
    model: _Model
    replications: int
    periods: int
    warmup: int
    seed: int
    crossing: bool

    def run(self, levels_list: Sequence[FloatArray]) -> list[dict[str, np.ndarray]]:
        m = self.model
        k = len(levels_list)
        nets = [m.net] * k
        # the same seed for every candidate: common random numbers
        res = simulate(
            nets, [Policy.base_stock(lv) for lv in levels_list], [m.demand] * k,
            lead_times=[m.lead] * k, seeds=np.full(k, self.seed_u64(), dtype=np.uint64),
            replications=self.replications, periods=self.periods, warmup=self.warmup,
            crossing=self.crossing, processing_times=[m.processing] * k,
        )
        return [res.for_network(i) for i in range(k)]

    def seed_u64(self) -> np.uint64:
        from platform_core.seeds import stage_seed
        return np.uint64(stage_seed(int(self.seed), self.model.net.name or "gsm"))


def _default_warmup(network: GSMNetwork, period_days: float) -> int:
    horizon = float(np.max(network.max_inbound + network.stage_time)) if network.n_stages else 0.0
    return int(max(100, math.ceil(3 * horizon / period_days)))


def _gsm_levels(network: GSMNetwork, solution: GSMSolution) -> FloatArray:
    if list(solution.ids) != list(network.ids):
        raise ValueError(f"{network.name}: the solution's stages do not match the network")
    return np.maximum(np.ceil(np.asarray(solution.base_stock, dtype=np.float64) - 1e-9), 0.0) + 0.0


def _report(network: GSMNetwork, solution: GSMSolution, model: _Model, levels: FloatArray,
            out: dict[str, np.ndarray], targets: FloatArray, metric: str,
            settings: dict[str, Any]) -> CheckReport:
    idx = model.demand_stages.astype(np.int64)
    csl, csl_se = out["cycle_service_level"][idx], out["cycle_service_level_se"][idx]
    fr, fr_se = out["fill_rate"][idx], out["fill_rate_se"][idx]
    real = csl if metric == "cycle_service_level" else fr
    real_se = np.nan_to_num(csl_se if metric == "cycle_service_level" else fr_se)
    meets = real >= targets - 1e-12
    significant = real < targets - 2.0 * real_se - 1e-12
    dem = out["demand"][idx]
    table = pa.table({
        "stage": pa.array([network.ids[j] for j in idx.tolist()], pa.string()),
        "target": pa.array(targets, pa.float64()),
        "cycle_service_level": pa.array(csl, pa.float64()),
        "cycle_service_level_se": pa.array(np.nan_to_num(csl_se), pa.float64()),
        "fill_rate": pa.array(fr, pa.float64()),
        "fill_rate_se": pa.array(np.nan_to_num(fr_se), pa.float64()),
        "meets_target": pa.array(meets, pa.bool_()),
        "significantly_below": pa.array(significant, pa.bool_()),
        "service_time_days": pa.array(solution.service_times[idx], pa.float64()),
        "level_units": pa.array(levels[idx], pa.float64()),
        "gsm_base_stock_units": pa.array(solution.base_stock[idx], pa.float64()),
        "safety_stock_units": pa.array(solution.safety_stock[idx], pa.float64()),
        "review_allowance_units": pa.array(model.allowance[idx], pa.float64()),
        "mean_demand_per_period": pa.array(dem, pa.float64()),
        "gsm_mean_demand_per_period": pa.array(network.avg_demand[idx] * settings["period_days"],
                                               pa.float64()),
        "mean_on_hand_units": pa.array(out["on_hand"][idx], pa.float64()),
    })
    is_dem = np.zeros(network.n_stages, dtype=bool)
    is_dem[idx] = True
    stages_table = pa.table({
        "stage": pa.array(list(network.ids), pa.string()),
        "is_demand_stage": pa.array(is_dem, pa.bool_()),
        "service_time_days": pa.array(solution.service_times, pa.float64()),
        "level_units": pa.array(levels, pa.float64()),
        "fill_rate": pa.array(out["fill_rate"], pa.float64()),
        "mean_backorders_units": pa.array(out["backorders"], pa.float64()),
        "mean_owed_downstream_units": pa.array(out["owed_downstream"], pa.float64()),
        "mean_on_hand_units": pa.array(out["on_hand"], pa.float64()),
    })
    w = dem / dem.sum() if dem.sum() > 0 else np.full(len(idx), 1.0 / max(len(idx), 1))
    totals = {
        "n_demand_stages": float(len(idx)),
        "n_meeting_target": float(meets.sum()),
        "n_significantly_below": float(significant.sum()),
        "cycle_service_level": float(np.dot(w, np.nan_to_num(csl))),
        "fill_rate": float(np.dot(w, np.nan_to_num(fr))),
        "mean_target": float(targets.mean()) if len(idx) else float("nan"),
        "worst_shortfall": float(np.max(targets - real)) if len(idx) else 0.0,
        "mean_on_hand_units": float(np.sum(out["on_hand"])),
    }
    return CheckReport(table=table, stages_table=stages_table, metric=metric, levels=levels.copy(),
                       totals=totals, settings=dict(settings), notes=list(model.notes))


def _prepare(network: GSMNetwork, solution: GSMSolution, stage_time_distributions: Mapping[str, StageTimeDistribution] | None,
             replications: int, periods: int, warmup: int | None, seed: int, period_days: float,
             crossing: bool, metric: str, demand_model: str) -> tuple[_Sim, dict[str, Any]]:
    if not (period_days > 0 and math.isfinite(period_days)):
        raise ValueError("period_days must be a finite number > 0")
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {', '.join(_METRICS)}")
    if demand_model not in DEMAND_MODELS:
        raise ValueError(f"demand_model must be one of {', '.join(DEMAND_MODELS)}")
    model = _build_model(network, stage_time_distributions or {}, period_days,
                         np.asarray(solution.net_replenishment_times, dtype=np.float64),
                         np.asarray(solution.service_times, dtype=np.float64), demand_model)
    if model.demand_stages.size == 0:
        raise ValueError(f"{network.name}: the network has no demand stage")
    wu = _default_warmup(network, period_days) if warmup is None else int(warmup)
    sim = _Sim(model, int(replications), int(periods), wu, int(seed), bool(crossing))
    settings = {"replications": int(replications), "periods": int(periods), "warmup": wu,
                "seed": int(seed), "period_days": float(period_days), "crossing": bool(crossing),
                "demand_model": demand_model,
                "stochastic_stage_times": len(stage_time_distributions or {})}
    return sim, settings


def check_solution(
    network: GSMNetwork,
    solution: GSMSolution,
    *,
    stage_time_distributions: Mapping[str, StageTimeDistribution] | None = None,
    replications: int = 10,
    periods: int = 2000,
    warmup: int | None = None,
    seed: int = 0,
    period_days: float = 1.0,
    crossing: bool = True,
    target: float | Sequence[float] | Mapping[str, float] | None = None,
    metric: str = "cycle_service_level",
    levels: Sequence[float] | FloatArray | None = None,
    demand_model: str = "normal",
) -> CheckReport:
    """Simulate a GSM policy and compare the realised service at demand stages with the target.

    Args:
        network: the GSM network.
        solution: its solution (base stocks are simulated, rounded up to whole units).
        stage_time_distributions: stochastic stage times by stage id (see
            :func:`stage_time_distributions`); stages not listed keep their fixed time.
        replications: independent replications.
        periods: measured periods per replication.
        warmup: periods discarded per replication (default: three times the longest
            cumulative stage time, at least 100).
        seed: run seed (the same seed gives the same demand and stage-time draws).
        period_days: length of one simulated period [days].
        crossing: stochastic stage times are drawn per shipment, so orders can overtake.
        target: service target per demand stage (default ``Phi(z_j)``): a number, one per
            demand stage (network order) or ``{stage id: target}``.
        metric: the realised metric compared with the target: ``cycle_service_level`` (share
            of periods without a stock-out, the GSM's ``Phi(z)``) or ``fill_rate``.
        levels: base-stock levels to simulate instead of the solution's [units].
        demand_model: ``"normal"`` (normal per period discretised to the integers and
            truncated at 0; with a coefficient of variation near 1 or above this raises the
            mean, see the report's notes) or ``"gamma"`` (same mean and standard deviation,
            non-negative, discretised).

    Returns:
        The :class:`CheckReport`.

    Raises:
        ValueError: for bad settings, a solution of another network, or no demand stage.
    """
    sim, settings = _prepare(network, solution, stage_time_distributions, replications, periods, warmup,
                             seed, period_days, crossing, metric, demand_model)
    lv = _gsm_levels(network, solution) if levels is None else np.asarray(levels, dtype=np.float64)
    if lv.shape != (network.n_stages,):
        raise ValueError("levels: one value per stage")
    lv = lv + np.ceil(sim.model.allowance - 1e-9)
    idx = sim.model.demand_stages.astype(np.int64).tolist()
    out = sim.run([lv])[0]
    return _report(network, solution, sim.model, lv, out, _targets(network, idx, target), metric,
                   settings)


_T = TypeVar("_T")


@dataclass
class TargetSearch(Generic[_T]):
    """Result of :func:`raise_to_target`.

    Attributes:
        levels: levels of all stages after the search [units].
        missing: per searched stage, whether it still misses its target (search cap hit).
        first: what ``realised`` returned at the starting levels (the check before re-tuning).
        last: what ``realised`` returned at ``levels``.
        runs: number of ``realised`` calls.
    """

    levels: FloatArray
    missing: npt.NDArray[np.bool_]
    first: _T
    last: _T
    runs: int


def raise_to_target(
    realised: Callable[[FloatArray], tuple[FloatArray, _T]],
    base: FloatArray,
    idx: npt.NDArray[np.int64],
    targets: FloatArray,
    step: FloatArray,
    *,
    lower: FloatArray | None = None,
    max_doublings: int = 20,
) -> TargetSearch[_T]:
    """Smallest whole levels of the stages ``idx`` whose realised service meets their targets.

    The search behind :func:`retune_safety_stock`, for any simulation: ``realised(levels)``
    returns the realised service of the stages ``idx`` (and anything else, kept as
    ``first`` / ``last``). It must use the same random numbers on every call (common random
    numbers), so that service is monotone in a stage's level and the search is exact for
    the sample. The level of every stage that misses is raised by ``step``, doubling the
    step, until all meet their targets (at most ``max_doublings`` rounds); then each is
    bisected to the smallest whole unit that meets it, all stages at once; stages that
    interact through shared suppliers are re-confirmed (up to 10 unit raises).

    Args:
        realised: levels of all stages [units] -> (service at ``idx`` [-], extra).
        base: starting levels of all stages [units] (whole units).
        idx: the stages searched (indices into ``base``).
        targets: service target per searched stage [-].
        step: first raise per searched stage [units] (>= 1).
        lower: with it, stages that already meet their target are lowered down to (not
            below) ``lower`` [units], per searched stage; without it they keep ``base``.
        max_doublings: cap on the raising rounds.
    """
    runs = 1
    real0, first = realised(base)
    ok0 = real0 >= targets - 1e-12
    # per searched stage: lo fails (or is below the floor), hi meets
    lo = base[idx].copy()
    hi = base[idx].copy()
    step = np.asarray(step, dtype=np.float64).copy()
    if lower is not None:  # search [lower, base] for stages that already meet the target
        lo = np.where(ok0, np.minimum(lower, base[idx]) - 1, lo)
    missing = ~ok0
    levels = base.copy()
    for _ in range(max_doublings):
        if not missing.any():
            break
        hi = np.where(missing, hi + step, hi)
        step = np.where(missing, step * 2, step)
        levels[idx] = hi
        real, _ = realised(levels)
        runs += 1
        now_ok = real >= targets - 1e-12
        lo = np.where(missing & ~now_ok, hi, lo)
        missing = missing & ~now_ok
    # bisection on whole units, all stages at once (invariant: lo misses, hi meets)
    while True:
        active = ~missing & (hi - lo > 1)
        if not active.any():
            break
        mid = np.where(active, np.floor((lo + hi) / 2), hi)
        levels[idx] = mid
        real, _ = realised(levels)
        runs += 1
        good = real >= targets - 1e-12
        hi = np.where(active & good, mid, hi)
        lo = np.where(active & ~good, mid, lo)
    levels[idx] = hi
    real, last = realised(levels)
    runs += 1
    for _ in range(10):  # stages interact only through shared suppliers: re-confirm
        short = ~missing & (real < targets - 1e-12)
        if not short.any():
            break
        levels[idx] = np.where(short, levels[idx] + 1, levels[idx])
        real, last = realised(levels)
        runs += 1
    return TargetSearch(levels, missing, first, last, runs)


def retune_safety_stock(
    network: GSMNetwork,
    solution: GSMSolution,
    target: float | Sequence[float] | Mapping[str, float] | None = None,
    *,
    stage_time_distributions: Mapping[str, StageTimeDistribution] | None = None,
    metric: str = "cycle_service_level",
    holding_rate: float | None = None,
    allow_decrease: bool = False,
    replications: int = 10,
    periods: int = 2000,
    warmup: int | None = None,
    seed: int = 0,
    period_days: float = 1.0,
    crossing: bool = True,
    max_doublings: int = 20,
    demand_model: str = "normal",
) -> tuple[FloatArray, CheckReport]:
    """Raise the demand stages' safety stocks until the realised service meets the target.

    Each demand stage gets its own extra safety stock (upstream levels stay as the GSM set
    them). A demand stage's level hardly changes what its suppliers see (base-stock orders
    repeat demand), so the stages are searched together: the extra stock of every stage that
    misses its target is doubled until all meet it, then each is bisected to the smallest
    whole unit that meets it. Every candidate is simulated with the same random numbers
    (common random numbers), so the realised service is monotone in the level and the search
    is exact for the sample; the returned report is that same sample (in-sample).

    Args:
        network: the GSM network.
        solution: its solution.
        target: as in :func:`check_solution` (default ``Phi(z_j)``).
        stage_time_distributions: stochastic stage times by stage id.
        metric: ``cycle_service_level`` or ``fill_rate``.
        holding_rate: annual holding rate [1/year]; with it the report's totals give the extra
            annual holding cost ``extra_cost_per_year``.
        allow_decrease: also lower the levels of demand stages that beat the target (never
            below the level without safety stock, ``ceil(mu NRT)``).
        replications: as in :func:`check_solution`.
        periods: as in :func:`check_solution`.
        warmup: as in :func:`check_solution`.
        seed: as in :func:`check_solution`; every candidate uses the same random numbers.
        period_days: as in :func:`check_solution` [days].
        crossing: as in :func:`check_solution`.
        max_doublings: cap on the doubling phase; stages still short are reported as not
            meeting the target.
        demand_model: as in :func:`check_solution`.

    Returns:
        (levels per stage [units], the report at those levels). The report's totals also hold
        ``extra_safety_stock_units``, ``extra_inventory_value`` [currency] and, with
        ``holding_rate``, ``extra_cost_per_year`` [currency/year]; its table holds per demand
        stage ``extra_units`` and ``multiplier`` (new / GSM safety stock).
    """
    sim, settings = _prepare(network, solution, stage_time_distributions, replications, periods, warmup,
                             seed, period_days, crossing, metric, demand_model)
    idx = sim.model.demand_stages.astype(np.int64)
    targets = _targets(network, idx.tolist(), target)
    base = _gsm_levels(network, solution) + np.ceil(sim.model.allowance - 1e-9)
    floor_lv = np.ceil(solution.base_stock - solution.safety_stock - 1e-9) + np.ceil(sim.model.allowance - 1e-9)

    def realised(levels: FloatArray) -> tuple[FloatArray, dict[str, np.ndarray]]:
        out = sim.run([levels])[0]
        return out[metric][idx], out

    step = np.maximum(np.ceil(np.maximum(solution.safety_stock[idx], network.demand_bound[idx]
                                         * math.sqrt(period_days)) * 0.25), 1.0)
    search = raise_to_target(realised, base, idx, targets, step,
                             lower=floor_lv[idx] if allow_decrease else None, max_doublings=max_doublings)
    levels, missing, last_out = search.levels, search.missing, search.last
    report = _report(network, solution, sim.model, levels, last_out, targets, metric, settings)
    extra = levels[idx] - base[idx]
    ss = solution.safety_stock[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        mult = np.where(ss > 0, (ss + extra) / ss, np.nan)
    report.table = report.table.append_column("extra_units", pa.array(extra, pa.float64()))
    report.table = report.table.append_column("multiplier", pa.array(mult, pa.float64()))
    value = float(np.dot(extra, network.value[idx]))
    report.totals["extra_safety_stock_units"] = float(extra.sum())
    report.totals["extra_inventory_value"] = value
    if holding_rate is not None:
        report.totals["extra_cost_per_year"] = float(holding_rate) * value
    report.settings["retuned"] = True
    if missing.any():
        report.notes.append("target not reached within the search cap at: "
                            + ", ".join(network.ids[j] for j in idx[missing].tolist()))
    return levels, report
