"""One staleness rule: status, the commit hook, release and repro agree (params by the
keys a stage selected; a whole params file is a file dependency); a dependency reached
through a symlink out of the work tree is refused, and so stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.cli import Runner, commit_all, git
from tests.helpers.pipeline import ran

from .conftest import PIPELINE


def _commit(repo: Path) -> subprocess.CompletedProcess[str]:
    git(repo, "add", "-A")
    return subprocess.run(["git", "commit", "-qm", "x"], cwd=repo, capture_output=True, text=True)


def test_status_hooks_release_and_repro_agree_on_params_by_key(
    project: Path, run: Runner, log: Path
) -> None:
    run(project, "install")
    # Another key of the same file, and a new key: no stage selected them.
    PIPELINE.set_param(project, "train", "solver_note", "lbfgs")
    assert run(project, "status", "--exit-code").code == 0
    assert "Pipeline is up to date" in run(project, "repro").out
    assert _commit(project).returncode == 0
    run(project, "release", "v1")
    assert ran(log) == []
    # A selected key: every judge says stale, and repro makes all of them agree again.
    PIPELINE.set_param(project, "train", "C", 0.6)
    assert "run 'train' is stale" in run(project, "status", "--exit-code", expect=1).out
    blocked = _commit(project)
    assert blocked.returncode == 1 and "train.C changed (1.0 -> 0.6)" in blocked.stderr
    assert "train.C changed" in run(project, "release", "v2", expect=1).err
    run(project, "repro")
    assert ran(log) == ["train", "evaluate"]
    assert _commit(project).returncode == 0
    run(project, "release", "v2")


def test_a_whole_params_file_is_a_file_dependency(repo: Path, run: Runner, log: Path) -> None:
    whole = type(PIPELINE)(param_spec="params.json")
    whole.write(run, repo)
    commit_all(repo, "code")
    whole.prepare(run, repo)
    whole.train(run, repo)
    commit_all(repo, "runs")
    ran(log)
    # Any change to the file stales the stage that took it whole.
    whole.set_param(repo, "unrelated", "k", 1)
    assert (
        "run 'train' is stale: dependency params.json changed"
        in run(repo, "status", "--exit-code", expect=1).out
    )
    run(repo, "repro")
    assert ran(log) == ["train"]


def test_a_dependency_through_a_symlink_out_of_the_tree_is_stale(
    repo: Path, run: Runner, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret-ish\n")
    (repo / "in.txt").write_text("inside\n")
    commit_all(repo, "an input Git keeps")
    run(repo, "run", "-n", "s", "-d", "in.txt", "-o", "out.txt", "--",
        sys.executable, "-c", "open('out.txt','w').write(open('in.txt').read())")  # fmt: skip
    commit_all(repo, "s")
    # A commit replaces the dependency by a symlink leading out of the work tree.
    (repo / "in.txt").unlink()
    os.symlink(outside, repo / "in.txt")
    status = run(repo, "status", "--exit-code", expect=1).out
    assert "run 's' is stale: dependency in.txt cannot be read" in status
    git(repo, "add", "in.txt")
    blocked = subprocess.run(
        [sys.executable, "-m", "gitrelstate", "hook", "pre-commit"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert "dependency in.txt cannot be read" in blocked.stdout + blocked.stderr
    refused = run(repo, "release", "v1", expect=1).err
    assert "dependency in.txt cannot be read" in refused


def test_tolerance_is_part_of_the_definition(project: Path, run: Runner) -> None:
    run(project, "run", "train", "--tolerance", "1e-6")
    record = (project / ".relstate" / "runs" / "train.yaml").read_text()
    assert "tolerance:\n  rel: 1e-06\n  abs: 0.0\n" in record
    run(project, "run", "train")  # a plain re-run keeps it
    assert "tolerance:" in (project / ".relstate" / "runs" / "train.yaml").read_text()
