"""``git relstate remove STAGE...``: drop stages (their outputs stay, or are untracked)."""

from __future__ import annotations

from collections.abc import Sequence

from gitrelstate import ui
from gitrelstate.pipeline.edit import remove_stages
from gitrelstate.repo import Repo


def remove(repo: Repo, names: Sequence[str], *, outs: bool) -> int:
    done = remove_stages(repo, names, outs=outs)
    for rel in done.records:
        ui.echo(f"removed {rel}")
    for rel in done.untracked:
        ui.echo(f"untracked {rel} (the data stays in the work tree)")
    if done.kept_outputs:
        ui.echo(
            f"kept as tracked data: {', '.join(done.kept_outputs)} "
            "(untrack them with 'git relstate untrack PATH', or remove with --outs)"
        )
    if done.committed:
        ui.echo(f"hint: commit the removal: git add -A {' '.join(done.committed)}")
    return 0
