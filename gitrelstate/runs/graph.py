"""Which stages feed which: an output feeds every stage that reads it, a folder holding
it, or a path inside it (the whole graph, its order and cycles: gitrelstate.pipeline)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gitrelstate.state.record import RunRecord, pending_paths


def overlaps(a: str, b: str) -> bool:
    """``a`` and ``b`` are the same path, or one is a folder holding the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def inputs_of(record: RunRecord) -> list[str]:
    """Every path the stage reads: dependencies, params files, code files."""
    files = record.code.get("files")
    code = [f.get("path") for f in files if isinstance(f, dict)] if isinstance(files, list) else []
    pending = pending_paths(record.extra, "deps")
    return [d.path for d in record.deps] + [p for p in code if isinstance(p, str)] + pending


def outputs_of(record: RunRecord) -> list[str]:
    """Every path the stage makes (also those a stage defined, never run, will make)."""
    extra = record.extra
    return (
        [o.path for o in record.outs]
        + pending_paths(extra, "outs")
        + pending_paths(extra, "metrics")
    )


def feeds(producer: RunRecord, consumer: RunRecord) -> bool:
    """Does an output of ``producer`` feed ``consumer``?"""
    if producer.name == consumer.name:
        return False
    return any(overlaps(i, o) for i in inputs_of(consumer) for o in outputs_of(producer))


def upstream_of(records: Sequence[RunRecord], record: RunRecord) -> list[RunRecord]:
    """The stages whose outputs ``record`` depends on (directly)."""
    return [r for r in records if feeds(r, record)]


def overlapping_outputs(
    paths: Iterable[str], records: Iterable[RunRecord], name: str
) -> list[tuple[str, str, str]]:
    """(path, other stage, its output) for each of ``paths`` that overlaps an output of
    another stage than ``name``."""
    found = []
    wanted = list(paths)
    for record in records:
        if record.name == name:
            continue
        for out in outputs_of(record):
            found += [(p, record.name, out) for p in wanted if overlaps(p, out)]
    return found
