"""Comparing two states layer by layer, into a :class:`~gitrelstate.diff.document.StateDiff`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitrelstate import git, hashing
from gitrelstate.diff.datalayer import DataFile, DataLayer, DataPath, ModifiedFile, RenamedFile
from gitrelstate.diff.document import (
    LAYERS,
    CodeFile,
    CodeLayer,
    CodeSide,
    EnvironmentLayer,
    Layer,
    MetricsLayer,
    ModelLayer,
    PipelineLayer,
    Side,
    StageChange,
    StageFieldChange,
    StateDiff,
    ValueChange,
)
from gitrelstate.diff.states import State
from gitrelstate.errors import RelstateError
from gitrelstate.runs import codestate, graph
from gitrelstate.state.manifest import Entry, Manifest, changed_entries
from gitrelstate.state.record import Artifact, RunRecord

ListingSource = Callable[[str], "bytes | None"]


def diff_states(
    a: State, b: State, layers: Sequence[str] = LAYERS, listings: ListingSource | None = None
) -> StateDiff:
    """``a`` → ``b`` over ``layers``."""
    unknown = sorted(set(layers) - set(LAYERS))
    if unknown:
        raise RelstateError(
            f"unknown layer(s): {', '.join(unknown)}", hint=f"choose from {', '.join(LAYERS)}"
        )
    compute: dict[str, Callable[[], Layer]] = {
        "model": lambda: model_layer(a, b),
        "metrics": lambda: metrics_layer(a.metrics, b.metrics),
        "data": lambda: data_layer(a, b, listings or (lambda _h: None)),
        "pipeline": lambda: pipeline_layer(a, b),
        "environment": lambda: environment_layer(a, b),
        "code": lambda: code_layer(a, b),
    }
    return StateDiff(
        _describe(a), _describe(b), {name: compute[name]() for name in LAYERS if name in layers}
    )


def _describe(state: State) -> Side:
    return Side.from_dict({"label": state.label, **state.describe()})


# -- model ---------------------------------------------------------------------


def model_layer(a: State, b: State) -> ModelLayer:
    return ModelLayer(
        a.model.to_dict() if a.model else None, b.model.to_dict() if b.model else None
    )


# -- metrics -------------------------------------------------------------------


def metrics_layer(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> MetricsLayer:
    changes = []
    for file in sorted(set(old) | set(new)):
        a, b = old.get(file, {}), new.get(file, {})
        for key in sorted(set(a) | set(b)):
            x, y = a.get(key), b.get(key)
            if key in a and key in b and x == y:
                continue
            changes.append(ValueChange(file, key, _status(key in a, key in b), x, y, _delta(x, y)))
    return MetricsLayer(tuple(changes))


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


def data_layer(a: State, b: State, listings: ListingSource) -> DataLayer:
    old, new = a.data, b.data
    paths: list[DataPath] = []
    added: list[DataFile] = []
    removed: list[DataFile] = []
    modified: list[ModifiedFile] = []
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
        raw_x, raw_y = listing(a, x), listing(b, y)
        missing = [
            state.label
            for state, art, raw in ((a, x, raw_x), (b, y, raw_y))
            if art is not None and art.nfiles is not None and raw is None
        ]
        paths.append(
            DataPath(
                path, status, x.to_dict() if x else None, y.to_dict() if y else None, not missing
            )
        )
        if missing:
            incomplete.append(
                f"{path}: per-file changes not shown (the folder listing of "
                f"{' and '.join(missing)} is not in the cache and no remote could provide it)"
            )
            continue
        gone, came = _file_entries(path, x, raw_x, y, raw_y)
        _per_file(gone, came, added, removed, modified)
    renamed = _pair_renames(added, removed)
    return DataLayer(
        tuple(paths),
        tuple(added),
        tuple(removed),
        tuple(modified),
        tuple(renamed),
        tuple(incomplete),
    )


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
    added: list[DataFile],
    removed: list[DataFile],
    modified: list[ModifiedFile],
) -> None:
    for name, (cid, size) in sorted(came.items()):
        before = gone.get(name)
        if before is None:
            added.append(DataFile(name, size, cid))
        elif before[0] != cid:
            modified.append(ModifiedFile(name, before[1], size, before[0], cid))
    for name, (cid, size) in sorted(gone.items()):
        if name not in came:
            removed.append(DataFile(name, size, cid))


def _pair_renames(added: list[DataFile], removed: list[DataFile]) -> list[RenamedFile]:
    """A file removed in one place and added with the same content elsewhere was moved."""
    by_hash: dict[str, list[int]] = {}
    for i, f in enumerate(removed):
        by_hash.setdefault(f.hash, []).append(i)
    renamed = []
    taken_added: set[int] = set()
    taken_removed: set[int] = set()
    for j, f in enumerate(added):
        candidates = by_hash.get(f.hash)
        if candidates:
            i = candidates.pop(0)
            taken_added.add(j)
            taken_removed.add(i)
            renamed.append(RenamedFile(removed[i].path, f.path, f.size))
    added[:] = [f for j, f in enumerate(added) if j not in taken_added]
    removed[:] = [f for i, f in enumerate(removed) if i not in taken_removed]
    return renamed


# -- pipeline ------------------------------------------------------------------


def pipeline_layer(a: State, b: State) -> PipelineLayer:
    old, new = a.runs, b.runs
    stages_changed = []
    for name in sorted(set(old) & set(new)):
        changes = _stage_changes(old[name], new[name])
        if changes:
            stages_changed.append(StageChange(name, tuple(changes)))
    params = []
    pa, pb = a.params, b.params
    for file in sorted(set(pa) | set(pb)):
        x, y = pa.get(file, {}), pb.get(file, {})
        for key in sorted(set(x) | set(y)):
            if key in x and key in y and x[key] == y[key]:
                continue
            params.append(
                ValueChange(file, key, _status(key in x, key in y), x.get(key), y.get(key))
            )
    return PipelineLayer(
        tuple(sorted(set(new) - set(old))),
        tuple(sorted(set(old) - set(new))),
        tuple(stages_changed),
        tuple(params),
        _graph(b),
    )


def _stage_changes(old: RunRecord, new: RunRecord) -> list[StageFieldChange]:
    changes: list[StageFieldChange] = []
    if old.command != new.command:
        changes.append(StageFieldChange("command", list(old.command), list(new.command)))
    if old.wdir != new.wdir:
        changes.append(StageFieldChange("wdir", old.wdir, new.wdir))
    for field_name, x, y in (("deps", old.deps, new.deps), ("outs", old.outs, new.outs)):
        px, py = {d.path for d in x}, {d.path for d in y}
        if px != py:
            changes.append(
                StageFieldChange(
                    field_name,
                    added=tuple(sorted(py - px)),
                    removed=tuple(sorted(px - py)),
                    is_set=True,
                )
            )
    return changes


def _graph(state: State) -> tuple[tuple[str, str], ...]:
    """Stage edges of ``state``: which stage feeds which (through an output path)."""
    records = list(state.runs.values())
    edges = {
        (upstream.name, record.name)
        for record in records
        for upstream in graph.upstream_of(records, record)
    }
    return tuple(sorted(edges))


# -- environment ---------------------------------------------------------------


def environment_layer(a: State, b: State) -> EnvironmentLayer:
    from gitrelstate.environment.envdiff import compare_environments

    env_a, where_a = a.environment
    env_b, where_b = b.environment
    if env_a is None or env_b is None:
        missing = [w for env, w in ((env_a, where_a), (env_b, where_b)) if env is None]
        return EnvironmentLayer(where_a, where_b, None, tuple(missing))
    return EnvironmentLayer(where_a, where_b, compare_environments(env_a, env_b))


# -- code ----------------------------------------------------------------------


def code_layer(a: State, b: State) -> CodeLayer:
    repo = a.repo
    old_code, new_code = a.code, b.code
    ca, cb = old_code.get("commit"), new_code.get("commit")
    old, new = CodeSide.from_dict(old_code), CodeSide.from_dict(new_code)
    if not isinstance(ca, str) or not isinstance(cb, str):
        return CodeLayer(old, new, changed=ca != cb)
    commits: list[tuple[str, str]] = []
    ahead = behind = None
    if ca != cb:
        log = git.run(
            repo.root, ["log", "--format=%H%x00%s", "-n", "200", f"{ca}..{cb}"], check=False
        )
        for line in log.splitlines():
            sha, _, subject = line.partition("\0")
            commits.append((sha, subject))
        behind = int(
            git.run(repo.root, ["rev-list", "--count", f"{cb}..{ca}"], check=False).strip() or 0
        )
        ahead = int(
            git.run(repo.root, ["rev-list", "--count", f"{ca}..{cb}"], check=False).strip() or 0
        )
    # The work tree on either side means its uncommitted edits count too.
    if b.kind == "worktree":
        revs = [ca]
    elif a.kind == "worktree":
        revs = ["-R", cb]
    else:
        revs = [ca, cb]
    files: list[CodeFile] = []
    if "worktree" in (a.kind, b.kind) or ca != cb:
        files = _changed_files(repo.root, revs)
    dirty_differs = old_code.get("diff") != new_code.get("diff")
    changed = bool(files or commits or dirty_differs)
    return CodeLayer(old, new, tuple(commits), tuple(files), ahead, behind, changed)


def _changed_files(root: Path, revs: Iterable[str]) -> list[CodeFile]:
    out = git.run(
        root,
        ["diff", "--name-status", "-z", "-M", *revs, "--", ".", *codestate.NOT_CODE],
        check=False,
    )
    fields = out.split("\0")
    files = []
    i = 0
    word = {"A": "added", "D": "deleted", "M": "modified", "T": "type changed"}
    while i + 1 < len(fields):
        status = fields[i]
        if status[:1] in ("R", "C"):
            files.append(CodeFile(fields[i + 2], "renamed", fields[i + 1]))
            i += 3
            continue
        files.append(CodeFile(fields[i + 1], word.get(status[:1], status)))
        i += 2
    return files
