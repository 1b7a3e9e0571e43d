"""The only module that talks to the YAML libraries.

Reading is defensive because state files arrive through git from other people, and
it is one pass: libyaml's C parser (from PyYAML; ruamel's pure-Python parser where
libyaml is missing) yields events, and :func:`_build` turns them into plain values
while it checks them. Only the YAML 1.2 core schema is accepted (strings, integers,
finite floats, booleans, null, mappings, sequences), with string keys, no aliases, no
other tags and nesting of at most ``MAX_DEPTH`` levels, so every accepted document is
also a JSON document with one meaning (the ``state_id`` of a release relies on that).

Writing is canonical (ruamel: block style, keys in the order the caller built them,
UTF-8, LF) so that the same state always gives the same bytes.
"""

from __future__ import annotations

import importlib
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitrelstate.errors import StateFileError
from gitrelstate.guard import limits

MAX_FILE_BYTES = limits.STATE_FILE.max_bytes  # kept for callers that check it themselves
MAX_DEPTH = limits.MAX_DEPTH
_YAML_HINT = "fix the file by hand or restore it with 'git checkout -- FILE'"
_CORE = "tag:yaml.org,2002:"
_MAP, _SEQ, _STR = f"{_CORE}map", f"{_CORE}seq", f"{_CORE}str"


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


# -- resolving plain scalars (the YAML 1.2 core schema, as ruamel reads it) -----------

_Resolvers = dict[str, list[tuple[str, "re.Pattern[str]"]]]
_resolvers: _Resolvers | None = None
_not_str: dict[str, re.Pattern[str]] = {}


# The YAML 1.2 implicit resolvers of ruamel.yaml (resolver.implicit_resolvers), copied so
# reading never imports ruamel: (tag, regex, first characters). A plain scalar means here
# exactly what it meant to the ruamel reader that wrote and read every earlier state file
# (and every earlier ``state_id``); a test compares this table with ruamel's.
CORE_SCHEMA: tuple[tuple[str, str, str | tuple[str, ...]], ...] = (
    (f"{_CORE}bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (
        f"{_CORE}float",
        r"""^(?:
         [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        "-+0123456789.",
    ),
    (
        f"{_CORE}int",
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""",
        "-+0123456789",
    ),
    (f"{_CORE}merge", r"^(?:<<)$", "<"),
    (
        f"{_CORE}null",
        r"""^(?: ~
        |null|Null|NULL
        | )$""",
        ("~", "n", "N", ""),
    ),
    (
        f"{_CORE}timestamp",
        r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
        "0123456789",
    ),
    (f"{_CORE}value", r"^(?:=)$", "="),
    (f"{_CORE}yaml", r"^(?:!|&|\*)$", "!&*"),
)


def _plain_resolvers() -> _Resolvers:
    """First character -> [(tag, regex)] of :data:`CORE_SCHEMA`, compiled once."""
    global _resolvers
    if _resolvers is None:
        table: _Resolvers = {}
        for tag, pattern, first in CORE_SCHEMA:
            regex = re.compile(pattern, re.X)
            for ch in first:
                table.setdefault(ch, []).append((tag, regex))
        for ch, found in table.items():
            # One regex per first character: "does this plain text mean anything but a
            # string?" (the writer asks it for every value).
            _not_str[ch] = re.compile("|".join(f"(?:{r.pattern})" for _, r in found), re.X)
        _resolvers = table
    return _resolvers


def _to_int(text: str) -> int:
    digits = text.replace("_", "")
    sign = -1 if digits[:1] == "-" else 1
    digits = digits[1:] if digits[:1] in ("-", "+") else digits
    if not digits:
        raise ValueError("no digits")
    if len(digits) > limits.MAX_INT_DIGITS:
        raise ValueError(f"{len(digits)} digits: out of the 64-bit range")
    if digits[:2] in ("0b", "0x", "0o"):
        value = int(digits[2:], {"0b": 2, "0x": 16, "0o": 8}[digits[:2]])
    else:
        value = int(digits)  # YAML 1.2: a leading 0 is not octal
    value *= sign
    if not limits.MIN_INT <= value <= limits.MAX_INT:
        raise ValueError("integer out of the 64-bit range")
    return value


def _to_float(text: str) -> float:
    value = float(text.replace("_", ""))
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _to_bool(text: str) -> bool:
    return text[0] in "tT"


def _to_null(text: str) -> None:
    return None


# The YAML 1.2 spellings of booleans and null, looked up before any regex.
_WORDS: dict[str, bool | None] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("~", "null", "Null", "NULL"), None),
}

_CONSTRUCT: dict[str, Callable[[str], Any]] = {
    f"{_CORE}int": _to_int,
    f"{_CORE}float": _to_float,
    f"{_CORE}bool": _to_bool,
    f"{_CORE}null": _to_null,
    f"{_CORE}timestamp": str,  # not in the core schema: a date stays the text it is
    f"{_CORE}value": str,
}


