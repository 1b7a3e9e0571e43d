"""Recorded data into the reproduction's worktree: from the cache, fetched when missing.

Every object is written at the hash the run recorded (not what a pointer says
now) and re-hashed on its way out of the cache; a folder is written file by file
from its manifest.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitrelstate import hashing, parallel
from gitrelstate.errors import RelstateError, UnsafePathError
from gitrelstate.remotes import transfer
from gitrelstate.remotes.remote import Remote
from gitrelstate.repo import Repo
from gitrelstate.state.manifest import Manifest
from gitrelstate.state.pointer import SUFFIX, DataPointer
from gitrelstate.state.record import Artifact
from gitrelstate.store.materialize import materialize
from gitrelstate.workspace import pointers
from gitrelstate.workspace.compare import SELF, expected_entries
from gitrelstate.workspace.pointers import Tracked
from gitrelstate.workspace.walk import inside


@dataclass(frozen=True)
class MissingObject:
    path: str
    hash: str
    what: str = "object"  # or "listing" (a folder's manifest)
    nfiles: int | None = None  # a listing's file count: what bounds reading it

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "hash": self.hash, "what": self.what}

    def describe(self) -> str:
        return f"{self.path}: {self.what} {self.hash[:23]}…"


def as_tracked(artifact: Artifact, where: str = "") -> Tracked:
    """An artifact in the shape transfer and compare work on (a pointer that is not on disk)."""
    name = artifact.path.rpartition("/")[2]
    pointer = DataPointer(name, artifact.hash, artifact.size, artifact.nfiles)
    return Tracked(where or artifact.path + SUFFIX, artifact.path, pointer)


def missing_objects(repo: Repo, artifacts: Sequence[Artifact]) -> list[MissingObject]:
    """Objects the artifacts need that the cache lacks (a folder whose listing is
    missing counts as its listing only: which files it needs is unknown)."""
    missing: dict[str, MissingObject] = {}
    for art in artifacts:
        hex_ = hashing.hex_of(art.hash)
        if not repo.cache.exists(hex_):
            what = "listing" if art.nfiles is not None else "object"
            missing.setdefault(hex_, MissingObject(art.path, art.hash, what, art.nfiles))
            continue
        if art.nfiles is None:
            continue
        manifest = pointers.load_manifest(repo, art.hash, art.path)
        for key, entry in manifest.entries.items():
            if not repo.cache.exists(entry.hex):
                missing.setdefault(
                    entry.hex, MissingObject(f"{art.path}/{key}", hashing.content_id(entry.hex))
                )
    return list(missing.values())


def fetch(
    repo: Repo, remote: Remote, artifacts: Sequence[Artifact], jobs: int | None
) -> str | None:
    """Download what the cache lacks; the error message when that failed (None when not)."""
    try:
        with repo.locked():
            transfer.fetch(
                repo,
                remote,
                [as_tracked(a) for a in artifacts],
                jobs or transfer.default_jobs(remote),
            )
    except RelstateError as exc:
        return exc.message
    return None


def expand_listings(
    repo: Repo, remote: Remote, missing: Sequence[MissingObject]
) -> list[MissingObject]:
    """Missing folder listings replaced by the files they list that the cache lacks.

    A listing is read from the remote and verified, but kept in memory only: it
    enters the cache after its files, so a listing in the cache means a whole tree.
    """
    found: list[MissingObject] = []
    for item in missing:
        manifest = (
            _remote_listing(remote, item, repo.cache.tmp_dir) if item.what == "listing" else None
        )
        if manifest is None:
            found.append(item)
            continue
        found.extend(
            MissingObject(f"{item.path}/{key}", hashing.content_id(entry.hex))
            for key, entry in sorted(manifest.entries.items())
            if not repo.cache.exists(entry.hex)
        )
    return found


def _remote_listing(remote: Remote, item: MissingObject, tmp_dir: Path) -> Manifest | None:
    """The folder listing from the remote, read within what its file count allows."""
    from gitrelstate.remotes.listings import read_listing

    try:
        return read_listing(remote, hashing.hex_of(item.hash), item.nfiles, item.path, tmp_dir)[1]
    except (MemoryError, RecursionError):
        raise  # never "unavailable": reads are bounded, so this is a bug to see
    except Exception:  # not there, unreachable or damaged: the listing stays missing
        return None


def lacking_on_remote(remote: Remote, missing: Sequence[MissingObject]) -> list[MissingObject]:
    """Those of ``missing`` the remote does not have (all of them when it cannot say)."""
    try:
        present = transfer.existing(remote, {hashing.hex_of(m.hash) for m in missing})
    except Exception:  # unreachable remote: every missing object is unaccounted for
        return list(missing)
    return [m for m in missing if hashing.hex_of(m.hash) not in present]


def write_artifact(
    repo: Repo, worktree: Repo, artifact: Artifact, link_types: Sequence[str]
) -> None:
    """Make ``artifact.path`` in ``worktree`` hold exactly the recorded content (file or
    folder), from ``repo``'s cache."""
    root = worktree.root
    tracked = as_tracked(artifact)
    base = root / artifact.path
    root_real = os.path.realpath(root)
    safe_folder(base.parent, root_real, artifact.path)
    if os.path.lexists(base):
        # A leftover of an earlier stage's run in this throwaway tree, never user data.
        if base.is_dir() and not base.is_symlink():
            shutil.rmtree(base)
        else:
            base.unlink()
    entries = expected_entries(repo, tracked)
    if artifact.nfiles is not None:
        base.mkdir(parents=True)

    def write(key: str) -> None:
        entry = entries[key]
        target = base / key if key != SELF else base
        if key != SELF:
            safe_folder(target.parent, root_real, artifact.path)
        st = materialize(
            repo.cache,
            entry.hex,
            target,
            executable=entry.executable,
            link_types=link_types,
            display=f"{artifact.path}/{key}" if key != SELF else artifact.path,
        )
        # Verified on the way out: checking the inputs next need not read it again.
        worktree.statcache.put(st, entry.hex)

    parallel.run_all(sorted(entries), write, parallel.default_jobs(), serial_below=65)


def safe_folder(folder: Path, root_real: str, shown: str) -> None:
    """Create ``folder`` unless a symlink on its way (committed at that commit) leads
    out of the worktree: recorded data must never be written elsewhere."""
    for _ in range(2):  # before creating anything, and once more after
        real = os.path.realpath(folder)
        if not inside(real, root_real) or inside(real, os.path.join(root_real, ".git")):
            raise UnsafePathError(
                f"{shown}: a folder on its way is a symlink leading out of the worktree",
                hint="the commit holds a symlink where recorded data lives",
            )
        folder.mkdir(parents=True, exist_ok=True)
