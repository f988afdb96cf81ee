"""Portfolio allocation under coupling constraints: one point per network on its frontier.

The problem (:class:`AllocationProblem`): ``N`` networks, each with ``K`` candidate points
(its customer-facing levels at ``K`` target shifts; a point may be missing, NaN cost);
point ``k`` of network ``n`` costs ``cost[n, k]`` [currency/period] and uses each
constraint ``j`` by a mean ``mean[n, k]``, a variance ``var[n, k]`` and a third central
moment ``third[n, k]``.  Constraint ``j`` holds when the Cornish-Fisher quantile of the sum
over independent networks, ``M + z sqrt(V) + (z^2 - 1) / 6 * T / V`` (``M``, ``V``, ``T`` the
sums with the offsets), plus a confidence margin, is at most the limit (``z = 0`` and zero variance:
the mean, linear).  The margin is ``z_margin sqrt(E)``, ``E`` the sum of the networks' squared
standard errors ``est_var[n, k]`` of the run's estimate of their mean use (networks are simulated
on independent streams, so the SE of the sum is the root-sum-of-squares): the limit then holds
for an upper confidence bound of the mean, not only for the estimate.  Choose one point per
network, minimising the total cost, subject to every constraint.

:func:`allocate` solves it by Lagrangian relaxation and then repairs and fills up greedily:

1. the recommended point of every network (``start``); done when it is feasible;
2. multipliers ``lambda_j >= 0``: the duals of the LP relaxation over every network's
   points (HiGHS, ``scipy.optimize.linprog``), each constraint entering with its weight
   linearised at the recommendation (mean use, plus ``z * var / (2 sigma)`` and the skew
   term's slope for a quantile, and ``z_margin * est_var / (2 SE)`` for the margin); each network starts at the lowest point of its LP mix;
3. repair: while a constraint is violated (the linearisation of a quantile), the step
   down with the least cost per unit of violation removed is taken;
4. fill-up: steps up (towards the recommendation) in order of cost saved per priced
   resource, each taken when every constraint still holds; then pairwise exchanges (one
   network up, another down) while they save cost, within ``EXCHANGE_SECONDS``.

The multipliers are the constraints' shadow prices [currency/period per unit of the
limit]. Only the per-network point arrays are touched (10,000 networks x 7 points: about
5 s, most of it the LP).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

__all__ = ["ConstraintRows", "AllocationProblem", "Allocation", "allocate", "constraint_usage", "estimate_variance"]

#: time budget of the pairwise exchanges after the fill-up [s]
EXCHANGE_SECONDS = 2.0


@dataclass(frozen=True)
class ConstraintRows:
    """One coupling constraint over the networks that can move it.

    Attributes:
        name: the constraint's id.
        nets: indices of the networks it counts (ascending, unique).
        mean: [len(nets), K] mean use of each point [unit of the limit].
        var: [len(nets), K] variance of the use [unit^2]; zeros for a linear constraint.
        z: the quantile's normal deviate (1.645 for p95; 0: the mean).
        limit: the limit [unit].
        offset_mean: use of the rows no choice moves [unit].
        offset_var: their variance [unit^2].
        third: [len(nets), K] third central moment of the use [unit^3] (None: zeros).
        offset_third: that of the rows no choice moves [unit^3].
        est_var: [len(nets), K] squared standard error of the run's estimate of each point's
            mean use [unit^2] (None: zeros, no margin).
        offset_est_var: that of the rows no choice moves [unit^2].
        z_margin: the confidence's one-sided normal deviate (1.645 for 0.95; 0: no margin).
    """

    name: str
    nets: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    z: float
    limit: float
    offset_mean: float = 0.0
    offset_var: float = 0.0
    third: np.ndarray | None = None
    offset_third: float = 0.0
    est_var: np.ndarray | None = None
    offset_est_var: float = 0.0
    z_margin: float = 0.0

    def third_or_zeros(self) -> np.ndarray:
        """``third``, zeros when not given."""
        return np.zeros_like(self.mean) if self.third is None else self.third

    def est_var_or_zeros(self) -> np.ndarray:
        """``est_var``, zeros when not given."""
        return np.zeros_like(self.mean) if self.est_var is None else self.est_var


@dataclass(frozen=True)
class AllocationProblem:
    """Networks' points and the constraints that couple them (see module doc).

    Attributes:
        cost: [N, K] cost of each point [currency/period]; NaN: no such point.
        start: [N] the recommended point of each network (always present).
        constraints: the constraints.
    """

    cost: np.ndarray
    start: np.ndarray
    constraints: tuple[ConstraintRows, ...]


@dataclass
class Allocation:
    """The chosen point per network and each constraint's figures.

    Attributes:
        choice: [N] chosen point per network.
        shadow_price: per constraint, its multiplier [currency/period per unit].
        used: per constraint, its use at the choice [unit].
        feasible: per constraint, whether it holds at the choice.
        cost: the total cost of the choice [currency/period].
    """

    choice: np.ndarray
    shadow_price: np.ndarray
    used: np.ndarray
    feasible: np.ndarray
    cost: float
    notes: list[str] = field(default_factory=list)


def _quantile(mean: float, var: float, third: float, z: float) -> float:
    """Cornish-Fisher quantile of deviate ``z`` of a sum with these moments [unit]."""
    if z == 0.0 or var <= 0.0:
        return mean
    return mean + z * math.sqrt(var) + (z * z - 1.0) / 6.0 * third / var


def _bound(mean: float, var: float, third: float, est: float, c: ConstraintRows) -> float:
    """The figure held against the limit: the quantile plus the confidence margin [unit]."""
    return _quantile(mean, var, third, c.z) + c.z_margin * math.sqrt(max(est, 0.0))


def constraint_usage(c: ConstraintRows, choice: np.ndarray) -> float:
    """Use of constraint ``c`` when the networks take ``choice``, margin included [unit]."""
    k = choice[c.nets]
    rows = np.arange(c.nets.size)
    mean = c.offset_mean + float(c.mean[rows, k].sum())
    var = c.offset_var + float(c.var[rows, k].sum())
    third = c.offset_third + float(c.third_or_zeros()[rows, k].sum())
    return _bound(mean, var, third, estimate_variance(c, choice), c)


def estimate_variance(c: ConstraintRows, choice: np.ndarray) -> float:
    """Squared standard error of the run's estimate of the mean use at ``choice`` [unit^2]."""
    rows = np.arange(c.nets.size)
    return c.offset_est_var + float(c.est_var_or_zeros()[rows, choice[c.nets]].sum())


