"""Aliases in a repository: reading ``.relstate/aliases.yaml`` (the work tree's, a
commit's), following an alias to its release, promoting, and an alias's history.

An alias is followed only to the release content it was promoted to: the ``state_id``
it records must be the release's (a release file deleted and made again under the same
name is refused, with a hint to promote again).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from gitrelstate import fsutil, git
from gitrelstate.errors import IntegrityError, RelstateError
from gitrelstate.guard import limits
from gitrelstate.repo import Repo
from gitrelstate.state.aliases import ALIASES_FILE, Alias, AliasFile, check_alias_name, parse
from gitrelstate.state.release import Release, check_release_name

# What a reference may name, in the order a bare name is tried, as messages say it.
KIND_WORDS = {"release": "a release", "alias": "an alias", "run": "a run", "rev": "a git revision"}
_PLURALS = {"release": "releases", "alias": "aliases", "run": "runs"}


class ReferenceNotFound(RelstateError):
    """A reference names nothing this command takes: one message shape everywhere."""


def not_found(given: str, kinds: tuple[str, ...]) -> ReferenceNotFound:
    """``'X' is not a release, an alias, a run or a git revision`` (only the kinds the
    command takes), with the same hint everywhere."""
    words = [KIND_WORDS[k] for k in kinds]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    named = [_PLURALS[k] for k in kinds if k != "rev"]
    shown = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    hint = f"see 'git relstate list' for {shown}" if named else "see 'git log'"
    if "rev" in kinds and named:
        hint += "; any git revision works too"
    if len(kinds) > 1:
        prefixes = [f"'{k}:'" for k in kinds]
        hint += f"; {', '.join(prefixes[:-1])} or {prefixes[-1]} before a name picks one reading"
    return ReferenceNotFound(f"'{given}' is not {listed}", hint=hint)


# -- reading ---------------------------------------------------------------------------


def read(repo: Repo) -> AliasFile:
    """The work tree's aliases (none when there is no file)."""
    path = repo.abspath(ALIASES_FILE)
    if not os.path.lexists(path):
        return AliasFile()
    # A committed symlink must not make gitrelstate read (and quote) a file elsewhere.
    real = repo.resolve_inside(ALIASES_FILE, ALIASES_FILE, "aliases file", allow_state=True)
    return parse(limits.read_capped(real, limits.ALIASES, ALIASES_FILE), ALIASES_FILE)


def read_at(repo: Repo, rev: str) -> AliasFile | None:
    """The aliases committed in ``rev`` (None when that commit has no aliases file)."""
    listing = git.run(repo.root, ["ls-tree", "-l", "-z", rev, "--", ALIASES_FILE], check=False)
    meta, _, path = listing.rstrip("\0").partition("\t")
    fields = meta.split()
    if path != ALIASES_FILE or len(fields) != 4 or fields[1] != "blob":
        return None
    source = f"{rev[:12] if len(rev) >= 40 else rev}:{ALIASES_FILE}"
    limits.ALIASES.check(int(fields[3]) if fields[3].isdigit() else 0, source)
    raw = git.read_blobs(repo.root, [fields[2]]).get(fields[2], b"")
    return parse(raw, source)


def lookup(repo: Repo, name: str) -> Alias | None:
    """The work tree's alias ``name`` (None when there is none)."""
    return read(repo).get(name)


def follow(alias: Alias, release: Release | None, where: str = "the work tree") -> Release:
    """The release ``alias`` points at, refused unless it is the content promoted."""
    if release is None:
        raise RelstateError(
            f"alias '{alias.name}' points at release '{alias.release}', which {where} "
            "does not have",
            hint=f"promote an existing release: git relstate promote RELEASE {alias.name}",
        )
    if release.state_id != alias.state_id:
        raise IntegrityError(
            f"alias '{alias.name}' was promoted to release '{alias.release}' with state_id "
            f"{alias.state_id[:19]}…, but that release now has {release.state_id[:19]}…",
            hint=f"review the release, then promote it again: git relstate promote "
            f"{alias.release} {alias.name}",
        )
    return release