def _scalar(event: Any, source: str) -> Any:
    tag, text = event.tag, event.value
    if tag is None and event.implicit[0]:
        if not text:
            return None
        for found, regex in _plain_resolvers().get(text[0], ()):
            if regex.match(text):
                tag = found
                break
        else:
            return text
    elif tag is None or tag in ("!", _STR):
        return text
    if tag == f"{_CORE}merge":
        raise _refuse(source, event, "'<<' merge keys are not allowed")
    construct = _CONSTRUCT.get(tag)
    if construct is None or (event.tag is not None and construct is str):
        raise _refuse(source, event, f"the YAML tag {_shown_tag(tag)} is not allowed")
    if event.tag is not None:
        # An explicit core tag must fit its type (!!int 'abc' is not an integer).
        # (!!float also takes an integer's spelling: '!!float 1' is 1.0.)
        fits = (tag, f"{_CORE}int") if tag == f"{_CORE}float" else (tag,)
        rules = [r for t, r in _plain_resolvers().get(text[:1], ()) if t in fits]
        if not any(r.match(text) for r in rules):
            raise _refuse(source, event, f"{text[:40]!r} is not a valid {_shown_tag(tag)}")
    if text.lower().lstrip("+-") in (".inf", ".nan"):
        raise _refuse(
            source,
            event,
            f"{text} is not a finite number",
            hint="gitrelstate records JSON numbers: write null (or a string) for a value "
            "that is not a finite number",
        )
    try:
        return construct(text)
    except ValueError as exc:
        raise _refuse(source, event, f"unreadable number {text[:40]!r} ({exc})") from None


def _shown_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag[:60]


def _refuse(source: str, event: Any, why: str, hint: str | None = None) -> StateFileError:
    mark = getattr(event, "start_mark", None)
    where = f" (line {mark.line + 1})" if mark is not None else ""
    return StateFileError(f"{source}: {why}{where}", hint=hint)


# -- one pass from events to values ------------------------------------------------------


_SCALAR, _MAP_START, _SEQ_START, _END, _ALIAS, _DOC, _OTHER = range(7)


def _events(text: str) -> tuple[Callable[[], Any], dict[type, int], type[Exception]]:
    """A function returning the next event of ``text`` (None at the end), each event
    class's code, and the parser's error base."""
    events: Any
    error: type[Exception]
    try:
        # libyaml through PyYAML (imported by name: its type stubs are optional).
        get = importlib.import_module("yaml._yaml").CParser(text).get_event
        events = importlib.import_module("yaml.events")
        error = importlib.import_module("yaml.error").YAMLError
    except ImportError:  # no libyaml: the same events from ruamel, slower
        stream = iter(_yaml().parse(text))
        get = lambda: next(stream, None)  # noqa: E731
        events = importlib.import_module("ruamel.yaml.events")
        error = importlib.import_module("ruamel.yaml.error").YAMLError
    codes = {
        events.ScalarEvent: _SCALAR,
        events.MappingStartEvent: _MAP_START,
        events.SequenceStartEvent: _SEQ_START,
        events.MappingEndEvent: _END,
        events.SequenceEndEvent: _END,
        events.AliasEvent: _ALIAS,
        events.DocumentStartEvent: _DOC,
    }
    return get, codes, error


def _build(text: str, source: str, text_keys: bool) -> Any:
    """Values from the events of ``text``, checked as they come (see the module doc)."""
    get, codes, error = _events(text)
    resolvers = _plain_resolvers()
    not_str = _not_str
    stack: list[Any] = []  # open containers, innermost last
    top: Any = None  # stack[-1]
    key: Any = _NO_KEY  # in a mapping: the key waiting for its value
    keys: list[Any] = []  # the waiting keys of the enclosing mappings
    root: Any = None
    documents = nodes = 0
    try:
        while (event := get()) is not None:
            code = codes.get(type(event), _OTHER)
            if code == _SCALAR:
                text = event.value
                if event.tag is not None or not event.implicit[0]:
                    value: Any = text if event.tag in (None, "!", _STR) else None
                    if value is None:
                        value = _scalar(event, source)
                    if "\x00" in text:  # only an escape can write one ("\0")
                        raise _refuse(source, event, "NUL characters are not allowed")
                elif text[:1] not in resolvers:
                    value = text  # the common case: a plain word
                elif text in _WORDS:
                    value = _WORDS[text]
                elif text.isdigit() and text.isascii() and len(text) < 19:
                    value = int(text)
                elif not_str[text[:1]].match(text) is None:
                    value = text  # a version number, a date-like name: still a string
                else:
                    value = _scalar(event, source)
                if key is _NO_KEY and type(top) is dict:
                    if text_keys:
                        value = text
                    elif type(value) is not str:
                        raise _refuse(source, event, f"mapping keys must be strings, not {value!r}")
                    if len(value) > limits.MAX_KEY_CHARS or not value.isprintable():
                        raise _refuse(
                            source,
                            event,
                            f"a mapping key must be printable text of at most "
                            f"{limits.MAX_KEY_CHARS} characters, got {value[:80]!r}",
                        )
                    if value in top:
                        raise _refuse(source, event, f"duplicate key {value[:80]!r}")
                    key = value
                    continue
            elif code in (_MAP_START, _SEQ_START):
                is_map = code == _MAP_START
                if event.tag not in (None, "!", _MAP if is_map else _SEQ):
                    shown = _shown_tag(event.tag)
                    raise _refuse(source, event, f"the YAML tag {shown} is not allowed")
                if len(stack) >= MAX_DEPTH:
                    raise _refuse(
                        source,
                        event,
                        f"nesting deeper than {MAX_DEPTH} levels",
                        hint="gitrelstate's files nest a few levels; this one is not such a file",
                    )
                if key is _NO_KEY and type(top) is dict:
                    raise _refuse(source, event, "mapping keys must be strings")
                value = {} if is_map else []
            elif code == _END:
                value = stack.pop()
                key = keys.pop()
                top = stack[-1] if stack else None
                if top is None:
                    root = value
                continue
            elif code == _ALIAS:
                raise _refuse(
                    source,
                    event,
                    "YAML aliases are not allowed in state files",
                    hint="write the value out in full instead of using '*alias'",
                )
            else:
                if code == _DOC:
                    documents += 1
                    if documents > 1:
                        raise _refuse(source, event, "more than one YAML document")
                    if event.version not in (None, (1, 2)):
                        raise _refuse(source, event, "only YAML 1.2 documents are read")
                continue
            nodes += 1
            if nodes > limits.MAX_NODES:
                raise _refuse(
                    source,
                    event,
                    f"more than {limits.MAX_NODES} values",
                    hint="gitrelstate refuses larger files (docs/spec.md, Limits)",
                )
            # place ``value`` (a scalar, or a container just opened) in its parent
            if top is None:
                root = value
            elif type(top) is dict:
                top[key] = value
                key = _NO_KEY
            else:
                top.append(value)
            if code != _SCALAR:
                stack.append(value)
                keys.append(key)
                top, key = value, _NO_KEY
    except (error, UnicodeEncodeError) as exc:
        raise StateFileError(
            f"{source}: not valid YAML ({_first_line(exc)})", hint=_YAML_HINT
        ) from None
    return root


