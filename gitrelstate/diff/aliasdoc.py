"""Alias moves between two states, as values: the ``aliases`` key of ``diff --json``.

A promotion changes only ``.relstate/aliases.yaml``, so the layers of a promotion
commit are unchanged; what a reviewer needs is which alias moved and what the move
brings: the comparison of the release it left with the release it now names, carried
whole (a format-1 diff document) in each move. Documented in docs/releases.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitrelstate.diff.jsondoc import JSONDoc, as_list

if TYPE_CHECKING:
    from gitrelstate.diff.document import StateDiff


@dataclass(frozen=True)
class AliasMove:
    """One alias added, removed or moved; ``diff`` compares its old and new release."""

    alias: str
    status: str  # "added" | "removed" | "moved"
    old: JSONDoc | None  # {"release", "state_id"} before, None when added
    new: JSONDoc | None  # after, None when removed
    diff: StateDiff | None = None  # release old -> release new (a move only)
    note: str | None = None  # why there is no ``diff``

    @property
    def old_release(self) -> str | None:
        return None if self.old is None else str(self.old.get("release"))

    @property
    def new_release(self) -> str | None:
        return None if self.new is None else str(self.new.get("release"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "alias": self.alias,
            "status": self.status,
            "old": self.old,
            "new": self.new,
            "diff": self.diff.to_dict() if self.diff is not None else None,
        }
        if self.note is not None:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AliasMove:
        from gitrelstate.diff.document import StateDiff

        nested = doc.get("diff")
        return cls(
            alias=str(doc.get("alias", "")),
            status=str(doc.get("status", "")),
            old=doc.get("old"),
            new=doc.get("new"),
            diff=StateDiff.from_dict(nested) if isinstance(nested, Mapping) else None,
            note=doc.get("note"),
        )


@dataclass(frozen=True)
class AliasChanges:
    """Every alias of the two sides: the moves, and the aliases left where they were."""

    moves: tuple[AliasMove, ...] = ()
    unchanged: tuple[tuple[str, str], ...] = ()  # (alias, release)

    @property
    def changed(self) -> bool:
        return bool(self.moves)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "moves": [m.to_dict() for m in self.moves],
            "unchanged": dict(self.unchanged),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AliasChanges:
        unchanged = doc.get("unchanged")
        pairs = unchanged.items() if isinstance(unchanged, Mapping) else ()
        return cls(
            tuple(AliasMove.from_dict(m) for m in as_list(doc, "moves")),
            tuple((str(k), str(v)) for k, v in pairs),
        )
