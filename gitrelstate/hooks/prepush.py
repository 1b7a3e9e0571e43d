"""The pre-push hook: upload the data the pushed commits need, before git sends them.

Git tells the hook which refs it is about to update (``<local ref> <local sha>
<remote ref> <remote sha>`` lines on stdin). The objects to upload are those
named by the data pointers (and the outputs of run records) in the commits the
remote does not have yet, plus the pointers at each pushed tip; the transfer
engine then sends only what the data remote lacks. A failed upload aborts the
push, so a commit never reaches the git remote without its data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitrelstate import git, hashing
from gitrelstate.errors import RelstateError
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.state import yamlio
from gitrelstate.state.pointer import SUFFIX, DataPointer, parse_canonical
from gitrelstate.state.record import RunRecord
from gitrelstate.workspace.pointers import Tracked

if TYPE_CHECKING:
    pass

_NULL = re.compile(r"0+")


@dataclass(frozen=True)
class RefUpdate:
    """One ref git is about to update on the remote."""

    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @property
    def deletes(self) -> bool:
        return bool(_NULL.fullmatch(self.local_sha))

    @property
    def creates(self) -> bool:
        return bool(_NULL.fullmatch(self.remote_sha))


def parse_updates(text: str) -> list[RefUpdate]:
    """The lines git writes to a pre-push hook's stdin."""
    updates = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 4:
            updates.append(RefUpdate(*fields))
    return updates


def updates_from_environment(environ: Mapping[str, str]) -> list[RefUpdate]:
    """The update the pre-commit framework describes in its PRE_COMMIT_* variables
    (it passes on the first ref of a push only; for a push that starts at the root
    commit it names the local branch but no revisions)."""
    to_ref = environ.get("PRE_COMMIT_TO_REF") or environ.get("PRE_COMMIT_LOCAL_BRANCH", "")
    if not to_ref:
        return []
    from_ref = environ.get("PRE_COMMIT_FROM_REF", "") or "0" * 40
    local = environ.get("PRE_COMMIT_LOCAL_BRANCH", "") or "HEAD"
    remote = environ.get("PRE_COMMIT_REMOTE_BRANCH", "") or local
    return [RefUpdate(local, to_ref, remote, from_ref)]


def check_pushed_notes(repo: Repo, git_remote: str | None, updates: Sequence[RefUpdate]) -> None:
    """Refuse a push that sends environment notes holding secrets (``git push origin
    refs/notes/relstate`` by hand; the automatic notes push checks its own). The notes ref
    is redacted first (and merged with the remote's notes), so pushing again sends clean
    ones."""
    from gitrelstate.environment import envnotes, notescan

    for u in updates:
        if u.deletes or not u.local_ref.startswith("refs/notes/"):
            continue
        public = [] if u.creates else [u.remote_sha]
        if u.local_ref != envnotes.NOTES_REF:
            if notescan.clean_notes(repo, u.local_sha, public=public, dry_run=True):
                raise RelstateError(
                    f"the notes in {u.local_ref} hold what looks like secrets",
                    hint=f"do not push them; delete the ref: git update-ref -d {u.local_ref}",
                )
            continue
        cleaned = notescan.clean_notes(repo, u.local_sha, public=public)
        if not cleaned:
            continue
        if git_remote and not u.creates:
            envnotes.fetch_notes(repo, git_remote)  # so that the next push fast-forwards
        raise RelstateError(
            f"the environment notes being pushed held what looks like secrets ({cleaned[0]}"
            f"{f' and {len(cleaned) - 1} more' if len(cleaned) > 1 else ''}); they are now "
            f"redacted in {envnotes.NOTES_REF}",
            hint="push the notes again: the redacted ones will go",
        )


