"""Reproduce a recorded state: run what ran then, under its recorded conditions, and compare.

The conditions going in are put back as recorded: the code at the bound commit
(an isolated git worktree sharing the cache), every dependency at its recorded
hash, params by value, and the recorded environment variables. The live
environment is compared with the recorded one, the recorded commands run in stage
order, and every recorded output is hashed and compared with its record.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gitrelstate import git, hashing, ui
from gitrelstate.environment.variables import configured_patterns
from gitrelstate.errors import RelstateError
from gitrelstate.guard import executables
from gitrelstate.guard.paths import contained
from gitrelstate.remotes.remote import Remote
from gitrelstate.remotes.remote import resolve as resolve_remote
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.reproduce import env, inputs
from gitrelstate.reproduce import worktree as worktrees
from gitrelstate.reproduce.params import restore_params
from gitrelstate.reproduce.report import Failure, InputCheck, OutputCheck, Report, StageResult
from gitrelstate.reproduce.target import Target, fetch_selector, resolve_target
from gitrelstate.runs.tolerance import Tolerance
from gitrelstate.state.record import Artifact, RunRecord
from gitrelstate.state.release import release_path
from gitrelstate.workspace import tracking
from gitrelstate.workspace.tracking import Snapshot

Say = Callable[[str], None]


@dataclass(frozen=True)
class Request:
    ref: str
    run: str | None = None
    workdir: Path | None = None
    keep: bool = False
    strict_env: bool = False
    fetch: bool = True
    remote: str | None = None
    jobs: int | None = None
    # reproduce --tolerance: overrides what each stage recorded (runs/tolerance.py).
    tolerance: Tolerance | None = None


class Failed(RelstateError):
    """Something could not be restored or run: the verdict is ``failed``."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        stage: str | None = None,
        objects: Sequence[inputs.MissingObject] = (),
    ) -> None:
        super().__init__(message, hint)
        self.stage = stage
        self.objects = list(objects)


# -- the reproduction ---------------------------------------------------------------


def reproduce(repo: Repo, request: Request, say: Say) -> Report:
    """Reproduce ``request.ref``; errors in naming it raise, everything after is reported."""
    started = time.monotonic()
    for gone in worktrees.prune_stale(repo):
        say(f"removed the worktree of an interrupted reproduction: {gone}")
    target = resolve_target(repo, request.ref, request.run)
    report = Report(
        target.describe(), target.commit, [r.name for r in target.to_run], warnings=target.warnings
    )
    _say_provenance(repo, target, report)
    try:
        with worktrees.isolated(repo, target.commit, request.workdir, keep=request.keep) as wt:
            say(f"reproducing {target.label} at {target.commit[:12]} in {wt}")
            if request.keep:
                report.worktree = str(wt)
            Session(repo, Repo.discover(wt), target, request, report, say).run()
    except RelstateError as exc:  # the worktree itself could not be made
        report.failure = Failure(exc.message, exc.hint)
    report.duration = time.monotonic() - started
    return report


def _say_provenance(repo: Repo, target: Target, report: Report) -> None:
    """Before anything runs (the worktree, the environment probe, a command): say whose
    commands these are when another user or host recorded them."""
    from gitrelstate.runs import provenance

    if target.kind == "release":
        files = [release_path(target.name)] * len(target.to_run)
    else:
        files = [f"{RUNS_DIR}/{r.name}.yaml" for r in target.to_run]
    rev = target.commit if target.kind == "commit" else None
    found = provenance.provenance(repo.root, target.to_run, files, rev)
    report.provenance = [p.to_dict() for p in found]
    foreign = [p for p in found if p.foreign]
    for p in foreign:
        report.warnings.append(p.notice())
        ui.warn(p.notice())  # on stderr, even with -q: it is about to run
    if foreign:
        print(f"hint: {provenance.HINT}", file=sys.stderr)


