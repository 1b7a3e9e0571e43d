"""The stage graph as text, Mermaid or Graphviz DOT (``git relstate dag``)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from gitrelstate.pipeline.graph import Graph


def edges(graph: Graph, names: Sequence[str]) -> list[tuple[str, str]]:
    """(upstream, downstream) pairs among ``names``, in order."""
    chosen = set(names)
    return [(up, n) for n in names for up in graph.upstream.get(n, ()) if up in chosen]


def text(graph: Graph, names: Sequence[str]) -> list[str]:
    """One line per stage, upstream first: the stage, what it reads from, what reads it."""
    down = graph.downstream
    width = max((len(n) for n in names), default=0)
    lines = []
    for name in names:
        ups = [u for u in graph.upstream.get(name, ()) if u in names]
        downs = [d for d in down.get(name, ()) if d in names]
        flags = [f for f in ("frozen", "always_changed") if graph.records[name].extra.get(f)]
        parts = [f"<- {', '.join(ups)}" if ups else "(no upstream)"]
        if downs:
            parts.append(f"-> {', '.join(downs)}")
        if flags:
            parts.append(f"[{', '.join(flags)}]")
        lines.append(f"{name:<{width}}  {'  '.join(parts)}")
    return lines


def mermaid(graph: Graph, names: Sequence[str]) -> list[str]:
    """A Mermaid flowchart (GitHub renders it in Markdown)."""
    ids = {n: f"s{i}" for i, n in enumerate(names)}
    lines = ["flowchart TD"]
    # Stage names are letters, digits, '.', '_' and '-': safe inside quotes.
    lines += [f'    {ids[n]}["{n}"]' for n in names]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in edges(graph, names)]
    return lines


def dot(graph: Graph, names: Sequence[str]) -> list[str]:
    """Graphviz DOT (``| dot -Tsvg``)."""
    lines = ["digraph pipeline {", "    rankdir=TB;"]
    lines += [f"    {json.dumps(n)};" for n in names]
    lines += [f"    {json.dumps(a)} -> {json.dumps(b)};" for a, b in edges(graph, names)]
    lines.append("}")
    return lines
