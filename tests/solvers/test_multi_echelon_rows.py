"""``multi_echelon`` reads leaves' levels off many curves at once: the same numbers, bit for bit,
as its one-row-at-a-time rules (:meth:`_leaf_level`, :meth:`_leaf_value`, :meth:`_frontier_levels`).

The array version is what the solver runs (search and final run); the row version is the
second method. Random curves (rising fill with flat steps, NaN fills where a level saw no
demand), random override corridors (pins, maxima below the target's level, minima above the
histogram's range), leaves without demand, leaves set by cost, both objectives.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from echelon_solvers.multi_echelon import (
    MultiEchelonSolver,
    _FlatCurves,
    _Net,
    _no_backlog_share,
    _no_backlog_shares,
    _stage_params,
)

from platform_core.simulation import PositionHistograms


def _random_case(rng: np.random.Generator, n: int, margin_se: float) -> tuple[_Net, _FlatCurves]:
    sizes = rng.integers(1, 40, n)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    parts = {k: [] for k in ("fill_rate", "se", "on_hand", "backlog")}
    for m in sizes:
        steps = rng.random(m) * (rng.random(m) < 0.7)  # flat steps
        fill = np.minimum(np.cumsum(steps) / max(steps.sum(), 1e-9) * rng.uniform(0.8, 1.0), 1.0)
        if rng.random() < 0.1:
            fill[: rng.integers(0, m + 1)] = np.nan  # no demand in any group there
        parts["fill_rate"].append(fill)
        parts["se"].append(rng.uniform(0.0, 0.02, m))
        parts["on_hand"].append(np.cumsum(rng.uniform(0.0, 2.0, m)))
        parts["backlog"].append(rng.uniform(0.0, 3.0, m)[::-1].cumsum()[::-1])
    fr = np.concatenate(parts["fill_rate"])
    se = np.concatenate(parts["se"])
    fill = np.nan_to_num(fr, nan=1.0)
    fc = _FlatCurves(ptr=ptr, level=np.concatenate([np.arange(m, dtype=np.float64) for m in sizes]),
                     fill_rate=fr, fill_rate_se=se, backlog=np.concatenate(parts["backlog"]),
                     on_hand=np.concatenate(parts["on_hand"]), on_hand_se=se * 3.0,
                     demand=rng.uniform(0.1, 20.0, n), fill=fill,
                     fill_margin=fill - margin_se * np.nan_to_num(se) if margin_se > 0 else fill,
                     margin_se=margin_se, rows=np.arange(n))
    target = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0.5, 0.999, n))
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    kind = rng.random(n)
    pin = kind < 0.1
    lo[pin] = hi[pin] = rng.integers(0, 45, pin.sum()).astype(np.float64)  # may lie above the range
    corridor = (kind >= 0.1) & (kind < 0.3)
    lo[corridor] = rng.integers(0, 20, corridor.sum()).astype(np.float64)
    hi[corridor] = lo[corridor] + rng.integers(0, 25, corridor.sum())
    only_max = (kind >= 0.3) & (kind < 0.4)
    hi[only_max] = rng.integers(0, 30, only_max.sum()).astype(np.float64)
    has_demand = rng.random(n) < 0.85
    cost_leaf = np.isnan(target) | (rng.random(n) < 0.1)
    sn = SimpleNamespace(demand={j: None for j in np.flatnonzero(has_demand).tolist()},
                         unit_value=rng.uniform(1.0, 50.0, n), holding_cost=rng.uniform(0.01, 1.0, n),
                         stockout_cost=rng.uniform(1.0, 30.0, n), network=SimpleNamespace(stage_names=None))
    net = _Net(comp=np.arange(n), sn=sn, internal=np.zeros(n, dtype=bool), depth=np.zeros(n, dtype=np.int64),
               int_depths=[], scenarios=[], tree=True, children=[[] for _ in range(n)], target=target,
               placeholder=np.zeros(n), cost_leaf=cost_leaf, has_demand=has_demand, lo=lo, hi=hi)
    net.prm = _stage_params(net)
    return net, fc


def _bits(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).view(np.uint64)


@pytest.mark.parametrize("objective", ["target", "cost"])
@pytest.mark.parametrize("margin_se", [0.0, 1.0])
def test_leaf_rows_at_once_equal_the_row_rules(objective: str, margin_se: float) -> None:
    solver = MultiEchelonSolver(objective=objective, target_margin_se=margin_se)
    rng = np.random.default_rng(17 + int(margin_se) + 2 * (objective == "cost"))
    net, fc = _random_case(rng, 1500, margin_se)
    if objective == "cost":
        net.cost_leaf[:] = True
        net.prm = _stage_params(net)
    assert net.prm is not None
    for smooth in (False, True):
        lvl, val = solver._leaf_levels(fc, net.prm, smooth=smooth)
        rule = solver._leaf_value if smooth else solver._leaf_level
        want = [rule(net, j, fc.curve(j)) for j in range(net.comp.size)]
        np.testing.assert_array_equal(lvl, [w[0] for w in want])
        np.testing.assert_array_equal(_bits(val), _bits([w[1] for w in want]))
    # every branch of the rules was met (so the comparison covers them)
    inf = ~np.isfinite(val)
    assert inf.any() and (val == 0.0).any() and (~inf & (val > 0)).any()
    assert (lvl >= net.hi).any() and (lvl > net.lo).any()


def test_frontier_rows_at_once_equal_the_row_rule() -> None:
    solver = MultiEchelonSolver(target_margin_se=1.0)
    net, fc = _random_case(np.random.default_rng(5), 1500, 1.0)
    assert net.prm is not None
    lvl, val = solver._leaf_levels(fc, net.prm, smooth=False)
    got = solver._frontier_all(fc, net.prm, lvl)
    rows = [j for j in range(net.comp.size) if net.has_demand[j] and np.isfinite(val[j])]
    want = np.array([solver._frontier_levels(net, j, fc.curve(j), int(lvl[j])) for j in rows])
    np.testing.assert_array_equal(_bits(got[rows]), _bits(want))
    assert np.isnan(want).any() and np.isfinite(want).any()


@pytest.mark.parametrize("groups", [1, 10, 13])
def test_no_backlog_shares_at_once_equal_the_row_rule(groups: int) -> None:
    rng = np.random.default_rng(groups)
    sizes = rng.integers(1, 60, 300)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    x = rng.integers(0, 40, (groups, int(ptr[-1]))).astype(np.float64)
    z = np.zeros((groups, sizes.size))
    pos = PositionHistograms(ptr=ptr, x_counts=x, y_counts=x, x_tail_n=z, x_tail_sum=z, y_tail_n=z, y_tail_sum=z,
                             demand_sum=z, periods_per_group=int(x.sum(axis=1).max()) + 7)
    rows = rng.permutation(sizes.size)[:200]
    levels = rng.integers(0, sizes[rows])
    mean, se = _no_backlog_shares(pos, rows, levels)
    want = np.array([_no_backlog_share(pos, int(r), int(k)) for r, k in zip(rows, levels, strict=True)])
    np.testing.assert_array_equal(_bits(mean), _bits(want[:, 0]))
    np.testing.assert_array_equal(_bits(se), _bits(want[:, 1]))
