"""``git relstate untrack PATH...``: stop tracking data; the data stays on disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate import ui
from gitrelstate.pipeline.edit import untrack as untrack_paths
from gitrelstate.repo import Repo


def untrack(repo: Repo, cwd: Path, paths: Sequence[str]) -> int:
    done = untrack_paths(repo, cwd, paths)
    for rel in done.untracked:
        ui.echo(f"untracked {rel}: pointer and .gitignore entry removed, the data stays")
    if done.committed:
        ui.echo(f"hint: commit it: git add -A {' '.join(done.committed)} .gitignore")
    return 0
