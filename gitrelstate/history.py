"""Pointers as recorded in Git history (for verify and gc), not just the work tree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gitrelstate import git, hashing, pointers
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio
from gitrelstate.state.pointer import SUFFIX, DataPointer


@dataclass(frozen=True)
class Recorded:
    """A pointer found in history (or the work tree), with where it was seen."""

    where: str
    pointer: DataPointer


def recorded_pointers(repo: Repo, revs: Sequence[str], *, work_tree: bool) -> list[Recorded]:
    """Pointers committed in ``revs`` (e.g. ``["HEAD"]``, ``["--all"]``) plus, with
    ``work_tree``, those in the work tree now (uncommitted ones included)."""
    found: dict[str, Recorded] = {}
    if revs and git.has_commits(repo.root):
        blobs = git.blobs_matching(repo.root, revs, SUFFIX)
        contents = git.read_blobs(repo.root, list(blobs))
        for sha, raw in contents.items():
            where = f"{blobs[sha]} (in history)"
            try:
                data = yamlio.loads(raw.decode("utf-8"), where)
                pointer = DataPointer.from_dict(data, where)
            except (RelstateError, UnicodeDecodeError):
                continue  # an old broken pointer references nothing we can keep
            found.setdefault(pointer.hash, Recorded(where, pointer))
    if work_tree:
        for t in pointers.load_all(repo):
            found.setdefault(t.pointer.hash, Recorded(t.pointer_rel, t.pointer))
    return list(found.values())


@dataclass
class ObjectSet:
    """Every object a set of pointers needs; listings whose content is unknown are noted."""

    files: set[str]
    listings: set[str]
    unknown_listings: list[Recorded]

    @property
    def all(self) -> set[str]:
        return self.files | self.listings


def needed_objects(repo: Repo, recorded: Iterable[Recorded]) -> ObjectSet:
    """Objects referenced by ``recorded``; directory listings are read from the cache."""
    result = ObjectSet(set(), set(), [])
    for rec in recorded:
        hex_ = hashing.hex_of(rec.pointer.hash)
        if not rec.pointer.is_dir:
            result.files.add(hex_)
            continue
        result.listings.add(hex_)
        try:
            manifest = pointers.load_manifest(repo, rec.pointer.hash, rec.where)
        except RelstateError:
            result.unknown_listings.append(rec)
            continue
        result.files.update(e.hex for e in manifest.entries.values())
    return result
