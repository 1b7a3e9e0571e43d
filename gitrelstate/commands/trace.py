"""``git relstate trace PATH|HASH``: which runs and releases produced this content."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitrelstate import git, hashing, ui
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.runs import codestate
from gitrelstate.runs.traceindex import Production, TraceIndex
from gitrelstate.state import yamlio
from gitrelstate.workspace import pointers, tracking

_FULL = re.compile(r"(?:blake3:)?([0-9a-fA-F]{64})")
# The tool prints 12 to 19 characters of a hash: any unique prefix of 8 or more digits.
_PREFIX = re.compile(r"(?:blake3:)?([0-9a-fA-F]{8,63})")


@dataclass(frozen=True)
class Target:
    """What is traced: a content id, how it was found, and the file it came from."""

    content_id: str
    how: str
    path: Path | None = None  # the file or folder in the work tree, when one was given


@dataclass(frozen=True)
class Inside:
    """A file traced through the output folder it lies in."""

    folder: str  # repo-relative
    file: str  # relative to the folder
    folder_hash: str
    recorded: bool | None  # the file's content is the listing's (None: listing not here)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "file": self.file,
            "folder_hash": self.folder_hash,
            "matches_recorded": self.recorded,
        }


def resolve_content_id(repo: Repo, cwd: Path, target: str, index: TraceIndex) -> Target:
    """The content ``target`` names: a hash (or a unique prefix of 8+ hex digits, with or
    without ``blake3:``), a path in the work tree, or a tracked path's pointer."""
    full = _FULL.fullmatch(target)
    if full:
        return Target(hashing.content_id(full.group(1).lower()), "given hash")
    path = cwd / target
    if path.exists():
        snap = tracking.snapshot(repo, path, store=False)
        return Target(snap.hash, "content of the file now", path)
    pointer_rel = pointers.pointer_rel_for(repo.relpath(path))
    if repo.abspath(pointer_rel).exists():
        return Target(pointers.load(repo, pointer_rel).pointer.hash, f"pointer {pointer_rel}")
    prefix = _PREFIX.fullmatch(target)
    if prefix:
        return _from_prefix(prefix.group(1).lower(), index)
    raise RelstateError(
        f"{target} is neither a file here nor a content hash",
        hint="give a path (file or folder) or a hash: blake3:<hex>, or 8 or more of its "
        "first hex digits",
    )


