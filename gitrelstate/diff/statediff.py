"""Comparing two states layer by layer; the result is the plain ``diff --json`` document.

Renderers (``diffrender``) only format this document, so the terminal view, the
JSON and the Markdown comment can never disagree about what changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gitrelstate import git, hashing
from gitrelstate.diff.states import State
from gitrelstate.errors import RelstateError
from gitrelstate.runs import codestate, graph
from gitrelstate.state.manifest import Entry, Manifest, changed_entries
from gitrelstate.state.record import Artifact, RunRecord

# Most important first: what a reviewer looks at before anything else.
LAYERS = ("model", "metrics", "data", "pipeline", "environment", "code")
FORMAT = 1

ListingSource = Callable[[str], "bytes | None"]


def diff_states(
    a: State, b: State, layers: Sequence[str] = LAYERS, listings: ListingSource | None = None
) -> dict[str, Any]:
    """The ``diff --json`` document for ``a`` → ``b`` over ``layers``."""
    unknown = sorted(set(layers) - set(LAYERS))
    if unknown:
        raise RelstateError(
            f"unknown layer(s): {', '.join(unknown)}", hint=f"choose from {', '.join(LAYERS)}"
        )
    compute: dict[str, Callable[[], dict[str, Any]]] = {
        "model": lambda: model_layer(a, b),
        "metrics": lambda: metrics_layer(a.metrics, b.metrics),
        "data": lambda: data_layer(a, b, listings or (lambda _h: None)),
        "pipeline": lambda: pipeline_layer(a, b),
        "environment": lambda: environment_layer(a, b),
        "code": lambda: code_layer(a, b),
    }
    result: dict[str, Any] = {
        "format": FORMAT,
        "a": {"label": a.label, **a.describe()},
        "b": {"label": b.label, **b.describe()},
        "changed": False,
        "layers": {},
    }
    for layer in LAYERS:
        if layer in layers:
            result["layers"][layer] = compute[layer]()
    result["changed"] = any(layer["changed"] for layer in result["layers"].values())
    return result


# -- model ---------------------------------------------------------------------


def model_layer(a: State, b: State) -> dict[str, Any]:
    old = a.model.to_dict() if a.model else None
    new = b.model.to_dict() if b.model else None
    out: dict[str, Any] = {"changed": old != new, "old": old, "new": new}
    if old and new and old.get("size") is not None and new.get("size") is not None:
        out["size_delta"] = new["size"] - old["size"]
    return out


# -- metrics -------------------------------------------------------------------


def metrics_layer(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    changes = []
    for file in sorted(set(old) | set(new)):
        a, b = old.get(file, {}), new.get(file, {})
        for key in sorted(set(a) | set(b)):
            x, y = a.get(key), b.get(key)
            if key in a and key in b and x == y:
                continue
            changes.append(
                {
                    "file": file,
                    "key": key,
                    "status": _status(key in a, key in b),
                    "old": x,
                    "new": y,
                    "delta": _delta(x, y),
                }
            )
    return {"changed": bool(changes), "metrics": changes}


def _delta(old: Any, new: Any) -> float | int | None:
    numbers = (int, float)
    if isinstance(old, bool) or isinstance(new, bool):
        return None
    if isinstance(old, numbers) and isinstance(new, numbers):
        delta = new - old
        if isinstance(delta, float):
            if not math.isfinite(delta):
                return None
            return round(delta, 12)
        return delta
    return None


def _status(in_old: bool, in_new: bool) -> str:
    if in_old and in_new:
        return "changed"
    return "added" if in_new else "removed"


# -- data ----------------------------------------------------------------------


def data_layer(a: State, b: State, listings: ListingSource) -> dict[str, Any]:
    old, new = a.data, b.data
    paths: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    modified: list[dict[str, Any]] = []
    incomplete: list[str] = []

    def listing(state: State, art: Artifact | None) -> bytes | None:
        if art is None or art.nfiles is None:
            return None
        if art.hash in state.manifests:
            return state.manifests[art.hash].to_bytes()
        return listings(art.hash)

    for path in sorted(set(old) | set(new)):
        x, y = old.get(path), new.get(path)
        if x is not None and y is not None and x.hash == y.hash:
            continue
        status = "modified" if x is not None and y is not None else ("added" if y else "removed")
        entry: dict[str, Any] = {
            "path": path,
            "status": status,
            "old": x.to_dict() if x else None,
            "new": y.to_dict() if y else None,
            "details": True,
        }
        paths.append(entry)
        raw_x, raw_y = listing(a, x), listing(b, y)
        missing = [
            state.label
            for state, art, raw in ((a, x, raw_x), (b, y, raw_y))
            if art is not None and art.nfiles is not None and raw is None
        ]
        if missing:
            entry["details"] = False
            incomplete.append(
                f"{path}: per-file changes not shown (the folder listing of "
                f"{' and '.join(missing)} is not in the cache and no remote could provide it)"
            )
            continue
        gone, came = _file_entries(path, x, raw_x, y, raw_y)
        _per_file(gone, came, added, removed, modified)
    renamed = _pair_renames(added, removed)
    summary = {
        "paths": len(paths),
        "added": len(added),
        "removed": len(removed),
        "modified": len(modified),
        "renamed": len(renamed),
        "bytes_added": sum(f["size"] for f in added),
        "bytes_removed": sum(f["size"] for f in removed),
    }
    return {
        "changed": bool(paths),
        "summary": summary,
        "paths": paths,
        "added": added,
        "removed": removed,
        "modified": modified,
        "renamed": renamed,
        "incomplete": incomplete,
    }


FileEntries = dict[str, tuple[str, int]]


def _file_entries(
    path: str, x: Artifact | None, raw_x: bytes | None, y: Artifact | None, raw_y: bytes | None
) -> tuple[FileEntries, FileEntries]:
    """(repo path -> (content id, size)) of the files that differ, on each side."""
    source = f"listing of {path}"
    if raw_x is not None and raw_y is not None:
        gone, came = changed_entries(raw_x, raw_y, source)
        return _named(path, gone), _named(path, came)
    return _side(path, x, raw_x, source), _side(path, y, raw_y, source)


def _side(path: str, art: Artifact | None, raw: bytes | None, source: str) -> FileEntries:
    if art is None:
        return {}
    if raw is None:
        return {path: (art.hash, art.size)}
    return _named(path, Manifest.from_bytes(raw, source).entries)


def _named(path: str, entries: Mapping[str, Entry]) -> FileEntries:
    prefix = path + "/"
    return {prefix + name: (hashing.content_id(e.hex), e.size) for name, e in entries.items()}


def _per_file(
    gone: FileEntries,
    came: FileEntries,
    added: list[dict[str, Any]],
    removed: list[dict[str, Any]],
    modified: list[dict[str, Any]],
) -> None:
    for name, (cid, size) in sorted(came.items()):
        before = gone.get(name)
        if before is None:
            added.append({"path": name, "size": size, "hash": cid})
        elif before[0] != cid:
            modified.append(
                {
                    "path": name,
                    "old_size": before[1],
                    "new_size": size,
                    "old_hash": before[0],
                    "new_hash": cid,
                }
            )
    for name, (cid, size) in sorted(gone.items()):
        if name not in came:
            removed.append({"path": name, "size": size, "hash": cid})


def _pair_renames(
    added: list[dict[str, Any]], removed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A file removed in one place and added with the same content elsewhere was moved."""
    by_hash: dict[str, list[int]] = {}
    for i, f in enumerate(removed):
        by_hash.setdefault(f["hash"], []).append(i)
    renamed = []
    taken_added: set[int] = set()
    taken_removed: set[int] = set()
    for j, f in enumerate(added):
        candidates = by_hash.get(f["hash"])
        if candidates:
            i = candidates.pop(0)
            taken_added.add(j)
            taken_removed.add(i)
            renamed.append({"from": removed[i]["path"], "to": f["path"], "size": f["size"]})
    added[:] = [f for j, f in enumerate(added) if j not in taken_added]
    removed[:] = [f for i, f in enumerate(removed) if i not in taken_removed]
    return renamed


