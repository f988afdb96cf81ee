"""The rollout plan: SKU-locations in waves, a randomised control group in every wave.

1. **Order.**  Whole networks (SKU-locations coupled by arcs move together) are sorted by
   the rule, a comma-separated list of keys, e.g. ``abc,today_fill``:

   * ``abc`` — C networks first, then B, then A (a network counts as its most critical
     stage: any A stage makes it A);
   * ``COLUMN`` / ``-COLUMN`` — a numeric column of the units (e.g. ``demand_per_period``,
     ``today_fill``, or any numeric column of ``recommendations.parquet`` such as a risk
     score), ascending / descending; a network counts as its largest value (its riskiest
     stage).

   Ties keep the networks' label order.  The ordered networks are cut into ``waves`` of
   about equal SKU-location counts.
2. **Control.**  In each wave, ``round(control_fraction x networks)`` networks (at least 1,
   at most all but 1) are drawn at random to stay on today's policy.  The draw is
   **re-randomised** (Morgan & Rubin 2012, "Rerandomization to improve covariate balance
   in experiments"): draws are taken from the wave's own random stream until the
   standardised differences (:mod:`platform_core.rollout.balance`) of the SKU-locations'
   demand volume (``demand_per_period``) and service (``today_fill``, the promise where
   today's is unknown) between treatment and control are both below ``max_std_diff``,
   within the wave and over all waves so far (so the whole rollout is balanced too).
   Randomisation is by network, the unit of interference, so estimates cluster by network.
3. **Timing.**  Wave ``w`` starts at ``start + (w - 1) x wave_periods`` periods.

Same units, arguments and seed give the same plan (each wave draws from
``SeedSequence([seed, wave])``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from platform_core.rollout.balance import standardised_difference, standardised_differences
from platform_core.rollout.units import RolloutUnits

__all__ = ["RolloutPlan", "plan_rollout", "write_plan", "read_plan", "PLAN_COLUMNS", "BALANCE_COVARIATES",
           "PLAN_DIR"]

#: Columns of the plan table.
PLAN_COLUMNS = ("sku", "location", "network", "wave", "group", "wave_start", "abc_class", "demand_class",
                "demand_per_period", "service")
#: Covariates the control group is balanced on.
BALANCE_COVARIATES = ("demand_per_period", "service")
#: Sub-directory of the run directory holding the plan.
PLAN_DIR = "rollout"
_ABC_RANK = {"C": 0, "B": 1, "A": 2}


@dataclass(frozen=True)
class RolloutPlan:
    """A rollout plan.

    Attributes:
        table: one row per SKU-location, columns :data:`PLAN_COLUMNS`: ``wave`` (1 ..
            waves), ``group`` (``treatment`` or ``control``), ``wave_start`` [date],
            ``service`` (the balance covariate: today's expected fill, or the promise) [-].
        balance: one row per wave (and ``all``) and covariate: ``std_diff`` [-], units and
            networks per group.
        settings: rule, waves, control fraction, seed, start, wave periods, draws.
    """

    table: pd.DataFrame
    balance: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def max_abs_std_diff(self) -> float:
        """Largest |standardised difference| over waves and covariates [-]."""
        return float(self.balance["std_diff"].abs().max())


def _network_keys(units: pd.DataFrame, rule: str) -> list[tuple[str, pd.Series]]:
    keys: list[tuple[str, pd.Series]] = []
    for raw in [k.strip() for k in rule.split(",") if k.strip()]:
        if raw == "abc":
            rank = units["abc_class"].map(_ABC_RANK).fillna(1.0)
            keys.append((raw, rank.groupby(units["network"]).max()))
            continue
        sign, name = (-1.0, raw[1:]) if raw.startswith("-") else (1.0, raw)
        if name not in units.columns or not pd.api.types.is_numeric_dtype(units[name]):
            numeric = [c for c in units.columns if pd.api.types.is_numeric_dtype(units[c])]
            raise ValueError(f"rollout rule key {raw!r}: expected 'abc' or a numeric column "
                             f"({', '.join(numeric)})")
        value = units[name].astype(np.float64).fillna(np.inf if sign > 0 else -np.inf)
        keys.append((raw, sign * value.groupby(units["network"]).max()))
    if not keys:
        raise ValueError("rollout rule: expected at least one key, e.g. 'abc' or 'abc,today_fill'")
    return keys


def _covariates(units: pd.DataFrame) -> pd.DataFrame:
    service = units["today_fill"].where(np.isfinite(units["today_fill"]), units["promised_fill"])
    return pd.DataFrame({"demand_per_period": units["demand_per_period"].fillna(0.0).astype(np.float64),
                         "service": service.fillna(0.0).astype(np.float64)})


def _draw_control(net_of_unit: np.ndarray, n_nets: int, n_control: int, x: np.ndarray,
                  rng: np.random.Generator, max_std_diff: float, max_draws: int,
                  earlier_x: np.ndarray, earlier_control: np.ndarray,
                  chunk: int = 256) -> tuple[np.ndarray, int]:
    """Control networks (bool per network) of the first balanced draw, and the draws taken.

    Balanced: within the wave, and over the wave pooled with the earlier waves
    (``earlier_x``, ``earlier_control``: their units' covariates and assignment).
    """
    taken = 0
    pooled_x = np.concatenate([earlier_x, x])
    while taken < max_draws:
        k = min(chunk, max_draws - taken)
        order = np.argsort(rng.random((k, n_nets)), axis=1)
        control_nets = np.zeros((k, n_nets), dtype=bool)
        np.put_along_axis(control_nets, order[:, :n_control], True, axis=1)
        control_units = control_nets[:, net_of_unit]
        pooled = np.concatenate([np.broadcast_to(earlier_control, (k, earlier_control.size)), control_units], axis=1)
        worst = np.zeros(k)
        for j in range(x.shape[1]):
            worst = np.maximum(worst, np.abs(standardised_differences(x[:, j], control_units)))
            if earlier_control.size:
                worst = np.maximum(worst, np.abs(standardised_differences(pooled_x[:, j], pooled)))
        ok = np.flatnonzero(worst < max_std_diff)
        if ok.size:
            return control_nets[int(ok[0])], taken + int(ok[0]) + 1
        taken += k
    raise ValueError(f"no control group with standardised differences below {max_std_diff} in {max_draws} "
                     "draws: use fewer waves (more networks per wave) or another control fraction")


def plan_rollout(
    units: RolloutUnits,
    *,
    waves: int = 3,
    rule: str = "abc",
    control_fraction: float = 0.3,
    seed: int = 0,
    start: dt.date | None = None,
    wave_periods: int = 13,
    max_std_diff: float = 0.1,
    max_draws: int = 20_000,
) -> RolloutPlan:
    """Assign the run's SKU-locations to waves and control groups (see the module docstring).

    Args:
        units: the run's SKU-locations (:func:`platform_core.rollout.units.load_units`).
        waves: number of waves.
        rule: the order of the networks (module docstring).
        control_fraction: share of each wave's networks held on today's policy, in (0, 1).
        seed: seed of the random control draws.
        start: first day of wave 1 (default: the first period after the run's history).
        wave_periods: periods between the starts of two waves [periods].
        max_std_diff: balance every wave's control group below this |standardised difference| [-].
        max_draws: re-randomisation draws per wave before giving up.

    Raises:
        ValueError: bad arguments, a wave with fewer than 2 networks, or no balanced draw.
    """
    if waves < 1:
        raise ValueError(f"waves: expected at least 1, got {waves}")
    if not 0.0 < control_fraction < 1.0:
        raise ValueError(f"control fraction: expected a number in (0, 1), got {control_fraction}")
    if wave_periods < 1:
        raise ValueError(f"wave periods: expected at least 1, got {wave_periods}")
    t = units.table
    keys = _network_keys(t, rule)
    sizes = t.groupby("network").size()
    nets = pd.DataFrame({name: s for name, s in keys} | {"size": sizes})
    nets = nets.sort_values([n for n, _ in keys], kind="stable")  # index (labels) sorted already
    before = nets["size"].cumsum().to_numpy() - nets["size"].to_numpy()
    nets["wave"] = np.minimum((before * waves) // int(sizes.sum()), waves - 1).astype(np.int64) + 1
    wave_of_net = nets["wave"]
    start_day = start or units.next_period
    cov = _covariates(t)
    unit_wave = t["network"].map(wave_of_net).to_numpy(dtype=np.int64)
    group = np.full(len(t), "treatment", dtype=object)
    draws: dict[int, int] = {}
    nets_per_wave = wave_of_net.value_counts().reindex(range(1, waves + 1), fill_value=0)
    for w, count in nets_per_wave.items():
        if count < 2:
            raise ValueError(f"wave {w} has {count} network(s): expected at least 2 to hold a control "
                             f"group; use fewer than {waves} waves")
    for w in range(1, waves + 1):
        in_wave = np.flatnonzero(unit_wave == w)
        names, net_of_unit = np.unique(t["network"].to_numpy()[in_wave], return_inverse=True)
        n_control = int(min(max(round(control_fraction * names.size), 1), names.size - 1))
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), w]))
        x = cov.to_numpy()[in_wave]
        earlier = np.flatnonzero(unit_wave < w)
        try:
            control_nets, draws[w] = _draw_control(net_of_unit, int(names.size), n_control, x, rng,
                                                   max_std_diff, max_draws, cov.to_numpy()[earlier],
                                                   group[earlier] == "control")
        except ValueError as exc:
            raise ValueError(f"wave {w} ({names.size} networks): {exc}") from None
        group[in_wave[control_nets[net_of_unit]]] = "control"
    wave_start = [start_day + dt.timedelta(days=(w - 1) * wave_periods * units.period_days) for w in unit_wave]
    table = pd.DataFrame({
        "sku": t["sku"], "location": t["location"], "network": t["network"], "wave": unit_wave,
        "group": group.astype(str), "wave_start": wave_start, "abc_class": t["abc_class"],
        "demand_class": t["demand_class"], "demand_per_period": cov["demand_per_period"],
        "service": cov["service"],
    })
    settings = {"rule": rule, "waves": waves, "control_fraction": control_fraction, "seed": int(seed),
                "start": start_day.isoformat(), "wave_periods": wave_periods, "period_days": units.period_days,
                "max_std_diff": max_std_diff, "draws": {str(k): v for k, v in draws.items()},
                "run_id": units.run_id, "forecaster": units.forecaster}
    return RolloutPlan(table, balance_table(table), settings)


def balance_table(plan: pd.DataFrame) -> pd.DataFrame:
    """Standardised difference per wave (and ``all``) and covariate, with group sizes."""
    rows = []
    for label, part in [*((str(w), plan[plan["wave"] == w]) for w in sorted(plan["wave"].unique())), ("all", plan)]:
        ctrl = (part["group"] == "control").to_numpy()
        for cov in BALANCE_COVARIATES:
            x = part[cov].to_numpy(dtype=np.float64)
            rows.append({"wave": label, "covariate": cov, "std_diff": standardised_difference(x[~ctrl], x[ctrl]),
                         "treatment_mean": float(x[~ctrl].mean()) if (~ctrl).any() else float("nan"),
                         "control_mean": float(x[ctrl].mean()) if ctrl.any() else float("nan"),
                         "treatment_units": int((~ctrl).sum()), "control_units": int(ctrl.sum()),
                         "treatment_networks": int(part.loc[~ctrl, "network"].nunique()),
                         "control_networks": int(part.loc[ctrl, "network"].nunique())})
    return pd.DataFrame(rows)


def write_plan(run_dir: str | os.PathLike[str], plan: RolloutPlan, *, overwrite: bool = False) -> Path:
    """Write ``RUN/rollout/plan.parquet``, ``balance.parquet`` and ``plan.json``; returns the plan file.

    Raises:
        FileExistsError: a plan is there already and ``overwrite`` is False.
    """
    from platform_core.data.loaders import write_table

    folder = Path(run_dir) / PLAN_DIR
    path = folder / "plan.parquet"
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: a rollout plan exists already: expected none (pass --overwrite to replace it)")
    import pyarrow as pa

    write_table(pa.Table.from_pandas(plan.table, preserve_index=False), path)
    write_table(pa.Table.from_pandas(plan.balance, preserve_index=False), folder / "balance.parquet")
    (folder / "plan.json").write_text(json.dumps(plan.settings, indent=2))
    return path


def read_plan(run_dir: str | os.PathLike[str]) -> RolloutPlan:
    """The plan written by :func:`write_plan`.

    Raises:
        FileNotFoundError: no plan (with the command that makes one).
    """
    import pyarrow.parquet as pq

    folder = Path(run_dir) / PLAN_DIR
    path = folder / "plan.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: expected a rollout plan (echelon rollout plan {run_dir})")
    table = pq.read_table(path).to_pandas()
    missing = [c for c in PLAN_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: column '{missing[0]}' missing: expected {', '.join(PLAN_COLUMNS)}")
    settings = json.loads((folder / "plan.json").read_text()) if (folder / "plan.json").is_file() else {}
    return RolloutPlan(table, balance_table(table), settings)
