"""The only module that talks to the YAML library.

Reading is defensive (size cap, no aliases, bounded nesting) because state files
arrive through git from other people; writing is canonical (block style, keys in
the order the caller built them, UTF-8, LF) so that the same state always gives
the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitrelstate.errors import StateFileError

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64


def _yaml(typ: str = "safe") -> Any:
    # Imported lazily: ruamel.yaml costs several milliseconds at start-up.
    from ruamel.yaml import YAML

    yaml: Any = YAML(typ=typ, pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096
    yaml.sort_base_mapping_type_on_output = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _check_events(text: str, source: str) -> None:
    """Refuse aliases (billion-laughs bombs) and absurd nesting before building objects."""
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent

    depth = 0
    try:
        for event in _yaml().parse(text):
            if isinstance(event, AliasEvent):
                raise StateFileError(
                    f"{source}: YAML aliases are not allowed in state files",
                    hint="write the value out in full instead of using '*alias'",
                )
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise StateFileError(
                        f"{source}: nesting deeper than {MAX_DEPTH} levels",
                        hint="state files are shallow; this file is not one gitrelstate wrote",
                    )
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    except YAMLError as exc:
        raise StateFileError(
            f"{source}: not valid YAML ({_first_line(exc)})",
            hint="fix the file by hand or restore it with 'git checkout -- FILE'",
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def loads(text: str, source: str) -> Any:
    """Parse YAML text safely; errors name ``source``."""
    from ruamel.yaml.error import YAMLError

    _check_events(text, source)
    try:
        return _yaml().load(text)
    except YAMLError as exc:
        raise StateFileError(
            f"{source}: not valid YAML ({_first_line(exc)})",
            hint="fix the file by hand or restore it with 'git checkout -- FILE'",
        ) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise StateFileError(f"{source}: unreadable value ({exc})") from None


def read(path: Path, source: str | None = None) -> Any:
    """Read and parse a YAML file with a size cap."""
    label = source or str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise StateFileError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise StateFileError(f"{label}: is a directory, not a state file") from None
    except OSError as exc:
        raise StateFileError(f"{label}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise StateFileError(
            f"{label}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
            hint="state files are small; this is not one gitrelstate wrote",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StateFileError(f"{label}: not UTF-8 text") from None
    return loads(text, label)


def _plain(value: Any) -> Any:
    """Turn mappings/sequences into plain dicts/lists so the safe dumper accepts them."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dumps(data: Mapping[str, Any]) -> str:
    """Serialise ``data`` canonically (keys in the order given)."""
    stream = io.StringIO()
    _yaml().dump(_plain(data), stream)
    return stream.getvalue()
