"""Runs batches as Ray tasks, locally (``ray.init()``) or on a cluster (``address``).

* shared inputs are put in the object store once (``ray.put``) and passed by reference;
* at most ``max_in_flight`` tasks are outstanding (``ray.wait`` backpressure), so the
  driver's memory stays flat however many batches there are;
* results are handed to the callback as they finish;
* ``max_retries`` re-runs a task whose worker died; batch functions are pure, so a
  retried batch gives the same rows;
* ``start()`` connects (or starts the local instance) and sends every worker a warm-up
  task before the driver loads and plans, so worker start-up, imports and the loading
  of compiled kernels overlap the driver's own work instead of the first batches;
* ``timings`` splits the executor's time into start-up, the solve loop, the driver's
  time in result callbacks and shut-down [s].

A local instance (no cluster address, no routable ``node_ip_address``) listens on
loopback only and keeps Ray's token authentication; see :meth:`RayExecutor._init_local`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from platform_core.executor import BatchFunction, Executor, ResultCallback

__all__ = ["RayExecutor", "is_loopback"]


def _run_batch(fn: BatchFunction, batch: Any, shared: Any) -> Any:
    """Worker side: pin Numba's threads to the CPUs Ray gave this task, then run."""
    import numba
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    numba.set_num_threads(max(1, min(int(cpus), numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    return fn(batch, shared)


def _warm_up(hook: Callable[[], Any] | None) -> int:
    """Worker side: import what the batches need and run the caller's warm-up hook."""
    import os

    import platform_core.batch  # noqa: F401 - the import is the warm-up

    if hook is not None:
        hook()
    return os.getpid()


#: Ray's logger for the token-authentication set-up and the one record it drops from it.
_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
_AUTH_DEFAULT_NOTICE = "Token authentication is enabled for this Ray cluster"


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost`` (IPv4, IPv6 or IPv4-mapped IPv6)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(host.strip().strip("[]").split("%")[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


class _DropAuthDefaultNotice(logging.Filter):
    """Drops Ray's "token authentication is enabled [by default]" notice, nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_AUTH_DEFAULT_NOTICE)


@contextmanager
def _quiet_default_auth_notice() -> Iterator[None]:
    """Silence the token-auth notice of a new local instance while ``ray.init`` runs."""
    logger = logging.getLogger(_AUTH_LOGGER)
    notice_filter = _DropAuthDefaultNotice()
    logger.addFilter(notice_filter)
    try:
        yield
    finally:
        logger.removeFilter(notice_filter)


@contextmanager
def _single_machine_mode() -> Iterator[None]:
    """Let ``ray.init`` give a new local instance the loopback address as its node IP.

    Ray's C++ servers (GCS, raylet, object manager, workers) listen on loopback when the
    node IP is a loopback address and on every interface otherwise.  ``ray.init`` turns a
    loopback ``_node_ip_address`` into the host's routable address, except in Ray's
    single-machine mode (the mode of macOS and Windows, environment variable
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), which Ray reads from
    ``ray._private.ray_constants.ENABLE_RAY_CLUSTER``.  This switches that mode on for
    the duration of one ``ray.init`` call (whether or not ``ray`` was imported before);
    :meth:`RayExecutor._init_local` checks the outcome.
    """
    from ray._private import ray_constants

    before = getattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


class RayExecutor(Executor):
    """Ray tasks, one per batch.

    Args:
        address: a Ray cluster address (``ray://`` or ``host:port``, or ``"auto"``);
            None starts a local Ray instance that listens on loopback only (unless
            ``RAY_ADDRESS`` is set: then Ray joins that cluster).
        num_workers: CPUs of the local instance (ignored with ``address``); None = all.
        cpus_per_task: CPUs reserved per task (Numba threads per task follow it).
        max_in_flight: outstanding tasks at most; None = 2 x the cluster's CPUs.
        max_retries: re-runs of a task whose worker process died.
        node_ip_address: this node's IP as the cluster should see it (multi-homed
            hosts).  With ``address``: the driver's IP (None = Ray's choice).  Without:
            None or a loopback address keeps the local instance on loopback; a routable
            address makes it listen on every interface, for nodes that join it.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_workers: int | None = None,
        cpus_per_task: float = 1.0,
        max_in_flight: int | None = None,
        max_retries: int = 3,
        node_ip_address: str | None = None,
        **_: Any,
    ) -> None:
        self.address = address
        self.num_workers = num_workers
        self.cpus_per_task = cpus_per_task
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self.node_ip_address = node_ip_address
        self._started_here = False
        self._warm_refs: list[Any] = []
        super().__init__()

    def _ensure_ray(self) -> Any:
        import ray

        if not ray.is_initialized():
            t0 = time.perf_counter()
            # configure_logging=False: Ray leaves the driver's logging alone (its INFO
            # lines stay off the console; warnings and errors still reach it), and
            # log_to_driver=True forwards what workers print, errors included
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": True,
                "configure_logging": False,
            }
            if self.address or os.environ.get("RAY_ADDRESS"):
                if self.node_ip_address:
                    kwargs["_node_ip_address"] = self.node_ip_address
                ray.init(address=self.address, **kwargs)
            else:
                self._init_local(ray, kwargs)
            self._started_here = True
            self.timings["startup_seconds"] = time.perf_counter() - t0
        return ray

    def _init_local(self, ray: Any, kwargs: dict[str, Any]) -> None:
        """Start a local instance: loopback only, token authentication on, quiet.

        * Loopback: with no ``node_ip_address`` (or a loopback one) the node IP is the
          loopback address, so every Ray server of the instance listens on loopback only
          (:func:`_single_machine_mode`); a routable ``node_ip_address`` is passed on and
          the instance listens on every interface, as Ray does by default.
        * Token authentication: Ray's default for a new local instance (the token is
          ``~/.ray/auth_token``, created when missing; ``RAY_AUTH_MODE`` overrides it).
          Only Ray's notice that it is on by default is kept off the console.
        """
        routable = self.node_ip_address is not None and not is_loopback(self.node_ip_address)
        with _quiet_default_auth_notice():
            if routable:
                ray.init(num_cpus=self.num_workers, _node_ip_address=self.node_ip_address, **kwargs)
                return
            with _single_machine_mode():
                ray.init(num_cpus=self.num_workers, **kwargs)
        node_ip = str(ray.util.get_node_ip_address())
        if not is_loopback(node_ip):
            warnings.warn(
                f"the local Ray instance got node IP {node_ip}, not loopback, so its servers "
                "listen on every interface (has Ray's single-machine mode changed?)",
                RuntimeWarning,
                stacklevel=3,
            )

    def start(self, warm_up: Callable[[], Any] | None = None) -> None:
        """Start or connect to Ray and queue one warm-up task per task slot (no waiting)."""
        ray = self._ensure_ray()
        slots = max(1, int(ray.cluster_resources().get("CPU", 1) / self.cpus_per_task))
        remote = ray.remote(num_cpus=self.cpus_per_task, max_retries=self.max_retries)(_warm_up)
        self._warm_refs = [remote.remote(warm_up) for _ in range(slots)]

    def describe(self) -> dict[str, Any]:
        """Executor parameters for the run log."""
        return {
            "executor": self.name,
            "address": self.address or "local",
            "num_workers": self.num_workers,
            "cpus_per_task": self.cpus_per_task,
        }

    def map_batches(
        self,
        fn: BatchFunction,
        batches: Sequence[Any],
        shared: Any,
        on_result: ResultCallback,
    ) -> None:
        """Submit tasks with backpressure and hand back results as they finish."""
        ray = self._ensure_ray()
        t0 = time.perf_counter()
        in_callbacks = 0.0
        remote = ray.remote(num_cpus=self.cpus_per_task, max_retries=self.max_retries)(_run_batch)
        shared_ref = ray.put(shared)
        fn_ref = ray.put(fn)
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        limit = self.max_in_flight or max(2, 2 * int(cluster_cpus / self.cpus_per_task))
        pending: dict[Any, int] = {}
        next_batch = 0
        while next_batch < len(batches) or pending:
            while next_batch < len(batches) and len(pending) < limit:
                ref = remote.remote(fn_ref, batches[next_batch], shared_ref)
                pending[ref] = next_batch
                next_batch += 1
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                index = pending.pop(ref)
                result = ray.get(ref)
                t_cb = time.perf_counter()
                on_result(index, result)
                in_callbacks += time.perf_counter() - t_cb
        # a warm-up that failed is not an error of the run: the batches that follow it
        # raise (and report per SKU network) whatever it would have raised
        self._warm_refs = []
        self.timings["map_seconds"] = self.timings.get("map_seconds", 0.0) + time.perf_counter() - t0
        self.timings["driver_callback_seconds"] = self.timings.get("driver_callback_seconds", 0.0) + in_callbacks

    def close(self) -> None:
        """Shut down the local Ray instance this executor started."""
        if self._started_here:
            import ray

            t0 = time.perf_counter()
            ray.shutdown()
            self._started_here = False
            self.timings["shutdown_seconds"] = time.perf_counter() - t0