class _NoKey:
    """A mapping whose next scalar is a key."""


_NO_KEY = _NoKey()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _decode(raw: bytes, source: str, cap: limits.Cap) -> str:
    cap.check(len(raw), source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StateFileError(f"{source}: not UTF-8 text") from None


def loads(
    text: str | bytes,
    source: str,
    *,
    cap: limits.Cap = limits.STATE_FILE,
    text_keys: bool = False,
) -> Any:
    """Parse a YAML state file safely (see the module doc); errors name ``source``.

    ``cap`` is the kind's size limit, checked before parsing. ``text_keys`` reads every
    mapping key as the text written (params files may say ``1: 0.5``); otherwise a
    key must be a string.
    """
    if isinstance(text, bytes):
        text = _decode(text, source, cap)
    elif len(text) * 4 > cap.max_bytes:  # a character is at most 4 bytes in UTF-8
        cap.check(len(text.encode("utf-8", "surrogatepass")), source)
    return _build(text, source, text_keys)


def read(path: Path, source: str | None = None, *, cap: limits.Cap = limits.STATE_FILE) -> Any:
    """Read and parse a YAML file, reading no more than ``cap`` allows."""
    label = source or str(path)
    return loads(limits.read_capped(path, cap, label), label, cap=cap)


def _plain(value: Any) -> Any:
    """Turn mappings/sequences into plain dicts/lists so the safe dumper accepts them."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _ruamel_dumps(data: Mapping[str, Any]) -> str:
    stream = io.StringIO()
    _writer().dump(_plain(data), stream)
    return stream.getvalue()


def _ruamel_render(texts: Sequence[str]) -> list[str | None]:
    """How ruamel writes each string as a value, in one call; None for one that takes
    more than one line (its line breaks depend on where it stands)."""
    lines = _ruamel_dumps({"k": list(texts)}).split("\n")[1:-1]
    found: list[list[str]] = []
    for line in lines:
        if line.startswith("  - "):
            found.append([line[4:]])
        elif found:
            found[-1].append(line)
    if len(found) != len(texts):  # not the shape expected: let the caller fall back
        return [None] * len(texts)
    return [
        item[0] if len(item) == 1 and not _LINE_BREAK.search(item[0]) else None for item in found
    ]


_LINE_BREAK = re.compile("[\r\x85\u2028\u2029]")


def _resolves_to_str(text: str) -> bool:
    if _resolvers is None:
        _plain_resolvers()
    regex = _not_str.get(text[:1])
    return regex is None or regex.match(text) is None


_writer_instance: Any = None


def _writer() -> Any:
    global _writer_instance
    if _writer_instance is None:
        _writer_instance = _yaml()
    return _writer_instance


def dumps(data: Mapping[str, Any]) -> str:
    """Serialise ``data`` canonically (keys in the order given), as ruamel writes it:
    directly for the usual shapes of state files (:mod:`gitrelstate.state.yamlemit`),
    through ruamel for anything else."""
    from gitrelstate.state import yamlemit

    return yamlemit.emit(
        data, resolves_to_str=_resolves_to_str, render=_ruamel_render, document=_ruamel_dumps
    )
