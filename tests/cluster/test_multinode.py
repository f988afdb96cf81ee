"""A real two-node Ray cluster on this machine (``ray start --head`` plus a second node)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from platform_core.config import load_config
from platform_core.pipeline import run

RAY = str(Path(sys.executable).parent / "ray")
FAST = {"solver": {"replications": 20, "periods": 150}}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_node_cluster(tmp_path):
    # loopback-only test cluster; token authentication is off for the whole test session
    # (tests/conftest.py), so the nodes and the driver agree
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = Path("/tmp") / f"ray-echelon-{port}"  # short: Ray's socket paths have a length limit
    common = ["--num-cpus", "1", "--disable-usage-stats", "--block"]
    procs = [subprocess.Popen(
        [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--include-dashboard=false", "--temp-dir", str(temp), *common],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )]
    try:
        deadline = time.time() + 120

        def nodes():
            out = subprocess.run([RAY, "status", "--address", address], env=env, capture_output=True, text=True)
            return out.stdout.count(" node_") if out.returncode == 0 else 0

        while nodes() < 1:
            assert time.time() < deadline, "Ray head did not come up within 120 s"
            time.sleep(1)
        procs.append(subprocess.Popen(
            [RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1", *common],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        while nodes() < 2:
            assert time.time() < deadline, "second Ray node did not join within 120 s"
            time.sleep(1)
        yield address
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.ray
def test_run_on_a_two_node_cluster_equals_a_local_run(generated_dataset, tmp_path, two_node_cluster):
    import ray

    local = run(generated_dataset, tmp_path / "local", load_config(
        overrides={"run": {"executor": "in_process"}, "tracking": {"uri": "none"}, **FAST}))
    cfg = load_config(overrides={"run": {"executor": "ray", "address": two_node_cluster, "batch_stages": 30,
                                         "node_ip_address": "127.0.0.1"},
                                 "tracking": {"uri": "none"}, **FAST})
    remote = run(generated_dataset, tmp_path / "cluster", cfg)
    assert not ray.is_initialized()
    assert remote.metrics["batches"] >= 4
    assert pq.read_table(remote.recommendations_path).equals(pq.read_table(local.recommendations_path))