def _weights(p: AllocationProblem) -> list[np.ndarray]:
    """Per constraint, the linearised weight of each of its networks' points."""
    out = []
    for c in p.constraints:
        w = c.mean.copy()
        if c.z > 0.0:
            rows = np.arange(c.nets.size)
            var = max(c.offset_var + float(c.var[rows, p.start[c.nets]].sum()), 1e-300)
            w = w + c.z * c.var / (2.0 * math.sqrt(var)) + (c.z * c.z - 1.0) / 6.0 * c.third_or_zeros() / var
        if c.z_margin > 0.0:
            est = max(estimate_variance(c, p.start), 1e-300)
            w = w + c.z_margin * c.est_var_or_zeros() / (2.0 * math.sqrt(est))
        out.append(w)
    return out


def _lp_relaxation(p: AllocationProblem) -> tuple[np.ndarray, np.ndarray] | None:
    """The LP relaxation over the networks' points (HiGHS): mixes ``x [N, K]`` and multipliers.

    Every constraint enters with its linearised weight (:func:`_weights`) and the limit
    moved by the same linearisation; None when the relaxation is infeasible (a limit below
    every network's lowest point).
    """
    n, kk = p.cost.shape
    valid = np.isfinite(p.cost)
    c = np.where(valid, p.cost, 0.0).ravel()
    eq = sparse.csr_matrix((np.ones(n * kk), (np.repeat(np.arange(n), kk), np.arange(n * kk))), shape=(n, n * kk))
    w = _weights(p)
    rows, cols, vals, rhs = [], [], [], []
    for j, con in enumerate(p.constraints):
        idx = (con.nets[:, None] * kk + np.arange(kk)[None, :]).ravel()
        rows.append(np.full(idx.size, j))
        cols.append(idx)
        vals.append(np.nan_to_num(w[j]).ravel())
        start_w = float(w[j][np.arange(con.nets.size), p.start[con.nets]].sum())
        # the weight sum at which the use, linearised at the recommendation, reaches the limit
        rhs.append(start_w - (constraint_usage(con, p.start) - con.limit))
    ub = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(len(p.constraints), n * kk))
    res = linprog(c, A_ub=ub, b_ub=np.asarray(rhs), A_eq=eq, b_eq=np.ones(n),
                  bounds=np.column_stack([np.zeros(n * kk), valid.ravel().astype(float)]), method="highs")
    if res.status != 0:
        return None
    return np.asarray(res.x).reshape(n, kk), np.maximum(-np.asarray(res.ineqlin.marginals), 0.0)


