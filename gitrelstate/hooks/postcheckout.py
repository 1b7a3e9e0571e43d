"""The post-checkout hook (opt-in): after a branch switch, bring the data in line.

Only tracked paths whose pointer the checkout changed are touched (all of them
in a new worktree), and only where that loses nothing: a path with local
changes that are not saved in the cache is left as it is and named. Objects the
cache lacks are fetched from the default remote when one is configured.
"""

from __future__ import annotations

import re
import shlex

from gitrelstate import git, ui
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.state.pointer import SUFFIX
from gitrelstate.workspace import pointers
from gitrelstate.workspace.checkout import Plan, checkout_tracked, plan_for, summary
from gitrelstate.workspace.compare import compare
from gitrelstate.workspace.pointers import Tracked

_NULL = re.compile(r"0+")


def changed_pointers(repo: Repo, previous: str, new: str) -> list[str]:
    """Pointers in the work tree that differ between the two commits (every pointer
    when there was no previous commit: a new worktree or clone)."""
    if _NULL.fullmatch(previous):
        return repo.pointer_paths()
    out = git.run(
        repo.root, ["diff", "--name-only", "--no-renames", "-z", previous, new, "--", f"*{SUFFIX}"]
    )
    return sorted(p for p in out.split("\0") if p and repo.abspath(p).is_file())


def _hint(text: str) -> None:
    ui.stderr(f"hint: {text}")


def _plans(repo: Repo, tracked: list[Tracked]) -> list[Plan]:
    return [plan_for(repo, compare(repo, t, hash_changed=True)) for t in tracked]


def after_checkout(repo: Repo, previous: str, new: str) -> None:
    """Check out the data of the pointers the checkout changed, where it is safe."""
    tracked: list[Tracked] = []
    for rel in changed_pointers(repo, previous, new):
        try:
            tracked.append(pointers.load(repo, rel))
        except RelstateError as exc:
            ui.warn(exc.message)
    if not tracked:
        return
    plans = _plans(repo, tracked)
    if any(p.missing for p in plans) and repo.config.default_remote is not None:
        from gitrelstate.sync.transfers import fetch

        wanted = [str(p.cmp.tracked.data_abs(repo)) for p in plans if p.missing]
        try:
            fetched = fetch(repo, repo.root, wanted, None, None)
            ui.echo(f"fetched {fetched.count} object(s) from {fetched.remote}")
        except RelstateError as exc:
            ui.warn(f"could not fetch the data of the new pointers: {exc.message}")
        repo.cache.forget_packs()  # the fetch may have added packs since we looked
        plans = _plans(repo, tracked)
    safe: list[Tracked] = []
    for plan in plans:
        data_rel = plan.cmp.tracked.data_rel
        if plan.conflicts:
            more = ", ..." if len(plan.conflicts) > 3 else ""
            ui.warn(
                f"{data_rel}: kept as it is: it has local changes that are not saved in the "
                f"cache ({', '.join(plan.conflicts[:3])}{more})"
            )
            _hint(
                f"save them with 'git relstate track {shlex.quote(data_rel)}', or "
                f"discard them with 'git relstate checkout --force {shlex.quote(data_rel)}'"
            )
        elif plan.missing:
            ui.warn(f"{data_rel}: not checked out: its data is not in the cache")
            _hint("get it with 'git relstate pull'")
        elif not plan.empty:
            safe.append(plan.cmp.tracked)
    if safe:
        with repo.locked():
            written, removed = checkout_tracked(repo, safe, force=False)
        ui.echo(summary(written, removed, len(safe)))
