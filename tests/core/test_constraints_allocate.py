"""The allocation on frontier points against exact solvers (scipy's MILP and LP, exhaustive search).

Instances are random but shaped like a run's frontier: per network, points with more stock
cost less in expected shortage and use more space and money.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from platform_core.constraints import AllocationProblem, ConstraintRows, allocate, constraint_usage
from platform_core.constraints.allocate import estimate_variance


def _instance(seed: int, n: int = 40, k: int = 6, tight: float = 0.75, z: float = 0.0):
    rng = np.random.default_rng(seed)
    stock = np.cumsum(rng.uniform(0.5, 3.0, (n, k)), axis=1)  # rising with the point
    short = np.cumsum(rng.uniform(0.2, 4.0, (n, k))[:, ::-1], axis=1)[:, ::-1]  # falling with the point
    cost = short * rng.uniform(1.0, 20.0, (n, 1))
    cost[rng.random((n, k)) < 0.05] = np.nan  # a few missing points
    cost[:, -1] = np.nan_to_num(cost[:, -1], nan=0.0)
    volume = rng.uniform(0.01, 0.1, (n, 1))
    value = rng.uniform(5.0, 50.0, (n, 1))
    loc = rng.integers(0, 2, n)
    cons = []
    start = np.full(n, k - 1)
    for j in range(2):
        nets = np.flatnonzero(loc == j)
        mean = volume[nets] * stock[nets]
        var = (volume[nets] * stock[nets]) ** 2 * 0.3 if z else np.zeros_like(mean)
        c = ConstraintRows(f"space{j}", nets, mean, var, z, 1.0)
        use = constraint_usage(c, start)
        cons.append(ConstraintRows(f"space{j}", nets, mean, var, z, (tight if j == 0 else 1.2) * use))
    nets = np.arange(n)
    b = ConstraintRows("budget", nets, value * stock, np.zeros((n, k)), 0.0, 1.0)
    cons.append(ConstraintRows("budget", nets, value * stock, np.zeros((n, k)), 0.0,
                               tight * constraint_usage(b, start)))
    return AllocationProblem(cost=cost, start=start, constraints=tuple(cons))


def _milp(p: AllocationProblem) -> float:
    """The exact optimum: binary x[n, k], one point per network, linear constraints."""
    n, k = p.cost.shape
    valid = np.isfinite(p.cost).ravel()
    c = np.nan_to_num(p.cost).ravel()
    rows = [np.kron(np.eye(n), np.ones(k))]
    lo, hi = [np.ones(n)], [np.ones(n)]
    for con in p.constraints:
        a = np.zeros((n, k))
        a[con.nets] = con.mean
        rows.append(a.ravel()[None, :])
        lo.append([-np.inf])
        hi.append([con.limit - con.offset_mean])
    res = milp(c, constraints=LinearConstraint(np.vstack(rows), np.concatenate(lo), np.concatenate(hi)),
               integrality=np.ones(n * k), bounds=Bounds(0, valid.astype(float)))
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("seed", range(4))
def test_within_one_percent_of_the_exact_milp(seed):
    p = _instance(seed)
    a = allocate(p)
    for con in p.constraints:  # never above a limit
        assert constraint_usage(con, a.choice) <= con.limit * (1 + 1e-9)
    best = _milp(p)
    assert best <= a.cost + 1e-9  # the MILP is the optimum
    assert a.cost <= best * 1.01, (a.cost, best)
    assert a.feasible.all()
    assert a.shadow_price[2] > 0 and a.shadow_price[1] == 0  # the budget binds, space1 is loose


def test_shadow_price_is_the_lp_dual_of_a_single_budget():
    """One linear constraint: the multiplier found by bisection is the LP relaxation's dual."""
    p0 = _instance(3, n=60)
    p = AllocationProblem(cost=p0.cost, start=p0.start, constraints=(p0.constraints[2],))
    a = allocate(p)
    n, k = p.cost.shape
    valid = np.isfinite(p.cost).ravel()
    res = linprog(np.nan_to_num(p.cost).ravel(), A_ub=np.asarray(p.constraints[0].mean).ravel()[None, :],
                  b_ub=[p.constraints[0].limit], A_eq=np.kron(np.eye(n), np.ones(k)), b_eq=np.ones(n),
                  bounds=list(zip(np.zeros(n * k), valid.astype(float), strict=True)), method="highs")
    dual = -float(res.ineqlin.marginals[0])
    assert dual > 0
    assert a.shadow_price[0] == pytest.approx(dual, rel=1e-6)
    assert res.fun <= a.cost <= res.fun * 1.01  # the LP bound, and the allocation within 1 % of it


