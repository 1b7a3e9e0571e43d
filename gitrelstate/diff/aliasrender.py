"""Alias moves in the terminal and in a pull-request comment.

Every value (an alias, a release name, a note) passes through the renderer's ``quote``
(guard.text.md in ``<code>`` for Markdown, guard.text.term for the terminal), like every
other value of the diff; the release-to-release comparison of a move is rendered by the
same code as the diff's own layers.
"""

from __future__ import annotations

from collections.abc import Callable

from gitrelstate.diff.aliasdoc import AliasChanges, AliasMove
from gitrelstate.diff.document import StateDiff
from gitrelstate.diff.rows import plural, summary

Quote = Callable[[str], str]
Sections = Callable[[StateDiff, int], list[str]]


def _release(name: str | None, quote: Quote) -> str:
    return "—" if name is None else f"release {quote(name)}"


def move_summary(move: AliasMove, quote: Quote) -> str:
    """``release v1 → release v2: 3 layers changed (model, metrics, data)``."""
    head = f"{_release(move.old_release, quote)} → {_release(move.new_release, quote)}"
    if move.diff is None:
        return head + (f" ({quote(move.note)})" if move.note else "")
    changed = [name for name, layer in move.diff.layers.items() if layer.changed]
    if not changed:
        return f"{head}: the same content in every layer"
    return f"{head}: {plural(len(changed), 'layer')} changed ({', '.join(changed)})"


def alias_section(
    changes: AliasChanges, per_section: int, quote: Quote, sections: Sections
) -> list[str]:
    """Markdown: a table of the aliases, then per move the comparison of its releases
    (``sections`` renders a diff's layers as the comment does)."""
    out = ["#### Aliases", "", "| alias | status | from | to |", "| --- | --- | --- | --- |"]
    for move in changes.moves:
        out.append(
            f"| {quote(move.alias)} | **{move.status}** | "
            f"{_release(move.old_release, quote)} | {_release(move.new_release, quote)} |"
        )
    for alias, release in changes.unchanged:
        out.append(f"| {quote(alias)} | unchanged | {_release(release, quote)} | |")
    out.append("")
    for move in changes.moves:
        if move.diff is None:
            continue
        out.append(
            f"<details><summary><b>alias</b> {quote(move.alias)}: "
            f"{move_summary(move, quote)}</summary>"
        )
        out.append("")
        out += sections(move.diff, per_section)
        out.append("</details>")
        out.append("")
    return out


def alias_lines(changes: AliasChanges, quote: Quote, *, stat: bool) -> list[str]:
    """The terminal: one line per moved alias, and the layers its move changes."""
    if not changes.moves:
        return [f"{'aliases':<12}unchanged"]
    lines = [f"{'aliases':<12}{plural(len(changes.moves), 'alias')} {_verbs(changes)}"]
    for move in changes.moves:
        lines.append(f"  {move.status} {quote(move.alias)}: {move_summary(move, quote)}")
        if stat or move.diff is None:
            continue
        for name, layer in move.diff.layers.items():
            if layer.changed:
                lines.append(f"      {quote(name):<12}{summary(layer, quote)}")
    return lines


def _verbs(changes: AliasChanges) -> str:
    found = sorted({m.status for m in changes.moves})
    return "/".join(found)
