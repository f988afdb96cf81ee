"""``echelon rollout plan``: reproducible from the seed, networks whole, control balanced.

Balance is re-computed here with pandas (sample variances), not with the planner's own
function; networks are re-derived from the input's edges with networkx.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from platform_core.rollout.plan import plan_rollout


def _std_diff(x: pd.Series, control: pd.Series) -> float:
    t, c = x[~control], x[control]
    return float((t.mean() - c.mean()) / np.sqrt((t.var(ddof=1) + c.var(ddof=1)) / 2))


@pytest.fixture(scope="module")
def plan(rollout_units):
    return plan_rollout(rollout_units, waves=3, rule="abc", control_fraction=0.3, seed=7)


def test_same_seed_same_plan_other_seed_other_controls(rollout_units, plan):
    again = plan_rollout(rollout_units, waves=3, rule="abc", control_fraction=0.3, seed=7)
    pd.testing.assert_frame_equal(plan.table, again.table)
    other = plan_rollout(rollout_units, waves=3, rule="abc", control_fraction=0.3, seed=8)
    assert (other.table["wave"] == plan.table["wave"]).all()  # the rule, not the seed, sets the waves
    assert (other.table["group"] != plan.table["group"]).any()


def test_networks_are_whole(rollout_run, plan):
    data = rollout_run.parent / "data"
    edges = pq.read_table(data / "edges.parquet").to_pandas()
    g = nx.Graph()
    g.add_nodes_from(zip(plan.table["sku"], plan.table["location"], strict=True))
    g.add_edges_from(zip(zip(edges.upstream_sku, edges.upstream_location, strict=True),
                         zip(edges.downstream_sku, edges.downstream_location, strict=True), strict=True))
    t = plan.table.set_index(["sku", "location"])
    components = list(nx.connected_components(g))
    assert len(components) == plan.table["network"].nunique() == 100
    for comp in components:
        rows = t.loc[list(comp)]
        assert rows["wave"].nunique() == 1 and rows["group"].nunique() == 1 and rows["network"].nunique() == 1


def test_control_balanced_in_every_wave(plan):
    t = plan.table
    for w in (1, 2, 3):
        part = t[t["wave"] == w]
        control = part["group"] == "control"
        for cov in ("demand_per_period", "service"):
            assert abs(_std_diff(part[cov], control)) < 0.1, (w, cov)
        nets = part.groupby("network")["group"].first()
        assert (nets == "control").sum() == max(1, round(0.3 * nets.size))
    for cov in ("demand_per_period", "service"):  # and the rollout as a whole
        assert abs(_std_diff(t[cov], t["group"] == "control")) < 0.1, cov


def test_abc_rule_rolls_out_c_before_b_before_a(plan):
    rank = plan.table["abc_class"].map({"C": 0, "B": 1, "A": 2})
    net_rank = rank.groupby(plan.table["network"]).max()
    net_wave = plan.table.groupby("network")["wave"].first()
    by_wave = net_rank.groupby(net_wave)
    assert all(by_wave.max()[w] <= by_wave.min()[w + 1] for w in (1, 2))


def test_risk_column_rule_and_bad_rule(rollout_units):
    p = plan_rollout(rollout_units, waves=2, rule="-change_investment_at_level", seed=1)
    risk = rollout_units.table.groupby("network")["change_investment_at_level"].max()
    net_wave = p.table.groupby("network")["wave"].first()
    assert risk[net_wave == 1].min() >= risk[net_wave == 2].max()
    with pytest.raises(ValueError, match="rollout rule key 'no_such'"):
        plan_rollout(rollout_units, rule="abc,no_such")
    with pytest.raises(ValueError, match="wave .* network"):
        plan_rollout(rollout_units, waves=99)
