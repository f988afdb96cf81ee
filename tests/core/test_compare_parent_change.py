"""``compare._parent_change`` (vectorised) against the per-stage loop it replaced."""

from __future__ import annotations

import types

import numpy as np
import pytest

from platform_core.compare import _parent_change


def reference_parent_change(upstream: list[np.ndarray], change: np.ndarray) -> np.ndarray:
    """Per stage, the largest finite level change among its upstream stages (NaN: none)."""
    out = np.full(change.size, np.nan)
    for k, ups in enumerate(upstream):
        vals = change[np.asarray(ups, dtype=np.int64)] if len(ups) else np.zeros(0)
        vals = vals[np.isfinite(vals)]
        if vals.size:
            out[k] = float(vals.max())
    return out


@pytest.mark.parametrize("seed", range(5))
def test_parent_change_equals_the_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    change = rng.normal(0, 20, n)
    change[rng.random(n) < 0.2] = np.nan  # no recommendation or no current level
    change[rng.random(n) < 0.1] = -np.inf if seed % 2 else np.inf
    upstream = [rng.choice(n, size=int(rng.integers(0, 4)), replace=False).astype(np.int64) if rng.random() < 0.6
                else np.zeros(0, dtype=np.int64) for _ in range(n)]
    got = _parent_change(types.SimpleNamespace(upstream=upstream), change)  # type: ignore[arg-type]
    want = reference_parent_change(upstream, change)
    assert np.array_equal(got, want, equal_nan=True)


def test_no_upstream_anywhere() -> None:
    change = np.array([1.0, -2.0, np.nan])
    got = _parent_change(types.SimpleNamespace(upstream=[np.zeros(0, dtype=np.int64)] * 3), change)  # type: ignore[arg-type]
    assert np.isnan(got).all()
