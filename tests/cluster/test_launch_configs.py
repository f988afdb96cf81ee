"""The shipped cluster launch configs parse and agree with the pinned Ray version."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _ray_pin():
    text = (ROOT / "constraints.txt").read_text()
    return re.search(r"^ray==([\d.]+)$", text, re.M).group(1)


def test_ray_cluster_launcher_yaml():
    cfg = yaml.safe_load((ROOT / "cluster" / "ray-cluster.yaml").read_text())
    assert cfg["head_node_type"] in cfg["available_node_types"]
    assert any("ray start --head" in c for c in cfg["head_start_ray_commands"])
    assert any("$RAY_HEAD_IP" in c for c in cfg["worker_start_ray_commands"])
    # token authentication on every node, with the token mounted from the launching machine
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in cfg[key] if "ray start" in c]
        assert starts and all("RAY_AUTH_MODE=token" in c for c in starts), key
    assert "~/.ray/auth_token" in cfg["file_mounts"]


def test_kuberay_rayjob_manifest():
    job = yaml.safe_load((ROOT / "cluster" / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert "echelon run" in job["spec"]["entrypoint"] and "--address auto" in job["spec"]["entrypoint"]
    assert job["spec"]["rayClusterSpec"]["rayVersion"] == _ray_pin()
    assert job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplicas"] >= 1
    assert job["spec"]["rayClusterSpec"]["authOptions"] == {"mode": "token"}