# -- pipeline ------------------------------------------------------------------


def pipeline_layer(a: State, b: State) -> dict[str, Any]:
    old, new = a.runs, b.runs
    stages_changed = []
    for name in sorted(set(old) & set(new)):
        changes = _stage_changes(old[name], new[name])
        if changes:
            stages_changed.append({"name": name, "changes": changes})
    params = []
    pa, pb = a.params, b.params
    for file in sorted(set(pa) | set(pb)):
        x, y = pa.get(file, {}), pb.get(file, {})
        for key in sorted(set(x) | set(y)):
            if key in x and key in y and x[key] == y[key]:
                continue
            params.append(
                {
                    "file": file,
                    "key": key,
                    "status": _status(key in x, key in y),
                    "old": x.get(key),
                    "new": y.get(key),
                }
            )
    stages = {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": stages_changed,
    }
    changed = bool(stages["added"] or stages["removed"] or stages_changed or params)
    return {"changed": changed, "stages": stages, "params": params, "graph": _graph(b)}


def _stage_changes(old: RunRecord, new: RunRecord) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    if old.command != new.command:
        changes.append({"field": "command", "old": list(old.command), "new": list(new.command)})
    if old.wdir != new.wdir:
        changes.append({"field": "wdir", "old": old.wdir, "new": new.wdir})
    for field_name, x, y in (("deps", old.deps, new.deps), ("outs", old.outs, new.outs)):
        px, py = {d.path for d in x}, {d.path for d in y}
        if px != py:
            changes.append(
                {"field": field_name, "added": sorted(py - px), "removed": sorted(px - py)}
            )
    return changes


