"""Small helpers shared by the benchmark scripts: machine info, peak memory, JSON output."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            info["mem_total_gib"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/NAME.json`` with the machine attached."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **payload}
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path


def run_phases(wall: float, summary: dict[str, Any]) -> dict[str, float]:
    """An ``echelon run``'s wall time and its phases from ``summary.json``'s metrics [s]."""
    return {
        "run_wall_seconds": round(wall, 2),
        "run_inner_wall_seconds": round(summary["wall_seconds"], 2),
        "start_seconds": round(summary["start_seconds"], 2),
        "load_validate_seconds": round(summary["load_validate_seconds"], 2),
        "plan_seconds": round(summary["plan_seconds"], 2),
        "solve_seconds": round(summary["solve_seconds"], 2),
    }


def _pss_bytes(pid: int) -> int:
    """Proportional set size of process ``pid`` [bytes] (0 if it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeMemorySampler:
    """Samples the summed RSS of a process and all its descendants (e.g. Ray workers).

    RSS double-counts pages shared between processes (Ray's object store), so the sum
    is an upper bound; the summed PSS (proportional set size: each shared page divided
    among the processes that map it, from ``/proc/PID/smaps_rollup``) is the tree's real
    footprint.  The driver's own peak RSS is reported separately.
    """

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        import psutil

        self._proc = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak_tree_bytes = 0
        self.peak_root_bytes = 0
        self.peak_pss_tree_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self._proc, *self._proc.children(recursive=True)]
                total = 0
                pss = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                    pss += _pss_bytes(p.pid)
                self.peak_tree_bytes = max(self.peak_tree_bytes, total)
                self.peak_pss_tree_bytes = max(self.peak_pss_tree_bytes, pss)
                self.peak_root_bytes = max(self.peak_root_bytes, self._proc.memory_info().rss)
            except psutil.Error:
                pass
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_command(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, TreeMemorySampler, str]:
    """Run ``cmd``, returning wall seconds, its memory sampler and its stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    with TreeMemorySampler(proc.pid) as mem:
        out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return wall, mem, out
