"""Gymnasium environments over the single-stage lost-sales dynamics of Echelon's engine.

The period is the engine's with ``backorders=False`` (``docs/simulation.md``): the
order placed ``L`` periods ago arrives, the agent orders, demand is filled from on hand and
the rest is lost; the reward is minus ``holding_cost * end on-hand + lost_sale_cost * lost``.
The observation is the state of :mod:`echelon_solvers.kit.lost_sales_dp`:
``(on hand, order arriving in 1 period, ..., order arriving in L-1 periods)`` [units].

* :class:`LostSalesEnv` — one copy, a ``gymnasium.Env`` (passes ``check_env``).
* :class:`LostSalesVectorEnv` — ``N`` copies stepped together in numpy, a
  ``gymnasium.vector.VectorEnv`` (any library that takes a vector env trains on it).

Capacity-constrained variant: ``max_order_units`` sets the action space to
``Discrete(max_order_units + 1)``; uncapacitated, orders go up to ``order_limit_units``
(default twice the backorder system's base-stock level, far above any sensible order).
Episodes are truncated after ``episode_periods`` (the task itself never ends).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from echelon_solvers.kit.lost_sales_dp import LostSalesInstance, backorder_base_stock_bound

__all__ = ["LostSalesEnv", "LostSalesVectorEnv", "order_limit"]


def order_limit(instance: LostSalesInstance, order_limit_units: int | None = None) -> int:
    """Largest order the action space allows [units/period]."""
    if instance.max_order_units is not None:
        return int(instance.max_order_units)
    if order_limit_units is not None:
        return int(order_limit_units)
    return 2 * backorder_base_stock_bound(instance)


def _step_arrays(state: np.ndarray, orders: np.ndarray, demand: np.ndarray, holding_cost: float,
                 lost_sale_cost: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One period for a batch: ``(next state (n, L), cost (n,), lost (n,))``."""
    on_hand = state[:, 0]
    sold = np.minimum(on_hand, demand)
    left = on_hand - sold
    lost = demand - sold
    cost = holding_cost * left + lost_sale_cost * lost
    nxt = np.empty_like(state)
    lt = state.shape[1]
    if lt == 1:
        nxt[:, 0] = left + orders
    else:
        nxt[:, 0] = left + state[:, 1]
        nxt[:, 1:-1] = state[:, 2:]
        nxt[:, -1] = orders
    return nxt, cost, lost


class LostSalesEnv(gym.Env[np.ndarray, np.int64]):
    """One lost-sales stage as a Gymnasium environment.

    Args:
        instance: demand, lead time, costs and capacity.
        episode_periods: truncation horizon [periods].
        order_limit_units: largest order when uncapacitated [units/period].
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, instance: LostSalesInstance, episode_periods: int = 1000,
                 order_limit_units: int | None = None) -> None:
        self.instance = instance
        self.episode_periods = int(episode_periods)
        self.order_limit_units = order_limit(instance, order_limit_units)
        lt = instance.lead_time_periods
        self.observation_space = spaces.Box(0.0, np.inf, shape=(lt,), dtype=np.float64)
        self.action_space = spaces.Discrete(self.order_limit_units + 1)
        self._cdf = np.cumsum(instance.demand_pmf)
        self._state = np.zeros((1, lt), dtype=np.int64)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start from ``options["state"]`` (default: empty, nothing on order)."""
        super().reset(seed=seed)
        lt = self.instance.lead_time_periods
        init = np.zeros(lt) if not options or "state" not in options else np.asarray(options["state"])
        if init.shape != (lt,) or np.any(init < 0):
            raise ValueError(f"options['state']: expected {lt} non-negative integers, got {init!r}")
        self._state = init.astype(np.int64).reshape(1, lt)
        self._t = 0
        return self._state[0].astype(np.float64), {}

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Order ``action`` units; reward is minus the period's cost [currency]."""
        a = int(action)
        if not 0 <= a <= self.order_limit_units:
            raise ValueError(f"action: expected an order in 0..{self.order_limit_units}, got {action}")
        demand = np.searchsorted(self._cdf, self.np_random.random(1), side="right")
        demand = np.minimum(demand, self._cdf.size - 1)
        self._state, cost, lost = _step_arrays(self._state, np.array([a]), demand,
                                               self.instance.holding_cost, self.instance.lost_sale_cost)
        self._t += 1
        info = {"cost": float(cost[0]), "lost_sales": int(lost[0]), "demand": int(demand[0])}
        return (self._state[0].astype(np.float64), -float(cost[0]), False,
                self._t >= self.episode_periods, info)


class LostSalesVectorEnv(VectorEnv[np.ndarray, np.ndarray, np.ndarray]):
    """``num_envs`` independent lost-sales stages stepped together in numpy.

    Autoreset follows Gymnasium's ``NEXT_STEP`` mode: the step after a truncation resets
    that copy (its action is ignored, reward 0).

    Args:
        instance: demand, lead time, costs and capacity.
        num_envs: copies.
        episode_periods: truncation horizon [periods].
        order_limit_units: largest order when uncapacitated [units/period].
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, instance: LostSalesInstance, num_envs: int = 16, episode_periods: int = 1000,
                 order_limit_units: int | None = None) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs: expected >= 1, got {num_envs}")
        self.instance = instance
        self.num_envs = int(num_envs)
        self.episode_periods = int(episode_periods)
        self.order_limit_units = order_limit(instance, order_limit_units)
        lt = instance.lead_time_periods
        self.single_observation_space = spaces.Box(0.0, np.inf, shape=(lt,), dtype=np.float64)
        self.single_action_space = spaces.Discrete(self.order_limit_units + 1)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._cdf = np.cumsum(instance.demand_pmf)
        self._state = np.zeros((self.num_envs, lt), dtype=np.int64)
        self._t = np.zeros(self.num_envs, dtype=np.int64)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every copy (``seed``: one seed for the batch's generator)."""
        if seed is not None:
            self._rng = np.random.default_rng(seed if isinstance(seed, int) else list(seed))
        self._state[:] = 0
        if options and "state" in options:
            init = np.asarray(options["state"], dtype=np.int64)
            self._state[:] = init
        self._t[:] = 0
        self._autoreset[:] = False
        return self._state.astype(np.float64), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Order ``actions[i]`` units in copy ``i``; rewards are minus the costs [currency]."""
        a = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        if np.any(a < 0) or np.any(a > self.order_limit_units):
            raise ValueError(f"actions: expected orders in 0..{self.order_limit_units}, got {a}")
        u = self._rng.random(self.num_envs)
        demand = np.minimum(np.searchsorted(self._cdf, u, side="right"), self._cdf.size - 1)
        nxt, cost, lost = _step_arrays(self._state, a, demand, self.instance.holding_cost,
                                       self.instance.lost_sale_cost)
        reward = -cost.astype(np.float64)
        done = self._autoreset
        nxt[done] = 0
        reward[done] = 0.0
        self._t[done] = 0
        self._t[~done] += 1
        self._state = nxt
        truncated = self._t >= self.episode_periods
        self._autoreset = truncated.copy()
        terminated = np.zeros(self.num_envs, dtype=bool)
        info = {"cost": cost.astype(np.float64), "lost_sales": lost, "demand": demand}
        return self._state.astype(np.float64), reward, terminated, truncated, info
