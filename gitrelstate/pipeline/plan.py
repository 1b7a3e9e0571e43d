"""What ``repro`` would do: the stages to bring up to date, in order, and why each runs.

A stage runs when it is stale (:mod:`gitrelstate.runs.staleness`, with the declared
variables compared too), when it is ``always_changed``, or with ``--force``. A stage
downstream of one that runs is judged only once that one has finished: if it made the
same outputs again, the downstream stage is still up to date (early cutoff), so a plan
can only say that it *may* run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitrelstate.pipeline.graph import Graph
from gitrelstate.repo import Repo
from gitrelstate.runs import staleness
from gitrelstate.runs.records import all_records
from gitrelstate.runs.spec import StageSpec
from gitrelstate.state.record import Artifact, RunRecord


@dataclass(frozen=True)
class Decision:
    """One stage's verdict: ``run`` (with the reasons), ``fresh``, ``frozen``, or
    ``maybe`` (downstream of a stage that runs: judged when that one finishes)."""

    name: str
    verdict: str
    reasons: tuple[str, ...] = ()
    after: tuple[str, ...] = ()  # for "maybe": the upstream stages that run


def load(repo: Repo) -> Graph:
    return Graph.of(all_records(repo))


def planned(graph: Graph, targets: Sequence[str]) -> list[str]:
    """The stages ``repro TARGETS`` covers (all when none), upstream first."""
    names = graph.resolve(targets) if targets else list(graph.records)
    return graph.order(graph.closure(names))


def decide(
    repo: Repo,
    graph: Graph,
    name: str,
    *,
    force: bool,
    live: staleness.WorkTree,
) -> Decision:
    """Does ``name`` have to run now (its upstream being as it is now)?"""
    record = graph.records[name]
    if record.extra.get("frozen") is True:
        return Decision(name, "frozen")
    if force:
        return Decision(name, "run", ("forced (--force)",))
    if record.extra.get("always_changed") is True:
        return Decision(name, "run", ("always changed",))
    view = staleness.WorkTree(repo)  # fresh: upstream stages may have just written
    reasons = staleness.stale_reasons(record, view, variables=live)
    return Decision(name, "run" if reasons else "fresh", tuple(reasons))


def dry_run(repo: Repo, graph: Graph, names: Sequence[str], *, force: bool) -> list[Decision]:
    """The plan without running anything: stages whose upstream would run are ``maybe``."""
    live = staleness.WorkTree(repo)
    running: set[str] = set()
    found = []
    for name in names:
        ups = tuple(u for u in graph.upstream.get(name, ()) if u in running)
        decision = decide(repo, graph, name, force=force, live=live)
        if decision.verdict == "fresh" and ups:
            decision = Decision(name, "maybe", after=ups)
        if decision.verdict in ("run", "maybe"):
            running.add(name)
        found.append(decision)
    return found


def stale_inputs(repo: Repo, stage: StageSpec) -> list[tuple[str, list[str]]]:
    """The stages upstream of ``stage`` (as it is about to be defined or run) that are
    stale now; a definition that would close a cycle is an error."""
    records = [r for r in all_records(repo) if r.name != stage.name]
    probe = RunRecord(
        name=stage.name,
        command=stage.command,
        wdir=stage.wdir,
        code={},
        deps=tuple(_placeholder(p) for p in (*stage.deps, *(f for f, _ in stage.params))),
        outs=tuple(_placeholder(p) for p in stage.all_outs),
        params={},
        metrics={},
        environment={},
        started="",
        finished="",
        duration=0.0,
        exit_status=0,
        host="",
    )
    return stale_upstream(repo, Graph.of([*records, probe]), stage.name)


def _placeholder(path: str) -> Artifact:
    return Artifact(path, "blake3:" + "0" * 64, 0)


def stale_upstream(repo: Repo, graph: Graph, name: str) -> list[tuple[str, list[str]]]:
    """The stages upstream of ``name`` (all the way up) that are stale now, with why."""
    live = staleness.WorkTree(repo)
    view = staleness.WorkTree(repo)
    found = []
    for up in graph.order(graph.closure([name]) - {name}):
        record = graph.records[up]
        if record.extra.get("frozen") is True:
            continue
        # An always-changed stage upstream is not a reason to refuse: it never settles.
        reasons = staleness.stale_reasons(record, view, variables=live)
        if reasons:
            found.append((up, reasons))
    return found


def dry(repo: Repo, targets: Sequence[str], *, force: bool) -> list[Decision]:
    """``repro --dry``: what would happen, in order."""
    graph = load(repo)
    return dry_run(repo, graph, planned(graph, targets), force=force)
