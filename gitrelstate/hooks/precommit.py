"""The pre-commit check: what a commit would record that gitrelstate cannot stand behind.

It looks at the state files as staged (what the commit will hold) and finds:

- a state file that is not valid (schema, format version, unsafe paths), a
  per-machine ``config.local.yaml`` being committed;
- tracked data that no longer matches its pointer (modified, deleted);
- a run record whose dependencies or outputs changed since it was written
  (``hooks.stale_runs``: ``block``, the default, or ``warn``);
- a committed release file modified or deleted (releases are immutable);
- an aliases file naming a release the commit does not hold (or other content);
- a value in a staged state file that looks like a secret.

It runs on every commit, so it is built to cost little when nothing changed:
state files are read from the work tree when they are what is staged (their git
blob id matches), tracked folders are compared through the stat cache and the
folder digest (one ``stat`` per file, nothing read), and the environment is not
captured here.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gitrelstate import git, hashing
from gitrelstate.errors import RelstateError, StateFileError
from gitrelstate.hooks.staged import (
    CONFIG_FILE,
    RecordIndex,
    Staged,
    check_aliases,
    check_release,
    contents,
    kind_of,
    parse,
    record_from,
)
from gitrelstate.repo import Repo
from gitrelstate.state import config as config_model
from gitrelstate.state.pointer import DataPointer
from gitrelstate.state.record import Artifact, RunRecord
from gitrelstate.workspace import pointers
from gitrelstate.workspace.compare import Comparison, compare
from gitrelstate.workspace.pointers import Tracked

SHOW_AT_MOST = 5


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the commit, and how to fix it."""

    message: str
    hint: str | None = None
    blocking: bool = True


@dataclass
class Check:
    """One run of the check; ``problems`` grows as it goes."""

    repo: Repo
    staged: Staged
    problems: list[Problem] = field(default_factory=list)
    documents: dict[str, Any] = field(default_factory=dict)
    # Content id of tracked data found clean; tracked data that could not be
    # compared (never in this cache: a clone before 'pull').
    current: dict[str, str] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)

    def fail(self, exc: RelstateError, hint: str | None = None) -> None:
        self.problems.append(Problem(exc.message, exc.hint or hint))


def check(repo: Repo) -> list[Problem]:
    """Everything wrong with the staged commit (blocking problems and warnings)."""
    c = Check(repo, Staged.read(repo))
    _releases_unchanged(c)
    changed = sorted(p for p, s in c.staged.changes.items() if s in "AMT" and p in c.staged.blobs)
    index = RecordIndex(repo)
    records: list[tuple[str, RunRecord]] = []
    for path in sorted(p for p in c.staged.blobs if kind_of(p) == "run" and p not in changed):
        hit = index.get(c.staged.blobs[path])
        if hit is not None:
            records.append((path, hit))
    known = {path for path, _ in records}
    wanted = sorted(
        {p for p in c.staged.blobs if kind_of(p) in ("data", "run") and p not in known}
        | set(changed)
    )
    raw = contents(repo, c.staged, wanted)
    tracked: list[Tracked] = []
    for path in wanted:
        kind = kind_of(path)
        try:
            doc = parse(raw[path], path, kind)
            c.documents[path] = doc
            if kind == "data":
                tracked.append(pointers.tracked_from(repo, path, doc))
            elif kind == "run":
                record = record_from(path, doc)
                records.append((path, index.put(c.staged.blobs[path], record)))
            elif kind == "release":
                check_release(path, doc)
            elif kind == "aliases":
                check_aliases(repo, c.staged, path, raw[path])
            elif kind == "config":
                config_model.validate(doc, path)
            elif kind == "local-config":
                raise StateFileError(
                    f"{path} is being committed; it holds this machine's settings and "
                    "credentials and must stay out of Git",
                    hint=f"unstage it: git rm --cached {path}",
                )
        except RelstateError as exc:
            c.fail(exc, hint=f"fix {path}, or restore it: git restore --staged --worktree {path}")
    for path in changed:
        if path in c.documents:
            _no_secrets(c, path, c.documents[path])
    _data_matches(c, tracked)
    if records:
        _runs_fresh(c, sorted(records, key=lambda r: r[0]))
    index.save({c.staged.blobs[path] for path, _ in records})
    repo.statcache.flush()
    return c.problems


