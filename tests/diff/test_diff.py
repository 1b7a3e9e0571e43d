"""diff: two releases of a real pipeline, compared layer by layer in all three formats."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from gitrelstate.diff.document import StateDiff
from gitrelstate.diff.render_markdown import MARKER, render_markdown
from gitrelstate.diff.render_text import render_text
from tests.helpers.cli import Runner, SubprocessRunner, commit_all, git, make_repo
from tests.helpers.pipeline import Pipeline

# The training stage reads the data folder, records one param and one variable.
PIPELINE = Pipeline(
    prepared=False,
    params={"train": {"C": 1.0, "max_iter": 500}, "other": 5},
    param_spec="params.json:train.C",
    variables=("PIPELINE_MODE",),
)


def _write_dist(site: Path, version: str) -> None:
    """A minimal installed distribution (what pip leaves behind), found on PYTHONPATH."""
    for old in site.glob("toypkg-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"toypkg-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: toypkg\nVersion: {version}\n")


@pytest.fixture(scope="module")
def two_releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Releases v1 and v2 that differ in one data file, one param, one package version
    and one environment variable. Built once; tests only read it."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("diff")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n[init]\n\tdefaultBranch = main\n"
    )
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    site = base / "site"
    _write_dist(site, "1.0")
    # Prepended: whatever import path the suite runs under stays behind it.
    mp.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    )
    mp.setenv("PIPELINE_MODE", "batch")
    try:
        repo = make_repo(base / "repo")
        runner = SubprocessRunner()
        PIPELINE.write(runner, repo)
        commit_all(repo, "pipeline")
        PIPELINE.train(runner, repo)
        commit_all(repo, "train")
        runner(repo, "release", "v1", "--model", "model.json")
        commit_all(repo, "release v1")
        # The four changes.
        part1 = repo / "data" / "part-1.csv"
        lines = part1.read_text().splitlines()
        part1.write_text("\n".join(["5.0,3.3,1.4,0.2,0", *lines[1:]]) + "\n")
        (repo / "params.json").write_text(
            json.dumps({"train": {"C": 0.5, "max_iter": 500}, "other": 5})
        )
        _write_dist(site, "1.1")
        mp.setenv("PIPELINE_MODE", "stream")
        PIPELINE.train(runner, repo)
        commit_all(repo, "train again")
        runner(repo, "release", "v2", "--model", "model.json")
        commit_all(repo, "release v2")
    finally:
        mp.undo()
    return repo


def _json(run: Runner, repo: Path, *args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(repo, "diff", *args, "--json").out)
    return doc


def test_exactly_the_four_changes_in_their_layers(two_releases: Path, run: Runner) -> None:
    doc = _json(run, two_releases, "v1", "v2")
    layers = doc["layers"]
    assert doc["changed"] is True
    assert doc["a"]["kind"] == "release" and doc["a"]["name"] == "v1"
    assert doc["b"]["state_id"].startswith("blake3:")
    # data: one file inside the tracked folder
    data = layers["data"]
    assert [f["path"] for f in data["modified"]] == [
        "data/part-1.csv",
        "metrics.json",
        "model.json",
    ]
    assert data["added"] == [] and data["removed"] == [] and data["renamed"] == []
    assert data["incomplete"] == []
    # pipeline: one param (the other key did not change), no stage change
    assert layers["pipeline"]["params"] == [
        {"file": "params.json", "key": "train.C", "status": "changed", "old": 1.0, "new": 0.5}
    ]
    assert layers["pipeline"]["stages"] == {"added": [], "removed": [], "changed": []}
    # environment: one package, one variable, nothing else
    env = layers["environment"]
    assert env["packages"] == {
        "added": {},
        "removed": {},
        "changed": {"toypkg": {"old": "1.0", "new": "1.1"}},
    }
    assert env["variables"]["changed"] == [
        {"name": "PIPELINE_MODE", "old": "batch", "new": "stream"}
    ]
    assert env["variables"]["added"] == [] and env["variables"]["removed"] == []
    assert env["interpreter"] == [] and env["platform"] == [] and env["hardware"] == []
    assert env["lines"] == [
        "package toypkg 1.0 -> 1.1",
        "variable PIPELINE_MODE batch -> stream",
    ]
    # consequences: the model and metrics moved; code: the params file and commits
    assert layers["model"]["changed"] is True
    assert layers["model"]["old"]["path"] == layers["model"]["new"]["path"] == "model.json"
    for metric in layers["metrics"]["metrics"]:
        assert metric["file"] == "metrics.json"
        assert metric["delta"] == pytest.approx(metric["new"] - metric["old"])
    assert [f["path"] for f in layers["code"]["files"]] == ["params.json"]
    assert layers["code"]["ahead"] == 2


def test_terminal_view(two_releases: Path, run: Runner) -> None:
    out = run(two_releases, "diff", "v1", "v2").out
    assert out.startswith("release v1 → release v2: ")
    assert "\033[" not in out  # no colour when not a terminal
    assert "M data/part-1.csv" in out
    assert "params.json: train.C  1.0 → 0.5" in out
    assert "package toypkg 1.0 -> 1.1" in out
    assert "variable PIPELINE_MODE batch -> stream" in out
    # most important layer first
    order = [line.split()[0] for line in out.splitlines()[1:] if not line.startswith(" ")]
    assert order == ["model", "metrics", "data", "pipeline", "environment", "code"]
    stat = run(two_releases, "diff", "v1", "v2", "--stat").out
    assert "part-1.csv" not in stat and "1 param changed" in stat


def test_markdown_renders_as_github_would(two_releases: Path, run: Runner) -> None:
    md = run(two_releases, "diff", "v1", "v2", "--md").out
    assert md.startswith(MARKER)
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert html.count("<table>") == 7  # the summary + one per changed layer (all six)
    assert "<details>" in html and "<summary><b>environment</b>" in html
    for needle in ("data/part-1.csv", "train.C", "toypkg", "PIPELINE_MODE"):
        assert needle in html
    assert "<td>data</td>" in html and "<td><strong>yes</strong></td>" in html


def test_layers_exit_code_and_same_state(two_releases: Path, run: Runner) -> None:
    doc = _json(run, two_releases, "v1", "v2", "--layer", "pipeline", "--layer", "data")
    assert list(doc["layers"]) == ["data", "pipeline"]
    assert run(two_releases, "diff", "v1", "v2", "--exit-code", expect=1).code == 1
    same = run(two_releases, "diff", "v2", "v2", "--exit-code")
    assert "no changes" in same.out
    res = run(two_releases, "diff", "v1", "nope", expect=2)
    assert "error: 'nope' is not a release, an alias, a run or a git revision" in res.err
    assert run(two_releases, "diff", "v1", "v2", "--json", "--md", expect=2).code == 2


def test_runs_revisions_and_work_tree(two_releases: Path, run: Runner) -> None:
    # A run name, a git revision and the work tree are states too.
    doc = _json(run, two_releases, "HEAD~3", "train", "--layer", "data", "--layer", "code")
    assert doc["a"]["kind"] == "commit" and doc["b"]["kind"] == "run"
    assert [f["path"] for f in doc["layers"]["data"]["modified"]] == [
        "data/part-1.csv",
        "metrics.json",
        "model.json",
    ]
    head_vs_tree = _json(run, two_releases, "--layer", "data")
    assert head_vs_tree["b"]["kind"] == "worktree" and head_vs_tree["changed"] is False
    part = two_releases / "data" / "part-2.csv"
    original = part.read_text()
    try:
        part.write_text(original + "6.0,3.0,4.8,1.8,2\n")
        doc = _json(run, two_releases, "v2", "--layer", "data")
        [change] = doc["layers"]["data"]["modified"]
        assert change["path"] == "data/part-2.csv" and change["new_size"] > change["old_size"]
    finally:
        part.write_text(original)


def test_clone_without_data_access_says_what_it_cannot_show(
    two_releases: Path, run: Runner, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(two_releases), str(clone))
    run(clone, "init", "--no-hooks")
    doc = _json(run, clone, "v1", "v2")
    data = doc["layers"]["data"]
    assert data["changed"] is True
    [folder] = [p for p in data["paths"] if p["path"] == "data"]
    assert folder["details"] is False
    assert any("per-file changes not shown" in n for n in data["incomplete"])
    # every other layer is complete without the data
    assert doc["layers"]["pipeline"]["params"][0]["key"] == "train.C"
    assert doc["layers"]["environment"]["changed"] is True
    md = run(clone, "diff", "v1", "v2", "--md").out
    assert "Could not show" in md and "per-file changes not shown" in md
    # With a remote holding the listings, the details come back.
    store = tmp_path / "store"
    run(two_releases, "remote", "add", "tmpstore", str(store), "--local")
    run(two_releases, "push", "-r", "tmpstore", "--release", "v1", "--release", "v2")
    run(clone, "remote", "add", "origin", str(store), "--default", "--local")
    doc = _json(run, clone, "v1", "v2")
    assert doc["layers"]["data"]["incomplete"] == []
    assert doc["layers"]["data"]["modified"][0]["path"] == "data/part-1.csv"
    run(two_releases, "remote", "remove", "tmpstore")


def test_markdown_stays_under_the_comment_limit() -> None:
    files = [
        {"path": f"data/big/file-{i:06d}.bin", "size": 4096, "hash": "x"} for i in range(100_000)
    ]
    doc = {
        "a": {"label": "release v1"},
        "b": {"label": "release v2"},
        "changed": True,
        "layers": {
            "data": {
                "changed": True,
                "summary": {
                    "paths": 1,
                    "added": 100_000,
                    "removed": 0,
                    "modified": 0,
                    "renamed": 0,
                },
                "paths": [{"path": "data/big", "status": "modified", "details": True}],
                "added": files,
                "removed": [],
                "modified": [],
                "renamed": [],
                "incomplete": [],
            }
        },
    }
    md = render_markdown(StateDiff.from_dict(doc))
    assert len(md) < 65_536
    assert "more not shown" in md
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert html.count("<table>") == 2
    text = render_text(StateDiff.from_dict(doc), colour=False)
    assert len(text.splitlines()) < 40 and "and 99980 more" in text


def test_markdown_escapes_hostile_names() -> None:
    doc = {
        "a": {"label": "release a|b"},
        "b": {"label": "work tree"},
        "changed": True,
        "layers": {
            "code": {
                "changed": True,
                "old": {"commit": "x", "dirty": False},
                "new": {"commit": "y", "dirty": False},
                "commits": [],
                "files": [{"path": "we|ird <script>.py", "status": "added"}],
            }
        },
    }
    md = render_markdown(StateDiff.from_dict(doc))
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert "<script>" not in html
    assert "<td><code>we|ird &lt;script&gt;.py</code></td>" in html
    assert "<code>release a|b</code>" in html


def test_git_diff_shows_state_files_normalised(repo: Path, run: Runner) -> None:
    attributes = (repo / ".gitattributes").read_text()
    assert "*.relstate.yaml diff=relstate" in attributes
    (repo / "d.txt").write_text("one\n")
    run(repo, "track", "d.txt")
    commit_all(repo, "one")
    (repo / "d.txt").write_text("two!\n")
    run(repo, "track", "d.txt")
    out = git(repo, "diff", "-U10")
    assert "# gitrelstate data (normalised by git relstate textconv)" in out
    assert "-size: 4" in out and "+size: 5" in out
    log = git(repo, "log", "-p", "-U10", "-1", "--", "d.txt.relstate.yaml")
    assert "normalised by git relstate textconv" in log


def test_textconv_lists_packages_one_per_line_and_passes_other_text() -> None:
    from gitrelstate.diff.textconv import normalised

    assert normalised("just: [text\n", "x.yaml") == "just: [text\n"
    assert normalised("a: 1\n", "x.yaml").endswith("a: 1\n")
    run_doc = (
        "relstate: 1\nkind: run\nname: t\ncommand: [python, t.py]\nwdir: .\n"
        "environment:\n  packages:\n    numpy: 2.1.0\n    pandas: {version: '2.2', commit: abc}\n"
    )
    text = normalised(run_doc, "t.yaml")
    assert "- numpy==2.1.0" in text and "- pandas==2.2 (abc)" in text


def test_listing_readers_agree_with_the_general_reader() -> None:
    import random

    from gitrelstate.state import manifest as m

    rng = random.Random(7)
    names = ["a", "b/c.csv", "dir/sub/x y.bin", "ünï/cödé", 'q"uote', "tab\tname"]
    names += [f"d{i % 7}/f{i}.bin" for i in range(300)]
    entries = {
        n: m.Entry(f"{rng.getrandbits(256):064x}", rng.randrange(10**12), rng.random() < 0.2)
        for n in names
        if "\t" not in n  # control characters are refused by every reader
    }
    raw = m.Manifest(entries).to_bytes()
    general = m._checked_entries(json.loads(raw)["entries"], "x")
    assert m.Manifest.from_bytes(raw, "x").entries == general == entries
    assert m._fast_entries(json.loads(raw)["entries"]) is None  # not plain ASCII: slow path
    plain = {k: v for k, v in entries.items() if k.isascii() and '"' not in k}
    assert m._fast_entries(json.loads(m.Manifest(plain).to_bytes())["entries"]) == plain
    # Line-by-line changes equal a full comparison.
    changed = dict(entries)
    changed.pop("a")
    changed["new/file"] = m.Entry("1" * 64, 3, False)
    changed["b/c.csv"] = m.Entry("2" * 64, 4, False)
    gone, came = m.changed_entries(raw, m.Manifest(changed).to_bytes(), "x")
    assert set(gone) == {"a", "b/c.csv"} and set(came) == {"new/file", "b/c.csv"}
    assert came["b/c.csv"] == changed["b/c.csv"] and gone["b/c.csv"] == entries["b/c.csv"]
    for bad in ("../up", "a/../b", "/abs", "C:/x", ".git/hooks/x", "a//b", "x/.relstate-tmp-1"):
        hostile = m.Manifest({**entries, bad: m.Entry("0" * 64, 1, False)}).to_bytes()
        with pytest.raises(Exception, match="entries"):
            m.Manifest.from_bytes(hostile, "x")
        with pytest.raises(Exception, match="entries"):
            m.changed_entries(raw, hostile, "x")
