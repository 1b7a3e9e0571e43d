"""A fast writer for the canonical YAML of state files: ruamel's bytes, in bounded time.

ruamel's emitter costs about 2 µs per character: a run record listing 60,000
packages took 9 s to write, and the ``git log -p`` driver and ``release`` pay that on
every call. State files use a small, fixed subset of YAML (block style, string keys,
scalars that are mostly plain words), so this module writes the structure and plain
scalars itself and asks ruamel, through callbacks that :mod:`gitrelstate.state.yamlio`
passes in, only how to quote the other strings:

- short strings (up to ``SHORT`` characters) are rendered by ruamel in one batch per
  document, up to ``BUDGET`` characters in all: the bytes are exactly ruamel's;
- a longer string, or one ruamel writes over several lines, makes a small document
  (up to ``BUDGET`` characters) go through ruamel whole, still exactly ruamel's bytes;
- in a larger document, such strings (and short ones past the budget) are written as
  double-quoted JSON-style strings, which YAML reads back identically.

So the cost is linear in the document whatever it holds. The tests compare both
writers on generated documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

# Strings ruamel writes plain whatever the context: word characters, paths, versions,
# content ids ('blake3:…'); not starting with '-' or '.', no ': ', no trailing ':'.
_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@+=-]*(?::[A-Za-z0-9_./@+=-]+)*")
SHORT = 256
BUDGET = 32 * 1024
_BREAKS = re.compile("[\n\r\x85\u2028\u2029]")
# What JSON leaves raw but YAML must not see raw in a double-quoted scalar: C1
# controls, surrogates, non-characters, and the line and byte-order marks.
_NOT_YAML = re.compile("[\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff\u2028\u2029]")


class _Whole(Exception):
    """This document goes through ruamel whole."""


def json_style(text: str) -> str:
    """``text`` as a double-quoted scalar that YAML and JSON both read back as ``text``."""
    quoted: str = encode_basestring(text)  # json.dumps(text, ensure_ascii=False), in C
    if _NOT_YAML.search(quoted) is None:
        return quoted
    return _NOT_YAML.sub(lambda m: f"\\u{ord(m.group()):04X}", quoted)


def emit(
    data: Mapping[str, Any],
    *,
    resolves_to_str: Callable[[str], bool],
    render: Callable[[Sequence[str]], list[str | None]],
    document: Callable[[Mapping[str, Any]], str],
) -> str:
    """``data`` as ruamel would write it (see the module doc for very large documents).

    ``resolves_to_str(text)``: plain ``text`` reads back as a string. ``render(texts)``:
    how ruamel writes each string of ``texts`` as a value, or None where it would take
    more than one line. ``document(data)``: ruamel's writing of a whole document.
    """
    if not data:
        return "{}\n"
    writer = _Writer(resolves_to_str)
    try:
        writer.mapping(data, 0, "")
    except _Whole:
        return document(data)
    try:
        return writer.finish(render)
    except _Whole:
        return document(data)


class _Writer:
    def __init__(self, resolves_to_str: Callable[[str], bool]):
        self.out: list[str] = []
        self.resolves_to_str = resolves_to_str
        # Strings that need quotes: where they go in ``out``, filled in by finish().
        self.quoted: dict[str, list[int]] = {}
        self.size = 0

    def piece(self, text: str) -> None:
        """Append a string scalar: itself when plain, else a place for its quoted form."""
        if _PLAIN.fullmatch(text) is not None and self.resolves_to_str(text):
            self.out.append(text)
            return
        places = self.quoted.get(text)
        if places is None:
            self.quoted[text] = places = []
        places.append(len(self.out))
        self.out.append("")

    def scalar(self, value: Any) -> str | None:
        """A non-string scalar's text; None for a non-empty mapping or sequence."""
        kind = type(value)
        if kind is bool:
            return "true" if value else "false"
        if kind is int:
            return str(value)
        if kind is float:
            if value != value or value in (float("inf"), float("-inf")):
                raise _Whole
            return repr(value).lower()
        if value is None:
            return "null"
        if isinstance(value, Mapping):
            return None if value else "{}"
        if isinstance(value, (list, tuple)):
            return None if value else "[]"
        raise _Whole  # a type of its own (a str subclass too): ruamel's representers decide

    def mapping(self, data: Mapping[Any, Any], indent: int, first: str) -> None:
        """Keys at column ``indent``; the first line starts with ``first`` instead of
        the indentation (a mapping that is a sequence item: ``- key: value``)."""
        pad = " " * indent
        lead = first
        out = self.out
        for key, value in data.items():
            if type(key) is not str:
                raise _Whole
            out.append(lead)
            self.piece(key)
            if type(value) is str:
                out.append(": ")
                self.piece(value)
                out.append("\n")
            else:
                shown = self.scalar(value)
                if shown is None:
                    out.append(":\n")
                    self.nested(value, indent + 2, None)
                else:
                    out.append(f": {shown}\n")
            lead = pad

    def sequence(self, items: Any, indent: int, first: str) -> None:
        """Dashes at column ``indent``; item contents at ``indent + 2``."""
        pad = " " * indent
        lead = first
        out = self.out
        for item in items:
            if type(item) is str:
                out.append(f"{lead}- ")
                self.piece(item)
                out.append("\n")
            else:
                shown = self.scalar(item)
                if shown is None:
                    self.nested(item, indent + 2, f"{lead}- ")
                else:
                    out.append(f"{lead}- {shown}\n")
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

    def finish(self, render: Callable[[Sequence[str]], list[str | None]]) -> str:
        """Fill in the quoted strings and join."""
        short: list[str] = []
        spent = 0
        for text in self.quoted:
            if len(text) <= SHORT and spent + len(text) <= BUDGET:
                short.append(text)
                spent += len(text)
        shown: dict[str, str | None] = dict(zip(short, render(short) if short else [], strict=True))
        small = sum(map(len, self.out)) + sum(len(t) for t in self.quoted) <= BUDGET
        for text, places in self.quoted.items():
            rendered = shown.get(text)
            if rendered is None:
                if small:
                    raise _Whole  # a small document: ruamel writes it, exactly
                rendered = json_style(text)
            for place in places:
                self.out[place] = rendered
        return "".join(self.out)
