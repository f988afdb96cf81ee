"""Tree DP, B&B, MILP and heuristic against brute-force enumeration (an independent method)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from echelon_solvers.gsm import (
    GSMNetwork,
    local_search,
    solve_bnb,
    solve_gsm,
    solve_heuristic,
    solve_milp,
    solve_tree,
)


def random_network(rng: np.random.Generator, n: int, extra_arcs: int = 0,
                   fractional: bool = False) -> GSMNetwork:
    """Random tree (random parent, random direction) plus optional extra forward arcs."""
    up, down = [], []
    for k in range(1, n):
        p = int(rng.integers(0, k))
        if rng.random() < 0.5:
            up.append(p)
            down.append(k)
        else:
            up.append(k)
            down.append(p)
    net0 = GSMNetwork(ids=[f"s{i}" for i in range(n)], stage_time=np.ones(n), added_cost=np.ones(n),
                      edge_up=np.array(up), edge_down=np.array(down), quantity_per=np.ones(n - 1),
                      max_service_time=np.full(n, np.inf), external_inbound=np.zeros(n),
                      avg_demand=np.zeros(n), std_demand=np.ones(n), z=np.ones(n))
    topo = net0.topological_order.tolist()
    rank = {s: r for r, s in enumerate(topo)}
    arcs = set(zip(up, down, strict=True))
    tries = 0
    while extra_arcs and tries < 100:
        tries += 1
        a, b = (int(x) for x in rng.choice(n, 2, replace=False))
        if rank[a] > rank[b]:
            a, b = b, a
        if (a, b) not in arcs:
            arcs.add((a, b))
            extra_arcs -= 1
    up = [a for a, _ in sorted(arcs)]
    down = [b for _, b in sorted(arcs)]
    if fractional:
        times = rng.choice([0.5, 1.0, 1.5, 2.0, 2.5], n)
    else:
        times = rng.integers(0, 4, n).astype(float)
    sinks = set(range(n)) - set(up)
    std = np.array([float(rng.integers(1, 5)) if i in sinks else 0.0 for i in range(n)])
    maxs = np.array([float(rng.integers(0, 3)) if i in sinks and rng.random() < 0.7 else np.inf
                     for i in range(n)])
    return GSMNetwork(
        ids=[f"s{i}" for i in range(n)], stage_time=times,
        added_cost=rng.uniform(0.5, 5.0, n), edge_up=np.array(up), edge_down=np.array(down),
        quantity_per=rng.choice([1.0, 2.0], len(up)), max_service_time=maxs,
        external_inbound=np.where(rng.random(n) < 0.2, 1.0, 0.0),
        avg_demand=std * 3, std_demand=std, z=np.full(n, 1.645), name="random")


def brute_force(net: GSMNetwork, rate: float, step: float = 1.0) -> float:
    """Enumerate every grid vector of outbound service times (vectorised)."""
    ranges = [np.arange(0.0, net.max_outbound[j] + 1e-9, step) for j in range(net.n_stages)]
    grid = np.array(list(itertools.product(*ranges)))
    si = np.tile(net.external_inbound, (grid.shape[0], 1))
    for u, v in zip(net.edge_up.tolist(), net.edge_down.tolist(), strict=True):
        si[:, v] = np.maximum(si[:, v], grid[:, u])
    nrt = si + net.stage_time - grid
    ok = (nrt >= -1e-9).all(axis=1) & (grid <= net.max_service_time + 1e-9).all(axis=1)
    cost = (np.sqrt(np.maximum(nrt, 0)) * net.cost_coefficients(rate)).sum(axis=1)
    return float(cost[ok].min())


@pytest.mark.parametrize("seed", range(12))
def test_tree_dp_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = random_network(rng, int(rng.integers(2, 6)))
    assert net.is_spanning_forest()
    sol = solve_tree(net, 0.3)
    expected = brute_force(net, 0.3)
    assert sol.total_cost == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert sol.gap == pytest.approx(0.0, abs=1e-9)
    assert net.is_feasible(sol.service_times)


@pytest.mark.parametrize("seed", range(4))
def test_tree_dp_fractional_times_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    net = random_network(rng, 4, fractional=True)
    sol = solve_tree(net, 0.3)
    assert sol.info["step_days"] == 0.5
    assert sol.total_cost == pytest.approx(brute_force(net, 0.3, step=0.5), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_bnb_matches_brute_force_on_dags(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    net = random_network(rng, 5, extra_arcs=2)
    expected = brute_force(net, 0.25)
    sol = solve_bnb(net, 0.25, time_limit=20)
    assert sol.total_cost == pytest.approx(expected, rel=1e-6)
    assert sol.lower_bound <= expected * (1 + 1e-9)
    heur = solve_heuristic(net, 0.25)
    assert heur.total_cost >= expected * (1 - 1e-9)
    assert heur.lower_bound <= expected * (1 + 1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_milp_matches_tree_dp_on_trees(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    net = random_network(rng, 6)
    tree = solve_tree(net, 0.2)
    mil = solve_milp(net, 0.2, time_limit=20)
    assert mil.info["status"] == 0
    assert mil.total_cost == pytest.approx(tree.total_cost, rel=1e-4)
    assert mil.lower_bound <= tree.total_cost * (1 + 1e-6)


def test_milp_matches_brute_force_on_dag() -> None:
    rng = np.random.default_rng(7)
    net = random_network(rng, 5, extra_arcs=2)
    mil = solve_milp(net, 0.25, time_limit=20)
    assert mil.total_cost == pytest.approx(brute_force(net, 0.25), rel=1e-4)


def test_local_search_never_worse_than_start() -> None:
    rng = np.random.default_rng(11)
    net = random_network(rng, 30, extra_arcs=10)
    start = np.zeros(net.n_stages)
    s = local_search(net, 0.25, start)
    assert net.is_feasible(s)
    assert net.total_cost(s, 0.25) <= net.total_cost(start, 0.25) + 1e-9


def test_solve_gsm_auto_dispatch_and_unknown_method() -> None:
    rng = np.random.default_rng(3)
    tree = random_network(rng, 6)
    assert solve_gsm(tree, 0.25).method == "tree"
    dag = random_network(rng, 6, extra_arcs=2)
    assert not dag.is_spanning_forest()
    with pytest.raises(ValueError, match="undirected cycle"):
        solve_gsm(dag, 0.25, method="tree")
    with pytest.raises(ValueError, match="unknown method"):
        solve_gsm(dag, 0.25, method="magic")


def test_pooled_demand_bound_and_value() -> None:
    # a -> b, a -> c (2 units of a per c): k_a = sqrt(kb^2 + (2 kc)^2), v_c = c_c + 2 c_a
    net = GSMNetwork(ids=["a", "b", "c"], stage_time=np.array([1.0, 1.0, 1.0]),
                     added_cost=np.array([10.0, 1.0, 2.0]), edge_up=np.array([0, 0]),
                     edge_down=np.array([1, 2]), quantity_per=np.array([1.0, 2.0]),
                     max_service_time=np.full(3, np.inf), external_inbound=np.zeros(3),
                     avg_demand=np.array([0.0, 5.0, 1.0]), std_demand=np.array([0.0, 3.0, 2.0]),
                     z=np.array([0.0, 2.0, 1.0]))
    assert net.demand_bound[0] == pytest.approx(np.sqrt(6.0 ** 2 + 4.0 ** 2))
    assert net.value.tolist() == [10.0, 11.0, 22.0]
    assert net.pooled_mean[0] == pytest.approx(7.0)
    sol = solve_tree(net, 1.0)
    assert sol.base_stock == pytest.approx(net.pooled_mean * sol.net_replenishment_times
                                           + sol.safety_stock)