def _graph(state: State) -> list[dict[str, Any]]:
    """Stage edges of ``state``: which stage feeds which (through an output path)."""
    records = list(state.runs.values())
    edges = []
    for record in records:
        for upstream in graph.upstream_of(records, record):
            edges.append({"from": upstream.name, "to": record.name})
    return sorted(edges, key=lambda e: (e["from"], e["to"]))


# -- environment ---------------------------------------------------------------


def environment_layer(a: State, b: State) -> dict[str, Any]:
    from gitrelstate.environment.envdiff import compare_environments

    env_a, where_a = a.environment
    env_b, where_b = b.environment
    sources = {"old": where_a, "new": where_b}
    if env_a is None or env_b is None:
        missing = [w for env, w in ((env_a, where_a), (env_b, where_b)) if env is None]
        return {"changed": False, "sources": sources, "unavailable": missing}
    diff = compare_environments(env_a, env_b)
    return {"changed": bool(diff), "sources": sources, **diff.to_dict(), "lines": diff.lines()}


# -- code ----------------------------------------------------------------------


def code_layer(a: State, b: State) -> dict[str, Any]:
    repo = a.repo
    old_code, new_code = a.code, b.code
    ca, cb = old_code.get("commit"), new_code.get("commit")
    out: dict[str, Any] = {
        "old": _code_summary(old_code),
        "new": _code_summary(new_code),
        "commits": [],
        "files": [],
    }
    if not isinstance(ca, str) or not isinstance(cb, str):
        out["changed"] = ca != cb
        return out
    if ca != cb:
        log = git.run(
            repo.root, ["log", "--format=%H%x00%s", "-n", "200", f"{ca}..{cb}"], check=False
        )
        for line in log.splitlines():
            sha, _, subject = line.partition("\0")
            out["commits"].append({"commit": sha, "subject": subject})
        behind = git.run(repo.root, ["rev-list", "--count", f"{cb}..{ca}"], check=False).strip()
        ahead = git.run(repo.root, ["rev-list", "--count", f"{ca}..{cb}"], check=False).strip()
        out["ahead"] = int(ahead or 0)
        out["behind"] = int(behind or 0)
    # The work tree on either side means its uncommitted edits count too.
    if b.kind == "worktree":
        revs = [ca]
    elif a.kind == "worktree":
        revs = ["-R", cb]
    else:
        revs = [ca, cb]
    if "worktree" in (a.kind, b.kind) or ca != cb:
        out["files"] = _changed_files(repo.root, revs)
    dirty_differs = old_code.get("diff") != new_code.get("diff")
    out["changed"] = bool(out["files"] or out["commits"] or dirty_differs)
    return out


def _code_summary(code: Mapping[str, Any]) -> dict[str, Any]:
    out = {"commit": code.get("commit"), "dirty": bool(code.get("dirty"))}
    if code.get("diff"):
        out["diff"] = code["diff"]
    return out


def _changed_files(root: Any, revs: Iterable[str]) -> list[dict[str, str]]:
    out = git.run(
        root,
        ["diff", "--name-status", "-z", "-M", *revs, "--", ".", *codestate.NOT_CODE],
        check=False,
    )
    fields = out.split("\0")
    files = []
    i = 0
    while i + 1 < len(fields):
        status = fields[i]
        if status[:1] in ("R", "C"):
            files.append({"path": fields[i + 2], "status": "renamed", "from": fields[i + 1]})
            i += 3
            continue
        word = {"A": "added", "D": "deleted", "M": "modified", "T": "type changed"}
        files.append({"path": fields[i + 1], "status": word.get(status[:1], status)})
        i += 2
    return files
