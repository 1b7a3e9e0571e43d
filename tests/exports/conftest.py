"""Two releases of the scikit-learn pipeline, built once for every export test.

The clone has a credential-bearing ``origin`` URL, the training stage records a
secret-looking variable (``-e API_TOKEN``) and a params value with a password in a URL:
none of the three may appear in any export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.cli import SubprocessRunner, commit_all, git, make_repo
from tests.helpers.pipeline import Pipeline

TOKEN = "tok-EXPORT-SECRET-4f9a1c"  # the captured variable's value
REMOTE_PASSWORD = "REMOTEpw-77d1e0"  # in origin's URL
PARAM_PASSWORD = "PARAMpw-3b8c2e"  # in a params value
ORIGIN = f"https://exporter:{REMOTE_PASSWORD}@github.com/acme/churn.git"
SECRETS = (TOKEN, REMOTE_PASSWORD, PARAM_PASSWORD)

PIPELINE = Pipeline(
    params={
        "train": {
            "C": 1.0,
            "max_iter": 300,
            "hub": f"https://trainer:{PARAM_PASSWORD}@hub.example.com/models",
        }
    },
    variables=("API_TOKEN",),
)


@dataclass(frozen=True)
class Project:
    repo: Path
    releases: tuple[str, ...]  # v1, v2 (the model), v3 (a model by reference)


def _params(repo: Path, c: float) -> None:
    doc = json.loads((repo / "params.json").read_text())
    doc["train"]["C"] = c
    (repo / "params.json").write_text(json.dumps(doc))


@pytest.fixture(scope="package")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """v1; then another C and seed, both stages again, v2; v3 binds v2's state with a model
    given by reference. Tests only read it (copy it to change it)."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("exports")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Ada Lovelace\n\temail = ada@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
    )
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    mp.setenv("API_TOKEN", TOKEN)
    mp.setenv("SEED", "1")
    try:
        repo = make_repo(base / "repo")
        git(repo, "remote", "add", "origin", ORIGIN)
        cli = SubprocessRunner()
        PIPELINE.write(cli, repo)
        commit_all(repo, "pipeline")
        PIPELINE.prepare(cli, repo)
        PIPELINE.train(cli, repo)
        commit_all(repo, "train")
        cli(repo, "release", "v1", "--model", "model.json", "-m", "first model")
        commit_all(repo, "release v1")
        _params(repo, 0.5)
        mp.setenv("SEED", "2")
        commit_all(repo, "C=0.5")
        PIPELINE.prepare(cli, repo)
        PIPELINE.train(cli, repo)
        commit_all(repo, "train again")
        cli(repo, "release", "v2", "--model", "model.json", "-m", "C=0.5 | seed 2")
        commit_all(repo, "release v2")
        cli(repo, "release", "v3", "--model", "models:/churn/7")
        commit_all(repo, "release v3")
    finally:
        mp.undo()
    return Project(repo, ("v1", "v2", "v3"))
