"""Register the fitted artefacts any component exposes (``RunResult.artefacts``).

One registered model per component, ``echelon-<kind>-<component>`` (kind: the family,
``demand`` for forecasters, as :func:`echelon_mlflow.registry.registered_name`), e.g.
``echelon-cost-learned`` and ``echelon-solver-learned_policy``.  A version is an MLflow
``pyfunc`` model (:class:`echelon_mlflow.pyfunc_models.ArtefactModel`) holding every
artefact of the component; :func:`echelon_mlflow.registry.load_model` returns the dict
artefact name -> payload, after the usual trust checks.

Each version is tagged ``echelon.kind``, ``echelon.component``, ``echelon.run_id``,
``echelon.as_of`` (latest of its artefacts'), ``echelon.model_sha256`` (the stored
artifact, checked before loading), :data:`PAYLOAD_SHA256_TAG` (the digest of the
payloads, :meth:`platform_core.artefacts.ComponentArtefacts.sha256`, the same for the
same data and seed), ``echelon.artefacts`` (names) and per artefact
``echelon.artefact.<name>.sha256`` and ``echelon.artefact.<name>.<key>`` (its metadata).

Aliases: the run's recommendations were computed with the artefacts the run fitted, so a
new version becomes ``@champion`` at once and the former champion ``@previous``
(:func:`echelon_mlflow.registry.promote`); there is no ``@challenger`` (no backtest
decides).  When the champion already holds the same payload digest, no version is added:
the run records the champion's version (``reused``).  An incremental run (``--since``)
fits its models on the re-planned networks only: its versions are registered (tagged with
the run's tags, e.g. ``echelon.incremental``) without moving ``@champion``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from echelon_mlflow import registry

if TYPE_CHECKING:
    import mlflow

    from platform_core.artefacts import ComponentArtefacts

__all__ = ["PAYLOAD_SHA256_TAG", "ArtefactOutcome", "artefact_kind", "register_artefacts"]

#: Model-version tag holding the digest of the artefacts' payloads (independent of MLflow's files).
PAYLOAD_SHA256_TAG = "echelon.payload_sha256"
_MAX_TAG = 5000


def artefact_kind(family: str) -> str:
    """The registry kind of a component family (``forecaster`` -> ``demand``; others unchanged)."""
    return "demand" if family == "forecaster" else family


@dataclass
class ArtefactOutcome:
    """What one component's artefacts became in the registry.

    Attributes:
        kind: registry kind (``cost``, ``solver``, ...).
        family: component family.
        component: component name.
        registered_name: ``echelon-<kind>-<component>``.
        version: the version holding this run's artefacts.
        payload_sha256: digest of the payloads (:data:`PAYLOAD_SHA256_TAG`).
        model_sha256: digest of the stored artifact (``echelon.model_sha256``).
        as_of: latest ``as_of`` of the artefacts.
        artefacts: artefact name -> its payload's SHA-256.
        reused: the champion already held the same payloads; no version was added.
        champion: the champion version after the run.
    """

    kind: str
    family: str
    component: str
    registered_name: str
    version: str
    payload_sha256: str
    model_sha256: str
    as_of: str
    artefacts: dict[str, str] = field(default_factory=dict)
    reused: bool = False
    champion: str = ""

    def record(self) -> dict[str, Any]:
        """The entry of ``model_versions.json``."""
        return {"component": self.component, "family": self.family, "registered_name": self.registered_name,
                "version": self.version, "champion_after_run": self.champion, "challenger": "",
                "promoted": self.champion == self.version and not self.reused, "reused": self.reused, "payload_sha256": self.payload_sha256,
                "model_sha256": self.model_sha256, "as_of": self.as_of, "artefacts": dict(self.artefacts),
                "uri": f"models:/{self.registered_name}/{self.version}"}


def _tags(item: ComponentArtefacts, digests: dict[str, str], payload: str, as_of: str) -> dict[str, str]:
    tags = {"echelon.family": item.family, "echelon.as_of": as_of, PAYLOAD_SHA256_TAG: payload,
            "echelon.artefacts": ",".join(a.name for a in item.artefacts)}
    for a in item.artefacts:
        tags[f"echelon.artefact.{a.name}.sha256"] = digests[a.name]
        if a.as_of:
            tags[f"echelon.artefact.{a.name}.as_of"] = a.as_of
        for k, v in a.metadata.items():
            tags[f"echelon.artefact.{a.name}.{k}"] = str(v)[:_MAX_TAG]
    return tags


def register_artefacts(
    client: mlflow.MlflowClient,
    tracking_uri: str,
    rid: str,
    items: list[ComponentArtefacts],
    *,
    skip: set[str] | frozenset[str] = frozenset(),
    notes: list[str] | None = None,
    promote_new: bool = True,
    run_tags: dict[str, str] | None = None,
) -> list[ArtefactOutcome]:
    """Register each component's artefacts as a version of ``echelon-<kind>-<component>``.

    Args:
        client: MLflow client of ``tracking_uri``.
        tracking_uri: tracking and registry URI.
        rid: the open MLflow run the versions belong to.
        items: the run's artefacts, one entry per component.
        skip: registered names another step of this run versions already (the
            calibration's global models): left alone, with a note.
        notes: where to say what was skipped.
        promote_new: make a new version ``@champion`` (False: register it without an alias).
        run_tags: the run's tags, added to each new version's tags.

    Returns:
        One :class:`ArtefactOutcome` per registered component.
    """
    from echelon_mlflow.pyfunc_models import ArtefactModel

    out = []
    for item in items:
        kind = artefact_kind(item.family)
        name = registry.registered_name(kind, item.component)
        if name in skip:
            if notes is not None:
                notes.append(f"artefacts of {item.family} {item.component!r} not registered: {name} is versioned by "
                             "the calibration of this run")
            continue
        digests = {a.name: a.sha256() for a in item.artefacts}
        payload = item.sha256()
        as_of = max((a.as_of for a in item.artefacts), default="")
        champ = registry.alias_version(client, name, registry.CHAMPION)
        if champ is not None and (champ.tags or {}).get(PAYLOAD_SHA256_TAG) == payload:
            version, reused = str(champ.version), True
            model_sha = str((champ.tags or {}).get(registry.MODEL_SHA256_TAG, ""))
        else:
            wrapper = ArtefactModel(item.payloads(), item.family, item.component)
            version = registry.log_model_version(tracking_uri, rid, kind, item.component, None,
                                                 tags={**(run_tags or {}), **_tags(item, digests, payload, as_of)},
                                                 wrapper=wrapper)
            if promote_new:
                registry.promote(client, name, version)
            reused = False
            model_sha = str(client.get_model_version(name, version).tags.get(registry.MODEL_SHA256_TAG, ""))
        champ_now = registry.alias_version(client, name, registry.CHAMPION)
        out.append(ArtefactOutcome(kind, item.family, item.component, name, version, payload, model_sha, as_of,
                                   digests, reused, str(champ_now.version) if champ_now is not None else ""))
    return out
