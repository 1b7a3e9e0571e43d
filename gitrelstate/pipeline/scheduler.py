"""Running a plan: stale stages in dependency order, up to ``jobs`` at a time.

One process does all the bookkeeping (hashing, the stat cache, records) on its main
thread; only the stages' commands run concurrently, as child processes it polls. A
stage starts when every planned stage upstream of it has finished; it is judged then
(so a stage whose upstream re-ran and made the same outputs is not run: early cutoff),
restored from the run cache when a run with its inputs was seen before, else run.

With ``jobs > 1`` each command's output is buffered and printed in one block when it
ends, under a header naming the stage, so parallel stages never interleave. When a
stage fails, no new stage starts; the running ones finish and are recorded; the
failed one keeps its previous record.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO

from gitrelstate import ui
from gitrelstate.errors import RelstateError
from gitrelstate.guard import executables
from gitrelstate.pipeline import plan, restore
from gitrelstate.pipeline.graph import Graph
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import executor, provenance, runcache, staleness
from gitrelstate.runs.spec import StageSpec, spec_from_record

POLL_SECONDS = 0.02


@dataclass
class Outcome:
    """What became of one planned stage."""

    name: str
    state: str  # ran, restored, fresh, frozen, failed, skipped (not started)
    detail: str = ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)

    def named(self, state: str) -> list[str]:
        return [o.name for o in self.outcomes if o.state == state]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state == "failed"]


@dataclass
class _Running:
    spec: StageSpec
    execution: executor.Execution
    proc: subprocess.Popen[bytes]
    log: IO[bytes] | None


class Scheduler:
    """Brings ``names`` (upstream first) up to date."""

    def __init__(
        self,
        repo: Repo,
        graph: Graph,
        names: list[str],
        *,
        jobs: int = 1,
        force: bool = False,
        run_cache: bool = True,
    ) -> None:
        self.repo = repo
        self.graph = graph
        self.names = names
        self.jobs = max(1, jobs)
        self.force = force
        self.run_cache = run_cache
        self.live = staleness.WorkTree(repo)
        self.summary = Summary()
        self.done: set[str] = set()  # finished well (fresh, ran, restored, frozen)
        self.running: dict[str, _Running] = {}
        self.failed = False

    def run(self) -> Summary:
        waiting = list(self.names)
        try:
            while waiting or self.running:
                if not self.failed:
                    waiting = self._start_ready(waiting)
                if self.failed and not self.running:
                    break
                if self.running:
                    self._reap()
        except BaseException:
            self._stop_all()
            raise
        for name in waiting:
            self.summary.outcomes.append(Outcome(name, "skipped", "not started"))
        return self.summary

    # -- starting ---------------------------------------------------------------------

    def _ready(self, name: str) -> bool:
        ups = [u for u in self.graph.upstream.get(name, ()) if u in self.names]
        return all(u in self.done for u in ups)

    def _start_ready(self, waiting: list[str]) -> list[str]:
        left = []
        for name in waiting:
            if self.failed or len(self.running) >= self.jobs or not self._ready(name):
                left.append(name)
                continue
            self._start(name)
        return left

    def _start(self, name: str) -> None:
        decision = plan.decide(self.repo, self.graph, name, force=self.force, live=self.live)
        record = self.graph.records[name]
        if decision.verdict == "frozen":
            self._frozen(name)
            return
        if decision.verdict == "fresh":
            ui.debug(f"'{name}' is up to date")
            self._finish(name, "fresh")
            return
        spec = spec_from_record(record)
        cacheable = self.run_cache and record.extra.get("always_changed") is not True
        if cacheable and not self.force and self._restored(spec):
            return
        self._launch(spec, decision.reasons)

    def _restored(self, spec: StageSpec) -> bool:
        key = runcache.current_key(self.repo, spec, self.live)
        if key is None:
            return False
        candidate = restore.find(self.repo, key)
        if candidate is None:
            return False
        record = restore.restore(self.repo, spec, candidate)
        if record is None:
            return False
        ui.echo(
            f"restored '{spec.name}' from {candidate.where}: {len(record.outs)} output(s) "
            "with the same inputs; nothing executed"
        )
        self._finish(spec.name, "restored", candidate.where)
        return True

    def _launch(self, spec: StageSpec, reasons: tuple[str, ...]) -> None:
        record = self.graph.records[spec.name]
        for found in provenance.provenance(
            self.repo.root, [record], [f"{RUNS_DIR}/{spec.name}.yaml"]
        ):
            if found.foreign:
                ui.warn(found.notice())
                ui.stderr(f"hint: {provenance.HINT}")
        why = "; ".join(reasons[:3]) + (
            f"; and {len(reasons) - 3} more" if len(reasons) > 3 else ""
        )
        ui.echo(f"running '{spec.name}' ({why}): {shlex.join(spec.command)}")
        execution = executor.Execution(self.repo, spec)
        log: IO[bytes] | None = None
        try:
            with self.repo.locked():
                execution.begin()
            workdir = (
                self.repo.resolve_inside(spec.wdir, f"run '{spec.name}'", "wdir")
                if spec.wdir != "."
                else self.repo.root
            )
            argv = _argv(spec)
            if self.jobs > 1:
                log = tempfile.TemporaryFile()  # noqa: SIM115 - closed when reaped
            proc = subprocess.Popen(
                argv,
                cwd=workdir,
                env=dict(os.environ),
                stdout=log,
                stderr=subprocess.STDOUT if log is not None else None,
            )
        except RelstateError as exc:
            if log is not None:
                log.close()
            self._fail(spec.name, exc)
            return
        self.running[spec.name] = _Running(spec, execution, proc, log)

    # -- finishing --------------------------------------------------------------------

    def _reap(self) -> None:
        while True:
            finished = [n for n, r in self.running.items() if r.proc.poll() is not None]
            if finished:
                break
            time.sleep(POLL_SECONDS)
        for name in finished:
            item = self.running.pop(name)
            self._show_output(item)
            try:
                with self.repo.locked():
                    item.execution.finish(item.proc.returncode)
            except RelstateError as exc:
                self._fail(name, exc)
                continue
            ui.echo(f"recorded run '{name}' in {RUNS_DIR}/{name}.yaml")
            self._finish(name, "ran")

    def _show_output(self, item: _Running) -> None:
        if item.log is None:
            return
        with item.log:
            item.log.seek(0)
            data = item.log.read()
        if data:
            ui.echo(f"--- output of '{item.spec.name}' ---")
            sys.stdout.flush()
            sys.stdout.buffer.write(data if data.endswith(b"\n") else data + b"\n")
            sys.stdout.buffer.flush()

    def _finish(self, name: str, state: str, detail: str = "") -> None:
        self.done.add(name)
        self.summary.outcomes.append(Outcome(name, state, detail))

    def _fail(self, name: str, exc: RelstateError) -> None:
        self.failed = True
        if self.running:
            ui.stderr(f"stage '{name}' failed; waiting for {', '.join(self.running)} to finish")
        self.summary.outcomes.append(Outcome(name, "failed", exc.message))

    def _frozen(self, name: str) -> None:
        """A frozen stage never runs: its outputs must be there; changed ones are taken
        as they are (the record is updated, as DVC does)."""
        record = self.graph.records[name]
        reasons = staleness.stale_reasons(record, staleness.WorkTree(self.repo))
        missing = [r for r in reasons if not r.endswith(" changed")]
        if missing:
            self._fail(name, RelstateError(f"frozen stage: {'; '.join(missing)}"))
            return
        if reasons:
            from gitrelstate.pipeline.frozen import accept_outputs

            with self.repo.locked():
                accept_outputs(self.repo, record)
            ui.echo(f"frozen stage '{name}': its changed outputs were taken as they are")
        self._finish(name, "frozen")

    def _stop_all(self) -> None:
        """Interrupted: the children got the same signal from the terminal; wait for them
        so none is left writing, and record nothing."""
        for item in self.running.values():
            try:
                item.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                item.proc.kill()
            if item.log is not None:
                item.log.close()
        self.running.clear()


def _argv(spec: StageSpec) -> list[str]:
    try:
        return executables.resolve_argv(spec.command)
    except FileNotFoundError:
        raise RelstateError(
            f"command not found: {spec.command[0]}",
            hint="check the stage's command (gitrelstate looks programs up in the absolute "
            "folders of PATH only, never in the current folder)",
        ) from None


def bring_up_to_date(
    repo: Repo, targets: list[str], *, jobs: int, force: bool, run_cache: bool
) -> Summary:
    """``repro TARGETS``: the targets (every stage when none) and their upstream."""
    graph = plan.load(repo)
    names = plan.planned(graph, targets)
    return Scheduler(repo, graph, names, jobs=jobs, force=force, run_cache=run_cache).run()
