"""export --format slsa: an in-toto Statement v1 with SLSA Provenance v1, validated with
in-toto-attestation; subjects carry the sha256 of the very bytes the release names."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import ParseDict, ParseError
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement
from packageurl import PackageURL

from gitrelstate import hashing
from gitrelstate.exports.slsa import BUILD_TYPE, BUILDER_ID
from tests.exports.conftest import Project
from tests.helpers.cli import Runner, git, make_repo

DOCS = "https://github.com/gitrelstate/gitrelstate/blob/main/docs/provenance.md"


def _statement(run: Runner, repo: Path, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(repo, "export", ref, "--format", "slsa").out)
    return doc


def _validate(doc: dict[str, Any]) -> provenance_pb2.Provenance:
    Statement.copy_from_pb(ParseDict(doc, statement_pb2.Statement())).validate()
    provenance = ParseDict(doc["predicate"], provenance_pb2.Provenance())
    for rd in provenance.build_definition.resolved_dependencies:
        ResourceDescriptor.copy_from_pb(rd).validate()
    return provenance


def _release(project: Project, name: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "gitrelstate", "show", name, "--json"],
        cwd=project.repo, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_statement_validates_and_subjects_are_the_files(run: Runner, project: Project) -> None:
    doc = _statement(run, project.repo, "v2")
    provenance = _validate(doc)
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    assert provenance.build_definition.build_type == BUILD_TYPE == f"{DOCS}#buildtype-release-v1"
    assert provenance.run_details.builder.id == BUILDER_ID == f"{DOCS}#builder-local-v1"
    # The model first, then every run output by path; digests of the bytes in the work tree.
    names = [s["name"] for s in doc["subject"]]
    assert names == ["model.json", "data/iris.csv", "metrics.json"]
    for subject in doc["subject"]:
        data = (project.repo / subject["name"]).read_bytes()
        assert subject["digest"] == {
            "sha256": hashlib.sha256(data).hexdigest(),
            "blake3": hashing.hash_bytes(data),
        }


def test_build_definition(run: Runner, project: Project) -> None:
    doc = _statement(run, project.repo, "v2")
    release = _release(project, "v2")
    build = doc["predicate"]["buildDefinition"]
    external = build["externalParameters"]
    assert external["kind"] == "release" and external["name"] == "v2"
    stages = {s["name"]: s for s in external["stages"]}
    assert [s["name"] for s in external["stages"]] == ["prepare", "train"]
    assert stages["train"]["command"][-1] == "train.py" and stages["train"]["wdir"] == "."
    params = stages["train"]["params"]["params.json"]
    assert params["train.C"] == 0.5 and params["train.max_iter"] == 300  # ints stay ints
    assert params["train.hub"] == "https://***@hub.example.com/models"
    internal = build["internalParameters"]
    assert internal["stateId"] == release["state_id"]
    assert internal["interpreter"] == release["environment"]["interpreter"]
    assert internal["variables"]["API_TOKEN"] == release["environment"]["variables"]["API_TOKEN"]
    assert internal["variables"]["SEED"] == "2"
    deps = build["resolvedDependencies"]
    assert deps[0] == {
        "name": "code",
        "uri": "git+https://github.com/acme/churn.git@refs/heads/main",
        "digest": {"gitCommit": release["code"]["commit"]},
    }
    raw = next(a for a in release["data"] if a["path"] == "data/raw")
    assert {"name": "data/raw", "digest": {"blake3": hashing.hex_of(raw["hash"])}} in deps
    purls = [d["uri"] for d in deps if d.get("uri", "").startswith("pkg:")]
    assert [PackageURL.from_string(p).name for p in purls] == sorted(
        release["environment"]["packages"]
    )
    version = release["environment"]["packages"]["scikit-learn"]
    assert f"pkg:pypi/scikit-learn@{version}" in purls
    for purl in purls:  # the purl library reads them back unchanged
        assert PackageURL.from_string(purl).to_string() == purl
    editable = next(d for d in deps if d.get("uri", "").startswith("pkg:pypi/gitrelstate@"))
    assert editable["annotations"] == {"editable": True, "localInstall": True}
    metadata = doc["predicate"]["runDetails"]["metadata"]
    runs = {r["name"]: r for r in release["runs"]}
    assert metadata == {
        "invocationId": release["state_id"],
        "startedOn": runs["prepare"]["started"],
        "finishedOn": runs["train"]["finished"],
    }


def test_model_by_reference_and_run_exports(run: Runner, project: Project) -> None:
    v3 = _statement(run, project.repo, "v3")
    _validate(v3)
    assert v3["predicate"]["buildDefinition"]["externalParameters"]["modelReference"] == (
        "models:/churn/7"
    )
    assert [s["name"] for s in v3["subject"]] == ["data/iris.csv", "metrics.json", "model.json"]
    train = _statement(run, project.repo, "train")
    _validate(train)
    assert train["predicate"]["buildDefinition"]["externalParameters"]["kind"] == "run"
    assert [s["name"] for s in train["subject"]] == ["metrics.json", "model.json"]


def test_validator_rejects_broken_statements(run: Runner, project: Project) -> None:
    """What the tests rely on is a real check."""
    doc = _statement(run, project.repo, "v1")
    typo = json.loads(json.dumps(doc))
    typo["predicate"]["buildDefinition"]["resolvedDependency"] = []
    with pytest.raises(ParseError):
        _validate(typo)
    empty = json.loads(json.dumps(doc))
    empty["subject"][0]["digest"] = {}
    with pytest.raises(ValueError, match="digest"):
        _validate(empty)


def test_folder_subject_is_an_in_toto_dir_hash(run: Runner, tmp_path: Path) -> None:
    """A folder output's dirHash equals the sha256sum pipeline docs/provenance.md shows."""
    repo = make_repo(tmp_path / "repo", run)
    (repo / "make.py").write_text(
        "import os\nos.makedirs('out/sub', exist_ok=True)\n"
        "for name, text in [('b.txt', 'b'), ('a-b', 'x'), ('a.b', 'y'), ('sub/c', 'c\\n'),"
        " ('é.txt', 'u')]:\n    open('out/' + name, 'w').write(text)\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "make")
    run(repo, "run", "-n", "make", "-d", "make.py", "-o", "out", "--", sys.executable, "make.py")
    doc = _statement(run, repo, "make")
    _validate(doc)
    [subject] = doc["subject"]
    pipeline = subprocess.run(
        "find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum",
        shell=True, cwd=repo / "out", capture_output=True, text=True, check=True,
    ).stdout.split()[0]  # fmt: skip
    assert subject["name"] == "out" and subject["digest"]["dirHash"] == pipeline
    # Without a network remote there is no repository URI, only the commit.
    code = doc["predicate"]["buildDefinition"]["resolvedDependencies"][0]
    assert code == {"name": "code", "digest": {"gitCommit": git(repo, "rev-parse", "HEAD").strip()}}
