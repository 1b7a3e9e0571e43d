"""A fast writer for the canonical YAML of state files, byte for byte what ruamel writes.

ruamel's emitter costs about 2 µs per character: a run record listing 60,000
packages took 9 s to write, and ``git log -p`` (the textconv driver) and ``release``
pay that on every call. State files use a small, fixed subset of YAML (block style,
string keys, scalars that are mostly plain words), so this module writes that subset
directly and asks ruamel (through the ``scalar`` and ``document`` callbacks that
:mod:`gitrelstate.state.yamlio` passes in) for anything else: a string that needs
quotes is rendered by ruamel alone, and a document with a key that is not a plain
word, a multi-line string or a value of another type is written by ruamel entirely.
The tests compare both writers on generated documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

# Strings ruamel writes plain whatever the context: word characters, paths, versions,
# content ids ('blake3:…'); not starting with '-' or '.', no ': ', no trailing ':'.
_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@+=-]*(?::[A-Za-z0-9_./@+=-]+)*")
# Longer strings could be folded at the line width, and a key of 128 characters or
# more is written as '? key'; leave both to ruamel.
_MAX_INLINE = 100
_LINE_BREAKS = re.compile("[\n\r\x85\u2028\u2029]")


class _Fallback(Exception):
    """This document needs ruamel's writer."""


def emit(
    data: Mapping[str, Any],
    *,
    resolves_to_str: Callable[[str], bool],
    scalar: Callable[[str], str],
    document: Callable[[Mapping[str, Any]], str],
) -> str:
    """``data`` as ruamel would write it (``document(data)`` when in doubt).

    ``resolves_to_str(text)``: plain ``text`` reads back as a string (not a number,
    a boolean, null or a date). ``scalar(text)``: how ruamel writes the one-line
    string ``text`` as a mapping value.
    """
    writer = _Writer(resolves_to_str, scalar)
    try:
        if not isinstance(data, Mapping):
            raise _Fallback
        if not data:
            return "{}\n"
        writer.mapping(data, 0, "")
    except _Fallback:
        return document(data)
    return "".join(writer.out)


class _Writer:
    def __init__(self, resolves_to_str: Callable[[str], bool], scalar: Callable[[str], str]):
        self.out: list[str] = []
        self.resolves_to_str = resolves_to_str
        self.scalar = scalar
        self.strings: dict[str, str] = {}

    def text(self, value: str) -> str:
        shown = self.strings.get(value)
        if shown is None:
            if _PLAIN.fullmatch(value) and self.resolves_to_str(value):
                shown = value
            elif len(value) > 1000 or _LINE_BREAKS.search(value):
                raise _Fallback
            else:
                shown = self.scalar(value)
                if "\n" in shown:
                    raise _Fallback
            self.strings[value] = shown
        return shown

    def value(self, value: Any) -> str | None:
        """A scalar's text; None for a mapping or sequence."""
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind is bool:
            return "true" if value else "false"
        if kind is int:
            return str(value)
        if kind is float:
            if value != value or value in (float("inf"), float("-inf")):
                raise _Fallback
            return repr(value).lower()
        if value is None:
            return "null"
        if isinstance(value, Mapping):
            return None if value else "{}"
        if isinstance(value, (list, tuple)):
            return None if value else "[]"
        raise _Fallback

    def key(self, key: object) -> str:
        text = str(key)
        if len(text) > _MAX_INLINE or not _PLAIN.fullmatch(text):
            raise _Fallback
        if not self.resolves_to_str(text):
            raise _Fallback
        return text

    def mapping(self, data: Mapping[Any, Any], indent: int, first: str) -> None:
        """Keys at column ``indent``; the first line starts with ``first`` instead of
        the indentation (a mapping that is a sequence item: ``- key: value``)."""
        pad = " " * indent
        lead = first
        for key, value in data.items():
            shown = self.value(value)
            if shown is not None:
                self.out.append(f"{lead}{self.key(key)}: {shown}\n")
            else:
                self.out.append(f"{lead}{self.key(key)}:\n")
                self.nested(value, indent + 2, None)
            lead = pad

    def sequence(self, items: Any, indent: int, first: str) -> None:
        """Dashes at column ``indent``; item contents at ``indent + 2``."""
        pad = " " * indent
        lead = first
        for item in items:
            shown = self.value(item)
            if shown is not None:
                self.out.append(f"{lead}- {shown}\n")
            else:
                self.nested(item, indent + 2, f"{lead}- ")
            lead = pad

    def nested(self, value: Any, column: int, first: str | None) -> None:
        """A non-empty collection under a key (``first`` None) or as a sequence item
        (``first`` is the line so far, padded out to the collection's column)."""
        if isinstance(value, Mapping):
            self.mapping(value, column, " " * column if first is None else first)
        else:
            # ruamel indents a sequence two further than its parent (sequence=4, offset=2).
            column += 2 if first is not None else 0
            lead = " " * column if first is None else first.ljust(column)
            self.sequence(value, column, lead)
