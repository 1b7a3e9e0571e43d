"""``git relstate verify``: every referenced object exists and re-hashes to its name."""

from __future__ import annotations

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.maintenance import verify as engine
from gitrelstate.repo import Repo


def verify(repo: Repo, *, remote_name: str | None, all_refs: bool, jobs: int | None) -> int:
    done = engine.verify(repo, remote_name=remote_name, all_refs=all_refs, jobs=jobs)
    if done.problems:
        raise RelstateError(
            f"{len(done.problems)} problem(s) in {done.where}:\n{ui.bullets(done.problems)}",
            hint="restore missing objects with 'git relstate fetch' (or push them from a "
            "clone that has them: a push also re-uploads the objects of a damaged pack "
            "index); corrupt objects found have been removed; a release that fails its "
            "checks must be restored from history (docs/releases.md)",
        )
    scope = "all refs" if all_refs else "HEAD and the work tree"
    ui.echo(
        f"verified {done.objects} object(s) in {done.where} for {scope}: all present and intact"
    )
    if done.releases:
        ui.echo(
            f"verified {done.releases} release file(s): every state_id matches its content "
            "(and its tag, where one records it)"
        )
    return 0
