"""Rendering a ``diff`` document: the terminal view and the Markdown pull-request comment.

Both read only the plain document ``statediff.diff_states`` returns (the same one
``--json`` prints). Long lists are cut with a count of what was left out, so the
output stays readable — and the Markdown stays under GitHub's comment limit —
even when 100,000 files changed.
"""

from __future__ import annotations

import html
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from gitrelstate.ui import human_size

MARKER = "<!-- gitrelstate-diff -->"
# GitHub refuses comments over 65,536 characters; keep a margin.
MD_LIMIT = 60_000
TERMINAL_ROWS = 20


# -- one-line summaries ----------------------------------------------------------


def summary(layer: str, doc: Mapping[str, Any]) -> str:
    """What changed in a layer, in a few words."""
    if not doc.get("changed"):
        if doc.get("unavailable"):
            return "not compared (" + "; ".join(doc["unavailable"]) + ")"
        return "unchanged"
    return _SUMMARIES[layer](doc)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _model_summary(doc: Mapping[str, Any]) -> str:
    old, new = doc.get("old"), doc.get("new")
    if old is None:
        return f"added: {_model_text(new)}"
    if new is None:
        return f"removed (was {_model_text(old)})"
    return f"{_model_text(old)} → {_model_text(new)}"


def _model_text(model: Mapping[str, Any] | None) -> str:
    if not model:
        return "none"
    if "hash" in model:
        size = f", {human_size(model['size'])}" if model.get("size") is not None else ""
        return f"{model.get('path')} ({str(model['hash'])[7:19]}{size})"
    return str(model.get("reference"))


def _metrics_summary(doc: Mapping[str, Any]) -> str:
    return _plural(len(doc["metrics"]), "metric") + " changed"


def _data_summary(doc: Mapping[str, Any]) -> str:
    s = doc["summary"]
    parts = [f"{s[k]} {k}" for k in ("added", "removed", "modified", "renamed") if s.get(k)]
    files = ", ".join(parts) if parts else "no per-file detail"
    return f"{_plural(s['paths'], 'path')} changed; files: {files}"


def _pipeline_summary(doc: Mapping[str, Any]) -> str:
    st = doc["stages"]
    parts = []
    for key, word in (("added", "added"), ("removed", "removed"), ("changed", "changed")):
        if st[key]:
            parts.append(f"{_plural(len(st[key]), 'stage')} {word}")
    if doc["params"]:
        parts.append(f"{_plural(len(doc['params']), 'param')} changed")
    return ", ".join(parts)


def _environment_summary(doc: Mapping[str, Any]) -> str:
    return _plural(len(doc.get("lines", [])), "difference")


def _code_summary(doc: Mapping[str, Any]) -> str:
    parts = []
    if doc["commits"]:
        parts.append(_plural(doc.get("ahead", len(doc["commits"])), "commit"))
    if doc["files"]:
        parts.append(_plural(len(doc["files"]), "file") + " changed")
    if doc["old"].get("diff") != doc["new"].get("diff"):
        parts.append("uncommitted changes differ")
    return ", ".join(parts) or "changed"


_SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "model": _model_summary,
    "metrics": _metrics_summary,
    "data": _data_summary,
    "pipeline": _pipeline_summary,
    "environment": _environment_summary,
    "code": _code_summary,
}


# -- detail rows (shared by both renderers) ----------------------------------------


def _value(v: Any) -> str:
    return "(none)" if v is None else str(v)


def _delta_text(d: Any) -> str:
    if d is None:
        return ""
    return f"{d:+g}" if isinstance(d, float) else f"{d:+d}"