def test_p95_constraint_against_exhaustive_search():
    """A non-linear (mean + 1.645 sd) space limit on a small instance: every combination tried."""
    p = _instance(5, n=7, k=4, tight=0.8, z=1.645)
    a = allocate(p)
    best = math.inf
    for combo in itertools.product(range(4), repeat=7):
        ch = np.array(combo)
        cost = p.cost[np.arange(7), ch]
        if not np.all(np.isfinite(cost)):
            continue
        if all(constraint_usage(c, ch) <= c.limit for c in p.constraints):
            best = min(best, float(cost.sum()))
    assert all(constraint_usage(c, a.choice) <= c.limit * (1 + 1e-9) for c in p.constraints)
    assert best <= a.cost <= best * 1.01 + 1e-9, (a.cost, best)


def _with_margin(p: AllocationProblem, rel_se: float = 0.05, z_margin: float = 1.645) -> AllocationProblem:
    """Every constraint's estimate of each network's mean use with an SE of ``rel_se`` of it."""
    return replace(p, constraints=tuple(replace(c, est_var=(rel_se * c.mean) ** 2, z_margin=z_margin)
                                        for c in p.constraints))


@pytest.mark.parametrize("seed", range(4))
def test_margin_within_one_percent_of_the_milp_on_the_margin_adjusted_limits(seed):
    """A confidence margin: the MILP holds each limit less the margin z x SE of the allocation's choice.

    The allocation meets that linear problem too, so the MILP is a lower bound of its cost.
    """
    p = _with_margin(_instance(seed))
    a = allocate(p)
    margins = [c.z_margin * math.sqrt(estimate_variance(c, a.choice)) for c in p.constraints]
    assert margins[2] > 0
    for con, m in zip(p.constraints, margins, strict=True):  # never above a limit, margin included
        plain = replace(con, est_var=None, z_margin=0.0)
        assert constraint_usage(plain, a.choice) + m <= con.limit * (1 + 1e-9)
    adjusted = replace(p, constraints=tuple(replace(c, limit=c.limit - m, est_var=None, z_margin=0.0)
                                            for c, m in zip(p.constraints, margins, strict=True)))
    best = _milp(adjusted)
    assert best <= a.cost + 1e-9
    assert a.cost <= best * 1.01, (a.cost, best)
    assert a.cost > allocate(_instance(seed)).cost  # the margin cost something: it was not ignored


def test_margin_against_exhaustive_search():
    """The margin z sqrt(sum of SE^2) is not linear in the choice: every combination tried."""
    p = _with_margin(_instance(5, n=7, k=4, tight=0.8, z=1.645), rel_se=0.1)
    a = allocate(p)
    best = math.inf
    for combo in itertools.product(range(4), repeat=7):
        ch = np.array(combo)
        cost = p.cost[np.arange(7), ch]
        if not np.all(np.isfinite(cost)):
            continue
        se = [math.sqrt(float((c.est_var[np.arange(c.nets.size), ch[c.nets]]).sum())) for c in p.constraints]
        quantile = [constraint_usage(replace(c, est_var=None, z_margin=0.0), ch) for c in p.constraints]
        if all(q + 1.645 * e <= c.limit for q, e, c in zip(quantile, se, p.constraints, strict=True)):
            best = min(best, float(cost.sum()))
    assert all(constraint_usage(c, a.choice) <= c.limit * (1 + 1e-9) for c in p.constraints)
    assert best <= a.cost <= best * 1.01 + 1e-9, (a.cost, best)
    assert a.cost > allocate(_instance(5, n=7, k=4, tight=0.8, z=1.645)).cost  # the margin cost something


def test_nothing_moves_when_the_recommendation_fits():
    p = _instance(1, tight=1.5)
    a = allocate(p)
    assert np.array_equal(a.choice, p.start) and not a.shadow_price.any()


def test_no_movable_network_reports_the_limit_unmet():
    """Rows without frontier points count as a constant: over the limit, it is reported, not hidden."""
    con = ConstraintRows("space", np.zeros(0, dtype=np.int64), np.zeros((0, 3)), np.zeros((0, 3)), 0.0, 5.0,
                         offset_mean=7.0)
    a = allocate(AllocationProblem(cost=np.zeros((0, 3)), start=np.zeros(0, dtype=np.int64), constraints=(con,)))
    assert a.used[0] == 7.0 and not a.feasible[0] and a.notes
