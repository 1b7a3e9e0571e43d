"""``git relstate run``: execute a command and record its execution state."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.guard import executables
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import executor, graph, provenance, spec
from gitrelstate.runs.records import all_records, load_record
from gitrelstate.runs.tolerance import Tolerance, of_record, record_tolerance
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
) -> int:
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
    )
    return _execute(repo, stage, tolerance)


def rerun(repo: Repo, name: str, *, tolerance: Tolerance | None = None) -> int:
    """``git relstate run NAME``: run a recorded stage again with its recorded settings
    (its tolerance too, unless ``tolerance`` replaces it)."""
    record = load_record(repo, name)
    tolerance = tolerance or of_record(record)
    # Before anything of it runs (the environment probe included): whose command is this?
    for found in provenance.provenance(repo.root, [record], [f"{RUNS_DIR}/{name}.yaml"]):
        if found.foreign:
            ui.warn(found.notice())
            ui.stderr(f"hint: {provenance.HINT}")
    records = all_records(repo)
    for upstream in graph.upstream_of(records, record):
        reasons = graph.stale_reasons(repo, upstream)
        if reasons:
            ui.warn(
                f"upstream stage '{upstream.name}' is stale ({'; '.join(reasons[:3])}); "
                f"run 'git relstate run {upstream.name}' first to refresh its outputs"
            )
    return _execute(repo, spec.spec_from_record(record), tolerance)


def _execute(repo: Repo, stage: spec.StageSpec, tolerance: Tolerance | None = None) -> int:
    execution = executor.Execution(repo, stage)
    with repo.locked():
        execution.begin()
    workdir = (
        repo.resolve_inside(stage.wdir, f"run '{stage.name}'", "wdir")
        if stage.wdir != "."
        else repo.root
    )
    ui.echo(f"running '{stage.name}': {' '.join(stage.command)}")
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
        if tolerance is not None:  # reproduce compares this stage's outputs within it
            record_tolerance(repo, stage.name, tolerance)
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