def release_for(repo: Repo, given: str) -> tuple[Release, Alias | None]:
    """The release ``given`` names in the work tree: a release name, an alias, or either
    with its ``release:``/``alias:`` prefix (a release wins over an alias of the same
    name). Every command that takes a release reads it here."""
    from gitrelstate.releases import registry

    kind, sep, rest = given.partition(":")
    if sep and kind in ("release", "alias") and rest:
        kinds: tuple[str, ...] = (kind,)
        name = rest
    else:
        kinds, name = ("release", "alias"), given
    if "release" in kinds and _valid(check_release_name, name) and registry.exists(repo, name):
        return registry.load_file(repo, name), None
    if "alias" in kinds:
        alias = lookup(repo, name) if _valid(check_alias_name, name) else None
        if alias is not None:
            return follow(alias, _release_or_none(repo, alias.release)), alias
    raise not_found(given, kinds)


def _valid(check: Callable[[str], object], name: str) -> bool:
    """Whether ``name`` passes ``check`` (a name that fails cannot name a file)."""
    try:
        check(name)
    except RelstateError:
        return False
    return True


def _release_or_none(repo: Repo, name: str) -> Release | None:
    from gitrelstate.releases import registry

    return registry.load_file(repo, name) if registry.exists(repo, name) else None


# -- promoting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did: the alias now, and where it pointed before (None: new)."""

    alias: Alias
    previous: Alias | None

    @property
    def changed(self) -> bool:
        return self.previous is None or (
            (self.previous.release, self.previous.state_id)
            != (self.alias.release, self.alias.state_id)
        )


def promote(repo: Repo, release_ref: str, alias_name: str) -> Promotion:
    """Point ``alias_name`` at the release ``release_ref`` names (a release or an alias)
    and write ``.relstate/aliases.yaml`` atomically; nothing is written when it already
    points there."""
    from gitrelstate.releases import registry

    check_alias_name(alias_name)
    if registry.exists(repo, alias_name):
        raise RelstateError(
            f"'{alias_name}' is already the name of a release: an alias of the same name "
            "could never be reached by its bare name",
            hint="choose another alias name (e.g. production, staging)",
        )
    release, _ = release_for(repo, release_ref)
    current = read(repo)
    previous = current.get(alias_name)
    alias = Alias(alias_name, release.name, release.state_id, _now())
    promotion = Promotion(alias, previous)
    if not promotion.changed:
        assert previous is not None
        return Promotion(previous, previous)
    path = repo.abspath(ALIASES_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    fsutil.write_text_atomic(path, current.with_alias(alias).dumps())
    return promotion


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- history --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """One commit that changed an alias: from which release to which (None: absent)."""

    commit: str
    date: str
    author: str
    alias: str
    old: str | None
    new: str | None


def history(repo: Repo, name: str | None = None, rev: str = "HEAD") -> list[Move]:
    """Every commit reachable from ``rev`` that moved an alias (``name``, or all),
    newest first: git keeps the history, this reads it."""
    if not git.has_commits(repo.root):
        return []
    log = git.run(
        repo.root,
        ["log", "--format=%H%x00%aI%x00%an", "--first-parent", rev, "--", ALIASES_FILE],
        check=False,
    )
    commits = [line.split("\0") for line in log.splitlines() if line.count("\0") == 2]
    moves: list[Move] = []
    for sha, date, author in commits:
        after = _aliases_or_empty(repo, sha)
        before = _aliases_or_empty(repo, f"{sha}^") if _has_parent(repo, sha) else AliasFile()
        for alias in sorted(set(after.aliases) | set(before.aliases)):
            if name is not None and alias != name:
                continue
            old, new = before.get(alias), after.get(alias)
            if (old and (old.release, old.state_id)) != (new and (new.release, new.state_id)):
                moves.append(
                    Move(
                        sha,
                        date,
                        author,
                        alias,
                        old.release if old else None,
                        new.release if new else None,
                    )
                )
    return moves


def _aliases_or_empty(repo: Repo, rev: str) -> AliasFile:
    try:
        return read_at(repo, rev) or AliasFile()
    except RelstateError:
        return AliasFile()  # a damaged version: history shows what can be read


def _has_parent(repo: Repo, sha: str) -> bool:
    out = git.run(repo.root, ["rev-parse", "--verify", "-q", f"{sha}^"], check=False)
    return bool(out.strip())
