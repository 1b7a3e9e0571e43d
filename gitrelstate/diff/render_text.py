"""The terminal view of a :class:`StateDiff`: a line per layer, then up to
``TERMINAL_ROWS`` detail rows each (``--json`` lists everything).

Every value is escaped for one line (guard.text.term) before the colours are added, and
the result is a ``Styled`` text that ``ui`` prints as is: a name can neither drive the
terminal nor start a line of its own, and our colours still work.
"""

from __future__ import annotations

import os
import sys

from gitrelstate.diff.aliasrender import alias_lines
from gitrelstate.diff.datalayer import DataLayer
from gitrelstate.diff.document import StateDiff
from gitrelstate.diff.rows import plural, rows, summary
from gitrelstate.guard.text import Styled, term

TERMINAL_ROWS = 20

_COLOURS = {
    "added": "32",
    "removed": "31",
    "deleted": "31",
    "modified": "33",
    "changed": "33",
    "renamed": "36",
}
_MARKS = {"added": "+", "removed": "-", "deleted": "-", "modified": "M", "changed": "~"}


def _use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _value(value: object) -> str:
    return term(str(value), one_line=True)


def render_text(diff: StateDiff, *, stat: bool = False, colour: bool | None = None) -> Styled:
    """The terminal view; values escaped, colours (on a terminal) added after."""
    colour = _use_colour() if colour is None else colour

    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    changed_layers = [name for name, layer in diff.layers.items() if layer.changed]
    head = f"{_value(diff.a.label)} → {_value(diff.b.label)}: "
    head += (
        f"{plural(len(changed_layers), 'layer')} changed ({', '.join(changed_layers)})"
        if changed_layers
        else "no changes"
    )
    if diff.aliases is not None and diff.aliases.changed:
        head = head.replace("no changes", "no layer changed")
        head += "; " + plural(len(diff.aliases.moves), "alias") + " moved"
    lines = [paint(head, "1")]
    for name, layer in diff.layers.items():
        text = summary(layer, _value)
        label = f"{_value(name):<12}"
        lines.append(f"{paint(label, '1')}{paint(text, '33') if layer.changed else text}")
        if stat or not layer.changed:
            continue
        found = rows(layer, _value)
        for status, what, detail in found[:TERMINAL_ROWS]:
            mark = _MARKS.get(status, _value(status[:1].upper()))
            line = f"  {mark} {_value(what)}" + (f"  {detail}" if detail else "")
            lines.append(paint(line, _COLOURS.get(status, "0")))
        if len(found) > TERMINAL_ROWS:
            lines.append(f"  ... and {len(found) - TERMINAL_ROWS} more (--json lists them all)")
    if diff.aliases is not None:
        lines += alias_lines(diff.aliases, _value, stat=stat)
    data = diff.layers.get("data")
    if isinstance(data, DataLayer):
        for note in data.incomplete:
            lines.append(paint(f"note: {_value(note)}", "2"))
    return Styled("\n".join(lines))