# -- reading the staged state files --------------------------------------------


# -- the checks ----------------------------------------------------------------


def _releases_unchanged(c: Check) -> None:
    for path, status in sorted(c.staged.changes.items()):
        if kind_of(path) != "release" or status == "A":
            continue
        what = "deleted" if status == "D" else "modified"
        name = path.rpartition("/")[2][: -len(".yaml")]
        c.problems.append(
            Problem(
                f"{path}: a committed release is {what}; releases are immutable",
                f"undo it with 'git restore --staged --worktree --source=HEAD {path}', and "
                f"make a new release instead of changing '{name}'",
            )
        )


def _no_secrets(c: Check, path: str, doc: Any) -> None:
    from gitrelstate.hooks import secretscan

    for finding in secretscan.scan(doc):
        c.problems.append(
            Problem(
                f"{path}: '{finding.key}' holds what looks like {finding.what}",
                "remove it from the file (credentials belong in .relstate/config.local.yaml "
                "or your credential store) and stage the file again",
            )
        )


def _data_matches(c: Check, tracked: list[Tracked]) -> None:
    for t in tracked:
        try:
            cmp = compare(c.repo, t)
        except RelstateError as exc:
            c.fail(exc)
            continue
        where = shlex.quote(t.data_rel)
        if cmp.state == "clean":
            c.current[t.data_rel] = t.pointer.hash
        elif cmp.state == "unknown" or (
            cmp.state == "missing" and not c.repo.cache.exists(hashing.hex_of(t.pointer.hash))
        ):
            # Never fetched here (a clone before 'pull'): nothing to compare with.
            c.unknown.add(t.data_rel)
        elif cmp.state == "missing":
            c.problems.append(
                Problem(
                    f"{t.data_rel}: tracked data is missing from the work tree "
                    f"(its pointer {t.pointer_rel} is staged)",
                    f"run 'git relstate checkout {where}' to restore it, or stop tracking it: "
                    f"git rm --cached {shlex.quote(t.pointer_rel)}",
                )
            )
        else:
            c.problems.append(
                Problem(
                    f"{t.data_rel}: tracked data no longer matches its pointer "
                    f"{t.pointer_rel} ({_summary(cmp)})",
                    f"run 'git relstate track {where}' to record the change, or "
                    f"'git relstate checkout {where}' to restore the recorded data",
                )
            )


def _summary(cmp: Comparison) -> str:
    if not cmp.tracked.pointer.is_dir:
        return "deleted" if cmp.deleted else "its content changed"
    counts = ", ".join(
        f"{len(keys)} {label}"
        for label, keys in (
            ("modified", cmp.modified),
            ("added", cmp.added),
            ("deleted", cmp.deleted),
        )
        if keys
    )
    names = [cmp.display(k) for k in (*cmp.modified, *cmp.added, *cmp.deleted)]
    more = ", ..." if len(names) > SHOW_AT_MOST else ""
    return f"files {counts}: {', '.join(names[:SHOW_AT_MOST])}{more}"


def _stale_runs_block(c: Check) -> bool:
    try:
        return c.repo.config.stale_runs == "block"
    except RelstateError as exc:
        c.fail(exc)
        return True


