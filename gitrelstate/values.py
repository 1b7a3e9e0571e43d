"""Params and metrics: structured files (YAML, JSON, TOML) read as flat dotted keys.

These files come from the work tree, a pull request or a worktree at an old commit,
so they are read like state files: bounded (size, nesting), strict (finite numbers,
64-bit integers) and always as plain JSON-ready values, because their values are
written into run records and printed by ``diff --json``.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitrelstate.errors import RelstateError, StateFileError
from gitrelstate.guard import jsonload, limits
from gitrelstate.state import yamlio

_HINT = "params and metrics files must be YAML, JSON or TOML"


def load_structured(path: Path, label: str) -> Any:
    """Parse a params/metrics file by its extension (YAML when unsure)."""
    try:
        raw = limits.read_capped(path, limits.PARAMS, label)
    except StateFileError as exc:
        raise _not_state_file(exc) from None
    return parse_structured(raw, path.suffix, label)


def parse_structured(raw: bytes, suffix: str, label: str) -> Any:
    """Parse a params/metrics file's bytes by its extension ``suffix`` (YAML when unsure);
    for content that is not in the work tree (a staged version, a blob)."""
    suffix = suffix.lower()
    try:
        limits.PARAMS.check(len(raw), label)
        if suffix == ".json":
            return jsonload.loads(raw, label, cap=limits.PARAMS)
        if suffix == ".toml":
            return _load_toml(raw, label)
        # A params file may say '1: 0.5': keys are read as the text written.
        return yamlio.loads(raw, label, cap=limits.PARAMS, text_keys=True)
    except StateFileError as exc:
        raise _not_state_file(exc) from None


def _not_state_file(exc: StateFileError) -> RelstateError:
    # Not a state file: the generic "restore it from Git" hint does not apply.
    hint = _HINT if exc.hint == StateFileError.DEFAULT_HINT else exc.hint
    if exc.message.endswith(": no such file"):
        hint = None
    return RelstateError(exc.message, hint=hint)


def _load_toml(raw: bytes, label: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, from PyPI
        import tomli as tomllib

    if _toml_depth(raw) > limits.MAX_DEPTH:
        raise RelstateError(f"{label}: nested deeper than {limits.MAX_DEPTH} levels", hint=_HINT)
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RelstateError(
            f"{label}: cannot parse ({str(exc).splitlines()[0]})", hint=_HINT
        ) from None
    plain = _json_ready(doc)
    jsonload.check_numbers(plain, label)
    return plain


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _toml_depth(raw: bytes) -> int:
    """At least how deeply ``raw`` nests (tomllib recurses once per level).

    Brackets inside strings count too (TOML has four kinds of string): that can only
    overestimate, and the depth never drops below zero, so a string of closing
    brackets cannot hide the nesting that follows it.
    """
    brackets = raw.translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= limits.MAX_DEPTH:
        return 0  # the common case: too few brackets to nest that deep
    depth = deepest = 0
    for byte in brackets:
        depth = depth + 1 if byte in b"[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def _json_ready(value: Any) -> Any:
    """TOML dates and times become the ISO text they were written as (YAML and JSON
    files give strings for them too)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys; lists and scalars are kept as values."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix[:-1] if prefix else "value": value}


def select(flat: Mapping[str, Any], keys: Sequence[str], label: str) -> dict[str, Any]:
    """The named dotted keys (a key naming a section selects everything below it)."""
    chosen: dict[str, Any] = {}
    for key in keys:
        hits = {k: v for k, v in flat.items() if k == key or k.startswith(key + ".")}
        if not hits:
            raise RelstateError(
                f"{label}: no key '{key}'",
                hint=f"keys there: {', '.join(sorted(flat)[:10])}",
            )
        chosen.update(hits)
    return dict(sorted(chosen.items()))


def parse_param_spec(spec: str) -> tuple[str, list[str]]:
    """``FILE`` or ``FILE:key1,key2`` (dotted keys) -> (file, keys)."""
    path, sep, keys = spec.partition(":")
    if not path:
        raise RelstateError(f"invalid params spec {spec!r}", hint="use FILE or FILE:key,key")
    return path, [k.strip() for k in keys.split(",") if k.strip()] if sep else []
