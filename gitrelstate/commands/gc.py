"""``git relstate gc``: remove objects that no branch, tag or work tree references."""

from __future__ import annotations

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.maintenance.gc import collect
from gitrelstate.repo import Repo


def gc(repo: Repo, *, dry_run: bool, remote_name: str | None, force: bool) -> int:
    if remote_name is not None and not force and not dry_run:
        raise RelstateError(
            f"gc on remote '{remote_name}' deletes data other clones may still need",
            hint="look first with --dry-run, then confirm with --force",
        )
    done = collect(repo, remote_name=remote_name, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    if done.incomplete_packs:
        ui.echo(
            f"{verb} {done.incomplete_packs} incomplete pack file(s) (no index, or a damaged "
            f"one) from {done.where}"
        )
    amount = f" ({ui.human_size(done.size)})" if done.size is not None else ""
    where = "the cache" if remote_name is None else f"remote '{remote_name}'"
    ui.echo(
        f"{verb} {done.removed} unreferenced object(s){amount} from {where}; "
        f"kept {done.kept} referenced"
    )
    return 0
