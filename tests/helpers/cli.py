"""Running the CLI: in a subprocess (what a user runs) or in-process (fast), and git."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from gitrelstate.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def relstate(cwd: Path, *args: str) -> Result:
    """Run the real CLI in a subprocess (what a user runs)."""
    proc = subprocess.run(
        [sys.executable, "-m", "gitrelstate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


class CLI(Protocol):
    """Either runner: ``cli(cwd, *args, expect=0)`` checks the exit status when ``expect``
    is not None."""

    def __call__(self, cwd: Path, *args: str, expect: int | None = 0) -> Result: ...


class Runner:
    """Runs the CLI in-process (fast) with cwd set; returns exit code and output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, cwd: Path, *args: str, expect: int | None = 0) -> Result:
        self.monkeypatch.chdir(cwd)
        self.capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        result = Result(code, captured.out, captured.err)
        if expect is not None:
            assert code == expect, f"exit {code} != {expect}\nout: {result.out}\nerr: {result.err}"
        return result


class SubprocessRunner:
    """The real CLI in a subprocess, inheriting the current environment (for fixtures
    wider than one test, which cannot use the in-process ``run``)."""

    def __call__(self, cwd: Path, *args: str, expect: int | None = 0) -> Result:
        result = relstate(cwd, *args)
        assert expect is None or result.code == expect, result.err
        return result


def make_repo(path: Path, run: CLI | None = None) -> Path:
    """A git repository at ``path`` with gitrelstate initialised (no hooks)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    if run is not None:
        run(path, "init", "--no-hooks")
    else:
        assert relstate(path, "init", "--no-hooks").code == 0
    return path


def commit_all(repo: Path, message: str) -> None:
    """``git add -A`` and commit."""
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
