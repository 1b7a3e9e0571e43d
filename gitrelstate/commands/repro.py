"""``git relstate repro``: bring recorded stages up to date, in dependency order."""

from __future__ import annotations

from collections.abc import Sequence

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.repo import RUNS_DIR, Repo


def repro(
    repo: Repo,
    targets: Sequence[str],
    *,
    jobs: int,
    dry: bool,
    force: bool,
    run_cache: bool,
) -> int:
    if dry:
        return _dry(repo, targets, force=force)
    from gitrelstate.pipeline.scheduler import bring_up_to_date

    summary = bring_up_to_date(repo, list(targets), jobs=jobs, force=force, run_cache=run_cache)
    if not summary.outcomes:
        raise RelstateError(
            "no stage is recorded yet",
            hint="record one with: git relstate run -n NAME -d DEP -o OUT -- CMD...",
        )
    ran, restored = summary.named("ran"), summary.named("restored")
    fresh = summary.named("fresh") + summary.named("frozen")
    skipped = summary.named("skipped")
    for failed in summary.failed:
        ui.stderr(f"error: stage '{failed.name}' failed: {failed.detail}")
        if skipped:
            ui.stderr(f"       not started: {', '.join(skipped)}")
        ui.stderr(
            f"hint: fix it and run 'git relstate repro' again (stages that finished were "
            f"recorded; '{failed.name}' keeps its previous record)"
        )
        return 1
    if not ran and not restored:
        ui.echo(f"Pipeline is up to date ({len(fresh)} stage(s)); nothing to reproduce.")
        return 0
    parts = [f"ran {len(ran)}"] if ran else []
    if restored:
        parts.append(f"restored {len(restored)} from the run cache")
    ui.echo(f"{', '.join(parts)}; {len(fresh)} up to date")
    ui.echo(f"hint: commit the records and pointers: git add {RUNS_DIR} and the pointers shown")
    return 0


def _dry(repo: Repo, targets: Sequence[str], *, force: bool) -> int:
    from gitrelstate.pipeline.plan import dry

    decisions = dry(repo, targets, force=force)
    if not decisions:
        ui.result("No stage is recorded yet.")
        return 0
    for d in decisions:
        if d.verdict == "run":
            ui.result(f"would run  {d.name}: {'; '.join(d.reasons[:3])}")
        elif d.verdict == "maybe":
            ui.result(f"may run    {d.name}: if {', '.join(d.after)} change(s) its outputs")
        elif d.verdict == "frozen":
            ui.result(f"frozen     {d.name}")
        else:
            ui.result(f"up to date {d.name}")
    return 0
