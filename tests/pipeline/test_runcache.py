"""The run cache travels: ``push`` sends a run's entry and outputs, a teammate's clone
``fetch``es the entry and ``repro`` restores the outputs from the remote, unexecuted."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cli import Runner, commit_all, git
from tests.helpers.pipeline import ran

from .conftest import PIPELINE


def test_a_teammates_clone_restores_a_pushed_run(
    project: Path, run: Runner, log: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    run(project, "remote", "add", "origin", str(store), "--default")
    commit_all(project, "remote")
    run(project, "push")
    # An experiment: not committed, only its run-cache entry and outputs are pushed.
    PIPELINE.set_param(project, "train", "C", 0.25)
    run(project, "repro", "train")
    assert ran(log) == ["train"]
    model = (project / "model.json").read_bytes()
    pushed = run(project, "push").out
    assert "run-cache entr" in pushed
    entries = sorted(p.name for p in (store / "runcache").iterdir())
    assert entries and all(len(n) == 64 + len(".json") for n in entries)
    # Nothing secret, nothing large: an entry is the record without its environment.
    doc = json.loads((store / "runcache" / entries[0]).read_text())
    assert set(doc) == {"relstate", "kind", "key", "environment", "record"}
    assert "packages" not in json.dumps(doc["record"])
    # The teammate: a clone at the last commit, the same experiment.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    # The four recorded runs and the experiment.
    assert "fetched 5 run-cache entries" in run(clone, "pull").out
    PIPELINE.set_param(clone, "train", "C", 0.25)
    out = run(clone, "repro", "train").out
    assert ran(log) == []  # nothing executed in the clone
    assert "restored 'train' from the run cache" in out
    assert (clone / "model.json").read_bytes() == model
    status = run(clone, "status", "--exit-code", expect=1).out
    assert "run 'train'" not in status and "run 'evaluate' is stale" in status
