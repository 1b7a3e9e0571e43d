"""Executing a stage and binding it to its conditions: the core of ``run``.

Used by the CLI (``git relstate run``, ``repro``) and the Python API (``gitrelstate.run``):
:meth:`Execution.begin` hashes the dependencies and the code, reads params and captures
the environment; :meth:`Execution.finish` checks the inputs did not change, stores the
outputs, writes the record and remembers the run in the run cache.
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

from gitrelstate import faults, fsutil, git, values
from gitrelstate.environment.variables import configured_patterns
from gitrelstate.errors import RelstateError
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import binding
from gitrelstate.runs.codefiles import code_files
from gitrelstate.runs.codestate import code_state
from gitrelstate.runs.records import record_path
from gitrelstate.runs.spec import StageSpec
from gitrelstate.state import yamlio
from gitrelstate.state.record import Artifact, RunRecord
from gitrelstate.workspace import tracking


def now_utc() -> str:
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
    code_files: list[Artifact] = field(default_factory=list)
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
        params_files = {f for f, _ in self.spec.params}
        for rel in self._dep_paths():
            artifact = binding.bind_dependency(self.repo, rel, params_file=rel in params_files)
            self.deps.append(artifact)
            self.deps_before[rel] = artifact.hash
        for rel in code_files(
            self.repo, self.spec.command, self.spec.wdir, (*self._dep_paths(), *self.spec.all_outs)
        ):
            self.code_files.append(binding.hash_only(self.repo, rel))
        for file, keys in self.spec.params:
            path = self._inside(file, "params")
            flat = values.flatten(values.load_structured(path, file))
            self.params[file] = (
                values.select(flat, keys, file) if keys else dict(sorted(flat.items()))
            )
        self.environment = self._capture_environment()
        self.started = now_utc()
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
        outs = self.spec.all_outs
        for rel in outs:
            self._inside(rel, "outs")
        for rel in outs:
            if rel not in self.spec.git_outs and git.is_tracked(self.repo.root, rel):
                raise RelstateError(
                    f"output {rel} is tracked by Git",
                    hint=f"outputs are stored by gitrelstate: git rm -r --cached '{rel}' "
                    f"(or keep it in Git: --out-git {rel})",
                )
        from gitrelstate.runs.records import all_records

        binding.check_outputs(self.repo, self.spec, all_records(self.repo))
        overlap = set(self._dep_paths()) & set(outs)
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

    def finish(self, exit_status: int, *, remember: bool = True) -> RunRecord:
        """Check, store and record a finished run (``remember``: add it to the run cache)."""
        with fsutil.storage_errors():
            record = self._finish(exit_status)
        if remember:
            from gitrelstate.runs import runcache

            runcache.remember(self.repo, record)
        return record

    def _finish(self, exit_status: int) -> RunRecord:
        duration = time.monotonic() - self.t0
        finished = now_utc()
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
        before = {**self.deps_before, **{a.path: a.hash for a in self.code_files}}
        changed = [
            rel
            for rel, hash_ in before.items()
            if tracking.snapshot(self.repo, self.repo.abspath(rel), store=False).hash != hash_
        ]
        if changed:
            raise RelstateError(
                f"dependencies of '{self.spec.name}' changed while it ran: {', '.join(changed)}; "
                "no record was written",
                hint="make sure nothing else writes them during the run, then run again",
            )
        for rel in self.spec.all_outs:
            self._inside(rel, "outs")  # the command may have made a symlink out of the tree
        outs = binding.bind_outputs(self.repo, self.spec)
        metrics = {
            rel: values.flatten(values.load_structured(self._inside(rel, "metrics"), rel))
            for rel in self.spec.metrics
        }
        code = dict(self.code)
        if self.code_files:
            code["files"] = [a.to_dict() for a in self.code_files]
        record = RunRecord(
            name=self.spec.name,
            command=self.spec.command,
            wdir=self.spec.wdir,
            code=code,
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
            extra=definition_extra(self.spec),
        )
        write_record(self.repo, record)
        return record


def definition_extra(spec: StageSpec) -> dict[str, Any]:
    """The record keys (beyond the fixed fields) that carry the stage's definition."""
    extra: dict[str, Any] = {}
    if spec.variables:
        extra["env_vars"] = list(spec.variables)
    keyed = {f: list(k) for f, k in spec.params if k}
    if keyed:
        extra["param_keys"] = keyed
    if spec.tolerance is not None:
        extra["tolerance"] = spec.tolerance.to_dict()
    if spec.git_outs:
        extra["git_outs"] = list(spec.git_outs)
    if spec.plots:
        extra["plots"] = {k: dict(v) for k, v in spec.plots.items()}
    if spec.frozen:
        extra["frozen"] = True
    if spec.always_changed:
        extra["always_changed"] = True
    if spec.imported:
        extra["imported"] = dict(spec.imported)
    return extra


def write_record(repo: Repo, record: RunRecord) -> None:
    """Write ``record`` atomically into a real ``.relstate/runs/`` folder."""
    # A real folder inside the work tree: a committed .relstate/runs symlink must not
    # send the record (or its temp file) anywhere else.
    path = repo.resolve_inside(
        f"{RUNS_DIR}/{record.name}.yaml",
        f"run '{record.name}'",
        "record",
        allow_state=True,
        follow_symlinks=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fsutil.remove_stale_tmps(path.parent)  # a killed run's temp record: never commit it
    faults.checkpoint("runner.record")
    fsutil.write_text_atomic(path, yamlio.dumps(record.to_dict()))
    repo.statcache.flush()
