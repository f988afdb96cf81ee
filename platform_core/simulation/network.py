"""SKU networks and inventory policies for the Monte Carlo engine.

A :class:`Network` is a directed acyclic graph of stages (SKU-locations): an arc
``(upstream, downstream, quantity_per)`` says that one unit at ``downstream`` consumes
``quantity_per`` units of ``upstream``.  Serial lines, distribution trees, assembly
(bills of materials) and general acyclic networks are all the same object.  Stages
without a supplier stage are replenished by an external, uncapacitated supplier.

A :class:`Policy` gives each stage its replenishment rule: installation base-stock,
echelon base-stock, ``(s, S)`` / ``(R, s, S)``, ``(r, Q)``, plus order modifiers (MOQ,
order multiple, per-period capacity) and a review period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._kernels import POLICY_BASE_STOCK, POLICY_ECHELON_BASE_STOCK, POLICY_RQ, POLICY_SS

__all__ = ["Network", "Policy", "POLICY_KINDS"]

#: accepted policy names -> kernel code
POLICY_KINDS: dict[str, int] = {
    "base_stock": POLICY_BASE_STOCK,
    "installation_base_stock": POLICY_BASE_STOCK,
    "echelon_base_stock": POLICY_ECHELON_BASE_STOCK,
    "sS": POLICY_SS,
    "s_S": POLICY_SS,
    "RsS": POLICY_SS,
    "min_max": POLICY_SS,
    "rQ": POLICY_RQ,
    "r_Q": POLICY_RQ,
}


@dataclass(frozen=True)
class Network:
    """A SKU network: stages and upstream arcs with quantity per.

    Attributes:
        n_stages: number of stages (SKU-locations), indexed ``0 .. n_stages-1``.
        arcs: ``(upstream, downstream, quantity_per)`` triples; ``quantity_per`` is in
            [upstream units / downstream unit] and must be > 0.
        stage_names: one label per stage (defaults to ``"0"``, ``"1"``, ...).
        name: the network key; with an integer run seed, the network's random seed is
            derived from it (see :func:`platform_core.seeds.stage_seed`).
    """

    n_stages: int
    arcs: tuple[tuple[int, int, float], ...] = ()
    stage_names: tuple[str, ...] = ()
    name: str = ""
    _order: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        n = int(self.n_stages)
        if n < 1:
            raise ValueError("a network needs at least one stage")
        arcs = tuple((int(u), int(d), float(q)) for u, d, q in self.arcs)
        seen = set()
        for u, d, q in arcs:
            if not (0 <= u < n and 0 <= d < n):
                raise ValueError(f"arc ({u}, {d}) refers to a stage outside 0..{n - 1}")
            if u == d:
                raise ValueError(f"arc ({u}, {d}) is a self-loop")
            if not q > 0.0 or not np.isfinite(q):
                raise ValueError(f"arc ({u}, {d}): quantity_per must be finite and > 0")
            if (u, d) in seen:
                raise ValueError(f"duplicate arc ({u}, {d})")
            seen.add((u, d))
        names = tuple(str(s) for s in self.stage_names) or tuple(str(i) for i in range(n))
        if len(names) != n:
            raise ValueError("stage_names must have one name per stage")
        object.__setattr__(self, "n_stages", n)
        object.__setattr__(self, "arcs", arcs)
        object.__setattr__(self, "stage_names", names)
        object.__setattr__(self, "_order", self._topological_order(n, arcs))

    @staticmethod
    def _topological_order(n: int, arcs: tuple[tuple[int, int, float], ...]) -> tuple[int, ...]:
        indeg = [0] * n
        children: list[list[int]] = [[] for _ in range(n)]
        for u, d, _ in arcs:
            indeg[d] += 1
            children[u].append(d)
        ready = [i for i in range(n) if indeg[i] == 0]
        order: list[int] = []
        while ready:
            i = ready.pop(0)
            order.append(i)
            for c in children[i]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready.append(c)
        if len(order) != n:
            raise ValueError("the network has a cycle")
        return tuple(order)

    # ---- constructors -----------------------------------------------------------------
    @classmethod
    def serial(cls, n_stages: int, name: str = "") -> Network:
        """A serial line ``0 -> 1 -> ... -> n-1``; stage ``n-1`` faces the customers."""
        return cls(n_stages, tuple((i, i + 1, 1.0) for i in range(n_stages - 1)), name=name)

    @classmethod
    def distribution(cls, n_retailers: int | Sequence[int], name: str = "") -> Network:
        """A distribution tree rooted at warehouse stage 0.

        Args:
            n_retailers: children per node, level by level: ``20`` is one warehouse
                feeding 20 retailers; ``[2, 5]`` is a warehouse feeding 2 regional DCs
                that each feed 5 stores (the leaves face the customers).
            name: network key.
        """
        fan = [int(n_retailers)] if isinstance(n_retailers, int | np.integer) else [int(k) for k in n_retailers]
        if not fan or min(fan) < 1:
            raise ValueError("n_retailers must be positive")
        arcs: list[tuple[int, int, float]] = []
        level = [0]
        n = 1
        for k in fan:
            nxt = []
            for parent in level:
                for _ in range(k):
                    arcs.append((parent, n, 1.0))
                    nxt.append(n)
                    n += 1
            level = nxt
        return cls(n, tuple(arcs), name=name)

    @classmethod
    def assembly(cls, quantity_per: Sequence[float], name: str = "") -> Network:
        """Components ``0 .. k-1`` assembled into final stage ``k`` (a one-level BOM).

        Args:
            quantity_per: component units per finished unit, one per component.
            name: network key.
        """
        k = len(quantity_per)
        if k < 1:
            raise ValueError("an assembly needs at least one component")
        return cls(k + 1, tuple((i, k, float(q)) for i, q in enumerate(quantity_per)), name=name)

    # ---- structure --------------------------------------------------------------------
    @property
    def topological_order(self) -> tuple[int, ...]:
        """Stages ordered so that every supplier comes before its customers."""
        return self._order

    def upstream(self, stage: int) -> list[int]:
        """The supplier stages of ``stage`` (empty: external supplier)."""
        return [u for u, d, _ in self.arcs if d == stage]

    def downstream(self, stage: int) -> list[int]:
        """The customer stages of ``stage``."""
        return [d for u, d, _ in self.arcs if u == stage]

    @property
    def customer_facing(self) -> list[int]:
        """Stages without downstream stages (where external demand arrives by default)."""
        has_child = {u for u, _, _ in self.arcs}
        return [i for i in range(self.n_stages) if i not in has_child]


def _nan_to_num(a: np.ndarray, nan: float) -> np.ndarray:
    """``np.nan_to_num(a, nan=nan)`` (infinities to the largest floats), quicker on small arrays."""
    out = np.where(np.isnan(a), nan, a)
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=nan)
    return out


def _is_scalar(value: object, expected: float) -> bool:
    """``value`` is a plain number equal to ``expected`` (the policy field's default)."""
    return isinstance(value, int | float) and float(value) == expected


def _stage_array(value: float | Sequence[float] | np.ndarray | None, n: int, default: float, what: str) -> np.ndarray:
    if value is None:
        return np.full(n, default, dtype=np.float64)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr), dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{what} must be a scalar or have one value per stage ({n})")
    return arr.copy()


