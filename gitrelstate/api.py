"""The Python API: bind a run from inside a training script.

    import gitrelstate

    with gitrelstate.run("train", deps=["data/train.csv"], outs=["model.pkl"],
                         params=["params.yaml:train"], metrics=["metrics.json"]) as r:
        ...  # train, write model.pkl and metrics.json

On a clean exit from the block the same record as ``git relstate run`` is written
(``.relstate/runs/train.yaml``); an exception leaves the previous record alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from gitrelstate.repo import Repo
from gitrelstate.runs.executor import Execution
from gitrelstate.runs.spec import make_spec
from gitrelstate.state.record import RunRecord, check_run_name


class RunHandle:
    """What the ``with`` block gets: the execution, and the record once written."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.record: RunRecord | None = None

    @property
    def environment(self) -> dict[str, object]:
        return self.execution.environment

    @property
    def params(self) -> dict[str, dict[str, object]]:
        return self.execution.params


def _script_command(repo: Repo) -> tuple[str, ...]:
    argv = list(sys.argv) or ["python"]
    script = Path(argv[0])
    if script.suffix == ".py" and script.exists():
        try:
            argv[0] = repo.relpath(script)
        except Exception:
            argv[0] = str(script)
        return ("python", *argv)
    return (sys.executable, *argv)


@contextmanager
def run(
    name: str,
    *,
    deps: Sequence[str] = (),
    outs: Sequence[str] = (),
    metrics: Sequence[str] = (),
    params: Sequence[str] = (),
    variables: Sequence[str] = (),
    cwd: str | os.PathLike[str] | None = None,
) -> Iterator[RunHandle]:
    """Record the block as run ``name``; paths are relative to ``cwd`` (default: here)."""
    check_run_name(name)
    here = Path(cwd) if cwd is not None else Path.cwd()
    repo = Repo.discover(here)
    repo.require_initialised()
    stage = make_spec(
        repo,
        here,
        name,
        _script_command(repo),
        deps=deps,
        outs=outs,
        metrics=metrics,
        params=params,
        variables=variables,
    )
    execution = Execution(repo, stage, in_process=True)
    handle = RunHandle(execution)
    try:
        with repo.locked():
            execution.begin()
        yield handle
        with repo.locked():
            handle.record = execution.finish(0)
    finally:
        repo.close()
