"""An independent simulator of installation base-stock networks (a test helper).

Written from the model in ``docs/simulation.md`` ("The model"), not from the engine's
code, and importing nothing of ``platform_core.simulation``: the acceptance tests of the
multi-echelon solver evaluate its policies here, so that the solver's own simulation
and search are never the judge of their own output.  Plain numpy, one Python loop over
periods, every state array vectorised over ``[policies, replications]``; demand comes in
as explicit paths, so the caller chooses the distribution (independent PMFs, correlated
factor models, ...) and every policy of one call sees the same paths (common random
numbers).

Model (installation base-stock, review period 1, full backordering).  Stages are
numbered suppliers first; a stage without suppliers is replenished by an external,
uncapacitated supplier.  Period ``t`` of a replication runs:

1. **receipts**: shipments due at ``t`` arrive as components of their lane; an
   assembly stage turns complete kits (``quantity_per`` units of every inbound lane,
   whole kits only) into finished units at once;
2. **orders**, downstream stages first: a stage's inventory position is finished on hand
   + ordered and not yet made into finished units - its external backorders - its
   customers' orders not yet shipped (so an upstream stage already sees its customers'
   orders of this period); it orders ``max(0, S - position)`` finished units, i.e.
   ``quantity_per`` times that from every supplier; the external supplier ships at once;
3. **shipments**, suppliers first: external backorders first, then the owed customer
   orders, **FIFO** (oldest order period first, ties by customer number); a shipment
   sent in ``t`` on a lane with lead time ``L`` arrives in ``t + L`` (``L = 0``: at once,
   before the customer ships in the same period);
4. **external demand** is filled from on hand, the rest backordered;
5. **measurements** at the end of the period, from the first period after ``warmup``.

Initial state: on hand ``S`` at every stage, nothing owed, nothing in transit.  This is
the engine's documented timing (``docs/simulation.md``: a single stage ends a period with
net inventory ``S - X``, ``X`` the demand of ``L + 1`` periods; an internal stage
protects ``L`` periods), so the two agree in expectation, and on the same demand path
they give the same numbers (``test_independent_sim.py``).  Both build whole kits only,
as a plant would (the engine made fractional kits until #14's assembly check found it).

Outputs per policy and stage: type-2 fill rate of external demand (units filled from
stock in the period they are demanded / units demanded, per replication, then averaged
over replications, as the engine does), mean on hand, external backorders, owed
customer orders, stock in transit out of the stage, components waiting at an assembly
stage, each with its standard error across replications.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BaseStockNetwork", "Lane", "SimResult", "simulate_base_stock"]


@dataclass(frozen=True)
class Lane:
    """One replenishment lane.

    Attributes:
        supplier: supplying stage, or ``-1`` for the external supplier.
        customer: receiving stage.
        lead_time: fixed lead time [periods].
        quantity_per: supplier units per finished unit of the customer [units/unit].
    """

    supplier: int
    customer: int
    lead_time: int
    quantity_per: int


@dataclass(frozen=True)
class BaseStockNetwork:
    """An acyclic network of stages numbered suppliers first.

    Attributes:
        upstream: per stage, its supplying stages (empty: the external supplier).
        lead_time: per stage, one fixed lead time [periods] per inbound lane, aligned
            with ``upstream`` (one entry for the external lane of a stage without
            suppliers).
        quantity_per: per stage, integer supplier units per finished unit, aligned with
            ``upstream`` (ignored, 1, for the external lane).
    """

    upstream: tuple[tuple[int, ...], ...]
    lead_time: tuple[tuple[int, ...], ...]
    quantity_per: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        n = len(self.upstream)
        if n == 0:
            raise ValueError("a network needs at least one stage")
        if len(self.lead_time) != n or len(self.quantity_per) != n:
            raise ValueError(f"upstream, lead_time and quantity_per need one entry per stage ({n})")
        for j, ups in enumerate(self.upstream):
            if any(not 0 <= u < j for u in ups):
                raise ValueError(f"stage {j}: suppliers must be stages numbered before it, got {ups}")
            if len(set(ups)) != len(ups):
                raise ValueError(f"stage {j}: a supplier is listed twice in {ups}")
            lanes = max(len(ups), 1)
            if len(self.lead_time[j]) != lanes:
                raise ValueError(f"stage {j}: expected {lanes} lead time(s), got {self.lead_time[j]}")
            if any(int(x) != x or x < 0 for x in self.lead_time[j]):
                raise ValueError(f"stage {j}: lead times must be integers >= 0 [periods], got {self.lead_time[j]}")
            if len(self.quantity_per[j]) != len(ups):
                raise ValueError(f"stage {j}: expected {len(ups)} quantity_per value(s), got {self.quantity_per[j]}")
            if any(int(q) != q or q < 1 for q in self.quantity_per[j]):
                raise ValueError(f"stage {j}: quantity_per must be integers >= 1, got {self.quantity_per[j]}")

    @property
    def n_stages(self) -> int:
        """Number of stages."""
        return len(self.upstream)

    @property
    def lanes(self) -> list[Lane]:
        """Every lane, by customer stage, then in the order of ``upstream``."""
        out = []
        for j, ups in enumerate(self.upstream):
            if not ups:
                out.append(Lane(-1, j, int(self.lead_time[j][0]), 1))
                continue
            for u, lt, q in zip(ups, self.lead_time[j], self.quantity_per[j], strict=True):
                out.append(Lane(u, j, int(lt), int(q)))
        return out

    @property
    def customer_facing(self) -> np.ndarray:
        """Stages that supply no other stage (bool per stage)."""
        out = np.ones(self.n_stages, dtype=bool)
        for ups in self.upstream:
            out[list(ups)] = False
        return out

    @classmethod
    def serial(cls, lead_times: Sequence[int]) -> BaseStockNetwork:
        """Stages ``0 -> 1 -> ... -> n-1``, lead time [periods] of the lane into each."""
        n = len(lead_times)
        return cls(tuple((j - 1,) if j else () for j in range(n)),
                   tuple((int(x),) for x in lead_times), tuple((1,) if j else () for j in range(n)))

    @classmethod
    def distribution(cls, dc_lead_time: int, store_lead_times: Sequence[int]) -> BaseStockNetwork:
        """A DC (stage 0, external supplier) serving stores ``1 .. n`` [periods]."""
        n = len(store_lead_times)
        return cls(((),) + ((0,),) * n, ((int(dc_lead_time),),) + tuple((int(x),) for x in store_lead_times),
                   ((),) + ((1,),) * n)

    @classmethod
    def assembly(cls, component_lead_times: Sequence[int], assembly_lead_times: Sequence[int],
                 quantity_per: Sequence[int]) -> BaseStockNetwork:
        """Components ``0 .. k-1`` (external suppliers) feeding assembly stage ``k``.

        Args:
            component_lead_times: lead time into each component stage [periods].
            assembly_lead_times: lead time of each component's lane into the assembly [periods].
            quantity_per: component units per assembled unit.
        """
        k = len(component_lead_times)
        return cls(((),) * k + (tuple(range(k)),),
                   tuple((int(x),) for x in component_lead_times) + (tuple(int(x) for x in assembly_lead_times),),
                   ((),) * k + (tuple(int(q) for q in quantity_per),))


@dataclass(frozen=True)
class SimResult:
    """Per-replication metrics, ``[policies, replications, stages]`` (lanes for components).

    Every metric is a mean over the measured periods of a replication; properties give
    means over replications and standard errors (sample sd / sqrt(replications)).

    Attributes:
        fill_rate_reps: type-2 fill rate of external demand [-] (NaN: no demand).
        on_hand_reps: end-of-period finished on hand [units].
        backorders_reps: end-of-period external backorders [units].
        owed_reps: end-of-period customer orders not yet shipped [units].
        in_transit_out_reps: end-of-period units in transit from the stage [units].
        components_reps: end-of-period components waiting at the customer of each lane
            (``network.lanes`` order) [supplier units].
        demand_reps: external demand per period [units/period].
        ever_short: ``[policies, stages]``: the stage ended some period (warm-up included,
            any replication) owing its customers or with external backorders.
        lanes: the network's lanes (for ``components_reps``).
        sweep_fill_reps: with ``sweep_levels = K``, per swept stage (external demand, no
            customers) its fill rate at every level ``0 .. K-1`` [-], ``[P, R, K]``.
        sweep_on_hand_reps: the same for its end-of-period on hand [units].
    """

    fill_rate_reps: np.ndarray
    on_hand_reps: np.ndarray
    backorders_reps: np.ndarray
    owed_reps: np.ndarray
    in_transit_out_reps: np.ndarray
    components_reps: np.ndarray
    demand_reps: np.ndarray
    ever_short: np.ndarray
    lanes: tuple[Lane, ...]
    sweep_fill_reps: dict[int, np.ndarray] = field(default_factory=dict)
    sweep_on_hand_reps: dict[int, np.ndarray] = field(default_factory=dict)

    @staticmethod
    def _mean_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = x.shape[1]
        sd = x.std(axis=1, ddof=1) if r > 1 else np.full(x.shape[:1] + x.shape[2:], np.nan)
        return x.mean(axis=1), sd / np.sqrt(r)

    def sweep_fill(self, stage: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and SE of a swept stage's fill rate at every level, ``[P, K]`` [-]."""
        if stage not in self.sweep_fill_reps:
            raise ValueError(f"stage {stage} was not swept (swept: {sorted(self.sweep_fill_reps)})")
        return self._mean_se(self.sweep_fill_reps[stage])

    def sweep_on_hand(self, stage: int) -> np.ndarray:
        """Mean end-of-period on hand of a swept stage at every level, ``[P, K]`` [units]."""
        if stage not in self.sweep_on_hand_reps:
            raise ValueError(f"stage {stage} was not swept (swept: {sorted(self.sweep_on_hand_reps)})")
        return self.sweep_on_hand_reps[stage].mean(axis=1)

    @property
    def fill_rate(self) -> np.ndarray:
        """Mean fill rate per policy and stage [-] (NaN without external demand)."""
        return self._mean_se(self.fill_rate_reps)[0]

    @property
    def fill_rate_se(self) -> np.ndarray:
        """Standard error of :attr:`fill_rate` [-]."""
        return self._mean_se(self.fill_rate_reps)[1]

    @property
    def on_hand(self) -> np.ndarray:
        """Mean finished on hand per policy and stage [units]."""
        return self.on_hand_reps.mean(axis=1)

    @property
    def on_hand_se(self) -> np.ndarray:
        """Standard error of :attr:`on_hand` [units]."""
        return self._mean_se(self.on_hand_reps)[1]

    @property
    def backorders(self) -> np.ndarray:
        """Mean external backorders per policy and stage [units]."""
        return self.backorders_reps.mean(axis=1)

    @property
    def backorders_se(self) -> np.ndarray:
        """Standard error of :attr:`backorders` [units]."""
        return self._mean_se(self.backorders_reps)[1]

    def investment_reps(self, unit_value: Sequence[float] | np.ndarray) -> np.ndarray:
        """Stock on site valued [currency], per policy and replication ``[P, R]``.

        ``sum_j unit_value_j * on_hand_j`` plus components waiting at an assembly stage,
        valued at their supplier's unit value (external components at 0).
        """
        v = np.asarray(unit_value, dtype=np.float64)
        if v.shape != (self.on_hand_reps.shape[2],):
            raise ValueError(f"unit_value needs one value per stage ({self.on_hand_reps.shape[2]}), got {v.shape}")
        lane_v = np.array([v[ln.supplier] if ln.supplier >= 0 else 0.0 for ln in self.lanes])
        return np.asarray(self.on_hand_reps @ v + self.components_reps @ lane_v)

    def investment(self, unit_value: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and SE per policy of :meth:`investment_reps` [currency]."""
        mean, se = self._mean_se(self.investment_reps(unit_value)[:, :, None])
        return mean[:, 0], se[:, 0]

    def echelon_cost_reps(self, holding_cost: Sequence[float] | np.ndarray,
                          backorder_cost: Sequence[float] | np.ndarray) -> np.ndarray:
        """Holding + backorder cost [currency/period] per policy and replication ``[P, R]``.

        ``sum_j h_j * (on_hand_j + in_transit_out_j) + p_j * backorders_j``, ``h`` the
        local holding cost [currency/unit/period], ``p`` the backorder cost
        [currency/unit/period], every stage measured at the end of the period.
        Clark-Scarf's recursion (``echelon_solvers.clark_scarf``, upstream lead-time
        demand over ``L`` periods) measures an upstream echelon before the period's
        demand, so its cost is this one plus ``h_echelon_j * E[D]`` for every stage ``j``
        with a customer stage (a constant: holding is linear; checked in
        ``test_independent_sim.py``).
        """
        h = np.asarray(holding_cost, dtype=np.float64)
        p = np.asarray(backorder_cost, dtype=np.float64)
        return np.asarray((self.on_hand_reps + self.in_transit_out_reps) @ h + self.backorders_reps @ p)

    def echelon_cost(self, holding_cost: Sequence[float] | np.ndarray,
                     backorder_cost: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and SE per policy of :meth:`echelon_cost_reps` [currency/period]."""
        mean, se = self._mean_se(self.echelon_cost_reps(holding_cost, backorder_cost)[:, :, None])
        return mean[:, 0], se[:, 0]


