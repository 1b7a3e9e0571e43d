"""``dvc.lock`` (what each stage last ran with and made) and ``.dvc`` files (``dvc add``)."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitrelstate.dvcimport.dvchash import DvcHash
from gitrelstate.dvcimport.dvcyaml import join
from gitrelstate.errors import RelstateError
from gitrelstate.guard import limits
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio


@dataclass(frozen=True)
class LockEntry:
    """One stage's entry: paths as written in dvc.yaml (relative to its wdir)."""

    cmd: Any
    deps: Mapping[str, DvcHash | None] = field(default_factory=dict)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    outs: Mapping[str, DvcHash | None] = field(default_factory=dict)


def read_lock(repo: Repo, lock_rel: str) -> dict[str, LockEntry]:
    """The entries of a dvc.lock by stage name (empty when there is none)."""
    path = repo.root / lock_rel
    if not path.is_file():
        return {}
    real = repo.resolve_inside(lock_rel, lock_rel)
    doc = yamlio.loads(
        limits.read_capped(real, limits.STATE_FILE, lock_rel), lock_rel, text_keys=True
    )
    if doc is None:
        return {}
    if not isinstance(doc, dict) or "schema" not in doc:
        raise RelstateError(
            f"{lock_rel}: a DVC 1 lock file (no 'schema'), which import-dvc does not read",
            hint="run 'dvc repro' once with DVC 2 or 3 to rewrite it, then import again",
        )
    if str(doc.get("schema")) != "2.0":
        raise RelstateError(f"{lock_rel}: lock schema {doc.get('schema')!r} is not 2.0")
    stages = doc.get("stages") or {}
    if not isinstance(stages, dict):
        raise RelstateError(f"{lock_rel}: 'stages' must be a mapping")
    found = {}
    for name, entry in stages.items():
        where = f"{lock_rel}: stage '{name}'"
        if not isinstance(entry, dict):
            raise RelstateError(f"{where}: must be a mapping")
        params = entry.get("params") or {}
        found[str(name)] = LockEntry(
            cmd=entry.get("cmd"),
            deps=_hashes(entry.get("deps"), where),
            params={str(f): dict(v) for f, v in params.items() if isinstance(v, dict)}
            if isinstance(params, dict)
            else {},
            outs=_hashes(entry.get("outs"), where),
        )
    return found


def _hashes(items: Any, where: str) -> dict[str, DvcHash | None]:
    found: dict[str, DvcHash | None] = {}
    for item in items or []:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            found[item["path"]] = DvcHash.of(item, where)
    return found


@dataclass(frozen=True)
class Added:
    """One output of a ``.dvc`` file (``dvc add``)."""

    path: str  # repo-relative
    dvcfile: str
    hash: DvcHash | None
    cache: bool


def read_dvcfile(repo: Repo, rel: str) -> list[Added]:
    """The outputs a ``.dvc`` file tracks; one that imports from elsewhere or runs a
    command (``dvc import``, DVC 1 stage files) is refused with a message."""
    real = repo.resolve_inside(rel, rel)
    doc = yamlio.loads(limits.read_capped(real, limits.POINTER, rel), rel, text_keys=True)
    if not isinstance(doc, dict):
        raise RelstateError(f"{rel}: not a .dvc file")
    if doc.get("cmd") or doc.get("deps"):
        raise RelstateError(
            f"{rel}: a DVC stage or import file (it has 'cmd' or 'deps'), which import-dvc "
            "does not convert",
            hint="'dvc import'/'import-url' data: download it and track it with "
            "'git relstate track'; DVC 1 stage files: move them to dvc.yaml first",
        )
    folder = posixpath.dirname(rel)
    found = []
    for out in doc.get("outs") or []:
        if not isinstance(out, dict) or not isinstance(out.get("path"), str):
            raise RelstateError(f"{rel}: each output needs a 'path'")
        found.append(
            Added(
                join(folder, out["path"], rel),
                rel,
                DvcHash.of(out, rel),
                out.get("cache", True) is not False,
            )
        )
    return found
