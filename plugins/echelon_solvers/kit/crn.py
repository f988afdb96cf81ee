"""Common random numbers for the learned-policy simulators: one uniform per (seed, a, b, c).

A learned policy is trained and compared on *common random numbers*: every candidate
action of a state, and every policy of a paired comparison, sees the very same demand
paths. Rather than storing those paths, the simulators draw each period's uniform from a
counter-based generator keyed by ``(seed, stream, period, slot)``: the same key gives the
same number in any order, on any thread, in any process, so a rollout can be replayed
without keeping its draws and training is reproducible bit for bit.

The generator is SplitMix64 (Steele, Lea & Flood 2014, the seeding generator of Java's
``SplittableRandom`` and of xoshiro) applied to a multiplicative hash of the key's four
parts; its 53 high bits give a double in [0, 1).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["crn_key", "crn_uniform"]


@njit(cache=True, nogil=True)
def crn_uniform(key):
    """SplitMix64 of ``key`` (a uint64) -> a uniform in [0, 1)."""
    # uint64 first: Numba promotes int64 + uint64 to float64, which would lose the bits
    # (a key coming back to Python from crn_key is a plain int, typed int64 on the way in).
    z = np.uint64(key) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def crn_key(seed, a, b, c):
    """The uint64 key of draw ``(a, b, c)`` of stream ``seed`` (e.g. path, period, slot)."""
    return (np.uint64(seed) * np.uint64(0x100000001B3) ^ np.uint64(a) * np.uint64(0x9E3779B1)
            ^ np.uint64(b) * np.uint64(0x85EBCA77) ^ np.uint64(c) * np.uint64(0xC2B2AE3D27D4EB4F))
