from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gitrelstate import __version__
from tests.helpers.cli import Runner, relstate


def test_version_and_module_entry_point(tmp_path: Path) -> None:
    result = relstate(tmp_path, "--version")
    assert result.code == 0 and result.out.strip() == f"git-relstate {__version__}"


def test_git_subcommand_dispatch_works(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "git-relstate"
    if not exe.exists():
        import pytest

        pytest.skip("console script not installed next to this interpreter")
    env_path = f"{exe.parent}:{__import__('os').environ['PATH']}"
    proc = subprocess.run(
        ["git", "relstate", "--version"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PATH": env_path},
        cwd=tmp_path,
    )
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_usage_errors_exit_2(tmp_path: Path, run: Runner) -> None:
    assert run(tmp_path, "no-such-command", expect=2).err
    assert run(tmp_path, "track", expect=2).err
    assert run(tmp_path, "push", "-j", "0", expect=2).err


def test_user_errors_have_error_and_hint_lines_without_traceback(tmp_path: Path) -> None:
    result = relstate(tmp_path, "status")
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "Traceback" not in result.err


def test_broken_state_file_is_a_user_error(repo: Path, run: Runner) -> None:
    (repo / "x.relstate.yaml").write_text(
        "relstate: 1\nkind: data\npath: ../../etc/passwd\nhash: blake3:" + "0" * 64 + "\nsize: 1\n"
    )
    result = run(repo, "status", expect=1)
    assert "x.relstate.yaml" in result.err and "Traceback" not in result.err
    (repo / "x.relstate.yaml").write_text("relstate: 7\nkind: data\n")
    result = run(repo, "checkout", expect=1)
    assert "version 7" in result.err and "upgrade" in result.err


def test_quiet_suppresses_chatter(repo: Path, run: Runner) -> None:
    (repo / "f").write_text("x")
    assert run(repo, "-q", "track", "f").out == ""
    assert run(repo, "track", "f").out  # -q does not stick between invocations


def test_a_full_disk_anywhere_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """init has no disk-full handling of its own: the CLI's safety net names it."""
    repo = tmp_path / "r"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    proc = subprocess.run(
        [sys.executable, "-m", "gitrelstate", "init", "--no-hooks"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "RELSTATE_FAIL_AT": "fsutil.replace:1:ENOSPC"},
    )
    assert proc.returncode == 1, proc.stderr
    assert "error: no space left on the device" in proc.stderr
    assert "hint: free some space" in proc.stderr
    assert "Traceback" not in proc.stderr
