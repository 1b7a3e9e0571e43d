"""Params and metrics: structured files (YAML, JSON, TOML) read as flat dotted keys."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitrelstate.errors import RelstateError
from gitrelstate.state import yamlio


def load_structured(path: Path, label: str) -> Any:
    """Parse a params/metrics file by its extension (YAML when unsure)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RelstateError(f"{label}: no such file") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return json.loads(raw)
        if suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # the same parser, from PyPI
                import tomli as tomllib

            return tomllib.loads(raw.decode("utf-8"))
        return yamlio.loads(raw.decode("utf-8"), label)
    except RelstateError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise RelstateError(
            f"{label}: cannot parse ({str(exc).splitlines()[0]})",
            hint="params and metrics files must be YAML, JSON or TOML",
        ) from None


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
