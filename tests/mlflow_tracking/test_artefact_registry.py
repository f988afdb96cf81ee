"""Fitted artefacts of any component, versioned in a real MLflow SQLite registry.

A small hand-made dataset (four stores, Poisson demand, order lines with short lines and
switching customers, expedites; the ``costs`` table pins holding cost 1 and lost-sale
penalty 4 per period so the lost-sales grids stay small) is run with the ``learned`` cost
model and the ``learned_policy`` solver, with tracking into a SQLite store in ``tmp_path``.
Checked against what MLflow really stored (read back through the registry, after its
SHA-256 trust check) and against a second, independent fit:

* the registered ``echelon-cost-learned`` version's switching model predicts the same
  probabilities as a cost model fitted again in the test, on fresh inputs, and its
  recorded per-artefact digest is the SHA-256 of that fresh model's pickle;
* the ``echelon-solver-learned_policy`` version's policies give the same orders as the
  ones the run returned, on fresh states, and one policy per trained stage;
* a re-run on the same data and seed yields the same digests (the champion is reused, no
  new version); a changed bootstrap seed yields a new cost version, promoted to
  ``@champion`` with the old one ``@previous``;
* ``model_versions.json`` lists both;
* the digests do not depend on the batching (four batches of one stage; with ``-m slow``
  also on two Ray workers, where the artefacts cross process boundaries).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import mlflow
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from echelon_cost.learned import LearnedCostModel
from echelon_mlflow import registry
from echelon_mlflow.artefacts import PAYLOAD_SHA256_TAG

from platform_core.artefacts import PICKLE_PROTOCOL
from platform_core.config import load_config
from platform_core.data.loaders import load_dataset
from platform_core.fitting import fit_costs
from platform_core.pipeline import run

SKUS = ("A", "B", "C", "D")
WEEKS = 40
COST = {"replications": 8, "seed": 0, "customer_horizon_periods": 4.0}
SOLVER = {"generations": 1, "states": 100, "rollouts": 40, "horizon_periods": 10, "evaluation_paths": 4,
          "evaluation_periods": 400, "max_lead_time_periods": 1}


def make_dataset(root: Path, weeks: int = WEEKS, seed: int = 0) -> Path:
    """Four single-stage stores with a week's lead time, order lines and expedites."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    start = np.datetime64("2024-01-01")
    pq.write_table(pa.table({
        "sku": list(SKUS), "location": ["S"] * 4, "unit_cost": [10.0, 12.0, 8.0, 20.0],
        "price": [20.0, 30.0, 12.0, 26.0], "carrying_rate": [0.25] * 4, "lead_time_days": [7.0] * 4,
    }), root / "stages.parquet")
    # holding 52.14 / year = 1 per week, lost-sale penalty 4: a small lost-sales instance
    pq.write_table(pa.table({"sku": list(SKUS), "location": ["S"] * 4, "holding_cost": [365.0 / 7.0] * 4,
                             "stockout_cost": [4.0] * 4}), root / "costs.parquet")
    periods = start + 7 * np.arange(weeks)
    qty = rng.poisson([[4.0], [3.0], [5.0], [2.0]], size=(4, weeks)).astype(float)
    pq.write_table(pa.table({
        "sku": np.repeat(SKUS, weeks), "location": ["S"] * (4 * weeks),
        "period": pa.array(np.tile(periods, 4).astype("datetime64[D]"), pa.date32()),
        "quantity": qty.ravel(),
    }), root / "demand.parquet")
    lines = []
    for s in SKUS:
        for c in range(12):
            switched = False
            shorted = False
            for w in range(weeks):
                if switched or rng.random() > 0.6:
                    continue
                short = w > 6 and rng.random() < 0.08
                lines.append((f"{s}-{c}-{w}", f"cust{c}", s, periods[w], float(rng.integers(1, 5)), short,
                              "key" if c < 4 else "regular"))
                if short and not shorted:
                    shorted, switched = True, rng.random() < 0.3
    pq.write_table(pa.table({
        "line_id": [r[0] for r in lines], "customer": [r[1] for r in lines], "sku": [r[2] for r in lines],
        "location": ["S"] * len(lines),
        "order_date": pa.array(np.array([r[3] for r in lines], dtype="datetime64[D]"), pa.date32()),
        "quantity_ordered": [r[4] for r in lines], "short": [r[5] for r in lines],
        "customer_segment": [r[6] for r in lines],
    }), root / "order_lines.parquet")
    n = 40
    carrier = rng.choice(["fast", "slow"], n)
    days = rng.uniform(1.0, 10.0, n)
    q = rng.uniform(5.0, 50.0, n)
    sku = rng.choice(SKUS, n)
    cost = q * 2.0 * days ** 0.5 * np.where(carrier == "fast", 1.5, 1.0) * rng.lognormal(0.0, 0.1, n)
    pq.write_table(pa.table({
        "expedite_id": [f"e{i}" for i in range(n)], "sku": sku, "location": ["S"] * n, "supplier": ["V"] * n,
        "carrier": carrier, "shipment_mode": np.where(carrier == "fast", "Air", "Truck"), "quantity": q,
        "days_saved": days, "cost": cost,
        "expedite_date": pa.array((start + rng.integers(0, 7 * weeks, n)).astype("datetime64[D]"), pa.date32()),
    }), root / "expedites.parquet")
    return root


