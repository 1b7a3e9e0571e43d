"""Putting a run's params back as recorded, in the reproduction's worktree.

A run made on uncommitted params (``lr`` tweaked, run, never committed) recorded
the values it used; the file at the code commit holds others. The recorded keys
are written back into the file (JSON or YAML; TOML has no writer here), in the
layout that reproduces the recorded bytes when one does, and read again to check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitrelstate import fsutil, hashing, values
from gitrelstate.errors import RelstateError
from gitrelstate.guard.paths import resolve_inside
from gitrelstate.repo import STATE_DIR
from gitrelstate.state import yamlio
from gitrelstate.state.record import RunRecord


@dataclass
class ParamsCheck:
    """One params file: which recorded keys held other values, and whether they were put back."""

    file: str
    changed: list[dict[str, Any]] = field(default_factory=list)  # key, recorded, found
    restored: bool = False
    byte_identical: bool = False  # the rewrite gave exactly the recorded file
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "changed": self.changed}
        out["restored"] = self.restored
        if self.problem:
            out["problem"] = self.problem
        return out


def current_values(path: Path, label: str, keys: list[str] | None) -> dict[str, Any]:
    """The file's values under ``keys`` (all of them when None); {} when it is absent."""
    if not path.exists():
        return {}
    flat = values.flatten(values.load_structured(path, label))
    if keys is None:
        return dict(sorted(flat.items()))
    return {
        k: v for k, v in sorted(flat.items()) if any(k == s or k.startswith(s + ".") for s in keys)
    }


def restore_params(
    root: Path, record: RunRecord, expected_hash: Mapping[str, str]
) -> list[ParamsCheck]:
    """Check every params file of ``record`` under ``root``; rewrite those that differ."""
    checks = []
    keyed = record.extra.get("param_keys") or {}
    for file, recorded in record.params.items():
        keys = list(keyed[file]) if file in keyed else None
        check = ParamsCheck(file)
        try:
            # Read and written: a symlink committed at that commit must not lead the
            # rewrite out of the worktree (or into its .git / .relstate).
            path = resolve_inside(
                root, file, f"run '{record.name}'", "params", guarded=[root / STATE_DIR]
            )
            found = current_values(path, file, keys)
        except RelstateError as exc:
            check.problem = exc.message
            checks.append(check)
            continue
        recorded = dict(recorded)
        if found == recorded:
            checks.append(check)
            continue
        for key in sorted(set(found) | set(recorded)):
            if found.get(key, _ABSENT) != recorded.get(key, _ABSENT):
                check.changed.append(
                    {"key": key, "recorded": recorded.get(key), "found": found.get(key)}
                )
        try:
            check.byte_identical = _rewrite(path, file, keys, recorded, expected_hash.get(file))
            check.restored = current_values(path, file, keys) == recorded
            if not check.restored:
                check.problem = "the rewritten file does not read back as recorded"
        except RelstateError as exc:
            check.problem = exc.message
        checks.append(check)
    return checks


_ABSENT = object()


def _rewrite(
    path: Path, label: str, keys: list[str] | None, recorded: dict[str, Any], want: str | None
) -> bool:
    """Write the recorded values into ``path``; True when the bytes hash to ``want``."""
    suffix = path.suffix.lower()
    if suffix == ".toml":
        raise RelstateError(f"{label}: TOML params cannot be rewritten")
    doc: Any = values.load_structured(path, label) if path.exists() else {}
    if not isinstance(doc, MutableMapping):
        raise RelstateError(f"{label}: not a mapping at the top level")
    if keys is None:
        doc = {}
    for key in keys or ():
        _delete(doc, key.split("."))
    for key, value in recorded.items():
        _set(doc, key.split("."), value)
    layouts: list[Callable[[Any], str]]
    if suffix == ".json":
        layouts = [
            lambda d: json.dumps(d),
            lambda d: json.dumps(d, indent=2) + "\n",
            lambda d: json.dumps(d, indent=2),
            lambda d: json.dumps(d, indent=4) + "\n",
            lambda d: json.dumps(d) + "\n",
        ]
    else:
        layouts = [lambda d: yamlio.dumps(d)]
    texts = [layout(doc) for layout in layouts]
    wanted = want.partition(":")[2] if want else None
    # The layout that gives back the recorded bytes, when one does (json.dump of a
    # dict, say); otherwise the first, which is valid and holds the recorded values.
    chosen = next((t for t in texts if hashing.hash_bytes(t.encode()) == wanted), texts[0])
    fsutil.write_text_atomic(path, chosen)
    return hashing.hash_bytes(chosen.encode()) == wanted


def _delete(doc: MutableMapping[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in doc:
        return
    if not rest:
        del doc[head]
    elif isinstance(doc[head], MutableMapping):
        _delete(doc[head], rest)


def _set(doc: MutableMapping[str, Any], parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        doc[head] = value
        return
    inner = doc.get(head)
    if not isinstance(inner, MutableMapping):
        inner = doc[head] = {}
    _set(inner, rest, value)
