"""Incremental runs: sense demand and lead-time shifts, re-plan only the networks that changed.

See :mod:`platform_core.incremental.run` (``echelon run DATA --out NEW --since PREVIOUS_OUT``)
and docs/running.md, "Re-plan between cycles".
"""

from platform_core.incremental.run import CHANGED_BECAUSE, run_since
from platform_core.incremental.state import (
    fit_sensing_state,
    read_sensing_state,
    write_sensing_state,
)

__all__ = ["run_since", "CHANGED_BECAUSE", "fit_sensing_state", "read_sensing_state", "write_sensing_state"]
