"""Fitted artefacts: what any component exposes for a tracking plugin to version.

A component (forecaster, lead-time model, cost model, solver) that learns something
worth keeping overrides :meth:`platform_core.components.Component.fitted_artefacts` and
returns :class:`Artefact` objects: a name, a picklable payload, string metadata and the
date of the data it was fitted on.  The core collects them on the driver and hands them
to the lifecycle hooks in ``RunResult.artefacts``, one :class:`ComponentArtefacts` per
component; a tracking plugin (``echelon_mlflow``) registers them.  The core never
imports a tracking plugin, and plugins never import each other.

Where the fit happens decides how an artefact reaches the driver:

* lead-time and cost models are fitted once on the driver (``plan_dataset``): their
  artefacts are collected right after the fit;
* forecasters and solvers are built and fitted inside each batch (possibly on a Ray
  worker): their artefacts must be **per stage** (``per_stage=True``, the payload a
  ``dict`` keyed by ``"sku@location"``); a batch packs them into its result's schema
  metadata (:data:`ARTEFACTS_KEY`, so they also survive in the part files of a resumed
  run), and the driver merges the batches' dicts in key order
  (:func:`merge_batch_artefacts`), so the merged payload does not depend on the batch
  size or the number of workers.  A batch-side artefact that is not per stage cannot be
  merged and is dropped with a note.

:meth:`Artefact.sha256` is the SHA-256 of the payload's pickle (protocol 5; per stage,
of each stage's pickle): the same input and seed give the same digest, whatever the
batching.
"""

from __future__ import annotations

import base64
import hashlib
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from platform_core.components import ComponentSpec
    from platform_core.data.schemas import Dataset

__all__ = [
    "ARTEFACTS_KEY",
    "PICKLE_PROTOCOL",
    "Artefact",
    "ComponentArtefacts",
    "collect_artefacts",
    "pack_artefacts",
    "unpack_artefacts",
    "merge_batch_artefacts",
    "data_as_of",
    "driver_artefacts",
]

#: Schema-metadata key of a batch result that carries its components' artefacts.
ARTEFACTS_KEY = b"echelon.artefacts"
#: Pickle protocol of payloads and digests (fixed, so digests do not change with Python's default).
PICKLE_PROTOCOL = 5


@dataclass(frozen=True)
class Artefact:
    """One fitted artefact of a component.

    Attributes:
        name: what it is within its component, e.g. ``"switching"`` (letters, digits, ``_``).
        payload: the fitted object (picklable); with ``per_stage`` a ``dict`` stage key
            (``"sku@location"``) -> object.  Keep it free of wall times and other
            figures that change from one run to the next (put those in ``metadata``),
            so that the same data and seed give the same :meth:`sha256`.
        metadata: short descriptive strings (parameters, sizes, scores), recorded as tags.
        as_of: last date of the data it was fitted on (ISO ``YYYY-MM-DD``); "" lets the
            run fill in the last demand date of its input.
        per_stage: the payload is a dict keyed by stage; batches' dicts are merged.
    """

    name: str
    payload: Any
    metadata: Mapping[str, str] = field(default_factory=dict)
    as_of: str = ""
    per_stage: bool = False

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c == "_" for c in self.name):
            raise ValueError(f"artefact name must be letters, digits and '_', got {self.name!r}")
        if self.per_stage and not isinstance(self.payload, dict):
            raise TypeError(f"artefact {self.name!r}: a per-stage payload must be a dict keyed by stage, "
                            f"got {type(self.payload).__name__}")

    def payload_bytes(self) -> bytes:
        """The payload's pickle (protocol :data:`PICKLE_PROTOCOL`)."""
        return pickle.dumps(self.payload, protocol=PICKLE_PROTOCOL)

    def sha256(self) -> str:
        r"""Hex SHA-256 of :meth:`payload_bytes`; per stage, over ``key\0<SHA-256 of its pickle>\n``.

        A per-stage payload is digested stage by stage (keys sorted), so objects shared
        between the stages of one batch (which one pickle would store once) do not make
        the digest depend on how the stages were batched.
        """
        if not self.per_stage:
            return hashlib.sha256(self.payload_bytes()).hexdigest()
        outer = hashlib.sha256()
        for key in sorted(self.payload):
            inner = hashlib.sha256(pickle.dumps(self.payload[key], protocol=PICKLE_PROTOCOL)).hexdigest()
            outer.update(f"{key}\0{inner}\n".encode())
        return outer.hexdigest()


@dataclass(frozen=True)
class ComponentArtefacts:
    """The artefacts of one component of a run.

    Attributes:
        family: ``"forecaster"``, ``"lead_time"``, ``"cost"`` or ``"solver"``.
        component: the component's registered name, e.g. ``"learned"``.
        artefacts: its artefacts, sorted by name.
    """

    family: str
    component: str
    artefacts: tuple[Artefact, ...]

    def sha256(self) -> str:
        r"""Hex SHA-256 over ``name\0<artefact sha256>\n`` of every artefact (sorted by name)."""
        outer = hashlib.sha256()
        for a in sorted(self.artefacts, key=lambda a: a.name):
            outer.update(f"{a.name}\0{a.sha256()}\n".encode())
        return outer.hexdigest()

    def payloads(self) -> dict[str, Any]:
        """Artefact name -> payload."""
        return {a.name: a.payload for a in self.artefacts}


