"""Several gitrelstate processes at once on one repository, one cache, one remote.

No corruption (tests/helpers/invariants.py), no lost record or .gitignore line, and ``gc`` never
deletes an object another process tracked or is about to reference (docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gitrelstate.state import yamlio
from tests.helpers.cli import Runner, git, make_repo, relstate
from tests.helpers.invariants import check_all, check_remote_sound, remote_hexes
from tests.helpers.trees import read_tree, write_tree

# A driver process: runs each command line in turn, records the failures.
DRIVER = """
import json, subprocess, sys
failures = []
for args in json.loads(sys.argv[1]):
    proc = subprocess.run([sys.executable, "-m", "gitrelstate", *args], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        failures.append({"args": args, "code": proc.returncode, "err": proc.stderr})
print(json.dumps(failures))
"""

MAKE = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.argv[2] * 1000)\n"


def _drive(cwd: Path, commands: list[list[str]]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, json.dumps(commands)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs: list[subprocess.Popen[str]]) -> None:
    failures = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        failures += json.loads(out)
    assert not failures, json.dumps(failures, indent=1)


def test_parallel_commands_on_one_repository(repo: Path, run: Runner) -> None:
    for name in ("a", "b", "c"):
        write_tree(repo / name, {f"{i}.bin": f"{name}{i}" * 100 for i in range(300)})
    procs = [_drive(repo, [["track", name]]) for name in ("a", "b", "c")]
    procs.append(_drive(repo, [["status"]]))
    _finish(procs)
    for name in ("a", "b", "c"):
        assert yamlio.read(repo / f"{name}.relstate.yaml")["nfiles"] == 300
    assert {"/a", "/b", "/c"} <= set((repo / ".gitignore").read_text().splitlines())
    assert relstate(repo, "status", "--exit-code").code == 0


def test_track_run_push_and_gc_at_once(tmp_path: Path, run: Runner, repo: Path) -> None:
    """Four writers: one re-tracks a folder, one records runs, one pushes, one collects
    garbage, all on one repository with one cache and one remote (and a reader)."""
    (repo / "make.py").write_text(MAKE)
    write_tree(repo / "inp", {f"{i}.txt": f"input {i}\n" * 50 for i in range(40)})
    run(repo, "track", "inp")
    run(repo, "remote", "add", "origin", str(tmp_path / "remote"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    rounds = 5

    def tracker_round(i: int) -> list[str]:
        write_tree(repo / "moving", {f"{j}.txt": f"round {i} file {j}\n" * 30 for j in range(60)})
        return ["track", "moving"]

    # The tracker rewrites its folder between commands, so it runs here, in this process.
    stage = ["-d", "inp", "--", sys.executable, "make.py"]
    runs = [
        ["run", "-n", f"s{i}", "-o", f"out{i}.txt", *stage, f"out{i}.txt", str(i)]
        for i in range(rounds)
    ]
    procs = [
        _drive(repo, runs),
        _drive(repo, [["push"]] * rounds),
        _drive(repo, [["gc"]] * rounds),
        _drive(repo, [["status"], ["verify"]] * rounds),  # readers, meanwhile
    ]
    for i in range(rounds):
        result = relstate(repo, *tracker_round(i))
        assert result.code == 0, result.err
    _finish(procs)

    # No lost record, no lost .gitignore line, and nothing anyone references was collected.
    for i in range(rounds):
        record = yamlio.read(repo / ".relstate" / "runs" / f"s{i}.yaml")
        assert record["outs"][0]["path"] == f"out{i}.txt"
    ignored = set((repo / ".gitignore").read_text().splitlines())
    assert {"/inp", "/moving"} | {f"/out{i}.txt" for i in range(rounds)} <= ignored
    check_all(repo, remote=tmp_path / "remote")
    assert relstate(repo, "status", "--exit-code").code == 0
    run(repo, "push")
    assert "all present and intact" in run(repo, "verify").out
    assert "all present and intact" in run(repo, "verify", "-r", "origin").out
    # The work tree's data round-trips through the remote.
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "all")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    result = relstate(clone, "pull")
    assert result.code == 0, result.err
    assert read_tree(clone / "moving") == read_tree(repo / "moving")


def test_gc_keeps_what_another_worktree_is_working_on(tmp_path: Path, run: Runner) -> None:
    """Worktrees share the cache: gc in one must not delete data another one tracked but
    has not committed (a reproduction runs in such a worktree, too)."""
    main = make_repo(tmp_path / "main", run)
    (main / "code.py").write_text("x = 1\n")
    git(main, "add", "-A")
    git(main, "commit", "-qm", "code")
    other = tmp_path / "other"
    git(main, "worktree", "add", "-q", str(other))
    write_tree(other / "fresh", {f"{i}.txt": f"fresh {i}\n" for i in range(20)})
    (other / "model.bin").write_bytes(os.urandom(200_000))
    procs = [_drive(other, [["track", "fresh"], ["track", "model.bin"]])]
    procs += [_drive(main, [["gc"]] * 3)]
    _finish(procs)
    run(main, "gc")
    check_all(other)
    assert "all present and intact" in run(other, "verify").out
    for p in (other / "fresh").iterdir():
        p.unlink()
    run(other, "checkout")
    assert len(read_tree(other / "fresh")) == 20


def test_two_clones_share_one_remote(tmp_path: Path, run: Runner) -> None:
    remote = tmp_path / "remote"
    first = make_repo(tmp_path / "first", run)
    shared = {f"{i}.txt": f"shared {i}\n" * 40 for i in range(80)}
    write_tree(first / "data", {**shared, "mine.bin": os.urandom(300_000)})
    run(first, "track", "data")
    run(first, "remote", "add", "origin", str(remote))
    git(first, "add", "-A")
    git(first, "commit", "-qm", "first")
    second = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(first), str(second))
    write_tree(second / "data", {**shared, "theirs.bin": os.urandom(300_000)})
    write_tree(second / "more", {f"{i}.txt": f"more {i}\n" for i in range(80)})
    run(second, "track", "data", "more")
    git(second, "add", "-A")
    git(second, "commit", "-qm", "second")
    # Both push, again and again, overlapping content included; both fetch meanwhile.
    _finish(
        [
            _drive(first, [["push"], ["fetch"], ["push"]]),
            _drive(second, [["push"], ["fetch"], ["push"]]),
        ]
    )
    check_remote_sound(remote)
    check_all(first, remote=remote, remote_complete=True)
    check_all(second, remote=remote, remote_complete=True)
    for clone_of in (first, second):
        fresh = tmp_path / f"fresh-{clone_of.name}"
        git(tmp_path, "clone", "-q", str(clone_of), str(fresh))
        result = relstate(fresh, "pull")
        assert result.code == 0, result.err
        assert read_tree(fresh / "data") == read_tree(clone_of / "data")
    assert len(remote_hexes(remote)) >= 80 + 2 + 80


def test_a_held_lock_times_out_with_a_clear_message(repo: Path, run: Runner) -> None:
    from gitrelstate.lock import locked

    (repo / "f").write_text("x")
    lock = repo / ".git" / "relstate" / "lock"
    with locked(lock):
        proc = subprocess.run(
            [sys.executable, "-m", "gitrelstate", "track", "f"],
            cwd=repo,
            capture_output=True,
            text=True,
            env={**os.environ, "RELSTATE_LOCK_TIMEOUT": "0.3"},
        )
    assert proc.returncode == 1
    assert "another gitrelstate process" in proc.stderr and "hint:" in proc.stderr
    run(repo, "track", "f")
    assert read_tree(repo)["f"] == b"x"
