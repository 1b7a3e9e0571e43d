"""Aliases (issue #16 item 2): ``promote RELEASE ALIAS`` writes the committed
``.relstate/aliases.yaml``; a promotion is a commit a pull request reviews (``diff`` shows
the move and the release-to-release difference it brings); every command that takes a
release takes an alias; the pre-commit hook checks a staged aliases file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, SubprocessRunner, commit_all, git, make_repo
from tests.helpers.pipeline import Pipeline

PIPELINE = Pipeline(prepared=False, param_spec="params.json", variables=("SEED",))
ALIASES = ".relstate/aliases.yaml"
GITHUB = MarkdownIt("commonmark", {"html": True}).enable("table")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Releases v1 and v2 of the pipeline (another C, another seed), committed."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("aliases")
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n[init]\n\tdefaultBranch = main\n"
    )
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    mp.setenv("SEED", "0")
    try:
        repo = make_repo(root / "repo")
        cli = SubprocessRunner()
        PIPELINE.write(cli, repo)
        commit_all(repo, "pipeline")
        PIPELINE.train(cli, repo)
        commit_all(repo, "train")
        cli(repo, "release", "v1", "--model", "model.json", "-m", "first")
        commit_all(repo, "release v1")
        (repo / "params.json").write_text(json.dumps({"train": {"C": 0.5, "max_iter": 300}}))
        mp.setenv("SEED", "3")
        PIPELINE.train(cli, repo)
        commit_all(repo, "train C=0.5")
        cli(repo, "release", "v2", "--model", "model.json", "-m", "second")
        commit_all(repo, "release v2")
    finally:
        mp.undo()
    return repo


@pytest.fixture
def project(base: Path, tmp_path: Path) -> Path:
    """A copy of ``base`` this test may change."""
    return Path(shutil.copytree(base, tmp_path / "project", symlinks=True))


def _aliases(repo: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yamlio.read(repo / ALIASES)
    return doc


def _json(run: Runner, repo: Path, *args: str, expect: int = 0) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(repo, *args, "--json", expect=expect).out)
    return doc


def _state_id(repo: Path, name: str) -> str:
    doc = yamlio.read(repo / ".relstate" / "releases" / f"{name}.yaml")
    return str(doc["state_id"])


# -- promoting, reviewing the move ---------------------------------------------------------


def test_promotion_is_a_commit_a_pull_request_reviews(project: Path, run: Runner) -> None:
    out = run(project, "promote", "v1", "production").out
    assert "alias 'production' -> release 'v1' (new alias)" in out
    assert f"git add {ALIASES}" in out
    doc = _aliases(project)
    assert list(doc) == ["relstate", "kind", "aliases"]
    assert doc["relstate"] == 1 and doc["kind"] == "aliases"
    entry = doc["aliases"]["production"]
    assert list(entry) == ["release", "state_id", "promoted"]
    assert entry["release"] == "v1" and entry["state_id"] == _state_id(project, "v1")
    commit_all(project, "promote v1 to production")

    # The pull request: a branch that moves production to v2.
    git(project, "switch", "-q", "-c", "promote-v2")
    moved = run(project, "promote", "v2", "production").out
    assert "alias 'production' moved: release 'v1' -> release 'v2'" in moved
    commit_all(project, "promote v2 to production")
    assert "unchanged" in run(project, "promote", "v2", "production").out
    assert git(project, "status", "--porcelain") == ""

    doc = _json(run, project, "diff", "main", "promote-v2")
    # diff --json format 1 keeps its keys; the move is the 'aliases' key.
    assert doc["format"] == 1 and doc["changed"] is True
    assert list(doc)[:5] == ["format", "a", "b", "changed", "layers"]
    # Nothing but the commit itself: no code file, no data, no model changed.
    assert [n for n, layer in doc["layers"].items() if layer["changed"]] == ["code"]
    assert doc["layers"]["code"]["files"] == []
    [move] = doc["aliases"]["moves"]
    assert move["alias"] == "production" and move["status"] == "moved"
    assert move["old"] == {"release": "v1", "state_id": _state_id(project, "v1")}
    assert move["new"] == {"release": "v2", "state_id": _state_id(project, "v2")}
    brought = move["diff"]
    assert brought["a"]["name"] == "v1" and brought["b"]["name"] == "v2"
    assert brought["layers"]["model"]["changed"] and brought["layers"]["metrics"]["changed"]
    [param] = brought["layers"]["pipeline"]["params"]
    assert (param["key"], param["old"], param["new"]) == ("train.C", 1.0, 0.5)
    assert run(project, "diff", "main", "promote-v2", "--exit-code", expect=1)

    text = run(project, "diff", "main", "promote-v2").out
    assert "1 alias moved" in text
    assert "moved production: release v1 → release v2" in text

    md = run(project, "diff", "main", "promote-v2", "--md").out
    html = GITHUB.render(md)
    assert "<h4>Aliases</h4>" in html
    row = "<td><code>production</code></td>\n<td><strong>moved</strong></td>"
    assert row in html
    assert "<td>release <code>v1</code></td>\n<td>release <code>v2</code></td>" in html
    assert "<b>alias</b> <code>production</code>: release <code>v1</code> → release" in md
    assert "<code>params.json: train.C</code>" in html  # the nested comparison's rows
    assert md.count("<details>") == md.count("</details>")

    # History: from Git, as a view and as the plain file diff.
    history = _json(run, project, "promote", "--history", "production")["moves"]
    assert [(m["old"], m["new"]) for m in history] == [("v1", "v2"), (None, "v1")]
    assert "production       v1 -> v2" in run(project, "promote", "--history").out
    log = git(project, "log", "-p", "--format=%s", "--", ALIASES)
    assert "-    release: v1\n" in log and "+    release: v2\n" in log


def test_markdown_escapes_alias_values(project: Path, run: Runner) -> None:
    """Alias and release names are inert in a PR comment (letters only can reach it, but
    the renderer quotes them like every value)."""
    run(project, "promote", "v1", "Prod_1.a-b")
    commit_all(project, "promote")
    run(project, "promote", "v2", "Prod_1.a-b")
    md = run(project, "diff", "HEAD", "--md").out
    assert "| <code>Prod&#95;1&#46;a-b</code> | **moved** |" in md
    assert "<td><code>Prod_1.a-b</code></td>" in GITHUB.render(md)


# -- an alias wherever a release is taken ------------------------------------------------------


def test_every_command_accepts_an_alias(project: Path, run: Runner, tmp_path: Path) -> None:
    run(project, "promote", "v2", "production")
    run(project, "promote", "v1", "staging")
    commit_all(project, "aliases")
    v2 = _json(run, project, "show", "v2")
    assert _json(run, project, "show", "production") == v2
    assert _json(run, project, "show", "alias:production") == v2
    assert "# release 'v2' (alias 'production')" in run(project, "show", "production").out

    listed = _json(run, project, "list")
    rows = {a["name"]: a for a in listed["aliases"]}
    assert rows["production"]["release"] == "v2" and rows["production"]["problem"] is None
    assert rows["staging"]["state_id"] == _state_id(project, "v1")
    assert "alias   production         -> release v2" in run(project, "list").out

    doc = _json(run, project, "diff", "staging", "production")
    assert doc["a"]["label"] == "release v1 (alias staging)"
    assert doc["b"]["name"] == "v2" and doc["b"]["alias"] == "production"

    env = _json(run, project, "env", "show", "production")
    assert env == v2["environment"]
    checked = run(project, "env", "check", "production", "--json", expect=None)
    assert checked.code in (0, 1), checked.err
    assert json.loads(checked.out)["against"] == "release v2 (alias production)"

    card = tmp_path / "card.md"
    run(project, "export", "production", "--format", "model-card", "-o", str(card))
    assert "v2" in card.read_text()

    # checkout --release and pull --release with an alias.
    model = project / "model.json"
    model.unlink()
    out = run(project, "checkout", "--release", "staging").out
    assert "checked out the data of release v1 (alias staging)" in out
    v1_model = yamlio.read(project / ".relstate/releases/v1.yaml")["model"]["hash"]
    assert yamlio.read(project / "model.json.relstate.yaml")["hash"] == v1_model
    remote = tmp_path / "remote"
    run(project, "remote", "add", "origin", str(remote), "--default", "--local")
    run(project, "push")
    run(project, "push", "--release", "production")
    shutil.rmtree(project / ".git" / "relstate" / "cache")
    (project / "data" / "part-0.csv").unlink()
    run(project, "pull", "--release", "production", "--force")
    v2_hash = yamlio.read(project / ".relstate/releases/v2.yaml")["model"]["hash"]
    assert yamlio.read(project / "model.json.relstate.yaml")["hash"] == v2_hash
    assert (project / "data" / "part-0.csv").is_file()


def test_reproduce_an_alias(project: Path, run: Runner) -> None:
    run(project, "promote", "v1", "production")
    commit_all(project, "promote")
    result = run(project, "reproduce", "production", "--json", expect=None)
    report = json.loads(result.out)
    assert report["ref"]["label"] == "release v1 (alias production)", result.err
    assert report["verdict"] == "identical", result.err


# -- refusals --------------------------------------------------------------------------------


def test_invalid_promotions_are_refused_with_a_hint(project: Path, run: Runner) -> None:
    missing = run(project, "promote", "v9", "production", expect=1)
    assert "error: 'v9' is not a release or an alias" in missing.err
    assert "hint: see 'git relstate list' for releases and aliases" in missing.err
    for bad in ("1st", "HEAD", "deadbeef", "a b", "-x", "x" * 101, "prod.lock"):
        res = run(project, "promote", "v1", bad, expect=None)
        assert res.code in (1, 2), bad  # '-x' is read as an option: a usage error
        assert "error:" in res.err or "Error" in res.err, bad
    assert "hint: an alias is a letter" in run(project, "promote", "v1", "1st", expect=1).err
    clash = run(project, "promote", "v1", "v2", expect=1)
    assert "already the name of a release" in clash.err
    run(project, "promote", "v1", "staging")
    # An alias of an alias names the release itself.
    run(project, "promote", "staging", "production")
    assert _aliases(project)["aliases"]["production"]["release"] == "v1"
    usage = run(project, "promote", "v1", expect=2)
    assert "give RELEASE and ALIAS" in usage.err
    assert not (project / ALIASES).with_suffix(".yaml.tmp").exists()


def test_reading_the_file_is_strict_and_keeps_unknown_keys(project: Path, run: Runner) -> None:
    run(project, "promote", "v1", "production")
    doc = _aliases(project)
    doc["owner"] = "ml-platform"
    doc["aliases"]["production"]["ticket"] = "OPS-12"
    (project / ALIASES).write_text(yamlio.dumps(doc))
    run(project, "promote", "v2", "production")
    again = _aliases(project)
    assert again["owner"] == "ml-platform"
    assert again["aliases"]["production"]["ticket"] == "OPS-12"
    assert again["aliases"]["production"]["release"] == "v2"

    newer = dict(again, relstate=2)
    (project / ALIASES).write_text(yamlio.dumps(newer))
    res = run(project, "show", "production", expect=1)
    assert "written in format version 2" in res.err and "upgrade gitrelstate" in res.err

    (project / ALIASES).write_text("relstate: 1\nkind: aliases\naliases: &a {x: *a}\n")
    assert "error:" in run(project, "show", "production", expect=1).err
    (project / ALIASES).write_bytes(b"relstate: 1\nkind: aliases\n#" + b"x" * (1024 * 1024 + 1))
    big = run(project, "list", expect=1)
    assert "more than an aliases file may hold" in big.err

    # An alias whose release was replaced under the same name is not followed.
    doc["aliases"]["production"]["state_id"] = "blake3:" + "0" * 64
    doc.pop("owner")
    (project / ALIASES).write_text(yamlio.dumps(doc))
    replaced = run(project, "show", "production", expect=1)
    assert "was promoted to release 'v1' with state_id blake3:0000" in replaced.err
    assert "git relstate promote v1 production" in replaced.err
    assert "(alias production" not in run(project, "diff", "v1", "v2", expect=0).out


# -- the pre-commit hook -----------------------------------------------------------------------


def test_pre_commit_checks_a_staged_aliases_file(project: Path, run: Runner) -> None:
    run(project, "install")
    run(project, "release", "v3", "--model", "model.json", "--allow-dirty")
    run(project, "promote", "v3", "production")
    git(project, "add", ALIASES)
    blocked = subprocess.run(
        ["git", "commit", "-qm", "promote v3"], cwd=project, capture_output=True, text=True
    )
    assert blocked.returncode != 0
    assert "alias 'production' points at release 'v3', which this commit does not hold" in (
        blocked.stderr
    )
    assert "git add .relstate/releases/v3.yaml" in blocked.stderr
    git(project, "add", ".relstate/releases/v3.yaml")
    git(project, "commit", "-qm", "release v3, promoted")

    # A hand edit naming other content is refused at commit time.
    doc = _aliases(project)
    doc["aliases"]["production"]["state_id"] = _state_id(project, "v1")
    (project / ALIASES).write_text(yamlio.dumps(doc))
    git(project, "add", ALIASES)
    edited = subprocess.run(
        ["git", "commit", "-qm", "edit"], cwd=project, capture_output=True, text=True
    )
    assert edited.returncode != 0
    assert "whose staged file has" in edited.stderr
    assert "git relstate promote v3 production" in edited.stderr
    git(project, "checkout", "-q", "HEAD", "--", ALIASES)

    # A valid promotion of a committed release goes through.
    run(project, "promote", "v1", "staging")
    git(project, "add", ALIASES)
    git(project, "commit", "-qm", "stage v1")
    assert _aliases(project)["aliases"]["staging"]["release"] == "v1"


def test_a_fresh_repository_has_no_aliases(tmp_path: Path, run: Runner) -> None:
    repo = make_repo(tmp_path / "fresh", run)
    assert _json(run, repo, "list")["aliases"] == []
    assert "no commit on this branch moved any alias" in run(repo, "promote", "--history").out
