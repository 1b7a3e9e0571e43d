"""Reproduce end to end: a real scikit-learn pipeline, real git worktrees, real remotes.

One pipeline is built once per session (raw data tracked as a folder, a prepare
stage, a train stage that reads a seed from the environment, a release, a
local-folder remote) and copied for each test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gitrelstate import hashing
from gitrelstate.reproduce.worktree import MARKER
from tests.helpers.cli import Runner, git, make_repo, relstate
from tests.helpers.pipeline import Pipeline
from tests.helpers.trees import read_tree

# The seed comes from RANDOM_STATE; the tests choose whether the stage records it.
PIPELINE = Pipeline(seed_variable="RANDOM_STATE")
_TEMPLATE: dict[str, Path] = {}


def _clone(base: Path, clone: Path) -> None:
    """A fresh clone beside the remote; the committed relative remote URL is accepted for
    it (gitrelstate uses a committed relative folder only with this clone's consent)."""
    git(base, "clone", "-q", str(base / "repo"), str(clone))
    assert relstate(clone, "remote", "add", "origin", "../remote", "--local").code == 0


def _build(base: Path, run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(base / "repo", run)
    PIPELINE.write(run, repo)
    # Relative to the repository root, so copies and clones beside it find it too.
    run(repo, "remote", "add", "origin", "../remote", "--default")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pipeline")
    PIPELINE.prepare(run, repo)
    monkeypatch.setenv("RANDOM_STATE", "3")
    PIPELINE.train(run, repo, "-e", "RANDOM_STATE")
    monkeypatch.delenv("RANDOM_STATE")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "runs")
    run(repo, "release", "v1", "--model", "model.json")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "release v1")
    run(repo, "push")


