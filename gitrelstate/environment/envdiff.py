"""What changed between two captured environments, as a value that prints itself.

Works on the plain documents of ``gitrelstate.environment`` as read back from run
records, so it is defensive about shape: a missing or malformed section compares
as empty rather than failing a ``diff`` of old records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitrelstate.environment import LAYERS
from gitrelstate.errors import RelstateError

_FIELD_LAYERS = ("interpreter", "platform", "hardware")
_ENTRY_LAYERS = ("packages", "lockfiles", "variables")
_MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    """One scalar that differs; ``key`` is dotted when nested (``cpu.model``, ``gpus.0.name``)."""

    key: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class EntryChanges:
    """Named entries (packages, lock files, variables) added, removed or changed, by name."""

    added: tuple[tuple[str, Any], ...] = ()
    removed: tuple[tuple[str, Any], ...] = ()
    changed: tuple[tuple[str, Any, Any], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": dict(self.added),
            "removed": dict(self.removed),
            "changed": {name: {"old": old, "new": new} for name, old, new in self.changed},
        }


@dataclass(frozen=True)
class EnvDiff:
    interpreter: tuple[FieldChange, ...] = ()
    platform: tuple[FieldChange, ...] = ()
    hardware: tuple[FieldChange, ...] = ()
    packages: EntryChanges = field(default_factory=EntryChanges)
    lockfiles: EntryChanges = field(default_factory=EntryChanges)
    variables: EntryChanges = field(default_factory=EntryChanges)

    def __bool__(self) -> bool:
        return any(bool(getattr(self, layer)) for layer in LAYERS)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output; secret variables appear by name only."""
        out: dict[str, Any] = {
            layer: [c.to_dict() for c in getattr(self, layer)] for layer in _FIELD_LAYERS
        }
        out["packages"] = self.packages.to_dict()
        out["lockfiles"] = self.lockfiles.to_dict()
        v = self.variables
        out["variables"] = {
            "added": [_variable_dict(name, value) for name, value in v.added],
            "removed": [_variable_dict(name, value) for name, value in v.removed],
            "changed": [_variable_change_dict(name, old, new) for name, old, new in v.changed],
        }
        return out

    def lines(self) -> list[str]:
        """One human-readable line per difference, in layer order."""
        out: list[str] = []
        for layer in _FIELD_LAYERS:
            for c in getattr(self, layer):
                out.append(f"{layer} {c.key} {_scalar(c.old)} -> {_scalar(c.new)}")
        out.extend(_entry_lines("package", self.packages, _package_text))
        out.extend(_entry_lines("lockfile", self.lockfiles, None))
        for name, value in self.variables.added:
            out.append(f"variable {name} added ({_variable_text(value)})")
        for name, value in self.variables.removed:
            out.append(f"variable {name} removed (was {_variable_text(value)})")
        for name, old, new in self.variables.changed:
            if _is_redacted(old) or _is_redacted(new):
                out.append(f"variable {name} changed (redacted)")
            else:
                out.append(f"variable {name} {_scalar(old)} -> {_scalar(new)}")
        return out


def compare_environments(
    old: Mapping[str, Any], new: Mapping[str, Any], *, layers: Collection[str] | None = None
) -> EnvDiff:
    """Differences from ``old`` to ``new``, limited to ``layers`` (default: all of ``LAYERS``)."""
    wanted = LAYERS if layers is None else tuple(layers)
    unknown = sorted(set(wanted) - set(LAYERS))
    if unknown:
        raise RelstateError(
            f"unknown environment layer(s): {', '.join(unknown)}",
            hint=f"choose from {', '.join(LAYERS)}",
        )
    parts: dict[str, Any] = {}
    for layer in wanted:
        a, b = _section(old, layer), _section(new, layer)
        if layer == "interpreter":
            parts[layer] = tuple(
                c
                for c in _field_changes(_flatten(a), _flatten(b))
                if not (c.key == "executable" and same_interpreter_path(c.old, c.new))
            )
        elif layer in _FIELD_LAYERS:
            parts[layer] = _field_changes(_flatten(a), _flatten(b))
        else:
            parts[layer] = _entry_changes(a, b)
    return EnvDiff(**parts)


