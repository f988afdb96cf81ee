"""Cost-to-serve history for generated datasets: order lines and expedites with a known truth.

Companion of :mod:`platform_core.data.generate` (``generate_dataset(..., cost_history=True)``).
It draws from its own random stream (seeded from the dataset seed), so the other files of a
dataset are the same with or without it.

Order lines (``order_lines``): every stage with demand rows has 2-8 customers, each of a
segment, drawn from the stage's own mix (Dirichlet around ``key`` 20 %, ``regular`` 50 %,
``small`` 30 %: some items sell mostly to key accounts, others to small buyers). A customer orders in a period with
probability ``q`` (key U(0.70, 0.95), regular U(0.50, 0.85), small U(0.35, 0.70)) a quantity
``1 + Poisson(m)``. A line is short with probability 0.8 in a period the stage was stocked
out (the ``demand.stocked_out`` flag) and 0.03 otherwise; it then gets ``floor(U(0, 0.7) x
quantity)`` filled. At each short line the customer, if still buying, switches to a
competitor (orders no more) with probability::

    p = expit(alpha[segment] + beta x (margin_rate - 0.45)),   margin_rate = (price - unit_cost) / price

(alpha: key -4.5, regular -1.5, small 0.5; beta = -8.0: customers leave commodity items
sooner); otherwise the customer keeps buying but orders from then on with probability
``q x (1 - v[segment])`` (lasting volume loss v: key 0.02, regular 0.20, small 0.50: key accounts buy on contract).

These behaviour parameters are the fields of :class:`CustomerBehaviour` (the defaults are
the values above); :meth:`CustomerBehaviour.with_spread` scales how much the segments
differ (the heterogeneity of the true stockout cost across SKU-locations), for
benchmarks that measure what a learned cost is worth as that heterogeneity grows.

The truth is written to ``truth/customer_truth.parquet`` (per customer: stage, segment,
q, m, the switching probability at its first short line, whether it switched there) and
``truth/cost_truth.json`` (alpha, beta, v, the expedite cost model).

Expedites (``expedites``): for every lane into a stage (an arc of ``edges``, supplier the
upstream location; or a receipts supplier of a root stage), 0-6 expedites with a carrier of
a mode (Air: AIRX, SKYFR; Truck: ROADX, EUHAUL; Courier: DASH) and cost::

    cost = quantity x exp(rate[carrier]) x days_saved ** gamma[mode] x unit_cost ** 0.5
           x quantity ** -0.15 x exp(N(0, 0.07))
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["cost_history", "CustomerBehaviour", "true_future_units", "SEGMENTS", "SWITCH_ALPHA", "SWITCH_BETA", "MARGIN_RATE_CENTRE", "VOLUME_LOSS",
           "CARRIERS", "EXPEDITE_NOISE_SD", "switch_probability"]

#: Customer segments, in code order.
SEGMENTS = ("key", "regular", "small")
_SEGMENT_P = (0.2, 0.5, 0.3)
_SEGMENT_MIX_ALPHA = 0.6  # concentration of a stage's segment mix around _SEGMENT_P
_Q_RANGE = ((0.70, 0.95), (0.50, 0.85), (0.35, 0.70))
#: Logit intercept of the switching probability per segment [-].
SWITCH_ALPHA = np.array([-4.5, -1.5, 0.5])
#: Logit slope on the margin rate [-].
SWITCH_BETA = -8.0
#: Margin rate the slope is centred on [-].
MARGIN_RATE_CENTRE = 0.45
#: Lasting volume loss of a customer who stays, per segment [-].
VOLUME_LOSS = np.array([0.02, 0.20, 0.50])
_SHORT_WHEN_OUT = 0.8
_SHORT_BASE = 0.03

#: carrier -> (mode, log rate [currency/unit], gamma [-]).
CARRIERS: dict[str, tuple[str, float, float]] = {
    "AIRX": ("Air", -1.6, 0.55), "SKYFR": ("Air", -1.9, 0.55),
    "ROADX": ("Truck", -2.8, 0.80), "EUHAUL": ("Truck", -3.1, 0.80),
    "DASH": ("Courier", -1.0, 0.35),
}
#: Standard deviation of the log cost noise of an expedite [-].
EXPEDITE_NOISE_SD = 0.07
_UNIT_COST_EXP = 0.5
_QUANTITY_EXP = -0.15


@dataclass(frozen=True)
class CustomerBehaviour:
    """The generator's customer behaviour after a stockout (the knobs of the switching truth).

    The defaults are the generator's (module doc). Per segment (``key``, ``regular``,
    ``small``), in segment order.

    Attributes:
        switch_alpha: logit intercept of the switching probability per segment [-].
        switch_beta: logit slope on ``margin_rate - margin_rate_centre`` [-].
        margin_rate_centre: margin rate the slope is centred on [-].
        volume_loss: lasting volume loss of a customer who stays, per segment [-], in (0, 1).
        segment_share: mean share of each segment in a stage's customers [-] (sums to 1).
        segment_mix_concentration: Dirichlet concentration of a stage's own segment mix
            around ``segment_share`` [-] (smaller: stages sell more to one segment).
    """

    switch_alpha: tuple[float, ...] = tuple(SWITCH_ALPHA.tolist())
    switch_beta: float = SWITCH_BETA
    margin_rate_centre: float = MARGIN_RATE_CENTRE
    volume_loss: tuple[float, ...] = tuple(VOLUME_LOSS.tolist())
    segment_share: tuple[float, ...] = _SEGMENT_P
    segment_mix_concentration: float = _SEGMENT_MIX_ALPHA

    def __post_init__(self) -> None:
        if len(self.switch_alpha) != len(SEGMENTS) or len(self.volume_loss) != len(SEGMENTS) \
                or len(self.segment_share) != len(SEGMENTS):
            raise ValueError(f"switch_alpha, volume_loss and segment_share need one value per segment {SEGMENTS}")
        if not all(0.0 < v < 1.0 for v in self.volume_loss):
            raise ValueError(f"volume_loss must be in (0, 1), got {self.volume_loss}")
        if min(self.segment_share) <= 0 or abs(sum(self.segment_share) - 1.0) > 1e-9:
            raise ValueError(f"segment_share must be positive and sum to 1, got {self.segment_share}")
        if self.segment_mix_concentration <= 0:
            raise ValueError(f"segment_mix_concentration must be > 0, got {self.segment_mix_concentration}")

    def with_spread(self, spread: float) -> CustomerBehaviour:
        """The same behaviour with the segments' differences scaled by ``spread`` [-].

        On the logit scale, each segment's switching intercept and volume loss move to
        ``mean + spread x (value - mean)`` (means over the segments), and the margin slope
        becomes ``spread x switch_beta``: 0 makes every customer behave alike (a blanket
        stockout cost is then right up to the order pattern), 1 is this behaviour, larger
        values make the true stockout cost more heterogeneous across SKU-locations.
        """
        if spread < 0:
            raise ValueError(f"spread must be >= 0, got {spread}")
        if spread == 1.0:
            return self
        a = np.asarray(self.switch_alpha, dtype=float)
        lv = np.log(np.asarray(self.volume_loss)) - np.log1p(-np.asarray(self.volume_loss))
        a2 = a.mean() + spread * (a - a.mean())
        lv2 = lv.mean() + spread * (lv - lv.mean())
        v2 = 1.0 / (1.0 + np.exp(-lv2))
        return replace(self, switch_alpha=tuple(float(x) for x in a2), switch_beta=float(spread * self.switch_beta),
                       volume_loss=tuple(float(x) for x in v2))


def switch_probability(segment: np.ndarray, margin_rate: np.ndarray,
                       behaviour: CustomerBehaviour | None = None) -> np.ndarray:
    """True probability [-] that a customer switches at a short line (segment codes, margin rates)."""
    b = behaviour or CustomerBehaviour()
    z = np.asarray(b.switch_alpha)[segment] + b.switch_beta * (margin_rate - b.margin_rate_centre)
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def _expected_short_units(mean_extra: np.ndarray) -> np.ndarray:
    """E[units short] of a short line whose quantity is ``1 + Poisson(mean_extra)`` [units]."""
    out = np.zeros(mean_extra.size)
    from scipy.stats import poisson

    for i, m in enumerate(np.asarray(mean_extra, dtype=float)):
        k = np.arange(0, int(m + 10.0 * np.sqrt(m) + 20))
        x = 1.0 + k
        filled = np.array([np.sum((0.7 - np.arange(1, int(np.floor(0.7 * xi)) + 1) / xi) / 0.7) for xi in x])
        out[i] = float(np.sum(poisson.pmf(k, m) * (x - filled)))
    return out


def true_future_units(customer_truth: pa.Table, stages: pa.Table, horizon_periods: float) -> np.ndarray:
    """The true lost future units per unit short of each stage row [units/unit] (NaN: no customers).

    ``F = H x sum_c q_c [p_c + (1 - p_c) v_c] q_c mu_c / sum_c q_c u_c`` over the stage's
    customers, with the generator's order probability ``q``, mean quantity ``mu``,
    switching probability ``p``, volume loss ``v`` and expected units short per short line
    ``u`` (the same definition as the learned model's, from the truth).
    """
    row_of = {k: i for i, k in enumerate(_stage_keys(stages))}
    rows = np.array([row_of[k] for k in _stage_keys(customer_truth)], dtype=np.int64)
    q = customer_truth.column("order_probability").to_numpy()
    mu = customer_truth.column("mean_quantity").to_numpy()
    p = customer_truth.column("switch_probability").to_numpy()
    v = customer_truth.column("volume_loss").to_numpy()
    u = _expected_short_units(mu - 1.0)
    n = stages.num_rows
    num = np.bincount(rows, weights=q * (p + (1.0 - p) * v) * q * mu, minlength=n)
    den = np.bincount(rows, weights=q * u, minlength=n)
    return np.where(den > 0, horizon_periods * num / np.where(den > 0, den, 1.0), np.nan)


def _stage_keys(table: pa.Table, sku: str = "sku", loc: str = "location") -> list[tuple[str, str]]:
    return list(zip(table.column(sku).to_pylist(), table.column(loc).to_pylist(), strict=True))


def _dates(start: dt.date, days: np.ndarray) -> pa.Array:
    epoch = (start - dt.date(1970, 1, 1)).days
    return pa.array((epoch + days).astype(np.int32), pa.int32()).cast(pa.date32())


def _order_lines(rng: np.random.Generator, tables: dict[str, pa.Table], periods: int, period_days: int,
                 start: dt.date, behaviour: CustomerBehaviour) -> tuple[pa.Table, pa.Table]:
    stages, demand = tables["stages"], tables["demand"]
    keys = _stage_keys(stages)
    row_of = {k: i for i, k in enumerate(keys)}
    unit_cost = stages.column("unit_cost").to_numpy()
    price = stages.column("price").to_numpy()
    margin_rate = np.where(price > 0, (price - unit_cost) / np.where(price > 0, price, 1.0), 0.0)
    # stocked-out flags per (stage, period) from the demand history
    d_rows = np.array([row_of[k] for k in _stage_keys(demand)], dtype=np.int64)
    epoch = (start - dt.date(1970, 1, 1)).days
    d_period = (demand.column("period").cast(pa.int32()).to_numpy() - epoch) // period_days
    out_flag = pc.fill_null(demand.column("stocked_out"), False).to_numpy(zero_copy_only=False)
    served = np.unique(d_rows)
    pos = {int(s): j for j, s in enumerate(served)}
    stocked = np.zeros((served.size, periods), dtype=bool)
    ok = (d_period >= 0) & (d_period < periods)
    stocked[[pos[int(r)] for r in d_rows[ok]], d_period[ok]] = out_flag[ok]

    n_cust = rng.integers(2, 9, served.size)
    cust_stage = np.repeat(served, n_cust)
    cust_out = np.repeat(np.arange(served.size), n_cust)
    n = cust_stage.size
    mix = rng.dirichlet(behaviour.segment_mix_concentration * np.asarray(behaviour.segment_share),
                        size=served.size)  # each stage its own mix
    seg = (rng.random(n)[:, None] > np.cumsum(mix[cust_out], axis=1)).sum(axis=1).clip(0, 2)
    lo = np.array([r[0] for r in _Q_RANGE])[seg]
    hi = np.array([r[1] for r in _Q_RANGE])[seg]
    q = rng.uniform(lo, hi)
    m = rng.lognormal(np.log(4.0), 0.7, n)
    p_switch = switch_probability(seg, margin_rate[cust_stage], behaviour)
    v = np.asarray(behaviour.volume_loss)[seg]

    u_order = rng.random((n, periods))
    qty = 1.0 + rng.poisson(np.repeat(m[:, None], periods, axis=1))
    u_short = rng.random((n, periods))
    fill_frac = rng.uniform(0.0, 0.7, (n, periods))
    u_switch = rng.random((n, periods))
    short_p = np.where(stocked[cust_out], _SHORT_WHEN_OUT, _SHORT_BASE)

    ordered = np.zeros((n, periods), dtype=bool)
    short = np.zeros((n, periods), dtype=bool)
    rate = q.copy()
    active = np.ones(n, dtype=bool)
    first_t = np.full(n, -1, dtype=np.int64)
    switched_first = np.zeros(n, dtype=bool)
    for t in range(periods):
        o = active & (u_order[:, t] < rate)
        s = o & (u_short[:, t] < short_p[:, t])
        ordered[:, t] = o
        short[:, t] = s
        sw = s & (u_switch[:, t] < p_switch)
        first = s & (first_t < 0)
        first_t[first] = t
        switched_first[first & sw] = True
        active &= ~sw
        stay = s & ~sw
        rate = np.where(stay, rate * (1.0 - v), rate)

    c_idx, t_idx = np.nonzero(ordered)
    q_ord = qty[c_idx, t_idx]
    q_fill = np.where(short[c_idx, t_idx], np.floor(fill_frac[c_idx, t_idx] * q_ord), q_ord)
    cust_names = np.array([f"C{i:06d}" for i in range(n)])
    st = cust_stage[c_idx]
    lines = pa.table({
        "line_id": pa.array([f"OL{i:08d}" for i in range(c_idx.size)], pa.string()),
        "customer": pa.array(cust_names[c_idx], pa.string()),
        "sku": stages.column("sku").take(pa.array(st)).combine_chunks(),
        "location": stages.column("location").take(pa.array(st)).combine_chunks(),
        "order_date": _dates(start, t_idx * period_days),
        "quantity_ordered": q_ord,
        "quantity_filled": q_fill,
        "short": pa.array(short[c_idx, t_idx]),
        "customer_segment": pa.array(np.array(SEGMENTS)[seg[c_idx]], pa.string()),
    })
    truth = pa.table({
        "customer": pa.array(cust_names, pa.string()),
        "sku": stages.column("sku").take(pa.array(cust_stage)).combine_chunks(),
        "location": stages.column("location").take(pa.array(cust_stage)).combine_chunks(),
        "customer_segment": pa.array(np.array(SEGMENTS)[seg], pa.string()),
        "order_probability": q, "mean_quantity": 1.0 + m, "margin_rate": margin_rate[cust_stage],
        "switch_probability": p_switch, "volume_loss": v,
        "first_short_period": first_t, "switched_at_first_short": switched_first,
    })
    return lines, truth


def _expedites(rng: np.random.Generator, tables: dict[str, pa.Table], start: dt.date,
               periods: int, period_days: int) -> pa.Table:
    stages = tables["stages"]
    row_of = {k: i for i, k in enumerate(_stage_keys(stages))}
    unit_cost = stages.column("unit_cost").to_numpy()
    lanes: list[tuple[str, str, str]] = []
    edges = tables.get("edges")
    if edges is not None:
        for (_, ul), (ds, dl) in zip(_stage_keys(edges, "upstream_sku", "upstream_location"),
                                      _stage_keys(edges, "downstream_sku", "downstream_location"), strict=True):
            lanes.append((ds, dl, ul))
    receipts = tables.get("receipts")
    if receipts is not None:
        seen = set(lanes)
        for s, loc, sup in zip(receipts.column("sku").to_pylist(), receipts.column("location").to_pylist(),
                               receipts.column("supplier").to_pylist(), strict=True):
            if (s, loc, sup) not in seen:
                seen.add((s, loc, sup))
                lanes.append((s, loc, sup))
    names = list(CARRIERS)
    rows: dict[str, list[Any]] = {k: [] for k in ("sku", "location", "supplier", "carrier", "shipment_mode",
                                                  "quantity", "days_saved", "cost", "day")}
    n_per = rng.integers(0, 7, len(lanes))
    for (s, loc, sup), k in zip(lanes, n_per.tolist(), strict=True):
        if k == 0:
            continue
        carrier = rng.integers(len(names), size=k)
        qty = np.ceil(rng.lognormal(np.log(20.0), 0.9, k))
        days = np.round(rng.uniform(1.0, 25.0, k), 1)
        noise = rng.normal(0.0, EXPEDITE_NOISE_SD, k)
        day = rng.integers(0, periods * period_days, k)
        uc = unit_cost[row_of[(s, loc)]]
        for j in range(k):
            mode, log_rate, gamma = CARRIERS[names[int(carrier[j])]]
            cost = (qty[j] * np.exp(log_rate) * days[j] ** gamma * max(uc, 0.01) ** _UNIT_COST_EXP
                    * qty[j] ** _QUANTITY_EXP * np.exp(noise[j]))
            rows["sku"].append(s)
            rows["location"].append(loc)
            rows["supplier"].append(sup)
            rows["carrier"].append(names[int(carrier[j])])
            rows["shipment_mode"].append(mode)
            rows["quantity"].append(float(qty[j]))
            rows["days_saved"].append(float(days[j]))
            rows["cost"].append(round(float(cost), 2))
            rows["day"].append(int(day[j]))
    n = len(rows["sku"])
    return pa.table({
        "expedite_id": pa.array([f"EX{i:07d}" for i in range(n)], pa.string()),
        "sku": pa.array(rows["sku"], pa.string()), "location": pa.array(rows["location"], pa.string()),
        "supplier": pa.array(rows["supplier"], pa.string()), "carrier": pa.array(rows["carrier"], pa.string()),
        "shipment_mode": pa.array(rows["shipment_mode"], pa.string()),
        "quantity": pa.array(rows["quantity"], pa.float64()),
        "days_saved": pa.array(rows["days_saved"], pa.float64()),
        "cost": pa.array(rows["cost"], pa.float64()),
        "expedite_date": _dates(start, np.asarray(rows["day"], dtype=np.int64)),
    })


def cost_history(tables: dict[str, pa.Table], seed: int, periods: int, period_days: int,
                 start_date: str, behaviour: CustomerBehaviour | None = None,
                 ) -> tuple[dict[str, pa.Table], dict[str, pa.Table], dict[str, Any]]:
    """Order lines and expedites for a generated dataset (see module doc).

    Args:
        tables: the dataset's tables (``stages``, ``demand``, optionally ``edges``, ``receipts``).
        seed: the dataset's seed; the history draws from its own stream of it.
        periods: demand periods [periods].
        period_days: length of a period [days].
        start_date: ISO date of the first period.
        behaviour: the customers' behaviour after a stockout (default: the generator's).

    Returns:
        ``({"order_lines", "expedites"}, {"customer_truth"}, truth parameters)``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 21]))
    start = dt.date.fromisoformat(start_date)
    b = behaviour or CustomerBehaviour()
    lines, truth = _order_lines(rng, tables, periods, period_days, start, b)
    expedites = _expedites(rng, tables, start, periods, period_days)
    params = {
        "segments": list(SEGMENTS), **{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(b).items()},
        "short_when_stocked_out": _SHORT_WHEN_OUT, "short_otherwise": _SHORT_BASE,
        "expedite": {"carriers": {k: list(v) for k, v in CARRIERS.items()}, "unit_cost_exponent": _UNIT_COST_EXP,
                     "quantity_exponent": _QUANTITY_EXP, "noise_sd": EXPEDITE_NOISE_SD},
    }
    return {"order_lines": lines, "expedites": expedites}, {"customer_truth": truth}, params