def simulate_base_stock(
    network: BaseStockNetwork,
    levels: Sequence[Sequence[float]] | np.ndarray,
    demand: np.ndarray,
    *,
    warmup: int,
    lead_time_paths: Mapping[tuple[int, int], np.ndarray] | None = None,
    sweep_levels: int = 0,
) -> SimResult:
    """Simulate installation base-stock levels on given demand paths.

    Args:
        network: the stages and lanes.
        levels: ``[policies, stages]`` integer base-stock levels [units] (a 1-D array is
            one policy).
        demand: ``[replications, periods, stages]`` non-negative integer external demand
            [units/period] (zeros where a stage has none), warm-up periods included.
        warmup: periods at the start of every replication that are not measured.
        lead_time_paths: optional ``{(supplier, customer): int [replications, periods]}``
            lead time [periods] of a shipment sent in each period on that lane
            (``supplier = -1``: the external lane); overrides the fixed lead time, orders
            may cross.
        sweep_levels: ``K > 0``: every stage with external demand and no customers is
            also evaluated at every level ``0 .. K-1`` [units] on the same paths
            (:attr:`SimResult.sweep_fill_reps`, :attr:`SimResult.sweep_on_hand_reps`),
            whatever its level in ``levels``.  Exact, not an approximation: such a
            stage orders each period what was demanded of it in the previous one, so
            its orders and receipts do not depend on its own level ``S`` and nothing
            else depends on it; its net inventory before the period's demand is
            ``S - X_t`` with ``X_t`` the same for every ``S``.  At level ``s`` it fills
            ``min((s - X_t)+, d_t) = (s - X_t)+ - (s - X_t - d_t)+`` and ends with on
            hand ``(s - X_t - d_t)+``; both follow from histograms of ``X_t`` and
            ``X_t + d_t`` per policy and replication.

    Returns:
        The :class:`SimResult` of every policy on the same paths.
    """
    n = network.n_stages
    lv = np.asarray(levels, dtype=np.float64)
    if lv.ndim == 1:
        lv = lv[None, :]
    if lv.ndim != 2 or lv.shape[1] != n:
        raise ValueError(f"levels must be [policies, {n} stages], got shape {np.shape(levels)}")
    if np.any(lv < 0) or np.any(lv != np.rint(lv)):
        raise ValueError("levels must be integers >= 0 [units]")
    d = np.asarray(demand)
    if d.ndim != 3 or d.shape[2] != n:
        raise ValueError(f"demand must be [replications, periods, {n} stages], got shape {d.shape}")
    if not np.issubdtype(d.dtype, np.integer) or np.any(d < 0):
        raise ValueError("demand must be non-negative integers [units/period]")
    reps, periods, _ = d.shape
    if not 0 <= warmup < periods:
        raise ValueError(f"warmup must be in [0, periods={periods}), got {warmup}")
    lanes = network.lanes
    paths: dict[int, np.ndarray] = {}
    for key, arr in (lead_time_paths or {}).items():
        idx = [i for i, ln in enumerate(lanes) if (ln.supplier, ln.customer) == tuple(key)]
        if not idx:
            raise ValueError(f"lead_time_paths: no lane {key} (supplier, customer) in the network")
        a = np.asarray(arr)
        if a.shape != (reps, periods) or not np.issubdtype(a.dtype, np.integer) or np.any(a < 0):
            raise ValueError(f"lead_time_paths[{key}] must be non-negative integers [{reps}, {periods}]")
        paths[idx[0]] = a.astype(np.int64)
    if int(sweep_levels) != sweep_levels or sweep_levels < 0:
        raise ValueError(f"sweep_levels must be an integer >= 0 [levels], got {sweep_levels}")
    return _Run(network, lanes, lv.astype(np.int64), d.astype(np.int64), warmup, paths).result(int(sweep_levels))


