"""Fixtures: real git repositories in temp folders, isolated from the user's config, and
the real object stores on loopback (tests/helpers/servers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import Runner, make_repo

# The session fixtures s3_server and gcs_server.
pytest_plugins = ["tests.helpers.servers.fixtures"]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or touch the real home directory or global git config."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n\ttemplateDir =\n"
        "[advice]\n\tdetachedHead = false\n"
    )
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "RELSTATE_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    """The CLI in-process: ``run(cwd, *args, expect=0)``."""
    return Runner(capsys, monkeypatch)


@pytest.fixture
def repo(tmp_path: Path, run: Runner) -> Iterator[Path]:
    """A fresh git repository with gitrelstate initialised (no hooks)."""
    yield make_repo(tmp_path / "repo", run)
