"""The layer-by-layer comparison of two states, as typed values.

``diff_states`` (in :mod:`gitrelstate.diff.layers`) builds a :class:`StateDiff`; the
terminal, JSON and Markdown renderers only read it, so they can never disagree about
what changed. ``to_dict`` gives exactly the ``diff --json`` document (format 1, in
docs/releases.md); ``from_dict`` reads one back (a saved ``--json``, or a test's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitrelstate.diff.aliasdoc import AliasChanges
from gitrelstate.diff.datalayer import DataLayer
from gitrelstate.diff.jsondoc import JSONDoc, JSONValue, as_list, as_map
from gitrelstate.environment.envdiff import EntryChanges, EnvDiff, FieldChange

FORMAT = 1
# Most important first: what a reviewer looks at before anything else.
LAYERS = ("model", "metrics", "data", "pipeline", "environment", "code")

# -- the two sides ------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One compared state: how it is shown and what it is."""

    label: str
    kind: str = ""  # "release" | "run" | "commit" | "worktree"
    name: str = ""
    commit: str | None = None
    state_id: str | None = None
    created: str | None = None
    finished: str | None = None
    alias: str | None = None  # the alias a release was named by

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "kind": self.kind,
            "name": self.name,
            "commit": self.commit,
        }
        if self.alias is not None:
            out["alias"] = self.alias
        if self.state_id is not None:
            out["state_id"] = self.state_id
            out["created"] = self.created
        if self.finished is not None:
            out["finished"] = self.finished
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Side:
        return cls(
            label=str(doc.get("label", "")),
            kind=str(doc.get("kind", "")),
            name=str(doc.get("name", "")),
            commit=doc.get("commit"),
            state_id=doc.get("state_id"),
            created=doc.get("created"),
            finished=doc.get("finished"),
            alias=doc.get("alias"),
        )


# -- model and metrics --------------------------------------------------------------


@dataclass(frozen=True)
class ModelLayer:
    """The released model on each side (a tracked artifact or an external reference)."""

    old: JSONDoc | None = None
    new: JSONDoc | None = None

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def size_delta(self) -> int | None:
        if not (self.old and self.new):
            return None
        old_size, new_size = self.old.get("size"), self.new.get("size")
        if isinstance(old_size, int) and isinstance(new_size, int):
            return new_size - old_size
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"changed": self.changed, "old": self.old, "new": self.new}
        if self.size_delta is not None:
            out["size_delta"] = self.size_delta
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ModelLayer:
        return cls(doc.get("old"), doc.get("new"))


@dataclass(frozen=True)
class ValueChange:
    """One params or metrics key that was added, removed or changed in a file."""

    file: str
    key: str
    status: str  # "added" | "removed" | "changed"
    old: JSONValue
    new: JSONValue
    delta: float | int | None = None  # metrics only

    def to_dict(self, *, with_delta: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "key": self.key,
            "status": self.status,
            "old": self.old,
            "new": self.new,
        }
        if with_delta:
            out["delta"] = self.delta
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ValueChange:
        return cls(
            str(doc.get("file", "")),
            str(doc.get("key", "")),
            str(doc.get("status", "changed")),
            doc.get("old"),
            doc.get("new"),
            doc.get("delta"),
        )


@dataclass(frozen=True)
class MetricsLayer:
    metrics: tuple[ValueChange, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.metrics)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "metrics": [m.to_dict(with_delta=True) for m in self.metrics],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> MetricsLayer:
        return cls(tuple(ValueChange.from_dict(m) for m in as_list(doc, "metrics")))


# -- pipeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class StageFieldChange:
    """One field of a stage that differs: a value (command, wdir) or a set (deps, outs)."""

    field: str
    old: JSONValue = None
    new: JSONValue = None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    is_set: bool = False

    def to_dict(self) -> dict[str, Any]:
        if self.is_set:
            return {"field": self.field, "added": list(self.added), "removed": list(self.removed)}
        return {"field": self.field, "old": self.old, "new": self.new}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StageFieldChange:
        if "old" in doc or "new" in doc:
            return cls(str(doc.get("field", "")), doc.get("old"), doc.get("new"))
        return cls(
            str(doc.get("field", "")),
            added=tuple(as_list(doc, "added")),
            removed=tuple(as_list(doc, "removed")),
            is_set=True,
        )


