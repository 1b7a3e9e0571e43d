"""``track``: check what may be tracked, store it in the cache, write its pointer and
git-ignore the data."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitrelstate import fsutil, git
from gitrelstate.errors import RelstateError, UnsafePathError
from gitrelstate.repo import STATE_DIR, Repo
from gitrelstate.state.pointer import SUFFIX
from gitrelstate.workspace import gitignore, pointers, tracking
from gitrelstate.workspace.walk import check_name


@dataclass(frozen=True)
class Tracked:
    """One tracked path: where its pointer is, what it holds, whether the pointer changed."""

    rel: str
    pointer_rel: str
    snapshot: tracking.Snapshot
    changed: bool


def track_paths(
    repo: Repo, cwd: Path, paths: Sequence[str], done: Callable[[Tracked], None]
) -> None:
    """Track ``paths`` (relative to ``cwd``), each checked before any is stored; ``done``
    hears of each as soon as it is tracked."""
    with repo.locked(), fsutil.storage_errors():
        repo.cache.clean_tmp()
        existing = {t.data_rel: t for t in pointers.load_all(repo)}
        targets = [_validate(repo, cwd / p, p, existing) for p in paths]
        for rel in dict.fromkeys(targets):
            done(_track_one(repo, rel, existing.get(rel)))


def _validate(repo: Repo, path: Path, given: str, existing: dict[str, pointers.Tracked]) -> str:
    if not os.path.lexists(path):
        raise RelstateError(f"no such file or folder: {given}")
    rel = repo.relpath(path)
    check_name(rel)
    if rel == "":
        raise RelstateError(
            "cannot track the whole repository", hint="track a data folder inside it instead"
        )
    if os.path.islink(path):
        raise UnsafePathError(
            f"{given} is a symlink", hint="track the file or folder it points to instead"
        )
    first = rel.split("/", 1)[0]
    if first in (".git", STATE_DIR):
        raise RelstateError(f"{given} is inside {first}/, which gitrelstate manages itself")
    if rel.endswith(SUFFIX):
        raise RelstateError(f"{given} is a gitrelstate pointer file, not data")
    if rel not in existing and git.is_tracked(repo.root, rel):
        raise RelstateError(
            f"{given} is already tracked by Git",
            hint=f"stop tracking it in Git first: git rm -r --cached '{rel}'",
        )
    for data_rel in existing:
        if rel.startswith(data_rel + "/"):
            raise RelstateError(
                f"{given} is inside {data_rel}, which is already tracked",
                hint=f"re-track the whole folder: git relstate track {data_rel}",
            )
        if data_rel.startswith(rel + "/"):
            raise RelstateError(
                f"{given} contains {data_rel}, which is tracked on its own",
                hint=f"remove {data_rel}{SUFFIX} first, then track the whole folder",
            )
    return rel


def _track_one(repo: Repo, rel: str, previous: pointers.Tracked | None) -> Tracked:
    path = repo.abspath(rel)
    fsutil.remove_stale_tmps(path.parent)  # leftovers of a killed run
    snap = tracking.snapshot(
        repo,
        path,
        store=True,
        label=f"tracking {rel}",
        previous=previous.pointer if previous else None,
    )
    name = path.name
    pointer = tracking.pointer_from(snap, name, previous.pointer if previous else None)
    pointer_rel = pointers.pointer_rel_for(rel)
    changed = pointers.save(repo, pointer_rel, pointer)
    gitignore.ensure_ignored(path.parent, name)
    repo.statcache.flush()
    return Tracked(rel, pointer_rel, snap, changed)