class Session:
    """One reproduction inside its worktree."""

    def __init__(
        self,
        repo: Repo,
        wt_repo: Repo,
        target: Target,
        request: Request,
        report: Report,
        say: Say,
    ) -> None:
        self.repo = repo  # the user's: its cache (shared), config and remotes
        self.wt = wt_repo  # the worktree's: where everything runs and is hashed
        self.target = target
        self.request = request
        self.report = report
        self.say = say
        self.in_git: set[str] = set()  # files Git carries at the commit
        self.made_by: dict[str, str] = {}  # output path -> the stage that made it here

    def run(self) -> None:
        try:
            self.in_git = set(git.ls_files(self.wt.root, []))
            children = self._environments()
            if self.request.strict_env and not self.report.environment_matches:
                self.report.stopped = "the environment differs from the recorded one (--strict-env)"
                return
            data = self._data_needed()
            self._ensure_objects([a for arts in data.values() for a in arts])
            for record in self.target.to_run:
                self._stage(record, data[record.name], children[record.name])
        except Failed as exc:
            self.report.failure = Failure(
                exc.message, exc.hint, exc.stage, [m.to_dict() for m in exc.objects]
            )
        except RelstateError as exc:
            self.report.failure = Failure(exc.message, exc.hint)
        finally:
            self.wt.close()

    # -- environment ----------------------------------------------------------------

    def _environments(self) -> dict[str, env.ChildEnvironment]:
        from gitrelstate.environment import load_or_create_secret_key

        key = load_or_create_secret_key(self.repo.private_dir)
        live = env.LiveEnvironment(self.wt.root, key)
        configured = [*configured_patterns(self.repo), *configured_patterns(self.wt)]
        found: dict[str, dict[str, Any]] = {}
        children = {}
        variables = self.report.variables
        for record in self.target.to_run:
            child = env.child_environment(record, os.environ, key)
            children[record.name] = child
            doc = live.capture(record, child.env, env.capture_patterns(record, configured))
            env.merge(found, record.name, env.differences(record.environment, doc))
            for kind, names in (
                ("restored", child.restored),
                ("missing", child.missing),
                ("mismatched", child.mismatched),
            ):
                variables[kind] = sorted({*variables[kind], *names})
            if child.unverifiable:
                self.report.warnings.append(
                    f"recorded without a key, so not checked: {', '.join(child.unverifiable)}"
                )
        self.report.environment = list(found.values())
        if any(
            d["layer"] == "variables" and d.get("redacted") and d["change"] == "changed"
            for d in self.report.environment
        ):
            self.report.warnings.append(
                "a secret that differs may only mean this clone's secret key is not the "
                "recording machine's (.git/relstate/secret.key)"
            )
        return children

    # -- data -------------------------------------------------------------------------

    def _tracked_by_git(self, path: str) -> bool:
        return path in self.in_git or any(p.startswith(path + "/") for p in self.in_git)

    def _data_needed(self) -> dict[str, list[Artifact]]:
        """Per stage, the dependencies to restore from the cache: neither made by an
        earlier stage of this reproduction nor carried by Git at the commit."""
        made: set[str] = set()
        needed: dict[str, list[Artifact]] = {}
        for record in self.target.to_run:
            needed[record.name] = [
                d for d in record.deps if d.path not in made and not self._tracked_by_git(d.path)
            ]
            made.update(o.path for o in record.outs)
        return needed

    def _ensure_objects(self, artifacts: list[Artifact]) -> None:
        missing = inputs.missing_objects(self.repo, artifacts)
        if not missing:
            return
        hint = f"fetch them: git relstate fetch {fetch_selector(self.target)}"
        if not self.request.fetch:
            raise Failed(
                f"{len(missing)} object(s) are not in the cache (--no-fetch)",
                hint,
                objects=missing,
            )
        try:
            remote = _remote(self.repo, self.request.remote)
        except RelstateError as exc:
            raise Failed(
                f"{len(missing)} object(s) are not in the cache, and {exc.message}",
                exc.hint,
                objects=missing,
            ) from None
        self.say(f"fetching missing objects from {remote.shown}")
        error = inputs.fetch(self.repo, remote, artifacts, self.request.jobs)
        self.repo.cache.forget_packs()
        still = inputs.missing_objects(self.repo, artifacts)
        if not still:
            return
        still = inputs.expand_listings(self.repo, remote, still)
        lacking = inputs.lacking_on_remote(remote, still)
        if lacking:
            raise Failed(
                f"{len(lacking)} object(s) are neither in the cache nor on remote {remote.shown}",
                "push them from a clone that has them (git relstate push)",
                objects=lacking,
            )
        raise Failed(f"could not fetch from {remote.shown}: {error}", objects=still)

    # -- one stage --------------------------------------------------------------------

    def _stage(self, record: RunRecord, data: list[Artifact], child: env.ChildEnvironment) -> None:
        root = self.wt.root
        root_real = os.path.realpath(root)
        workdir = root / record.wdir
        inputs.safe_folder(workdir, root_real, record.wdir)
        for out in record.outs:
            # The folders outputs went into existed when the run was recorded.
            inputs.safe_folder((root / out.path).parent, root_real, out.path)
        with self.repo.locked():
            for artifact in data:
                inputs.write_artifact(self.repo, self.wt, artifact, self.repo.config.link)
        self._check_inputs(record)
        self.say(f"running '{record.name}': {' '.join(record.command)}")
        result = StageResult(record.name, list(record.command))
        self.report.ran.append(result)
        t0 = time.monotonic()
        result.exit_status = run_command(record.command, workdir, child.env)
        result.duration = time.monotonic() - t0
        if result.exit_status != 0:
            raise Failed(
                f"stage '{record.name}' failed with exit status {result.exit_status}",
                "its output is above; later stages were not run",
                stage=record.name,
            )
        self._check_outputs(record)
        self.made_by.update((o.path, record.name) for o in record.outs)

    def _check_inputs(self, record: RunRecord) -> None:
        hashes = {d.path: d.hash for d in record.deps}
        params = {p.file: p for p in restore_params(self.wt.root, record, hashes)}
        self.report.params.extend(p.to_dict() for p in params.values() if p.changed or p.problem)
        keyed = record.extra.get("param_keys") or {}
        for dep in record.deps:
            maker = self.made_by.get(dep.path)
            source = (
                f"stage:{maker}" if maker else "git" if self._tracked_by_git(dep.path) else "cache"
            )
            layer = "params" if dep.path in record.params else "code" if source == "git" else "data"
            actual = self._hash(dep.path)
            check = InputCheck(
                dep.path, record.name, layer, source, dep.hash, actual, actual == dep.hash
            )
            p = params.get(dep.path)
            if p is not None and (p.changed or p.problem) and not check.match:
                if p.problem:
                    check.note = f"recorded values not restored: {p.problem}"
                elif dep.path in keyed:
                    check.note = (
                        "recorded keys restored; the rest of the file may differ from what ran"
                    )
                else:
                    check.match = True  # every value was recorded, and every one is back
                    check.note = "recorded values restored (layout differs)"
            elif maker and not check.match:
                check.note = f"made by '{maker}' in this reproduction, differently"
            elif source == "git" and not check.match:
                check.note = f"differs at commit {self.target.commit[:12]} from what ran"
            self.report.inputs.append(check)

    def _inside(self, path: Path) -> bool:
        """Whether ``path`` (symlinks resolved) is in the worktree, outside its .git and
        .relstate: a symlink committed where a dependency or output lives must not make
        the report a hash oracle for files elsewhere on this machine."""
        return contained(self.wt.root, path, [self.wt.git_dir, self.wt.common_dir])

    def _hash(self, rel: str) -> str | None:
        path = self.wt.abspath(rel)
        if not os.path.lexists(path) or not self._inside(path):
            return None
        return tracking.snapshot(self.wt, path, store=False).hash

    def _check_outputs(self, record: RunRecord) -> None:
        for out in record.outs:
            path = self.wt.abspath(out.path)
            present = path.exists() and self._inside(path)
            snap = tracking.snapshot(self.wt, path, store=False) if present else None
            check = OutputCheck(out.path, record.name, out.hash, snap.hash if snap else None)
            if not check.match and snap is not None and snap.manifest is not None:
                check.files = _folder_changes(self.repo, out, snap.manifest.entries)
            self._judge_numerically(check, record, out, snap)
            self.report.outputs.append(check)
            readable = present or not os.path.lexists(path)  # absent: every value is gone
            if not check.match and out.path in record.metrics and readable:
                self.report.metrics.extend(_metrics_changes(path, out.path, record))
        self.wt.statcache.flush()

    def _judge_numerically(
        self, check: OutputCheck, record: RunRecord, out: Artifact, snap: Snapshot | None
    ) -> None:
        """Under a tolerance (the option's, else the stage's), compare what differs."""
        from gitrelstate.reproduce import tolerant
        from gitrelstate.runs.tolerance import of_record

        tolerance, source = self.request.tolerance, "option"
        if tolerance is None:
            tolerance, source = of_record(record), "recorded"
        if tolerance is None:
            return
        check.tolerance, check.tolerance_source = tolerance, source
        if check.match or snap is None:
            return
        listing = snap.manifest.entries if snap.manifest is not None else None
        path = self.wt.abspath(out.path)
        check.deviations = tolerant.judge(
            self.repo, out, path, listing, record, tolerance, self._fetch_one
        )

    def _fetch_one(self, artifact: Artifact) -> bool:
        """Bring one recorded object the cache lacks, quietly (True when it is here)."""
        if not self.request.fetch:
            return False
        try:
            remote = _remote(self.repo, self.request.remote)
            inputs.fetch(self.repo, remote, [artifact], self.request.jobs)
        except RelstateError:
            return False
        self.repo.cache.forget_packs()
        return self.repo.cache.exists(hashing.hex_of(artifact.hash))


