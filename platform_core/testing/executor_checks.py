"""Conformance checks of the executor family (:class:`~platform_core.executor.Executor`).

The batch function is :func:`probe_batch`, a module-level function (as the pipeline's
``run_batch`` is), so executors that ship it to other processes can pickle it by
reference.  Every check closes the executors it creates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from platform_core.testing._core import ComponentUnderTest, init_stores_params, make_checks

__all__ = ["CHECKS", "probe_batch", "probe_warm_up", "BATCHES", "SHARED"]

#: batches of the checks (a repeated value: results must come back by index)
BATCHES = (3, 1, 4, 1, 5)
#: shared input of the checks
SHARED = {"token": "echelon-kit", "offset": 10}


def probe_batch(batch: Any, shared: Any) -> dict[str, Any]:
    """The checks' batch function: ``fn(batch, shared) -> result``."""
    return {"batch": batch, "token": shared["token"], "value": batch * batch + shared["offset"]}


def probe_warm_up() -> None:
    """The checks' warm-up function (does nothing)."""


def _run(spec: ComponentUnderTest, body: Callable[[Any], None]) -> None:
    executor = spec.create()
    try:
        body(executor)
    finally:
        try:
            executor.close()
        except Exception:  # noqa: BLE001, S110 - close_is_idempotent reports close() errors
            pass


def _map(spec: ComponentUnderTest, executor: Any, batches: tuple[Any, ...], what: str) -> list[tuple[int, Any]]:
    calls: list[tuple[int, Any]] = []
    spec.call(
        f"map_batches(probe_batch, {list(batches)}, ...){what}",
        lambda: executor.map_batches(probe_batch, list(batches), dict(SHARED),
                                     lambda i, result: calls.append((i, result))),
    )
    return calls


def _require_each_once(spec: ComponentUnderTest, calls: list[tuple[int, Any]], what: str) -> None:
    seen = sorted(i for i, _ in calls)
    if seen != list(range(len(BATCHES))):
        raise spec.fail(
            f"map_batches{what} called back with batch indices {seen} for {len(BATCHES)} batches, "
            f"expected each index 0..{len(BATCHES) - 1} exactly once"
        )
    for i, result in calls:
        expected = probe_batch(BATCHES[i], SHARED)
        if result != expected:
            raise spec.fail(
                f"map_batches{what} called back on_result({i}, {result!r}), expected the function's result "
                f"for batch {i}: {expected!r}"
            )


# ---- checks -------------------------------------------------------------------------------


def calls_back_once_per_batch(spec: ComponentUnderTest) -> None:
    """``map_batches`` calls ``on_result(i, fn(batch_i, shared))`` exactly once per batch."""
    def body(executor: Any) -> None:
        _require_each_once(spec, _map(spec, executor, BATCHES, ""), "")

    _run(spec, body)


def no_batches_no_callbacks(spec: ComponentUnderTest) -> None:
    """``map_batches`` over no batches returns without calling back."""
    def body(executor: Any) -> None:
        calls = _map(spec, executor, (), " over no batches")
        if calls:
            raise spec.fail(f"map_batches over no batches called back {calls!r}, expected no call")

    _run(spec, body)


def start_then_map_batches(spec: ComponentUnderTest) -> None:
    """``start(warm_up)`` with a module-level warm-up, then ``map_batches``, works."""
    def body(executor: Any) -> None:
        spec.call("start(probe_warm_up)", lambda: executor.start(probe_warm_up))
        _require_each_once(spec, _map(spec, executor, BATCHES, " after start()"), " after start()")

    _run(spec, body)


def close_is_idempotent(spec: ComponentUnderTest) -> None:
    """``close()`` may be called twice, after use or without any use."""
    unused = spec.create()
    spec.call("close() of an unused executor", unused.close)
    spec.call("a second close() of an unused executor", unused.close)
    used = spec.create()
    try:
        _map(spec, used, BATCHES, "")
    finally:
        spec.call("close() after map_batches", used.close)
    spec.call("a second close() after map_batches", used.close)


def describe_is_a_dict(spec: ComponentUnderTest) -> None:
    """``describe()`` returns a dict with string keys (logged with the run)."""
    executor = spec.create()
    try:
        info = spec.call("describe()", executor.describe)
    finally:
        executor.close()
    if not isinstance(info, dict) or not all(isinstance(k, str) for k in info):
        raise spec.fail(f"describe() returned {info!r:.100}, expected a dict with string keys")


def timings_are_seconds(spec: ComponentUnderTest) -> None:
    """``timings`` maps phase names to finite, non-negative seconds after ``map_batches``."""
    def body(executor: Any) -> None:
        _map(spec, executor, BATCHES, "")
        timings = getattr(executor, "timings", None)
        if not isinstance(timings, dict):
            raise spec.fail(f"timings is {timings!r:.100}, expected a dict of seconds by phase")
        for key, value in timings.items():
            ok = isinstance(key, str) and isinstance(value, int | float) and math.isfinite(value) and value >= 0
            if not ok:
                raise spec.fail(f"timings[{key!r}] is {value!r}, expected finite seconds >= 0")

    _run(spec, body)


CHECKS = make_checks("executor", [
    init_stores_params,
    calls_back_once_per_batch,
    no_batches_no_callbacks,
    start_then_map_batches,
    close_is_idempotent,
    describe_is_a_dict,
    timings_are_seconds,
])