@pytest.fixture
def base(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    run: Runner,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A copy of the pipeline: ``base/repo`` (the user's clone) and ``base/remote``."""
    if "base" not in _TEMPLATE:
        template = tmp_path_factory.mktemp("reproduce-template")
        _build(template, run, monkeypatch)
        _TEMPLATE["base"] = template
    shutil.copytree(_TEMPLATE["base"], tmp_path / "base", symlinks=True)
    return tmp_path / "base"


def _work_tree(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in read_tree(root).items() if not k.startswith(".git/")}


def _worktrees(repo: Path) -> list[str]:
    out = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def _reproduce(run: Runner, repo: Path, *args: str, expect: int) -> dict[str, Any]:
    result = run(repo, "reproduce", *args, "--json", expect=expect)
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def _outputs(doc: dict[str, Any]) -> dict[str, bool]:
    return {o["path"]: o["match"] for o in doc["outputs"]}


def test_release_reproduces_identically_and_leaves_the_work_tree_alone(
    base: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = base / "repo"
    # Uncommitted work of the user's: a new file and an edited script.
    (repo / "notes.txt").write_text("my notes, not committed")
    with open(repo / "train.py", "a") as f:
        f.write("\n# an uncommitted edit\n")
    monkeypatch.setenv("RANDOM_STATE", "5")  # restored to the recorded 3
    before = _work_tree(repo)
    doc = _reproduce(run, repo, "v1", expect=0)
    assert doc["verdict"] == "identical"
    assert _outputs(doc) == {"data/iris.csv": True, "model.json": True, "metrics.json": True}
    assert doc["environment"] == {"matches": True, "differences": []}
    assert "RANDOM_STATE" in doc["variables"]["restored"]
    assert doc["stages"] == ["prepare", "train"] and doc["failure"] is None
    assert doc["commit"] == git(repo, "rev-parse", "HEAD~1").strip()
    assert all(i["match"] for i in doc["inputs"])
    assert {i["source"] for i in doc["inputs"]} == {"git", "cache", "stage:prepare"}
    assert _work_tree(repo) == before
    assert _worktrees(repo) == [str(repo)]
    # The text report says the same in one place.
    text = run(repo, "reproduce", "v1").out
    assert text.startswith("verdict: identical") and "3 byte-identical" in text


def test_fresh_clone_fetches_from_the_remote_and_reproduces(base: Path) -> None:
    clone = base / "clone"
    _clone(base, clone)
    result = relstate(clone, "reproduce", "v1", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["verdict"] == "identical" and len(doc["outputs"]) == 3
    assert "fetching" in result.err  # the raw data came from the remote
    assert _worktrees(clone) == [str(clone)]
    assert not (clone / "data" / "raw").exists()  # the clone's work tree was not filled


def test_deleted_object_on_the_remote_fails_naming_it(base: Path, run: Runner) -> None:
    clone = base / "clone"
    _clone(base, clone)
    part = (base / "repo" / "data" / "raw" / "part-1.csv").read_bytes()
    hex_ = hashing.hash_bytes(part)
    obj = base / "remote" / "blake3" / hex_[:2] / hex_[2:]
    os.chmod(obj, 0o644)
    obj.unlink()
    doc = _reproduce(run, clone, "v1", expect=2)
    assert doc["verdict"] == "failed" and doc["ran"] == []
    [missing] = doc["failure"]["objects"]
    assert missing["path"] == "data/raw/part-1.csv" and missing["hash"] == f"blake3:{hex_}"
    assert "remote" in doc["failure"]["reason"]
    text = run(clone, "reproduce", "v1", expect=2).out
    assert "verdict: failed" in text and "data/raw/part-1.csv" in text
    assert _worktrees(clone) == [str(clone)]


def test_no_fetch_fails_when_the_cache_lacks_data(base: Path, run: Runner) -> None:
    clone = base / "clone"
    _clone(base, clone)
    doc = _reproduce(run, clone, "v1", "--no-fetch", expect=2)
    assert "--no-fetch" in doc["failure"]["reason"]
    assert doc["failure"]["objects"][0]["path"] == "data/raw"
    assert "fetch --release v1" in doc["failure"]["hint"]
    # After a pull, the cache has everything: no remote is needed.
    relstate(clone, "pull")
    assert _reproduce(run, clone, "v1", "--no-fetch", expect=0)["verdict"] == "identical"


def test_variable_outside_the_policy_is_not_restored_and_outputs_differ(
    base: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = base / "repo"
    # Recorded again without -e RANDOM_STATE: the script still reads it.
    monkeypatch.setenv("RANDOM_STATE", "3")
    PIPELINE.train(run, repo, "--force")  # a new definition replaces the recorded one
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "train without capturing the seed")
    monkeypatch.setenv("RANDOM_STATE", "5")
    doc = _reproduce(run, repo, "train", expect=1)
    assert doc["verdict"] == "differs"
    assert _outputs(doc) == {"data/iris.csv": True, "model.json": False, "metrics.json": False}
    assert "RANDOM_STATE" not in doc["variables"]["restored"]
    intercept = next(m for m in doc["metrics"] if m["key"] == "intercept")
    assert intercept["file"] == "metrics.json"
    assert intercept["delta"] == pytest.approx(intercept["new"] - intercept["old"])
    text = run(repo, "reproduce", "train", expect=1).out
    assert "outputs differ: model.json, metrics.json" in text and "metrics.json intercept" in text


def test_strict_env_stops_before_running(
    base: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = base / "repo"
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # captured by default, not recorded
    workdir = base / "kept"
    doc = _reproduce(run, repo, "v1", "--strict-env", "--keep", "--workdir", str(workdir), expect=1)
    assert doc["verdict"] == "differs" and "--strict-env" in doc["stopped"]
    assert doc["ran"] == [] and doc["outputs"] == []
    [difference] = doc["environment"]["differences"]
    assert difference["layer"] == "variables" and difference["name"] == "OMP_NUM_THREADS"
    assert difference["text"] == "variable OMP_NUM_THREADS added (7)"
    assert not (workdir / "model.json").exists() and not (workdir / "data" / "iris.csv").exists()
    # Without --strict-env the difference is reported and the run goes ahead.
    text = run(repo, "reproduce", "v1").out
    assert "verdict: identical" in text and "variable OMP_NUM_THREADS added (7)" in text


def test_non_deterministic_output_differs_naming_it(base: Path, run: Runner) -> None:
    repo = base / "repo"
    stamp = (
        "import os, time; open('stamp.txt', 'w').write(f'{time.time_ns()} {os.urandom(8).hex()}')"
    )
    args = ("-n", "stamp", "-d", "data/iris.csv", "-o", "stamp.txt")
    run(repo, "run", *args, "--", sys.executable, "-c", stamp)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "stamp")
    doc = _reproduce(run, repo, "stamp", expect=1)
    assert doc["stages"] == ["prepare", "stamp"]
    assert _outputs(doc) == {"data/iris.csv": True, "stamp.txt": False}
    text = run(repo, "reproduce", "stamp", expect=1).out
    assert "outputs differ: stamp.txt" in text


def test_run_option_reruns_one_stage_from_recorded_inputs(base: Path, run: Runner) -> None:
    repo = base / "repo"
    workdir = base / "kept"
    doc = _reproduce(
        run, repo, "v1", "--run", "train", "--keep", "--workdir", str(workdir), expect=0
    )
    assert [s["name"] for s in doc["ran"]] == ["train"]
    iris = next(i for i in doc["inputs"] if i["path"] == "data/iris.csv")
    assert iris["source"] == "cache" and iris["match"]
    assert doc["worktree"] == str(workdir) and (workdir / "model.json").exists()
    assert sorted(_worktrees(repo)) == sorted([str(repo), str(workdir)])
    admin = Path(git(workdir, "rev-parse", "--absolute-git-dir").strip())
    assert not (admin / MARKER).exists()  # a kept worktree is the user's now
    git(repo, "worktree", "remove", "--force", str(workdir))
    assert "binds no stage 'nope'" in run(repo, "reproduce", "v1", "--run", "nope", expect=2).err


def test_params_of_an_uncommitted_run_are_restored(
    base: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = base / "repo"
    (repo / "params.json").write_text(json.dumps({"train": {"C": 0.25, "max_iter": 300}}))
    monkeypatch.setenv("RANDOM_STATE", "3")
    PIPELINE.train(run, repo, "-e", "RANDOM_STATE")
    git(repo, "checkout", "-q", "params.json")  # the tweak is never committed
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "train with C=0.25")
    doc = _reproduce(run, repo, "train", expect=0)
    [params] = doc["params"]
    assert params["restored"] and params["changed"] == [
        {"key": "train.C", "recorded": 0.25, "found": 1.0}
    ]
    assert any("uncommitted" in w for w in doc["warnings"])
    assert doc["verdict"] == "identical"


def test_reference_errors_are_trouble(base: Path, run: Runner) -> None:
    repo = base / "repo"
    assert (
        "not a release, an alias, a run or a git revision"
        in run(repo, "reproduce", "nope", expect=2).err
    )
    assert "not the work tree" in run(repo, "reproduce", ".", expect=2).err
    assert "binds no run" in run(repo, "reproduce", "HEAD~2", expect=2).err
    taken = run(repo, "reproduce", "v1", "--workdir", str(repo.parent), expect=2)
    assert "not an empty folder" in taken.out


def test_revision_reproduces_the_runs_committed_there(base: Path, run: Runner) -> None:
    repo = base / "repo"
    doc = _reproduce(run, repo, "HEAD", "--run", "prepare", expect=0)
    assert doc["ref"]["kind"] == "commit" and doc["stages"] == ["prepare"]


# -- checkout --release / --run --------------------------------------------------------


def test_checkout_release_restores_data_and_pointers(base: Path, run: Runner) -> None:
    repo = base / "repo"
    raw = repo / "data" / "raw"
    recorded = read_tree(raw)
    (raw / "part-0.csv").write_text("1,2,3,4,0\n")  # a local change the cache lacks
    result = run(repo, "checkout", "--release", "v1", expect=1)
    assert "data/raw/part-0.csv" in result.err and "--force" in result.err
    assert (raw / "part-0.csv").read_text() == "1,2,3,4,0\n"  # nothing was changed
    run(repo, "checkout", "--release", "v1", "--force")
    assert read_tree(raw) == recorded
    # Tracked again with changes: the pointer names other data than the release.
    (raw / "part-9.csv").write_text("extra\n")
    run(repo, "track", "data/raw")
    assert "data/raw.relstate.yaml" in git(repo, "status", "--porcelain")
    out = run(repo, "checkout", "--release", "v1").out
    assert "pointer(s) updated" in out
    assert read_tree(raw) == recorded
    assert run(repo, "status", "--exit-code").code == 0
    assert git(repo, "status", "--porcelain") == ""  # pointers are back to the committed ones


def test_checkout_run_and_missing_objects_hint(base: Path, run: Runner) -> None:
    clone = base / "clone"
    _clone(base, clone)
    result = run(clone, "checkout", "--run", "train", expect=1)
    assert "git relstate fetch --run train" in result.err
    run(clone, "fetch", "--run", "train")
    run(clone, "checkout", "--run", "train")
    assert (clone / "model.json").exists() and (clone / "data" / "iris.csv").exists()
    assert not (clone / "data" / "raw").exists()  # not the run's: prepare's input
    result = run(clone, "checkout", "--run", "train", "nowhere.txt", expect=1)
    assert "not part of the data of run train" in result.err
    assert "choose one of" in run(clone, "checkout", "--run", "a", "--release", "b", expect=2).err


# -- small stages: failures, secrets, interruption -------------------------------------------


def _slow_repo(tmp_path: Path, run: Runner, *extra: str) -> Path:
    """A one-stage pipeline that naps for $NAP seconds and exits with status $FAIL."""
    repo = make_repo(tmp_path / "slow", run)
    git(repo, "commit", "-q", "--allow-empty", "-m", "start")
    script = (
        "import os, time; open('slow.txt', 'w').write('x'); "
        "time.sleep(float(os.environ.get('NAP', '0'))); "
        "raise SystemExit(int(os.environ.get('FAIL', '0')))"
    )
    run(repo, "run", "-n", "slow", "-o", "slow.txt", *extra, "--", sys.executable, "-c", script)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "slow")
    return repo


def test_failing_command_gives_failed(
    tmp_path: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _slow_repo(tmp_path, run)
    monkeypatch.setenv("FAIL", "3")
    doc = _reproduce(run, repo, "slow", expect=2)
    assert doc["verdict"] == "failed" and doc["failure"]["stage"] == "slow"
    assert "exit status 3" in doc["failure"]["reason"] and doc["outputs"] == []
    assert _worktrees(repo) == [str(repo)]


def test_secret_variables_come_from_the_caller(
    tmp_path: Path, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "s3cr3t-1")
    repo = _slow_repo(tmp_path, run, "-e", "MY_API_TOKEN")
    doc = _reproduce(run, repo, "slow", expect=0)
    assert doc["environment"]["matches"] and "MY_API_TOKEN" not in doc["variables"]["restored"]
    monkeypatch.setenv("MY_API_TOKEN", "another")
    doc = _reproduce(run, repo, "slow", expect=0)
    assert doc["variables"]["mismatched"] == ["MY_API_TOKEN"]
    [difference] = doc["environment"]["differences"]
    assert difference == {
        "layer": "variables",
        "text": "variable MY_API_TOKEN changed (redacted)",
        "name": "MY_API_TOKEN",
        "change": "changed",
        "redacted": True,
        "stages": ["slow"],
    }
    monkeypatch.delenv("MY_API_TOKEN")
    result = run(repo, "reproduce", "slow", "--strict-env", expect=1)
    assert "variables missing" in result.out and "MY_API_TOKEN" in result.out
    assert "s3cr3t" not in result.out + result.err


def _start_slow_reproduction(repo: Path, workdir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitrelstate", "reproduce", "slow", "--workdir", str(workdir)],
        cwd=repo,
        env={**os.environ, "NAP": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that the kill below can reach the stage too
    )
    deadline = time.monotonic() + 60
    while not (workdir / "slow.txt").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_reproduction_leaves_no_worktree(
    tmp_path: Path, run: Runner, how: signal.Signals
) -> None:
    repo = _slow_repo(tmp_path, run)
    workdir = tmp_path / "wt"
    proc = _start_slow_reproduction(repo, workdir)
    proc.send_signal(how)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert _worktrees(repo) == [str(repo)] and not workdir.exists()


def test_killed_reproduction_is_cleaned_up_by_the_next(tmp_path: Path, run: Runner) -> None:
    repo = _slow_repo(tmp_path, run)
    workdir = tmp_path / "wt"
    proc = _start_slow_reproduction(repo, workdir)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert str(workdir) in _worktrees(repo)  # kill -9 leaves it registered...
    result = run(repo, "reproduce", "slow")
    assert "removed the worktree of an interrupted reproduction" in result.err
    assert _worktrees(repo) == [str(repo)] and not workdir.exists()