def _from_prefix(prefix: str, index: TraceIndex) -> Target:
    found = index.matching(prefix)
    if len(found) == 1:
        return Target(found[0], f"the only produced content starting with {prefix}")
    if not found:
        raise RelstateError(
            f"no run or release in this repository produced content starting with {prefix}",
            hint="give the path of the file, or a longer hash ('git relstate list' shows runs)",
        )
    shown = ", ".join(h[len("blake3:") :][:16] for h in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    raise RelstateError(
        f"{prefix} is ambiguous: {len(found)} produced contents start with it ({shown}{more})",
        hint="give more hex digits of the hash",
    )


def _enclosing_output(
    repo: Repo, target: Target, index: TraceIndex
) -> tuple[Inside, list[Production]] | None:
    """The output folder a file lies in, when a run or release produced that folder."""
    if target.path is None or not target.path.is_file():
        return None
    rel = repo.relpath(target.path)
    parts = rel.split("/")
    for depth in range(len(parts) - 1, 0, -1):
        folder = "/".join(parts[:depth])
        for folder_hash in _folder_hashes(repo, folder):
            hits = index.lookup(folder_hash)
            if hits:
                name = "/".join(parts[depth:])
                inside = Inside(
                    folder,
                    name,
                    folder_hash,
                    _in_listing(repo, folder, folder_hash, name, target.content_id),
                )
                return inside, hits
    return None


def _folder_hashes(repo: Repo, folder: str) -> list[str]:
    """What a tracked ``folder`` is: its pointer's content id, then its content now (an
    untracked folder is nothing a run recorded as an output: no hash, nothing read)."""
    pointer_rel = pointers.pointer_rel_for(folder)
    if not repo.abspath(pointer_rel).is_file():
        return []
    try:
        found = [pointers.load(repo, pointer_rel).pointer.hash]
    except RelstateError:
        found = []
    now = tracking.snapshot(repo, repo.abspath(folder), store=False).hash
    return found + ([now] if now not in found else [])


def _in_listing(
    repo: Repo, folder: str, folder_hash: str, name: str, content_id: str
) -> bool | None:
    try:
        manifest = pointers.load_manifest(repo, folder_hash, folder)
    except RelstateError:
        return None
    entry = manifest.entries.get(name)
    return entry is not None and hashing.content_id(entry.hex) == content_id


def _conditions(repo: Repo, hit: Production) -> dict[str, Any]:
    """The producing record in full (from the commit, or the work tree)."""
    raw = None
    if hit.blob and hit.commit:
        raw = git.read_blobs(repo.root, [hit.blob]).get(hit.blob)
    if raw is None and (repo.root / hit.path).exists():
        raw = (repo.root / hit.path).read_bytes()
    if raw is None:
        return {}
    doc = yamlio.loads(raw.decode("utf-8"), hit.path)
    return doc if isinstance(doc, dict) else {}


def trace(repo: Repo, cwd: Path, target: str, *, as_json: bool) -> int:
    index = TraceIndex(repo)
    inside: Inside | None = None
    try:
        index.update()
        found = resolve_content_id(repo, cwd, target, index)
        hits = index.lookup(found.content_id)
        if not hits:
            enclosing = _enclosing_output(repo, found, index)
            if enclosing is not None:
                inside, hits = enclosing
        details = [(hit, _conditions(repo, hit)) for hit in hits]
    finally:
        index.close()
    content_id, how = found.content_id, found.how
    if as_json:
        doc: dict[str, Any] = {
            "hash": content_id,
            "found": bool(hits),
            "producers": [
                {
                    "kind": hit.kind,
                    "name": hit.name,
                    "record": hit.path,
                    "commit": hit.commit,
                    "date": hit.date,
                    "committed": hit.commit is not None,
                    "conditions": doc,
                }
                for hit, doc in details
            ],
        }
        if inside is not None:
            doc["inside"] = inside.to_dict()
        ui.result(json.dumps(doc, indent=2, default=str))
        return 0 if hits else 1
    if not hits:
        ui.result(f"{content_id} ({how}): no run or release in this repository produced it")
        return 1
    if inside is not None:
        agrees = {
            True: "its content is the one the folder's recorded listing names",
            False: "its content differs from the folder's recorded listing",
            None: "the folder's recorded listing is not in the cache to check the file",
        }[inside.recorded]
        ui.result(f"{content_id} ({how}) is the file {inside.file} inside the output folder")
        ui.result(
            f"{inside.folder} ({inside.folder_hash[:19]}…); {agrees}. The folder was produced by:"
        )
    else:
        ui.result(f"{content_id} ({how}) was produced by:")
    for hit, doc in details:
        where = (
            f"commit {hit.commit[:12]} ({hit.date})"
            if hit.commit
            else "the work tree (not committed)"
        )
        ui.result(f"  {hit.kind} '{hit.name}' — {hit.path} in {where}")
        if doc.get("command"):
            ui.result(f"      command: {' '.join(str(a) for a in doc['command'])}")
        commit, dirty = codestate.ran_at(repo, doc.get("code"))
        if commit:
            ui.result(f"      code:    {commit[:12]}{' (dirty)' if dirty else ''}")
        for dep in doc.get("deps") or []:
            ui.result(f"      input:   {dep.get('path')} {str(dep.get('hash'))[:19]}…")
        for file, params in (doc.get("params") or {}).items():
            shown = ", ".join(f"{k}={v}" for k, v in list(params.items())[:6])
            ui.result(f"      params:  {file}: {shown}")
    return 0