def config(uri: str, cost: dict | None = None):
    return load_config(overrides={
        "run": {"executor": "in_process"}, "tracking": {"uri": uri, "experiment": "artefacts", "calibration": False},
        "components": {"cost_model": "learned", "solver": "learned_policy"},
        "cost_model": cost or COST, "solver": SOLVER,
    })


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("artefacts")
    data = make_dataset(root / "data")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = run(data, root / "out", config(uri), progress=False, log=lambda _m: None)
    return {"root": root, "data": data, "uri": uri, "result": result}


def _client(uri: str) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_components_expose_their_fitted_artefacts(tracked: dict) -> None:
    found = {(a.family, a.component): a for a in tracked["result"].artefacts}
    assert set(found) == {("cost", "learned"), ("solver", "learned_policy")}
    cost = found["cost", "learned"]
    assert [a.name for a in cost.artefacts] == ["expediting", "stage_estimates", "switching"]
    assert sorted(cost.payloads()["stage_estimates"]) == [f"{s}@S" for s in SKUS]
    policies = found["solver", "learned_policy"].payloads()["policies"]
    assert sorted(policies) == [f"{s}@S" for s in SKUS]  # every stage: lead time 1, small grid
    assert all(p.training_seconds == 0.0 for p in policies.values())  # run-to-run noise kept out
    # as_of: the last order line / expedite date, the last demand date for the solver
    last_week = str(np.datetime64("2024-01-01") + 7 * (WEEKS - 1))
    assert found["solver", "learned_policy"].artefacts[0].as_of == last_week


