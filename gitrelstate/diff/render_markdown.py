"""A :class:`StateDiff` as a pull-request comment (GitHub Markdown): a summary table,
then a collapsible section per changed layer. Long lists are cut with a count of what
was left out, so the comment stays under GitHub's size limit even when 100,000 files
changed."""

from __future__ import annotations

import html

from gitrelstate.diff.datalayer import DataLayer
from gitrelstate.diff.document import EnvironmentLayer, StateDiff
from gitrelstate.diff.rows import rows, summary

MARKER = "<!-- gitrelstate-diff -->"
# GitHub refuses comments over 65,536 characters; keep a margin.
MD_LIMIT = 60_000


def _cell(text: str) -> str:
    """Text safe inside a GFM table cell (pipes and markup escaped)."""
    return html.escape(text, quote=False).replace("|", "&#124;").replace("\n", " ")


def _code_cell(text: str) -> str:
    return f"<code>{_cell(text)}</code>" if text else ""


def render_markdown(diff: StateDiff, *, limit: int = MD_LIMIT) -> str:
    """The comment; rows per section shrink until it fits in ``limit`` characters."""
    for per_section in (200, 100, 50, 20, 5, 0):
        text = _markdown(diff, per_section)
        if len(text) <= limit:
            return text
    return text[: limit - 200] + "\n\n_(truncated to fit the comment size limit)_\n"


def _markdown(diff: StateDiff, per_section: int) -> str:
    out = [
        MARKER,
        f"### gitrelstate: {_code_cell(diff.a.label)} → {_code_cell(diff.b.label)}",
        "",
        "**No changes in any layer.**" if not diff.changed else "",
        "| layer | changed | summary |",
        "| --- | --- | --- |",
    ]
    for name, layer in diff.layers.items():
        flag = "**yes**" if layer.changed else "no"
        out.append(f"| {name} | {flag} | {_cell(summary(layer))} |")
    out.append("")
    for name, layer in diff.layers.items():
        if not layer.changed:
            continue
        found = rows(layer)
        out.append(f"<details><summary><b>{name}</b>: {_cell(summary(layer))}</summary>")
        out.append("")
        if found and per_section:
            out.append("| | what | detail |")
            out.append("| --- | --- | --- |")
            for status, what, detail in found[:per_section]:
                out.append(f"| {status} | {_code_cell(what)} | {_cell(detail)} |")
        if len(found) > per_section:
            out.append("")
            out.append(
                f"_{len(found) - per_section} more not shown; "
                "`git relstate diff --json` lists them all._"
            )
        out.append("")
        out.append("</details>")
        out.append("")
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
        out += [f"- {_cell(n)}" for n in notes[:20]]
        if len(notes) > 20:
            out.append(f"- … and {len(notes) - 20} more")
        out.append("")
    return "\n".join(out) + "\n"
