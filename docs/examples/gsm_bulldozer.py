"""Guaranteed-service model on a small bulldozer-like assembly tree (built inline).

Run:  python docs/examples/gsm_bulldozer.py
The published Graves & Willems (2000) bulldozer (../shared/data/gsm_reference, or the copy in
tests/reference_data) is solved as well (optimal annual safety-stock cost 633,000 at holding
rate 0.3).
"""

from pathlib import Path

from echelon_solvers.gsm import load_network, network_from_dict, solve_gsm

# Stage times [days], added costs [currency/unit]; the final assembly faces demand of
# 5 +- 3 units/day at z = 1.645 and must ship immediately (max service time 0).
chain = {
    "stages": [
        {"id": "Engine", "stage_time": 7, "stage_cost": 4500},
        {"id": "Fans", "stage_time": 12, "stage_cost": 650},
        {"id": "Dressed_Out_Engine", "stage_time": 10, "stage_cost": 4100},
        {"id": "Transmission", "stage_time": 15, "stage_cost": 7450},
        {"id": "Case", "stage_time": 15, "stage_cost": 2200},
        {"id": "Main_Assembly", "stage_time": 8, "stage_cost": 12000},
        {"id": "Final_Assembly", "stage_time": 4, "stage_cost": 8000, "is_demand_stage": True,
         "avg_demand": 5, "std_demand": 3, "z": 1.645, "max_service_time": 0},
    ],
    "edges": [
        {"source": "Engine", "target": "Dressed_Out_Engine"},
        {"source": "Fans", "target": "Dressed_Out_Engine"},
        {"source": "Dressed_Out_Engine", "target": "Main_Assembly"},
        {"source": "Transmission", "target": "Main_Assembly"},
        {"source": "Case", "target": "Main_Assembly"},
        {"source": "Main_Assembly", "target": "Final_Assembly"},
    ],
}

network = network_from_dict(chain, name="mini-bulldozer")
sol = solve_gsm(network, holding_rate=0.3)
print(f"mini bulldozer: total cost {sol.total_cost:,.0f} per year ({sol.method}, gap {100 * sol.gap:.2f} %)")
print(f"{'stage':<20} {'S':>4} {'NRT':>4} {'base stock':>11} {'safety stock':>13}")
for i, sid in enumerate(sol.ids):
    print(f"{sid:<20} {sol.service_times[i]:>4.0f} {sol.net_replenishment_times[i]:>4.0f} "
          f"{sol.base_stock[i]:>11.1f} {sol.safety_stock[i]:>13.1f}")

repo = Path(__file__).resolve().parents[2]
shared = repo.parent / "shared" / "data" / "gsm_reference" / "bulldozer.json"
if not shared.exists():  # the copy shipped with the repository (tests/reference_data/README.md)
    shared = repo / "tests" / "reference_data" / "gsm_reference" / "bulldozer.json"
if shared.exists():
    full = solve_gsm(load_network(shared), holding_rate=0.3)
    print(f"published bulldozer: total cost {full.total_cost:,.0f} per year (Graves & Willems: 633,000)")
