"""Correlated demand across the stages of a network: an empirical (checkerboard) copula.

Stores served by one DC rise and fall together (season, promotions, weather). The
simulation keeps each stage's own demand distribution (its *marginal*, from the
forecaster) and takes the *dependence* between stages from history: in every period one
common draw picks a historical period ``h`` and every participating stage draws from the
``rank[h, j]``-th of ``H`` equal slices of its uniform,

    u'_j = (rank[h, j] + u_j) / H,

with ``u_j`` the stage's own draw (see :mod:`._rng`). ``rank[h, j]`` (``0 .. H - 1``) is the
rank of stage ``j``'s demand in period ``h`` among its ``H`` historical periods, so ``u'_j``
is exactly uniform (each stage keeps its PMF exactly) and stages that were high together in
history are high together in the simulation.

:meth:`JointDemand.from_history` builds the ranks from ``StageProblem.demand_history``
(``float64 [stages, periods]``); pass the result to ``simulate(..., joint_demand=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["JointDemand", "JointDemandSummary", "InsufficientHistoryError", "MIN_PERIODS"]

#: fewest complete historical periods for a joint demand model [periods]
MIN_PERIODS = 8


class InsufficientHistoryError(ValueError):
    """The history cannot support a joint demand model (too few complete periods or varying stages).

    A caller that can fall back to independent demand catches this one; malformed input
    (wrong shape, infinite values) raises a plain :class:`ValueError`.
    """


@dataclass(frozen=True)
class JointDemandSummary:
    """What a joint demand model learnt from the history, for logs and reports.

    Attributes:
        periods_used: complete historical periods ``H`` (every participating stage has a
            value) [periods].
        participating: stages whose demand is drawn jointly.
        spearman_mean: mean pairwise Spearman rank correlation among the participating
            stages over those periods [-] (ties get their average rank).
        spearman_min: smallest pairwise Spearman rank correlation [-].
        spearman_max: largest pairwise Spearman rank correlation [-].
    """

    periods_used: int
    participating: tuple[int, ...]
    spearman_mean: float
    spearman_min: float
    spearman_max: float

    def __str__(self) -> str:
        return (f"joint demand: {len(self.participating)} stages over {self.periods_used} periods, "
                f"Spearman mean {self.spearman_mean:.3f} (min {self.spearman_min:.3f}, "
                f"max {self.spearman_max:.3f})")


def _ranks_random_ties(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ranks ``0 .. n - 1`` of ``values``, ties in random order."""
    order = np.lexsort((rng.random(values.size), values))
    ranks = np.empty(values.size, dtype=np.int64)
    ranks[order] = np.arange(values.size)
    return ranks


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks ``1 .. n`` of ``values`` with ties averaged (Spearman's convention).

    ``values``: ``[n]``, or ``[n, k]`` for the ranks of each column (the same numbers as
    column by column: ranks are integers or halves, exact).
    """
    v = values.reshape(values.shape[0], -1)
    n = v.shape[0]
    order = np.argsort(v, axis=0, kind="stable")
    sorted_v = np.take_along_axis(v, order, axis=0)
    first = np.ones(v.shape, dtype=bool)
    first[1:] = sorted_v[1:] != sorted_v[:-1]
    pos = np.arange(n)[:, None]
    start = np.maximum.accumulate(np.where(first, pos, 0), axis=0)  # first position of each tie group
    nxt = np.empty(v.shape, dtype=np.int64)  # first position after it
    nxt[-1] = n
    nxt[:-1] = np.where(first[1:], pos[1:], n)
    end = np.minimum.accumulate(nxt[::-1], axis=0)[::-1]
    avg = (start + end + 1) / 2.0  # mean of ranks start+1 .. end
    out = np.empty(v.shape)
    np.put_along_axis(out, order, avg, axis=0)
    return out.reshape(values.shape)


@dataclass(frozen=True, eq=False)
class JointDemand:
    """Dependence between the demand of a network's stages, as ranks of historical periods.

    Build it with :meth:`from_history`; direct construction validates the ranks.

    Attributes:
        ranks: ``int64 [H, stages]``: column ``j`` of a participating stage is a
            permutation of ``0 .. H - 1`` (the rank of its demand in each of the ``H``
            historical periods); ``-1`` throughout for a stage drawn independently.
        seed: seed of the random tie-breaking (for the record).
        spearman: ``float64 [stages, stages]`` Spearman rank correlation of the history
            over the ``H`` periods (``nan`` where a stage does not participate).
    """

    ranks: np.ndarray
    seed: int = 0
    spearman: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        r = np.array(self.ranks, dtype=np.int64, copy=True)
        if r.ndim != 2:
            raise ValueError(f"JointDemand.ranks: expected int [periods, stages], got shape {r.shape}")
        h, n = r.shape
        if h < MIN_PERIODS:
            raise InsufficientHistoryError(f"JointDemand: needs at least {MIN_PERIODS} periods, got {h}")
        part = r[0] >= 0
        if part.sum() < 2:
            raise InsufficientHistoryError("JointDemand: needs at least two participating stages")
        # every column checked at once; the first bad one named
        perm_ok = np.all(np.sort(r, axis=0) == np.arange(h)[:, None], axis=0)
        bad = np.where(part, ~perm_ok, np.any(r != -1, axis=0))
        if bad.any():
            j = int(np.argmax(bad))
            if part[j]:
                raise ValueError(f"JointDemand.ranks: column {j} must be a permutation of 0..{h - 1}")
            raise ValueError(f"JointDemand.ranks: column {j} must be all -1 (independent) or a permutation")
        r.flags.writeable = False
        object.__setattr__(self, "ranks", r)
        sp = np.asarray(self.spearman, dtype=np.float64)
        if sp.shape != (n, n):
            sp = _spearman(r.astype(np.float64), part)
        sp = sp.copy()
        sp.flags.writeable = False
        object.__setattr__(self, "spearman", sp)

    @classmethod
    def from_history(cls, history: np.ndarray, seed: int = 0, n_stages: int | None = None) -> JointDemand:
        """The joint demand model of a network from its stages' demand history.

        Args:
            history: ``float [stages, periods]``, each stage's own demand per period
                [units/period], ``NaN`` where the stage has none (the layout of
                ``StageProblem.demand_history``). Stages whose row is all ``NaN`` or
                constant draw independently; the model uses the periods in which every
                other stage has a value.
            seed: seed of the random tie-breaking between equal values of one stage
                (same seed, same ranks).
            n_stages: the network's stage count, to check ``history`` against.

        Raises:
            ValueError: ``history`` is not 2-D, has the wrong number of rows, or holds
                infinite values.
            InsufficientHistoryError: fewer than two stages vary, or fewer than
                :data:`MIN_PERIODS` periods have a value for every varying stage.
        """
        x = np.asarray(history, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"history: expected float [stages, periods], got shape {x.shape}")
        if n_stages is not None and x.shape[0] != n_stages:
            hint = " (transposed? the layout is [stages, periods])" if x.shape[1] == n_stages else ""
            raise ValueError(f"history: expected {n_stages} rows (one per stage), got shape {x.shape}{hint}")
        if np.any(np.isinf(x)):
            raise ValueError("history: infinite values (use NaN for periods without a value)")
        n, n_per = x.shape
        nan = np.isnan(x)
        varying = (np.min(np.where(nan, np.inf, x), axis=1, initial=np.inf)
                   < np.max(np.where(nan, -np.inf, x), axis=1, initial=-np.inf))
        while True:  # a stage constant over the complete periods does not participate either
            rows = ~np.any(nan[varying], axis=0) if varying.any() else np.zeros(n_per, dtype=bool)
            sub = x[:, rows]
            if sub.shape[1] == 0:
                still = np.zeros(n, dtype=bool)
            else:
                with np.errstate(invalid="ignore"):
                    still = varying & (sub.min(axis=1) < sub.max(axis=1))
            if np.array_equal(still, varying):
                break
            varying = still
        if varying.sum() < 2:
            raise InsufficientHistoryError(
                f"history: needs at least two stages with varying demand, found {int(varying.sum())}")
        h = int(rows.sum())
        if h < MIN_PERIODS:
            missing = np.isnan(x[varying]).sum(axis=1)
            worst = int(np.flatnonzero(varying)[int(np.argmax(missing))])
            raise InsufficientHistoryError(
                f"history: {h} periods with a value for every varying stage, need {MIN_PERIODS} "
                f"(stage {worst} misses {int(missing.max())} of {n_per})")
        rng = np.random.default_rng(seed)
        ranks = np.full((h, n), -1, dtype=np.int64)
        for j in np.flatnonzero(varying):
            ranks[:, j] = _ranks_random_ties(x[j, rows], rng)
        return cls(ranks=ranks, seed=int(seed), spearman=_spearman(x[:, rows].T, varying))

    @property
    def periods_used(self) -> int:
        """Historical periods ``H`` the model resamples [periods]."""
        return int(self.ranks.shape[0])

    @property
    def n_stages(self) -> int:
        """Stages of the network the model is for."""
        return int(self.ranks.shape[1])

    @property
    def participating(self) -> np.ndarray:
        """``bool [stages]``: stages drawn jointly (the others independently)."""
        part: np.ndarray = self.ranks[0] >= 0
        return part

    def summary(self) -> JointDemandSummary:
        """Periods used and the pairwise Spearman rank correlations (mean, min, max)."""
        part = np.flatnonzero(self.participating)
        iu = np.triu_indices(part.size, k=1)
        pairs = self.spearman[np.ix_(part, part)][iu]
        return JointDemandSummary(periods_used=self.periods_used, participating=tuple(int(j) for j in part),
                                  spearman_mean=float(pairs.mean()), spearman_min=float(pairs.min()),
                                  spearman_max=float(pairs.max()))


def _spearman(values: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Spearman matrix of the columns of ``values [periods, stages]`` (``nan`` off ``part``)."""
    n = values.shape[1]
    out = np.full((n, n), np.nan)
    idx = np.flatnonzero(part)
    if idx.size:
        rk = _average_ranks(values[:, idx])
        out[np.ix_(idx, idx)] = np.corrcoef(rk, rowvar=False)
    return out
