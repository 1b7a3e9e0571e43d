"""Threat model, class 5: releases cannot be forged (docs/releases.md, "What protects a
release").

Every command that loads a release checks it (releases.registry): its content against
its own ``state_id`` (an edit that did not recompute the id), and, when the tag
``relstate/NAME`` exists, the file against the ``state_id`` the tag records and the
tag's signature (``git verify-tag``). The attack of the audit: a branch rewrites the
release's data hash, recomputes ``state_id`` and reaches main by a fast-forward merge,
which runs no hook. Each test asserts on the attack's effect: the poisoned data never
reaches the work tree, and every command refuses with ``error:`` and ``hint:``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitrelstate.errors import StateFileError
from gitrelstate.releases import registry
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio
from gitrelstate.state.release import compute_state_id
from tests.helpers.cli import Runner, commit_all, git

GOOD = "hello\n"
POISON = "POISONED\n"
SCRIPT = "open('out.txt','w').write('x'); open('metrics.json','w').write('{\"acc\": 0.9}')"


@pytest.fixture
def project(repo: Path, run: Runner, tmp_path: Path) -> Path:
    """Tracked data, a recorded run, a folder remote holding everything; committed."""
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_text(GOOD)
    (repo / "params.yaml").write_text("lr: 0.1\n")
    run(repo, "track", "data")
    run(repo, "remote", "add", "origin", str(tmp_path / "remote"), "--default")
    commit_all(repo, "base")
    run(
        repo,
        "run",
        "-n",
        "train",
        "-d",
        "data",
        "-p",
        "params.yaml",
        "-o",
        "out.txt",
        "-m",
        "metrics.json",
        "--",
        sys.executable,
        "-c",
        SCRIPT,
    )
    commit_all(repo, "run")
    run(repo, "push")
    return repo


def _release_file(repo: Path, name: str) -> Path:
    return repo / ".relstate" / "releases" / f"{name}.yaml"


def forge(
    repo: Path, name: str, edit: Callable[[dict[str, Any]], None], *, recompute: bool
) -> None:
    """Edit a release file as an attacker would, recomputing ``state_id`` or not."""
    path = _release_file(repo, name)
    doc = yamlio.loads(path.read_text(), str(path))
    edit(doc)
    if recompute:
        doc["state_id"] = compute_state_id(doc)
    path.write_text(yamlio.dumps(doc))


def _other_data(repo: Path, run: Runner) -> str:
    """Content the attacker pushed: the hash of data/a.txt = POISON (work tree restored)."""
    (repo / "data" / "a.txt").write_text(POISON)
    run(repo, "track", "data")
    run(repo, "push")
    doc = yamlio.read(repo / "data.relstate.yaml")
    git(repo, "checkout", "-q", "data.relstate.yaml")
    run(repo, "checkout", "--force", "data")
    assert (repo / "data" / "a.txt").read_text() == GOOD
    return str(doc["hash"])


def _merge_forgery(repo: Path, run: Runner, *, tag: bool) -> None:
    """release v1 on main; a branch rewrites its data hash (state_id recomputed) and is
    fast-forwarded into main: no hook runs."""
    run(repo, "release", "v1", *(["--tag"] if tag else []), "-m", "good")
    commit_all(repo, "release v1")
    git(repo, "checkout", "-qb", "evil")
    evil = _other_data(repo, run)

    def poison(doc: dict[str, Any]) -> None:
        doc["data"][0]["hash"] = evil

    forge(repo, "v1", poison, recompute=True)
    commit_all(repo, "docs: typo")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "evil")


# What loads a release, and the exit status of a refusal (comparing commands: 2).
LOADERS: list[tuple[tuple[str, ...], int]] = [
    (("show", "v1"), 1),
    (("list",), 1),
    (("diff", "v1", "HEAD"), 2),
    (("checkout", "--release", "v1", "--force"), 1),
    (("pull", "--release", "v1", "--force"), 1),
    (("push", "--release", "v1"), 1),
    (("reproduce", "v1"), 2),
    (("export", "v1", "--format", "slsa"), 1),
]


def _refused_everywhere(repo: Path, run: Runner, words: str) -> None:
    for args, code in LOADERS:
        res = run(repo, *args, expect=code)
        assert words in res.err, (args, res.err)
        assert "error:" in res.err and "hint:" in res.err, (args, res.err)
        assert "Traceback" not in res.err
    assert (repo / "data" / "a.txt").read_text() == GOOD  # the poison never arrived


def test_forged_release_after_fast_forward_merge_is_refused(project: Path, run: Runner) -> None:
    _merge_forgery(project, run, tag=True)
    _refused_everywhere(project, run, "does not match its tag relstate/v1")
    text = _release_file(project, "v1").read_text()
    with Repo.open(project) as repo:
        problem = registry.release_problem(repo, text, ".relstate/releases/v1.yaml")
    assert problem is not None and "relstate/v1" in problem


def test_edit_without_new_state_id_is_refused_by_every_command(project: Path, run: Runner) -> None:
    run(project, "release", "v1")
    commit_all(project, "release v1")
    forge(project, "v1", lambda d: d.__setitem__("message", "edited"), recompute=False)
    _refused_everywhere(project, run, "content does not match its state_id")
    res = run(project, "verify", expect=1)
    assert "v1.yaml: content does not match its state_id" in res.err


def test_untagged_recomputed_forgery_is_what_an_untagged_release_cannot_stop(
    project: Path, run: Runner
) -> None:
    """Documented limit (docs/releases.md): without a tag, state_id is unkeyed; the
    requirement switch turns that into a refusal."""
    _merge_forgery(project, run, tag=False)
    run(project, "show", "v1")  # accepted: nothing recorded the original id
    git(project, "config", "relstate.requireSignedReleases", "true")
    res = run(project, "checkout", "--release", "v1", "--force", expect=1)
    assert "has no tag" in res.err and "relstate.requireSignedReleases" in res.err
    assert (project / "data" / "a.txt").read_text() == GOOD


def _ssh_key(tmp_path: Path, name: str) -> Path:
    key = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key


def _sign_with(repo: Path, key: Path) -> None:
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingkey", str(key))


def _trust(repo: Path, tmp_path: Path, *keys: Path) -> None:
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(
        "".join(f"test@example.invalid {Path(f'{k}.pub').read_text()}" for k in keys)
    )
    git(repo, "config", "gpg.ssh.allowedSignersFile", str(allowed))


def test_signed_tag_is_verified(project: Path, run: Runner, tmp_path: Path) -> None:
    key = _ssh_key(tmp_path, "signing")
    _sign_with(project, key)
    run(project, "release", "v1", "--sign")
    commit_all(project, "release v1")
    # No allowed signers: git cannot verify, so the release is not trusted.
    res = run(project, "show", "v1", expect=1)
    assert "is signed, but git cannot verify the signature" in res.err
    assert "allowedSignersFile" in res.err
    _trust(project, tmp_path, key)
    run(project, "show", "v1")
    git(project, "config", "relstate.requireSignedReleases", "true")
    run(project, "checkout", "--release", "v1", "--force")


def test_replaced_signed_tag_fails_verification(project: Path, run: Runner, tmp_path: Path) -> None:
    """The attacker rewrites the file, recomputes the id, and re-signs the tag with a key
    of their own: the user's allowed signers do not know it."""
    ours, theirs = _ssh_key(tmp_path, "ours"), _ssh_key(tmp_path, "theirs")
    _sign_with(project, ours)
    run(project, "release", "v1", "--sign")
    commit_all(project, "release v1")
    _trust(project, tmp_path, ours)
    evil = _other_data(project, run)
    forge(project, "v1", lambda d: d["data"][0].__setitem__("hash", evil), recompute=True)
    new_id = yamlio.read(_release_file(project, "v1"))["state_id"]
    _sign_with(project, theirs)
    message = f"gitrelstate release v1\n\nstate_id: {new_id}\nrelease file: x\n"
    git(project, "tag", "-f", "-s", "relstate/v1", "-m", message)
    _sign_with(project, ours)
    for args, code in LOADERS[:4]:
        res = run(project, *args, expect=code)
        assert "cannot verify the signature" in res.err, res.err
    assert (project / "data" / "a.txt").read_text() == GOOD


