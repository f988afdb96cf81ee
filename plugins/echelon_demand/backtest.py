"""Rolling-origin backtests of demand forecasters and lead-time models.

Demand (:func:`backtest`): for origin ``j = 0 .. origins-1`` the last
``horizon + j * step`` periods of every series are held out; each forecaster is fitted
on the rest and forecasts the demand summed over the next ``horizon`` periods (its
lead-time demand with a lead time of ``horizon`` periods and no review period).  The
outcome is the observed sum; a (series, origin) pair is skipped when the window has a
missing value or the training part is shorter than ``min_train`` periods.

Every forecaster is scored on what it forecasts: its ``lead_time_demand`` for a lead time
of exactly ``horizon`` periods and no review period, the distribution ``echelon run``
would plan with.  For ``bootstrap`` (the default forecaster of ``echelon run``) that is
the distribution of sums of ``horizon`` consecutive periods of its window (circular
blocks), so serial dependence within the horizon is scored as it is forecast.  Names are
resolved through the plugin registry ``echelon run`` uses (:func:`forecaster_classes`).

Metrics, averaged over (series, origin) pairs, per demand class of the training part
(ADI/CV², :mod:`platform_core.forecasting.classes`) and over all:

* ``crps`` [units]; ``scaled_crps`` = CRPS / scale.
* ``spl_XX``: scaled pinball loss at level 0.XX = pinball / scale, with the M5 scale
  ``horizon x mean |y_t - y_(t-1)|`` of the training part (pairs with scale 0 are left
  out of the scaled metrics).
* ``coverage_80`` / ``coverage_90`` / ``coverage_95``: share of outcomes inside the
  central 80 % / 90 % / 95 % interval ``[Q(0.1), Q(0.9)]`` / ``[Q(0.05), Q(0.95)]`` /
  ``[Q(0.025), Q(0.975)]`` (closed, discrete quantiles).
* ``pit_0 .. pit_9``: the PIT histogram in tenths, the non-randomised PIT of Czado,
  Gneiting & Held (2009) for count forecasts: outcome ``y`` spreads its weight uniformly
  over ``[F(y-1), F(y)]`` and ``pit_j`` is the share that falls in ``[j/10, (j+1)/10)``;
  a calibrated forecaster has every ``pit_j`` near 0.1 (the bins sum to 1).

Lead times (:func:`backtest_lead_times`): receipts are ordered by ``order_date``; the
last ``holdout_fraction`` is held out, models are fitted on the rest and predict each
held-out line (its lane and feature columns).  Lines a model cannot predict (unknown
lane) get the empirical distribution of all training lead times, so every model is
scored on the same lines; ``n_fallback`` counts them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from echelon_demand.models._common import point_lead_times, subset, truncate
from platform_core.components import DemandSeries, Forecaster, LeadTimeModel
from platform_core.distributions import DiscreteDistribution
from platform_core.forecasting.classes import classify
from platform_core.forecasting.scores import coverage, crps, pinball, quantiles
from platform_core.forecasting.series import padded

__all__ = [
    "LEVELS",
    "PIT_BINS",
    "pit_histogram",
    "backtest",
    "backtest_lead_times",
    "forecaster_classes",
    "score_distributions",
    "summarise",
]

LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.99)
#: bins of the PIT histogram (tenths)
PIT_BINS = 10


def pit_histogram(dists: list[DiscreteDistribution], y: np.ndarray, bins: int = PIT_BINS) -> np.ndarray:
    """Per-row non-randomised PIT weights (n, bins) of integer outcomes ``y`` (rows sum to 1).

    Row ``i`` is the uniform distribution on ``[F(y_i - 1), F(y_i)]`` binned into
    ``bins`` equal bins of ``[0, 1]`` (Czado, Gneiting & Held 2009).
    """
    y = np.rint(np.asarray(y, dtype=np.float64))
    lo = np.empty(len(dists))
    hi = np.empty(len(dists))
    for i, d in enumerate(dists):
        cdf = np.cumsum(d.pmf)
        cdf[-1] = 1.0
        k = int(y[i]) - d.offset
        hi[i] = 0.0 if k < 0 else (1.0 if k >= cdf.size else float(cdf[k]))
        lo[i] = 0.0 if k - 1 < 0 else (1.0 if k - 1 >= cdf.size else float(cdf[k - 1]))
    edges = np.linspace(0.0, 1.0, bins + 1)
    width = hi - lo
    a = np.clip(edges[None, :-1], lo[:, None], hi[:, None])
    b = np.clip(edges[None, 1:], lo[:, None], hi[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        w = (b - a) / width[:, None]
    # a zero-width interval (probability 0 outcome or a point forecast): all weight in its bin
    point = width <= 0
    if point.any():
        j = np.minimum((lo[point] * bins).astype(np.int64), bins - 1)
        w[point] = 0.0
        w[np.flatnonzero(point), j] = 1.0
    return w


def _mean_abs_diff(Y: np.ndarray) -> np.ndarray:
    d = np.abs(np.diff(Y, axis=1))
    ok = ~np.isnan(d)
    return np.where(ok, d, 0.0).sum(axis=1) / np.maximum(ok.sum(axis=1), 1)


def score_distributions(
    dists: list[DiscreteDistribution], y: np.ndarray, scale: np.ndarray,
    levels: Sequence[float] = LEVELS,
) -> dict[str, np.ndarray]:
    """Per-row metrics of distributions against outcomes (see the module docstring)."""
    lv = np.array(sorted(set(levels) | {0.025, 0.05, 0.1, 0.9, 0.95, 0.975}))
    Q = quantiles(dists, lv)
    col = {float(v): j for j, v in enumerate(lv)}
    s = np.where(scale > 0, scale, np.nan)
    out: dict[str, np.ndarray] = {}
    c = crps(dists, y)
    out["crps"] = c
    out["scaled_crps"] = c / s
    for q in levels:
        out[f"spl_{int(round(q * 100)):02d}"] = pinball(Q[:, col[float(q)]], y, float(q)) / s
    out["coverage_80"] = coverage(Q[:, col[0.1]], Q[:, col[0.9]], y)
    out["coverage_90"] = coverage(Q[:, col[0.05]], Q[:, col[0.95]], y)
    out["coverage_95"] = coverage(Q[:, col[0.025]], Q[:, col[0.975]], y)
    pit = pit_histogram(dists, y)
    for j in range(pit.shape[1]):
        out[f"pit_{j}"] = pit[:, j]
    return out


def summarise(name: str, labels: np.ndarray, metrics: dict[str, np.ndarray]) -> list[dict]:
    """Rows ``{forecaster, demand_class, n, metric...}`` per class and ``all``."""
    rows = []
    classes = ["all", *sorted({str(c) for c in labels})]
    for c in classes:
        sel = np.ones(labels.size, dtype=bool) if c == "all" else labels == c
        row: dict = {"forecaster": name, "demand_class": c, "n": int(sel.sum())}
        for k, v in metrics.items():
            vals = v[sel]
            vals = vals[np.isfinite(vals)]
            row[k] = float(vals.mean()) if vals.size else float("nan")
        rows.append(row)
    return rows


def forecaster_classes(names: Sequence[str]) -> dict[str, type[Forecaster]]:
    """Forecaster classes by registered name, from the registry ``echelon run`` uses.

    That registry holds ``bootstrap``, the models of ``echelon_demand.models`` and the
    forecasters of installed third-party plugins.

    Args:
        names: registered forecaster names.

    Returns:
        ``{name: class}`` in the order of ``names``.

    Raises:
        platform_core.plugin_host.UnknownComponentError: a name no plugin registered (the
            message lists the registered ones).
    """
    from platform_core.plugin_host import PluginHost

    host = PluginHost()
    return {str(n): host.forecaster(str(n)) for n in names}


def backtest(
    demand: DemandSeries,
    forecasters: Mapping[str, Forecaster] | Sequence[str],
    horizon: int = 3,
    origins: int = 3,
    step: int = 1,
    min_train: int = 6,
    levels: Sequence[float] = LEVELS,
    out: str | os.PathLike[str] | None = None,
    return_details: bool = False,
) -> pa.Table | tuple[pa.Table, dict[str, dict[str, np.ndarray]]]:
    """Rolling-origin backtest of demand forecasters.

    Args:
        demand: the series (oldest period first).
        forecasters: name -> unfitted forecaster, or registered forecaster names
            (:func:`forecaster_classes`; default parameters).
        horizon: periods summed per forecast [periods].
        origins: number of forecast origins.
        step: periods between consecutive origins [periods].
        min_train: shortest training part scored [periods].
        levels: quantile levels of the scaled pinball loss [-].
        out: write the table to this Parquet file when given.
        return_details: also return per-(series, origin) metrics per forecaster.

    Returns:
        Table with columns ``forecaster, demand_class, n, crps, scaled_crps, spl_50, ...,
        coverage_80, coverage_90, coverage_95, pit_0 .. pit_9`` (one row per forecaster
        and class, class ``all``
        first); with ``return_details`` also ``{name: {metric: array, "class": labels}}``.
    """
    if not isinstance(forecasters, Mapping):
        forecasters = {n: cls() for n, cls in forecaster_classes(list(forecasters)).items()}
    h = int(horizon)
    lengths = np.diff(np.asarray(demand.indptr, dtype=np.int64))
    details: dict[str, dict[str, list[np.ndarray]]] = {n: {} for n in forecasters}
    for j in range(int(origins)):
        cut = h + j * int(step)
        ok = lengths - cut >= int(min_train)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            continue
        sub = subset(demand, idx)
        vals = np.asarray(sub.values, dtype=np.float64)
        starts = np.asarray(sub.indptr)[1:] - cut
        win = vals[starts[:, None] + np.arange(h)[None, :]]
        good = ~np.isnan(win).any(axis=1)
        idx, starts, win = idx[good], starts[good], win[good]
        sub = subset(demand, idx)
        train = truncate(sub, np.full(idx.size, cut))
        y = np.rint(win.sum(axis=1))
        Ytr, _ = padded(train)
        scale = h * _mean_abs_diff(Ytr)
        labels = np.asarray(classify(train).label, dtype=object)
        lts = point_lead_times(np.full(idx.size, h))
        seeds = np.arange(idx.size, dtype=np.uint64) + np.uint64(1000 * j)
        for name, proto in forecasters.items():
            f = _clone(proto)
            f.fit(train)
            ltd = f.lead_time_demand(lts, np.zeros(idx.size, dtype=np.int64), seeds)
            m = score_distributions(ltd, y, scale, levels)
            d = details[name]
            for k, v in m.items():
                d.setdefault(k, []).append(v)
            d.setdefault("class", []).append(labels)
            d.setdefault("series", []).append(idx)
            d.setdefault("origin", []).append(np.full(idx.size, j))
    rows: list[dict] = []
    flat: dict[str, dict[str, np.ndarray]] = {}
    for name, d in details.items():
        if not d:
            continue
        fd = {k: np.concatenate(v) for k, v in d.items()}
        flat[name] = fd
        metrics = {k: v for k, v in fd.items() if k not in ("class", "series", "origin")}
        rows.extend(summarise(name, fd["class"], metrics))
    table = pa.Table.from_pylist(rows) if rows else pa.table({"forecaster": pa.array([], pa.string())})
    if out is not None:
        pq.write_table(table, os.fspath(out))
    if return_details:
        return table, flat
    return table


def _clone(f: Forecaster) -> Forecaster:
    """A fresh unfitted copy with the same constructor parameters."""
    import inspect

    params = {}
    for p in inspect.signature(type(f).__init__).parameters.values():
        if p.name != "self" and hasattr(f, p.name):
            params[p.name] = getattr(f, p.name)
    return type(f)(**params)


def backtest_lead_times(
    receipts: pa.Table,
    models: Mapping[str, LeadTimeModel],
    holdout_fraction: float = 0.2,
    period_days: float = 1.0,
    levels: Sequence[float] = LEVELS,
    out: str | os.PathLike[str] | None = None,
) -> pa.Table:
    """Time-ordered holdout backtest of lead-time models.

    Args:
        receipts: receipts table (schema ``RECEIPTS``, feature columns optional).
        models: name -> unfitted lead-time model.
        holdout_fraction: share of the latest orders held out [-].
        period_days: length of a period [days]; outcomes are lead times rounded to
            periods.
        levels: quantile levels of the pinball loss [-].
        out: write the table to this Parquet file when given.

    Returns:
        One row per model: ``model, n, n_fallback, crps, pinball_XX..., coverage_80,
        coverage_90, mae_median`` (CRPS, pinball and the absolute error of the median in periods).
    """
    t = receipts.sort_by([("order_date", "ascending"), ("order_id", "ascending")])
    n = t.num_rows
    n_test = max(1, int(round(n * float(holdout_fraction))))
    train, test = t.slice(0, n - n_test), t.slice(n - n_test)
    days = pc.days_between(test.column("order_date"), test.column("receipt_date")).to_numpy(
        zero_copy_only=False).astype(np.float64)
    y = np.rint(days / float(period_days))
    tdays = pc.days_between(train.column("order_date"), train.column("receipt_date")).to_numpy(
        zero_copy_only=False).astype(np.float64)
    glob = DiscreteDistribution.from_samples(np.maximum(np.rint(tdays / float(period_days)), 0))
    rows = []
    for name, model in models.items():
        model.fit(train)
        pred = model.predict(test, float(period_days))
        fb = np.array([p is None for p in pred])
        dists = [p if p is not None else glob for p in pred]
        lv = np.array(sorted(set(levels) | {0.05, 0.1, 0.9, 0.95}))
        Q = quantiles(dists, lv)
        col = {float(v): j for j, v in enumerate(lv)}
        row: dict = {"model": name, "n": int(n_test), "n_fallback": int(fb.sum())}
        row["crps"] = float(crps(dists, y).mean())
        for q in levels:
            row[f"pinball_{int(round(q * 100)):02d}"] = float(pinball(Q[:, col[float(q)]], y, q).mean())
        row["coverage_80"] = float(coverage(Q[:, col[0.1]], Q[:, col[0.9]], y).mean())
        row["coverage_90"] = float(coverage(Q[:, col[0.05]], Q[:, col[0.95]], y).mean())
        row["mae_median"] = float(np.mean(np.abs(Q[:, col[0.5]] - y)))
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    if out is not None:
        pq.write_table(table, os.fspath(out))
    return table
