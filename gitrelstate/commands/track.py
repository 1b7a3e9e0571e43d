"""``git relstate track PATH...``: store data in the cache and write its pointer."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.workspace.adding import Tracked, track_paths


def track(repo: Repo, cwd: Path, paths: Sequence[str]) -> int:
    if not paths:
        raise RelstateError(
            "nothing to track", hint="name a file or folder: git relstate track data/"
        )
    track_paths(repo, cwd, paths, _report)
    return 0


def _report(done: Tracked) -> None:
    snap = done.snapshot
    what = f"{snap.nfiles} files, " if snap.nfiles is not None else ""
    if done.changed:
        ui.echo(f"tracked {done.rel} ({what}{ui.human_size(snap.size)}) -> {done.pointer_rel}")
        folder = done.rel.rpartition("/")[0]
        ignore_file = f"{folder}/.gitignore" if folder else ".gitignore"
        ui.echo(f"hint: git add {shlex.quote(done.pointer_rel)} {shlex.quote(ignore_file)}")
    else:
        ui.echo(f"{done.rel} unchanged ({what}{ui.human_size(snap.size)})")
