"""``git relstate run``: execute a command and record its execution state."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.guard import executables
from gitrelstate.pipeline import plan
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import define, executor, provenance, spec
from gitrelstate.runs.records import all_records
from gitrelstate.runs.tolerance import Tolerance
from gitrelstate.state.record import check_run_name


def run_stage(
    repo: Repo,
    cwd: Path,
    name: str,
    command: Sequence[str],
    *,
    deps: Sequence[str],
    outs: Sequence[str],
    metrics: Sequence[str],
    params: Sequence[str],
    variables: Sequence[str],
    wdir: str | None,
    tolerance: Tolerance | None = None,
    git_outs: Sequence[str] = (),
    git_metrics: Sequence[str] = (),
    force: bool = False,
) -> int:
    """``run -n NAME ... -- CMD``: define the stage (refused when it is defined
    differently, unless ``force``) and run it."""
    check_run_name(name)
    if not command:
        raise RelstateError(
            "no command given",
            hint=f"git relstate run -n {name} -d DEP -o OUT -- python train.py "
            f"(or 'git relstate run {name}' to re-run a recorded stage)",
        )
    stage = spec.make_spec(
        repo,
        cwd,
        name,
        command,
        deps=deps,
        outs=outs,
        metrics=metrics,
        params=params,
        variables=variables,
        wdir=wdir,
        git_outs=git_outs,
        git_metrics=git_metrics,
        tolerance=tolerance,
    )
    records = all_records(repo)
    old = define.find_stage([r for r in records if r.name == name], name)
    if old is not None:
        previous = spec.spec_from_record(old)
        if not force:
            define.refuse_redefinition(previous, stage)
            # The same definition: what it carries beyond it stays (plots, origin).
            stage = _carry(previous, stage)
    _check_upstream(repo, stage, force)
    return _execute(repo, stage)


def rerun(repo: Repo, cwd: Path, name: str, changes: define.Changes, *, force: bool = False) -> int:
    """``git relstate run NAME [changes]``: run a recorded stage again, with its recorded
    settings changed as asked (options add, --drop removes, a command replaces)."""
    records = all_records(repo)
    record = define.find_stage(records, name)
    if record is None:
        raise RelstateError(
            f"no run named '{name}'", hint="record one with: git relstate run -n NAME -- CMD..."
        )
    stage = spec.spec_from_record(record)
    if not changes.empty:
        changed = define.amend(repo, cwd, stage, changes)
        for line in define.differences(stage, changed):
            ui.echo(f"stage '{stage.name}' changed: {line}")
        stage = changed
    # Before anything of it runs (the environment probe included): whose command is this?
    for found in provenance.provenance(repo.root, [record], [f"{RUNS_DIR}/{record.name}.yaml"]):
        if found.foreign:
            ui.warn(found.notice())
            ui.stderr(f"hint: {provenance.HINT}")
    _check_upstream(repo, stage, force)
    return _execute(repo, stage)


def _carry(previous: spec.StageSpec, stage: spec.StageSpec) -> spec.StageSpec:
    from dataclasses import replace

    return replace(
        stage,
        tolerance=stage.tolerance or previous.tolerance,
        plots=previous.plots,
        frozen=previous.frozen,
        always_changed=previous.always_changed,
        imported=previous.imported,
    )


def _check_upstream(repo: Repo, stage: spec.StageSpec, force: bool) -> None:
    """Refuse to run on stale inputs: a stage upstream (all the way up) is stale."""
    stale = plan.stale_inputs(repo, stage)
    if not stale:
        return
    shown = "; ".join(f"'{up}' ({'; '.join(why[:2])})" for up, why in stale[:3])
    message = f"stage '{stage.name}' reads from stale stage(s): {shown}"
    if force:
        ui.warn(message + "; running on their current outputs (--force)")
        return
    raise RelstateError(
        message,
        hint=f"bring them and '{stage.name}' up to date with 'git relstate repro "
        f"{stage.name}' (or run on the stale outputs anyway with --force)",
    )


def _execute(repo: Repo, stage: spec.StageSpec) -> int:
    execution = executor.Execution(repo, stage)
    with repo.locked():
        execution.begin()
    workdir = (
        repo.resolve_inside(stage.wdir, f"run '{stage.name}'", "wdir")
        if stage.wdir != "."
        else repo.root
    )
    ui.echo(f"running '{stage.name}': {shlex.join(stage.command)}")
    try:
        argv = executables.resolve_argv(stage.command)
        status = subprocess.run(argv, cwd=workdir, env=dict(os.environ)).returncode
    except FileNotFoundError:
        raise RelstateError(
            f"command not found: {stage.command[0]}",
            hint="check the command after '--' (and your PATH: gitrelstate looks programs "
            "up in its absolute folders only, never in the current folder)",
        ) from None
    with repo.locked():
        record = execution.finish(status)
    dirty = (
        " (uncommitted changes: the diff digest is recorded)" if record.code.get("dirty") else ""
    )
    ui.echo(
        f"recorded run '{stage.name}' in {RUNS_DIR}/{stage.name}.yaml: "
        f"{len(record.deps)} dependencies, {len(record.outs)} outputs, "
        f"{record.duration:.1f}s{dirty}"
    )
    ui.echo(f"hint: git add {RUNS_DIR}/{stage.name}.yaml and the outputs' pointers")
    return 0
