"""The executor interface: "run this batch function over these batches".

The core reaches Ray only through this interface; the Ray executor is a plugin
(``echelon_ray``) and the default.  :class:`InProcessExecutor` runs the same batch
function in this process for unit tests and debugging, so a batch behaves the same
wherever it runs.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["AUTO", "Executor", "InProcessExecutor", "BatchFunction", "ResultCallback", "choose_executor"]

AUTO = "auto"
"""``[run] executor = "auto"``: in process below ``in_process_below`` SKU-locations, else Ray."""

# how the console names executors whose class sets no ``display_name``
_DISPLAY_NAMES = {"ray": "Ray", "in_process": "in process"}



def choose_executor(configured: str, sku_locations: int, in_process_below: int) -> tuple[str, str]:
    """The executor a run uses, and why.

    ``auto`` picks ``in_process`` for inputs of fewer than ``in_process_below``
    SKU-locations (a local Ray instance costs several seconds to start, more than such a
    run computes) and ``ray`` otherwise; any other name is kept as configured.

    Args:
        configured: ``[run] executor``.
        sku_locations: the input's SKU-locations (rows of ``stages``).
        in_process_below: ``[run] in_process_below`` [SKU-locations].

    Returns:
        ``(name, reason)``: the registered executor name, and for ``auto`` a sentence
        saying why (empty otherwise).
    """
    if configured != AUTO:
        return configured, ""
    if sku_locations < in_process_below:
        return "in_process", f"{sku_locations:,} SKU-locations < in_process_below = {in_process_below:,}"
    return "ray", f"{sku_locations:,} SKU-locations >= in_process_below = {in_process_below:,}"


BatchFunction = Callable[[Any, Any], Any]
"""``fn(batch, shared) -> result``: must be a module-level function (picklable)."""

ResultCallback = Callable[[int, Any], None]
"""``on_result(batch_index, result)``: called on the driver as results arrive."""


class Executor(ABC):
    """Runs a batch function over batches, calling back as results arrive.

    Life cycle: ``start()`` (optional, early: lets a cluster start and its workers warm
    up while the driver loads and plans), ``map_batches(...)`` (starts the executor
    itself if ``start`` was not called), ``close()``.  ``timings`` reports where the
    executor's own time went, in seconds.
    """

    name: str = "executor"
    display_name: str | None = None
    """How the console names this executor (None: derived from ``name``)."""

    def __init__(self, **params: Any) -> None:
        """Build an executor; each takes what it needs of its keyword arguments.

        The pipeline passes the ``[run]`` keys ``address``, ``num_workers`` and
        ``node_ip_address``.
        """
        self.timings: dict[str, float] = {}

    def start(self, warm_up: Callable[[], Any] | None = None) -> None:  # noqa: B027 - optional hook
        """Acquire resources ahead of ``map_batches``.

        Args:
            warm_up: a module-level function each worker runs once before its first
                batch (imports, loading compiled kernels); its result is ignored.
        """

    @abstractmethod
    def map_batches(
        self,
        fn: BatchFunction,
        batches: Sequence[Any],
        shared: Any,
        on_result: ResultCallback,
    ) -> None:
        """Run ``fn(batch, shared)`` for every batch; ``on_result(i, result)`` per batch.

        Results may arrive in any order.  ``shared`` is sent to workers once.
        """

    def describe(self) -> dict[str, Any]:
        """Parameters worth logging (workers, address, ...)."""
        return {"executor": self.name}

    def label(self) -> str:
        """A short description for the console, e.g. ``Ray (2 workers)``.

        Built from :meth:`describe`'s ``address`` and ``num_workers`` (the ``[run]`` keys
        every executor receives); an executor may override it.
        """
        name = self.display_name or _DISPLAY_NAMES.get(self.name, self.name)
        info = self.describe()
        address = info.get("address")
        remote = bool(address) and address != "local"
        details = [f"cluster at {address}"] if remote else []
        workers = info.get("num_workers")
        if workers is None and "num_workers" in info and not remote:
            workers = _local_cpus()  # a local instance takes every CPU
        if workers:
            details.append(f"{workers} worker{'s' if workers != 1 else ''}")
        return f"{name} ({', '.join(details)})" if details else name

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (default: nothing)."""


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class InProcessExecutor(Executor):
    """Runs every batch sequentially in the calling process."""

    name = "in_process"
    display_name = "in process"

    def __init__(self, **_: Any) -> None:
        super().__init__()

    def map_batches(
        self,
        fn: BatchFunction,
        batches: Sequence[Any],
        shared: Any,
        on_result: ResultCallback,
    ) -> None:
        """Run batches one after the other."""
        for i, batch in enumerate(batches):
            on_result(i, fn(batch, shared))
