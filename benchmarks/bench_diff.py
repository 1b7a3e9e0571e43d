#!/usr/bin/env python3
"""Diff two releases whose data folder holds 100,000 files, 1% of them changed:
``git relstate diff v1 v2`` against ``dvc diff v1 v2`` on the same data.

Both repositories get identical data and history (commit, release/tag v1, change
1% of the files, commit, release/tag v2). Each tool's diff is then timed with its
folder listings in the local cache (the target: under 1 s for gitrelstate), and
its peak RSS measured with ``os.wait4``. Stdlib only; DVC is found as in
bench_foundation.py (``--dvc``, else ``.bench-venv/bin/dvc``, else PATH).

    python3 benchmarks/bench_diff.py                 # 100,000 files
    python3 benchmarks/bench_diff.py --files 20000   # quicker
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.0


def _relstate_exe(given: str | None) -> list[str]:
    if given:
        return [given]
    beside = Path(sys.executable).with_name("git-relstate")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("git-relstate")
    return [found] if found else [sys.executable, "-m", "gitrelstate"]


def _dvc_exe(given: str | None) -> str | None:
    if given:
        return given
    venv = REPO_ROOT / ".bench-venv" / "bin" / "dvc"
    if venv.exists():
        return str(venv)
    return shutil.which("dvc")


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        DVC_NO_ANALYTICS="1",
    )
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, int]:
    """(seconds, peak RSS in bytes, exit status) of one run, output discarded."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss * 1024, proc.returncode


def _make_data(root: Path, nfiles: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = []
    for i in range(nfiles):
        rel = f"data/d{i % 100:02d}/f{i:06d}.bin"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(256))
        names.append(rel)
    return names


def _change(root: Path, names: list[str], fraction: float, seed: int) -> int:
    rng = random.Random(seed)
    chosen = rng.sample(names, max(1, int(len(names) * fraction)))
    for rel in chosen:
        (root / rel).write_bytes(rng.randbytes(300))
    return len(chosen)


def _git_setup(repo: Path, env: dict[str, str]) -> None:
    repo.mkdir(parents=True)
    _run(["git", "init", "-q"], repo, env)


def _commit(repo: Path, env: dict[str, str], message: str) -> None:
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", message], repo, env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction changed")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--relstate", help="path of git-relstate")
    parser.add_argument("--dvc", help="path of dvc")
    parser.add_argument("--no-dvc", action="store_true", help="gitrelstate only")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()

    relstate = _relstate_exe(args.relstate)
    dvc = None if args.no_dvc else _dvc_exe(args.dvc)
    work = Path(tempfile.mkdtemp(prefix="bench-diff-"))
    home = work / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.invalid\n")
    env = _env(home)
    try:
        # -- gitrelstate ---------------------------------------------------------
        rs = work / "relstate"
        _git_setup(rs, env)
        names = _make_data(rs, args.files, seed=1)
        _run([*relstate, "init", "--no-hooks"], rs, env)
        _run([*relstate, "track", "data"], rs, env)
        _commit(rs, env, "data v1")
        _run([*relstate, "release", "v1"], rs, env)
        _commit(rs, env, "release v1")
        changed = _change(rs, names, args.changed, seed=2)
        _run([*relstate, "track", "data"], rs, env)
        _commit(rs, env, "data v2")
        _run([*relstate, "release", "v2"], rs, env)
        _commit(rs, env, "release v2")
        results: dict[str, list[tuple[float, int, int]]] = {}
        for label, cmd in (
            ("gitrelstate diff v1 v2 --json", [*relstate, "diff", "v1", "v2", "--json"]),
            ("gitrelstate diff v1 v2 (terminal)", [*relstate, "diff", "v1", "v2"]),
            ("gitrelstate diff v1 v2 --md", [*relstate, "diff", "v1", "v2", "--md"]),
        ):
            results[label] = [_timed(cmd, rs, env) for _ in range(args.repeat)]
        # -- DVC -------------------------------------------------------------------
        if dvc is not None:
            dv = work / "dvc"
            _git_setup(dv, env)
            _make_data(dv, args.files, seed=1)
            _run([dvc, "init", "-q"], dv, env)
            _run([dvc, "add", "-q", "data"], dv, env)
            _commit(dv, env, "data v1")
            _run(["git", "tag", "v1"], dv, env)
            _change(dv, names, args.changed, seed=2)
            _run([dvc, "add", "-q", "data"], dv, env)
            _commit(dv, env, "data v2")
            _run(["git", "tag", "v2"], dv, env)
            results["dvc diff v1 v2 --json"] = [
                _timed([dvc, "diff", "v1", "v2", "--json"], dv, env) for _ in range(args.repeat)
            ]
        else:
            print(
                "DVC not found: install it with 'python3 -m venv .bench-venv && "
                ".bench-venv/bin/pip install dvc==3.67.1'"
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")

    print(
        f"diff of two releases, {args.files} files each, {changed} changed "
        f"(median of {args.repeat}; listings cached)"
    )
    print(f"{'command':<38} {'seconds':>8} {'peak RSS':>10}  status")
    medians = {}
    for label, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        codes = {r[2] for r in runs}
        medians[label] = seconds
        print(f"{label:<38} {seconds:8.3f} {rss / 2**20:8.0f} MB  exit {sorted(codes)}")
    ours = medians["gitrelstate diff v1 v2 --json"]
    verdict = "PASS" if ours < TARGET_SECONDS else "FAIL"
    print(f"target: gitrelstate diff under {TARGET_SECONDS:.0f} s -> {verdict} ({ours:.3f} s)")
    if "dvc diff v1 v2 --json" in medians:
        print(f"ratio dvc/gitrelstate: {medians['dvc diff v1 v2 --json'] / ours:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
