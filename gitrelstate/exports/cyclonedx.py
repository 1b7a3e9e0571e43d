"""``export --format cyclonedx``: a CycloneDX 1.6 JSON ML-BOM built with
cyclonedx-python-lib.

Components: the model (``machine-learning-model``), one ``data`` component per tracked
path, one ``library`` per installed package (a ``pkg:pypi`` purl); the dependency graph
follows the bound runs. cyclonedx-python-lib 11 cannot model ``modelCard`` or a
component's ``data`` (CycloneDX/cyclonedx-python-lib#912, #913): they are added to the
serialised document by bom-ref and the result is checked against the 1.6 schema in the
tests. Serial number and bom-refs are derived from the state, never random.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from gitrelstate import hashing
from gitrelstate.exports import common
from gitrelstate.exports.digests import Digests
from gitrelstate.exports.source import ExportState
from gitrelstate.state.record import Artifact

if TYPE_CHECKING:
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component

#: Namespace of the uuid5 serial numbers: a literal (it was uuid5(URL, provenance.md
#: "#cyclonedx")), so moving the docs never changes a BOM. Never change it.
SERIAL_NAMESPACE: Final = uuid.UUID("e0f41d09-23b0-58d0-941d-45a83c4167b8")
PROPERTY: Final = "gitrelstate:"  # CycloneDX property taxonomy: '<namespace>:<name>'


def _utc(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _properties(pairs: list[tuple[str, str]]) -> list[Property]:
    from cyclonedx.model import Property

    return [Property(name=PROPERTY + name, value=value) for name, value in pairs]


def _artifact_properties(art: Artifact) -> list[tuple[str, str]]:
    # CycloneDX has no size field; a folder's BLAKE3 hash is its manifest's id.
    pairs = [("hash", art.hash), ("size", str(art.size))]
    if art.nfiles is not None:
        pairs.append(("nfiles", str(art.nfiles)))
    return pairs


def render(state: ExportState, digests: Digests) -> str:
    """The BOM as deterministic JSON."""
    with common.library("cyclonedx-python-lib"):
        from cyclonedx.model import (
            ExternalReference,
            ExternalReferenceType,
            HashAlgorithm,
            HashType,
            XsUri,
        )
        from cyclonedx.model.bom import Bom, BomMetaData
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.model.contact import OrganizationalContact
        from cyclonedx.model.tool import ToolRepository
        from cyclonedx.output.json import JsonV1Dot6
        from packageurl import PackageURL

    def blake3(art: Artifact) -> HashType:
        return HashType(alg=HashAlgorithm.BLAKE3, content=hashing.hex_of(art.hash))

    model = state.model_artifact
    data: dict[str, Component] = {}
    for art in state.data:
        if model is not None and art.path == model.path:
            continue
        run = state.producer(art.path)
        extra = [("producedBy", run.name)] if run is not None else []
        data[art.path] = Component(
            type=ComponentType.DATA,
            name=art.path,
            bom_ref=f"data:{art.path}",
            hashes=[blake3(art)],
            properties=_properties(_artifact_properties(art) + extra),
        )

    libraries: list[Component] = []
    for pkg in common.packages(state.environment):
        refs = []
        if pkg.vcs_url:
            repo_url = pkg.vcs_url.removeprefix("git+").rpartition("@")[0]
            refs.append(ExternalReference(type=ExternalReferenceType.VCS, url=XsUri(repo_url)))
        libraries.append(
            Component(
                type=ComponentType.LIBRARY,
                name=pkg.name,
                version=pkg.version,
                purl=PackageURL.from_string(pkg.purl),
                bom_ref=pkg.purl,
                external_references=refs,
            )
        )

    ml = _model_component(state, digests)
    authors = []
    if state.author.get("name") or state.author.get("email"):
        authors.append(
            OrganizationalContact(
                name=str(state.author.get("name") or "") or None,
                email=str(state.author.get("email") or "") or None,
            )
        )
    code = state.code
    meta = [
        ("kind", state.kind),
        ("name", state.name),
        ("state_id", state.state_id),
        ("code.commit", str(code.get("commit") or "")),
        ("code.dirty", "true" if code.get("dirty") else "false"),
    ]
    if code.get("branch"):
        meta.append(("code.branch", str(code["branch"])))
    tool = Component(
        type=ComponentType.APPLICATION,
        name="gitrelstate",
        version=common.VERSION,
        bom_ref="tool:gitrelstate",
    )
    bom = Bom(
        serial_number=uuid.uuid5(SERIAL_NAMESPACE, state.state_id),
        version=1,
        metadata=BomMetaData(
            timestamp=_utc(state.created),  # the state's time, never now()
            tools=ToolRepository(components=[tool]),
            authors=authors,
            properties=_properties(meta),
        ),
        components=[c for c in (ml, *data.values(), *libraries) if c is not None],
        external_references=[
            ExternalReference(type=ExternalReferenceType.VCS, url=XsUri(state.repository))
        ]
        if state.repository
        else None,
    )
    # The graph: each run output depends on the run's inputs that are components; the
    # model also depends on every library it ran with.
    by_path = dict(data)
    if ml is not None and model is not None:
        by_path[model.path] = ml
    for run in state.runs:
        inputs = [by_path[d.path] for d in run.deps if d.path in by_path]
        for out in run.outs:
            if out.path in by_path:
                target = by_path[out.path]
                bom.register_dependency(target, inputs + (libraries if target is ml else []))
    doc = json.loads(JsonV1Dot6(bom).output_as_string(indent=None))
    _inject(doc, state, data)
    return common.dumps(doc)


def _model_component(state: ExportState, digests: Digests) -> Component | None:
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType

    ref = state.model
    if ref is None:
        return None
    pairs = [("release" if state.kind == "release" else "run", state.name)]
    hashes = None
    art = ref.artifact
    if art is not None:
        pairs += _artifact_properties(art)
        hashes = [HashType(alg=HashAlgorithm.BLAKE3, content=hashing.hex_of(art.hash))]
        algo, hex_ = digests.of(art)
        if algo == "sha256":  # a folder's dirHash has no CycloneDX algorithm
            hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=hex_))
        name = art.path
    else:
        name = ref.reference or ""
        pairs.append(("reference", name))
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=name,
        version=state.name,
        bom_ref=_model_ref(state),
        hashes=hashes,
        properties=_properties(pairs),
        description=state.message or None,
    )


def _model_ref(state: ExportState) -> str:
    ref = state.model
    art = ref.artifact if ref is not None else None
    return f"model:{art.path if art is not None else (ref.reference if ref else '')}"


def _inject(doc: dict[str, Any], state: ExportState, data: dict[str, Any]) -> None:
    """Add what the library cannot model: the model card and each component's ``data``."""
    by_ref = {c["bom-ref"]: c for c in doc.get("components", [])}
    for path in data:
        by_ref[f"data:{path}"]["data"] = [
            {"type": "dataset", "name": path, "bom-ref": f"dataset:{path}"}
        ]
    if state.model is None:
        return
    card: dict[str, Any] = {"bom-ref": f"modelcard:{_model_ref(state)}"}
    model = state.model_artifact
    lineage = state.lineage(model.path) if model is not None else []
    trained_on = sorted({d.path for run in lineage for d in run.deps if d.path in data})
    if trained_on:
        card["modelParameters"] = {"datasets": [{"ref": f"data:{p}"} for p in trained_on]}
    metrics = state.metrics()
    qualify = len(metrics) > 1
    performance = [
        {"type": f"{file}:{key}" if qualify else key, "value": common.text_value(value)}
        for file, values in sorted(metrics.items())
        for key, value in sorted(values.items())
    ]
    if performance:
        card["quantitativeAnalysis"] = {"performanceMetrics": performance}
    producer = state.model_run()
    # CycloneDX's model card has no hyperparameter field: they go in its properties.
    hyperparameters = [
        {"name": f"{file}:{key}", "value": common.text_value(value)}
        for file, values in sorted((producer.params if producer else {}).items())
        for key, value in sorted(values.items())
    ]
    if hyperparameters:
        card["properties"] = hyperparameters
    by_ref[_model_ref(state)]["modelCard"] = card