def data_to_push(repo: Repo, git_remote: str | None, updates: Sequence[RefUpdate]) -> list[Tracked]:
    """The tracked data the pushed commits need (each object once). Refuses notes that
    hold secrets (:func:`check_pushed_notes`)."""
    check_pushed_notes(repo, git_remote, updates)
    tips = [u.local_sha for u in updates if not u.deletes and not _is_notes(u.local_ref)]
    if not tips:
        return []
    known = [u.remote_sha for u in updates if not u.creates and _have_commit(repo, u.remote_sha)]
    excluded = [*known]
    if git_remote and git_remote in git.run(repo.root, ["remote"], check=False).split():
        excluded.append(f"--remotes={git_remote}")
    # Objects of the commits the remote lacks (a pointer or record changed there)...
    revs = [*tips, "--not", *excluded] if excluded else tips
    pointer_blobs: dict[str, str] = {}
    record_blobs: dict[str, str] = {}
    for line in git.run(repo.root, ["rev-list", "--objects", *revs, "--"]).splitlines():
        sha, _, path = line.partition(" ")
        _classify(sha, path, pointer_blobs, record_blobs)
    # ...and the pointers at each tip, so data a remote somehow lacks is sent again.
    for tip in dict.fromkeys(tips):
        for entry in git.run(repo.root, ["ls-tree", "-r", "-z", tip]).split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 3 and fields[1] == "blob":
                _classify(fields[2], path, pointer_blobs, record_blobs)
    contents = git.read_blobs(repo.root, [*pointer_blobs, *record_blobs])
    found: dict[str, Tracked] = {}
    for sha, path in pointer_blobs.items():
        pointer = _pointer(contents.get(sha), path)
        if pointer is not None:
            folder = path.rpartition("/")[0]
            data_rel = f"{folder}/{pointer.path}" if folder else pointer.path
            found.setdefault(pointer.hash, Tracked(path, data_rel, pointer))
    for t in _record_outputs(repo, contents, record_blobs):
        found.setdefault(t.pointer.hash, t)
    return list(found.values())


def _is_notes(ref: str) -> bool:
    return ref.startswith("refs/notes/")


def _have_commit(repo: Repo, sha: str) -> bool:
    out = git.run(repo.root, ["cat-file", "-t", sha], check=False).strip()
    return out == "commit"


def _classify(sha: str, path: str, pointer_blobs: dict[str, str], records: dict[str, str]) -> None:
    if path.endswith(SUFFIX):
        pointer_blobs.setdefault(sha, path)
    elif path.startswith(f"{RUNS_DIR}/") and path.endswith(".yaml") and path.count("/") == 2:
        records.setdefault(sha, path)


def _pointer(raw: bytes | None, where: str) -> DataPointer | None:
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8")
        doc = parse_canonical(text) or yamlio.loads(text, where)
        return DataPointer.from_dict(doc, where)
    except (RelstateError, UnicodeDecodeError):
        return None  # the pre-commit check keeps broken pointers out; skip old ones


def _record_outputs(
    repo: Repo, contents: Mapping[str, bytes], record_blobs: Mapping[str, str]
) -> Iterable[Tracked]:
    """What recorded runs used and made, where this cache has it (Git-tracked code
    files, which runs hash but do not store, are not)."""
    for sha, path in record_blobs.items():
        raw = contents.get(sha)
        if raw is None:
            continue
        try:
            record = RunRecord.from_dict(yamlio.loads(raw.decode("utf-8"), path), path)
        except (RelstateError, UnicodeDecodeError):
            continue
        for artifact in (*record.deps, *record.outs):
            if not repo.cache.exists(hashing.hex_of(artifact.hash)):
                continue
            name = artifact.path.rpartition("/")[2]
            pointer = DataPointer(name, artifact.hash, artifact.size, artifact.nfiles)
            yield Tracked(f"{path} ({artifact.path})", artifact.path, pointer)


def upload(repo: Repo, tracked: Sequence[Tracked]) -> tuple[str, int, int] | None:
    """Upload what the default data remote lacks; return (remote shown, sent, present),
    or None when no default remote is configured. Raises RelstateError on failure."""
    from gitrelstate.remotes import transfer
    from gitrelstate.remotes.remote import resolve as resolve_remote

    if repo.config.default_remote is None:
        return None
    with repo.locked(shared=True):
        remote = resolve_remote(repo, None)
        wanted = {hashing.hex_of(t.pointer.hash) for t in tracked}
        on_remote = transfer.existing(remote, wanted) if wanted else set()
        # A listing on the remote means all its files are there (it is uploaded last).
        todo = [t for t in tracked if hashing.hex_of(t.pointer.hash) not in on_remote]
        sent, present = (
            transfer.push(repo, remote, todo, transfer.default_jobs(remote)) if todo else (0, 0)
        )
    return remote.shown, sent, present + len(tracked) - len(todo)
