"""export, all four formats: byte-identical across runs and processes, -o written
atomically, no secret in any export, clear errors, export libraries imported lazily."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitrelstate import hashing
from gitrelstate.exports import FORMATS
from gitrelstate.state import yamlio
from tests.exports.conftest import SECRETS, Project
from tests.helpers.cli import Runner, relstate

EXPORT_LIBRARIES = ("cyclonedx", "openlineage", "in_toto_attestation", "google.protobuf")


def _export(run: Runner, project: Project, ref: str, fmt: str) -> str:
    return run(project.repo, "export", ref, "--format", fmt).out


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_release_same_bytes_in_any_process(run: Runner, project: Project, fmt: str) -> None:
    first = _export(run, project, "v2", fmt)
    assert first and _export(run, project, "v2", fmt) == first
    for seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-m", "gitrelstate", "export", "v2", "--format", fmt],
            cwd=project.repo,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == first
    # Another release, another document.
    assert _export(run, project, "v1", fmt) != first


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_secret_in_any_export(run: Runner, project: Project, fmt: str) -> None:
    for ref in (*project.releases, "train", "run:prepare"):
        text = _export(run, project, ref, fmt)
        for secret in SECRETS:
            assert secret not in text, (ref, fmt, secret)
        assert "exporter@" not in text and "trainer@" not in text


def test_secrets_a_state_file_holds_in_clear_are_redacted(
    run: Runner, project: Project, tmp_path: Path
) -> None:
    """A record written before a rule existed (or by hand) holds secrets in clear: every
    export still masks them, through the same redaction as every other sink."""
    copy = tmp_path / "copy"
    shutil.copytree(project.repo, copy, symlinks=True)
    record = copy / ".relstate" / "runs" / "train.yaml"
    doc = yamlio.loads(record.read_text(), "train.yaml")
    github = "ghp_" + "A1b2C3d4" * 5
    doc["command"] += ["--password", "hunter2-CLEAR", f"--hub=https://u:{github}@h.example"]
    doc["params"]["params.json"]["train.api_key"] = "sk-live-CLEARclearCLEAR1234567"
    doc["environment"]["variables"]["DB_PASSWORD"] = "CLEARdbPW99"
    doc["metrics"]["metrics.json"]["note"] = f"token {github}"
    record.write_text(yamlio.dumps(doc))
    for fmt in FORMATS:
        text = run(copy, "export", "run:train", "--format", fmt).out
        for secret in ("hunter2-CLEAR", github, "CLEARclearCLEAR", "CLEARdbPW99"):
            assert secret not in text, (fmt, secret)
        if fmt != "cyclonedx":  # a run has no model card, so no params in a BOM
            assert "train.api_key" in text  # the key stays, its value does not


def test_the_secrets_are_in_the_fixture_where_expected(project: Project) -> None:
    """The no-secret test means something: the variable was captured (redacted) and the
    clone's origin does carry a password."""
    release = (project.repo / ".relstate/releases/v2.yaml").read_text()
    assert "API_TOKEN:" in release and "redacted: blake3-keyed:" in release
    assert SECRETS[1] in (project.repo / ".git" / "config").read_text()


def test_output_file_is_written_atomically(run: Runner, project: Project, tmp_path: Path) -> None:
    target = tmp_path / "out" / "v2.json"
    target.parent.mkdir()
    target.write_text("old content\n")
    run(project.repo, "export", "v2", "--format", "slsa", "-o", str(target))
    assert target.read_text() == _export(run, project, "v2", "slsa")
    assert sorted(p.name for p in target.parent.iterdir()) == ["v2.json"]  # no temp file left
    # Relative to the current folder; '-' is stdout.
    run(project.repo, "export", "v1", "--format", "model-card", "-o", "../card.md")
    assert (project.repo.parent / "card.md").read_text().startswith("# Model card: model.json")
    (project.repo.parent / "card.md").unlink()
    assert run(project.repo, "export", "v1", "--format", "slsa", "-o", "-").out.startswith("{")
    missing = run(project.repo, "export", "v1", "--format", "slsa", "-o", "no/x.json", expect=1)
    assert "cannot write no/x.json" in missing.err and "hint:" in missing.err
    folder = run(project.repo, "export", "v1", "--format", "slsa", "-o", str(tmp_path), expect=1)
    assert "is a folder" in folder.err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if not os.access(locked, os.W_OK):  # root may write anywhere
            denied = run(project.repo, "export", "v1", "--format", "slsa", "-o", str(locked / "x"),
                         expect=1)  # fmt: skip
            assert "cannot write" in denied.err and "Traceback" not in denied.err
    finally:
        locked.chmod(0o755)


