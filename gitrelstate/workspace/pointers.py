"""Reading and writing data pointers and the manifests they name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitrelstate import faults, fsutil, hashing
from gitrelstate.errors import RelstateError, UnsafePathError
from gitrelstate.guard import limits
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio
from gitrelstate.state.manifest import Manifest
from gitrelstate.state.pointer import SUFFIX, DataPointer, parse_canonical
from gitrelstate.workspace.walk import inside


@dataclass(frozen=True)
class Tracked:
    """A pointer file together with the data path it describes."""

    pointer_rel: str
    data_rel: str
    pointer: DataPointer

    def data_abs(self, repo: Repo) -> Path:
        return repo.abspath(self.data_rel)


def pointer_rel_for(data_rel: str) -> str:
    return data_rel + SUFFIX


def _read_pointer(path: Path, label: str) -> object:
    raw = limits.read_capped(path, limits.POINTER, label)
    if len(raw) < 4096:
        try:
            fast = parse_canonical(raw.decode("utf-8"))
        except UnicodeDecodeError:
            fast = None  # the full reader reports it properly
        if fast is not None:
            return fast
    return yamlio.loads(raw, label, cap=limits.POINTER)


def load(repo: Repo, pointer_rel: str) -> Tracked:
    """Load and validate the pointer at ``pointer_rel`` (repo-relative)."""
    return tracked_from(repo, pointer_rel, _read_pointer(repo.abspath(pointer_rel), pointer_rel))


def tracked_from(repo: Repo, pointer_rel: str, doc: object) -> Tracked:
    """Validate a pointer document found at ``pointer_rel`` (work tree, index or history)."""
    pointer = DataPointer.from_dict(doc, pointer_rel)
    folder, _, name = pointer_rel.rpartition("/")
    if name[: -len(SUFFIX)] != pointer.path:
        raise UnsafePathError(
            f"{pointer_rel}: 'path' is {pointer.path!r}, but this pointer can only describe "
            f"{name[: -len(SUFFIX)]!r}",
            hint="a pointer's file name is its data's name plus .relstate.yaml",
        )
    data_rel = f"{folder}/{pointer.path}" if folder else pointer.path
    check_data_location(repo, data_rel, pointer_rel)
    return Tracked(pointer_rel, data_rel, pointer)


def check_data_location(repo: Repo, data_rel: str, where: str) -> None:
    """Refuse data paths that lead, by name or through symlinks, into git's or our files."""
    parts = data_rel.split("/")
    if parts[0].lower() == ".relstate" or any(part.lower() == ".git" for part in parts):
        raise UnsafePathError(f"{where}: data path {data_rel} is inside {parts[0]}")
    real = os.path.realpath(repo.abspath(data_rel))
    # The stored path is checked textually; a symlinked folder on the way could
    # still lead outside the tree or into .git, so check where it really lands.
    if not inside(real, os.path.realpath(repo.root)):
        raise UnsafePathError(
            f"{where}: data path {data_rel} resolves outside the repository",
            hint="remove the symlink on the way, or the pointer",
        )
    for guarded in (repo.git_dir, repo.common_dir, repo.state_dir):
        if inside(real, os.path.realpath(guarded)):
            raise UnsafePathError(
                f"{where}: data path {data_rel} resolves into {guarded.name}/",
                hint="remove the symlink on the way, or the pointer",
            )


def load_all(repo: Repo) -> list[Tracked]:
    return [load(repo, p) for p in repo.pointer_paths()]


def save(repo: Repo, pointer_rel: str, pointer: DataPointer) -> bool:
    """Write the pointer atomically; return False when the file already says exactly this."""
    text = yamlio.dumps(pointer.to_dict())
    path = repo.abspath(pointer_rel)
    try:
        if path.read_text("utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    faults.checkpoint("pointers.save")
    fsutil.write_text_atomic(path, text)
    return True


def load_manifest(repo: Repo, tracked_hash: str, where: str) -> Manifest:
    """The manifest object for a directory pointer, from the cache."""
    return Manifest.from_bytes(read_listing(repo, tracked_hash, where), where)


def read_listing(repo: Repo, tracked_hash: str, where: str) -> bytes:
    """The bytes of a directory pointer's listing, from the cache, checked against its id
    (a corrupt copy is removed)."""
    hex_ = hashing.hex_of(tracked_hash)
    try:
        raw = repo.cache.read_bytes(hex_)
    except FileNotFoundError:
        raise RelstateError(
            f"{where}: the directory listing {tracked_hash[:19]}… is not in the cache",
            hint="run 'git relstate fetch' to get it from a remote",
        ) from None
    if hashing.hash_bytes(raw) != hex_:
        repo.cache.remove(hex_)
        raise RelstateError(
            f"{where}: cached directory listing {tracked_hash[:19]}… is corrupt (removed)",
            hint="run 'git relstate fetch' to restore it from a remote",
        )
    return raw
