"""``git relstate push|fetch|pull``: move objects between the cache and a remote."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate import git, ui
from gitrelstate.commands.checkout import checkout
from gitrelstate.errors import RelstateError
from gitrelstate.releases import releases
from gitrelstate.remotes import remote as remote_mod
from gitrelstate.remotes import transfer
from gitrelstate.repo import Repo
from gitrelstate.runs import runner
from gitrelstate.state.pointer import DataPointer
from gitrelstate.state.record import Artifact
from gitrelstate.workspace import pointers
from gitrelstate.workspace.pointers import Tracked
from gitrelstate.workspace.selection import select_tracked


def selected(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    runs: Sequence[str],
    release_names: Sequence[str] = (),
) -> list[Tracked]:
    """The pointers named by ``paths``, plus the data each run in ``runs`` used and made
    and each release in ``release_names`` binds (at the hashes their files name);
    everything when none is given."""
    if not runs and not release_names:
        return select_tracked(repo, cwd, paths)
    chosen = select_tracked(repo, cwd, paths) if paths else []
    for name in runs:
        record = runner.load_record(repo, name)
        for artifact in (*record.deps, *record.outs):
            if git.is_tracked(repo.root, artifact.path):
                continue  # code and other files Git itself carries
            where = f"{runner.RUNS_DIR}/{name}.yaml ({artifact.path})"
            chosen.append(_as_tracked(where, artifact))
    for name in release_names:
        release = releases.load(repo, name)
        for artifact in release.artifacts():
            chosen.append(_as_tracked(f"release {name} ({artifact.path})", artifact))
    return chosen


def _as_tracked(where: str, artifact: Artifact) -> Tracked:
    data_name = artifact.path.rpartition("/")[2]
    pointer = DataPointer(data_name, artifact.hash, artifact.size, artifact.nfiles)
    return Tracked(where, artifact.path, pointer)


def _bound_paths(repo: Repo, runs: Sequence[str], release_names: Sequence[str]) -> list[str]:
    """Work-tree paths of the tracked data the named runs and releases bind."""
    artifacts = [
        a
        for name in runs
        for a in (*runner.load_record(repo, name).deps, *runner.load_record(repo, name).outs)
    ]
    artifacts += [a for name in release_names for a in releases.load(repo, name).artifacts()]
    return sorted(
        {
            str(repo.abspath(a.path))
            for a in artifacts
            if repo.abspath(pointers.pointer_rel_for(a.path)).exists()
        }
    )


def push(
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    runs: Sequence[str] = (),
    release_names: Sequence[str] = (),
) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    try:
        with repo.locked(shared=True):
            remote = remote_mod.resolve(repo, remote_name)
            tracked = selected(repo, cwd, paths, runs, release_names)
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
    release_names: Sequence[str] = (),
) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    try:
        with repo.locked():
            remote = remote_mod.resolve(repo, remote_name)
            tracked = selected(repo, cwd, paths, runs, release_names)
            count = transfer.fetch(repo, remote, tracked, jobs or transfer.default_jobs(remote))
        _fetch_environment_notes(repo)
    finally:
        repo.close()
    ui.echo(f"fetched {count} object(s) from {remote.shown}" if count else "cache is complete")
    return 0


def _fetch_environment_notes(repo: Repo) -> None:
    """Bring in the environment notes other clones pushed (``env show REV``, ``diff``)."""
    from gitrelstate.environment import envnotes

    git_remote = envnotes.default_git_remote(repo)
    if git_remote is None:
        return
    try:
        envnotes.fetch_notes(repo, git_remote)
    except RelstateError as exc:  # data is what fetch is for; notes are a bonus
        ui.debug(f"environment notes not fetched from {git_remote}: {exc.message}")


def pull(
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    *,
    force: bool,
    runs: Sequence[str] = (),
    release_names: Sequence[str] = (),
) -> int:
    fetch(cwd, paths, remote_name, jobs, runs, release_names)
    if release_names and not runs:
        # A release's own data state, at its recorded hashes (checkout --release).
        for name in release_names:
            checkout(cwd, paths, force=force, release=name)
        return 0
    if (runs or release_names) and not paths:
        # Check out the tracked data they bind (as the pointers say now).
        repo = Repo.discover(cwd)
        paths = _bound_paths(repo, runs, release_names)
        if not paths:
            return 0
    return checkout(cwd, paths, force=force)
