"""Generated outcome periods with a known effect of adoption and a known override behaviour.

A world in which the run's models are right, so that the truth is known exactly:

* **Levels.**  Before its wave starts, and in the control group throughout, a
  SKU-location holds today's level.  From its wave's start a treated SKU-location holds
  the recommended level — except exactly ``round(override_rate x treated)`` of each wave's
  treated SKU-locations (drawn at random), which a planner overrides to
  ``recommended + round(override_pull x (today - recommended))`` (at least one unit away
  from the recommendation; towards today's level, upwards when they are equal).
* **Fill.**  At level ``L`` the true fill ``p(L)`` is the run's expected fill, linear in
  the level between today's (``today_fill``) and the recommended one (``promised_fill``);
  ``promise_drift`` lowers it by the given amount [-] for every treated post row of a
  demand class (the drift ``echelon monitor`` must find).  Demand is Poisson with mean
  ``demand_per_period x season_t x network shock``, the shock gamma with mean 1 and CV
  ``network_cv``, common to a network's SKU-locations in a period; sales are
  ``Binomial(demand, p)``.
* **Inventory.**  On-hand is the run's expected on-hand at the level (linear in the level
  between today's and the recommended, as fill) x ``season_t`` x a network shock (mean 1,
  CV ``network_cv``) x a SKU-location noise (gamma, mean 1, CV ``on_hand_cv``).
  ``season_t = 1 + 0.1 sin(2 pi t / 52)`` is common to everyone (a trend the difference
  in differences must remove).

The **true effect** of wave ``w`` (intention to treat, on its treated SKU-locations):
fill, the mean over treated SKU-locations with demand of ``p_post - p_today`` [-];
inventory value, the mean of ``unit_cost x (on_hand(L_post) - on_hand(L_today)) x
mean season over the post window`` [currency].  Both are written with the adoption and
override rates to ``truth/outcomes_truth.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from platform_core.rollout.plan import RolloutPlan
from platform_core.rollout.units import RolloutUnits

__all__ = ["generate_outcomes", "ScenarioResult"]

ScenarioResult = tuple[pa.Table, dict[str, Any]]


def _interp(level: np.ndarray, l_rec: np.ndarray, l_today: np.ndarray, v_rec: np.ndarray,
            v_today: np.ndarray, per_unit: float) -> np.ndarray:
    """Value at ``level``, linear between (recommended, v_rec) and (today, v_today)."""
    span = l_today - l_rec
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(np.abs(span) > 1e-9, (level - l_rec) / span, 0.0)
    flat = v_rec + per_unit * (level - l_rec)  # today's level = recommended: slope per_unit
    out: np.ndarray = np.where(np.abs(span) > 1e-9, v_rec + share * (v_today - v_rec), flat)
    return out


def _gamma(rng: np.random.Generator, cv: float, shape: tuple[int, ...]) -> np.ndarray:
    if cv <= 0:
        return np.ones(shape)
    k = 1.0 / cv ** 2
    out: np.ndarray = rng.gamma(k, 1.0 / k, size=shape)
    return out


def generate_outcomes(
    units: RolloutUnits,
    plan: RolloutPlan,
    *,
    seed: int = 0,
    pre_periods: int = 13,
    post_periods: int = 13,
    override_rate: float = 0.2,
    override_pull: float = 0.5,
    promise_drift: dict[str, float] | None = None,
    network_cv: float = 0.3,
    on_hand_cv: float = 0.3,
) -> ScenarioResult:
    """Outcome periods of ``plan`` with a known effect (see the module docstring).

    Args:
        units: the run's SKU-locations.
        plan: the rollout plan.
        seed: seed of every draw.
        pre_periods: periods before wave 1 starts.
        post_periods: periods from the last wave's start.
        override_rate: exact share of each wave's treated SKU-locations overridden [-].
        override_pull: how far an override moves back towards today's level [-].
        promise_drift: demand class -> fill lost against the promise after adoption [-].
        network_cv: CV of the network-period shocks of demand and on-hand [-].
        on_hand_cv: CV of the SKU-location-period on-hand noise [-].

    Returns:
        ``(outcome_periods, truth)``.
    """
    if not 0.0 <= override_rate <= 1.0:
        raise ValueError(f"override rate: expected a share in [0, 1], got {override_rate}")
    drift = dict(promise_drift or {})
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xEC4E]))
    u = units.table.merge(plan.table[["sku", "location", "wave", "group", "wave_start"]], on=["sku", "location"])
    n = len(u)
    l_rec = u["recommended_level"].to_numpy(np.float64)
    l_today = u["today_level"].to_numpy(np.float64)
    f_rec = u["promised_fill"].to_numpy(np.float64)
    f_today = u["today_fill"].to_numpy(np.float64)
    m_rec = u["recommended_on_hand_units"].to_numpy(np.float64)
    m_today = u["today_on_hand_units"].to_numpy(np.float64)
    no_today = ~(np.isfinite(l_today) & np.isfinite(f_today) & np.isfinite(m_today))
    if no_today.all():
        raise ValueError("the run evaluated no policy of today (no current_* columns): a scenario needs "
                         "today's level, fill and on-hand (give the input a current_policy)")
    l_today = np.where(no_today, l_rec, l_today)
    f_today = np.where(no_today, f_rec, f_today)
    m_today = np.where(no_today, m_rec, m_today)
    f_rec = np.nan_to_num(f_rec, nan=1.0)
    f_today = np.nan_to_num(f_today, nan=1.0)
    wave = u["wave"].to_numpy(np.int64)
    treated = (u["group"] == "treatment").to_numpy()
    # the level each SKU-location would hold once treated
    l_post = l_rec.copy()
    overridden = np.zeros(n, dtype=bool)
    for w in np.unique(wave):
        idx = np.flatnonzero((wave == w) & treated)
        k = int(round(override_rate * idx.size))
        overridden[rng.choice(idx, size=k, replace=False)] = True
    step = np.rint(override_pull * (l_today - l_rec))
    step = np.where(np.abs(step) >= 1, step, np.where(l_today < l_rec, -1.0, 1.0))
    step = np.where((l_rec + step) < 0, 1.0, step)
    l_post = np.where(overridden, l_rec + step, l_rec)
    p_post = np.clip(_interp(l_post, l_rec, l_today, f_rec, f_today, 0.0), 0.0, 1.0)
    cls = u["demand_class"].to_numpy(str)
    for c, amount in drift.items():
        p_post = np.where(cls == c, np.clip(p_post - amount, 0.0, 1.0), p_post)
    p_today = np.clip(f_today, 0.0, 1.0)
    oh_post = np.maximum(_interp(l_post, l_rec, l_today, m_rec, m_today, 1.0), 0.0)
    oh_today = np.maximum(m_today, 0.0)
    # the calendar
    starts = sorted({pd.Timestamp(s).date() for s in u["wave_start"]})
    days = units.period_days
    first = starts[0] - dt.timedelta(days=pre_periods * days)
    n_periods = pre_periods + int(round((starts[-1] - starts[0]).days / days)) + post_periods
    periods = [first + dt.timedelta(days=t * days) for t in range(n_periods)]
    start_idx = np.array([int(round((pd.Timestamp(s).date() - first).days / days)) for s in u["wave_start"]])
    t_idx = np.arange(n_periods)
    season = 1.0 + 0.1 * np.sin(2.0 * np.pi * t_idx / 52.0)
    on = treated[:, None] & (t_idx[None, :] >= start_idx[:, None])  # (n, T) recommendation in force
    _, net = np.unique(u["network"].to_numpy(), return_inverse=True)
    n_nets = int(net.max()) + 1
    demand_shock = _gamma(rng, network_cv, (n_nets, n_periods))[net]
    stock_shock = _gamma(rng, network_cv, (n_nets, n_periods))[net]
    mu = np.nan_to_num(u["demand_per_period"].to_numpy(np.float64), nan=0.0)
    demand = rng.poisson(np.maximum(mu[:, None] * season[None, :] * demand_shock, 0.0)).astype(np.float64)
    p = np.where(on, p_post[:, None], p_today[:, None])
    sales = rng.binomial(demand.astype(np.int64), p).astype(np.float64)
    level = np.where(on, l_post[:, None], l_today[:, None])
    expected_oh = np.where(on, oh_post[:, None], oh_today[:, None])
    on_hand = expected_oh * season[None, :] * stock_shock * _gamma(rng, on_hand_cv, (n, n_periods))
    receipts = np.concatenate([np.zeros((n, 1)), sales[:, :-1]], axis=1)
    table = pa.table({
        "sku": np.repeat(u["sku"].to_numpy(str), n_periods),
        "location": np.repeat(u["location"].to_numpy(str), n_periods),
        "period": pa.array(np.tile(np.array(periods, dtype="datetime64[D]"), n), pa.date32()),
        "demand_units": demand.ravel(), "sales_units": sales.ravel(), "on_hand_units": on_hand.ravel(),
        "level_used_units": level.ravel(), "receipt_units": receipts.ravel(),
        "stocked_out": (sales < demand).ravel(),
    })
    cost = u["unit_cost"].to_numpy(np.float64)
    waves: dict[str, Any] = {}
    for w in np.unique(wave):
        t_mask = (wave == w) & treated
        post_season = float(season[start_idx[t_mask][0]:].mean()) if t_mask.any() else float("nan")
        with_demand = t_mask & (mu > 0)
        waves[str(int(w))] = {
            "fill_effect": float((p_post - p_today)[with_demand].mean()),
            "inventory_value_effect": float((cost * (oh_post - oh_today))[t_mask].mean() * post_season),
            "treated_units": int(t_mask.sum()),
            "overridden_units": int((overridden & t_mask).sum()),
            "adopted_units": int((~overridden & t_mask).sum()),
            "override_rate": float((overridden & t_mask).sum() / max(int(t_mask.sum()), 1)),
            "adoption_rate": float((~overridden & t_mask).sum() / max(int(t_mask.sum()), 1)),
            "mean_override_units": float(step[overridden & t_mask].mean()) if (overridden & t_mask).any() else 0.0,
        }
    truth = {"seed": int(seed), "pre_periods": pre_periods, "post_periods": post_periods,
             "override_rate": override_rate, "override_pull": override_pull, "promise_drift": drift,
             "network_cv": network_cv, "on_hand_cv": on_hand_cv, "waves": waves}
    return table, truth


def write_outcomes(out_dir: str | os.PathLike[str], table: pa.Table, truth: dict[str, Any]) -> Path:
    """Write ``OUT/outcome_periods.parquet`` and ``OUT/truth/outcomes_truth.json``; returns the table's path."""
    from platform_core.data.loaders import write_table

    out = Path(out_dir)
    path = out / "outcome_periods.parquet"
    write_table(table, path)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    (out / "truth" / "outcomes_truth.json").write_text(json.dumps(truth, indent=2))
    return path
