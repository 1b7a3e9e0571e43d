"""``git relstate push|fetch|pull``: move objects between the cache and a remote."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate import git, pointers, runner, transfer, ui
from gitrelstate.commands.checkout import checkout
from gitrelstate.errors import RelstateError
from gitrelstate.pointers import Tracked
from gitrelstate.remote import Remote
from gitrelstate.repo import Repo
from gitrelstate.selection import select_tracked
from gitrelstate.state.pointer import DataPointer


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


def selected(repo: Repo, cwd: Path, paths: Sequence[str], runs: Sequence[str]) -> list[Tracked]:
    """The pointers named by ``paths``, plus the data each run in ``runs`` used and made
    (at the hashes its record names); everything when neither is given."""
    if not runs:
        return select_tracked(repo, cwd, paths)
    chosen = select_tracked(repo, cwd, paths) if paths else []
    for name in runs:
        record = runner.load_record(repo, name)
        for artifact in (*record.deps, *record.outs):
            if git.is_tracked(repo.root, artifact.path):
                continue  # code and other files Git itself carries
            data_name = artifact.path.rpartition("/")[2]
            pointer = DataPointer(data_name, artifact.hash, artifact.size, artifact.nfiles)
            where = f"{runner.RUNS_DIR}/{name}.yaml ({artifact.path})"
            chosen.append(Tracked(where, artifact.path, pointer))
    return chosen


def push(
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    runs: Sequence[str] = (),
) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    try:
        with repo.locked(shared=True):
            remote = resolve_remote(repo, remote_name)
            tracked = selected(repo, cwd, paths, runs)
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


def fetch(
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    runs: Sequence[str] = (),
) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    try:
        with repo.locked():
            remote = resolve_remote(repo, remote_name)
            tracked = selected(repo, cwd, paths, runs)
            count = transfer.fetch(repo, remote, tracked, jobs or transfer.default_jobs(remote))
    finally:
        repo.close()
    ui.echo(f"fetched {count} object(s) from {remote.shown}" if count else "cache is complete")
    return 0


def pull(
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    *,
    force: bool,
    runs: Sequence[str] = (),
) -> int:
    fetch(cwd, paths, remote_name, jobs, runs)
    if runs and not paths:
        # Check out the tracked data those runs touched (as the pointers say now).
        repo = Repo.discover(cwd)
        records = [runner.load_record(repo, name) for name in runs]
        run_paths = {
            str(repo.abspath(a.path))
            for record in records
            for a in (*record.deps, *record.outs)
            if repo.abspath(pointers.pointer_rel_for(a.path)).exists()
        }
        paths = sorted(run_paths)
        if not paths:
            return 0
    return checkout(cwd, paths, force=force)
