"""A pooling forecaster's run-wide parameters as a fitted model of the run: ``OUT/sensing/pooled_forecaster.json``.

A forecaster that ``pools_across_series`` (``calibrated``) gets run-wide parameters once
per run, on the driver, from a fixed sample of networks
(:func:`platform_core.batch.pool_forecaster`).  A run writes them here, and a later run
may reuse them instead of fitting them again: ``echelon run --since PREVIOUS_OUT`` does by
default (``--refit-pooled`` fits them afresh), ``echelon run --pooled-from PREVIOUS_OUT``
makes a full run use them.  Given the same data *and* the same pooled parameters, a full
run and an incremental run give the same numbers.

The file holds the forecaster's name, the parameters it was configured with (before
pooling), the period length, the pooled parameters and a SHA-256 of those, plus where they
came from (run id, input fingerprint).  A file of another forecaster, another
configuration or another period length, or one whose digest does not match its content,
is refused with an error naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from platform_core.components import ComponentSpec
from platform_core.config import RunConfig

__all__ = ["POOLED_FILE", "PooledParams", "PooledParamsError", "pooled_path", "pools", "write_pooled_params",
           "read_pooled_params", "apply_pooled_params", "given_pooled_forecaster", "save_pooled_forecaster", "reusable_pooled_forecaster"]

#: File name, under the run's ``sensing/`` directory.
POOLED_FILE = "pooled_forecaster.json"
_FORMAT = 1


class PooledParamsError(ValueError):
    """A pooled-parameters file that cannot be used for this run (the message names the file)."""


@dataclass(frozen=True)
class PooledParams:
    """What a run's pooling forecaster was built with.

    Attributes:
        forecaster: the forecaster's registered name.
        configured: its parameters as configured (before pooling).
        period_days: length of a period [days] of the run that fitted them.
        params: the parameters the batches built it with (pooled ones included).
        run_id: the run that fitted them.
        input_fingerprint: that run's input fingerprint.
    """

    forecaster: str
    configured: dict[str, Any]
    period_days: float
    params: dict[str, Any]
    run_id: str
    input_fingerprint: str


def pools(spec: ComponentSpec[Any]) -> bool:
    """Whether the forecaster ``spec`` has run-wide pooled parameters."""
    return bool(getattr(spec.cls, "pools_across_series", False))


def pooled_path(out_dir: str | os.PathLike[str]) -> Path:
    """Where a run in ``out_dir`` keeps its pooled parameters."""
    return Path(out_dir) / "sensing" / POOLED_FILE


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(body).encode()).hexdigest()


def _plain(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """``params`` if JSON gives them back unchanged (floats exactly), else None."""
    try:
        back = json.loads(json.dumps(dict(params), allow_nan=True))
    except (TypeError, ValueError):
        return None
    return back if back == dict(params) else None


def write_pooled_params(out_dir: str | os.PathLike[str], pooled: PooledParams) -> Path | None:
    """Write ``pooled`` to ``OUT/sensing/pooled_forecaster.json`` (atomically); returns the path.

    None, and nothing written, when the parameters are not plain JSON values (the next
    run then fits them again).
    """
    configured, params = _plain(pooled.configured), _plain(pooled.params)
    if configured is None or params is None:
        return None
    body = {"format": _FORMAT, "forecaster": pooled.forecaster, "configured": configured,
            "period_days": float(pooled.period_days), "params": params}
    record = {**body, "fitted_by_run": pooled.run_id, "fitted_on_input": pooled.input_fingerprint,
              "sha256": _digest(body)}
    path = pooled_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1))  # key order kept: the forecaster sees the dicts as fitted
    os.replace(tmp, path)
    return path


def read_pooled_params(out_dir: str | os.PathLike[str]) -> PooledParams | None:
    """The pooled parameters a run in ``out_dir`` wrote; None when it wrote none.

    Raises:
        PooledParamsError: the file is not valid JSON, lacks a field, or its digest does
            not match its content (edited or damaged).
    """
    path = pooled_path(out_dir)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        body = {k: record[k] for k in ("format", "forecaster", "configured", "period_days", "params")}
        stored = record["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PooledParamsError(f"{path}: not a pooled-parameters file ({type(exc).__name__}: {exc})") from None
    if body["format"] != _FORMAT:
        raise PooledParamsError(f"{path}: format {body['format']!r}, this version reads format {_FORMAT}")
    if _digest(body) != stored:
        raise PooledParamsError(f"{path}: its sha256 does not match its content (edited or damaged); "
                                "fit the pooled parameters afresh (--refit-pooled, or a run without --pooled-from)")
    return PooledParams(forecaster=str(body["forecaster"]), configured=dict(body["configured"]),
                        period_days=float(body["period_days"]), params=dict(body["params"]),
                        run_id=str(record.get("fitted_by_run", "")),
                        input_fingerprint=str(record.get("fitted_on_input", "")))


def apply_pooled_params(spec: ComponentSpec[Any], period_days: float, pooled: PooledParams,
                        source: str | os.PathLike[str]) -> ComponentSpec[Any]:
    """``spec`` built with the pooled parameters of ``pooled`` (read from the run in ``source``).

    Raises:
        PooledParamsError: they belong to another forecaster, another configuration of it
            or another period length (the message names the file and what differs).
    """
    path = pooled_path(source)
    fix = ("fit them afresh: --refit-pooled with --since, or a full run without --pooled-from")
    if pooled.forecaster != spec.name:
        raise PooledParamsError(f"{path}: pooled parameters of forecaster {pooled.forecaster!r}, this run's "
                                f"forecaster is {spec.name!r}; {fix}")
    configured = _plain(spec.params)
    if configured != pooled.configured:
        now = configured if configured is not None else {}
        keys = sorted(k for k in set(now) | set(pooled.configured) if now.get(k) != pooled.configured.get(k))
        raise PooledParamsError(f"{path}: fitted with other [forecaster] parameters than this run's "
                                f"(differing: {', '.join(keys) or 'not plain JSON'}); {fix}")
    if float(period_days) != pooled.period_days:
        raise PooledParamsError(f"{path}: fitted on {pooled.period_days:g}-day periods, this run plans "
                                f"{float(period_days):g}-day periods; {fix}")
    return replace(spec, params=dict(pooled.params))


def given_pooled_forecaster(spec: ComponentSpec[Any], config: RunConfig,
                            source: str | os.PathLike[str]) -> ComponentSpec[Any]:
    """The forecaster ``spec`` with the pooled parameters the run in ``source`` fitted.

    Raises:
        PooledParamsError: ``source`` has none, or they do not fit this run (naming the file).
    """
    pooled = read_pooled_params(source)
    if pooled is None:
        raise PooledParamsError(f"{pooled_path(source)} not found: the run in {source} left no pooled forecaster "
                                "parameters (its forecaster does not pool across series, or it predates them)")
    return apply_pooled_params(spec, config.run.period_days, pooled, source)


def save_pooled_forecaster(out_dir: str | os.PathLike[str], configured: ComponentSpec[Any], used: ComponentSpec[Any],
                           config: RunConfig, run_id: str, input_fingerprint: str) -> Path | None:
    """Write the pooled parameters a run used (``used``; ``configured``: before pooling), if it pools.

    Returns the path, or None when the forecaster does not pool or its parameters are not
    plain JSON values.
    """
    if not pools(used):
        return None
    return write_pooled_params(out_dir, PooledParams(
        forecaster=used.name, configured=dict(configured.params), period_days=float(config.run.period_days),
        params=dict(used.params), run_id=run_id, input_fingerprint=input_fingerprint))


def reusable_pooled_forecaster(spec: ComponentSpec[Any], config: RunConfig, since: str | os.PathLike[str],
                               refit: bool = False) -> ComponentSpec[Any] | None:
    """For ``--since``: the forecaster with the previous run's pooled parameters, or None to fit them.

    None when ``refit``, when the forecaster does not pool, or when the run in ``since``
    left no pooled parameters (an older run: they are fitted as a full run would).

    Raises:
        PooledParamsError: the previous run's file does not fit this run (naming the file).
    """
    if refit or not pools(spec):
        return None
    pooled = read_pooled_params(since)
    return None if pooled is None else apply_pooled_params(spec, config.run.period_days, pooled, since)
