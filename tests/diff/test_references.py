"""References (issue #14 item 8, SPEC "References"): every command that takes a state reads
a release, an alias, a run or a git revision the same way (``release:``, ``alias:``,
``run:``, ``rev:`` to choose), and says "not found" the same way; and the #14.8 bugs:
``diff v1`` against the work tree, ``python`` vs ``python3``, ``trace`` inside an output
folder and by a hash prefix."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitrelstate.environment import capture_environment
from gitrelstate.environment.envdiff import compare_environments
from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, SubprocessRunner, commit_all, git, make_repo
from tests.helpers.pipeline import Pipeline

PIPELINE = Pipeline(prepared=False, param_spec="params.json")
FEATURES = """\
import os
os.makedirs("features", exist_ok=True)
for i in range(3):
    open(f"features/part-{i}.txt", "w").write(f"feature {i}\\n")
"""
NOT_FOUND = "error: 'nope' is not a release, an alias, a run or a git revision"
HINT = (
    "hint: see 'git relstate list' for releases, aliases and runs; any git revision works "
    "too; 'release:', 'alias:', 'run:' or 'rev:' before a name picks one reading"
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline trained and released as v1 (model.json), promoted to production; a
    stage 'features' writing a folder; all committed."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("refs")
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n[init]\n\tdefaultBranch = main\n"
    )
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    try:
        repo = make_repo(root / "repo")
        cli = SubprocessRunner()
        PIPELINE.write(cli, repo)
        (repo / "features.py").write_text(FEATURES)
        commit_all(repo, "pipeline")
        PIPELINE.train(cli, repo)
        cli(repo, "run", "-n", "features", "-d", "features.py", "-o", "features", "--",
            sys.executable, "features.py")  # fmt: skip
        commit_all(repo, "runs")
        cli(repo, "release", "v1", "--model", "model.json", "--run", "train")
        cli(repo, "promote", "v1", "production")
        commit_all(repo, "release v1, production")
    finally:
        mp.undo()
    return repo


@pytest.fixture
def project(base: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(base, tmp_path / "project", symlinks=True))


# -- the same references everywhere ---------------------------------------------------------

STATE_REFS = (
    "v1",
    "release:v1",
    "production",
    "alias:production",
    "train",
    "run:train",
    "HEAD",
    "rev:HEAD",
)


def test_every_command_takes_the_same_references(project: Path, run: Runner) -> None:
    for ref in STATE_REFS:
        shown = run(project, "show", ref, "--json")
        assert json.loads(shown.out)["name"] in ("v1", "train", "features"), ref
        doc = json.loads(run(project, "diff", ref, "--json").out)
        assert doc["a"]["kind"] in ("release", "run", "commit"), ref
        assert json.loads(run(project, "env", "show", ref, "--json").out)["interpreter"], ref
        checked = run(project, "env", "check", ref, expect=None)
        assert checked.code in (0, 1), (ref, checked.err)
    for ref in ("v1", "release:v1", "production", "alias:production", "train", "run:train"):
        out = run(project, "export", ref, "--format", "slsa").out
        assert json.loads(out)["_type"] == "https://in-toto.io/Statement/v1", ref
    for ref in ("v1", "release:v1", "production", "alias:production"):
        assert (
            "checked out the data of release v1" in run(project, "checkout", "--release", ref).out
        )
    labels = {
        "alias:production": "release v1 (alias production)",
        "run:train": "run train",
        "rev:HEAD": "HEAD (",
    }
    for ref, label in labels.items():
        diff = json.loads(run(project, "diff", ref, ref, "--json").out)
        assert diff["a"]["label"].startswith(label) and not diff["changed"], ref


def test_prefixes_choose_one_reading_of_an_ambiguous_name(project: Path, run: Runner) -> None:
    # A release named like a run: the bare name is the release, run: the run.
    run(project, "release", "features", "--run", "features")
    assert json.loads(run(project, "show", "features", "--json").out)["kind"] == "release"
    assert json.loads(run(project, "show", "run:features", "--json").out)["kind"] == "run"
    doc = json.loads(run(project, "diff", "release:features", "run:features", "--json").out)
    assert (doc["a"]["kind"], doc["b"]["kind"]) == ("release", "run")
    # A branch named like a release: rev: is the branch.
    git(project, "branch", "v1", "HEAD~1")
    doc = json.loads(run(project, "diff", "v1", "rev:v1", "--json").out)
    assert (doc["a"]["kind"], doc["b"]["kind"]) == ("release", "commit")
    # A prefix names only its own kind.
    err = run(project, "show", "run:v1", expect=1).err
    assert err.startswith("error: 'run:v1' is not a run\n")
    err = run(project, "show", "alias:v1", expect=1).err
    assert err.startswith("error: 'alias:v1' is not an alias\n")


def test_not_found_is_the_same_everywhere(project: Path, run: Runner) -> None:
    ordinary = (
        ("show", "nope"),
        ("env", "show", "nope"),
        ("export", "nope", "--format", "slsa"),
    )
    comparing = (("diff", "nope"), ("diff", "HEAD", "nope"), ("env", "check", "nope"),
                 ("reproduce", "nope"))  # fmt: skip
    for args, code in [(a, 1) for a in ordinary] + [(a, 2) for a in comparing]:
        res = run(project, *args, expect=code)
        assert res.err.splitlines() == [NOT_FOUND, HINT], args
    run(project, "remote", "add", "store", str(project.parent / "store"), "--default", "--local")
    for args in (("checkout", "--release", "nope"), ("pull", "--release", "nope"),
                 ("promote", "nope", "staging")):  # fmt: skip
        res = run(project, *args, expect=1)
        assert res.err.splitlines() == [
            "error: 'nope' is not a release or an alias",
            "hint: see 'git relstate list' for releases and aliases; 'release:' or "
            "'alias:' before a name picks one reading",
        ], args
    # The same in a subprocess, as a user runs it: no traceback, same lines.
    proc = subprocess.run(
        [sys.executable, "-m", "gitrelstate", "env", "show", "nope"],
        cwd=project, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1 and proc.stderr.splitlines() == [NOT_FOUND, HINT]


# -- diff v1 against the work tree -------------------------------------------------------------


def test_diff_release_against_the_work_tree_compares_the_model(project: Path, run: Runner) -> None:
    doc = json.loads(run(project, "diff", "v1", "--json").out)
    model = doc["layers"]["model"]
    assert model["changed"] is False, model
    assert model["new"]["path"] == "model.json"
    assert "removed" not in run(project, "diff", "v1", "--layer", "model").out
    # Another model in the work tree: changed, old and new, never "removed".
    (project / "params.json").write_text(json.dumps({"train": {"C": 0.2, "max_iter": 300}}))
    PIPELINE.train(run, project)
    doc = json.loads(run(project, "diff", "v1", "--json", "--layer", "model").out)
    model = doc["layers"]["model"]
    assert model["changed"] and model["old"]["hash"] != model["new"]["hash"]
    assert model["new"]["path"] == "model.json"
    reverse = json.loads(run(project, "diff", ".", "v1", "--json", "--layer", "model").out)
    assert reverse["layers"]["model"]["old"]["path"] == "model.json"
    # The run that made it, against the release: the run's output is its model.
    doc = json.loads(run(project, "diff", "v1", "run:train", "--json", "--layer", "model").out)
    assert doc["layers"]["model"]["new"]["hash"] == model["new"]["hash"]


# -- python and python3 of one venv --------------------------------------------------------------


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder / "bin"


def test_python_and_python3_of_one_venv_are_one_interpreter(venv: Path) -> None:
    by_python = capture_environment(python=str(venv / "python"))
    by_python3 = capture_environment(python=str(venv / "python3"))
    assert by_python["interpreter"] == by_python3["interpreter"]
    assert by_python["interpreter"]["executable"] == str(venv / "python3")
    # Environments recorded before (one name each) compare as the same interpreter too.
    old = dict(
        by_python, interpreter={**by_python["interpreter"], "executable": str(venv / "python")}
    )
    assert not compare_environments(old, by_python3).interpreter
    other = dict(old, interpreter={**old["interpreter"], "executable": "/elsewhere/bin/python3"})
    assert compare_environments(other, by_python3).interpreter


def test_a_record_naming_python_matches_a_live_python3(
    repo: Path, run: Runner, venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case, in an activated venv: the record captured ``.../python``, the
    live check ``.../python3``: no interpreter difference in diff, its Markdown, or env
    check."""
    monkeypatch.setenv("PATH", f"{venv}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("VIRTUAL_ENV", str(venv.parent))
    run(repo, "run", "-n", "s", "-o", "o.txt", "--", "python", "-c",
        "open('o.txt', 'w').write('x')")  # fmt: skip
    path = repo / ".relstate" / "runs" / "s.yaml"
    doc: dict[str, Any] = yamlio.read(path)
    doc["environment"]["interpreter"]["executable"] = str(venv / "python")  # as older versions
    path.write_text(yamlio.dumps(doc))
    env = json.loads(run(repo, "diff", "s", "--layer", "environment", "--json").out)
    assert env["layers"]["environment"]["interpreter"] == []
    md = run(repo, "diff", "s", "--md").out
    assert "executable" not in md and "python3" not in md
    checked = json.loads(run(repo, "env", "check", "s", "--json", expect=None).out)
    assert checked["differences"]["interpreter"] == []


# -- trace ----------------------------------------------------------------------------------------


def test_trace_a_file_inside_an_output_folder(project: Path, run: Runner) -> None:
    doc = json.loads(run(project, "trace", "features/part-1.txt", "--json").out)
    assert doc["found"] is True
    assert [(p["kind"], p["name"]) for p in doc["producers"]] == [("run", "features")]
    assert doc["inside"] == {
        "folder": "features",
        "file": "part-1.txt",
        "folder_hash": yamlio.read(project / "features.relstate.yaml")["hash"],
        "matches_recorded": True,
    }
    text = run(project, "trace", "features/part-1.txt").out
    assert "is the file part-1.txt inside the output folder" in text
    assert "its content is the one the folder's recorded listing names" in text
    assert "run 'features'" in text
    # Changed since: still found through the folder's pointer, and said so.
    (project / "features" / "part-1.txt").write_text("edited\n")
    doc = json.loads(run(project, "trace", "features/part-1.txt", "--json").out)
    assert doc["found"] and doc["inside"]["matches_recorded"] is False
    # A file in no output folder is still not found (exit 1).
    (project / "notes.txt").write_text("x")
    assert json.loads(run(project, "trace", "notes.txt", "--json", expect=1).out)["found"] is False


def test_trace_takes_the_hash_prefixes_the_tool_prints(project: Path, run: Runner) -> None:
    model = yamlio.read(project / "model.json.relstate.yaml")["hash"]
    hex_ = model.removeprefix("blake3:")
    for given in (hex_[:12], f"blake3:{hex_[:12]}", hex_[:8], hex_.upper()[:16], model):
        doc = json.loads(run(project, "trace", given, "--json").out)
        assert doc["hash"] == model and doc["found"], given
        assert {p["name"] for p in doc["producers"]} >= {"train", "v1"}, given
    short = run(project, "trace", hex_[:7], expect=1).err
    assert "is neither a file here nor a content hash" in short and "8 or more" in short
    unknown = run(project, "trace", "0" * 12, expect=1).err
    assert "no run or release in this repository produced content starting with" in unknown
    # Two produced contents sharing a prefix: ambiguous, both listed.
    run(project, "trace", model)  # the index is built
    index = sqlite3.connect(project / ".git" / "relstate" / "trace.sqlite")
    for last in "ab":
        fake = "blake3:" + "abcdef12" + "0" * 55 + last
        index.execute("INSERT INTO produced VALUES (?, 'run', 'x', 'p', 'c', 'd', 'b')", (fake,))
    index.commit()
    index.close()
    ambiguous = run(project, "trace", "abcdef12", expect=1).err
    assert "abcdef12 is ambiguous: 2 produced contents start with it" in ambiguous
    assert "abcdef1200000000" in ambiguous and "hint: give more hex digits" in ambiguous