def _lowest_points(p: AllocationProblem) -> np.ndarray:
    return np.asarray(np.argmax(np.isfinite(p.cost), axis=1), dtype=np.int64)


def _holds(c: ConstraintRows, choice: np.ndarray) -> bool:
    return constraint_usage(c, choice) <= c.limit * (1.0 + 1e-12)


def _step(valid: np.ndarray, k: np.ndarray, direction: int) -> np.ndarray:
    """The next valid point below (direction -1) or above (+1) ``k`` per network; -1 if none."""
    n, kk = valid.shape
    out = np.full(n, -1)
    cur = k.copy()
    todo = np.ones(n, dtype=bool)
    for _ in range(kk):
        cur = cur + direction
        inside = (cur >= 0) & (cur < kk)
        todo &= inside
        if not todo.any():
            break
        hit = todo & valid[np.arange(n), np.clip(cur, 0, kk - 1)]
        out[hit] = cur[hit]
        todo &= ~hit
    return out


class _Usage:
    """Running sums of every constraint's use, updated per single-network move."""

    def __init__(self, p: AllocationProblem, choice: np.ndarray) -> None:
        self.p = p
        self.mean = np.zeros(len(p.constraints))
        self.var = np.zeros(len(p.constraints))
        self.third = np.zeros(len(p.constraints))
        self.est = np.zeros(len(p.constraints))
        self.pos: list[dict[int, int]] = []
        self.of_net: dict[int, list[tuple[int, int]]] = {}
        for j, c in enumerate(p.constraints):
            rows = np.arange(c.nets.size)
            k = choice[c.nets]
            self.mean[j] = c.offset_mean + float(c.mean[rows, k].sum())
            self.var[j] = c.offset_var + float(c.var[rows, k].sum())
            self.third[j] = c.offset_third + float(c.third_or_zeros()[rows, k].sum())
            self.est[j] = estimate_variance(c, choice)
            for r, n in enumerate(c.nets.tolist()):
                self.of_net.setdefault(n, []).append((j, r))

    def value(self, j: int, dm: float = 0.0, dv: float = 0.0, dt: float = 0.0, de: float = 0.0) -> float:
        c = self.p.constraints[j]
        return _bound(float(self.mean[j]) + dm, float(self.var[j]) + dv, float(self.third[j]) + dt,
                      float(self.est[j]) + de, c)

    def delta(self, n: int, k_old: int, k_new: int) -> list[tuple[int, float, float, float, float]]:
        out = []
        for j, r in self.of_net.get(n, ()):
            c = self.p.constraints[j]
            t = c.third_or_zeros()
            e = c.est_var_or_zeros()
            out.append((j, float(c.mean[r, k_new] - c.mean[r, k_old]), float(c.var[r, k_new] - c.var[r, k_old]),
                        float(t[r, k_new] - t[r, k_old]), float(e[r, k_new] - e[r, k_old])))
        return out

    def apply(self, d: list[tuple[int, float, float, float, float]]) -> None:
        for j, dm, dv, dt, de in d:
            self.mean[j] += dm
            self.var[j] += dv
            self.third[j] += dt
            self.est[j] += de


