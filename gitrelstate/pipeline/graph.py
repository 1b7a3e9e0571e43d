"""The stage graph: one node per recorded stage, an edge where an output feeds a stage
(the same path, a folder holding it, or a path inside it: :mod:`gitrelstate.runs.graph`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gitrelstate.errors import RelstateError
from gitrelstate.runs import define
from gitrelstate.runs.graph import inputs_of, outputs_of, overlaps
from gitrelstate.state.record import RunRecord


@dataclass(frozen=True)
class Graph:
    """Stages by name, each with the stages it reads from (``upstream``)."""

    records: dict[str, RunRecord]
    upstream: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, records: Sequence[RunRecord]) -> Graph:
        by_name = {r.name: r for r in records}
        # Outputs indexed by their first path component: a stage's inputs are compared
        # only with outputs that can overlap them (50 stages: no quadratic scan).
        by_top: dict[str, list[tuple[str, str]]] = {}
        for r in records:
            for out in outputs_of(r):
                by_top.setdefault(out.split("/", 1)[0], []).append((out, r.name))
        upstream: dict[str, tuple[str, ...]] = {}
        for r in records:
            found: dict[str, None] = {}
            for path in inputs_of(r):
                for out, producer in by_top.get(path.split("/", 1)[0], ()):
                    if producer != r.name and overlaps(path, out):
                        found.setdefault(producer)
            upstream[r.name] = tuple(sorted(found))
        graph = cls(by_name, upstream)
        graph.order()  # refuses a cycle up front
        return graph

    @property
    def downstream(self) -> dict[str, tuple[str, ...]]:
        down: dict[str, list[str]] = {n: [] for n in self.records}
        for name, ups in self.upstream.items():
            for up in ups:
                down[up].append(name)
        return {n: tuple(sorted(d)) for n, d in down.items()}

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """``names`` (default: every stage) upstream first; ties by name. A cycle is an
        error naming it."""
        wanted = set(self.records if names is None else names)
        done: dict[str, None] = {}
        visiting: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            if name in visiting:
                cycle = [*visiting[visiting.index(name) :], name]
                raise RelstateError(
                    "the stages depend on each other in a cycle: " + " -> ".join(cycle),
                    hint="a stage cannot read what it (or a stage after it) writes: "
                    "change the dependencies or outputs of one of them",
                )
            visiting.append(name)
            for up in self.upstream.get(name, ()):
                if up in wanted:
                    visit(up)
            visiting.pop()
            done[name] = None

        for name in sorted(wanted):
            visit(name)
        return list(done)

    def closure(self, targets: Iterable[str]) -> set[str]:
        """``targets`` and everything upstream of them; a frozen stage's upstream is not
        followed (it never runs, so nothing it reads needs to be brought up to date)."""
        todo = list(targets)
        found: set[str] = set()
        while todo:
            name = todo.pop()
            if name in found:
                continue
            found.add(name)
            if self.records[name].extra.get("frozen") is True:
                continue
            todo.extend(self.upstream.get(name, ()))
        return found

    def resolve(self, given: Sequence[str]) -> list[str]:
        """Stage names from what the user typed (a name, or a DVC name an imported
        stage came from); unknown names are an error listing the stages."""
        records = list(self.records.values())
        found = []
        for name in given:
            record = define.find_stage(records, name)
            if record is None:
                known = ", ".join(sorted(self.records)[:20]) or "none recorded yet"
                raise RelstateError(
                    f"no stage named '{name}'",
                    hint=f"stages: {known}",
                )
            found.append(record.name)
        return found
