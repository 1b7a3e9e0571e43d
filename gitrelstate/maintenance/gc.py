"""``gc``: everything any ref, release, run record or worktree of this clone references is
kept; the rest goes, from the cache or from a remote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitrelstate import fsutil, git, ui
from gitrelstate.remotes import collect as remote_collect
from gitrelstate.remotes.remote import resolve as resolve_remote
from gitrelstate.repo import Repo
from gitrelstate.store import collect as cache_collect
from gitrelstate.workspace import history


@dataclass(frozen=True)
class Collected:
    where: str
    removed: int
    size: int | None  # bytes freed (known for the cache only)
    kept: int
    incomplete_packs: int = 0


def referenced(repo: Repo) -> history.ObjectSet:
    """Every object a ref, a release, a run record or a worktree of this clone needs."""
    # Every ref (branches, tags, remotes, stash) in all of history, plus
    # the work tree's pointers, committed or not.
    recorded = history.recorded_pointers(repo, ["--all"], work_tree=True)
    # Releases keep what they bind, even data no pointer names any more.
    recorded += history.release_pointers(repo, ["--all"], work_tree=True)
    # So do run records (checkout --run and reproduce restore their data).
    recorded += history.run_pointers(repo, ["--all"], work_tree=True)
    # Every worktree of the clone shares this cache: what another one tracked
    # but has not committed yet (or a reproduction in progress) is kept too.
    for path in _other_worktrees(repo):
        with Repo.discover(path) as other:
            recorded += history.recorded_pointers(other, [], work_tree=True)
            recorded += history.release_pointers(other, [], work_tree=True)
            recorded += history.run_pointers(other, [], work_tree=True)
    return history.needed_objects(repo, recorded)


def collect(repo: Repo, *, remote_name: str | None, dry_run: bool) -> Collected:
    with repo.locked(), fsutil.storage_errors():
        needed = referenced(repo)
        if remote_name is None:
            if needed.unknown_listings:
                ui.warn(
                    f"{len(needed.unknown_listings)} directory listing(s) referenced in "
                    "history are not in the cache; files only they list are not kept"
                )
            removed, size = cache_collect.collect_garbage(repo.cache, needed.all, dry_run)
            return Collected("the cache", removed, size, len(needed.all))
        remote = resolve_remote(repo, remote_name)
        removed, orphans = remote_collect.collect_garbage(remote, repo.cache, needed, dry_run)
        return Collected(remote.shown, removed, None, len(needed.all), orphans)


def _other_worktrees(repo: Repo) -> list[Path]:
    listing = git.run(repo.root, ["worktree", "list", "--porcelain"], check=False)
    found = []
    for field in listing.splitlines():
        if not field.startswith("worktree "):
            continue
        path = Path(field[len("worktree ") :])
        if path.is_dir() and path.resolve() != repo.root:
            found.append(path)
    return found
