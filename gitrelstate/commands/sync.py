"""``git relstate push|fetch|pull``: move objects between the cache and a remote."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate import ui
from gitrelstate.repo import Repo
from gitrelstate.sync import transfers
from gitrelstate.sync.transfers import Fetched
from gitrelstate.workspace.checkout import summary


def push(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    runs: Sequence[str] = (),
    release_names: Sequence[str] = (),
) -> int:
    done = transfers.push(repo, cwd, paths, remote_name, jobs, runs, release_names)
    if done.sent:
        ui.echo(f"pushed {done.sent} object(s) to {done.remote}; {done.present} already there")
    else:
        ui.echo(f"everything is already on {done.remote} ({done.present} object(s))")
    return 0


def fetch(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    remote_name: str | None,
    jobs: int | None,
    runs: Sequence[str] = (),
    release_names: Sequence[str] = (),
) -> int:
    _report_fetch(transfers.fetch(repo, cwd, paths, remote_name, jobs, runs, release_names))
    return 0


def _report_fetch(done: Fetched) -> None:
    ui.echo(
        f"fetched {done.count} object(s) from {done.remote}" if done.count else "cache is complete"
    )


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
) -> int:
    done = transfers.pull(
        repo, cwd, paths, remote_name, jobs, force=force, runs=runs, release_names=release_names
    )
    _report_fetch(done.fetched)
    for recorded in done.recorded:
        for line in recorded.lines():
            ui.echo(line)
    if done.checkout is not None:
        ui.echo(summary(*done.checkout))
    return 0
