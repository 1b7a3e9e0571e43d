"""Digests of the dependency and lock files of a repository (its root and one level down)."""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path

from gitrelstate.guard.paths import contained

LOCKFILE_PATTERNS: tuple[str, ...] = (
    "requirements*.txt",
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "pdm.lock",
    "pixi.lock",
    "conda-lock.yml",
    "environment.yml",
    "environment.yaml",
    "pyproject.toml",
)
# requirements/base.txt, requirements/dev.in: a common layout for pip-tools users.
REQUIREMENTS_DIR = "requirements"
_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})
# A sub-folder with more entries is data (a flat folder of images), not a project:
# listing it would make every capture as slow as the folder is large.
MAX_SUBFOLDER_ENTRIES = 2000


def _is_lockfile(name: str, folder: str) -> bool:
    if folder == REQUIREMENTS_DIR and name.endswith((".txt", ".in")):
        return True
    return any(fnmatchcase(name, p) for p in LOCKFILE_PATTERNS)


def capture_lockfiles(repo_root: Path) -> dict[str, str]:
    """``{relative posix path: "blake3:<hex>"}``, sorted by path."""
    from gitrelstate import hashing

    found: dict[str, str] = {}

    def scan(folder: Path, prefix: str, depth: int) -> None:
        entries: list[os.DirEntry[str]] = []
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    entries.append(entry)
                    if depth and len(entries) > MAX_SUBFOLDER_ENTRIES:
                        return
        except OSError:
            return
        entries.sort(key=lambda e: e.name)
        for entry in entries:
            try:
                if (
                    entry.is_file()
                    and _is_lockfile(entry.name, prefix.rstrip("/"))
                    # A committed requirements.txt -> /anywhere would put the digest
                    # of a file outside the repository into notes and records.
                    and (not entry.is_symlink() or contained(repo_root, entry.path))
                ):
                    hex_digest, _ = hashing.hash_file(entry.path)
                    found[prefix + entry.name] = hashing.content_id(hex_digest)
                elif (
                    depth == 0
                    and entry.is_dir(follow_symlinks=False)
                    and not entry.name.startswith(".")
                    and entry.name not in _SKIP_DIRS
                ):
                    scan(Path(entry.path), prefix + entry.name + "/", depth + 1)
            except OSError:
                continue  # unreadable or vanished while we looked: not ours to report

    scan(repo_root, "", 0)
    return {k: found[k] for k in sorted(found)}