class _Run:
    """State and period loop of one :func:`simulate_base_stock` call."""

    def __init__(self, net: BaseStockNetwork, lanes: list[Lane], levels: np.ndarray, demand: np.ndarray,
                 warmup: int, paths: dict[int, np.ndarray]) -> None:
        self.net, self.lanes, self.levels, self.demand, self.warmup, self.paths = net, lanes, levels, demand, warmup, paths
        n = net.n_stages
        pol, reps = levels.shape[0], demand.shape[0]
        shape = (pol, reps)
        self.shape = shape
        self.lanes_in = [[i for i, ln in enumerate(lanes) if ln.customer == j] for j in range(n)]
        self.lanes_out = [[i for i, ln in enumerate(lanes) if ln.supplier == j] for j in range(n)]
        lane_max = [max(ln.lead_time, int(paths[i].max()) if i in paths else 0) for i, ln in enumerate(lanes)]
        self.ring = max(lane_max) + 1  # arrival calendar slots [periods]
        # an order to stage u waits at most the longest lead-time path into u (u's own
        # order of the same period covers it); two more slots for safety (overflow raises)
        wait = np.zeros(n, dtype=np.int64)
        for j in range(n):
            wait[j] = max(lane_max[i] + (wait[lanes[i].supplier] if lanes[i].supplier >= 0 else 0)
                          for i in self.lanes_in[j])
        zeros = lambda: np.zeros(shape, dtype=np.int64)  # noqa: E731
        self.on_hand = [levels[:, j, None] + zeros() for j in range(n)]
        self.backorders = [zeros() for _ in range(n)]
        self.outstanding = [zeros() for _ in range(n)]  # finished units ordered, not yet made
        self.components = [zeros() for _ in lanes]
        self.in_transit = [zeros() for _ in lanes]
        self.arrivals = [np.zeros((self.ring, *shape), dtype=np.int64) for _ in lanes]
        # owed[u][..., age, k]: orders of customer lane k of u, oldest period first
        self.owed = [np.zeros((*shape, int(wait[u]) + 2, len(self.lanes_out[u])), dtype=np.int64) for u in range(n)]
        self.owed_total = [zeros() for _ in range(n)]  # sum of owed[u] [units]

    # ---- steps ------------------------------------------------------------------------
    def _send(self, lane: int, qty: np.ndarray, t: int) -> None:
        """Ship ``qty`` [P, R] on ``lane`` in period ``t``."""
        self.in_transit[lane] += qty
        if lane in self.paths:
            slots = (t + self.paths[lane][:, t]) % self.ring  # [R]
            r = np.arange(slots.size)
            self.arrivals[lane][slots, :, r] += qty.T
        else:
            self.arrivals[lane][(t + self.lanes[lane].lead_time) % self.ring] += qty

    def _receive(self, j: int, t: int) -> None:
        """Shipments due at ``t`` arrive at ``j``; complete kits become finished units."""
        slot = t % self.ring
        for i in self.lanes_in[j]:
            q = self.arrivals[i][slot].copy()
            self.arrivals[i][slot] = 0
            self.components[i] += q
            self.in_transit[i] -= q
        if len(self.lanes_in[j]) == 1 and self.lanes[self.lanes_in[j][0]].quantity_per == 1:
            i = self.lanes_in[j][0]
            made = self.components[i]
            self.components[i] = np.zeros_like(made)
            self.on_hand[j] += made
            self.outstanding[j] -= made
            return
        qp = [self.lanes[i].quantity_per for i in self.lanes_in[j]]
        made = np.min([self.components[i] // q for i, q in zip(self.lanes_in[j], qp, strict=True)], axis=0)
        for i, q in zip(self.lanes_in[j], qp, strict=True):
            self.components[i] -= q * made
        self.on_hand[j] += made
        self.outstanding[j] -= made

    def _order(self, j: int, t: int) -> None:
        """Order up to ``S`` (downstream stages have ordered already this period)."""
        position = self.on_hand[j] + self.outstanding[j] - self.backorders[j] - self.owed_total[j]
        qty = np.maximum(self.levels[:, j, None] - position, 0)
        self.outstanding[j] += qty
        for i in self.lanes_in[j]:
            ln = self.lanes[i]
            if ln.supplier < 0:
                self._send(i, qty * ln.quantity_per, t)
            else:
                k = self.lanes_out[ln.supplier].index(i)
                self.owed[ln.supplier][:, :, -1, k] += qty * ln.quantity_per
                self.owed_total[ln.supplier] += qty * ln.quantity_per

    def _ship(self, j: int, t: int) -> None:
        """External backorders first, then customers' orders FIFO (ties: lane order)."""
        serve = np.minimum(self.on_hand[j], self.backorders[j])
        self.backorders[j] -= serve
        self.on_hand[j] -= serve
        if not self.lanes_out[j]:
            return
        queue = self.owed[j]
        if np.all(self.on_hand[j] >= self.owed_total[j]):  # everything owed ships
            per_lane = queue.sum(axis=2)
            self.on_hand[j] -= self.owed_total[j]
            self.owed_total[j] = np.zeros_like(self.owed_total[j])
            queue[...] = 0
            for k, i in enumerate(self.lanes_out[j]):
                self._send(i, per_lane[..., k], t)
            return
        flat = queue.reshape(*self.shape, -1)  # oldest period first, lanes within a period
        cum = np.cumsum(flat, axis=-1)
        shipped_cum = np.minimum(cum, self.on_hand[j][..., None])
        shipped = np.diff(shipped_cum, axis=-1, prepend=0)
        self.owed[j] = (flat - shipped).reshape(queue.shape)
        self.on_hand[j] -= shipped_cum[..., -1]
        self.owed_total[j] -= shipped_cum[..., -1]
        per_lane = shipped.reshape(queue.shape).sum(axis=2)
        for k, i in enumerate(self.lanes_out[j]):
            self._send(i, per_lane[..., k], t)

    def result(self, sweep_levels: int = 0) -> SimResult:
        """Run every period; per-replication means of the measured periods.

        ``sweep_levels = K > 0``: histograms (counts per policy and replication, values
        clipped at ``K``, which no level below ``K`` can reach) of ``X_t`` and
        ``X_t + d_t`` of every stage with external demand and no customers (see
        :func:`simulate_base_stock`).
        """
        n, pol, reps = self.net.n_stages, *self.shape
        periods = self.demand.shape[1]
        facing = np.array([bool(self.demand[:, :, j].any()) for j in range(n)])
        k_sw = sweep_levels
        swept = [j for j in range(n) if k_sw and facing[j] and not self.lanes_out[j]]
        hist_x = {j: np.zeros(pol * reps * (k_sw + 1), dtype=np.int64) for j in swept}
        hist_y = {j: np.zeros(pol * reps * (k_sw + 1), dtype=np.int64) for j in swept}
        base = np.arange(pol * reps, dtype=np.int64).reshape(pol, reps) * (k_sw + 1)
        acc = {k: np.zeros((pol, reps, n)) for k in ("on_hand", "backorders", "owed", "transit_out", "filled")}
        comp_acc = np.zeros((pol, reps, len(self.lanes)))
        demanded = np.zeros((reps, n))
        ever_short = np.zeros((pol, n), dtype=bool)
        for t in range(periods):
            measure = t >= self.warmup
            for j in range(n):
                self._receive(j, t)
            for u in range(n):  # a new period in every order queue
                q = self.owed[u]
                if q.shape[-1] and q[:, :, 0].any():
                    raise RuntimeError("an order waited longer than the order queue holds")
                q[:, :, :-1] = q[:, :, 1:]
                q[:, :, -1] = 0
            for j in reversed(range(n)):
                self._order(j, t)
            for j in range(n):
                self._receive(j, t)  # zero-lead-time shipments of this period
                self._ship(j, t)
                if facing[j]:
                    dem = self.demand[:, t, j][None, :]
                    if measure and j in hist_x:
                        x = self.levels[:, j, None] - (self.on_hand[j] - self.backorders[j])
                        hist_x[j][base + np.minimum(x, k_sw)] += 1
                        hist_y[j][base + np.minimum(x + dem, k_sw)] += 1
                    filled = np.minimum(self.on_hand[j], dem)
                    self.on_hand[j] -= filled
                    self.backorders[j] += dem - filled
                    if measure:
                        acc["filled"][:, :, j] += filled
                        demanded[:, j] += self.demand[:, t, j]
                owed = self.owed_total[j]
                ever_short[:, j] |= ((owed + self.backorders[j]) > 0).any(axis=1)
                if measure:
                    acc["on_hand"][:, :, j] += self.on_hand[j]
                    acc["backorders"][:, :, j] += self.backorders[j]
                    acc["owed"][:, :, j] += owed
                    acc["transit_out"][:, :, j] += sum((self.in_transit[i] for i in self.lanes_out[j]),
                                                       start=np.zeros(self.shape, dtype=np.int64))
            if measure:
                for i in range(len(self.lanes)):
                    comp_acc[:, :, i] += self.components[i]
        m = periods - self.warmup
        with np.errstate(invalid="ignore", divide="ignore"):
            fill = np.where(demanded[None] > 0, acc["filled"] / demanded[None], np.nan)
        sweep_fill, sweep_on_hand = {}, {}
        for j in swept:
            pos_x = _positive_part_sums(hist_x[j].reshape(pol, reps, k_sw + 1), k_sw)
            pos_y = _positive_part_sums(hist_y[j].reshape(pol, reps, k_sw + 1), k_sw)
            with np.errstate(invalid="ignore", divide="ignore"):
                sweep_fill[j] = np.where(demanded[None, :, j, None] > 0,
                                         (pos_x - pos_y) / demanded[None, :, j, None], np.nan)
            sweep_on_hand[j] = pos_y / m
        return SimResult(
            fill_rate_reps=fill, on_hand_reps=acc["on_hand"] / m, backorders_reps=acc["backorders"] / m,
            owed_reps=acc["owed"] / m, in_transit_out_reps=acc["transit_out"] / m,
            components_reps=comp_acc / m, demand_reps=np.broadcast_to(demanded / m, (pol, reps, n)).copy(),
            ever_short=ever_short, lanes=tuple(self.lanes),
            sweep_fill_reps=sweep_fill, sweep_on_hand_reps=sweep_on_hand,
        )


def _positive_part_sums(hist: np.ndarray, k: int) -> np.ndarray:
    """``sum_v hist[..., v] * (s - v)+`` for every level ``s = 0 .. k-1``, ``[..., k]``.

    ``hist[..., v]`` counts periods with value ``v`` (the last bin: ``v >= k``, which
    adds nothing below ``k``).  ``sum_{v < s} (s - v) h(v) = s C0(s) - C1(s)`` with
    ``C0``, ``C1`` the counts and the value-weighted counts below ``s``.
    """
    h = hist[..., :k].astype(np.float64)
    v = np.arange(k, dtype=np.float64)
    c0 = np.concatenate([np.zeros(h.shape[:-1] + (1,)), np.cumsum(h, axis=-1)[..., :-1]], axis=-1)
    c1 = np.concatenate([np.zeros(h.shape[:-1] + (1,)), np.cumsum(h * v, axis=-1)[..., :-1]], axis=-1)
    return np.asarray(v * c0 - c1)