def test_registered_cost_model_round_trips(tracked: dict) -> None:
    uri = tracked["uri"]
    client = _client(uri)
    mv = client.get_model_version_by_alias("echelon-cost-learned", registry.CHAMPION)
    assert str(mv.version) == "1"
    tags = mv.tags
    assert tags["echelon.kind"] == "cost" and tags["echelon.component"] == "learned"
    assert tags[registry.MODEL_SHA256_TAG]  # the stored artifact's digest, checked on load
    loaded = registry.load_model(uri, "echelon-cost-learned", "champion", policy=registry.TrustPolicy())
    assert sorted(loaded) == ["expediting", "stage_estimates", "switching"]
    # a second, independent fit on the same data and seed
    fresh = LearnedCostModel(**COST)
    fit_costs(load_dataset(tracked["data"]), fresh, 7.0)
    assert fresh.switching_ is not None
    digest = hashlib.sha256(pickle.dumps(fresh.switching_, protocol=PICKLE_PROTOCOL)).hexdigest()
    assert tags["echelon.artefact.switching.sha256"] == digest
    rng = np.random.default_rng(99)  # inputs neither fit saw
    segment = rng.integers(0, len(fresh.switching_.segments_), 50)
    margin = rng.uniform(0.0, 0.8, 50)
    p_loaded, v_loaded = loaded["switching"].predict(segment, margin)
    p_fresh, v_fresh = fresh.switching_.predict(segment, margin)
    np.testing.assert_array_equal(p_loaded, p_fresh)
    np.testing.assert_array_equal(v_loaded, v_fresh)
    assert 0.0 < float(p_loaded.mean()) < 1.0
    carriers = np.array(["fast", "slow", "fast"])
    days, unit_cost, quantity = np.array([2.0, 5.0, 9.0]), np.array([10.0, 12.0, 8.0]), np.array([7.0, 30.0, 12.0])
    for got, want in zip(loaded["expediting"].predict_per_unit(carriers, days, unit_cost, quantity),
                         fresh.expediting_.predict_per_unit(carriers, days, unit_cost, quantity), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_registered_policies_round_trip(tracked: dict) -> None:
    uri = tracked["uri"]
    mv = _client(uri).get_model_version_by_alias("echelon-solver-learned_policy", registry.CHAMPION)
    assert mv.tags["echelon.kind"] == "solver" and mv.tags["echelon.artefacts"] == "policies"
    loaded = registry.load_model(uri, "echelon-solver-learned_policy", str(mv.version), policy=registry.TrustPolicy())
    in_memory = {(a.family, a.component): a for a in tracked["result"].artefacts}["solver", "learned_policy"]
    assert mv.tags[PAYLOAD_SHA256_TAG] == in_memory.sha256()
    rng = np.random.default_rng(7)
    for key, policy in in_memory.payloads()["policies"].items():
        got = loaded["policies"][key]
        np.testing.assert_array_equal(got.orders, policy.orders)
        for _ in range(20):  # fresh states on the policy's grid (lead time 1: one coordinate <= bound)
            state = np.array([int(rng.integers(0, policy.bound + 1))])
            assert got.order(state) == policy.order(state)


def test_model_versions_json_and_params(tracked: dict) -> None:
    root, uri = tracked["root"], tracked["uri"]
    versions = json.loads((root / "out" / "model_versions.json").read_text())
    client = _client(uri)
    for kind, name in (("cost", "echelon-cost-learned"), ("solver", "echelon-solver-learned_policy")):
        entry = versions[kind]
        mv = client.get_model_version(name, entry["version"])
        assert entry["registered_name"] == name and entry["uri"] == f"models:/{name}/{entry['version']}"
        assert entry["payload_sha256"] == mv.tags[PAYLOAD_SHA256_TAG]
        assert entry["model_sha256"] == mv.tags[registry.MODEL_SHA256_TAG]
        assert entry["champion_after_run"] == entry["version"] and not entry["reused"]
    run_ = client.search_runs([client.get_experiment_by_name("artefacts").experiment_id])[0]
    assert run_.data.params["model.cost.version"] == versions["cost"]["version"]
    assert run_.data.params["model.solver.name"] == "learned_policy"


def test_rerun_same_digest_and_new_version_when_the_fit_changes(tracked: dict) -> None:
    root, data, uri = tracked["root"], tracked["data"], tracked["uri"]
    first = json.loads((root / "out" / "model_versions.json").read_text())
    again = run(data, root / "again", config(uri), progress=False, log=lambda _m: None)
    second = json.loads((root / "again" / "model_versions.json").read_text())
    for kind in ("cost", "solver"):
        assert second[kind]["payload_sha256"] == first[kind]["payload_sha256"]
        assert second[kind]["version"] == first[kind]["version"] and second[kind]["reused"]
    client = _client(uri)
    assert len(client.search_model_versions("name='echelon-cost-learned'")) == 1
    assert {(a.family, a.component): a.sha256() for a in again.artefacts} == {
        (a.family, a.component): a.sha256() for a in tracked["result"].artefacts}
    # another bootstrap seed: other switching intervals, a new cost version becomes champion
    run(data, root / "reseeded", config(uri, {**COST, "seed": 1}), progress=False, log=lambda _m: None)
    third = json.loads((root / "reseeded" / "model_versions.json").read_text())
    assert third["cost"]["payload_sha256"] != first["cost"]["payload_sha256"]
    assert third["cost"]["version"] == "2" and not third["cost"]["reused"]
    assert str(client.get_model_version_by_alias("echelon-cost-learned", registry.CHAMPION).version) == "2"
    assert str(client.get_model_version_by_alias("echelon-cost-learned", registry.PREVIOUS).version) == "1"
    assert third["solver"]["version"] == first["solver"]["version"]  # same costs, same policies


@pytest.mark.parametrize("executor", [
    "in_process", pytest.param("ray", marks=[pytest.mark.ray, pytest.mark.slow]),  # ~30 s: Ray start-up
])
def test_artefacts_do_not_depend_on_batching_or_workers(tracked: dict, tmp_path: Path, executor: str) -> None:
    # four batches of one stage each (on two Ray workers: artefacts cross process boundaries)
    cfg = load_config(overrides={
        "run": {"executor": executor, "batch_stages": 1, "num_workers": 2}, "tracking": {"uri": "none"},
        "components": {"cost_model": "learned", "solver": "learned_policy"}, "cost_model": COST, "solver": SOLVER,
    })
    result = run(tracked["data"], tmp_path / "out", cfg, progress=False, log=lambda _m: None)
    assert result.metrics["batches"] == 4.0
    assert {(a.family, a.component): a.sha256() for a in result.artefacts} == {
        (a.family, a.component): a.sha256() for a in tracked["result"].artefacts}


def test_incremental_versions_do_not_move_the_champion(tracked: dict) -> None:
    """An incremental run's models cover the re-planned networks only: registered, not promoted."""
    from echelon_mlflow.artefacts import register_artefacts

    from platform_core.artefacts import Artefact, ComponentArtefacts

    uri = tracked["uri"]
    client = _client(uri)
    before = str(client.get_model_version_by_alias("echelon-cost-learned", registry.CHAMPION).version)
    rid = client.create_run(client.get_experiment_by_name("artefacts").experiment_id).info.run_id
    item = ComponentArtefacts("cost", "learned", (Artefact("stage_estimates", {"A@S": {"x": 1.0}}, per_stage=True),))
    tags = {"echelon.incremental": "true", "echelon.previous_run_id": "abc"}
    [out] = register_artefacts(client, uri, rid, [item], promote_new=False, run_tags=tags)
    client.set_terminated(rid, "FINISHED")
    assert out.version != before and not out.reused and out.champion == before
    assert not out.record()["promoted"]
    assert str(client.get_model_version_by_alias("echelon-cost-learned", registry.CHAMPION).version) == before
    mv = client.get_model_version("echelon-cost-learned", out.version)
    assert mv.tags["echelon.incremental"] == "true" and mv.tags[PAYLOAD_SHA256_TAG] == item.sha256()