def _runs_fresh(c: Check, records: list[tuple[str, RunRecord]]) -> None:
    """Each staged run record still describes what the commit holds (the one staleness
    rule of :mod:`gitrelstate.runs.staleness`: params by the keys a stage selected)."""
    from gitrelstate.runs import staleness

    block: bool | None = None  # the config is read only when a record is stale
    paths: set[str] = set()
    for _, r in records:
        paths.update(a.path for a in (*r.deps, *r.outs, *staleness.code_files(r)))
    view = _Staged(c, paths)
    for path, record in records:
        reasons = staleness.stale_reasons(record, view)
        if not reasons:
            continue
        shown = "; ".join(reasons[:SHOW_AT_MOST])
        if len(reasons) > SHOW_AT_MOST:
            shown += f"; and {len(reasons) - SHOW_AT_MOST} more"
        if block is None:
            block = _stale_runs_block(c)
        hint = (
            f"bring it up to date with 'git relstate repro {record.name}' and stage the new "
            "record(s)"
        )
        if block:
            hint += " (or make stale runs a warning: 'stale_runs: warn' under 'hooks:' in "
            hint += f"{CONFIG_FILE})"
        c.problems.append(
            Problem(f"run '{record.name}' ({path}) is stale: {shown}", hint, blocking=block)
        )


class _Staged:
    """What a record's paths hold in the commit: tracked data as the data check found
    it, Git-tracked files as staged, anything else from the work tree (stat cache);
    a path that leads out of the work tree is refused (and so reported stale)."""

    def __init__(self, c: Check, paths: set[str]) -> None:
        self.c = c
        rest = sorted(paths - set(c.current) - c.unknown)
        specs = [f":(literal){p}" for p in rest]
        self.staged: dict[str, str] = {}
        self.unstaged: set[str] = set()
        self.params: dict[str, Any] = {}
        if specs:
            root = c.repo.root
            for entry in git.run(root, ["ls-files", "-s", "-z", "--", *specs]).split("\0"):
                meta, _, path = entry.partition("\t")
                fields = meta.split()
                if len(fields) == 3 and fields[2] == "0":
                    self.staged[path] = fields[1]
            changed = git.run(root, ["diff-files", "--name-only", "-z", "--", *specs])
            self.unstaged = {p for p in changed.split("\0") if p}

    def content_id(self, artifact: Artifact, source: str, key: str) -> str | None:
        from gitrelstate.runs.staleness import UNKNOWN

        path = artifact.path
        if path in self.c.unknown:
            return UNKNOWN
        current = self.c.current.get(path)
        if current is not None:
            return current
        self.c.repo.resolve_inside(path, source, key)
        if path in self.staged and path in self.unstaged:
            # The commit holds the staged version, not what the work tree has now.
            blob = self._staged_bytes(path)
            return hashing.content_id(hashing.hash_bytes(blob)) if blob is not None else None
        full = self.c.repo.abspath(path)
        if not os.path.lexists(full):
            return None
        from gitrelstate.workspace import tracking

        previous = (
            DataPointer(full.name, artifact.hash, artifact.size, artifact.nfiles)
            if artifact.nfiles is not None
            else None
        )
        return tracking.snapshot(self.c.repo, full, store=False, previous=previous).hash

    def _staged_bytes(self, path: str) -> bytes | None:
        sha = self.staged[path]
        return git.read_blobs(self.c.repo.root, [sha]).get(sha)

    def param_values(self, file: str, source: str) -> Any:
        from gitrelstate import values

        if file not in self.params:
            real = self.c.repo.resolve_inside(file, source, "params")
            if file not in self.staged:
                self._index([file])
            if file in self.staged and file in self.unstaged:
                raw = self._staged_bytes(file) or b""
                doc = values.parse_structured(raw, real.suffix, file)
            else:
                doc = values.load_structured(real, file)
            self.params[file] = values.flatten(doc)
        return self.params[file]

    def _index(self, paths: list[str]) -> None:
        specs = [f":(literal){p}" for p in paths]
        root = self.c.repo.root
        for entry in git.run(root, ["ls-files", "-s", "-z", "--", *specs]).split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 3 and fields[2] == "0":
                self.staged[path] = fields[1]
        changed = git.run(root, ["diff-files", "--name-only", "-z", "--", *specs])
        self.unstaged.update(p for p in changed.split("\0") if p)


def summary_lines(problems: Iterable[Problem]) -> list[str]:
    """``error:``/``warning:`` and ``hint:`` lines for the terminal."""
    lines = []
    for p in problems:
        lines.append(f"{'error' if p.blocking else 'warning'}: {p.message}")
        if p.hint:
            lines.append(f"hint: {p.hint}")
    return lines