# ``python``, ``python3``, ``python3.11`` (``pypy``...) in one folder: one interpreter
# by several names. The version, implementation and packages say whether it changed.
_PYTHON_NAME = re.compile(r"(python|pypy)[0-9.]*(\.exe)?", re.IGNORECASE)


def same_interpreter_path(old: Any, new: Any) -> bool:
    """Whether two recorded executables are one interpreter's names: the same folder,
    each ``python``/``pypy`` with or without a version (records written before
    executables were recorded under one name, environment.canonical_executable)."""
    if not isinstance(old, str) or not isinstance(new, str):
        return False
    (dir_a, name_a), (dir_b, name_b) = _split_path(old), _split_path(new)
    match_a, match_b = _PYTHON_NAME.fullmatch(name_a), _PYTHON_NAME.fullmatch(name_b)
    return (
        dir_a == dir_b
        and match_a is not None
        and match_b is not None
        and match_a.group(1).lower() == match_b.group(1).lower()
    )


def _split_path(path: str) -> tuple[str, str]:
    # Either separator: a record made on Windows is compared on Linux and back.
    cut = max(path.rfind("/"), path.rfind("\\"))
    return path[:cut], path[cut + 1 :]


def _section(doc: Mapping[str, Any], layer: str) -> Mapping[str, Any]:
    value = doc.get(layer) if isinstance(doc, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as ``{dotted key: scalar}``; empty ones contribute nothing."""
    if isinstance(value, Mapping):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, sub in items:
        out.update(_flatten(sub, f"{prefix}.{key}" if prefix else key))
    return out


def _field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    keys = list(old) + [k for k in new if k not in old]
    return tuple(
        FieldChange(k, old.get(k), new.get(k))
        for k in keys
        if old.get(k, _MISSING) != new.get(k, _MISSING)
    )


def _entry_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> EntryChanges:
    return EntryChanges(
        added=tuple((k, new[k]) for k in sorted(new) if k not in old),
        removed=tuple((k, old[k]) for k in sorted(old) if k not in new),
        changed=tuple((k, old[k], new[k]) for k in sorted(old) if k in new and old[k] != new[k]),
    )


def _entry_lines(label: str, changes: EntryChanges, show: Callable[[Any], str] | None) -> list[str]:
    """Lines for packages (with versions) or lock files (digests say nothing to a reader)."""
    out = []
    for name, value in changes.added:
        out.append(f"{label} {name} added" + (f" ({show(value)})" if show else ""))
    for name, value in changes.removed:
        out.append(f"{label} {name} removed" + (f" (was {show(value)})" if show else ""))
    for name, old, new in changes.changed:
        out.append(f"{label} {name} " + (f"{show(old)} -> {show(new)}" if show else "changed"))
    return out


def _package_text(value: Any) -> str:
    """``1.2.3``, or for a direct-URL install ``1.2.3 (git 1a2b3c4d)`` / ``(editable URL)``."""
    if not isinstance(value, Mapping):
        return _scalar(value)
    version = _scalar(value.get("version"))
    if value.get("commit"):
        return f"{version} ({value.get('vcs') or 'vcs'} {str(value['commit'])[:12]})"
    if value.get("editable"):
        return f"{version} (editable {value.get('url')})"
    if value.get("url"):
        return f"{version} ({value.get('url')})"
    return version


def _is_redacted(value: Any) -> bool:
    return isinstance(value, Mapping) and "redacted" in value


def _variable_text(value: Any) -> str:
    return "redacted" if _is_redacted(value) else _scalar(value)


def _variable_dict(name: str, value: Any) -> dict[str, Any]:
    if _is_redacted(value):
        return {"name": name, "redacted": True}
    return {"name": name, "value": value}


def _variable_change_dict(name: str, old: Any, new: Any) -> dict[str, Any]:
    if _is_redacted(old) or _is_redacted(new):
        return {"name": name, "redacted": True}
    return {"name": name, "old": old, "new": new}


def _scalar(value: Any) -> str:
    return "(none)" if value is None else str(value)
