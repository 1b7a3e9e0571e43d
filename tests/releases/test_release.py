"""Release states: binding, refusals, immutability (state_id), tags, list/show, gc, push."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, git
from tests.helpers.pipeline import Pipeline
from tests.helpers.trees import store_of

# The training stage reads the data folder and records the whole params file.
PIPELINE = Pipeline(prepared=False, param_spec="params.json")


def _train(run: Runner, repo: Path) -> None:
    PIPELINE.train(run, repo)


def _add_row(repo: Path) -> None:
    """Change the tracked data: one more row."""
    with open(repo / "data" / "part-0.csv", "a") as f:
        f.write("5.0,3.4,1.5,0.2,0\n")


@pytest.fixture
def project(repo: Path, run: Runner) -> Path:
    """A committed pipeline with one recorded run whose records are committed too."""
    PIPELINE.write(run, repo)
    (repo / "util.py").write_text("X = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    _train(run, repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "run train")
    return repo


def _release_doc(repo: Path, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yamlio.read(repo / ".relstate" / "releases" / f"{name}.yaml")
    return doc


def test_release_binds_every_layer(project: Path, run: Runner) -> None:
    out = run(project, "release", "v1", "--model", "model.json", "-m", "first cut").out
    assert "released 'v1'" in out
    doc = _release_doc(project, "v1")
    assert doc["relstate"] == 1 and doc["kind"] == "release" and doc["name"] == "v1"
    assert doc["state_id"].startswith("blake3:")
    assert doc["message"] == "first cut"
    assert doc["author"] == {"name": "Test", "email": "test@example.invalid"}
    assert doc["code"]["commit"] == git(project, "rev-parse", "HEAD").strip()
    assert doc["code"]["dirty"] is False
    assert doc["model"]["path"] == "model.json" and doc["model"]["hash"].startswith("blake3:")
    assert {a["path"] for a in doc["data"]} == {"data", "model.json", "metrics.json"}
    [train] = doc["runs"]
    assert train["name"] == "train"
    assert train["params"] == {"params.json": {"train.C": 1.0, "train.max_iter": 300}}
    assert doc["environment"]["interpreter"]["version"]
    # list and show agree with the file.
    listed = json.loads(run(project, "list", "--json").out)
    [row] = listed["releases"]
    assert row["name"] == "v1" and row["state_id"] == doc["state_id"]
    assert [r["name"] for r in listed["runs"]] == ["train"]
    shown = json.loads(run(project, "show", "v1", "--json").out)
    assert shown == doc
    assert "release v1" in run(project, "list").out


def test_external_model_reference_is_recorded_as_given(project: Path, run: Runner) -> None:
    run(project, "release", "v1", "--model", "models:/churn/7")
    assert _release_doc(project, "v1")["model"] == {"reference": "models:/churn/7"}


def test_model_must_be_bound(project: Path, run: Runner) -> None:
    res = run(project, "release", "v1", "--model", "util.py", expect=1)
    assert "neither an output of a bound run nor tracked data" in res.err
    assert not (project / ".relstate" / "releases" / "v1.yaml").exists()


def test_existing_release_name_is_refused(project: Path, run: Runner) -> None:
    run(project, "release", "v1")
    before = (project / ".relstate" / "releases" / "v1.yaml").read_bytes()
    res = run(project, "release", "v1", expect=1)
    assert "already exists" in res.err and "immutable" in res.err
    assert (project / ".relstate" / "releases" / "v1.yaml").read_bytes() == before
    # Also when the file is gone from the work tree but committed in history.
    git(project, "add", "-A")
    git(project, "commit", "-qm", "v1")
    git(project, "rm", "-q", ".relstate/releases/v1.yaml")
    git(project, "commit", "-qm", "drop v1")
    assert "already exists" in run(project, "release", "v1", expect=1).err


def test_refuses_stale_run_and_modified_data(project: Path, run: Runner) -> None:
    _add_row(project)
    res = run(project, "release", "v1", expect=1)
    assert "run 'train' is stale: dependency data changed" in res.err
    assert "tracked data data is modified" in res.err
    assert "hint:" in res.err
    assert not (project / ".relstate" / "releases").exists()


def test_refuses_output_that_no_longer_matches(project: Path, run: Runner) -> None:
    (project / "model.json").write_text("hand edited\n")
    res = run(project, "release", "v1", expect=1)
    assert "output model.json changed" in res.err


def test_uncommitted_code_needs_allow_dirty(project: Path, run: Runner) -> None:
    (project / "util.py").write_text("X = 2\n")
    res = run(project, "release", "v1", expect=1)
    assert "uncommitted code" in res.err and "util.py (M)" in res.err
    assert "--allow-dirty" in res.err
    run(project, "release", "v1", "--allow-dirty")
    doc = _release_doc(project, "v1")
    assert doc["allow_dirty"] is True
    assert doc["dirty"] == ["util.py (M)"]
    assert doc["code"]["dirty"] is True and doc["code"]["diff"].startswith("blake3:")


def test_run_on_code_changed_since_is_refused(project: Path, run: Runner) -> None:
    # util.py is read by no stage: committing a change to it does not stale 'train'.
    (project / "util.py").write_text("X = 3\n")
    git(project, "commit", "-qam", "change util after the run")
    run(project, "release", "v0")
    # train.py is what 'train' ran: a commit changing it does.
    (project / "train.py").write_text(PIPELINE.train_script + "\n# changed\n")
    git(project, "commit", "-qam", "change train.py after the run")
    res = run(project, "release", "v1", expect=1)
    assert "run 'train' is stale: dependency train.py changed" in res.err


def test_run_on_uncommitted_code_later_committed_as_is(project: Path, run: Runner) -> None:
    # Edit, run on the dirty tree, then commit exactly that: the release is clean.
    (project / "params.json").write_text(json.dumps({"train": {"C": 3.0, "max_iter": 300}}))
    _train(run, project)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "C 3")
    run(project, "release", "v1")
    assert _release_doc(project, "v1")["runs"][0]["code"]["dirty"] is True


def test_state_id_detects_edits(project: Path, run: Runner) -> None:
    run(project, "release", "v1")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "release v1")
    assert "every state_id matches" in run(project, "verify").out
    path = project / ".relstate" / "releases" / "v1.yaml"
    path.write_text(path.read_text().replace("train.C: 1.0", "train.C: 5.0"))
    res = run(project, "verify", expect=1)
    assert ".relstate/releases/v1.yaml" in res.err and "state_id" in res.err
    # Committing the edit does not launder it: history is checked with --all-refs.
    git(project, "commit", "-qam", "tamper")
    path.write_text(git(project, "show", "HEAD~1:.relstate/releases/v1.yaml"))
    res = run(project, "verify", "--all-refs", expect=1)
    assert "the file was edited" in res.err


def test_tag_is_annotated_and_names_the_state(project: Path, run: Runner) -> None:
    run(project, "release", "v1", "--tag", "-m", "ship it")
    state_id = _release_doc(project, "v1")["state_id"]
    assert git(project, "cat-file", "-t", "relstate/v1").strip() == "tag"
    message = git(project, "tag", "-l", "--format=%(contents)", "relstate/v1")
    assert state_id in message and "ship it" in message
    assert git(project, "rev-parse", "relstate/v1^{commit}") == git(project, "rev-parse", "HEAD")
    res = run(project, "release", "v2", "--tag")  # a different name is fine
    assert "tagged relstate/v2" in res.out


def test_signed_tag_with_ssh_key(project: Path, run: Runner, tmp_path: Path) -> None:
    key = tmp_path / "signing"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    git(project, "config", "gpg.format", "ssh")
    git(project, "config", "user.signingkey", str(key))
    run(project, "release", "v1", "--sign")
    allowed = tmp_path / "allowed"
    allowed.write_text(f"test@example.invalid {(tmp_path / 'signing.pub').read_text()}")
    git(project, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    verified = subprocess.run(
        ["git", "tag", "-v", "relstate/v1"], cwd=project, capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr
    assert "Good" in verified.stderr


def test_sign_without_setup_is_a_clear_error(project: Path, run: Runner) -> None:
    git(project, "config", "gpg.format", "ssh")
    git(project, "config", "user.signingkey", "/nonexistent/key")
    res = run(project, "release", "v1", "--sign", expect=1)
    assert "could not create tag relstate/v1" in res.err and "hint:" in res.err
    assert not (project / ".relstate" / "releases" / "v1.yaml").exists()


def test_bad_names(project: Path, run: Runner) -> None:
    assert "invalid release name" in run(project, "release", "../x", expect=1).err
    assert "no run named 'nope'" in run(project, "release", "v1", "--run", "nope", expect=1).err


def test_gc_keeps_what_only_a_release_binds(repo: Path, run: Runner) -> None:
    (repo / "code.py").write_text("print(1)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "code")
    (repo / "data.csv").write_text("old data\n")
    run(repo, "track", "data.csv")
    run(repo, "release", "v1")  # binds the pointer before it was ever committed
    git(repo, "add", ".relstate/releases/v1.yaml")
    git(repo, "commit", "-qm", "v1")
    (repo / "data.csv").write_text("new data\n")
    run(repo, "track", "data.csv")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "new data")
    old_hex = _release_doc(repo, "v1")["data"][0]["hash"][7:]
    out = run(repo, "gc").out
    assert "removed 0 unreferenced" in out
    assert (repo / ".git" / "relstate" / "cache" / "blake3" / old_hex[:2] / old_hex[2:]).exists()
    # Without the release, the old data is garbage.
    git(repo, "rm", "-q", ".relstate/releases/v1.yaml")
    git(repo, "commit", "-qm", "drop v1")
    git(repo, "reset", "-q", "--hard", "HEAD")
    subprocess.run(["git", "checkout", "-q", "--orphan", "fresh"], cwd=repo, check=True)
    git(repo, "commit", "-qm", "fresh start")
    git(repo, "branch", "-D", "-q", "main")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    out = run(repo, "gc").out
    assert "removed 1 unreferenced" in out


def test_push_and_fetch_release_only(project: Path, run: Runner, tmp_path: Path) -> None:
    run(project, "release", "v1")
    remote = tmp_path / "store"
    run(project, "remote", "add", "origin", str(remote), "--default")
    (project / "other").write_text("not in the release\n")
    run(project, "track", "other")
    out = run(project, "push", "--release", "v1").out
    assert "pushed" in out
    stored = {p.name for p in remote.rglob("*") if p.is_file()}
    doc = _release_doc(project, "v1")
    model_hex = next(a["hash"] for a in doc["data"] if a["path"] == "model.json")[7:]
    assert model_hex[2:] in stored
    other_hex = yamlio.read(project / "other.relstate.yaml")["hash"][7:]
    assert other_hex[2:] not in stored
    assert "everything is already on" in run(project, "push", "--release", "v1").out


def test_pull_release_brings_back_its_data_state(
    project: Path, run: Runner, tmp_path: Path
) -> None:
    run(project, "release", "v1")
    store = tmp_path / "store"
    run(project, "remote", "add", "origin", str(store), "--default")
    run(project, "push", "--release", "v1")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "v1")
    original = (project / "data" / "part-0.csv").read_text()
    model = (project / "model.json").read_bytes()
    _add_row(project)
    _train(run, project)
    assert (project / "model.json").read_bytes() != model
    git(project, "add", "-A")
    git(project, "commit", "-qm", "new data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    run(clone, "init", "--no-hooks")
    run(clone, "pull", "--release", "v1")
    assert (clone / "data" / "part-0.csv").read_text() == original
    assert (clone / "model.json").read_bytes() == model


def test_gc_keeps_what_only_a_run_record_names(repo: Path, run: Runner) -> None:
    (repo / "make.py").write_text("open('out.txt', 'w').write(open('in.txt').read() * 2)\n")
    (repo / "in.txt").write_text("first\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "code")
    run(
        repo,
        "run",
        "-n",
        "double",
        "-d",
        "in.txt",
        "-o",
        "out.txt",
        "--",
        sys.executable,
        "make.py",
    )
    first_out = yamlio.read(repo / "out.txt.relstate.yaml")["hash"][7:]
    # The record stays uncommitted; the pointer moves on and is committed.
    (repo / "out.txt").write_text("replaced by hand\n")
    run(repo, "track", "out.txt")
    git(repo, "add", "out.txt.relstate.yaml", ".gitignore")
    git(repo, "commit", "-qm", "hand-made output")
    run(repo, "gc")
    store = store_of(repo)
    assert first_out in set(store.iter_hexes())
    store.close()
    run(repo, "checkout", "--run", "double", "--force")
    assert (repo / "out.txt").read_text() == "first\nfirst\n"
