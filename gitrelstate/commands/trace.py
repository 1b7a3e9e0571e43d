"""``git relstate trace PATH|HASH``: which runs and releases produced this content."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gitrelstate import git, hashing, ui
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.runs.traceindex import Production, TraceIndex
from gitrelstate.state import yamlio
from gitrelstate.workspace import pointers, tracking

_ID = re.compile(r"(?:blake3:)?([0-9a-f]{64})")


def resolve_content_id(repo: Repo, cwd: Path, target: str) -> tuple[str, str]:
    """(content id, how it was found) for a path in the work tree or a hash."""
    match = _ID.fullmatch(target)
    if match:
        return hashing.content_id(match.group(1)), "given hash"
    path = cwd / target
    if path.exists():
        return tracking.snapshot(repo, path, store=False).hash, "content of the file now"
    pointer_rel = pointers.pointer_rel_for(repo.relpath(path))
    if repo.abspath(pointer_rel).exists():
        return pointers.load(repo, pointer_rel).pointer.hash, f"pointer {pointer_rel}"
    raise RelstateError(
        f"{target} is neither a file here nor a content hash",
        hint="give a path (file or folder) or a hash like blake3:<64 hex>",
    )


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
    try:
        content_id, how = resolve_content_id(repo, cwd, target)
        index.update()
        hits = index.lookup(content_id)
        details = [(hit, _conditions(repo, hit)) for hit in hits]
    finally:
        index.close()
    if as_json:
        ui.result(
            json.dumps(
                {
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
                },
                indent=2,
                default=str,
            )
        )
        return 0 if hits else 1
    if not hits:
        ui.result(f"{content_id} ({how}): no run or release in this repository produced it")
        return 1
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
        code = doc.get("code") or {}
        if code.get("commit"):
            dirty = " (dirty)" if code.get("dirty") else ""
            ui.result(f"      code:    {str(code['commit'])[:12]}{dirty}")
        for dep in doc.get("deps") or []:
            ui.result(f"      input:   {dep.get('path')} {str(dep.get('hash'))[:19]}…")
        for file, params in (doc.get("params") or {}).items():
            shown = ", ".join(f"{k}={v}" for k, v in list(params.items())[:6])
            ui.result(f"      params:  {file}: {shown}")
    return 0
