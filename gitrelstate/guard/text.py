"""Escaping for what other people's names and values become on a terminal and in a
pull-request comment (docs/reliability.md, threat model).

A repository, a remote or a pull request chooses file names, params and metrics keys,
stage commands, model references and labels. Shown raw, they can drive the terminal
(ESC/OSC sequences, a CR that overwrites a line, bidi controls that reorder it) or turn
into Markdown a reviewer did not write (links, tracking images, headings, mentions, a
row that breaks out of its table). Two functions close both:

- :func:`term` for everything printed: ``ui`` applies it once to every message, so
  commands never need to think about it. Renderers that colour their output escape
  each value with it first and hand ``ui`` a :class:`Styled` text, which is printed as is.
- :func:`md` for every value interpolated into Markdown.
"""

from __future__ import annotations

import functools
import re

# What must never reach a terminal raw: C0 controls (but newline and tab), DEL and the
# C1 controls; every Unicode format character (Cf: bidi embeddings, overrides and
# isolates, zero-width spaces and joiners, BOM, soft hyphen, tag characters...), the
# line and paragraph separators, lone surrogates (a file name git could not decode;
# printing one raises UnicodeEncodeError), and the fillers that draw nothing yet count
# as letters (U+034F, U+115F/U+1160, U+17B4/U+17B5, U+3164, U+FFA0). The set is the
# Unicode 14 categories Cc/Cf/Cs/Zl/Zp, plus U+13439-1343F (Cf since Unicode 15);
# tests/reliability/test_threat_terminal.py checks it against unicodedata. C0 is added
# per use (newline and tab stay in messages, not inside a value's line).
_UNSAFE_BMP = (
    "\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u17b4\u17b5\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\u3164"
    "\ud800-\udfff\ufeff\uffa0\ufff9-\ufffb"
)
_UNSAFE_ASTRAL = (
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)


@functools.cache
def _unsafe(one_line: bool, kind: str) -> re.Pattern[str]:
    """The characters to escape in text of ``kind``: "ascii", "bmp" (no character above
    U+FFFF) or "any". Compiled on first need: most runs print only printable ASCII. The
    narrower classes matter for a 16 MB ``--json``: sre tests a class with characters
    above U+FFFF range by range (300 ms), a BMP class in a bitmap (85 ms)."""
    c0 = "\x00-\x08\x0a-\x1f" if one_line else "\x00-\x08\x0b-\x1f"
    extra = {"ascii": "\x7f", "bmp": _UNSAFE_BMP, "any": _UNSAFE_BMP + _UNSAFE_ASTRAL}[kind]
    return re.compile(f"[{c0}{extra}]")


def _escape(match: re.Match[str]) -> str:
    # \uXXXX (UTF-16 pairs above the BMP) rather than \x1b: inside a JSON string it is
    # the escape of the very same character, so ``--json`` output passing through term()
    # still decodes to exactly the same document.
    cp = ord(match.group())
    if cp > 0xFFFF:
        cp -= 0x10000
        return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"
    return f"\\u{cp:04x}"


def term(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control, format and invisible character as a visible escape
    (ESC → ``\\u001b``, U+202E → ``\\u202e``); newline and tab stay unless ``one_line``
    (for a value inside a line: a name must not start a line of its own)."""
    if text.isascii():
        if text.isprintable():  # the common case: one line of printable ASCII
            return text
        pattern = _unsafe(one_line, "ascii")
    else:
        astral = len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)
        pattern = _unsafe(one_line, "any" if astral else "bmp")
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)


class Styled(str):
    """Terminal text whose values were escaped with :func:`term` and which carries only
    the renderer's own colour codes: ``ui`` prints it as is. Concatenating it with a
    plain ``str`` gives a plain ``str`` again, which ``ui`` escapes (so a mistake shows
    colour codes as text instead of letting a value's through)."""

    __slots__ = ()


# Markdown: every ASCII punctuation character becomes a numeric character reference.
# A reference is never Markdown syntax (CommonMark §6.2), so no link, image, autolink,
# emphasis, code span, raw HTML, table cell break or heading can form, yet GitHub shows
# the character itself. Two exceptions: '-' stays (it is syntax only at the start of a
# line, where a value never stands, and paths read better with it), and '@' is followed
# by an empty comment. GitHub's autolinker finds e-mail addresses after references are
# decoded and adjacent text merged; a comment between keeps "a@b.c" two text nodes.
_PUNCTUATION = "!\"#$%&'()*+,./:;<=>?@[\\]^_`{|}~"
_MD_TABLE: dict[int, str] = {ord(c): f"&#{ord(c)};" for c in _PUNCTUATION}
_MD_TABLE[ord("@")] = "&#64;<!-- -->"
# For ASCII text the same as a list indexed by code point: twice as fast as the dict
# (past its end, str.translate would raise and catch an IndexError per character).
_MD_ASCII = [_MD_TABLE.get(cp, chr(cp)) for cp in range(128)]
# Line breaks (and tab, which could indent) become a space: a value stays on its line,
# inside its table row. Every other control is escaped visibly by term() first.
_MD_BREAKS = "[\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029]"


def md(text: str) -> str:
    """``text`` as inert Markdown inline content: it renders as the same characters and
    as nothing else. Put it inside an element or after other text on its line (a
    leading '-' or indentation at the start of a line would still be block syntax)."""
    if text.isascii() and text.isprintable():
        return text.translate(_MD_ASCII)
    text = term(re.sub(_MD_BREAKS, " ", text), one_line=True)  # re caches the pattern
    return text.translate(_MD_ASCII if text.isascii() else _MD_TABLE)
