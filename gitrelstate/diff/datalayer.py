"""The data layer of a diff: tracked paths that differ, and the files inside them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitrelstate.diff.jsondoc import JSONDoc, as_list


@dataclass(frozen=True)
class DataPath:
    """A tracked path (file or folder) whose content differs."""

    path: str
    status: str  # "added" | "removed" | "modified"
    old: JSONDoc | None
    new: JSONDoc | None
    details: bool  # per-file changes known (folder listings available)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "old": self.old,
            "new": self.new,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> DataPath:
        return cls(
            str(doc.get("path", "")),
            str(doc.get("status", "modified")),
            doc.get("old"),
            doc.get("new"),
            bool(doc.get("details", True)),
        )


@dataclass(frozen=True)
class DataFile:
    """A file (inside a tracked folder, or a tracked file) added or removed."""

    path: str
    size: int
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "hash": self.hash}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> DataFile:
        return cls(str(doc.get("path", "")), int(doc.get("size") or 0), str(doc.get("hash", "")))


@dataclass(frozen=True)
class ModifiedFile:
    path: str
    old_size: int
    new_size: int
    old_hash: str
    new_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_hash": self.old_hash,
            "new_hash": self.new_hash,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ModifiedFile:
        return cls(
            str(doc.get("path", "")),
            int(doc.get("old_size") or 0),
            int(doc.get("new_size") or 0),
            str(doc.get("old_hash", "")),
            str(doc.get("new_hash", "")),
        )


@dataclass(frozen=True)
class RenamedFile:
    """A file removed in one place and added with the same content elsewhere."""

    source: str
    target: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "size": self.size}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> RenamedFile:
        return cls(str(doc.get("from", "")), str(doc.get("to", "")), int(doc.get("size") or 0))


@dataclass(frozen=True)
class DataLayer:
    paths: tuple[DataPath, ...] = ()
    added: tuple[DataFile, ...] = ()
    removed: tuple[DataFile, ...] = ()
    modified: tuple[ModifiedFile, ...] = ()
    renamed: tuple[RenamedFile, ...] = ()
    incomplete: tuple[str, ...] = ()  # what could not be shown, and why

    @property
    def changed(self) -> bool:
        return bool(self.paths)

    def summary(self) -> dict[str, int]:
        return {
            "paths": len(self.paths),
            "added": len(self.added),
            "removed": len(self.removed),
            "modified": len(self.modified),
            "renamed": len(self.renamed),
            "bytes_added": sum(f.size for f in self.added),
            "bytes_removed": sum(f.size for f in self.removed),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "summary": self.summary(),
            "paths": [p.to_dict() for p in self.paths],
            "added": [f.to_dict() for f in self.added],
            "removed": [f.to_dict() for f in self.removed],
            "modified": [f.to_dict() for f in self.modified],
            "renamed": [f.to_dict() for f in self.renamed],
            "incomplete": list(self.incomplete),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> DataLayer:
        return cls(
            tuple(DataPath.from_dict(p) for p in as_list(doc, "paths")),
            tuple(DataFile.from_dict(f) for f in as_list(doc, "added")),
            tuple(DataFile.from_dict(f) for f in as_list(doc, "removed")),
            tuple(ModifiedFile.from_dict(f) for f in as_list(doc, "modified")),
            tuple(RenamedFile.from_dict(f) for f in as_list(doc, "renamed")),
            tuple(str(n) for n in as_list(doc, "incomplete")),
        )