def _folder_changes(
    repo: Repo, out: Artifact, now: Mapping[str, Any]
) -> dict[str, list[str]] | None:
    """Which files of a folder output differ, when its recorded listing is in the cache."""
    from gitrelstate.workspace import pointers

    try:
        before = pointers.load_manifest(repo, out.hash, out.path).entries
    except RelstateError:
        return None
    return {
        "added": sorted(k for k in now if k not in before),
        "removed": sorted(k for k in before if k not in now),
        "modified": sorted(k for k in now if k in before and now[k] != before[k]),
    }


def _metrics_changes(path: Path, rel: str, record: RunRecord) -> list[dict[str, Any]]:
    from gitrelstate import values
    from gitrelstate.diff.layers import metrics_layer

    try:
        new = values.flatten(values.load_structured(path, rel)) if path.exists() else {}
    except RelstateError:
        new = {}
    layer = metrics_layer({rel: record.metrics[rel]}, {rel: new})
    return [m.to_dict(with_delta=True) for m in layer.metrics]


def _remote(repo: Repo, name: str | None) -> Remote:
    try:
        return resolve_remote(repo, name)
    except RelstateError as exc:
        raise RelstateError(
            exc.message, hint=f"{exc.hint}; or fetch the data first" if exc.hint else None
        ) from None


# -- running a command --------------------------------------------------------------


def run_command(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> int:
    """Run a recorded command, its output streaming to our stderr (stdout stays the
    report's); an interrupt stops it before the worktree goes."""
    target, forward = _output_target()
    try:
        proc = subprocess.Popen(
            executables.resolve_argv(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=target,
            stderr=subprocess.STDOUT if forward else target,
        )
    except FileNotFoundError:
        raise RelstateError(
            f"command not found: {argv[0]}",
            hint="the recorded command must be runnable here (same path, or in an absolute "
            "PATH folder: the current folder is never searched)",
        ) from None
    except PermissionError:
        raise RelstateError(f"cannot execute {argv[0]}: permission denied") from None
    try:
        if forward and proc.stdout is not None:
            _forward(proc.stdout)
        return proc.wait()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def _output_target() -> tuple[int, bool]:
    """Our stderr's file descriptor, or a pipe when stderr is not a real file (tests)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return subprocess.PIPE, True
    sys.stderr.flush()
    return fd, False


def _forward(stream: IO[bytes]) -> None:
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        sys.stderr.write(chunk.decode("utf-8", "replace"))
        sys.stderr.flush()
