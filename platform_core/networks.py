"""The network structure of a dataset: arcs, independent SKU networks, planned order.

Pure structure, no model: which stages form one network (weakly connected component of
the arcs), the order in which the planner lays stages out (network by network, input
order inside a network), and each stage's first upstream stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from platform_core.data.columns import float_column
from platform_core.data.schemas import Dataset
from platform_core.data.stage_index import StageIndex

__all__ = ["NetworkStructure", "index_networks", "network_labels"]


@dataclass(frozen=True)
class NetworkStructure:
    """Arcs and networks of a dataset's stages.

    Attributes:
        index: maps ``(sku, location)`` to the stage's input row.
        up, down: arcs as input rows of the upstream and downstream stage.
        quantity_per: units of the upstream stage per unit of the downstream stage [-].
        transit_days: per arc, its transit time [days] (NaN where not given).
        order: input rows in planned order (network by network, input order inside).
        rank: planned position of each input row (inverse of ``order``).
        network_stops: planned index one past each network's last stage.
        network_sizes: stages per network, in planned order.
        network_id: per planned position, its network (non-decreasing).
        upstream_row: per input row, the first inbound arc's upstream row (-1: none).
        upstream_transit_days: per input row, that arc's transit time [days].
    """

    index: StageIndex
    up: np.ndarray
    down: np.ndarray
    quantity_per: np.ndarray
    transit_days: np.ndarray
    order: np.ndarray
    rank: np.ndarray
    network_stops: np.ndarray
    network_sizes: np.ndarray
    network_id: np.ndarray
    upstream_row: np.ndarray
    upstream_transit_days: np.ndarray

    @property
    def n_stages(self) -> int:
        """Number of stages (SKU-locations)."""
        return int(self.order.size)


def index_networks(dataset: Dataset) -> NetworkStructure:
    """The arcs, networks and planned order of ``dataset``'s stages."""
    stages = dataset.stages
    n = stages.num_rows
    index = StageIndex(stages)
    edges = dataset.get("edges")
    if edges is not None and edges.num_rows:
        up = index.lookup(edges, "upstream_sku", "upstream_location")
        down = index.lookup(edges, "downstream_sku", "downstream_location")
        qty = edges.column("quantity_per").to_numpy(zero_copy_only=False).astype(np.float64)
        transit = float_column(edges, "transit_days", np.nan)
    else:
        up = down = np.zeros(0, dtype=np.int64)
        qty = transit = np.zeros(0)
    graph = coo_matrix((np.ones(up.size), (up, down)), shape=(n, n))
    _, comp = connected_components(graph, directed=True, connection="weak")
    order = np.lexsort((np.arange(n), comp))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    comp_sorted = comp[order]
    stops = np.append(np.flatnonzero(np.diff(comp_sorted)) + 1, n) if n else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.concatenate(([0], stops)))
    # the first arc into a stage (in input order) names its upstream stage
    firsts, first_arc = np.unique(down, return_index=True)
    upstream_row = np.full(n, -1, dtype=np.int64)
    upstream_row[firsts] = up[first_arc]
    upstream_transit = np.full(n, np.nan)
    upstream_transit[firsts] = transit[first_arc]
    return NetworkStructure(
        index=index, up=up, down=down, quantity_per=qty, transit_days=transit, order=order, rank=rank,
        network_stops=stops, network_sizes=sizes, network_id=comp_sorted.astype(np.int64),
        upstream_row=upstream_row, upstream_transit_days=upstream_transit,
    )


def network_labels(upstream: Sequence[Sequence[int] | np.ndarray]) -> np.ndarray:
    """Per stage, its network: the smallest stage index of its connected component.

    Args:
        upstream: per stage, the indices of its supplying stages (``StageProblem.upstream``).
    """
    n = len(upstream)
    root = np.arange(n)

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = int(root[i])
        return i

    for j, ups in enumerate(upstream):
        for u in np.asarray(ups, dtype=np.int64).tolist():
            a, b = find(int(u)), find(j)
            if a != b:
                root[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(n)], dtype=np.int64)
