"""export --format cyclonedx: a CycloneDX 1.6 ML-BOM that cyclonedx-python-lib's strict
validator accepts, whose references resolve and whose hashes are the files'."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from gitrelstate import hashing
from gitrelstate.exports.cyclonedx import SERIAL_NAMESPACE
from tests.exports.conftest import Project
from tests.helpers.cli import Runner

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)


def _bom(run: Runner, repo: Path, ref: str) -> tuple[str, dict[str, Any]]:
    text = run(repo, "export", ref, "--format", "cyclonedx").out
    return text, json.loads(text)


def _refs(doc: Any) -> list[str]:
    """Every {"ref": ...} and "dependsOn" target anywhere in the document."""
    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("ref", "dependsOn"):
                found += value if isinstance(value, list) else [value]
            else:
                found += _refs(value)
    elif isinstance(doc, list):
        for value in doc:
            found += _refs(value)
    return found


def _urls(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        found: list[str] = []
        for key, value in doc.items():
            found += [value] if key == "url" and isinstance(value, str) else _urls(value)
        return found
    if isinstance(doc, list):
        return [u for v in doc for u in _urls(v)]
    return []


@pytest.mark.parametrize("ref", ["v1", "v2", "v3", "train"])
def test_valid_cyclonedx_1_6_with_resolving_references(
    run: Runner, project: Project, ref: str
) -> None:
    text, doc = _bom(run, project.repo, ref)
    assert VALIDATOR.validate_str(text) is None
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    known = {c["bom-ref"] for c in doc["components"]}
    assert set(_refs(doc)) <= known  # the schema does not check dangling refs
    # The validator leaves the iri-reference format unchecked here (no rfc3987-syntax in
    # the test extra): check every URL is absolute and carries no credentials.
    for url in _urls(doc):
        parts = urlsplit(url)
        assert parts.scheme and parts.netloc and "@" not in parts.netloc, url


def test_model_component_and_model_card(run: Runner, project: Project) -> None:
    _, doc = _bom(run, project.repo, "v2")
    release = json.loads(run(project.repo, "show", "v2", "--json").out)
    [ml] = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    data = (project.repo / "model.json").read_bytes()
    assert ml["name"] == "model.json" and ml["version"] == "v2"
    assert ml["bom-ref"] == "model:model.json"
    assert {h["alg"]: h["content"] for h in ml["hashes"]} == {
        "BLAKE3": hashing.hash_bytes(data),
        "SHA-256": hashlib.sha256(data).hexdigest(),
    }
    card = ml["modelCard"]
    assert card["modelParameters"]["datasets"] == [
        {"ref": "data:data/iris.csv"},
        {"ref": "data:data/raw"},
    ]
    metrics = json.loads((project.repo / "metrics.json").read_text())
    analysis = card["quantitativeAnalysis"]["performanceMetrics"]
    performance = {m["type"]: m["value"] for m in analysis}
    assert performance == {k: json.dumps(v) for k, v in metrics.items()}
    hyper = {p["name"]: p["value"] for p in card["properties"]}
    assert hyper["params.json:train.C"] == "0.5"
    assert hyper["params.json:train.max_iter"] == "300"
    assert hyper["params.json:train.hub"] == "https://***@hub.example.com/models"
    # Metadata: the release's own time, author and identity; a derived serial number.
    assert doc["metadata"]["timestamp"] == release["created"].replace("Z", "+00:00")
    assert doc["metadata"]["authors"] == [{"name": "Ada Lovelace", "email": "ada@example.invalid"}]
    props = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
    assert props["gitrelstate:state_id"] == release["state_id"]
    assert props["gitrelstate:code.commit"] == release["code"]["commit"]
    assert doc["serialNumber"] == f"urn:uuid:{uuid.uuid5(SERIAL_NAMESPACE, release['state_id'])}"
    assert doc["externalReferences"] == [
        {"type": "vcs", "url": "https://github.com/acme/churn.git"}
    ]


def test_data_and_library_components_and_graph(run: Runner, project: Project) -> None:
    _, doc = _bom(run, project.repo, "v2")
    release = json.loads(run(project.repo, "show", "v2", "--json").out)
    by_ref = {c["bom-ref"]: c for c in doc["components"]}
    for art in release["data"]:
        if art["path"] == "model.json":
            assert f"data:{art['path']}" not in by_ref
            continue
        comp = by_ref[f"data:{art['path']}"]
        assert comp["type"] == "data"
        assert comp["hashes"] == [{"alg": "BLAKE3", "content": hashing.hex_of(art["hash"])}]
        props = {p["name"]: p["value"] for p in comp["properties"]}
        assert props["gitrelstate:size"] == str(art["size"])
        assert comp["data"] == [
            {"type": "dataset", "name": art["path"], "bom-ref": f"dataset:{art['path']}"}
        ]
    assert {p["name"]: p["value"] for p in by_ref["data:data/raw"]["properties"]}[
        "gitrelstate:nfiles"
    ] == "3"
    libraries = [c for c in doc["components"] if c["type"] == "library"]
    assert len(libraries) == len(release["environment"]["packages"])
    sklearn = next(c for c in libraries if c["name"] == "scikit-learn")
    version = release["environment"]["packages"]["scikit-learn"]
    assert sklearn["purl"] == sklearn["bom-ref"] == f"pkg:pypi/scikit-learn@{version}"
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert graph["data:data/iris.csv"] == {"data:data/raw"}
    assert graph["data:metrics.json"] == {"data:data/iris.csv"}
    assert graph["model:model.json"] == {"data:data/iris.csv"} | {c["bom-ref"] for c in libraries}


def test_model_by_reference(run: Runner, project: Project) -> None:
    _, doc = _bom(run, project.repo, "v3")
    [ml] = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    assert ml["name"] == "models:/churn/7" and "hashes" not in ml
    assert {"name": "gitrelstate:reference", "value": "models:/churn/7"} in ml["properties"]


def test_validator_rejects_broken_boms(run: Runner, project: Project) -> None:
    _, doc = _bom(run, project.repo, "v1")
    [ml] = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    ml["modelCard"]["hyperparameters"] = {}
    assert VALIDATOR.validate_str(json.dumps(doc)) is not None
    _, doc = _bom(run, project.repo, "v1")
    next(c for c in doc["components"] if c["type"] == "data")["hashes"][0]["content"] = "xyz"
    assert VALIDATOR.validate_str(json.dumps(doc)) is not None
    _, doc = _bom(run, project.repo, "v1")
    doc["metadata"]["timestamp"] = "yesterday"
    assert VALIDATOR.validate_str(json.dumps(doc)) is not None
