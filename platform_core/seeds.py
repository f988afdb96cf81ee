"""Per-SKU random seeds derived from the run seed.

A SKU-location's stream depends only on the run seed and its own key, never on which
batch, worker or thread processes it; that is what makes results identical across batch
sizes, worker counts and thread counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

__all__ = ["stage_seed", "stage_seeds"]


def stage_seed(run_seed: int, key: str) -> np.uint64:
    """A 64-bit seed for one SKU-location (or SKU network) ``key`` under ``run_seed``."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    entropy = [int(run_seed) & 0xFFFFFFFFFFFFFFFF, int.from_bytes(digest, "little")]
    return np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]


def stage_seeds(run_seed: int, keys: Iterable[str]) -> np.ndarray:
    """Seeds for many keys, as a ``uint64`` array in the order of ``keys``."""
    return np.array([stage_seed(run_seed, k) for k in keys], dtype=np.uint64)
