"""The driver's memory while it loads, validates and plans a run (no Ray, no MLflow).

    python benchmarks/plan_memory.py [--quick] [--sku-locations N] [--data DIR]

Generates N SKU-locations (default 1,000,000; --quick: 100,000) unless ``--data`` names
an existing dataset, then runs ``load_dataset`` and ``plan_run`` in this process while a
thread samples its RSS every 20 ms. Prints, per point, the RSS there and the peak since
the previous point, and the in-memory size of every input table; writes
``benchmarks/results/plan_memory[_quick].json``. The peak of this phase is the driver's
peak of a whole ``echelon run`` (the solve phase holds only the planned arrays).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins", ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
from _harness import TreeMemorySampler, write_result  # noqa: E402

GIB = 2**30


class _Points:
    """RSS of this process at named points, and its peak since the previous point [bytes]
    (the harness's sampler, every 20 ms, on this process)."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self._sampler = TreeMemorySampler(os.getpid(), interval_s=0.02).__enter__()
        self.points: list[dict[str, float | str]] = []
        self._t0 = time.perf_counter()

    def point(self, name: str) -> None:
        gc.collect()
        rss = self._proc.memory_info().rss
        self.points.append({"point": name, "seconds": round(time.perf_counter() - self._t0, 2),
                            "rss_bytes": rss,
                            "peak_rss_since_previous_bytes": max(self._sampler.peak_root_bytes, rss)})
        self._sampler.peak_root_bytes = rss

    def close(self) -> None:
        self._sampler.__exit__()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100,000 SKU-locations")
    ap.add_argument("--sku-locations", type=int, default=None)
    ap.add_argument("--data", default=None, help="an existing dataset directory (not generated)")
    args = ap.parse_args()
    n = args.sku_locations or (100_000 if args.quick else 1_000_000)
    work = None
    data = Path(args.data) if args.data else None
    if data is None:
        work = Path(tempfile.mkdtemp(prefix="echelon-planmem-"))
        data = work / "data"
        subprocess.run([str(Path(sys.executable).parent / "echelon"), "generate", str(data),
                        "--sku-locations", str(n), "--seed", "7"], check=True, stdout=subprocess.DEVNULL)
    try:
        from platform_core.config import load_config
        from platform_core.data.loaders import load_dataset
        from platform_core.pipeline import plan_dataset, prepare_components
        from platform_core.plugin_host import PluginHost
        from platform_core.run_context import RunContext

        sampler = _Points()
        sampler.point("imports done")
        config = load_config(None)
        host = PluginHost()
        dataset = load_dataset(data)
        sampler.point("tables loaded and validated")
        tables = {name: t.nbytes for name, t in dataset.tables.items()}
        specs = prepare_components(host, config, RunContext("bench", Path(data), Path(data), config))
        shared, batches = plan_dataset(dataset, config, specs)
        sampler.point("plan done")
        n_stages = int(shared.sku.size)
        del dataset
        gc.collect()
        pa.default_memory_pool().release_unused()
        sampler.point("input tables dropped (what the solve phase keeps)")
        sampler.close()
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)

    peak = max(int(p["peak_rss_since_previous_bytes"]) for p in sampler.points)
    print(f"{n_stages:,} SKU-locations, {len(batches)} batches")
    print(f"{'point':52s} {'RSS':>9s} {'peak since previous':>20s}")
    for p in sampler.points:
        print(f"{p['point']!s:52s} {int(p['rss_bytes']) / GIB:7.2f} GiB {int(p['peak_rss_since_previous_bytes']) / GIB:16.2f} GiB")
    print("in-memory input tables: " + ", ".join(f"{k} {v / GIB:.2f} GiB" for k, v in tables.items()))
    print(f"peak RSS of load + validate + plan: {peak / GIB:.2f} GiB = {peak / 1e9:.2f} GB")
    write_result("plan_memory_quick" if args.quick else "plan_memory", {
        "sku_locations": n_stages,
        "command": "python benchmarks/plan_memory.py" + (" --quick" if args.quick else ""),
        "peak_rss_load_validate_plan_bytes": peak,
        "table_bytes": tables,
        "points": sampler.points,
    })


if __name__ == "__main__":
    main()
