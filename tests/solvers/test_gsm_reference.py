"""Published optima: Graves & Willems (2000) bulldozer and battery, the digital camera, and
small Willems (2008) chains (B&B and MILP agree; heuristic cost >= proven lower bound)."""

from __future__ import annotations

import copy
import json

import pytest
from echelon_solvers.gsm import (
    load_network,
    network_from_dict,
    solve_bnb,
    solve_gsm,
    solve_heuristic,
    solve_milp,
    solve_tree,
)

# data: ../shared/data, else tests/reference_data (the `shared_data` fixture, tests/conftest.py)


def _load(shared_data, name: str) -> dict:
    return json.loads(shared_data.path(f"gsm_reference/{name}.json").read_text())


@pytest.mark.parametrize("name", ["bulldozer", "battery"])
def test_graves_willems_published_optimum(shared_data, name: str) -> None:
    data = _load(shared_data, name)
    exp = data["expected"]
    net = network_from_dict(data, name)
    sol = solve_tree(net, exp["holding_cost_rate"])
    assert sol.total_cost == pytest.approx(exp["optimal_total_annual_ss_holding_cost"], rel=1e-3)
    assert sol.gap == pytest.approx(0.0, abs=1e-9)
    # the published service times give the same cost (ties aside)
    pub = [exp["per_stage_solution"][i]["outbound_service_time_S"] for i in net.ids]
    assert net.total_cost(pub, exp["holding_cost_rate"]) == pytest.approx(sol.total_cost, rel=1e-9)


def test_digital_camera_scenarios(shared_data) -> None:
    data = _load(shared_data, "digital_camera")
    rate = data["expected"]["holding_cost_rate"]
    for sc in data["expected"]["scenarios"]:
        d = copy.deepcopy(data)
        for st in d["stages"]:
            if st["id"] in sc["max_service_time_overrides"]:
                st["max_service_time"] = sc["max_service_time_overrides"][st["id"]]
        sol = solve_gsm(network_from_dict(d, f"camera-{sc['scenario']}"), rate)
        assert sol.method == "tree"
        assert sol.total_cost == pytest.approx(sc["optimal_annual_cost"], rel=1e-2), sc


def test_bnb_on_tree_agrees_with_tree_dp(shared_data) -> None:
    data = _load(shared_data, "bulldozer")
    net = network_from_dict(data, "bulldozer")
    tree = solve_tree(net, 0.3)
    bnb = solve_bnb(net, 0.3, time_limit=10)
    assert bnb.total_cost == pytest.approx(tree.total_cost, rel=1e-9)
    assert bnb.gap < 1e-6


def test_small_willems_chain_bnb_vs_milp(shared_data) -> None:
    net = load_network(shared_data.path("willems2008/chain_01.json"))
    assert not net.is_spanning_forest()
    bnb = solve_bnb(net, 0.25, time_limit=20)
    mil = solve_milp(net, 0.25, time_limit=20)
    assert bnb.gap < 1e-5
    assert mil.gap < 1e-3
    assert bnb.total_cost == pytest.approx(mil.total_cost, rel=1e-3)
    heur = solve_heuristic(net, 0.25)
    assert heur.total_cost >= bnb.lower_bound * (1 - 1e-9)
    assert heur.total_cost >= mil.lower_bound * (1 - 1e-9)


@pytest.mark.parametrize("chain", ["02", "03", "05", "22"])
def test_willems_chains_bounds_are_consistent(shared_data, chain: str) -> None:
    net = load_network(shared_data.path(f"willems2008/chain_{chain}.json"))
    sol = solve_bnb(net, 0.25, time_limit=5)
    heur = solve_heuristic(net, 0.25)
    assert net.is_feasible(sol.service_times)
    assert sol.total_cost <= heur.total_cost * (1 + 1e-12)
    assert heur.total_cost >= sol.lower_bound * (1 - 1e-9)
    assert sol.gap < 0.01
