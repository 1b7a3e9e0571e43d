"""``git relstate dag``: the stage graph, as text, Mermaid or DOT."""

from __future__ import annotations

from collections.abc import Sequence

from gitrelstate import ui
from gitrelstate.pipeline import plan, render
from gitrelstate.repo import Repo


def dag(repo: Repo, targets: Sequence[str], *, fmt: str) -> int:
    graph = plan.load(repo)
    names = plan.planned(graph, targets)
    if not names:
        ui.result("No stage is recorded yet.")
        return 0
    lines = {"text": render.text, "mermaid": render.mermaid, "dot": render.dot}[fmt](graph, names)
    for line in lines:
        ui.result(line)
    return 0
