"""Customer switching after a stockout, learned from order lines.

A *relationship* is one customer buying one SKU at one location (a stage). Its order lines
are put on the run's period grid (several lines in one period count as one order, short if
any is). At a relationship's first short line (period ``t1``) the customer either

* switches to a competitor for good (no further orders), with probability ``p``; or
* stays, but orders from then on with probability ``q x (1 - v)`` per period instead of
  ``q`` (a lasting volume loss ``v``).

``q`` is the relationship's order rate before ``t1``; it is not plugged in (a noisy rate
would bias ``v``) but integrated out: ``q`` has a Beta distribution per segment, fitted to
the windows ``(first order, t1]`` (beta-binomial likelihood), and each event's likelihood
is averaged over its posterior given its own window.  After ``t1`` the relationship is watched until its next short line (or
the end of the data): ``n`` orders in ``W`` periods.  The likelihood of one event is the
zero-inflated binomial::

    n = 0:  p + (1 - p) (1 - q (1 - v)) ** W
    n > 0:  (1 - p) (q (1 - v)) ** n (1 - q (1 - v)) ** (W - n)

with ``logit p = a + a_segment + b (margin_rate - centre)`` and ``logit v = c + c_segment``
(``margin_rate = (price - unit_cost) / price`` of the stage).  The segment effects have a
normal prior (``prior_sd`` on the logit scale) around the common intercept: partial
pooling, so a segment with few stockouts borrows strength from the others, and a customer
with no stockout history gets the prediction of its segment and SKU.  With ``prior_sd =
"auto"`` (the default) the prior's spread is estimated from the data, separately for ``p``
and ``v`` (empirical Bayes): a first fit under a wide prior (sd ``WIDE_PRIOR_SD``) gives
each segment's logit and its variance (inverse Hessian); the spread ``tau`` maximises the
restricted (REML) likelihood of ``logit_g ~ N(mu, tau^2 + variance_g)`` on
``[MIN_PRIOR_SD, WIDE_PRIOR_SD]`` (a segment with few events, an uncertain logit, weighs
little), and the final fit uses it.  So segments that really differ
a lot are not pulled together (a fixed ``prior_sd = 1`` shrank a key-account switching
probability of 0.0001 to 0.016 when segments differ by 15 on the logit scale), while
segments that differ little are pooled hard.  The fit maximises the
penalised likelihood (scipy); its uncertainty is a bootstrap over relationships, which also
carries the noise of each ``q``.

Expected lost future units per unit short at a stage [units/unit]::

    F = H x sum_c q_c [p_c + (1 - p_c) v_c] r_c / sum_c q_c u_c

over the stage's relationships ``c`` (a short line falls on ``c`` in proportion to its
order rate ``q_c``), with ``r_c = q_c x mean order quantity`` its volume per period, ``u_c``
its expected units short per short line and ``H`` the horizon [periods] over which a lost
unit of volume counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.optimize import minimize
from scipy.special import betaln, expit, log1p

__all__ = ["SwitchingModel", "SwitchingEvents", "Relationships", "order_periods"]

_NO_SEGMENT = "(all)"
_NODES = 24  # Gauss-Legendre nodes over the order rate q in (0, 1)
#: Prior sd of the first, nearly unpooled fit of ``prior_sd="auto"``, and the largest spread it picks [-].
WIDE_PRIOR_SD = 10.0
#: Smallest spread ``prior_sd="auto"`` picks [-].
MIN_PRIOR_SD = 0.05


@dataclass(frozen=True)
class Relationships:
    """Per relationship (customer x stage).

    Attributes:
        customer: customer identifier.
        stage_row: row of the stage in ``stages``.
        segment: segment code (index into ``SwitchingModel.segments_``).
        margin_rate: (price - unit_cost) / price of the stage [-].
        order_rate: orders per period before the first short line (all periods without one) [1/period].
        mean_quantity: mean ordered quantity per order period [units].
        lines: order periods seen [-].
    """

    customer: np.ndarray
    stage_row: np.ndarray
    segment: np.ndarray
    margin_rate: np.ndarray
    order_rate: np.ndarray
    mean_quantity: np.ndarray
    lines: np.ndarray


@dataclass(frozen=True)
class SwitchingEvents:
    """Per first short line with enough history before and after it.

    Attributes:
        relationship: index into :class:`Relationships`.
        orders_before: orders in ``(first order, t1]`` (the short one included) [-].
        periods_before: periods in that window, ``t1 - first order`` [periods].
        orders_after: ``n`` orders in the window after it [-].
        periods_after: ``W`` periods in that window [periods].
    """

    relationship: np.ndarray
    orders_before: np.ndarray
    periods_before: np.ndarray
    orders_after: np.ndarray
    periods_after: np.ndarray


def order_periods(order_lines: pa.Table, period_days: float) -> np.ndarray:
    """Period index of each order line on the run's grid (0 = the earliest line's period)."""
    days = order_lines.column("order_date").cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.asarray((days - days.min()) // max(1, round(period_days)), dtype=np.int64)


def _codes(values: list[str | None]) -> tuple[np.ndarray, list[str]]:
    arr = np.array([_NO_SEGMENT if v is None else v for v in values], dtype=object)
    names, codes = np.unique(arr.astype(str), return_inverse=True)
    return codes.astype(np.int64), [str(x) for x in names]


def _reml_spread(logit: np.ndarray, variance: np.ndarray) -> float:
    """Spread ``tau`` of group effects seen as ``logit_g ~ N(mu, tau^2 + variance_g)`` (REML).

    The restricted likelihood of the random-effects model, maximised over a log grid on
    ``[MIN_PRIOR_SD, WIDE_PRIOR_SD]``; a group whose logit is uncertain weighs little.
    """
    tau = np.geomspace(MIN_PRIOR_SD, WIDE_PRIOR_SD, 241)[:, None]
    total = tau ** 2 + variance[None, :]
    w = 1.0 / total
    mu = (w * logit).sum(axis=1, keepdims=True) / w.sum(axis=1, keepdims=True)
    ll = -0.5 * (np.log(total).sum(axis=1) + (w * (logit - mu) ** 2).sum(axis=1) + np.log(w.sum(axis=1)))
    return float(tau[int(np.argmax(ll)), 0])


class SwitchingModel:
    """Probability of switching and lasting volume loss after a stockout (see module doc).

    Args:
        prior_sd: standard deviation of a segment's effect around the common intercept, on
            the logit scale [-] (smaller pools more); ``"auto"``: estimated from the data,
            one for the switching probability and one for the volume loss (module doc).
        replications: bootstrap replications for the intervals [-].
        interval: central probability of the intervals [-].
        min_periods_before: least periods of history before a first short line for it to count [periods].
        min_periods_after: least periods of data after it [periods].
        seed: seed of the bootstrap.
    """

    def __init__(self, prior_sd: float | str = "auto", replications: int = 100, interval: float = 0.9,
                 min_periods_before: int = 4, min_periods_after: int = 4, seed: int = 0) -> None:
        if isinstance(prior_sd, str):
            if prior_sd != "auto":
                raise ValueError(f"prior_sd must be a number > 0 or 'auto', got {prior_sd!r}")
        elif not prior_sd > 0:
            raise ValueError(f"prior_sd must be > 0 or 'auto', got {prior_sd}")
        if not 0 < interval < 1:
            raise ValueError(f"interval must be in (0, 1), got {interval}")
        if replications < 2:
            raise ValueError(f"replications must be >= 2, got {replications}")
        self.prior_sd = prior_sd
        self._sd = (1.0, 1.0) if isinstance(prior_sd, str) else (float(prior_sd), float(prior_sd))
        self.replications = replications
        self.interval = interval
        self.min_periods_before = min_periods_before
        self.min_periods_after = min_periods_after
        self.seed = seed

    # --- data ---------------------------------------------------------------------------
    def _prepare(self, order_lines: pa.Table, stages: pa.Table, period_days: float) -> None:
        keys = list(zip(stages.column("sku").to_pylist(), stages.column("location").to_pylist(), strict=True))
        row_of = {k: i for i, k in enumerate(keys)}
        unit_cost = np.asarray(stages.column("unit_cost").to_numpy(zero_copy_only=False), dtype=float)
        price = np.asarray(stages.column("price").to_numpy(zero_copy_only=False), dtype=float)
        stage_margin_rate = np.where(price > 0, np.maximum(price - unit_cost, 0.0) / np.where(price > 0, price, 1.0),
                                     0.0)
        period = order_periods(order_lines, period_days)
        stage = np.array([row_of[k] for k in zip(order_lines.column("sku").to_pylist(),
                                                 order_lines.column("location").to_pylist(), strict=True)],
                         dtype=np.int64)
        cust_codes, _ = _codes(order_lines.column("customer").to_pylist())
        seg_values = (order_lines.column("customer_segment").to_pylist()
                      if "customer_segment" in order_lines.column_names else [None] * order_lines.num_rows)
        seg_line, self.segments_ = _codes(seg_values)
        ordered = np.asarray(order_lines.column("quantity_ordered").to_numpy(zero_copy_only=False), dtype=float)
        filled = (np.asarray(pc.fill_null(order_lines.column("quantity_filled"), np.nan)
                             .to_numpy(zero_copy_only=False), dtype=float)
                  if "quantity_filled" in order_lines.column_names else np.full(ordered.size, np.nan))
        flag = (np.asarray(pc.fill_null(order_lines.column("short"), False).to_numpy(zero_copy_only=False), bool)
                if "short" in order_lines.column_names else np.zeros(ordered.size, bool))
        short = np.where(np.isnan(filled), flag, filled < ordered)
        short_units = np.where(np.isnan(filled), np.where(flag, ordered, 0.0), ordered - np.nan_to_num(filled))
        # short share of the ordered quantity on short lines (ratio of sums)
        self.short_fraction_ = float(short_units[short].sum() / ordered[short].sum()) if short.any() else 1.0

        # relationship x period
        rel_key = stage * (int(cust_codes.max()) + 1) + cust_codes
        rel_names, rel = np.unique(rel_key, return_inverse=True)
        n_rel = rel_names.size
        n_per = int(period.max()) + 1
        cell = rel * n_per + period
        cells, first_line = np.unique(cell, return_index=True)
        c_rel, c_per = cells // n_per, cells % n_per
        c_short = np.zeros(cells.size, bool)
        np.logical_or.at(c_short, np.searchsorted(cells, cell), short)
        c_qty = np.bincount(np.searchsorted(cells, cell), weights=ordered, minlength=cells.size)
        rel_line = first_line[np.searchsorted(c_rel, np.arange(n_rel))]
        rel_stage = stage[rel_line]
        rel_customer = np.asarray(order_lines.column("customer").take(pa.array(rel_line)).to_pylist(), dtype=object)
        rel_seg = np.zeros(n_rel, np.int64)
        rel_seg[rel] = seg_line
        starts = np.searchsorted(c_rel, np.arange(n_rel))
        stops = np.searchsorted(c_rel, np.arange(n_rel), side="right")
        last = n_per - 1

        rate = np.full(n_rel, np.nan)
        ev_rel, ev_r, ev_nb, ev_n, ev_w = [], [], [], [], []
        for r in range(n_rel):
            per, sh = c_per[starts[r]:stops[r]], c_short[starts[r]:stops[r]]
            first = per[0]
            shorts = np.flatnonzero(sh & (per > first))
            if shorts.size == 0 or sh[0]:  # a short first order leaves no history before it
                w = last - first
                rate[r] = (per.size - 1) / w if w > 0 else np.nan
                continue
            t1 = per[shorts[0]]
            w_pre = t1 - first
            n_pre = int(np.searchsorted(per, t1, side="right")) - 1
            # the window ends on an order (the short one), so n/w overstates q; orders and
            # periods strictly before t1 estimate it without that bias (Haldane)
            rate[r] = (n_pre - 1) / (w_pre - 1) if w_pre > 1 else np.nan
            if w_pre < self.min_periods_before or last - t1 < self.min_periods_after:
                continue
            t2 = per[shorts[1]] if shorts.size > 1 else last
            after = per[(per > t1) & (per <= t2)]
            ev_rel.append(r)
            ev_r.append(n_pre)
            ev_nb.append(w_pre)
            ev_n.append(after.size)
            ev_w.append(t2 - t1)
        self.relationships_ = Relationships(
            customer=rel_customer, stage_row=rel_stage, segment=rel_seg, margin_rate=stage_margin_rate[rel_stage], order_rate=rate,
            mean_quantity=np.bincount(c_rel, weights=c_qty, minlength=n_rel) / np.maximum(stops - starts, 1),
            lines=(stops - starts).astype(np.int64),
        )
        self.events_ = SwitchingEvents(
            relationship=np.asarray(ev_rel, np.int64), orders_before=np.asarray(ev_r, float),
            periods_before=np.asarray(ev_nb, float),
            orders_after=np.asarray(ev_n, float), periods_after=np.asarray(ev_w, float),
        )
        self.margin_centre_ = float(np.mean(self.relationships_.margin_rate[self.events_.relationship])) \
            if ev_rel else 0.0

    # --- parameters: [a, a_seg (G), b, c, c_seg (G)] ------------------------------------
    def _split(self, theta: np.ndarray) -> tuple[float, np.ndarray, float, float, np.ndarray]:
        g = len(self.segments_)
        return float(theta[0]), theta[1:1 + g], float(theta[1 + g]), float(theta[2 + g]), theta[3 + g:3 + 2 * g]

    def _p_v(self, theta: np.ndarray, segment: np.ndarray, margin_rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, a_seg, b, c, c_seg = self._split(theta)
        p = expit(a + a_seg[segment] + b * (margin_rate - self.margin_centre_))
        v = expit(c + c_seg[segment])
        return np.asarray(p), np.asarray(v)

    def _rate_weights(self, weight: np.ndarray) -> np.ndarray:
        """Per event, quadrature weights of its order rate ``q`` given the window before the event.

        ``q`` of a relationship is drawn from a Beta distribution per segment whose two
        parameters maximise the (closed-form, beta-binomial) likelihood of the windows before
        the events; an event's weights are that prior times its own ``q ** r (1 - q) ** (N - r)``,
        normalised (the stopping at the short order does not change this likelihood).
        """
        ev, rel = self.events_, self.relationships_
        seg = rel.segment[ev.relationship]
        r, n = ev.orders_before, ev.periods_before
        g = len(self.segments_)
        log_ab = np.zeros((g, 2))
        for k in range(g):
            m = seg == k
            if not m.any():
                continue
            wk, rk, nk = weight[m], r[m], n[m]

            def nll(x: np.ndarray, wk: np.ndarray = wk, rk: np.ndarray = rk, nk: np.ndarray = nk) -> float:
                a, b = np.exp(x)
                return float(-np.sum(wk * (betaln(a + rk, b + nk - rk) - betaln(a, b))))

            log_ab[k] = minimize(nll, np.log([2.0, 2.0]), method="Nelder-Mead",
                                 options={"xatol": 1e-4, "fatol": 1e-6}).x
        a, b = np.exp(log_ab[seg, 0])[:, None], np.exp(log_ab[seg, 1])[:, None]
        q = self._nodes[None, :]
        log_w = (np.log(self._node_weights)[None, :] + (a + r[:, None] - 1.0) * np.log(q)
                 + (b + (n - r)[:, None] - 1.0) * np.log1p(-q))
        log_w -= log_w.max(axis=1, keepdims=True)
        w = np.exp(log_w)
        return np.asarray(w / w.sum(axis=1, keepdims=True))

    def _nll(self, theta: np.ndarray, weight: np.ndarray, rate_w: np.ndarray) -> tuple[float, np.ndarray]:
        """Penalised negative log-likelihood and its gradient (events weighted by ``weight``)."""
        ev, rel = self.events_, self.relationships_
        r = ev.relationship
        seg, x = rel.segment[r], rel.margin_rate[r] - self.margin_centre_
        p, v = self._p_v(theta, rel.segment[r], rel.margin_rate[r])
        p = np.clip(p, 1e-12, 1 - 1e-12)[:, None]
        v = v[:, None]
        q = self._nodes[None, :]
        rate = np.clip(q * (1.0 - v), 1e-12, 1 - 1e-12)
        n, w = ev.orders_after[:, None], ev.periods_after[:, None]
        log_stay = log1p(-p) + n * np.log(rate) + (w - n) * log1p(-rate)
        zero = n == 0
        log_node = np.where(zero, np.logaddexp(np.log(p), log_stay), log_stay)
        # each event: log of the rate-weighted mean over the quadrature nodes
        top = log_node.max(axis=1, keepdims=True)
        node_w = rate_w * np.exp(log_node - top)
        total = node_w.sum(axis=1, keepdims=True)
        ll = (np.log(total) + top)[:, 0]
        post = node_w / total  # posterior weight of each node
        # derivatives of each node's log-likelihood by the two linear predictors
        d_stay_v = (n / rate - (w - n) / (1.0 - rate)) * (-q * v * (1.0 - v))
        share = np.exp(log_stay - log_node)  # S / (p + S) where n == 0
        d_p = np.where(zero, (1.0 - share) * (1.0 - p) - share * p, -p)
        d_v = np.where(zero, share * d_stay_v, d_stay_v)
        d_p = (post * d_p).sum(axis=1)
        d_v = (post * d_v).sum(axis=1)
        g = len(self.segments_)
        wd_p, wd_v = weight * d_p, weight * d_v
        _, a_seg, _, _, c_seg = self._split(theta)
        grad = -np.concatenate((
            [wd_p.sum()], np.bincount(seg, weights=wd_p, minlength=g), [np.sum(wd_p * x)],
            [wd_v.sum()], np.bincount(seg, weights=wd_v, minlength=g),
        ))
        sd_p, sd_v = self._sd
        grad[1:1 + g] += a_seg / sd_p ** 2
        grad[3 + g:] += c_seg / sd_v ** 2
        penalty = 0.5 * (np.sum(a_seg ** 2) / sd_p ** 2 + np.sum(c_seg ** 2) / sd_v ** 2)
        return float(-np.sum(weight * ll) + penalty), grad

    def _fit_theta(self, weight: np.ndarray, start: np.ndarray) -> np.ndarray:
        rate_w = self._rate_weights(weight)
        res = minimize(self._nll, start, args=(weight, rate_w), jac=True, method="BFGS")
        return np.asarray(res.x)

    def _estimate_prior_sd(self, start: np.ndarray) -> tuple[float, float]:
        """Spread of the segment logits of ``p`` and of ``v`` (REML, module doc)."""
        g = len(self.segments_)
        seg_ev = self.relationships_.segment[self.events_.relationship]
        seen = np.flatnonzero(np.bincount(seg_ev, minlength=g) > 0)
        if seen.size < 2:
            return 1.0, 1.0
        self._sd = (WIDE_PRIOR_SD, WIDE_PRIOR_SD)
        weight = np.ones(self.events_.relationship.size)
        rate_w = self._rate_weights(weight)
        theta = np.asarray(minimize(self._nll, start, args=(weight, rate_w), jac=True, method="BFGS").x)
        # Hessian of the penalised negative log-likelihood by central differences of its gradient
        k = theta.size
        hess = np.empty((k, k))
        for j in range(k):
            step = np.zeros(k)
            step[j] = 1e-5 * max(1.0, abs(theta[j]))
            hess[j] = (self._nll(theta + step, weight, rate_w)[1]
                       - self._nll(theta - step, weight, rate_w)[1]) / (2.0 * step[j])
        cov = np.linalg.pinv(0.5 * (hess + hess.T))
        out = []
        for common in (0, 2 + g):  # a (p) and c (v); each segment's logit = common + effect
            contrast = np.zeros((seen.size, k))
            contrast[:, common] = 1.0
            contrast[np.arange(seen.size), common + 1 + seen] = 1.0
            logit = contrast @ theta
            var = np.einsum("ij,jk,ik->i", contrast, cov, contrast)
            out.append(_reml_spread(logit, np.maximum(var, 1e-12)))
        return out[0], out[1]

    def fit(self, order_lines: pa.Table, stages: pa.Table, period_days: float) -> Self:
        """Fit on the order lines (schema ``ORDER_LINES``) of the ``stages``; returns self.

        Raises:
            ValueError: no first short line has enough history before and after it.
        """
        self._prepare(order_lines, stages, period_days)
        nodes, weights = np.polynomial.legendre.leggauss(_NODES)
        self._nodes, self._node_weights = (nodes + 1.0) / 2.0, weights / 2.0
        n_ev = self.events_.relationship.size
        if n_ev == 0:
            raise ValueError("order_lines: no customer has a short line with "
                             f"{self.min_periods_before} periods of orders before it and "
                             f"{self.min_periods_after} periods of data after it; switching cannot be learned")
        g = len(self.segments_)
        start = np.zeros(3 + 2 * g)
        start[0], start[2 + g] = -1.5, -1.5
        if isinstance(self.prior_sd, str):
            self._sd = self._estimate_prior_sd(start)
        #: the prior sds of the segment effects of ``p`` and ``v`` used [-] (estimated with "auto")
        self.prior_sd_ = self._sd
        self.theta_ = self._fit_theta(np.ones(n_ev), start)
        rng = np.random.default_rng(self.seed)
        boot = np.empty((self.replications, start.size))
        for b in range(self.replications):  # bootstrap over relationships: multinomial event weights
            boot[b] = self._fit_theta(rng.multinomial(n_ev, np.full(n_ev, 1.0 / n_ev)).astype(float), self.theta_)
        self.theta_boot_ = boot
        return self

    # --- predictions --------------------------------------------------------------------
    def predict(self, segment: np.ndarray, margin_rate: np.ndarray,
                replicates: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Switching probability and volume loss [-] for segment codes and margin rates.

        With ``replicates`` the arrays get a leading axis, one row per bootstrap replication.
        """
        if not replicates:
            return self._p_v(self.theta_, segment, margin_rate)
        out = [self._p_v(t, segment, margin_rate) for t in self.theta_boot_]
        return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])

    def _interval(self, values: np.ndarray) -> tuple[float, float]:
        tail = (1.0 - self.interval) / 2.0
        lo, hi = np.quantile(values, [tail, 1.0 - tail])
        return float(lo), float(hi)

    def summary(self) -> dict[str, float]:
        """Mean switching probability and volume loss over the observed stockout events, with intervals.

        Keys: ``switch_probability``, ``switch_probability_lo``/``_hi``, ``volume_loss``,
        ``volume_loss_lo``/``_hi``, ``events``.
        """
        rel = self.relationships_
        r = self.events_.relationship
        p, v = self.predict(rel.segment[r], rel.margin_rate[r])
        pb, vb = self.predict(rel.segment[r], rel.margin_rate[r], replicates=True)
        p_lo, p_hi = self._interval(pb.mean(axis=1))
        v_lo, v_hi = self._interval(vb.mean(axis=1))
        return {"switch_probability": float(p.mean()), "switch_probability_lo": p_lo, "switch_probability_hi": p_hi,
                "volume_loss": float(v.mean()), "volume_loss_lo": v_lo, "volume_loss_hi": v_hi,
                "events": float(r.size)}

    def stage_estimates(self, n_stages: int, horizon_periods: float) -> dict[str, np.ndarray]:
        """Per stage row: lost future units per unit short ``F`` with its interval, and drivers.

        Keys: ``future_units`` (F [units/unit]), ``future_units_lo``, ``future_units_hi``,
        ``switch_probability`` and ``volume_loss`` (averaged over the stage's
        relationships, weighted by order rate) [-]; NaN at stages without order lines.
        """
        rel = self.relationships_
        ok = np.isfinite(rel.order_rate) & (rel.order_rate > 0)
        st, q = rel.stage_row[ok], rel.order_rate[ok]
        r_c = q * rel.mean_quantity[ok]
        u_c = self.short_fraction_ * rel.mean_quantity[ok]
        den = np.bincount(st, weights=q * u_c, minlength=n_stages)
        w_sum = np.bincount(st, weights=q, minlength=n_stages)
        has = den > 0

        def per_stage(p: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            lost = p + (1.0 - p) * v
            num = np.bincount(st, weights=q * lost * r_c, minlength=n_stages)
            f = np.where(has, horizon_periods * num / np.where(has, den, 1.0), np.nan)
            ps = np.where(has, np.bincount(st, weights=q * p, minlength=n_stages) / np.where(has, w_sum, 1.0), np.nan)
            vs = np.where(has, np.bincount(st, weights=q * v, minlength=n_stages) / np.where(has, w_sum, 1.0), np.nan)
            return f, ps, vs

        p, v = self.predict(rel.segment[ok], rel.margin_rate[ok])
        f, ps, vs = per_stage(p, v)
        pb, vb = self.predict(rel.segment[ok], rel.margin_rate[ok], replicates=True)
        fb = np.stack([per_stage(pb[b], vb[b])[0] for b in range(pb.shape[0])])
        tail = (1.0 - self.interval) / 2.0
        lo = np.full(n_stages, np.nan)
        hi = np.full(n_stages, np.nan)
        if has.any():
            lo[has], hi[has] = np.quantile(fb[:, has], [tail, 1.0 - tail], axis=0)
        return {"future_units": f, "future_units_lo": lo, "future_units_hi": hi,
                "switch_probability": ps, "volume_loss": vs}
