"""A real DVC for the import tests, in a virtualenv of its own (never the test env:
DVC's dependencies would mask missing ones of ours and pin others, see
docs/migrating-from-dvc.md), and a real DVC project built and reproduced by it.

The ``dvc`` executable, first hit wins: ``$RELSTATE_TEST_DVC``; ``.bench-venv/bin/dvc``
(the benchmarks' venv); ``.dvc-venv/bin/dvc``, made once here (``python3 -m venv`` +
``pip install dvc==3.67.1``, under a lock, ~40 s; ``.ci/run`` makes it beforehand). When
none can be had (offline, or ``RELSTATE_TEST_NO_DVC_INSTALL=1``) the tests are skipped.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DVC_VERSION = "3.67.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"


def _version_ok(exe: str) -> bool:
    try:
        got = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return got.returncode == 0 and got.stdout.strip() == DVC_VERSION


def _make_venv(venv: Path) -> str | None:
    """Build the venv in place (a venv cannot move); ``.complete`` marks success."""
    if os.environ.get("RELSTATE_TEST_NO_DVC_INSTALL") == "1":
        return None
    exe = venv / "bin" / "dvc"
    with open(venv.parent / ".dvc-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it
        if (venv / ".complete").exists() and _version_ok(str(exe)):
            return str(exe)
        shutil.rmtree(venv, ignore_errors=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", f"dvc=={DVC_VERSION}"],
                check=True,
                timeout=1200,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
            shutil.rmtree(venv, ignore_errors=True)
            return None
        (venv / ".complete").write_text(DVC_VERSION + "\n")
    return str(exe) if _version_ok(str(exe)) else None


@pytest.fixture(scope="session")
def dvc_exe() -> str:
    """The path of a ``dvc`` executable of the pinned version (else the test skips)."""
    for candidate in (
        os.environ.get("RELSTATE_TEST_DVC"),
        str(REPO_ROOT / ".bench-venv" / "bin" / "dvc"),
        str(REPO_ROOT / ".dvc-venv" / "bin" / "dvc"),
    ):
        if candidate and Path(candidate).exists() and _version_ok(candidate):
            return candidate
    made = _make_venv(REPO_ROOT / ".dvc-venv")
    if made is None:
        pytest.skip(f"DVC {DVC_VERSION} is not available (set RELSTATE_TEST_DVC)")
    return made


def dvc_env(home: Path) -> dict[str, str]:
    """An isolated environment for DVC and git (no user config, no shared site cache)."""
    for sub in (".config/dvc", ".cache", "dvc-system", "dvc-site-cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "DVC_", "RELSTATE_", "PIPELINE_"))
        and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        DVC_NO_ANALYTICS="1",
        DVC_GLOBAL_CONFIG_DIR=str(home / ".config" / "dvc"),
        DVC_SYSTEM_CONFIG_DIR=str(home / "dvc-system"),
        DVC_SITE_CACHE_DIR=str(home / "dvc-site-cache"),
        MAKE_PROJECT_HOME=str(home),
    )
    return env


@pytest.fixture(scope="session")
def dvc_built(dvc_exe: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DVC project built and reproduced by DVC itself, committed (once per session):
    prepare -> featurize -> train -> evaluate, a foreach and a matrix stage, a ``dvc
    add``ed input, metrics and plots, ``cache: false`` outputs."""
    base = tmp_path_factory.mktemp("dvc")
    project = base / "project"
    made = subprocess.run(
        ["bash", str(DATA / "make_project.sh"), str(project), dvc_exe],
        env=dvc_env(base / "home"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return project


class DVC:
    """Runs the real ``dvc`` in a project, isolated."""

    def __init__(self, exe: str, home: Path) -> None:
        self.exe = exe
        self.env = dvc_env(home)

    def __call__(self, cwd: Path, *args: str) -> str:
        done = subprocess.run(
            [self.exe, *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture
def dvc(dvc_exe: str, tmp_path: Path) -> DVC:
    return DVC(dvc_exe, tmp_path / "dvc-home")


@pytest.fixture
def dvc_project(dvc_built: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of the built project (its DVC cache and git history included)."""
    copy = tmp_path / "project"
    shutil.copytree(dvc_built, copy, symlinks=True)
    yield copy
