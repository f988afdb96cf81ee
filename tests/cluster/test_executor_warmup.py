"""The Ray executor's start-up path: warm-up tasks on every worker, timings per phase."""

import operator
import tempfile
import time
from functools import partial

import pytest
from echelon_ray.executor import RayExecutor

from platform_core.executor import InProcessExecutor


@pytest.mark.ray
def test_start_warms_every_task_slot_and_batches_still_run(tmp_path):
    import ray

    was_running = ray.is_initialized()
    ex = RayExecutor(num_workers=2)
    got: dict[int, int] = {}
    try:
        ex.start(partial(tempfile.mkstemp, dir=str(tmp_path)))
        ex.map_batches(operator.add, list(range(7)), 10, got.__setitem__)
        deadline = time.monotonic() + 30
        while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        # one warm-up per task slot of the 2-CPU instance (a shared instance may be larger)
        assert len(list(tmp_path.iterdir())) == (2 if not was_running else int(ray.cluster_resources()["CPU"]))
    finally:
        ex.close()
    assert got == {i: i + 10 for i in range(7)}
    assert ex.timings["map_seconds"] > 0
    assert ex.timings["driver_callback_seconds"] < ex.timings["map_seconds"]
    if not was_running:
        assert ex.timings["startup_seconds"] > 0 and ex.timings["shutdown_seconds"] > 0


def test_in_process_executor_start_is_optional():
    ex = InProcessExecutor()
    ex.start(None)
    got: dict[int, int] = {}
    ex.map_batches(operator.add, [1, 2], 5, got.__setitem__)
    assert got == {0: 6, 1: 7} and ex.timings == {}
