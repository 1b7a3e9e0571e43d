"""Aliases: ``.relstate/aliases.yaml``, names (``production``, ``staging``) that point at
releases and move between them (``git relstate promote``).

The file is committed, so a promotion is a commit a pull request reviews, and the
history of an alias is the history of this file in Git. Each alias records the
release's ``state_id`` too: an alias vouches for the content it was promoted to, and a
release file later replaced under the same name is refused rather than followed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gitrelstate.errors import StateFileError
from gitrelstate.guard import limits
from gitrelstate.state import FORMAT_VERSION, model, yamlio

KIND = "aliases"
ALIASES_FILE = ".relstate/aliases.yaml"
KEYS = ("relstate", "kind", "aliases")
ENTRY_KEYS = ("release", "state_id", "promoted")
# A letter first, then what release names allow: an alias is a file-system-safe word
# that can never be read as an option, a path or a hash.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,99}")
_HEXISH = re.compile(r"[0-9a-fA-F]+")
# Names Git or gitrelstate already give a meaning to.
RESERVED = frozenset({"HEAD", "FETCH_HEAD", "ORIG_HEAD", "MERGE_HEAD", "worktree", "WORKTREE"})
NAME_HINT = (
    "an alias is a letter followed by letters, digits, '.', '_' or '-' (at most 100 "
    "characters), e.g. production or staging"
)


def check_alias_name(name: object, source: str | None = None) -> str:
    """Refuse a name that could be read as something else (a hash, HEAD, an option)."""
    where = f"{source}: " if source else ""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".lock"):
        raise StateFileError(f"{where}invalid alias name {str(name)[:120]!r}", hint=NAME_HINT)
    if name in RESERVED:
        raise StateFileError(
            f"{where}'{name}' cannot be an alias: it already names a git revision or the work tree",
            hint=NAME_HINT,
        )
    if _HEXISH.fullmatch(name):
        raise StateFileError(
            f"{where}'{name}' cannot be an alias: it reads as a commit or a content hash",
            hint=NAME_HINT,
        )
    return name


@dataclass(frozen=True)
class Alias:
    """One alias: the release it points at, that release's ``state_id``, and when."""

    name: str
    release: str
    state_id: str
    promoted: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "release": self.release,
            "state_id": self.state_id,
            "promoted": self.promoted or None,
        }
        data.update(self.extra)
        return model.ordered(data, ENTRY_KEYS)

    @classmethod
    def from_dict(cls, name: str, data: object, source: str) -> Alias:
        from gitrelstate.state.release import check_release_name

        where = f"{source} (alias {name})"
        if not isinstance(data, dict):
            raise StateFileError(f"{where}: must be a mapping with 'release' and 'state_id'")
        release = model.require(data, "release", str, where)
        try:
            check_release_name(release)
        except StateFileError as exc:
            raise StateFileError(f"{where}: {exc.message}", hint=exc.hint) from None
        return cls(
            name=check_alias_name(name, source),
            release=release,
            state_id=model.check_hash(
                model.require(data, "state_id", str, where), where, "state_id"
            ),
            promoted=model.optional(data, "promoted", str, where) or "",
            extra=model.extras(data, ENTRY_KEYS),
        )


@dataclass(frozen=True)
class AliasFile:
    """Every alias of one version of ``.relstate/aliases.yaml``, by name."""

    aliases: Mapping[str, Alias] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Alias | None:
        return self.aliases.get(name)

    def __len__(self) -> int:
        return len(self.aliases)

    def with_alias(self, alias: Alias) -> AliasFile:
        """This file with ``alias`` set (added, or moved keeping its unknown keys)."""
        previous = self.aliases.get(alias.name)
        if previous is not None and not alias.extra:
            alias = replace(alias, extra=previous.extra)
        return AliasFile({**self.aliases, alias.name: alias}, self.extra)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "relstate": FORMAT_VERSION,
            "kind": KIND,
            "aliases": {name: self.aliases[name].to_dict() for name in sorted(self.aliases)},
        }
        data.update(self.extra)
        return model.ordered(data, KEYS)

    def dumps(self) -> str:
        return yamlio.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: object, source: str) -> AliasFile:
        doc = model.check_header(data, source, KIND)
        entries = model.optional(doc, "aliases", dict, source) or {}
        aliases = {name: Alias.from_dict(name, body, source) for name, body in entries.items()}
        return cls(dict(sorted(aliases.items())), model.extras(doc, KEYS))


def parse(raw: str | bytes, source: str = ALIASES_FILE) -> AliasFile:
    """An aliases file from its bytes: bounded (``limits.ALIASES``), strict, validated."""
    return AliasFile.from_dict(yamlio.loads(raw, source, cap=limits.ALIASES), source)
