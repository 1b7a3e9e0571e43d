"""The whole scikit-learn pipeline (tests/helpers/pipeline.py), recorded and committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import Runner, commit_all
from tests.helpers.pipeline import Pipeline

# prepare -> train -> evaluate, and prepare -> stats; train reads two keys of params.json.
PIPELINE = Pipeline(param_spec="params.json:train.C,train.max_iter")


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file every stage logs its start and end to (outside the repository)."""
    path = tmp_path / "stages.log"
    monkeypatch.setenv("PIPELINE_LOG", str(path))
    return path


@pytest.fixture
def project(repo: Path, run: Runner, log: Path) -> Path:
    """Code committed, every stage recorded, records and pointers committed."""
    PIPELINE.write(run, repo)
    PIPELINE.write_stages(repo)
    commit_all(repo, "pipeline code")
    PIPELINE.record_all(run, repo)
    commit_all(repo, "records")
    log.write_text("")
    return repo