@dataclass(frozen=True)
class StageChange:
    name: str
    changes: tuple[StageFieldChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "changes": [c.to_dict() for c in self.changes]}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StageChange:
        changes = tuple(StageFieldChange.from_dict(c) for c in as_list(doc, "changes"))
        return cls(str(doc.get("name", "")), changes)


@dataclass(frozen=True)
class PipelineLayer:
    stages_added: tuple[str, ...] = ()
    stages_removed: tuple[str, ...] = ()
    stages_changed: tuple[StageChange, ...] = ()
    params: tuple[ValueChange, ...] = ()
    graph: tuple[tuple[str, str], ...] = ()  # (upstream stage, downstream stage) of side b

    @property
    def changed(self) -> bool:
        return bool(self.stages_added or self.stages_removed or self.stages_changed or self.params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "stages": {
                "added": list(self.stages_added),
                "removed": list(self.stages_removed),
                "changed": [s.to_dict() for s in self.stages_changed],
            },
            "params": [p.to_dict(with_delta=False) for p in self.params],
            "graph": [{"from": a, "to": b} for a, b in self.graph],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PipelineLayer:
        stages = as_map(doc, "stages")
        return cls(
            tuple(str(n) for n in as_list(stages, "added")),
            tuple(str(n) for n in as_list(stages, "removed")),
            tuple(StageChange.from_dict(s) for s in as_list(stages, "changed")),
            tuple(ValueChange.from_dict(p) for p in as_list(doc, "params")),
            tuple((str(e.get("from")), str(e.get("to"))) for e in as_list(doc, "graph")),
        )


# -- environment --------------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentLayer:
    """The environments of both sides compared; ``unavailable`` names a side that has none."""

    old_source: str
    new_source: str
    diff: EnvDiff | None = None
    unavailable: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.diff)

    def lines(self) -> list[str]:
        return self.diff.lines() if self.diff is not None else []

    def to_dict(self) -> dict[str, Any]:
        sources = {"old": self.old_source, "new": self.new_source}
        if self.diff is None:
            return {"changed": False, "sources": sources, "unavailable": list(self.unavailable)}
        return {
            "changed": self.changed,
            "sources": sources,
            **self.diff.to_dict(),
            "lines": self.lines(),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EnvironmentLayer:
        sources = as_map(doc, "sources")
        old, new = str(sources.get("old", "")), str(sources.get("new", ""))
        if "unavailable" in doc:
            return cls(old, new, None, tuple(str(u) for u in as_list(doc, "unavailable")))
        return cls(old, new, _env_diff_from_dict(doc))


def _env_diff_from_dict(doc: Mapping[str, Any]) -> EnvDiff:
    fields = {
        layer: tuple(
            FieldChange(str(c.get("key")), c.get("old"), c.get("new")) for c in as_list(doc, layer)
        )
        for layer in ("interpreter", "platform", "hardware")
    }

    def entries(layer: str) -> EntryChanges:
        part = as_map(doc, layer)
        changed = as_map(part, "changed")
        return EntryChanges(
            added=tuple(as_map(part, "added").items()),
            removed=tuple(as_map(part, "removed").items()),
            changed=tuple((k, v.get("old"), v.get("new")) for k, v in changed.items()),
        )

    variables = as_map(doc, "variables")

    def variable(v: Mapping[str, Any], key: str) -> Any:
        return {"redacted": "yes"} if v.get("redacted") else v.get(key)

    return EnvDiff(
        **fields,
        packages=entries("packages"),
        lockfiles=entries("lockfiles"),
        variables=EntryChanges(
            added=tuple(
                (str(v.get("name")), variable(v, "value")) for v in variables.get("added", [])
            ),
            removed=tuple(
                (str(v.get("name")), variable(v, "value")) for v in variables.get("removed", [])
            ),
            changed=tuple(
                (str(v.get("name")), variable(v, "old"), variable(v, "new"))
                for v in variables.get("changed", [])
            ),
        ),
    )


# -- code ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeSide:
    commit: str | None
    dirty: bool = False
    diff: str | None = None  # digest of uncommitted code changes

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"commit": self.commit, "dirty": self.dirty}
        if self.diff:
            out["diff"] = self.diff
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CodeSide:
        return cls(doc.get("commit"), bool(doc.get("dirty")), doc.get("diff") or None)


