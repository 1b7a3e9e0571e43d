"""What a layer's change looks like in words: a one-line summary and detail rows, shared
by the terminal and Markdown renderers.

Our words are plain text; every value that came from a state (a path, a key, a params or
metrics value, a command, a model reference) passes through the renderer's ``quote``, so
the Markdown renderer can make each one inert and the terminal renderer escape it.
"""

from __future__ import annotations

from collections.abc import Callable

from gitrelstate.diff.datalayer import DataLayer
from gitrelstate.diff.document import (
    CodeLayer,
    EnvironmentLayer,
    Layer,
    MetricsLayer,
    ModelLayer,
    PipelineLayer,
)
from gitrelstate.diff.jsondoc import JSONDoc, JSONValue
from gitrelstate.ui import human_size

Row = tuple[str, str, str]  # (status, what, detail); ``what`` is a raw value
Quote = Callable[[str], str]  # a value as the renderer shows it


def _plain(value: str) -> str:
    return value


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary(layer: Layer, quote: Quote = _plain) -> str:
    """What changed in a layer, in a few words."""
    if not layer.changed:
        if isinstance(layer, EnvironmentLayer) and layer.unavailable:
            return "not compared (" + "; ".join(quote(u) for u in layer.unavailable) + ")"
        return "unchanged"
    if isinstance(layer, ModelLayer):
        return model_summary(layer, quote)
    if isinstance(layer, MetricsLayer):
        return plural(len(layer.metrics), "metric") + " changed"
    if isinstance(layer, DataLayer):
        s = layer.summary()
        parts = [f"{s[k]} {k}" for k in ("added", "removed", "modified", "renamed") if s[k]]
        files = ", ".join(parts) if parts else "no per-file detail"
        return f"{plural(s['paths'], 'path')} changed; files: {files}"
    if isinstance(layer, PipelineLayer):
        return _pipeline_summary(layer)
    if isinstance(layer, EnvironmentLayer):
        return plural(len(layer.lines()), "difference")
    return _code_summary(layer)


def model_summary(layer: ModelLayer, quote: Quote = _plain) -> str:
    if layer.old is None:
        return f"added: {_model_text(layer.new, quote)}"
    if layer.new is None:
        return f"removed (was {_model_text(layer.old, quote)})"
    return f"{_model_text(layer.old, quote)} → {_model_text(layer.new, quote)}"


def _model_text(model: JSONDoc | None, quote: Quote) -> str:
    if not model:
        return "none"
    if "hash" in model:
        size = model.get("size")
        shown = f", {human_size(size)}" if isinstance(size, int) else ""
        return f"{quote(str(model.get('path')))} ({quote(str(model['hash'])[7:19])}{shown})"
    return quote(str(model.get("reference")))


def _pipeline_summary(layer: PipelineLayer) -> str:
    parts = []
    for names, word in (
        (layer.stages_added, "added"),
        (layer.stages_removed, "removed"),
        (layer.stages_changed, "changed"),
    ):
        if names:
            parts.append(f"{plural(len(names), 'stage')} {word}")
    if layer.params:
        parts.append(f"{plural(len(layer.params), 'param')} changed")
    return ", ".join(parts)


def _code_summary(layer: CodeLayer) -> str:
    parts = []
    if layer.commits:
        parts.append(
            plural(layer.ahead if layer.ahead is not None else len(layer.commits), "commit")
        )
    if layer.files:
        parts.append(plural(len(layer.files), "file") + " changed")
    if layer.old.diff != layer.new.diff:
        parts.append("uncommitted changes differ")
    return ", ".join(parts) or "changed"


def value_text(v: JSONValue, quote: Quote = _plain) -> str:
    return "(none)" if v is None else quote(str(v))


def _delta_text(d: float | int | None) -> str:
    if d is None:
        return ""
    return f"{d:+g}" if isinstance(d, float) else f"{d:+d}"


def _command(value: JSONValue, quote: Quote) -> str:
    return quote(" ".join(str(v) for v in value) if isinstance(value, list) else str(value))


def rows(layer: Layer, quote: Quote = _plain) -> list[Row]:
    """(status, what, detail) rows of a layer, in display order: ``what`` is one raw value
    (the renderer shows it whole), ``detail`` our words around ``quote``d values."""
    out: list[Row] = []
    if isinstance(layer, MetricsLayer):
        for m in layer.metrics:
            detail = f"{value_text(m.old, quote)} → {value_text(m.new, quote)}"
            if m.delta is not None:
                detail += f" ({_delta_text(m.delta)})"
            out.append((m.status, f"{m.file}: {m.key}", detail))
    elif isinstance(layer, ModelLayer) and layer.changed:
        out.append(("changed", "model", model_summary(layer, quote)))
    elif isinstance(layer, DataLayer):
        for f in layer.modified:
            out.append(("modified", f.path, f"{human_size(f.old_size)} → {human_size(f.new_size)}"))
        out += [("added", f.path, human_size(f.size)) for f in layer.added]
        out += [("removed", f.path, human_size(f.size)) for f in layer.removed]
        for r in layer.renamed:
            out.append(("renamed", f"{r.source} → {r.target}", human_size(r.size)))
        for p in layer.paths:
            if not p.details:
                out.append((p.status, p.path + "/", "per-file changes not available"))
    elif isinstance(layer, PipelineLayer):
        out += [("added", f"stage {n}", "") for n in layer.stages_added]
        out += [("removed", f"stage {n}", "") for n in layer.stages_removed]
        for stage in layer.stages_changed:
            for c in stage.changes:
                if c.is_set:
                    detail = ", ".join(
                        [f"+{quote(str(p))}" for p in c.added]
                        + [f"-{quote(str(p))}" for p in c.removed]
                    )
                else:
                    detail = f"{_command(c.old, quote)} → {_command(c.new, quote)}"
                out.append(("changed", f"stage {stage.name} {c.field}", detail))
        for param in layer.params:
            detail = f"{value_text(param.old, quote)} → {value_text(param.new, quote)}"
            out.append((param.status, f"{param.file}: {param.key}", detail))
    elif isinstance(layer, EnvironmentLayer):
        out += [("changed", line, "") for line in layer.lines()]
    elif isinstance(layer, CodeLayer):
        for file in layer.files:
            what = f"{file.source} → {file.path}" if file.status == "renamed" else file.path
            out.append((file.status, what, ""))
    return out
