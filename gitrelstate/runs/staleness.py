"""Staleness: does a run record still describe what its stage reads and makes?

This is the one answer ``status``, the pre-commit hook, ``release``, ``run`` and
``repro`` all use, so they cannot disagree. A record is up to date when

- every dependency holds the content recorded (a folder by its listing),
- for a params file of which the stage selected keys, those keys hold the values
  recorded (other keys, comments, formatting do not matter); a params file taken whole
  is a file-level dependency like any other,
- every code file it read (``code.files``: the scripts its command names and their
  local imports, docs/runs.md) is unchanged,
- every output still holds the content recorded,
- and, where the caller asks (``repro``, not the commit hook: a commit binds files, not
  the shell of whoever commits), every variable declared with ``-e`` has the value
  recorded (a redacted one by its keyed digest).

A record marked ``pending`` (defined but not run as defined: an imported stage whose
``dvc.lock`` did not match) is always stale; a ``frozen`` stage is judged by its outputs
only. Where a path's content comes from is the caller's :class:`View`: the work tree
(:class:`WorkTree`, through the stat cache) or what a commit stages (the hook).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, Protocol

from gitrelstate import values
from gitrelstate.errors import RelstateError
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.state.pointer import DataPointer
from gitrelstate.state.record import Artifact, RunRecord, code_files_of

# What a view answers for a path it cannot compare (never fetched into this clone): the
# record is given the benefit of the doubt for it.
UNKNOWN = "unknown"


class View(Protocol):
    """Where the current content of a record's paths comes from."""

    def content_id(self, artifact: Artifact, source: str, key: str) -> str | None:
        """The content id ``artifact.path`` holds now; None when it is missing;
        :data:`UNKNOWN` when it cannot be compared. Raises RelstateError when it
        must not be read (a symlink out of the work tree)."""
        ...

    def param_values(self, file: str, source: str) -> Mapping[str, Any]:
        """The params file's values as flat dotted keys (RelstateError: unreadable)."""
        ...


