"""The local Ray instance listens on loopback only and starts without console noise.

The instance is started in a child process: token authentication (Ray's default for a
local instance, which this test checks) and the test session's ``RAY_AUTH_MODE=disabled``
(tests/conftest.py) cannot be mixed inside one process.
"""

import ipaddress
import json
import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import json, os, sys

    import psutil
    import ray
    from echelon_ray.executor import RayExecutor

    ex = RayExecutor(num_workers=1)
    ex.start(None)
    got = {}
    ex.map_batches(lambda batch, shared: batch + shared, [1, 2], 10, got.__setitem__)
    me = psutil.Process()
    listening = []
    for proc in [me, *me.children(recursive=True)]:  # GCS, raylet, agents, workers
        try:
            for c in proc.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    listening.append([proc.name(), c.laddr.ip, c.laddr.port])
        except psutil.Error:
            pass
    info = {
        "got": got,
        "listening": listening,
        "gcs_address": ray.get_runtime_context().gcs_address,
        "node_ip": ray.util.get_node_ip_address(),
        "auth_mode": os.environ.get("RAY_AUTH_MODE"),
    }
    ex.close()
    print("RESULT " + json.dumps(info))
    """
)


def _is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


@pytest.mark.ray
def test_local_instance_listens_on_loopback_only_and_is_quiet(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    env["HOME"] = str(tmp_path)  # Ray writes the local instance's token to ~/.ray/auth_token
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    info = json.loads(line[len("RESULT "):])
    assert {int(k): v for k, v in info["got"].items()} == {0: 11, 1: 12}

    # every listening socket of the driver, the GCS, the raylet, the agents and the workers
    # is on loopback; the GCS port is among them (the check saw Ray's own processes)
    gcs_port = int(info["gcs_address"].rsplit(":", 1)[1])
    names = {name for name, _, _ in info["listening"]}
    assert gcs_port in {port for _, _, port in info["listening"]}, info["listening"]
    assert {"gcs_server", "raylet"} <= names, info["listening"]
    exposed = [x for x in info["listening"] if not _is_loopback(x[1])]
    assert not exposed, f"Ray listens beyond loopback: {exposed}"
    assert _is_loopback(info["node_ip"])

    # token authentication stays on (Ray's default for a new local instance) ...
    assert info["auth_mode"] == "token"
    assert (tmp_path / ".ray" / "auth_token").is_file()
    # ... but its "enabled by default" warning and Ray's INFO lines stay off the console
    assert "Token authentication" not in proc.stderr, proc.stderr
    assert " INFO " not in proc.stderr, proc.stderr
