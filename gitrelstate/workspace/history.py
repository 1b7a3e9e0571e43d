"""Pointers as recorded in Git history (for verify and gc), not just the work tree."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from gitrelstate import fsutil, git, hashing
from gitrelstate.errors import RelstateError
from gitrelstate.guard import limits
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio
from gitrelstate.state.pointer import SUFFIX, DataPointer, parse_canonical
from gitrelstate.state.record import Artifact
from gitrelstate.store import parsed
from gitrelstate.workspace import pointers


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
        blobs = within_cap(repo, git.blobs_matching(repo.root, revs, SUFFIX), limits.POINTER)
        contents = git.read_blobs(repo.root, list(blobs))
        for sha, raw in contents.items():
            where = f"{blobs[sha]} (in history)"
            try:
                text = raw.decode("utf-8", "replace")
                data = parse_canonical(text) or yamlio.loads(raw, where, cap=limits.POINTER)
                pointer = DataPointer.from_dict(data, where)
            except RelstateError:
                continue  # an old broken pointer references nothing we can keep
            found.setdefault(pointer.hash, Recorded(where, pointer))
    if work_tree:
        for t in pointers.load_all(repo):
            found.setdefault(t.pointer.hash, Recorded(t.pointer_rel, t.pointer))
    return list(found.values())


def release_pointers(repo: Repo, revs: Sequence[str], *, work_tree: bool) -> list[Recorded]:
    """The content every release file in ``revs`` (and, with ``work_tree``, in the work
    tree) binds, as pointers: a release keeps its objects alive even after the
    pointers that once named them are gone from every branch."""
    from gitrelstate.state.release import RELEASES_DIR, Release

    def artifacts(doc: object, where: str) -> list[Artifact]:
        # Content only, not releases.registry's checks: an edited release still keeps
        # the objects it names alive (gc errs on the side of keeping).
        return Release.from_dict(doc, where).artifacts()

    return _state_file_pointers(repo, revs, work_tree, RELEASES_DIR, artifacts, limits.RELEASE)


def run_pointers(repo: Repo, revs: Sequence[str], *, work_tree: bool) -> list[Recorded]:
    """The data every run record in ``revs`` (and the work tree) used and made, so that
    ``checkout --run`` and ``reproduce`` still find it after the pointers moved on.
    Dependencies Git carries itself (code) have no object and are left out."""
    from gitrelstate.repo import RUNS_DIR
    from gitrelstate.state.record import RunRecord

    def artifacts(doc: object, where: str) -> list[Artifact]:
        record = RunRecord.from_dict(doc, where)
        deps = [d for d in record.deps if not git.is_tracked(repo.root, d.path)]
        return [*record.outs, *deps]

    return _state_file_pointers(repo, revs, work_tree, RUNS_DIR, artifacts, limits.RECORD)


def _state_file_pointers(
    repo: Repo,
    revs: Sequence[str],
    work_tree: bool,
    folder_rel: str,
    artifacts_of: Callable[[object, str], list[Artifact]],
    cap: limits.Cap,
) -> list[Recorded]:
    docs: list[tuple[str, bytes]] = []
    if revs and git.has_commits(repo.root):
        blobs = git.blobs_matching(repo.root, revs, ".yaml")
        wanted = {sha: path for sha, path in blobs.items() if path.startswith(folder_rel + "/")}
        wanted = within_cap(repo, wanted, cap)
        for sha, raw in git.read_blobs(repo.root, list(wanted)).items():
            docs.append((f"{wanted[sha]} (in history)", raw))
    if work_tree:
        folder = repo.abspath(folder_rel)
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                if not fsutil.is_tmp_name(path.name):
                    where = f"{folder_rel}/{path.name}"
                    try:
                        docs.append((where, limits.read_capped(path, cap, where)))
                    except RelstateError:
                        continue
    found: dict[str, Recorded] = {}
    kept = parsed.folder_of(repo.private_dir)
    for where, raw in docs:
        try:
            found_artifacts = artifacts_of(parsed.loads(kept, raw, where, cap=cap), where)
        except RelstateError:
            continue
        for artifact in found_artifacts:
            name = artifact.path.rpartition("/")[2]
            pointer = DataPointer(name, artifact.hash, artifact.size, artifact.nfiles)
            found.setdefault(pointer.hash, Recorded(f"{where}: {artifact.path}", pointer))
    return list(found.values())


def within_cap(repo: Repo, blobs: dict[str, str], cap: limits.Cap) -> dict[str, str]:
    """The blobs no larger than ``cap``, asked of git before any is read: a file over
    the cap cannot be a valid state file, and reading it would cost its size."""
    if not blobs:
        return blobs
    out = git.run(
        repo.root, ["cat-file", "--batch-check"], input="".join(f"{s}\n" for s in blobs).encode()
    )
    small = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] == "blob" and int(fields[2]) <= cap.max_bytes:
            small.add(fields[0])
    return {sha: path for sha, path in blobs.items() if sha in small}


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
        if hex_ in result.listings:
            continue  # the same listing named again (by a release, another commit): read once
        result.listings.add(hex_)
        try:
            manifest = pointers.load_manifest(repo, rec.pointer.hash, rec.where)
        except RelstateError:
            result.unknown_listings.append(rec)
            continue
        result.files.update(e.hex for e in manifest.entries.values())
    return result