def rows(layer: str, doc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(status, what, detail) rows of a layer, in display order."""
    out: list[tuple[str, str, str]] = []
    if layer == "metrics":
        for m in doc["metrics"]:
            detail = f"{_value(m['old'])} → {_value(m['new'])}"
            if m.get("delta") is not None:
                detail += f" ({_delta_text(m['delta'])})"
            out.append((m["status"], f"{m['file']}: {m['key']}", detail))
    elif layer == "model" and doc.get("changed"):
        out.append(("changed", "model", _model_summary(doc)))
    elif layer == "data":
        for f in doc["modified"]:
            out.append(
                (
                    "modified",
                    f["path"],
                    f"{human_size(f['old_size'])} → {human_size(f['new_size'])}",
                )
            )
        for f in doc["added"]:
            out.append(("added", f["path"], human_size(f["size"])))
        for f in doc["removed"]:
            out.append(("removed", f["path"], human_size(f["size"])))
        for f in doc["renamed"]:
            out.append(("renamed", f"{f['from']} → {f['to']}", human_size(f["size"])))
        for p in doc["paths"]:
            if not p["details"]:
                out.append((p["status"], p["path"] + "/", "per-file changes not available"))
    elif layer == "pipeline":
        st = doc["stages"]
        out += [("added", f"stage {n}", "") for n in st["added"]]
        out += [("removed", f"stage {n}", "") for n in st["removed"]]
        for stage in st["changed"]:
            for c in stage["changes"]:
                if "old" in c:
                    detail = f"{_command(c['old'])} → {_command(c['new'])}"
                else:
                    detail = ", ".join(
                        [f"+{p}" for p in c["added"]] + [f"-{p}" for p in c["removed"]]
                    )
                out.append(("changed", f"stage {stage['name']} {c['field']}", detail))
        for p in doc["params"]:
            detail = f"{_value(p['old'])} → {_value(p['new'])}"
            out.append((p["status"], f"{p['file']}: {p['key']}", detail))
    elif layer == "environment":
        out += [("changed", line, "") for line in doc.get("lines", [])]
    elif layer == "code":
        for f in doc["files"]:
            what = f"{f['from']} → {f['path']}" if f["status"] == "renamed" else f["path"]
            out.append((f["status"], what, ""))
    return out


def _command(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


# -- terminal -------------------------------------------------------------------

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


def render_text(doc: Mapping[str, Any], *, stat: bool = False, colour: bool | None = None) -> str:
    colour = _use_colour() if colour is None else colour

    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    changed_layers = [name for name, layer in doc["layers"].items() if layer["changed"]]
    head = f"{doc['a']['label']} → {doc['b']['label']}: "
    head += (
        f"{_plural(len(changed_layers), 'layer')} changed ({', '.join(changed_layers)})"
        if changed_layers
        else "no changes"
    )
    lines = [paint(head, "1")]
    for name, layer in doc["layers"].items():
        text = summary(name, layer)
        label = f"{name:<12}"
        lines.append(f"{paint(label, '1')}{paint(text, '33') if layer['changed'] else text}")
        if stat or not layer["changed"]:
            continue
        found = rows(name, layer)
        for status, what, detail in found[:TERMINAL_ROWS]:
            mark = _MARKS.get(status, status[:1].upper())
            line = f"  {mark} {what}" + (f"  {detail}" if detail else "")
            lines.append(paint(line, _COLOURS.get(status, "0")))
        if len(found) > TERMINAL_ROWS:
            lines.append(f"  ... and {len(found) - TERMINAL_ROWS} more (--json lists them all)")
    for note in doc["layers"].get("data", {}).get("incomplete", []):
        lines.append(paint(f"note: {note}", "2"))
    return "\n".join(lines)


# -- Markdown -------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a GFM table cell (pipes and markup escaped)."""
    return html.escape(text, quote=False).replace("|", "&#124;").replace("\n", " ")


def _code_cell(text: str) -> str:
    return f"<code>{_cell(text)}</code>" if text else ""


def render_markdown(doc: Mapping[str, Any], *, limit: int = MD_LIMIT) -> str:
    """A PR comment: summary table, then a collapsible section per changed layer.

    Rows per section shrink until the comment fits in ``limit`` characters.
    """
    for per_section in (200, 100, 50, 20, 5, 0):
        text = _markdown(doc, per_section)
        if len(text) <= limit:
            return text
    return text[: limit - 200] + "\n\n_(truncated to fit the comment size limit)_\n"


def _markdown(doc: Mapping[str, Any], per_section: int) -> str:
    a, b = doc["a"]["label"], doc["b"]["label"]
    out = [
        MARKER,
        f"### gitrelstate: {_code_cell(a)} → {_code_cell(b)}",
        "",
        "**No changes in any layer.**" if not doc["changed"] else "",
        "| layer | changed | summary |",
        "| --- | --- | --- |",
    ]
    for name, layer in doc["layers"].items():
        flag = "**yes**" if layer["changed"] else "no"
        out.append(f"| {name} | {flag} | {_cell(summary(name, layer))} |")
    out.append("")
    for name, layer in doc["layers"].items():
        if not layer["changed"]:
            continue
        found = rows(name, layer)
        out.append(f"<details><summary><b>{name}</b>: {_cell(summary(name, layer))}</summary>")
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
    notes = list(doc["layers"].get("data", {}).get("incomplete", []))
    env = doc["layers"].get("environment")
    if env and env.get("unavailable"):
        notes += [f"environment: {u}" for u in env["unavailable"]]
    if notes:
        out.append("**Could not show:**")
        out.append("")
        out += [f"- {_cell(n)}" for n in notes[:20]]
        if len(notes) > 20:
            out.append(f"- … and {len(notes) - 20} more")
        out.append("")
    return "\n".join(line for line in out if line is not None) + "\n"
