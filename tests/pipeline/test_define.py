"""Defining stages: a different definition needs --force, one thing changes without
re-typing the rest, remove and untrack, where outputs may be."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, git
from tests.helpers.pipeline import ran

from .conftest import PIPELINE


def _record(repo: Path, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yamlio.read(repo / ".relstate" / "runs" / f"{name}.yaml")
    return doc


def test_redefining_a_stage_differently_needs_force(project: Path, run: Runner, log: Path) -> None:
    before = _record(project, "stats")
    other = ("run", "-n", "stats", "-d", "data/iris.csv", "-o", "stats.json", "--",
             sys.executable, "stats.py")  # fmt: skip
    refused = run(project, *other, expect=1)
    assert "stage 'stats' is already defined differently" in refused.err
    assert "params: params.json:stats -> (none)" in refused.err
    assert "--force" in refused.err and "--drop" in refused.err
    assert _record(project, "stats") == before and ran(log) == []
    # The same definition again is a plain re-run.
    run(project, *PIPELINE.stats_args())
    assert ran(log) == ["stats"]
    run(project, *other[:-3], "--force", *other[-3:])
    assert _record(project, "stats")["params"] == {}


def test_change_one_thing_of_a_stage(project: Path, run: Runner, log: Path) -> None:
    (project / "notes.txt").write_text("extra input\n")
    out = run(project, "run", "stats", "-d", "notes.txt").out
    assert "stage 'stats' changed: dependencies: +notes.txt" in out
    deps = [d["path"] for d in _record(project, "stats")["deps"]]
    assert "notes.txt" in deps and "data/iris.csv" in deps
    run(project, "run", "stats", "--drop", "notes.txt", "--drop", "params.json:stats")
    record = _record(project, "stats")
    assert "notes.txt" not in [d["path"] for d in record["deps"]]
    assert record["params"] == {}
    # A new command replaces only the command.
    run(project, "run", "stats", "--", sys.executable, "stats.py", "--again")
    record = _record(project, "stats")
    assert record["command"][-1] == "--again"
    assert [o["path"] for o in record["outs"]] == ["stats.json"]
    assert "no dependency, output" in run(project, "run", "stats", "--drop", "x", expect=1).err


def test_metrics_inside_an_output_folder(project: Path, run: Runner) -> None:
    # evaluate: -o eval -m eval/metrics.json (as dvclive writes).
    record = _record(project, "evaluate")
    assert [o["path"] for o in record["outs"]] == ["eval"]
    assert set(record["metrics"]["eval/metrics.json"]) == {"accuracy", "threshold"}
    assert sorted(p.name for p in (project / "eval").iterdir()) == ["metrics.json", "roc.json"]
    assert not (project / "eval" / "metrics.json.relstate.yaml").exists()
    assert (project / "eval.relstate.yaml").exists()
    assert run(project, "status", "--exit-code").code == 0


def test_overlapping_outputs_and_outputs_inside_tracked_data_are_refused(
    project: Path, run: Runner
) -> None:
    clash = run(project, "run", "-n", "copy", "-d", "model.json", "-o", "eval/copy.json", "--",
                sys.executable, "-c", "pass", expect=1)  # fmt: skip
    assert "output eval/copy.json of 'copy' overlaps output eval of stage 'evaluate'" in clash.err
    inside = run(project, "run", "-n", "raw2", "-o", "data/raw/extra.csv", "--",
                 sys.executable, "-c", "pass", expect=1)  # fmt: skip
    assert "is inside data/raw, which is tracked data" in inside.err
    assert not (project / ".relstate" / "runs" / "copy.yaml").exists()


def test_remove_and_untrack_keep_the_data(project: Path, run: Runner) -> None:
    refused = run(project, "untrack", "stats.json", expect=1)
    assert "stats.json is an output of stage 'stats'" in refused.err
    out = run(project, "remove", "stats").out
    assert "removed .relstate/runs/stats.yaml" in out and "kept as tracked data: stats.json" in out
    assert (project / "stats.json.relstate.yaml").exists()
    run(project, "untrack", "stats.json")
    assert not (project / "stats.json.relstate.yaml").exists()
    assert (project / "stats.json").exists()
    assert "stats.json" in git(project, "status", "--porcelain", "--untracked-files=all")
    # remove --outs: record, pointer and .gitignore line go; the folder stays.
    run(project, "remove", "evaluate", "--outs")
    assert not (project / "eval.relstate.yaml").exists() and (project / "eval").is_dir()
    assert "/eval" not in (project / ".gitignore").read_text().splitlines()
    assert "no stage named 'nope'" in run(project, "remove", "nope", expect=1).err
    assert run(project, "repro").code == 0
