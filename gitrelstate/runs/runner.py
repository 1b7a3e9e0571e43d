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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gitrelstate import faults, fsutil, git, hashing, ui, values
from gitrelstate.errors import RelstateError
from gitrelstate.repo import RUNS_DIR, STATE_DIR, Repo
from gitrelstate.state import yamlio
from gitrelstate.state.pointer import SUFFIX
from gitrelstate.state.record import Artifact, RunRecord, check_run_name
from gitrelstate.workspace import gitignore, pointers, tracking

__all__ = ["RUNS_DIR", "Execution", "StageSpec", "make_spec"]


@dataclass(frozen=True)
class StageSpec:
    """What to run and what it touches; paths are repo-relative."""

    name: str
    command: tuple[str, ...]
    wdir: str = "."
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    variables: tuple[str, ...] = ()


def make_spec(
    repo: Repo,
    here: Path,
    name: str,
    command: Sequence[str],
    *,
    deps: Sequence[str] = (),
    outs: Sequence[str] = (),
    metrics: Sequence[str] = (),
    params: Sequence[str] = (),
    variables: Sequence[str] = (),
    wdir: str | None = None,
) -> StageSpec:
    """A stage from user-given paths (relative to ``here``) and ``FILE[:KEY,...]`` params."""

    def rel(p: str) -> str:
        return repo.relpath(here / p)

    param_specs = []
    for spec in params:
        file, keys = values.parse_param_spec(spec)
        param_specs.append((rel(file), tuple(keys)))
    return StageSpec(
        name=check_run_name(name),
        command=tuple(command),
        wdir=(rel(wdir) if wdir else repo.relpath(here)) or ".",
        deps=tuple(rel(d) for d in deps),
        outs=tuple(rel(o) for o in outs),
        metrics=tuple(rel(m) for m in metrics),
        params=tuple(param_specs),
        variables=tuple(variables),
    )


def record_path(repo: Repo, name: str) -> Path:
    return repo.root / RUNS_DIR / f"{name}.yaml"


def load_record(repo: Repo, name: str) -> RunRecord:
    check_run_name(name)
    path = record_path(repo, name)
    if not path.exists():
        raise RelstateError(
            f"no run named '{name}'", hint="record one with: git relstate run -n NAME -- CMD..."
        )
    return RunRecord.from_dict(
        yamlio.read(path, f"{RUNS_DIR}/{name}.yaml"), f"{RUNS_DIR}/{name}.yaml"
    )


def all_records(repo: Repo) -> list[RunRecord]:
    folder = repo.root / RUNS_DIR
    if not folder.is_dir():
        return []
    return [
        load_record(repo, p.stem)
        for p in sorted(folder.glob("*.yaml"))
        if not fsutil.is_tmp_name(p.name)
    ]


def spec_from_record(record: RunRecord) -> StageSpec:
    metrics = tuple(record.metrics)
    return StageSpec(
        name=record.name,
        command=record.command,
        wdir=record.wdir,
        deps=tuple(d.path for d in record.deps if d.path not in record.params),
        outs=tuple(o.path for o in record.outs if o.path not in metrics),
        metrics=metrics,
        params=tuple((f, tuple(keys)) for f, keys in record.extra.get("param_keys", {}).items())
        or tuple((f, ()) for f in record.params),
        variables=tuple(record.extra.get("env_vars", [])),
    )


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def interpreter_for(command: Sequence[str], cwd: Path) -> str | None:
    """The Python the command runs in (its packages are the ones to record)."""
    from gitrelstate.environment import find_python

    return find_python(command, cwd)


# State files (records, pointers, the .gitignore entries track writes) are not
# code: they are what gitrelstate itself writes around a run.
NOT_CODE = (
    f":(exclude){STATE_DIR}",
    f":(exclude,glob)**/*{SUFFIX}",
    ":(exclude,glob)**/.gitignore",
)


def code_diff_digest(repo: Repo, *revs: str) -> str | None:
    """Digest of ``git diff REVS`` over code files (None when there is no difference)."""
    diff = git.run_bytes(repo.root, ["diff", *revs, "--binary", "--", ".", *NOT_CODE])
    return hashing.content_id(hashing.hash_bytes(diff)) if diff else None


def code_state(repo: Repo) -> dict[str, Any]:
    """Commit, branch, and — when tracked code differs from it — a digest of the diff."""
    commit = git.head_commit(repo.root)
    branch = git.run(repo.root, ["branch", "--show-current"], check=False).strip() or None
    state: dict[str, Any] = {"commit": commit, "branch": branch}
    digest = code_diff_digest(repo, "HEAD") if commit else None
    state["dirty"] = digest is not None
    if digest:
        state["diff"] = digest
    return state


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
            flat = values.flatten(values.load_structured(self.repo.abspath(file), file))
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

    def _check_paths(self) -> None:
        for rel in self._dep_paths():
            if not os.path.lexists(self.repo.abspath(rel)):
                raise RelstateError(f"dependency {rel} does not exist")
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

        configured = self.repo.environment_variables()
        python = (
            None
            if self.in_process
            else interpreter_for(self.spec.command, self.repo.abspath(self.spec.wdir))
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
        outs = [_bind_output(self.repo, rel) for rel in (*self.spec.outs, *self.spec.metrics)]
        metrics = {
            rel: values.flatten(values.load_structured(self.repo.abspath(rel), rel))
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
        path = record_path(self.repo, self.spec.name)
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


def stale_reasons(repo: Repo, record: RunRecord) -> list[str]:
    """Why ``record`` no longer describes the work tree (empty when it does)."""
    reasons = []
    for kind, items in (("dependency", record.deps), ("output", record.outs)):
        for item in items:
            path = repo.abspath(item.path)
            if not path.exists():
                reasons.append(f"{kind} {item.path} is missing")
                continue
            if tracking.snapshot(repo, path, store=False).hash != item.hash:
                reasons.append(f"{kind} {item.path} changed")
    return reasons


def upstream_of(records: Sequence[RunRecord], record: RunRecord) -> list[RunRecord]:
    """The stages whose outputs ``record`` depends on."""
    wanted = {d.path for d in record.deps}
    return [r for r in records if r.name != record.name and wanted & {o.path for o in r.outs}]


def environment_patterns(config_doc: Mapping[str, Any]) -> list[str]:
    env = config_doc.get("environment") or {}
    patterns = env.get("variables") if isinstance(env, Mapping) else None
    return [str(p) for p in patterns] if isinstance(patterns, list) else []
