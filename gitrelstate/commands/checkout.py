"""``git relstate checkout``: make the work tree's data match the pointers (or the data a
release or a run recorded)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate import ui
from gitrelstate.repo import Repo
from gitrelstate.sync.recorded import checkout_recorded
from gitrelstate.workspace.checkout import checkout_tracked, summary
from gitrelstate.workspace.selection import select_tracked


def checkout(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    *,
    force: bool,
    release: str | None = None,
    run: str | None = None,
) -> int:
    if release is not None or run is not None:
        done = checkout_recorded(repo, cwd, paths, force=force, release=release, run=run)
        for line in done.lines():
            ui.echo(line)
        return 0
    with repo.locked():
        tracked = select_tracked(repo, cwd, paths)
        written, removed = checkout_tracked(repo, tracked, force=force)
    ui.echo(summary(written, removed, len(tracked)))
    return 0
