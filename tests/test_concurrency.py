from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Runner, read_tree, relstate, write_tree

from gitrelstate.state import yamlio


def test_parallel_commands_on_one_repository(repo: Path, run: Runner) -> None:
    for name in ("a", "b", "c"):
        write_tree(repo / name, {f"{i}.bin": f"{name}{i}" * 100 for i in range(300)})
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitrelstate", "track", name],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name in ("a", "b", "c")
    ]
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "gitrelstate", "status"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    )
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for name in ("a", "b", "c"):
        assert yamlio.read(repo / f"{name}.relstate.yaml")["nfiles"] == 300
    assert "/a" in (repo / ".gitignore").read_text().splitlines()
    assert {"/a", "/b", "/c"} <= set((repo / ".gitignore").read_text().splitlines())
    assert relstate(repo, "status", "--exit-code").code == 0


def test_a_held_lock_times_out_with_a_clear_message(
    repo: Path, run: Runner, monkeypatch: object
) -> None:
    from gitrelstate.lock import locked

    (repo / "f").write_text("x")
    lock = repo / ".git" / "relstate" / "lock"
    with locked(lock):
        proc = subprocess.run(
            [sys.executable, "-m", "gitrelstate", "track", "f"],
            cwd=repo,
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "RELSTATE_LOCK_TIMEOUT": "0.3"},
        )
    assert proc.returncode == 1
    assert "another gitrelstate process" in proc.stderr and "hint:" in proc.stderr
    run(repo, "track", "f")
    assert read_tree(repo)["f"] == b"x"
