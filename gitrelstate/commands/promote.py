"""``git relstate promote RELEASE ALIAS``: point an alias at a release, as a change to the
committed ``.relstate/aliases.yaml`` that a pull request reviews; ``--history`` reads
the moves back from Git."""

from __future__ import annotations

import json

from gitrelstate import git, ui
from gitrelstate.releases import aliases
from gitrelstate.repo import Repo
from gitrelstate.state.aliases import ALIASES_FILE, check_alias_name
from gitrelstate.state.release import release_path


def promote(repo: Repo, release_ref: str, alias_name: str) -> int:
    with repo.locked():
        done = aliases.promote(repo, release_ref, alias_name)
    alias = done.alias
    if not done.changed:
        ui.echo(f"alias '{alias.name}' already points at release '{alias.release}': unchanged")
        return 0
    if done.previous is None:
        ui.echo(f"alias '{alias.name}' -> release '{alias.release}' (new alias)")
    else:
        ui.echo(
            f"alias '{alias.name}' moved: release '{done.previous.release}' -> "
            f"release '{alias.release}'"
        )
    files = [ALIASES_FILE]
    if not git.is_tracked(repo.root, release_path(alias.release)):
        ui.warn(f"release '{alias.release}' is not committed yet: commit its file too")
        files.insert(0, release_path(alias.release))
    ui.echo(
        f"hint: review and commit it: git add {' '.join(files)} && "
        f"git commit -m 'promote {alias.release} to {alias.name}'"
    )
    return 0


def history(repo: Repo, alias_name: str | None, *, as_json: bool) -> int:
    """Every commit on the current branch that moved an alias, newest first."""
    if alias_name is not None:
        check_alias_name(alias_name)
    moves = aliases.history(repo, alias_name)
    if as_json:
        rows = [
            {
                "alias": m.alias,
                "old": m.old,
                "new": m.new,
                "commit": m.commit,
                "date": m.date,
                "author": m.author,
            }
            for m in moves
        ]
        ui.result(json.dumps({"moves": rows}, indent=2))
        return 0
    if not moves:
        which = f"alias '{alias_name}'" if alias_name else "any alias"
        ui.result(f"no commit on this branch moved {which} ({ALIASES_FILE})")
        return 0
    for m in moves:
        old = m.old or "(none)"
        new = m.new or "(removed)"
        ui.result(f"{m.commit[:12]} {m.date}  {m.alias:<16} {old} -> {new}  ({m.author})")
    return 0
