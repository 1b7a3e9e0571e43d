"""push, fetch and pull: move objects between the cache and a remote, then (pull) check
the data out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.remotes import remote as remotes
from gitrelstate.remotes import transfer
from gitrelstate.repo import Repo
from gitrelstate.runs import cacheshare
from gitrelstate.sync.recorded import RecordedCheckout, checkout_recorded
from gitrelstate.sync.selection import bound_paths, selected
from gitrelstate.workspace.checkout import checkout_tracked
from gitrelstate.workspace.selection import select_tracked


@dataclass(frozen=True)
class Pushed:
    remote: str
    sent: int
    present: int


@dataclass(frozen=True)
class Fetched:
    remote: str
    count: int


def push(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    runs: Sequence[str] = (),
    release_names: Sequence[str] = (),
) -> Pushed:
    with repo.locked(shared=True):
        remote = remotes.resolve(repo, remote_name)
        tracked = selected(repo, cwd, paths, runs, release_names)
        sent, present = transfer.push(repo, remote, tracked, jobs or transfer.default_jobs(remote))
        if not (paths or runs or release_names):  # a plain push carries the run cache too
            cacheshare.push(repo, remote, jobs or transfer.default_jobs(remote))
    return Pushed(remote.shown, sent, present)


def fetch(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    runs: Sequence[str] = (),
    release_names: Sequence[str] = (),
) -> Fetched:
    with repo.locked():
        remote = remotes.resolve(repo, remote_name)
        tracked = selected(repo, cwd, paths, runs, release_names)
        count = transfer.fetch(repo, remote, tracked, jobs or transfer.default_jobs(remote))
        if not (paths or runs or release_names):  # and a plain fetch brings its entries
            cacheshare.fetch(repo, remote)
    fetch_environment_notes(repo)
    return Fetched(remote.shown, count)


def fetch_environment_notes(repo: Repo) -> None:
    """Bring in the environment notes other clones pushed (``env show REV``, ``diff``)."""
    from gitrelstate.environment import envnotes

    git_remote = envnotes.default_git_remote(repo)
    if git_remote is None:
        return
    try:
        envnotes.fetch_notes(repo, git_remote)
    except RelstateError as exc:  # data is what fetch is for; notes are a bonus
        ui.debug(f"environment notes not fetched from {git_remote}: {exc.message}")


@dataclass(frozen=True)
class Pulled:
    fetched: Fetched
    recorded: list[RecordedCheckout]
    # (files written, files removed, tracked paths) of a plain checkout, if one ran.
    checkout: tuple[int, int, int] | None


def pull(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    *,
    force: bool,
    runs: Sequence[str] = (),
    release_names: Sequence[str] = (),
) -> Pulled:
    fetched = fetch(repo, cwd, paths, remote_name, jobs, runs, release_names)
    if release_names and not runs:
        # A release's own data state, at its recorded hashes (checkout --release).
        recorded = [
            checkout_recorded(repo, cwd, paths, force=force, release=name, run=None)
            for name in release_names
        ]
        return Pulled(fetched, recorded, None)
    if (runs or release_names) and not paths:
        # Check out the tracked data they bind (as the pointers say now).
        paths = bound_paths(repo, runs, release_names)
        if not paths:
            return Pulled(fetched, [], None)
    tracked = select_tracked(repo, cwd, paths)
    with repo.locked():
        written, removed = checkout_tracked(repo, tracked, force=force)
    return Pulled(fetched, [], (written, removed, len(tracked)))
