"""The environment of a reproduction: recorded variables restored, the rest compared.

Plain recorded variables are set to their recorded values in the command's
environment. A redacted one (a secret) cannot be restored from its digest: it
must come from the caller's environment, and is checked against the recorded
keyed digest when this clone holds the key it was recorded with. The live
environment is then captured the way ``run`` captured it, with the restored
variables in place, and compared layer by layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitrelstate.environment.envdiff import EntryChanges, EnvDiff, compare_environments
from gitrelstate.runs import executor
from gitrelstate.state.record import RunRecord


@dataclass
class ChildEnvironment:
    """The variables a stage's command runs with, and what restoring them found."""

    env: dict[str, str]
    restored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # secrets absent from the caller's env
    mismatched: list[str] = field(default_factory=list)  # secrets whose digest differs
    unverifiable: list[str] = field(default_factory=list)  # recorded without a key


def child_environment(
    record: RunRecord, caller: Mapping[str, str], secret_key: bytes
) -> ChildEnvironment:
    """The caller's environment with ``record``'s plain variables set as recorded.

    Variables the record does not name are left as the caller has them: the record
    cannot say whether they mattered, and some (PATH, HOME) are needed to run at all.
    """
    from gitrelstate.environment.variables import redact

    child = ChildEnvironment(dict(caller))
    recorded = record.environment.get("variables")
    for name, value in (recorded if isinstance(recorded, Mapping) else {}).items():
        if isinstance(value, Mapping) and "redacted" in value:
            if name not in caller:
                child.missing.append(name)
            elif value.get("redacted") == "unkeyed":
                child.unverifiable.append(name)
            elif redact(name, caller[name], secret_key) != dict(value):
                child.mismatched.append(name)
            continue
        child.env[name] = str(value)
        child.restored.append(name)
    return child


def capture_patterns(record: RunRecord, configured: Sequence[str]) -> tuple[str, ...]:
    """What to capture live: the default list (implicit), the config's and the run's own
    patterns, and every name the record holds (so none is missed by a changed policy)."""
    recorded = record.environment.get("variables")
    names = list(recorded) if isinstance(recorded, Mapping) else []
    return tuple(dict.fromkeys([*configured, *record.extra.get("env_vars", []), *names]))


class LiveEnvironment:
    """Captures the live environment per interpreter once; variables per stage."""

    def __init__(self, worktree: Path, secret_key: bytes) -> None:
        self.worktree = worktree
        self.secret_key = secret_key
        self._by_python: dict[str | None, dict[str, Any]] = {}

    def capture(
        self, record: RunRecord, child: Mapping[str, str], patterns: Sequence[str]
    ) -> dict[str, Any]:
        from gitrelstate.environment import capture_environment
        from gitrelstate.environment.variables import capture_variables

        python = executor.interpreter_for(record.command, self.worktree / record.wdir)
        if python not in self._by_python:
            self._by_python[python] = capture_environment(
                python=python, repo_root=self.worktree, secret_key=self.secret_key
            )
        doc = dict(self._by_python[python])
        # As the command will see them: with the recorded values restored.
        doc["variables"] = capture_variables(patterns, self.secret_key, environ=child)
        return doc


def differences(recorded: Mapping[str, Any], live: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every difference from ``recorded`` to ``live``, one item each, with its layer and
    the line ``env check`` prints for it (secret values never appear)."""
    diff = compare_environments(recorded, live)
    items: list[dict[str, Any]] = []
    for layer in ("interpreter", "platform", "hardware"):
        for change in getattr(diff, layer):
            text = _line({layer: (change,)})
            items.append({"layer": layer, "text": text, **change.to_dict()})
    for layer in ("packages", "lockfiles", "variables"):
        changes: EntryChanges = getattr(diff, layer)
        for kind in ("added", "removed", "changed"):
            for entry in getattr(changes, kind):
                alone: dict[str, Any] = {kind: (entry,)}
                text = _line({layer: EntryChanges(**alone)})
                item = {"layer": layer, "text": text, "name": entry[0], "change": kind}
                item.update(_values(layer, kind, entry))
                items.append(item)
    return items


def _line(only: dict[str, Any]) -> str:
    """The line ``env check`` prints for a diff holding just this one change."""
    return EnvDiff(**only).lines()[0]


def _values(layer: str, kind: str, entry: tuple[Any, ...]) -> dict[str, Any]:
    values = entry[1:]
    if layer == "variables" and any(isinstance(v, Mapping) and "redacted" in v for v in values):
        return {"redacted": True}
    if layer == "lockfiles":
        return {}  # digests say nothing to a reader
    if kind == "changed":
        return {"old": values[0], "new": values[1]}
    return {"new" if kind == "added" else "old": values[0]}


def merge(found: dict[str, dict[str, Any]], stage: str, items: list[dict[str, Any]]) -> None:
    """Collect differences over stages: one item per difference, naming its stages."""
    for item in items:
        kept = found.setdefault(item["text"], {**item, "stages": []})
        kept["stages"].append(stage)