def collect_artefacts(component: object, family: str, name: str, as_of: str = "") -> ComponentArtefacts | None:
    """The artefacts ``component`` exposes (None when it exposes none).

    ``as_of`` fills the artefacts that leave theirs empty.

    Raises:
        TypeError: ``fitted_artefacts`` returned something other than :class:`Artefact` objects.
        ValueError: two artefacts share a name.
    """
    exposed = getattr(component, "fitted_artefacts", None)
    found = list(exposed()) if callable(exposed) else []
    if not found:
        return None
    for a in found:
        if not isinstance(a, Artefact):
            raise TypeError(f"{family} {name!r}: fitted_artefacts() must return Artefact objects, got {a!r}")
    names = [a.name for a in found]
    if len(set(names)) != len(names):
        raise ValueError(f"{family} {name!r}: fitted_artefacts() returned duplicate names {sorted(names)}")
    filled = (a if a.as_of or not as_of else Artefact(a.name, a.payload, a.metadata, as_of, a.per_stage)
              for a in found)
    return ComponentArtefacts(family, name, tuple(sorted(filled, key=lambda a: a.name)))


def pack_artefacts(items: Iterable[ComponentArtefacts]) -> bytes:
    """Base64 of the pickle of ``items`` (a batch result's :data:`ARTEFACTS_KEY` metadata value)."""
    return base64.b64encode(pickle.dumps(list(items), protocol=PICKLE_PROTOCOL))


def unpack_artefacts(metadata: Mapping[bytes, bytes] | None) -> list[ComponentArtefacts]:
    """The artefacts packed in a batch result's schema metadata (none when absent).

    Only the run's own batch results (or its part files) are unpacked: they were
    written by this run's workers.
    """
    if not metadata or ARTEFACTS_KEY not in metadata:
        return []
    items: list[ComponentArtefacts] = pickle.loads(base64.b64decode(metadata[ARTEFACTS_KEY]))  # noqa: S301
    return items


def merge_batch_artefacts(batches: Iterable[Iterable[ComponentArtefacts]],
                          notes: list[str] | None = None, as_of: str = "") -> list[ComponentArtefacts]:
    """One :class:`ComponentArtefacts` per component from the batches' per-stage artefacts.

    The dicts of the same (family, component, artefact) are merged and sorted by stage
    key; metadata and ``as_of`` are the first batch's (metadata values that differ
    between batches are dropped; an empty ``as_of`` takes ``as_of``).  An artefact that is not per stage is dropped, with a
    message in ``notes``.
    """
    default_as_of = as_of
    merged: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    meta: dict[tuple[str, str, str], dict[str, str]] = {}
    as_ofs: dict[tuple[str, str, str], str] = {}
    dropped: set[str] = set()
    for batch in batches:
        for item in batch:
            slot = merged.setdefault((item.family, item.component), {})
            for a in item.artefacts:
                key = (item.family, item.component, a.name)
                if not a.per_stage:
                    dropped.add(f"{item.family} {item.component!r} artefact {a.name!r}")
                    continue
                slot.setdefault(a.name, {}).update(a.payload)
                if key not in meta:
                    meta[key], as_ofs[key] = dict(a.metadata), a.as_of
                else:
                    meta[key] = {k: v for k, v in meta[key].items() if a.metadata.get(k) == v}
                    as_ofs[key] = max(as_ofs[key], a.as_of)
    if notes is not None:
        notes.extend(f"{d} is not per stage: batches cannot merge it, so it is not versioned" for d in sorted(dropped))
    out = []
    for (family, component), by_name in sorted(merged.items()):
        arts = tuple(
            Artefact(name, {k: payload[k] for k in sorted(payload)}, meta[(family, component, name)],
                     as_ofs[(family, component, name)] or default_as_of, per_stage=True)
            for name, payload in sorted(by_name.items()))
        if arts:
            out.append(ComponentArtefacts(family, component, arts))
    return out


def data_as_of(dataset: Dataset) -> str:
    """The last demand date of ``dataset`` (ISO), "" without demand."""
    demand = dataset.demand
    if demand.num_rows == 0:
        return ""
    import pyarrow.compute as pc

    last = pc.max(demand.column("period")).as_py()
    return "" if last is None else str(last)


def driver_artefacts(dataset: Dataset, specs: Mapping[str, ComponentSpec[Any]], lead_time_model: object,
                     cost_model: object) -> list[ComponentArtefacts]:
    """The artefacts of the lead-time and cost models fitted on the driver."""
    as_of = data_as_of(dataset)
    found = (collect_artefacts(lead_time_model, "lead_time", specs["lead_time_model"].name, as_of),
             collect_artefacts(cost_model, "cost", specs["cost_model"].name, as_of))
    return [f for f in found if f is not None]
