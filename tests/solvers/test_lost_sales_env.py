"""Gymnasium lost-sales environments: API conformance, and costs against the engine and the exact chain."""

from __future__ import annotations

import numpy as np
import pytest
from echelon_solvers.kit.lost_sales_dp import (
    LostSalesInstance,
    capped_base_stock_orders,
    evaluate_lost_sales_policy,
)
from echelon_solvers.lost_sales_env import LostSalesEnv, LostSalesVectorEnv
from gymnasium.utils.env_checker import check_env

from platform_core.simulation import Costs, DiscreteDistribution, Network, Policy, simulate


def _vector_base_stock_cost(inst: LostSalesInstance, level: int, seed: int, copies: int = 256,
                            periods: int = 3000, warmup: int = 100) -> tuple[float, float]:
    env = LostSalesVectorEnv(inst, num_envs=copies, episode_periods=10**9)
    obs, _ = env.reset(seed=seed)
    total = np.zeros(copies)
    cap = env.order_limit_units
    for t in range(warmup + periods):
        orders = np.minimum(np.maximum(level - obs.sum(axis=1), 0), cap).astype(np.int64)
        obs, reward, _, _, _ = env.step(orders)
        if t >= warmup:
            total -= reward
    per_copy = total / periods
    return float(per_copy.mean()), float(per_copy.std(ddof=1) / np.sqrt(copies))


@pytest.mark.filterwarnings("ignore:.*Box observation space maximum value is infinity")
def test_single_env_passes_gymnasium_checker() -> None:
    """The stock is unbounded (an agent may over-order), hence the infinite Box: that warning only."""
    check_env(LostSalesEnv(LostSalesInstance.poisson(5.0, 3, 1.0, 9.0), episode_periods=20),
              skip_render_check=True)
    check_env(LostSalesEnv(LostSalesInstance.poisson(5.0, 1, 1.0, 9.0, max_order_units=6), episode_periods=20),
              skip_render_check=True)


@pytest.mark.parametrize(("cap", "level"), [(None, 16), (5, 17)])
def test_vector_env_base_stock_matches_exact_chain_and_engine(cap: int | None, level: int) -> None:
    """L=2, p=4: base stock (uncapacitated) and capped base stock (capacity 5 per period)."""
    inst = LostSalesInstance.poisson(5.0, 2, 1.0, 4.0, max_order_units=cap)
    exact = evaluate_lost_sales_policy(inst, capped_base_stock_orders(2, level, level, cap), level)
    env_cost, env_se = _vector_base_stock_cost(inst, level, seed=11)
    assert abs(env_cost - exact) < 3.5 * env_se
    res = simulate(Network.serial(1), Policy.base_stock([level], capacity=np.inf if cap is None else cap),
                   DiscreteDistribution.poisson(5.0), lead_times=2, seeds=5, replications=16, periods=4000,
                   warmup=100, backorders=False, costs=Costs(holding=1.0, lost_sale=4.0))
    eng, eng_se = float(res.network_cost[0]), float(res.network_cost_se[0])
    assert abs(eng - exact) < 3.5 * eng_se
    assert abs(eng - env_cost) < 3.5 * np.hypot(eng_se, env_se)


def test_vector_env_is_seeded_and_autoresets() -> None:
    inst = LostSalesInstance.poisson(5.0, 2, 1.0, 4.0)
    runs = []
    for _ in range(2):
        env = LostSalesVectorEnv(inst, num_envs=4, episode_periods=3)
        env.reset(seed=9)
        steps = [env.step(np.full(4, 5)) for _ in range(4)]
        runs.append(steps)
    np.testing.assert_array_equal(runs[0][2][0], runs[1][2][0])
    assert runs[0][2][3].all()  # truncated after 3 periods
    np.testing.assert_array_equal(runs[0][3][0], 0.0)  # the next step resets
    np.testing.assert_array_equal(runs[0][3][1], 0.0)
    env = LostSalesVectorEnv(inst, num_envs=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="actions"):
        env.step(np.array([-1, 3]))