class WorkTree:
    """The work tree as it is now (each path hashed once, through the stat cache)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._ids: dict[str, str | None] = {}
        self._params: dict[str, Mapping[str, Any]] = {}
        self._variables: dict[tuple[str, ...], dict[str, Any]] = {}

    def content_id(self, artifact: Artifact, source: str, key: str) -> str | None:
        path = artifact.path
        if path not in self._ids:
            self._ids[path] = self._hash(artifact, source, key)
        return self._ids[path]

    def _hash(self, artifact: Artifact, source: str, key: str) -> str | None:
        from gitrelstate.workspace import tracking

        # Where it really is: a symlink committed on the way must not lead gitrelstate
        # to hash (and so reveal one bit about) a file outside the work tree.
        self.repo.resolve_inside(artifact.path, source, key)
        full = self.repo.abspath(artifact.path)
        if not os.path.lexists(full):
            return None
        previous = (
            DataPointer(full.name, artifact.hash, artifact.size, artifact.nfiles)
            if artifact.nfiles is not None
            else None
        )
        try:
            return tracking.snapshot(self.repo, full, store=False, previous=previous).hash
        except FileNotFoundError:
            return None

    def param_values(self, file: str, source: str) -> Mapping[str, Any]:
        if file not in self._params:
            real = self.repo.resolve_inside(file, source, "params")
            self._params[file] = values.flatten(values.load_structured(real, file))
        return self._params[file]

    def variables(self, patterns: Sequence[str]) -> dict[str, Any]:
        """The variables matching ``patterns`` as a run would capture them now (secrets
        as keyed digests)."""
        wanted = tuple(patterns)
        if wanted not in self._variables:
            from gitrelstate.environment.variables import (
                capture_variables,
                load_or_create_secret_key,
            )

            captured = capture_variables(
                wanted, secret_key=load_or_create_secret_key(self.repo.private_dir)
            )
            self._variables[wanted] = {
                n: v for n, v in captured.items() if any(fnmatchcase(n, p) for p in wanted)
            }
        return self._variables[wanted]


def record_source(record: RunRecord) -> str:
    return f"{RUNS_DIR}/{record.name}.yaml"


def keyed_params(record: RunRecord) -> dict[str, list[str]]:
    """Params files of which the stage selected keys (file -> keys)."""
    keyed = record.extra.get("param_keys")
    return {f: list(k) for f, k in keyed.items()} if isinstance(keyed, dict) else {}


def code_files(record: RunRecord) -> list[Artifact]:
    """The code files the run read (``code.files``)."""
    return code_files_of(record.code, record_source(record))


def declared_variables(record: RunRecord) -> list[str]:
    found = record.extra.get("env_vars")
    return [str(v) for v in found] if isinstance(found, list) else []


def stale_reasons(
    record: RunRecord,
    view: View,
    *,
    variables: WorkTree | None = None,
) -> list[str]:
    """Why ``record`` no longer describes what ``view`` holds (empty when it does).

    ``variables``: also compare the declared variables with this process's (``repro``).
    """
    pending = record.extra.get("pending")
    if isinstance(pending, dict):
        return [f"not run as defined: {pending.get('reason') or 'never run'}"]
    source = record_source(record)
    frozen = record.extra.get("frozen") is True
    keyed = keyed_params(record)
    reasons: list[str] = []
    if not frozen:
        for dep in record.deps:
            if dep.path not in keyed:
                _compare(view, dep, "dependency", source, reasons)
        for code in code_files(record):
            _compare(view, code, "code", source, reasons)
        for file, keys in keyed.items():
            reasons += _params_changed(view, record, file, keys, source)
    for out in record.outs:
        _compare(view, out, "output", source, reasons)
    if variables is not None and not frozen:
        reasons += _variables_changed(record, variables)
    return reasons


def _compare(view: View, artifact: Artifact, kind: str, source: str, out: list[str]) -> None:
    key = {"dependency": "deps", "output": "outs", "code": "code.files"}[kind]
    try:
        current = view.content_id(artifact, source, key)
    except RelstateError as exc:
        out.append(f"{kind} {artifact.path} cannot be read ({exc.message})")
        return
    if current is None:
        out.append(f"{kind} {artifact.path} is missing")
    elif current != UNKNOWN and current != artifact.hash:
        out.append(f"{kind} {artifact.path} changed")


def _params_changed(
    view: View, record: RunRecord, file: str, keys: Sequence[str], source: str
) -> list[str]:
    recorded = dict(record.params.get(file) or {})
    try:
        current = values.select(view.param_values(file, source), keys, file)
    except RelstateError as exc:
        return [f"params {file} cannot be read ({exc.message})"]
    found = []
    for key in sorted(set(recorded) | set(current)):
        if key not in current:
            found.append(f"params {file}: {key} was removed")
        elif key not in recorded:
            found.append(f"params {file}: {key} is new")
        elif not same_value(recorded[key], current[key]):
            found.append(f"params {file}: {key} changed ({recorded[key]!r} -> {current[key]!r})")
    return found


def same_value(a: Any, b: Any) -> bool:
    """Equal as parsed values, type included (``1`` is not ``true``; ``0.001`` is
    ``0.0010``; ``1`` and ``1.0`` are the same number)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        return a == b or both_nan
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def declared_values(record: RunRecord, captured: Mapping[str, Any]) -> dict[str, Any]:
    """The values (as captured) of the variables the stage declared with ``-e``."""
    patterns = declared_variables(record)
    return {n: v for n, v in captured.items() if any(fnmatchcase(n, p) for p in patterns)}


def _variables_changed(record: RunRecord, live: WorkTree) -> list[str]:
    patterns = declared_variables(record)
    if not patterns:
        return []
    recorded_all = record.environment.get("variables")
    recorded = declared_values(record, recorded_all if isinstance(recorded_all, dict) else {})
    current = live.variables(patterns)
    found = []
    for name in sorted(set(recorded) | set(current)):
        if recorded.get(name) != current.get(name):
            secret = isinstance(recorded.get(name), dict) or isinstance(current.get(name), dict)
            what = (
                "changed (redacted)" if secret else _change(recorded.get(name), current.get(name))
            )
            found.append(f"variable {name} {what}")
    return found


def _change(old: Any, new: Any) -> str:
    if old is None:
        return f"is set now ({new!r}), unset in the run"
    if new is None:
        return f"is unset now, was {old!r}"
    return f"changed ({old!r} -> {new!r})"


def check(repo: Repo, record: RunRecord, view: View | None = None) -> list[str]:
    """:func:`stale_reasons` against the work tree (a fresh view unless one is given)."""
    return stale_reasons(record, view or WorkTree(repo))