def _repair(p: AllocationProblem, choice: np.ndarray, valid: np.ndarray, use: _Usage) -> bool:
    """Steps down, least cost per unit of violation removed first, until all hold; False if stuck."""
    limits = np.array([c.limit for c in p.constraints])
    for _ in range(p.cost.shape[0] * p.cost.shape[1] + 1):
        over = np.array([use.value(j) - limits[j] for j in range(limits.size)])
        if np.all(over <= limits * 1e-12):
            return True
        nets = np.unique(np.concatenate([p.constraints[j].nets for j in np.flatnonzero(over > 0)]))
        down = _step(valid[nets], choice[nets], -1)
        best, best_ratio = None, math.inf
        for n, kd in zip(nets.tolist(), down.tolist(), strict=True):
            if kd < 0:
                continue
            d = use.delta(n, int(choice[n]), kd)
            gain = 0.0
            for j, dm, dv, dt, de in d:
                if over[j] > 0:
                    gain += min(over[j], use.value(j) - use.value(j, dm, dv, dt, de)) / max(limits[j], 1e-300)
            if gain <= 0:
                continue
            ratio = float(p.cost[n, kd] - p.cost[n, choice[n]]) / gain
            if ratio < best_ratio:
                best, best_ratio = (n, kd, d), ratio
        if best is None:
            return False
        n, kd, d = best
        choice[n] = kd
        use.apply(d)
    return False


def _fill_up(p: AllocationProblem, choice: np.ndarray, valid: np.ndarray, use: _Usage, lam: np.ndarray) -> None:
    """Moves up towards the recommendation while every constraint still holds.

    Every higher point of every network below its recommendation is a candidate, ranked by
    cost saved per priced resource (the multipliers as prices); a candidate is taken when
    it is still above the network's point and every limit still holds.  Repeated until
    nothing moves.
    """
    limits = np.array([c.limit for c in p.constraints])
    price = np.where(lam > 0, lam, 0.0)
    for _ in range(p.cost.shape[1]):
        below = np.flatnonzero(choice < p.start)
        cand = []
        for n in below.tolist():
            k = int(choice[n])
            for ku in range(k + 1, int(p.start[n]) + 1):
                if not valid[n, ku]:
                    continue
                saved = float(p.cost[n, k] - p.cost[n, ku])
                d = use.delta(n, k, ku)
                priced = sum(price[j] * (use.value(j, dm, dv, dt, de) - use.value(j)) for j, dm, dv, dt, de in d)
                cand.append((-(saved / priced) if priced > 0 else -math.inf, n, ku))
        cand.sort()
        moved = False
        for _r, n, ku in cand:
            k = int(choice[n])
            if ku <= k:
                continue
            d = use.delta(n, k, ku)
            if all(use.value(j, dm, dv, dt, de) <= limits[j] * (1.0 + 1e-12) for j, dm, dv, dt, de in d):
                choice[n] = ku
                use.apply(d)
                moved = True
        if not moved:
            return


