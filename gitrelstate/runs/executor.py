"""Executing a stage and binding it to its conditions: the core of ``run``.

Used by the CLI (``git relstate run``) and the Python API (``gitrelstate.run``):
:meth:`Execution.begin` hashes the dependencies, reads params and captures the
environment; :meth:`Execution.finish` checks the dependencies did not change,
stores the outputs and writes the record.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gitrelstate import faults, fsutil, git, ui, values
from gitrelstate.environment.variables import configured_patterns
from gitrelstate.errors import RelstateError
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs.codestate import code_state
from gitrelstate.runs.records import record_path
from gitrelstate.runs.spec import StageSpec
from gitrelstate.state import yamlio
from gitrelstate.state.record import Artifact, RunRecord
from gitrelstate.workspace import gitignore, pointers, tracking


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def interpreter_for(command: Sequence[str], cwd: Path) -> str | None:
    """The Python whose live environment stands for a recorded command's.

    For read-only commands (``diff``'s work-tree side, ``env check``, ``reproduce``):
    never an interpreter the record or a committed shebang names unless it is where
    the user put it (see :func:`gitrelstate.environment.live_python`); nothing a
    state file names runs.
    """
    from gitrelstate.environment import live_python

    return live_python(command, cwd)


def recording_interpreter(command: Sequence[str], cwd: Path) -> str | None:
    """The Python the command about to run uses (its packages are the ones to record)."""
    from gitrelstate.environment import find_python

    return find_python(command, cwd)


@dataclass
class Execution:
    repo: Repo
    spec: StageSpec
    deps_before: dict[str, str] = field(default_factory=dict)
    deps: list[Artifact] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    t0: float = 0.0
    # The Python API runs inside the interpreter it records: capture it in-process.
    in_process: bool = False

    def begin(self) -> None:
        with fsutil.storage_errors():
            self._begin()

    def _begin(self) -> None:
        self._check_paths()
        self.code = code_state(self.repo)
        for rel in self._dep_paths():
            artifact = _bind_dependency(self.repo, rel)
            self.deps.append(artifact)
            self.deps_before[rel] = artifact.hash
        for file, keys in self.spec.params:
            path = self._inside(file, "params")
            flat = values.flatten(values.load_structured(path, file))
            self.params[file] = (
                values.select(flat, keys, file) if keys else dict(sorted(flat.items()))
            )
        self.environment = self._capture_environment()
        self.started = _now()
        self.t0 = time.monotonic()

    def _dep_paths(self) -> list[str]:
        # Params files are dependencies too: a changed value must show as changed input.
        paths = list(self.spec.deps) + [f for f, _ in self.spec.params]
        return list(dict.fromkeys(paths))

    def _inside(self, rel: str, key: str) -> Path:
        """Where ``rel`` really is; refused when a symlink on the way leaves the work tree
        (a rerun takes its paths from a record, which came through Git)."""
        return self.repo.resolve_inside(rel, f"run '{self.spec.name}'", key)

    def _record_location(self) -> Path:
        """Where the record goes: a real folder inside the work tree, never through a
        symlink (a committed .relstate/runs -> /elsewhere must not receive it)."""
        return self.repo.resolve_inside(
            f"{RUNS_DIR}/{self.spec.name}.yaml",
            f"run '{self.spec.name}'",
            "record",
            allow_state=True,
            follow_symlinks=False,
        )

    def _check_paths(self) -> None:
        self._record_location()  # before the command runs, not only after
        if self.spec.wdir != ".":
            self._inside(self.spec.wdir, "wdir")
        for rel in self._dep_paths():
            if not os.path.lexists(self._inside(rel, "deps")):
                raise RelstateError(f"dependency {rel} does not exist")
        for rel in (*self.spec.outs, *self.spec.metrics):
            self._inside(rel, "outs")
        for rel in (*self.spec.outs, *self.spec.metrics):
            if git.is_tracked(self.repo.root, rel):
                raise RelstateError(
                    f"output {rel} is tracked by Git",
                    hint=f"outputs are stored by gitrelstate: git rm -r --cached '{rel}'",
                )
        overlap = set(self._dep_paths()) & set((*self.spec.outs, *self.spec.metrics))
        if overlap:
            raise RelstateError(
                f"{', '.join(sorted(overlap))} is both a dependency and an output "
                f"of '{self.spec.name}'"
            )

    def _capture_environment(self) -> dict[str, Any]:
        from gitrelstate.environment import capture_environment, load_or_create_secret_key

        configured = configured_patterns(self.repo)
        python = (
            None
            if self.in_process
            else recording_interpreter(self.spec.command, self.repo.abspath(self.spec.wdir))
        )
        return capture_environment(
            python=python,
            repo_root=self.repo.root,
            variables=tuple(configured) + self.spec.variables,
            secret_key=load_or_create_secret_key(self.repo.private_dir),
        )

    def finish(self, exit_status: int) -> RunRecord:
        with fsutil.storage_errors():
            return self._finish(exit_status)

    def _finish(self, exit_status: int) -> RunRecord:
        duration = time.monotonic() - self.t0
        finished = _now()
        if exit_status != 0:
            kept = (
                " the previous record is kept"
                if record_path(self.repo, self.spec.name).exists()
                else ""
            )
            raise RelstateError(
                f"the command of '{self.spec.name}' failed with exit status {exit_status}; "
                f"no record was written;{kept}".rstrip(";"),
                hint="fix the command and run it again",
            )
        changed = [
            rel
            for rel in self._dep_paths()
            if tracking.snapshot(self.repo, self.repo.abspath(rel), store=False).hash
            != self.deps_before[rel]
        ]
        if changed:
            raise RelstateError(
                f"dependencies of '{self.spec.name}' changed while it ran: {', '.join(changed)}; "
                "no record was written",
                hint="make sure nothing else writes them during the run, then run again",
            )
        for rel in (*self.spec.outs, *self.spec.metrics):
            self._inside(rel, "outs")  # the command may have made a symlink out of the tree
        outs = [_bind_output(self.repo, rel) for rel in (*self.spec.outs, *self.spec.metrics)]
        metrics = {
            rel: values.flatten(values.load_structured(self._inside(rel, "metrics"), rel))
            for rel in self.spec.metrics
        }
        extra: dict[str, Any] = {}
        if self.spec.variables:
            extra["env_vars"] = list(self.spec.variables)
        keyed = {f: list(k) for f, k in self.spec.params if k}
        if keyed:
            extra["param_keys"] = keyed
        record = RunRecord(
            name=self.spec.name,
            command=self.spec.command,
            wdir=self.spec.wdir,
            code=self.code,
            deps=tuple(self.deps),
            outs=tuple(outs),
            params=self.params,
            metrics=metrics,
            environment=self.environment,
            started=self.started,
            finished=finished,
            duration=duration,
            exit_status=exit_status,
            host=socket.gethostname(),
            extra=extra,
        )
        # A real folder inside the work tree: a committed .relstate/runs symlink must not
        # send the record (or its temp file) anywhere else.
        path = self._record_location()
        path.parent.mkdir(parents=True, exist_ok=True)
        fsutil.remove_stale_tmps(path.parent)  # a killed run's temp record: never commit it
        faults.checkpoint("runner.record")
        fsutil.write_text_atomic(path, yamlio.dumps(record.to_dict()))
        self.repo.statcache.flush()
        return record


def _artifact(rel: str, snap: tracking.Snapshot) -> Artifact:
    return Artifact(rel, snap.hash, snap.size, snap.nfiles)


def _bind_dependency(repo: Repo, rel: str) -> Artifact:
    """Hash a dependency; one that neither Git nor gitrelstate tracks is tracked now,
    so every input of a run can be restored later."""
    path = repo.abspath(rel)
    if git.is_tracked(repo.root, rel):
        return _artifact(rel, tracking.snapshot(repo, path, store=False))
    return _bind_output(repo, rel, announce="tracked dependency")


def _bind_output(repo: Repo, rel: str, announce: str = "") -> Artifact:
    """Store data in the cache and write (or refresh) its pointer."""
    path = repo.abspath(rel)
    if not path.exists():
        raise RelstateError(f"output {rel} was not produced by the command")
    pointer_rel = pointers.pointer_rel_for(rel)
    fsutil.remove_stale_tmps(path.parent)  # leftovers of a killed run beside the output
    previous = None
    if repo.abspath(pointer_rel).exists():
        previous = pointers.load(repo, pointer_rel).pointer
    snap = tracking.snapshot(repo, path, store=True, label=f"storing {rel}", previous=previous)
    pointer = tracking.pointer_from(snap, path.name, previous)
    if pointers.save(repo, pointer_rel, pointer) and announce:
        ui.echo(f"{announce} {rel} -> {pointer_rel}")
    gitignore.ensure_ignored(path.parent, path.name)
    return _artifact(rel, snap)
