"""The guaranteed-service network: stage data as NumPy arrays plus derived quantities.

A :class:`GSMNetwork` is an acyclic directed graph of stages. An arc ``i -> j`` means stage
``i`` supplies stage ``j`` with ``quantity_per`` units of ``i`` per unit of ``j``.

Conventions (Graves & Willems 2000):

* ``S_j`` is the committed outbound service time of stage ``j`` [days];
  ``SI_j = max(external_inbound_j, max_{i -> j} S_i)`` its inbound service time [days];
  ``NRT_j = SI_j + T_j - S_j >= 0`` its net replenishment time [days].
* Demand stages carry external demand (mean ``mu``, std ``sigma`` per day) and a safety
  factor ``z``. Every stage's demand-bound coefficient ``k_j`` [units/sqrt(day)] pools the
  downstream coefficients as a root of a sum of squares scaled by quantity per arc:
  ``k_j = sqrt((z_j sigma_j)^2 + sum_{j -> m} (q_jm k_m)^2)``. With one common ``z`` this is
  ``z`` times the pooled ``sigma``.
* The cumulative value of a unit at stage ``j`` is its added cost plus the value of the
  upstream units it consumes: ``v_j = c_j + sum_{i -> j} q_ij v_i`` [currency/unit].
* Safety stock ``k_j sqrt(NRT_j)`` [units], base stock ``mu_j NRT_j + k_j sqrt(NRT_j)``
  [units], annual cost ``holding_rate * v_j * k_j * sqrt(NRT_j)`` [currency/year].
* Optionally (``safety_stock_table``) the safety stock of each stage is given per whole
  net replenishment time instead, ``SS_j(tau)`` for ``tau = 0, 1, ..., H`` [units] (e.g.
  the quantile of a learned demand distribution over ``tau`` minus ``tau mu_j``); the cost
  is then ``holding_rate * v_j * SS_j(NRT_j)``. Such a network needs whole-number times and
  is solved by the tree DP only (branch and bound, MILP and heuristic rely on the square root).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["GSMNetwork", "choose_resolution", "require_square_root"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class GSMNetwork:
    """Input data of a guaranteed-service model.

    Attributes:
        ids: stage identifiers, one per stage.
        stage_time: processing / lead time ``T_j`` of each stage [days].
        added_cost: cost added at each stage [currency/unit].
        edge_up: index of the supplying stage of each arc.
        edge_down: index of the supplied stage of each arc.
        quantity_per: upstream units per downstream unit of each arc [units/unit].
        max_service_time: upper bound on ``S_j`` [days] (``inf`` = none).
        external_inbound: inbound service time quoted by external suppliers [days].
        avg_demand: external mean demand [units/day] (0 for internal stages).
        std_demand: external demand standard deviation [units/day] (0 for internal stages).
        z: safety factor of the external demand [-] (ignored where ``std_demand`` is 0).
        classification: optional label per stage (Part / Manuf / Dist / ...).
        name: name of the network (file stem) used in messages.
        unit_value: value of a unit held at each stage for the holding cost
            [currency/unit]; ``None`` (default) uses the cumulative value
            ``v_j = c_j + sum_{i -> j} q_ij v_i`` of the added costs.
        safety_stock_table: optional ``(n, H + 1)`` array, the safety stock of stage ``j``
            at a net replenishment time of ``tau`` whole days [units], for ``tau = 0..H``
            with ``H`` at least the longest possible net replenishment time; replaces
            ``k_j sqrt(NRT_j)``. ``None`` (default): the square-root bound.
    """

    ids: list[str]
    stage_time: FloatArray
    added_cost: FloatArray
    edge_up: IntArray
    edge_down: IntArray
    quantity_per: FloatArray
    max_service_time: FloatArray
    external_inbound: FloatArray
    avg_demand: FloatArray
    std_demand: FloatArray
    z: FloatArray
    classification: list[str] = field(default_factory=list)
    name: str = "network"
    unit_value: FloatArray | None = None
    safety_stock_table: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.stage_time = np.asarray(self.stage_time, dtype=np.float64)
        self.added_cost = np.asarray(self.added_cost, dtype=np.float64)
        self.edge_up = np.asarray(self.edge_up, dtype=np.int64)
        self.edge_down = np.asarray(self.edge_down, dtype=np.int64)
        self.quantity_per = np.asarray(self.quantity_per, dtype=np.float64)
        self.max_service_time = np.asarray(self.max_service_time, dtype=np.float64)
        self.external_inbound = np.asarray(self.external_inbound, dtype=np.float64)
        self.avg_demand = np.asarray(self.avg_demand, dtype=np.float64)
        self.std_demand = np.asarray(self.std_demand, dtype=np.float64)
        self.z = np.asarray(self.z, dtype=np.float64)
        if not self.classification:
            self.classification = ["" for _ in range(n)]
        if len(set(self.ids)) != n:
            raise ValueError(f"{self.name}: field 'id' has duplicate stage ids")
        for fname in ("stage_time", "added_cost", "max_service_time", "external_inbound",
                      "avg_demand", "std_demand", "z"):
            arr = getattr(self, fname)
            if arr.shape != (n,):
                raise ValueError(f"{self.name}: field '{fname}' must have one value per stage")
            if np.isnan(arr).any():
                raise ValueError(f"{self.name}: field '{fname}' has missing values")
        for fname in ("stage_time", "added_cost", "max_service_time", "external_inbound",
                      "std_demand", "avg_demand"):
            if (getattr(self, fname) < 0).any():
                raise ValueError(f"{self.name}: field '{fname}' must be >= 0")
        m = self.edge_up.shape[0]
        if self.edge_down.shape != (m,) or self.quantity_per.shape != (m,):
            raise ValueError(f"{self.name}: field 'edges' arrays have different lengths")
        if m and (min(self.edge_up.min(), self.edge_down.min()) < 0
                  or max(self.edge_up.max(), self.edge_down.max()) >= n):
            raise ValueError(f"{self.name}: field 'edges' refers to an unknown stage")
        if (self.quantity_per <= 0).any():
            raise ValueError(f"{self.name}: field 'multiplicity' must be > 0")
        if self.unit_value is not None:
            self.unit_value = np.asarray(self.unit_value, dtype=np.float64)
            if self.unit_value.shape != (n,):
                raise ValueError(f"{self.name}: field 'unit_value' must have one value per stage")
            if not (np.isfinite(self.unit_value).all() and (self.unit_value >= 0).all()):
                raise ValueError(f"{self.name}: field 'unit_value' must be finite and >= 0")
        if (self.edge_up == self.edge_down).any():
            raise ValueError(f"{self.name}: field 'edges' has a self-loop (cycle)")
        self._topo = self._topological_order()
        self._derive()
        if self.safety_stock_table is not None:
            self._check_table()

    def _check_table(self) -> None:
        tab = np.asarray(self.safety_stock_table, dtype=np.float64)
        self.safety_stock_table = tab
        n = self.n_stages
        if tab.ndim != 2 or tab.shape[0] != n:
            raise ValueError(f"{self.name}: field 'safety_stock_table' must have one row per stage")
        if not np.isfinite(tab).all():
            raise ValueError(f"{self.name}: field 'safety_stock_table' must be finite")
        finite_max = self.max_service_time[np.isfinite(self.max_service_time)]
        for fname, arr in (("stage_time", self.stage_time), ("external_inbound", self.external_inbound),
                           ("max_service_time", finite_max)):
            if np.any(np.abs(arr - np.rint(arr)) > 1e-9):
                raise ValueError(f"{self.name}: field '{fname}' must hold whole numbers with a "
                                 f"safety_stock_table (it is indexed by whole net replenishment times)")
        longest = int(np.rint(np.max(self.max_inbound + self.stage_time))) if n else 0
        if tab.shape[1] <= longest:
            raise ValueError(f"{self.name}: field 'safety_stock_table' must cover net replenishment "
                             f"times 0..{longest}, got 0..{tab.shape[1] - 1}")

    @property
    def has_table(self) -> bool:
        """Whether safety stocks come from ``safety_stock_table`` instead of ``k sqrt(NRT)``."""
        return self.safety_stock_table is not None

    def safety_stocks(self, nrt: FloatArray) -> FloatArray:
        """Safety stock of every stage at net replenishment times ``nrt`` [units].

        ``k_j sqrt(NRT_j)``, or the table's value at the whole ``NRT_j`` when the network has one.

        Args:
            nrt: net replenishment time per stage (``>= 0``) [days].
        """
        nrt = np.maximum(np.asarray(nrt, dtype=np.float64), 0.0)
        if self.safety_stock_table is None:
            return np.asarray(self.demand_bound * np.sqrt(nrt), dtype=np.float64)
        tab = self.safety_stock_table
        col = np.minimum(np.rint(nrt).astype(np.int64), tab.shape[1] - 1)
        return np.asarray(tab[np.arange(self.n_stages), col], dtype=np.float64)

    # ------------------------------------------------------------------ structure
    @property
    def n_stages(self) -> int:
        """Number of stages."""
        return len(self.ids)

    @property
    def n_edges(self) -> int:
        """Number of arcs."""
        return int(self.edge_up.shape[0])

    @property
    def topological_order(self) -> IntArray:
        """Stage indices, suppliers before their customers."""
        return self._topo

    def _topological_order(self) -> IntArray:
        n = self.n_stages
        indeg = np.bincount(self.edge_down, minlength=n)
        order_e = np.argsort(self.edge_up, kind="stable")
        starts = np.searchsorted(self.edge_up[order_e], np.arange(n + 1))
        succ = self.edge_down[order_e]
        stack = [int(i) for i in np.flatnonzero(indeg == 0)]
        out: list[int] = []
        indeg = indeg.copy()
        while stack:
            i = stack.pop()
            out.append(i)
            for j in succ[starts[i]:starts[i + 1]]:
                indeg[j] -= 1
                if indeg[j] == 0:
                    stack.append(int(j))
        if len(out) != n:
            raise ValueError(f"{self.name}: field 'edges' contains a directed cycle")
        return np.asarray(out, dtype=np.int64)

    def is_spanning_forest(self) -> bool:
        """True when the undirected graph has no cycle (tree or forest, no parallel arcs)."""
        n = self.n_stages
        parent = list(range(n))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for u, v in zip(self.edge_up.tolist(), self.edge_down.tolist(), strict=True):
            ru, rv = find(u), find(v)
            if ru == rv:
                return False
            parent[ru] = rv
        return True

    # ------------------------------------------------------------------ derived data
    def _derive(self) -> None:
        n = self.n_stages
        topo = self._topo
        up, down, q = self.edge_up, self.edge_down, self.quantity_per
        # arcs grouped by downstream (for forward passes) and by upstream (backward passes)
        by_down = np.argsort(down, kind="stable")
        self._in_start = np.searchsorted(down[by_down], np.arange(n + 1))
        self._in_edges = by_down
        by_up = np.argsort(up, kind="stable")
        self._out_start = np.searchsorted(up[by_up], np.arange(n + 1))
        self._out_edges = by_up
        value = self.added_cost.copy()
        longest_si = self.external_inbound.copy()  # largest possible inbound service time
        smax = np.zeros(n)
        for j in topo.tolist():
            ins = by_down[self._in_start[j]:self._in_start[j + 1]]
            if ins.size:
                value[j] += float(np.dot(q[ins], value[up[ins]]))
                longest_si[j] = max(longest_si[j], float(smax[up[ins]].max()))
            smax[j] = min(self.max_service_time[j], longest_si[j] + self.stage_time[j])
        kk = (self.z * self.std_demand) ** 2
        mu = self.avg_demand.copy()
        var = self.std_demand ** 2
        for j in topo[::-1].tolist():
            outs = by_up[self._out_start[j]:self._out_start[j + 1]]
            if outs.size:
                kk[j] += float(np.sum((q[outs] ** 2) * kk[down[outs]]))
                mu[j] += float(np.dot(q[outs], mu[down[outs]]))
                var[j] += float(np.sum((q[outs] ** 2) * var[down[outs]]))
        self.value = value if self.unit_value is None else self.unit_value.copy()
        self.demand_bound = np.sqrt(kk)
        self.pooled_mean = mu
        self.pooled_std = np.sqrt(var)
        self.max_inbound = longest_si
        self.max_outbound = smax

    def cost_coefficients(self, holding_rate: float) -> FloatArray:
        """Annual cost per sqrt(day) of net replenishment time, per stage [currency/year/sqrt(day)].

        Args:
            holding_rate: annual holding cost as a fraction of item value [1/year].
        """
        if not (holding_rate >= 0 and math.isfinite(holding_rate)):
            raise ValueError(f"{self.name}: holding_rate must be a finite number >= 0")
        return holding_rate * self.value * self.demand_bound

    # ------------------------------------------------------------------ evaluation
    def inbound_service_times(self, service_times: Sequence[float] | FloatArray) -> FloatArray:
        """Inbound service times ``SI_j = max(external, max_{i->j} S_i)`` [days]."""
        s = np.asarray(service_times, dtype=np.float64)
        si = self.external_inbound.copy()
        if self.n_edges:
            np.maximum.at(si, self.edge_down, s[self.edge_up])
        return si

    def net_replenishment_times(self, service_times: Sequence[float] | FloatArray) -> FloatArray:
        """``NRT_j = SI_j + T_j - S_j`` [days] (negative means infeasible)."""
        s = np.asarray(service_times, dtype=np.float64)
        return self.inbound_service_times(s) + self.stage_time - s

    def is_feasible(self, service_times: Sequence[float] | FloatArray, tol: float = 1e-7) -> bool:
        """Whether ``S`` satisfies ``0 <= S_j <= max_service_time_j`` and ``NRT_j >= 0``."""
        s = np.asarray(service_times, dtype=np.float64)
        return bool((s >= -tol).all() and (s <= self.max_service_time + tol).all()
                    and (self.net_replenishment_times(s) >= -tol).all())

    def total_cost(self, service_times: Sequence[float] | FloatArray, holding_rate: float) -> float:
        """Annual safety-stock holding cost of ``S`` [currency/year].

        Raises:
            ValueError: if ``S`` is infeasible.
        """
        s = np.asarray(service_times, dtype=np.float64)
        if not self.is_feasible(s):
            raise ValueError(f"{self.name}: service times are infeasible")
        nrt = np.maximum(self.net_replenishment_times(s), 0.0)
        if self.safety_stock_table is not None:
            self.cost_coefficients(holding_rate)  # validates the rate
            return float(np.sum(holding_rate * self.value * self.safety_stocks(nrt)))
        return float(np.sum(self.cost_coefficients(holding_rate) * np.sqrt(nrt)))


def require_square_root(network: GSMNetwork) -> None:
    """Refuse a network with a ``safety_stock_table`` (for the methods built on ``sqrt(NRT)``).

    Raises:
        ValueError: naming the network when it has a table.
    """
    if network.has_table:
        raise ValueError(f"{network.name}: a safety_stock_table is solved by the tree DP only "
                         f"(method 'tree', or 'auto' on a network without undirected cycles)")


def choose_resolution(network: GSMNetwork, max_steps: int = 4000) -> tuple[float, bool]:
    """Grid step for service times and whether it makes the grid search exact.

    Optimal service times are sums and differences of stage times, maximum service times and
    external inbound times (an extreme point of the feasible polyhedron), so a grid whose step
    divides all of them loses nothing. The largest such step (the greatest common divisor of
    the data, capped at 1 day, resolved to 1e-4 day) is taken as long as the longest path has
    at most ``max_steps`` steps; otherwise the finest of 1, 1/2, 1/4, 1/5, 1/10, 1/20, 1/50,
    1/100 days within that limit is returned with ``exact=False``.

    Args:
        network: the network.
        max_steps: largest number of grid steps along the longest path.

    Returns:
        (step [days], exact).
    """
    vals = np.concatenate([
        network.stage_time,
        network.max_service_time[np.isfinite(network.max_service_time)],
        network.external_inbound,
    ])
    horizon = float(np.max(network.max_inbound + network.stage_time)) if network.n_stages else 1.0
    horizon = max(horizon, 1.0)
    # the largest step dividing all data (to 1e-4 days), if the grid stays small enough
    ticks = np.round(vals * 10_000).astype(np.int64)
    if np.all(np.abs(vals * 10_000 - ticks) < 1e-3):
        gcd = int(np.gcd.reduce(np.concatenate([ticks, [10_000]])))
        step = gcd / 10_000
        if horizon / step <= max_steps:
            return step, True
    candidates = (1.0, 0.5, 0.25, 0.2, 0.1, 0.05, 0.02, 0.01)
    best = candidates[0]
    for step in candidates:
        if horizon / step > max_steps:
            break
        best = step
    return best, False