def test_unknown_reference_and_format(run: Runner, project: Project) -> None:
    err = run(project.repo, "export", "v9", "--format", "slsa", expect=1).err
    assert err.startswith("error: ") and "'v9'" in err and "hint:" in err
    assert "Traceback" not in err
    err = run(project.repo, "export", "release:train", "--format", "slsa", expect=1).err
    assert "error: 'release:train' is not a release" in err
    err = run(project.repo, "export", "HEAD", "--format", "slsa", expect=1).err
    assert "a release, an alias or a run" in err
    assert run(project.repo, "export", "v1", "--format", "spdx", expect=2).code == 2
    assert run(project.repo, "export", "v1", expect=2).code == 2
    err = run(project.repo, "export", "v1", "--format", "slsa", "--emit", "http://x", expect=2).err
    assert "--emit works only with --format openlineage" in err


@pytest.mark.parametrize("fmt", ["slsa", "cyclonedx", "model-card"])
def test_missing_object_names_it_and_says_fetch(
    run: Runner, project: Project, tmp_path: Path, fmt: str
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(project.repo, copy, symlinks=True)
    model_hash = next(
        line.split()[-1]
        for line in (copy / "model.json.relstate.yaml").read_text().splitlines()
        if line.startswith("hash:")
    )
    cache = copy / ".git" / "relstate" / "cache" / "blake3"
    hex_ = hashing.hex_of(model_hash)
    (cache / hex_[:2] / hex_[2:]).unlink()
    err = run(copy, "export", "v2", "--format", fmt, expect=1).err
    assert f"model.json: object {model_hash} is not in the cache" in err
    assert "hint: fetch the objects it binds: git relstate fetch --release v2" in err
    # OpenLineage reads no object.
    assert run(copy, "export", "v2", "--format", "openlineage").out


def test_corrupt_object_is_refused_and_removed(
    run: Runner, project: Project, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(project.repo, copy, symlinks=True)
    hex_ = hashing.hash_file(copy / "model.json")[0]
    obj = copy / ".git" / "relstate" / "cache" / "blake3" / hex_[:2] / hex_[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not the model\n")
    err = run(copy, "export", "v2", "--format", "slsa", expect=1).err
    assert "is corrupt (removed)" in err and not obj.exists()


def test_export_libraries_are_imported_only_by_export(project: Project) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitrelstate", "status"],
        cwd=project.repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "gitrelstate.cli.exports" in imported  # the command is registered...
    loaded = sorted(
        name
        for name in imported
        for lib in (*EXPORT_LIBRARIES, "jsonschema", "packageurl", "gitrelstate.exports.slsa")
        if name == lib or name.startswith(lib + ".")
    )
    assert loaded == []  # ...but nothing heavy comes with it


@pytest.mark.parametrize(
    ("fmt", "blocked"),
    [("slsa", "in_toto_attestation"), ("cyclonedx", "cyclonedx"), ("openlineage", "openlineage")],
)
def test_missing_library_says_how_to_install(project: Project, fmt: str, blocked: str) -> None:
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "from gitrelstate.cli import main\n"
        f"main(['export', 'v2', '--format', {fmt!r}])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=project.repo, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    assert f"module '{blocked}' is not installed" in proc.stderr
    assert "hint: install the export libraries: pip install 'gitrelstate[export]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_model_card_needs_no_library(project: Project) -> None:
    blocked = "; ".join(f"sys.modules[{lib!r}] = None" for lib in EXPORT_LIBRARIES)
    code = (
        f"import sys; {blocked}\n"
        "from gitrelstate.cli import main\n"
        "main(['export', 'v2', '--format', 'model-card'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=project.repo, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == relstate(project.repo, "export", "v2", "--format", "model-card").out