@dataclass(frozen=True)
class Policy:
    """Replenishment policy of every stage of one network.

    Scalars broadcast to all stages; sequences give one value per stage (in the
    network's stage order). Unused parameters of a kind are ignored (``nan`` allowed).

    Attributes:
        kind: ``"base_stock"`` (installation), ``"echelon_base_stock"``, ``"sS"`` (also
            ``"RsS"``/``"min_max"``; with ``review_period > 1`` it is ``(R, s, S)``) or
            ``"rQ"``; one name or one per stage.
        reorder_point: ``s`` or ``r`` [units]; an order is placed when the inventory
            position is at or below it.
        order_up_to: ``S`` [units]; the (echelon) base-stock level or ``(s, S)``'s ``S``.
        order_quantity: ``Q`` [units] of ``(r, Q)`` (orders are multiples of ``Q``).
        review_period: ``R`` [periods]; orders only in periods ``t`` with ``t % R == 0``.
        moq: minimum order quantity [units].
        order_multiple: orders are rounded up to a multiple of this [units] (0: none).
        capacity: largest order per period [units/period] (``inf``: uncapacitated).
    """

    kind: str | Sequence[str] = "base_stock"
    reorder_point: float | Sequence[float] | np.ndarray | None = None
    order_up_to: float | Sequence[float] | np.ndarray | None = None
    order_quantity: float | Sequence[float] | np.ndarray | None = None
    review_period: int | Sequence[int] | np.ndarray = 1
    moq: float | Sequence[float] | np.ndarray = 0.0
    order_multiple: float | Sequence[float] | np.ndarray = 0.0
    capacity: float | Sequence[float] | np.ndarray = np.inf

    # ---- constructors -----------------------------------------------------------------
    @classmethod
    def base_stock(cls, levels: float | Sequence[float] | np.ndarray, **modifiers: object) -> Policy:
        """Installation base-stock with order-up-to ``levels`` [units]."""
        return cls(kind="base_stock", order_up_to=levels, **modifiers)  # type: ignore[arg-type]

    @classmethod
    def echelon_base_stock(cls, levels: float | Sequence[float] | np.ndarray, **modifiers: object) -> Policy:
        """Echelon base-stock with echelon order-up-to ``levels`` [units]."""
        return cls(kind="echelon_base_stock", order_up_to=levels, **modifiers)  # type: ignore[arg-type]

    @classmethod
    def s_S(cls, s: float | Sequence[float] | np.ndarray, big_s: float | Sequence[float] | np.ndarray, **modifiers: object) -> Policy:
        """``(s, S)`` (``(R, s, S)`` with ``review_period=R``)."""
        return cls(kind="sS", reorder_point=s, order_up_to=big_s, **modifiers)  # type: ignore[arg-type]

    @classmethod
    def r_Q(cls, r: float | Sequence[float] | np.ndarray, q: float | Sequence[float] | np.ndarray, **modifiers: object) -> Policy:
        """``(r, Q)``: order multiples of ``Q`` when the position is at or below ``r``."""
        return cls(kind="rQ", reorder_point=r, order_quantity=q, **modifiers)  # type: ignore[arg-type]

    # ---- resolution -------------------------------------------------------------------
    def resolve(self, network: Network) -> dict[str, np.ndarray]:
        """Per-stage arrays for ``network`` (validated); keys are kernel parameter names."""
        n = network.n_stages
        quick = self._resolve_base_stock(n)
        if quick is not None:
            return quick
        kinds = [self.kind] * n if isinstance(self.kind, str) else list(self.kind)
        if len(kinds) != n:
            raise ValueError(f"kind must be one name or one per stage ({n})")
        try:
            codes = np.array([POLICY_KINDS[k] for k in kinds], dtype=np.int64)
        except KeyError as exc:
            raise ValueError(f"unknown policy kind {exc.args[0]!r}; use one of {sorted(POLICY_KINDS)}") from None
        s = _stage_array(self.reorder_point, n, np.nan, "reorder_point")
        big_s = _stage_array(self.order_up_to, n, np.nan, "order_up_to")
        q = _stage_array(self.order_quantity, n, np.nan, "order_quantity")
        review = _stage_array(self.review_period, n, 1.0, "review_period")
        moq = _stage_array(self.moq, n, 0.0, "moq")
        mult = _stage_array(self.order_multiple, n, 0.0, "order_multiple")
        cap = _stage_array(self.capacity, n, np.inf, "capacity")
        # the first stage whose parameters its kind cannot use (checked for all stages at once)
        with np.errstate(invalid="ignore"):
            bad_bs = ((codes == POLICY_BASE_STOCK) | (codes == POLICY_ECHELON_BASE_STOCK)) & ~np.isfinite(big_s)
            bad_ss = (codes == POLICY_SS) & (~(np.isfinite(s) & np.isfinite(big_s)) | (big_s < s))
            bad_rq = (codes == POLICY_RQ) & ~(np.isfinite(s) & np.isfinite(q) & (q > 0))
        bad = bad_bs | bad_ss | bad_rq
        if bad.any():
            j = int(np.argmax(bad))
            if bad_bs[j]:
                raise ValueError(f"stage {j}: base-stock needs a finite order_up_to")
            if bad_ss[j]:
                raise ValueError(f"stage {j}: (s, S) needs finite s <= S")
            raise ValueError(f"stage {j}: (r, Q) needs a finite r and Q > 0")
        if np.any(review < 1) or np.any(review != np.round(review)):
            raise ValueError("review_period must be a positive integer")
        if np.any(moq < 0) or np.any(mult < 0) or np.any(cap <= 0) or np.any(np.isnan(cap)):
            raise ValueError("moq and order_multiple must be >= 0 and capacity > 0")
        # initial on-hand: the stage's own target (echelon: echelon level minus children's)
        init = np.where(codes == POLICY_RQ, s + _nan_to_num(q, 0.0), big_s)
        for j in np.flatnonzero(codes == POLICY_ECHELON_BASE_STOCK).tolist():
            kids = sum(qp * big_s[d] for u, d, qp in network.arcs if u == j and np.isfinite(big_s[d]))
            init[j] = big_s[j] - kids
        init = np.maximum(_nan_to_num(init, 0.0), 0.0)
        return {
            "pol_type": codes,
            "pol_s": _nan_to_num(s, 0.0),
            "pol_big_s": _nan_to_num(big_s, 0.0),
            "pol_q": _nan_to_num(q, 1.0),
            "pol_review": review.astype(np.int64),
            "pol_moq": moq,
            "pol_mult": mult,
            "pol_cap": cap,
            "st_init": init,
        }

    def _resolve_base_stock(self, n: int) -> dict[str, np.ndarray] | None:
        """:meth:`resolve` of a plain installation base-stock policy (None: any other policy).

        Plain: kind ``"base_stock"`` for every stage, finite levels, integer review periods
        >= 1 and no reorder point, order quantity, MOQ, order multiple or capacity. The same
        arrays as the general path (solvers resolve one such policy per candidate level set,
        thousands per batch), without its per-kind checks; anything else takes the general path
        (and its error messages).
        """
        if not (isinstance(self.kind, str) and self.kind == "base_stock" and self.reorder_point is None
                and self.order_quantity is None and _is_scalar(self.moq, 0.0)
                and _is_scalar(self.order_multiple, 0.0) and _is_scalar(self.capacity, np.inf)):
            return None
        big_s = _stage_array(self.order_up_to, n, np.nan, "order_up_to")
        review = _stage_array(self.review_period, n, 1.0, "review_period")
        if not np.isfinite(big_s).all() or np.any(review < 1) or np.any(review != np.round(review)):
            return None
        big_s = _nan_to_num(big_s, 0.0)
        return {
            "pol_type": np.full(n, POLICY_BASE_STOCK, dtype=np.int64),
            "pol_s": np.zeros(n),
            "pol_big_s": big_s,
            "pol_q": np.ones(n),
            "pol_review": review.astype(np.int64),
            "pol_moq": np.zeros(n),
            "pol_mult": np.zeros(n),
            "pol_cap": np.full(n, np.inf),
            "st_init": np.maximum(_nan_to_num(big_s, 0.0), 0.0),
        }