def _exchange(p: AllocationProblem, choice: np.ndarray, valid: np.ndarray, use: _Usage,
              seconds: float = EXCHANGE_SECONDS) -> None:
    """Pairwise exchanges: one network up, another down, when that holds every limit and costs less.

    A raise's best partner is found over every network's lower points at once (arrays of
    each point's cost and use per constraint); exchanges repeat until none improves or the
    time budget ``seconds`` [s] is spent (the fill-up's result is kept as it stands).
    """
    t_end = time.perf_counter() + seconds
    n, kk = p.cost.shape
    n_con = len(p.constraints)
    mean = np.zeros((n_con, n, kk))
    var = np.zeros((n_con, n, kk))
    third = np.zeros((n_con, n, kk))
    est = np.zeros((n_con, n, kk))
    for j, c in enumerate(p.constraints):
        mean[j, c.nets] = c.mean
        var[j, c.nets] = c.var
        third[j, c.nets] = c.third_or_zeros()
        est[j, c.nets] = c.est_var_or_zeros()
    z = np.array([c.z for c in p.constraints])
    zm = np.array([c.z_margin for c in p.constraints])
    limits = np.array([c.limit for c in p.constraints])
    cost = np.where(valid, p.cost, np.inf)
    rows = np.arange(n)
    improved = True
    while improved and time.perf_counter() < t_end:
        improved = False
        cur_cost = cost[rows, choice]
        d_cost = cost - cur_cost[:, None]  # [N, K] cost of moving each network to each point
        lower = valid & (np.arange(kk)[None, :] < choice[:, None])
        dm_all = mean - mean[:, rows, choice][:, :, None]
        dv_all = var - var[:, rows, choice][:, :, None]
        dt_all = third - third[:, rows, choice][:, :, None]
        de_all = est - est[:, rows, choice][:, :, None]
        for a in np.flatnonzero(choice < p.start).tolist():
            if time.perf_counter() > t_end:
                return
            ka = int(choice[a])
            for ku in range(int(p.start[a]), ka, -1):
                if not valid[a, ku]:
                    continue
                saved = -float(d_cost[a, ku])
                m_after = use.mean + dm_all[:, a, ku]
                v_after = use.var + dv_all[:, a, ku]
                t_after = use.third + dt_all[:, a, ku]
                e_after = use.est + de_all[:, a, ku]
                # every partner b at every lower point: the limits after both moves
                tot_m = m_after[:, None, None] + dm_all
                tot_v = np.maximum(v_after[:, None, None] + dv_all, 0.0)
                tot_t = t_after[:, None, None] + dt_all
                margin = zm[:, None, None] * np.sqrt(np.maximum(e_after[:, None, None] + de_all, 0.0))
                skew = np.where(tot_v > 0, (z * z - 1.0)[:, None, None] / 6.0 * tot_t / np.where(tot_v > 0, tot_v, 1.0),
                                0.0) * (z > 0)[:, None, None]
                ok = np.all(tot_m + z[:, None, None] * np.sqrt(tot_v) + skew + margin
                            <= limits[:, None, None] * (1 + 1e-12), axis=0) & lower
                ok[a] = False
                if not ok.any():
                    continue
                extra = np.where(ok, d_cost, np.inf)
                b, kb = np.unravel_index(int(np.argmin(extra)), extra.shape)
                if extra[b, kb] < saved - 1e-9 * max(1.0, abs(saved)):
                    use.apply(use.delta(a, ka, ku))
                    use.apply(use.delta(int(b), int(choice[b]), int(kb)))
                    choice[a], choice[b] = ku, kb
                    improved = True
                    break
            if improved:
                break


def allocate(p: AllocationProblem) -> Allocation:
    """One point per network minimising the total cost under the constraints (module doc)."""
    n_con = len(p.constraints)
    choice = p.start.astype(np.int64).copy()
    valid = np.isfinite(p.cost)
    if n_con == 0 or all(_holds(c, choice) for c in p.constraints):
        return _result(p, choice, np.zeros(n_con), [])
    if choice.size == 0:
        return _result(p, choice, np.zeros(n_con), ["no network has frontier points to cut: a limit is not met"])
    notes: list[str] = []
    lp = _lp_relaxation(p)
    if lp is None:
        notes.append("the limits cannot all be met even at every network's lowest point")
        choice, lam = _lowest_points(p), np.zeros(n_con)
    else:
        x, lam = lp
        # each network at the lowest point of its mix: within every (monotone) limit the mix meets
        choice = np.asarray(np.argmax(x > 1e-9, axis=1), dtype=np.int64)
    use = _Usage(p, choice)
    if not _repair(p, choice, valid, use):
        notes.append("some constraint cannot be met by cutting service further")
    _fill_up(p, choice, valid, use, lam)
    if all(_holds(c, choice) for c in p.constraints):
        _exchange(p, choice, valid, use)
        _fill_up(p, choice, valid, use, lam)
    return _result(p, choice, lam, notes)


def _result(p: AllocationProblem, choice: np.ndarray, lam: np.ndarray, notes: list[str]) -> Allocation:
    used = np.array([constraint_usage(c, choice) for c in p.constraints])
    feasible = np.array([u <= c.limit * (1.0 + 1e-9) for u, c in zip(used, p.constraints, strict=True)], dtype=bool)
    cost = float(p.cost[np.arange(choice.size), choice].sum()) if choice.size else 0.0
    return Allocation(choice=choice, shadow_price=lam, used=used, feasible=feasible, cost=cost, notes=notes)
