"""Which aliases two states move, and what each move brings: the release it left
compared with the release it names now (:class:`~gitrelstate.diff.aliasdoc.AliasChanges`)."""

from __future__ import annotations

from collections.abc import Sequence

from gitrelstate.diff.aliasdoc import AliasChanges, AliasMove
from gitrelstate.diff.document import LAYERS
from gitrelstate.diff.jsondoc import JSONDoc
from gitrelstate.diff.layers import ListingSource, diff_states
from gitrelstate.diff.states import State
from gitrelstate.errors import RelstateError
from gitrelstate.releases import aliases, registry
from gitrelstate.state.aliases import Alias
from gitrelstate.state.release import Release


def alias_changes(
    a: State, b: State, layers: Sequence[str] = LAYERS, listings: ListingSource | None = None
) -> AliasChanges | None:
    """The aliases ``a`` → ``b`` move; None unless both sides hold aliases (a commit or
    the work tree) and either has one."""
    old, new = a.aliases, b.aliases
    if old is None or new is None or not (len(old) or len(new)):
        return None
    moves: list[AliasMove] = []
    unchanged: list[tuple[str, str]] = []
    for name in sorted(set(old.aliases) | set(new.aliases)):
        x, y = old.get(name), new.get(name)
        if x is not None and y is not None and _target(x) == _target(y):
            unchanged.append((name, y.release))
            continue
        if x is None or y is None:
            status = "added" if x is None else "removed"
            moves.append(AliasMove(name, status, _doc(x), _doc(y)))
            continue
        moves.append(_move(name, a, x, b, y, layers, listings))
    return AliasChanges(tuple(moves), tuple(unchanged))


def _move(
    name: str,
    a: State,
    x: Alias,
    b: State,
    y: Alias,
    layers: Sequence[str],
    listings: ListingSource | None,
) -> AliasMove:
    try:
        before = _release_state(a, x)
        after = _release_state(b, y)
    except RelstateError as exc:
        return AliasMove(name, "moved", _doc(x), _doc(y), note=exc.message)
    return AliasMove(name, "moved", _doc(x), _doc(y), diff_states(before, after, layers, listings))


def _release_state(side: State, alias: Alias) -> State:
    """The release ``alias`` names, as ``side`` holds it, as a state to compare."""
    release = _release_at(side, alias.release)
    where = "the work tree" if side.kind == "worktree" else side.label
    found: Release = aliases.follow(alias, release, where)
    return State(side.repo, "release", found.name, _commit(found), release=found, alias=alias.name)


def _release_at(side: State, name: str) -> Release | None:
    if side.kind == "worktree":
        return registry.load_file(side.repo, name) if registry.exists(side.repo, name) else None
    return registry.load_at(side.repo, side.commit or "HEAD", name)


def _commit(release: Release) -> str | None:
    commit = release.code.get("commit")
    return commit if isinstance(commit, str) else None


def _target(alias: Alias) -> tuple[str, str]:
    return alias.release, alias.state_id


def _doc(alias: Alias | None) -> JSONDoc | None:
    if alias is None:
        return None
    return {"release": alias.release, "state_id": alias.state_id}
