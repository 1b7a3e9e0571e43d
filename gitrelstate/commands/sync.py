"""``git relstate push|fetch|pull``: move objects between the cache and a remote."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate import transfer, ui
from gitrelstate.commands.checkout import checkout
from gitrelstate.errors import RelstateError
from gitrelstate.remote import Remote
from gitrelstate.repo import Repo
from gitrelstate.selection import select_tracked


def resolve_remote(repo: Repo, name: str | None) -> Remote:
    config = repo.config
    chosen = name or config.default_remote
    if chosen is None:
        raise RelstateError(
            "no remote given and no default remote set",
            hint="add one: git relstate remote add origin /path/to/storage --default",
        )
    if chosen not in config.remotes:
        raise RelstateError(f"no remote named '{chosen}'", hint="see 'git relstate remote list'")
    return Remote(config.remotes[chosen], repo.root)


def push(cwd: Path, paths: Sequence[str], remote_name: str | None, jobs: int | None) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    try:
        with repo.locked(shared=True):
            remote = resolve_remote(repo, remote_name)
            tracked = select_tracked(repo, cwd, paths)
            sent, present = transfer.push(
                repo, remote, tracked, jobs or transfer.default_jobs(remote)
            )
    finally:
        repo.close()
    if sent:
        ui.echo(f"pushed {sent} object(s) to {remote.shown}; {present} already there")
    else:
        ui.echo(f"everything is already on {remote.shown} ({present} object(s))")
    return 0


def fetch(cwd: Path, paths: Sequence[str], remote_name: str | None, jobs: int | None) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    try:
        with repo.locked():
            remote = resolve_remote(repo, remote_name)
            tracked = select_tracked(repo, cwd, paths)
            count = transfer.fetch(repo, remote, tracked, jobs or transfer.default_jobs(remote))
    finally:
        repo.close()
    ui.echo(f"fetched {count} object(s) from {remote.shown}" if count else "cache is complete")
    return 0


def pull(
    cwd: Path, paths: Sequence[str], remote_name: str | None, jobs: int | None, *, force: bool
) -> int:
    fetch(cwd, paths, remote_name, jobs)
    return checkout(cwd, paths, force=force)
