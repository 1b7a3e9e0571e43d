"""DVC's ``${...}`` interpolation, as DVC 3 reads ``dvc.yaml`` (docs/migrating-from-dvc.md).

- ``${a.b[0]}`` looks a dotted/indexed path up in the context; ``\\${x}`` is a literal
  ``${x}``; the match is non-greedy (no nesting).
- A string that is exactly one ``${...}`` becomes the value itself (numbers, booleans,
  and in ``foreach``/``matrix`` data lists and mappings keep their type); anywhere else
  each match becomes its text: numbers as Python writes them (``0.1``, ``1e-05``),
  booleans ``true``/``false``, null ``None``. A mapping inside ``cmd`` becomes command
  line options (``--name sgd --on --tags a 'b c'``); a list or mapping elsewhere is an
  error, as in DVC.
- Map keys are interpolated too.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from gitrelstate.errors import RelstateError

PATTERN = re.compile(r"(?<!\\)\$\{(.*?)\}")
ESCAPED = re.compile(r"\\\$\{")


class InterpolationError(RelstateError):
    """A ``${...}`` DVC itself could not resolve either."""


def text_of(value: Any) -> str:
    """The text DVC puts in place of a scalar value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "None"
    return str(value)


def lookup(context: Mapping[str, Any], expr: str, where: str) -> Any:
    """The value at ``a.b[0].c`` (also ``a.0``) in ``context``."""
    path = expr.strip().replace("[", ".").replace("]", "")
    current: Any = context
    for part in [p.strip() for p in path.split(".")]:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif (
            isinstance(current, list)
            and part.lstrip("-").isdigit()
            and -len(current) <= int(part) < len(current)
        ):
            current = current[int(part)]
        else:
            raise InterpolationError(f"{where}: could not find '{expr.strip()}'")
    return current


def resolve(
    value: Any,
    context: Mapping[str, Any],
    where: str,
    *,
    in_cmd: bool = False,
    raw: bool = False,
) -> Any:
    """``value`` with every ``${...}`` resolved (recursively, map keys included);
    ``raw``: a lone ``${...}`` may be a list or mapping (``foreach``/``matrix`` data)."""
    if isinstance(value, str):
        return resolve_str(value, context, where, in_cmd=in_cmd, raw=raw)
    if isinstance(value, list):
        return [resolve(v, context, where, in_cmd=in_cmd) for v in value]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            key = resolve_str(k, context, where) if isinstance(k, str) else k
            out[text_of(key) if not isinstance(key, str) else key] = resolve(
                v, context, where, in_cmd=in_cmd
            )
        return out
    return value


def resolve_str(
    text: str, context: Mapping[str, Any], where: str, *, in_cmd: bool = False, raw: bool = False
) -> Any:
    """One string resolved (see :func:`resolve`)."""
    matches = list(PATTERN.finditer(text))
    if not matches:
        return ESCAPED.sub("${", text)
    if len(matches) == 1 and matches[0].span() == (0, len(text)):
        value = lookup(context, matches[0].group(1), where)
        if raw:
            return value
        if isinstance(value, Mapping) and in_cmd:
            return cli_options(value)
        if isinstance(value, (list, Mapping)):
            raise InterpolationError(f"{where}: cannot interpolate data of type '{_type(value)}'")
        return value
    out = []
    last = 0
    for m in matches:
        out.append(ESCAPED.sub("${", text[last : m.start()]))
        value = lookup(context, m.group(1), where)
        if isinstance(value, Mapping) and in_cmd:
            out.append(cli_options(value))
        elif isinstance(value, (list, Mapping)):
            raise InterpolationError(f"{where}: cannot interpolate data of type '{_type(value)}'")
        else:
            out.append(text_of(value))
        last = m.end()
    out.append(ESCAPED.sub("${", text[last:]))
    return "".join(out)


def _type(value: Any) -> str:
    return "list" if isinstance(value, list) else "dict"


def cli_options(value: Mapping[str, Any]) -> str:
    """A mapping in ``cmd`` as command-line options, DVC's default way."""
    words: list[str] = []
    for key, item in _flatten(value).items():
        if isinstance(item, bool):
            if item:
                words.append(f"--{key}")
        elif isinstance(item, str):
            words += [f"--{key}", shlex.quote(item)]
        elif isinstance(item, list):
            words += [f"--{key}", *(shlex.quote(text_of(i)) for i in item)]
        else:
            words += [f"--{key}", text_of(item)]
    return " ".join(words)


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def has_interpolation(value: Any) -> bool:
    if isinstance(value, str):
        return bool(PATTERN.search(value))
    if isinstance(value, list):
        return any(has_interpolation(v) for v in value)
    if isinstance(value, Mapping):
        return any(has_interpolation(k) or has_interpolation(v) for k, v in value.items())
    return False


def merge(into: dict[str, Any], new: Mapping[str, Any], source: str, where: str) -> None:
    """Merge ``new`` into the context: mappings merge; a value already there is an error
    (DVC never overrides a variable)."""
    for key, value in new.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, Mapping):
            merge(into[key], value, source, where)
        elif key in into:
            raise InterpolationError(
                f"{where}: cannot redefine '{key}' from '{source}' as it already exists"
            )
        else:
            into[key] = _copy(value)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
