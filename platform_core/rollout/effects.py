"""Per wave, treatment against control: the effect on fill and on inventory, with a 95 % interval.

**Design.**  Within a wave, networks were randomised to treatment (the recommendations,
from the wave's start) or control (today's policy) (:mod:`platform_core.rollout.plan`).
Each SKU-location's outcome is collapsed to its mean before the wave's start (``pre``)
and from it (``post``) — Bertrand, Duflo & Mullainathan (2004), who show that collapsing
to two periods keeps serial correlation from understating the error — and the effect is
the difference in differences

    tau = mean_treatment(post - pre) - mean_control(post - pre),

the OLS slope of ``post - pre`` on the treatment indicator.  Its standard error is
cluster-robust by network (CR1: the sandwich with ``G / (G - 1) x (N - 1) / (N - 2)``;
``G`` networks, ``N`` SKU-locations), and the 95 % interval uses Student's t with
``G - 1`` degrees of freedom.  Networks are the clusters because the SKU-locations of one
network share demand and supply and were assigned together.

**Outcomes.**  ``fill``: realised fill (sales / demand over the window) [-];
SKU-locations without demand in either window are left out.  ``inventory_value``: mean
on-hand value per period (on-hand x unit cost) [currency].

**Estimand.**  The average effect, on the wave's treated SKU-locations, of *being
assigned* the recommendations (intention to treat: overrides are part of it; the
adoption and override rates are reported beside it).

**Assumptions.**  Randomisation by network (so the groups differ only by chance: the
parallel-trends assumption holds by design, and the pre-period difference removes
what chance left); no interference between networks; the control group stays on today's
policy for the whole window; outcome periods cover both windows for every SKU-location.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["WaveEffect", "wave_effects", "did_cluster", "effects_table"]

#: Outcomes estimated per wave: name -> unit.
OUTCOMES = {"fill": "[-]", "inventory_value": "[currency]"}


@dataclass(frozen=True)
class WaveEffect:
    """The effect of one wave on one outcome.

    Attributes:
        wave: the wave.
        outcome: ``fill`` [-] or ``inventory_value`` [currency].
        estimate: difference in differences, treatment minus control.
        se: cluster-robust (network) standard error.
        ci_low, ci_high: 95 % interval (t with ``networks - 1`` degrees of freedom).
        df: degrees of freedom.
        treatment_units, control_units: SKU-locations used.
        treatment_networks, control_networks: networks used.
        treatment_change, control_change: mean post - pre of each group.
        adoption_rate: share of the wave's treated SKU-locations that used the recommended
            level in every post period [-].
        override_rate: share that used another level in some post period [-].
        mean_override_units: mean (used - recommended) level over overridden post rows [units].
    """

    wave: int
    outcome: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    df: int
    treatment_units: int
    control_units: int
    treatment_networks: int
    control_networks: int
    treatment_change: float
    control_change: float
    adoption_rate: float
    override_rate: float
    mean_override_units: float


def did_cluster(change: np.ndarray, treated: np.ndarray, cluster: np.ndarray,
                level: float = 0.95) -> tuple[float, float, float, float, int]:
    """Difference in mean ``change`` (treated - control), CR1 standard error and interval.

    Args:
        change: post - pre per unit.
        treated: treatment indicator per unit.
        cluster: cluster label per unit (clusters nested in the groups or not).
        level: confidence level of the interval.

    Returns:
        ``(estimate, se, ci_low, ci_high, df)``.
    """
    y = np.asarray(change, dtype=np.float64)
    d = np.asarray(treated, dtype=bool)
    n = y.size
    _, g = np.unique(np.asarray(cluster), return_inverse=True)
    n_clusters = int(g.max()) + 1 if n else 0
    if d.sum() < 1 or (~d).sum() < 1 or n_clusters < 2:
        return float("nan"), float("nan"), float("nan"), float("nan"), max(n_clusters - 1, 0)
    X = np.column_stack([np.ones(n), d.astype(np.float64)])
    xtx_inv = np.linalg.inv(X.T @ X)
    beta = xtx_inv @ X.T @ y
    resid = y - X @ beta
    scores = np.zeros((n_clusters, 2))
    np.add.at(scores, g, X * resid[:, None])
    meat = scores.T @ scores
    factor = n_clusters / (n_clusters - 1) * (n - 1) / (n - 2)
    var = factor * xtx_inv @ meat @ xtx_inv
    se = float(np.sqrt(var[1, 1]))
    df = n_clusters - 1
    q = float(stats.t.ppf(0.5 + level / 2.0, df))
    est = float(beta[1])
    return est, se, est - q * se, est + q * se, df


def _window_means(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per SKU-location and phase: fill (sales / demand) and mean on-hand value."""
    grp = ledger.groupby(["sku", "location", "phase"], sort=True)
    agg = grp.agg(demand=("demand_units", "sum"), sales=("sales_units", "sum"), value=("on_hand_value", "mean"))
    with np.errstate(divide="ignore", invalid="ignore"):
        agg["fill"] = np.where(agg["demand"] > 0, agg["sales"] / agg["demand"], np.nan)
    wide = agg[["fill", "value"]].unstack("phase")
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    return wide


def wave_effects(ledger: pd.DataFrame, level: float = 0.95) -> list[WaveEffect]:
    """The effect of every wave on fill and on inventory value (see the module docstring)."""
    out: list[WaveEffect] = []
    for wave in sorted(int(w) for w in ledger["wave"].unique()):
        part = ledger[ledger["wave"] == wave]
        means = _window_means(part)
        if not {"fill_pre", "fill_post", "value_pre", "value_post"} <= set(means.columns):
            continue
        info = part.groupby(["sku", "location"], sort=True).agg(group=("group", "first"), network=("network", "first"))
        means = means.join(info)
        treat_post = part[(part["group"] == "treatment") & (part["phase"] == "post")]
        per_unit = (treat_post["status"] == "adopted").groupby([treat_post["sku"], treat_post["location"]]).all()
        n_treated = int(per_unit.size)
        adopted = int(per_unit.sum())
        over = treat_post[treat_post["status"] == "overridden"]["override_units"]
        for outcome, col in (("fill", "fill"), ("inventory_value", "value")):
            change = (means[f"{col}_post"] - means[f"{col}_pre"]).to_numpy(dtype=np.float64)
            keep = np.isfinite(change)
            treated = (means["group"] == "treatment").to_numpy()[keep]
            cluster = means["network"].to_numpy()[keep]
            est, se, lo, hi, df = did_cluster(change[keep], treated, cluster, level)
            ch = change[keep]
            out.append(WaveEffect(
                wave=wave, outcome=outcome, estimate=est, se=se, ci_low=lo, ci_high=hi, df=df,
                treatment_units=int(treated.sum()), control_units=int((~treated).sum()),
                treatment_networks=int(np.unique(cluster[treated]).size),
                control_networks=int(np.unique(cluster[~treated]).size),
                treatment_change=float(ch[treated].mean()) if treated.any() else float("nan"),
                control_change=float(ch[~treated].mean()) if (~treated).any() else float("nan"),
                adoption_rate=adopted / n_treated if n_treated else float("nan"),
                override_rate=(n_treated - adopted) / n_treated if n_treated else float("nan"),
                mean_override_units=float(over.mean()) if over.size else 0.0,
            ))
    return out


def effects_table(effects: list[WaveEffect]) -> pd.DataFrame:
    """The effects as a table (one row per wave and outcome)."""
    return pd.DataFrame([asdict(e) for e in effects])
