"""Gymnasium environments for the perishable and the capacity-shared two-echelon cases (#20).

Both step the very Numba period functions the learning code simulates with
(:func:`echelon_solvers.kit.perishable_learned.perishable_step_period`,
:func:`echelon_solvers.kit.capacity_learned.capacity_step_period`), so a policy trained on an
environment and one trained by Echelon's own rollouts face the same dynamics.

* :class:`PerishableEnv` — one perishable stage, lost sales: observation the stock
  carried by periods of life left ``1 .. m-1`` and the pipeline (``L`` orders, the first
  arriving now) [units]; action the order ``0 .. max_order`` [units]; reward minus the
  period's cost (holding, lost sales, outdating, ordering).
* :class:`CapacityTwoEchelonEnv` — ``N`` SKUs, plant capacity shared: observation the
  ``(N, Lp + Lr + 2)`` state of :mod:`echelon_solvers.kit.capacity_learned` flattened;
  action ``MultiDiscrete``: production per SKU (``0 .. capacity``) then shipments per SKU
  (``0 .. ship_limit``). Production asking for more than the capacity in total is scaled
  down proportionally (largest remainders); a shipment larger than the SKU's warehouse
  stock ships the stock. Reward minus the period's cost.

Episodes are truncated after ``episode_periods`` (the task never ends).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from echelon_solvers.kit import capacity_learned, perishable_learned
from echelon_solvers.kit.capacity_learned import CapacityInstance
from echelon_solvers.kit.perishable_dp import PerishableInstance

__all__ = ["CapacityTwoEchelonEnv", "PerishableEnv"]


class PerishableEnv(gym.Env[np.ndarray, np.int64]):
    """A perishable stage with lost sales as a Gymnasium environment.

    Args:
        instance: the DP instance (``backorders=False``, ``lead_time >= 1``).
        episode_periods: truncation horizon [periods].
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, instance: PerishableInstance, episode_periods: int = 1000) -> None:
        perishable_learned.perishable_states(instance)  # validates: lost sales, L >= 1
        self.instance = instance
        self.episode_periods = int(episode_periods)
        width = instance.shelf_life - 1 + instance.lead_time
        self.observation_space = spaces.Box(0.0, float(instance.max_order), shape=(width,), dtype=np.float64)
        self.action_space = spaces.Discrete(instance.max_order + 1)
        self._cdf = np.cumsum(instance.demand.pmf)
        self._state = np.zeros(width, dtype=np.int64)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start empty, or from ``options["state"]``."""
        super().reset(seed=seed)
        width = self._state.size
        init = np.zeros(width) if not options or "state" not in options else np.asarray(options["state"])
        if init.shape != (width,) or np.any(init < 0) or np.any(init > self.instance.max_order):
            raise ValueError(f"options['state']: expected {width} integers in 0..{self.instance.max_order}, "
                             f"got {init!r}")
        self._state = init.astype(np.int64)
        self._t = 0
        return self._state.astype(np.float64), {}

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Order ``action`` units; reward is minus the period's cost [currency]."""
        q = int(action)
        if not 0 <= q <= self.instance.max_order:
            raise ValueError(f"action: expected an order in 0..{self.instance.max_order}, got {action}")
        k = int(np.searchsorted(self._cdf, self.np_random.random(), side="right"))
        d = int(self.instance.demand.offset) + min(k, self._cdf.size - 1)
        self._state, cost = perishable_learned.perishable_step_period(self.instance, self._state, q, d)
        self._t += 1
        return (self._state.astype(np.float64), -cost, False, self._t >= self.episode_periods,
                {"cost": cost, "demand": d})


class CapacityTwoEchelonEnv(gym.Env[np.ndarray, np.ndarray]):
    """Plant capacity shared by ``N`` SKUs, warehouse and store stock per SKU, lost sales.

    Args:
        instance: the instance.
        episode_periods: truncation horizon [periods].
        ship_limit_units: largest shipment per SKU the action space allows [units/period]
            (default ``4 x`` the largest mean demand + 10).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, instance: CapacityInstance, episode_periods: int = 1000,
                 ship_limit_units: int | None = None) -> None:
        self.instance = instance
        self.episode_periods = int(episode_periods)
        n, w = instance.skus, instance.state_width
        self.ship_limit_units = (int(4 * max(instance.mean_demand)) + 10 if ship_limit_units is None
                                 else int(ship_limit_units))
        self.observation_space = spaces.Box(0.0, np.inf, shape=(n * w,), dtype=np.float64)
        self.action_space = spaces.MultiDiscrete([instance.capacity_units + 1] * n + [self.ship_limit_units + 1] * n)
        self._fcdf, self._dcdf = instance.tables()
        self._state = np.zeros((n, w), dtype=np.int64)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start empty, or from ``options["state"]`` ((N, Lp + Lr + 2) post-arrival)."""
        super().reset(seed=seed)
        shape = self._state.shape
        init = np.zeros(shape) if not options or "state" not in options else np.asarray(options["state"])
        if init.shape != shape or np.any(init < 0):
            raise ValueError(f"options['state']: expected non-negative integers of shape {shape}, got {init!r}")
        self._state = init.astype(np.int64)
        self._t = 0
        return self._state.ravel().astype(np.float64), {}

    def feasible(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(production, shipments)`` actually carried out for ``action`` [units]."""
        n, cap = self.instance.skus, int(self.instance.capacity_units)
        a = np.asarray(action, dtype=np.int64).reshape(-1)
        if a.shape != (2 * n,) or np.any(a < 0) or np.any(a[:n] > cap) or np.any(a[n:] > self.ship_limit_units):
            raise ValueError(f"action: expected {n} productions in 0..{cap} then {n} shipments in "
                             f"0..{self.ship_limit_units}, got {action!r}")
        want = a[:n]
        total = int(want.sum())
        prod = want.copy()
        if total > cap:
            prod = (want * cap) // total
            rem = want * cap / total - prod
            for i in np.argsort(-rem, kind="stable")[: cap - int(prod.sum())]:
                prod[i] += 1
        ship = np.minimum(a[n:], self._state[:, self.instance.production_lead_periods])
        return prod, ship

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Produce and ship per ``action``; reward is minus the period's cost [currency]."""
        prod, ship = self.feasible(action)
        rng = self.np_random
        g = min(int(np.searchsorted(self._fcdf, rng.random(), side="right")), self._fcdf.size - 1)
        u = rng.random(self.instance.skus)
        demand = np.array([min(int(np.searchsorted(self._dcdf[i, g], u[i], side="right")), self._dcdf.shape[2] - 1)
                           for i in range(self.instance.skus)], dtype=np.int64)
        self._state, cost = capacity_learned.capacity_step_period(self.instance, self._state, prod, ship, demand)
        self._t += 1
        return (self._state.ravel().astype(np.float64), -cost, False, self._t >= self.episode_periods,
                {"cost": cost, "demand": demand, "production": prod, "shipments": ship})