def test_a_tag_without_state_id_or_release_file_cannot_vouch(project: Path, run: Runner) -> None:
    run(project, "release", "v1")
    commit_all(project, "release v1")
    git(project, "tag", "relstate/v1", "HEAD~1")  # lightweight, on a commit without v1.yaml
    res = run(project, "show", "v1", expect=1)
    assert "records no state_id" in res.err and "hint:" in res.err
    git(project, "tag", "-f", "relstate/v1", "HEAD")  # the commit that holds the file
    run(project, "show", "v1")


def test_a_release_file_must_name_itself(project: Path, run: Runner) -> None:
    run(project, "release", "v1", "--tag")
    commit_all(project, "release v1")
    text = _release_file(project, "v1").read_text()
    _release_file(project, "v2").write_text(text)  # v1's content (and tag) as 'v2'
    res = run(project, "show", "v2", expect=1)
    assert "names release 'v1'" in res.err and "hint:" in res.err


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("x: 1\n", "x: 1.0\n"),
        ("x: 1\n", "x: '1'\n"),
        ("x: true\n", "x: 1\n"),
        ("x: null\n", "x: ''\n"),
        ("x: [1, 2]\n", "x: [2, 1]\n"),
        ("x: {a: 1}\n", "x: {'a': '1'}\n"),
    ],
)
def test_state_id_tells_apart_what_yaml_tells_apart(a: str, b: str) -> None:
    assert compute_state_id(yamlio.loads(a, "a")) != compute_state_id(yamlio.loads(b, "b"))