@dataclass(frozen=True)
class CodeFile:
    path: str
    status: str  # "added" | "deleted" | "modified" | "renamed" | "type changed"
    source: str | None = None  # the old path of a renamed file

    def to_dict(self) -> dict[str, Any]:
        out = {"path": self.path, "status": self.status}
        if self.source is not None:
            out["from"] = self.source
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CodeFile:
        return cls(str(doc.get("path", "")), str(doc.get("status", "")), doc.get("from"))


@dataclass(frozen=True)
class CodeLayer:
    old: CodeSide
    new: CodeSide
    commits: tuple[tuple[str, str], ...] = ()  # (sha, subject), newest first
    files: tuple[CodeFile, ...] = ()
    ahead: int | None = None
    behind: int | None = None
    changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            "commits": [{"commit": sha, "subject": subject} for sha, subject in self.commits],
            "files": [f.to_dict() for f in self.files],
        }
        if self.ahead is not None:
            out["ahead"] = self.ahead
            out["behind"] = self.behind
        out["changed"] = self.changed
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CodeLayer:
        return cls(
            CodeSide.from_dict(as_map(doc, "old")),
            CodeSide.from_dict(as_map(doc, "new")),
            tuple((str(c.get("commit")), str(c.get("subject"))) for c in as_list(doc, "commits")),
            tuple(CodeFile.from_dict(f) for f in as_list(doc, "files")),
            doc.get("ahead"),
            doc.get("behind"),
            bool(doc.get("changed")),
        )


# -- the whole comparison -----------------------------------------------------------

Layer = ModelLayer | MetricsLayer | DataLayer | PipelineLayer | EnvironmentLayer | CodeLayer

_FROM_DICT: dict[str, Any] = {
    "model": ModelLayer.from_dict,
    "metrics": MetricsLayer.from_dict,
    "data": DataLayer.from_dict,
    "pipeline": PipelineLayer.from_dict,
    "environment": EnvironmentLayer.from_dict,
    "code": CodeLayer.from_dict,
}


@dataclass(frozen=True)
class StateDiff:
    """``a`` → ``b`` over the compared layers (in ``LAYERS`` order)."""

    a: Side
    b: Side
    layers: Mapping[str, Layer] = field(default_factory=dict)
    # Alias moves, when both sides hold aliases (commits, the work tree): diff/aliasdoc.py.
    aliases: AliasChanges | None = None

    @property
    def changed(self) -> bool:
        moved = self.aliases is not None and self.aliases.changed
        return moved or any(layer.changed for layer in self.layers.values())

    def __bool__(self) -> bool:
        return self.changed

    def layer(self, name: str) -> Layer | None:
        return self.layers.get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "changed": self.changed,
            "layers": {name: layer.to_dict() for name, layer in self.layers.items()},
            **({"aliases": self.aliases.to_dict()} if self.aliases is not None else {}),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StateDiff:
        layers = as_map(doc, "layers")
        return cls(
            Side.from_dict(as_map(doc, "a")),
            Side.from_dict(as_map(doc, "b")),
            {name: _FROM_DICT[name](layers[name]) for name in LAYERS if name in layers},
            AliasChanges.from_dict(doc["aliases"])
            if isinstance(doc.get("aliases"), Mapping)
            else None,
        )


def ordered(layers: Sequence[str]) -> list[str]:
    """``layers`` in display order."""
    return [name for name in LAYERS if name in layers]
