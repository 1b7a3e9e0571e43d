"""The natural order of work (issue 14, item 3): init -> write code -> run stages before
the first commit -> git add -A && git commit (through the hooks) -> release. What
"code changed since the run" means: only the code a stage can have read."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, git
from tests.helpers.pipeline import Pipeline

PIPELINE = Pipeline(param_spec="params.json:train.C,train.max_iter")


def _commit(repo: Path, message: str) -> subprocess.CompletedProcess[str]:
    git(repo, "add", "-A")
    return subprocess.run(
        ["git", "commit", "-qm", message], cwd=repo, capture_output=True, text=True
    )


def test_runs_before_the_first_commit_then_commit_then_release(repo: Path, run: Runner) -> None:
    run(repo, "install")
    PIPELINE.write(run, repo)
    PIPELINE.write_stages(repo)
    PIPELINE.record_all(run, repo)  # nothing committed yet: all the code is untracked
    record = yamlio.read(repo / ".relstate" / "runs" / "evaluate.yaml")
    assert record["code"]["commit"] is None and record["code"]["dirty"] is True
    files = [f["path"] for f in record["code"]["files"]]
    assert files == ["common.py", "evaluate.py"]  # its script and what it imports
    # Code and params stay Git's: nothing of them was turned into tracked data.
    for name in ("train.py", "params.json", "common.py"):
        assert not (repo / f"{name}.relstate.yaml").exists()
    committed = _commit(repo, "first commit: code, data pointers, records")
    assert committed.returncode == 0, committed.stderr
    assert "params.json" in git(repo, "ls-files")
    out = run(repo, "release", "v1", "--model", "model.json").out
    assert "released 'v1'" in out
    # The runs ran on exactly the code the first commit holds: not dirty any more.
    head = git(repo, "rev-parse", "HEAD").strip()
    rows = json.loads(run(repo, "list", "--json").out)["runs"]
    assert {r["name"] for r in rows} == {"prepare", "train", "evaluate", "stats"}
    assert all(r["commit"] == head and r["dirty"] is False for r in rows)
    assert "+dirty" not in run(repo, "list").out
    assert "(dirty)" not in run(repo, "trace", "model.json").out


def test_only_code_a_stage_read_makes_it_stale(repo: Path, run: Runner) -> None:
    PIPELINE.write(run, repo)
    PIPELINE.write_stages(repo)
    (repo / "README.md").write_text("# iris\n")
    PIPELINE.record_all(run, repo)
    assert _commit(repo, "all").returncode == 0
    # README.md is read by no stage: a commit editing it stales nothing.
    (repo / "README.md").write_text("# iris, now with a longer README\n")
    assert _commit(repo, "docs").returncode == 0
    assert run(repo, "status", "--exit-code").code == 0
    run(repo, "release", "v1")
    # common.py is imported by evaluate.py and stats.py (not declared): those two.
    with open(repo / "common.py", "a") as f:
        f.write("\n# a change\n")
    assert _commit(repo, "common").returncode == 0
    status = run(repo, "status", "--exit-code", expect=1).out
    assert "run 'evaluate' is stale: code common.py changed" in status
    assert "run 'stats' is stale: code common.py changed" in status
    assert "run 'train'" not in status and "run 'prepare'" not in status
    refused = run(repo, "release", "v2", expect=1).err
    assert "run 'evaluate' is stale: code common.py changed" in refused
    assert "git relstate repro" in refused


def test_untracked_code_is_uncommitted_code_for_a_release(repo: Path, run: Runner) -> None:
    PIPELINE.write(run, repo)
    PIPELINE.write_stages(repo)
    PIPELINE.record_all(run, repo)
    assert _commit(repo, "all").returncode == 0
    (repo / "scratch.py").write_text("print('not committed')\n")
    refused = run(repo, "release", "v1", expect=1).err
    assert "uncommitted code" in refused and "scratch.py (?)" in refused
    run(repo, "release", "v1", "--allow-dirty")
