"""Bounded JSON parsing for everything gitrelstate reads as JSON from others: folder
listings (from a remote or a pull request) and params/metrics files.

``json.loads`` alone recurses once per nesting level (a 100,000-deep array is a
``RecursionError``), accepts ``NaN`` and ``Infinity`` (which no JSON reader downstream
accepts back) and turns ``1e999`` into infinity. :func:`loads` checks the size first,
then the nesting depth with a few C-level passes over the bytes (no Python loop per
character), and only then parses.
"""

from __future__ import annotations

import json
import math
import sys
from itertools import accumulate
from typing import Any

from gitrelstate.errors import StateFileError
from gitrelstate.guard import limits

# Everything but brackets and quotes, deleted by bytes.translate.
_NOISE = bytes(b for b in range(256) if b not in b'[]{}"')
# Each remaining bracket as the step it makes in the depth.
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_HINT = "JSON files gitrelstate reads are plain data: objects, arrays, strings, finite numbers"


def max_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text ``raw`` (brackets inside
    strings do not count). Linear, and fast: the work is done by bytes methods."""
    if b"\\" in raw:
        # Inside a string a backslash always starts a two-character escape, so these
        # two removals leave every string's quotes and nothing that looks like one.
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(raw.translate(None, _NOISE).split(b'"')[::2])
    opening = brackets.count(b"[") + brackets.count(b"{")
    if opening <= 1:
        return opening
    return max(accumulate(map(_STEP.__getitem__, brackets)))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    # Python 3.11+ refuses over 4,300 digits by itself; 3.10 would spend seconds.
    if len(text) > limits.MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


_PARSE_INT = _bounded_int if sys.version_info < (3, 11) else None


def loads(
    raw: bytes,
    source: str,
    *,
    cap: limits.Cap,
    depth: int = limits.MAX_DEPTH,
    check_values: bool = True,
) -> Any:
    """Parse JSON ``raw`` within ``cap`` bytes and ``depth`` levels; no NaN or infinity.

    With ``check_values`` every number is checked too (64-bit integers, finite
    floats); callers that validate every value themselves (folder listings) skip it.
    """
    cap.check(len(raw), source)
    if b"\x00" in raw:  # UTF-16/32 text, or binary: the depth scan reads UTF-8 only
        raise StateFileError(f"{source}: not UTF-8 JSON text", hint=_HINT)
    if max_depth(raw) > depth:
        raise StateFileError(f"{source}: JSON nested deeper than {depth} levels", hint=_HINT)
    try:
        doc = json.loads(raw, parse_constant=_no_constant, parse_int=_PARSE_INT)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise StateFileError(
            f"{source}: not valid JSON ({str(exc).splitlines()[0][:200]})", hint=_HINT
        ) from None
    if check_values:
        check_numbers(doc, source)
    return doc


def check_numbers(doc: Any, source: str) -> None:
    """Refuse integers outside 64 bits and floats that are not finite, anywhere in
    ``doc`` (nesting is already bounded, so this walk is too)."""
    todo = [doc]
    while todo:
        value = todo.pop()
        kind = type(value)
        if kind is dict:
            todo.extend(value.values())
        elif kind is list:
            todo.extend(value)
        elif kind is int:
            if not limits.MIN_INT <= value <= limits.MAX_INT:
                raise StateFileError(
                    f"{source}: the integer {str(value)[:30]}… is out of the 64-bit range",
                    hint=_HINT,
                )
        elif kind is float and not math.isfinite(value):
            raise StateFileError(
                f"{source}: {value} is not a finite number",
                hint="write null (or a string) for a value that is not a finite number",
            )
