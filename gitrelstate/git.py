"""All access to Git goes through this module (the real ``git`` executable)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitrelstate.errors import NotARepoError, RelstateError
from gitrelstate.guard import executables


@dataclass(frozen=True)
class GitDirs:
    toplevel: Path
    git_dir: Path
    common_dir: Path


def _git_exe() -> str:
    # Absolute PATH entries only: an empty one is the current folder, which is the
    # work tree, where a repository could carry an executable named git.
    exe = executables.which("git")
    if exe is None:
        raise RelstateError(
            "git is not installed or not on PATH",
            hint="install git first (gitrelstate looks only in absolute PATH folders)",
        )
    return exe


def run(
    cwd: Path,
    args: Sequence[str],
    *,
    check: bool = True,
    input: bytes | None = None,
    extra_env: dict[str, str] | None = None,
) -> str:
    """Run ``git ARGS`` in ``cwd`` and return stdout (decoded, surrogateescape);
    ``extra_env`` adds variables (a temporary ``GIT_INDEX_FILE``)."""
    env = dict(os.environ)
    env.update(extra_env or {})
    # Read-only queries must not take git's index lock and race a user's commit.
    env.setdefault("GIT_OPTIONAL_LOCKS", "0")
    proc = subprocess.run(
        [_git_exe(), *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=env,
    )
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise RelstateError(
            f"git {args[0]} failed: {err.splitlines()[-1] if err else proc.returncode}"
        )
    return proc.stdout.decode("utf-8", "surrogateescape")


def run_bytes(cwd: Path, args: Sequence[str], extra_env: dict[str, str] | None = None) -> bytes:
    """``git ARGS`` stdout as bytes (for diffs, which need not be text)."""
    env = {**os.environ, **extra_env} if extra_env else None
    proc = subprocess.run([_git_exe(), *args], cwd=cwd, capture_output=True, check=False, env=env)
    return proc.stdout if proc.returncode == 0 else b""


def discover(cwd: Path) -> GitDirs:
    """Find the work tree and git dirs containing ``cwd``; error outside a work tree."""
    env = dict(os.environ)
    proc = subprocess.run(
        [
            _git_exe(),
            "rev-parse",
            "--is-inside-work-tree",
            "--show-toplevel",
            "--absolute-git-dir",
            "--git-common-dir",
        ],
        cwd=cwd,
        capture_output=True,
        env=env,
    )
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    if proc.returncode != 0 or not lines or lines[0] != "true" or len(lines) < 4:
        raise NotARepoError(
            "not inside a Git work tree",
            hint="run 'git init' first, or cd into your repository",
        )
    toplevel = Path(lines[1])
    git_dir = Path(lines[2])
    common = Path(lines[3])
    if not common.is_absolute():
        common = (cwd / common).resolve()
    return GitDirs(toplevel, git_dir, common)


def ls_files(cwd: Path, args: Sequence[str]) -> list[str]:
    """``git ls-files -z ARGS`` as a list of repo-relative paths."""
    out = run(cwd, ["ls-files", "-z", *args])
    return [p for p in out.split("\0") if p]


def is_tracked(cwd: Path, relpath: str) -> bool:
    """Whether git itself tracks ``relpath`` (or anything under it)."""
    return bool(ls_files(cwd, ["--", f":(literal){relpath}"]))


def head_commit(cwd: Path) -> str | None:
    out = run(cwd, ["rev-parse", "--verify", "-q", "HEAD"], check=False).strip()
    return out or None


def blobs_matching(cwd: Path, revs: Sequence[str], suffix: str) -> dict[str, str]:
    """Blob id -> path of every file ending in ``suffix`` reachable from ``revs``.

    ``revs`` may be ``["--all"]``. One ``rev-list --objects`` walk, however long
    the history: a blob that did not change between commits is listed once.
    """
    if not revs:
        return {}
    out = run(cwd, ["rev-list", "--objects", *revs, "--"], check=False)
    found: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, path = line.partition(" ")
        if path.endswith(suffix):
            found.setdefault(sha, path)
    return found


def read_blobs(cwd: Path, shas: Sequence[str]) -> dict[str, bytes]:
    """Contents of blobs by id, read in one ``git cat-file --batch`` process."""
    if not shas:
        return {}
    proc = subprocess.run(
        [_git_exe(), "cat-file", "--batch"],
        cwd=cwd,
        input="".join(f"{s}\n" for s in shas).encode(),
        capture_output=True,
        check=False,
    )
    data = proc.stdout
    blobs: dict[str, bytes] = {}
    pos = 0
    for _ in shas:
        end = data.index(b"\n", pos)
        header = data[pos:end].decode().split()
        pos = end + 1
        if len(header) < 3 or header[1] != "blob":
            continue
        size = int(header[2])
        blobs[header[0]] = data[pos : pos + size]
        pos += size + 1
    return blobs


def has_commits(cwd: Path) -> bool:
    return head_commit(cwd) is not None


@dataclass(frozen=True)
class FileChange:
    commit: str
    date: str
    path: str
    blob: str


def ref_tips(cwd: Path) -> list[str]:
    """Commit ids every ref (and HEAD) points at."""
    out = run(cwd, ["for-each-ref", "--format=%(objectname)"], check=False).split()
    head = head_commit(cwd)
    return out + ([head] if head else [])


def log_file_changes(cwd: Path, revs: Sequence[str], paths: Sequence[str]) -> list[FileChange]:
    """Files added or modified under ``paths`` by each commit in ``revs`` (new blob ids)."""
    out = run(
        cwd,
        ["log", "--format=%x01%H %cI", "--raw", "--no-abbrev", "--no-renames", *revs, "--", *paths],
        check=False,
    )
    changes: list[FileChange] = []
    commit = date = ""
    for line in out.splitlines():
        if line.startswith("\x01"):
            commit, _, date = line[1:].partition(" ")
        elif line.startswith(":"):
            meta, _, path = line.partition("\t")
            fields = meta.split()
            if len(fields) >= 5 and fields[4] in ("A", "M"):
                changes.append(FileChange(commit, date, path, fields[3]))
    return changes


def blob_id(data: bytes) -> str:
    """The id git gives this content as a blob (sha1 repositories)."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
