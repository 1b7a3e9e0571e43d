"""repro on the scikit-learn pipeline: only stale stages run, in order, params by key,
in parallel, early cutoff, failures keep earlier records, the hooks agree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, git
from tests.helpers.pipeline import intervals, ran

from .conftest import PIPELINE


def test_nothing_changed_runs_nothing(project: Path, run: Runner, log: Path) -> None:
    out = run(project, "repro").out
    assert "Pipeline is up to date (4 stage(s))" in out
    assert ran(log) == []


def test_a_key_change_reruns_exactly_its_readers_and_downstream(
    project: Path, run: Runner, log: Path
) -> None:
    # A key no stage selected: nothing is stale, status and repro agree.
    PIPELINE.set_param(project, "unused", "note", "hello")
    assert run(project, "status", "--exit-code").code == 0
    run(project, "repro")
    assert ran(log) == []
    # evaluate.threshold: evaluate alone.
    PIPELINE.set_param(project, "evaluate", "threshold", 0.7)
    status = run(project, "status", "--exit-code", expect=1).out
    assert "run 'evaluate' is stale: params params.json: evaluate.threshold changed" in status
    assert "run 'train'" not in status
    out = run(project, "repro").out
    assert ran(log) == ["evaluate"] and "ran 1; 3 up to date" in out
    # train.C: train, then evaluate (its model changed); not prepare, not stats.
    PIPELINE.set_param(project, "train", "C", 0.3)
    run(project, "repro")
    assert ran(log) == ["train", "evaluate"]
    # stats.digits (a whole section selected): stats alone.
    PIPELINE.set_param(project, "stats", "digits", 2)
    run(project, "repro")
    assert ran(log) == ["stats"]
    assert run(project, "status", "--exit-code").code == 0


def test_early_cutoff_same_outputs_keep_downstream_fresh(
    project: Path, run: Runner, log: Path
) -> None:
    # prepare.py changes by a comment: prepare runs and makes the same data.
    with open(project / "prepare.py", "a") as f:
        f.write("# a comment\n")
    dry = run(project, "repro", "--dry").out.splitlines()
    assert dry[0] == "would run  prepare: dependency prepare.py changed"
    assert any(line.startswith("may run    train: if prepare") for line in dry)
    assert ran(log) == []  # --dry ran nothing
    out = run(project, "repro").out
    assert ran(log) == ["prepare"]
    assert "ran 1; 3 up to date" in out


def test_repro_stage_brings_its_upstream_and_nothing_downstream(
    project: Path, run: Runner, log: Path
) -> None:
    with open(project / "data" / "raw" / "part-0.csv", "a") as f:
        f.write("5.0,3.4,1.5,0.2,0\n")
    run(project, "track", "data/raw")
    run(project, "repro", "train")
    assert ran(log) == ["prepare", "train"]
    stale = run(project, "status", "--exit-code", expect=1).out
    assert "run 'evaluate' is stale" in stale and "run 'stats' is stale" in stale
    run(project, "repro")
    assert sorted(ran(log)) == ["evaluate", "stats"]


def _change_data(project: Path, run: Runner) -> None:
    """New raw rows: prepare, then every stage after it, has to run."""
    with open(project / "data" / "raw" / "part-1.csv", "a") as f:
        f.write("6.1,2.8,4.7,1.2,1\n")
    run(project, "track", "data/raw")


def test_independent_stages_overlap_under_j2(
    project: Path, run: Runner, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _change_data(project, run)
    monkeypatch.setenv("PIPELINE_SLEEP", "1.5")
    out = run(project, "repro", "-j", "2").out
    spans = intervals(log)
    assert set(spans) == {"prepare", "train", "evaluate", "stats"}
    (t0, t1), (s0, s1) = spans["train"], spans["stats"]
    assert t0 < s1 and s0 < t1, f"train {spans['train']} and stats {spans['stats']} did not overlap"
    assert spans["prepare"][1] <= min(t0, s0)  # upstream first
    assert spans["evaluate"][0] >= t1  # after train
    # Each stage's output comes in one block under its name.
    assert "--- output of 'train' ---" in out and "--- output of 'stats' ---" in out
    assert run(project, "status", "--exit-code").code == 0


def test_a_failure_keeps_earlier_records_and_starts_nothing_new(
    project: Path, run: Runner, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = project / ".relstate" / "runs"
    before = {p.name: p.read_text() for p in records.iterdir()}
    _change_data(project, run)
    PIPELINE.set_param(project, "stats", "fail", True)
    monkeypatch.setenv("PIPELINE_SLEEP", "0.5")
    result = run(project, "repro", "-j", "2", expect=1)
    assert "error: stage 'stats' failed" in result.err and "exit status 3" in result.err
    assert "'stats' keeps its previous record" in result.err
    started = ran(log)
    # train ran beside stats and finished; evaluate (after train) was never started.
    assert "train" in started and "evaluate" not in started
    assert (records / "stats.yaml").read_text() == before["stats.yaml"]
    assert (records / "prepare.yaml").read_text() != before["prepare.yaml"]
    assert (records / "train.yaml").read_text() != before["train.yaml"]
    assert (records / "evaluate.yaml").read_text() == before["evaluate.yaml"]
    PIPELINE.set_param(project, "stats", "fail", False)
    run(project, "repro")
    assert sorted(ran(log)) == ["evaluate", "stats"]


def test_an_earlier_params_value_restores_identical_outputs_without_running(
    project: Path, run: Runner, log: Path
) -> None:
    first = (project / "model.json").read_bytes()
    first_eval = (project / "eval" / "metrics.json").read_bytes()
    PIPELINE.set_param(project, "train", "C", 0.2)
    run(project, "repro")
    assert ran(log) == ["train", "evaluate"]
    assert (project / "model.json").read_bytes() != first
    PIPELINE.set_param(project, "train", "C", 1.0)
    out = run(project, "repro").out
    assert ran(log) == []  # nothing executed
    assert "restored 'train' from the run cache" in out
    assert "restored 'evaluate' from the run cache" in out
    assert (project / "model.json").read_bytes() == first
    assert (project / "eval" / "metrics.json").read_bytes() == first_eval
    record = yamlio.read(project / ".relstate" / "runs" / "train.yaml")
    assert record["restored"]["from"] == "the run cache"
    assert run(project, "status", "--exit-code").code == 0


def test_the_run_cache_includes_every_committed_record(
    project: Path, run: Runner, log: Path
) -> None:
    first = (project / "model.json").read_bytes()
    PIPELINE.set_param(project, "train", "C", 0.2)
    run(project, "repro")
    ran(log)
    # Only the committed records remember C=1.0 now.
    shutil.rmtree(project / ".git" / "relstate" / "runcache")
    PIPELINE.set_param(project, "train", "C", 1.0)
    out = run(project, "repro").out
    assert ran(log) == []
    commit = git(project, "rev-parse", "HEAD").strip()[:12]
    assert f"restored 'train' from commit {commit}" in out
    assert (project / "model.json").read_bytes() == first
    # --no-run-cache runs it.
    PIPELINE.set_param(project, "train", "C", 0.2)
    run(project, "repro", "--no-run-cache")
    assert ran(log) == ["train", "evaluate"]


def test_commit_through_the_hooks_right_after_repro(project: Path, run: Runner, log: Path) -> None:
    run(project, "install")
    PIPELINE.set_param(project, "train", "C", 0.4)
    PIPELINE.set_param(project, "unused", "x", 1)
    run(project, "repro")
    git(project, "add", "-A")
    committed = subprocess.run(
        ["git", "commit", "-qm", "repro"], cwd=project, capture_output=True, text=True
    )
    assert committed.returncode == 0, committed.stderr
    # A stale record blocks: the hook and status judge the same way.
    PIPELINE.set_param(project, "evaluate", "threshold", 0.9)
    git(project, "add", "params.json")
    blocked = subprocess.run(
        ["git", "commit", "-qm", "x"], cwd=project, capture_output=True, text=True
    )
    assert blocked.returncode == 1
    assert "run 'evaluate'" in blocked.stderr and "evaluate.threshold changed" in blocked.stderr
    assert "git relstate repro evaluate" in blocked.stderr
