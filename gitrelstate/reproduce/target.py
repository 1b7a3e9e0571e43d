"""What a reference binds for ``reproduce``: the stages, in run order, and the commit.

A release binds its embedded runs at its code commit; a run binds itself and,
transitively, the stages upstream of it, at the commit it ran at; a revision
binds the run records committed there, at that revision. Where a stage's code
is not exactly the commit's (it ran on uncommitted changes, or at another
commit), the target carries a warning: that code cannot be put back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gitrelstate import git
from gitrelstate.diff import states
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.runs import codestate, graph
from gitrelstate.runs.records import all_records, records_at
from gitrelstate.state.record import RunRecord
from gitrelstate.state.release import ModelRef


@dataclass
class Target:
    """What a reference binds: the stages, in run order, and the commit to run them at."""

    kind: str
    name: str
    label: str
    commit: str
    stages: list[RunRecord]
    to_run: list[RunRecord]
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "label": self.label, **self.extra}


def resolve_target(repo: Repo, ref: str, only: str | None) -> Target:
    """The stages ``ref`` binds (a release, a run and its upstream stages, or the runs
    committed at a revision) and the commit to reproduce them at."""
    state = states.resolve(repo, ref)
    warnings: list[str] = []
    extra: dict[str, Any] = {}
    if state.kind == "release" and state.release is not None:
        records = list(state.release.runs)
        commit = state.release.code.get("commit")
        extra["state_id"] = state.release.state_id
        warnings.extend(_model_warnings(state.release.model, records))
    elif state.kind == "run" and state.run is not None:
        records = _with_upstream(all_records(repo), state.run)
        commit = _run_commit(repo, state.run, warnings)
    elif state.kind == "commit":
        records = records_at(repo, state.commit or "HEAD")
        commit = state.commit
    else:
        raise RelstateError(
            "reproduce needs a recorded state, not the work tree",
            hint="give a release, a run name or a git revision",
        )
    if not records:
        raise RelstateError(f"{state.label} binds no run: there is nothing to reproduce")
    if not isinstance(commit, str) or not commit:
        raise RelstateError(
            f"{state.label} was recorded before the first commit: there is no code to check out"
        )
    ordered = order_stages(records)
    to_run = ordered
    if only is not None:
        to_run = [r for r in ordered if r.name == only]
        if not to_run:
            raise RelstateError(
                f"{state.label} binds no stage '{only}'",
                hint=f"its stages: {', '.join(r.name for r in ordered)}",
            )
    warnings.extend(_code_warnings(repo, to_run, commit))
    return Target(state.kind, state.name, state.label, commit, ordered, to_run, warnings, extra)


def _model_warnings(model: ModelRef | None, records: Sequence[RunRecord]) -> list[str]:
    if model is None:
        return []
    if model.path is None:
        return [
            f"the model is an external reference ({model.reference}): only the outputs of "
            "the bound runs are compared"
        ]
    if any(o.path == model.path for r in records for o in r.outs):
        return []
    return [f"the model {model.path} is not an output of a bound run: it is not reproduced"]


def _with_upstream(every: Sequence[RunRecord], record: RunRecord) -> list[RunRecord]:
    chosen: dict[str, RunRecord] = {}
    todo = [record]
    while todo:
        current = todo.pop()
        if current.name not in chosen:
            chosen[current.name] = current
            todo.extend(graph.upstream_of(every, current))
    return list(chosen.values())


def _run_commit(repo: Repo, record: RunRecord, warnings: list[str]) -> str | None:
    """The commit a run ran at; for a run on uncommitted code, HEAD when HEAD holds exactly
    the code that ran (the changes were committed as they were)."""
    commit = record.code.get("commit")
    head = git.head_commit(repo.root)
    committed_later = (
        isinstance(commit, str)
        and record.code.get("dirty")
        and head
        and head != commit
        and codestate.code_diff_digest(repo, commit, head) == record.code.get("diff")
    )
    if committed_later and head:
        warnings.append(
            f"run '{record.name}' ran on uncommitted changes that HEAD holds: "
            f"reproducing at HEAD ({head[:12]})"
        )
        return head
    return commit if isinstance(commit, str) else None


def _code_warnings(repo: Repo, stages: Sequence[RunRecord], commit: str) -> list[str]:
    """Stages whose code is not exactly the commit's: it cannot be put back."""
    found = []
    for record in stages:
        ran_at = record.code.get("commit")
        if not isinstance(ran_at, str):
            continue
        if codestate.code_diff_digest(repo, ran_at, commit) == record.code.get("diff"):
            continue  # the commit holds exactly the code that ran
        if record.code.get("dirty"):
            found.append(
                f"run '{record.name}' ran on uncommitted changes, which no commit holds: the "
                f"worktree has commit {commit[:12]}; its recorded inputs are restored and "
                "checked, other files may differ from what ran"
            )
        else:
            found.append(
                f"run '{record.name}' ran at commit {ran_at[:12]}, whose code differs from "
                f"{commit[:12]}; its recorded inputs are checked, other files may differ"
            )
    return found


def order_stages(records: Sequence[RunRecord]) -> list[RunRecord]:
    """Upstream stages first; otherwise in the order they ran."""
    remaining = sorted(records, key=lambda r: (r.finished, r.name))
    ordered: list[RunRecord] = []
    while remaining:
        ready = next((r for r in remaining if not graph.upstream_of(remaining, r)), None)
        if ready is None:
            raise RelstateError(
                "these stages depend on each other in a cycle: "
                + ", ".join(r.name for r in remaining)
            )
        ordered.append(ready)
        remaining.remove(ready)
    return ordered


def fetch_selector(target: Target) -> str:
    if target.kind == "release":
        return f"--release {target.name}"
    return " ".join(f"--run {r.name}" for r in target.to_run)