@pytest.mark.parametrize(
    "text",
    [
        "1: a\n",
        "x: !!binary aGk=\n",
        "x: !!set {a, b}\n",
        "x: !!timestamp 2024-01-01\n",
        "x: .nan\n",
        "x: !!python/tuple [1]\n",
        "x: 1e999\n",
        "<<: {a: 1}\n",
    ],
)
def test_values_json_cannot_tell_apart_are_refused(text: str) -> None:
    """The audit's collisions: {1: a} = {"1": a}, !!binary = its repr, !!set, dates."""
    with pytest.raises(StateFileError):
        yamlio.loads(text, "x")


def test_state_id_refuses_what_is_not_plain_json() -> None:
    with pytest.raises(StateFileError):
        compute_state_id({"relstate": 1, "x": {1: "a"}})
    with pytest.raises(StateFileError):
        compute_state_id({"relstate": 1, "x": float("nan")})


def test_a_date_is_the_text_it_was_written_as() -> None:
    """YAML 1.2 core schema: an unquoted date is a string, the same as a quoted one."""
    assert yamlio.loads("d: 2024-01-01\n", "x") == yamlio.loads("d: '2024-01-01'\n", "x")


# Modules allowed to read a release file without releases.registry, and why.
_READERS = {
    "gitrelstate/releases/registry.py": "the verified loader",
    "gitrelstate/state/release.py": "the model itself",
    "gitrelstate/workspace/history.py": "gc keeps an edited release's objects (errs on keeping)",
    "gitrelstate/runs/traceindex.py": "checks the state_id itself (below releases/)",
    "gitrelstate/diff/textconv.py": "shows any version of the file in git log -p",
    "gitrelstate/hooks/staged.py": "pre-commit checks the staged file's state_id itself",
}


def test_only_the_registry_loads_releases() -> None:
    """Every command loads releases through releases.registry (so a new command such as
    export cannot skip the checks): Release.from_dict appears nowhere else."""
    root = Path(__file__).resolve().parents[2]
    found = set()
    for path in (root / "gitrelstate").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "from_dict"
                and isinstance(node.value, ast.Name)
                and node.value.id == "Release"
            ):
                found.add(path.relative_to(root).as_posix())
    assert found <= set(_READERS), found - set(_READERS)


# -- the full hostile suite -------------------------------------------------------------------

_EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "model reference": lambda d: d.__setitem__("model", {"reference": "models:/evil/1"}),
    "environment": lambda d: d["environment"].__setitem__("interpreter", {"version": "9"}),
    "run output": lambda d: d["runs"][0]["outs"][0].__setitem__("hash", "blake3:" + "0" * 64),
    "code commit": lambda d: d["code"].__setitem__("commit", "0" * 40),
    "extra key": lambda d: d.__setitem__("note", "harmless?"),
    "message": lambda d: d.__setitem__("message", "edited"),
}


@pytest.mark.slow
@pytest.mark.parametrize("what", sorted(_EDITS))
@pytest.mark.parametrize("recompute", [True, False])
def test_every_edit_of_a_tagged_release_is_refused(
    project: Path, run: Runner, what: str, recompute: bool
) -> None:
    run(project, "release", "v1", "--tag", "--model", "out.txt")
    commit_all(project, "release v1")
    forge(project, "v1", _EDITS[what], recompute=recompute)
    words = "does not match its tag" if recompute else "content does not match its state_id"
    _refused_everywhere(project, run, words)


@pytest.mark.slow
def test_forged_release_at_a_revision_is_refused(project: Path, run: Runner) -> None:
    """releases_at (a release committed in another revision) checks the tag too."""
    _merge_forgery(project, run, tag=True)
    with Repo.open(project) as repo, pytest.raises(Exception, match="does not match its tag"):
        registry.releases_at(repo, "HEAD")
    with Repo.open(project) as repo:
        assert [r.name for r in registry.releases_at(repo, "HEAD~1")] == ["v1"]


@pytest.mark.slow
def test_subprocess_cli_refuses_the_forgery(project: Path, run: Runner) -> None:
    """The real executable, as a user runs it (not the in-process runner)."""
    from tests.helpers.cli import relstate

    _merge_forgery(project, run, tag=True)
    for args, code in LOADERS:
        res = relstate(project, *args)
        assert res.code == code and "does not match its tag" in res.err, (args, res.err)
