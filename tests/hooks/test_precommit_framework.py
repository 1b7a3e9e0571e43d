"""``.pre-commit-hooks.yaml`` with the real pre-commit framework (PyPI), offline.

The framework installs the hooks' own virtualenv from a git repository holding
this source tree. The test has no network: the virtualenv sees this
interpreter's site-packages (``VIRTUALENV_SYSTEM_SITE_PACKAGES``), so pip finds
every dependency installed and builds gitrelstate without an index.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitrelstate.environment import envnotes
from gitrelstate.repo import Repo
from tests.helpers import CHECKOUT
from tests.helpers.cli import Runner, git, make_repo
from tests.helpers.trees import write_tree

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pre_commit") is None,
    reason="the pre-commit framework is not installed (pip install -e '.[test]')",
)


def _hook_source(tmp_path: Path) -> tuple[Path, str]:
    """A git repository holding this project as pre-commit would clone it."""
    src = tmp_path / "gitrelstate-src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(CHECKOUT / name, src / name)
    for folder in ("gitrelstate", "hooks"):
        shutil.copytree(
            CHECKOUT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    git(src, "init", "-q")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "source")
    return src, git(src, "rev-parse", "HEAD").strip()


def test_hooks_through_the_pre_commit_framework(tmp_path: Path, run: Runner) -> None:
    src, rev = _hook_source(tmp_path)
    repo = make_repo(tmp_path / "repo", run)
    run(repo, "remote", "add", "storage", str(tmp_path / "storage"), "--default")
    write_tree(repo, {"data/a.csv": "1\n", "data/b.csv": "2\n"})
    run(repo, "track", "data")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {src}\n    rev: {rev}\n    hooks:\n"
        "      - id: relstate-check\n      - id: relstate-push\n"
        "      - id: relstate-environment\n"
    )
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's inverted spelling: build without isolation
        "VIRTUALENV_SYSTEM_SITE_PACKAGES": "1",
    }

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=repo, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    installed = sh(
        sys.executable, "-m", "pre_commit", "install",
        "--hook-type", "pre-commit", "--hook-type", "pre-push", "--hook-type", "post-commit",
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    git(repo, "add", "-A")
    first = sh("git", "commit", "-q", "-m", "track")
    assert first.returncode == 0, first.stdout + first.stderr
    assert envnotes.read_note(Repo.discover(repo), "HEAD") is not None  # post-commit stage

    (repo / "data" / "a.csv").write_text("changed\n")
    (repo / "README").write_text("x\n")
    git(repo, "add", "README")
    blocked = sh("git", "commit", "-q", "-m", "blocked")
    assert blocked.returncode == 1
    assert "data: tracked data no longer matches" in blocked.stdout + blocked.stderr
    assert sh("git", "commit", "-q", "--no-verify", "-m", "anyway").returncode == 0

    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "origin.git"))
    pushed = sh("git", "push", "-q", "origin", "main")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    stored = [p for p in (tmp_path / "storage" / "blake3").rglob("*") if p.is_file()]
    assert len(stored) == 3  # two files and the folder's listing
    assert git(repo, "ls-remote", "origin", envnotes.NOTES_REF).strip()
