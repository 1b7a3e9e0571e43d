"""A :class:`StateDiff` as a pull-request comment (GitHub Markdown): a summary table,
then a collapsible section per changed layer. Long lists are cut with a count of what
was left out, so the comment stays under GitHub's size limit even when 100,000 files
changed.

The comment is safe to post whatever the compared states hold: every value (labels,
paths, keys, values, commands, model references, notes) is shown through :func:`_value`,
an inert ``<code>`` element (guard.text.md), so none can become a link, an image, a
mention, a heading or HTML, nor leave its table row. The only markup is ours.
"""

from __future__ import annotations

from gitrelstate.diff.aliasrender import alias_section
from gitrelstate.diff.datalayer import DataLayer
from gitrelstate.diff.document import EnvironmentLayer, StateDiff
from gitrelstate.diff.rows import rows, summary
from gitrelstate.guard.text import md

MARKER = "<!-- gitrelstate-diff -->"
# GitHub refuses comments over 65,536 characters; keep a margin.
MD_LIMIT = 60_000
# A value longer than this is shortened (``diff --json`` has it whole): one hostile
# 1 MB name must not push every other row out of the comment.
VALUE_LIMIT = 500
CUT_NOTE = "_(truncated to fit the comment size limit; `git relstate diff --json` lists all)_"


def _value(value: object) -> str:
    """A value from a state as inert Markdown: escaped, shortened, in ``<code>``."""
    text = str(value)
    if not text:
        return ""
    if len(text) > VALUE_LIMIT:
        text = text[: VALUE_LIMIT - 1] + "…"
    return f"<code>{md(text)}</code>"


def _word(text: str) -> str:
    """Our own vocabulary (a status, a layer name) as is; anything else as a value."""
    return text if text.replace(" ", "").isalpha() and text.isascii() else _value(text)


def render_markdown(diff: StateDiff, *, limit: int = MD_LIMIT) -> str:
    """The comment; rows per section shrink until it fits in ``limit`` characters."""
    for per_section in (200, 100, 50, 20, 5, 0):
        lines = _markdown(diff, per_section)
        text = "\n".join(lines) + "\n"
        if len(text) <= limit:
            return text
    return "\n".join(_cut(lines, limit)) + "\n"


def _cut(lines: list[str], limit: int) -> list[str]:
    """The first whole lines that fit in ``limit`` with the note that says so; an open
    ``<details>`` is closed (every line is a whole table row or element)."""
    budget = limit - len(CUT_NOTE) - len("\n\n</details>\n\n\n")
    budget -= len("\n\n</details>") * 2  # an alias's section nests the layers' sections
    kept: list[str] = []
    size = 0
    open_details = 0
    for line in lines:
        size += len(line) + 1
        if size > budget:
            break
        kept.append(line)
        if line.startswith("<details>"):
            open_details += 1
        elif line == "</details>":
            open_details -= 1
    kept += ["", "</details>"] * max(open_details, 0)
    return [*kept, "", CUT_NOTE]


def _markdown(diff: StateDiff, per_section: int) -> list[str]:
    out = [
        MARKER,
        f"### gitrelstate: {_value(diff.a.label)} → {_value(diff.b.label)}",
        "",
        "" if any(layer.changed for layer in diff.layers.values()) else _unchanged(diff),
        *_layers(diff, per_section),
    ]
    if diff.aliases is not None:
        out += alias_section(diff.aliases, per_section, _value, _layers)
    out += _notes(diff)
    return out


def _unchanged(diff: StateDiff) -> str:
    if diff.aliases is not None and diff.aliases.changed:
        return "**No changes in any layer; aliases moved (below).**"
    return "**No changes in any layer.**"


def _layers(diff: StateDiff, per_section: int) -> list[str]:
    """The summary table, then a collapsible section per changed layer."""
    out = ["| layer | changed | summary |", "| --- | --- | --- |"]
    for name, layer in diff.layers.items():
        flag = "**yes**" if layer.changed else "no"
        out.append(f"| {_word(name)} | {flag} | {summary(layer, _value)} |")
    out.append("")
    for name, layer in diff.layers.items():
        if not layer.changed:
            continue
        found = rows(layer, _value)
        out.append(f"<details><summary><b>{_word(name)}</b>: {summary(layer, _value)}</summary>")
        out.append("")
        if found and per_section:
            out.append("| | what | detail |")
            out.append("| --- | --- | --- |")
            for status, what, detail in found[:per_section]:
                out.append(f"| {_word(status)} | {_value(what)} | {detail} |")
        if len(found) > per_section:
            out.append("")
            out.append(
                f"_{len(found) - per_section} more not shown; "
                "`git relstate diff --json` lists them all._"
            )
        out.append("")
        out.append("</details>")
        out.append("")
    return out


def _notes(diff: StateDiff) -> list[str]:
    out: list[str] = []
    notes: list[str] = []
    data = diff.layers.get("data")
    if isinstance(data, DataLayer):
        notes += data.incomplete
    env = diff.layers.get("environment")
    if isinstance(env, EnvironmentLayer) and env.unavailable:
        notes += [f"environment: {u}" for u in env.unavailable]
    if notes:
        out.append("**Could not show:**")
        out.append("")
        out += [f"- {_value(n)}" for n in notes[:20]]
        if len(notes) > 20:
            out.append(f"- … and {len(notes) - 20} more")
        out.append("")
    return out
