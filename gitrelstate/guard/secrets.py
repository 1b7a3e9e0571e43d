"""What a credential looks like, and the one redaction every sink applies (docs/reliability.md,
threat model: secrets never leave the machine).

A secret is recognised by where it is — a value under a secret-looking name (``API_KEY``,
``--password``, ``?access_token=``, ``Authorization:``) — or by what it is: a known token
format (AWS key ids, GitHub/GitLab/Slack/Hugging Face/PyPI tokens, private key blocks,
JSON web tokens, ...), the user info of a URL (``scheme://user:password@``, a token as
the user name), the secret path of a webhook URL (Slack, Discord, Teams, ...).
:func:`classify` answers for one named value, :func:`find` for the secret parts of a text.

Every sink goes through this module, so one rule set decides everywhere:

- :func:`redact` — a whole document about to be written or exported (environment notes,
  run records, exports): a value that is secret as a whole becomes
  ``{redacted: "blake3-keyed:<hex>"}``, a keyed digest of name and value (a changed
  secret still shows as changed; the key is per clone and never committed); secret
  parts of any other text become ``***``. Exports call this, nothing else.
- :func:`scan` — what :func:`redact` would change, as findings that name the key but
  never the value (the pre-commit check of staged files, the pre-push check of notes).
- :func:`command_secrets` — arguments of a command line that hold a secret (``run``
  refuses them: a redacted command could not be run again).
- :func:`redact_text` — any text about to be shown (error messages, ``remote list``).

This module imports nothing of gitrelstate but hashing (and its patterns,
:mod:`gitrelstate.guard.secret_patterns`), so every layer may use it.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitrelstate import hashing
from gitrelstate.guard import secret_patterns as rx

MASK = "***"
KEY_BYTES = 32

# -- names ---------------------------------------------------------------------------


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]


@functools.lru_cache(maxsize=8192)
def is_secret_name(name: str) -> bool:
    """Whether a name (a variable, an option, a key, a flag) says it holds a credential."""
    upper = name.upper()
    if upper in rx.NOT_SECRET:
        return False
    if rx.SECRET_NAME.search(upper):
        return True
    return any(rx.SECRET_WORD.fullmatch(word) for word in _words(name))


@functools.lru_cache(maxsize=8192)
def _name_strength(name: str) -> int:
    """0: not a secret's name; 1: sometimes one (KEY, SALT); 2: always (PASSWORD, TOKEN)."""
    words = _words(name)
    if not words or f" {words[-1]} " in rx.DESCRIPTOR or not is_secret_name(name):
        return 0
    return 2 if rx.STRONG_NAME.search("_".join(words)) else 1


def _names_credential(name: str, value: str) -> bool:
    """Whether ``value`` is a credential because of the name it is held under."""
    strength = _name_strength(name)
    if not strength or is_placeholder(value):
        return False
    return strength == 2 or looks_like_credential(value)


# -- values --------------------------------------------------------------------------


def is_reference(value: str) -> bool:
    """A reference that stands where a secret would be (``${TOKEN}``, ``<password>``)."""
    value = value.strip()
    if len(value) > 256:  # none is that long; and the patterns stay cheap
        return False
    return bool(rx.REFERENCE.fullmatch(value)) or value.startswith(rx.DIGESTS)


def is_placeholder(value: str) -> bool:
    """A reference, or a setting too plain to be a credential (a number, a boolean)."""
    value = value.strip()
    return is_reference(value) or (len(value) <= 64 and bool(rx.SETTING.fullmatch(value)))


def looks_like_credential(value: str) -> bool:
    """Whether a value is shaped like a credential (used where the name is ambiguous)."""
    value = value.strip()
    return bool(
        MASK not in value  # what redaction left of a text is no credential
        and rx.CREDENTIAL_SHAPE.fullmatch(value)
        and not rx.PLAIN_WORD.fullmatch(value)
        and not is_placeholder(value)
    )


@dataclass(frozen=True)
class Secret:
    """What a secret looks like, in words (never the value)."""

    what: str
    by_name: bool = False  # secret because of its name: the whole value is the secret


@dataclass(frozen=True)
class Span:
    """The secret part ``text[start:end]`` of a text."""

    start: int
    end: int
    what: str


def _userinfo(text: str) -> Iterator[Span]:
    """URL user info: found from each "://" with str.find, so that no text, however long
    or hostile, makes a pattern scan it once per position."""
    pos = text.find("://")
    while pos != -1:
        start = pos + 3
        at = text.find("@", start, start + rx.USERINFO_REACH)
        if at != -1:
            yield from _userinfo_at(text, start, at)
        pos = text.find("://", start)


def _userinfo_at(text: str, start: int, at: int) -> Iterator[Span]:
    m = rx.AFTER_SCHEME.match(text, start)
    if m is not None:
        user, password = m.group("user"), m.group("password")
        if password is not None:
            if not (rx.PORT_THEN_PATH.fullmatch(password) and user):  # host:port/path@x
                if password and not is_reference(password):
                    yield Span(start, m.end() - 1, "a password inside a URL")
                    return
                if user and looks_like_credential(user):
                    yield Span(start, m.end() - 1, "a token inside a URL")
                    return
        elif user and user != "git" and looks_like_credential(user):
            yield Span(start, m.end("user"), "a token inside a URL")
            return
    # Credentials a storage library moved into a URL's path (http://host/user:pw@b/k).
    slash = text.rfind("/", start, at)
    if slash == -1:
        return
    segment = text[slash + 1 : at]
    user, colon, password = segment.partition(":")
    clear = colon and user and password and not is_reference(password)
    if clear and not any(c.isspace() for c in segment):
        yield Span(slash + 1, at, "a password inside a URL")


def _named(text: str) -> Iterator[Span]:
    patterns = [
        p for p, mark in ((rx.PAIR, "="), (rx.HEADER, ":"), (rx.JSON_PAIR, '"')) if mark in text
    ]
    for pattern in patterns:
        for m in pattern.finditer(text):
            name, value = m.group("name"), m.group("value")
            if value and _names_credential(name, value):
                yield Span(m.start("value"), m.end("value"), f"a credential (its key is '{name}')")
    if "earer" in text or "EARER" in text:
        for m in rx.BEARER.finditer(text):
            yield Span(m.start("value"), m.end("value"), "a bearer token")


def find(text: str) -> list[Span]:
    """The secret parts of ``text``, in order, overlapping ones merged."""
    if len(text) < 4:
        return []
    spans: list[Span] = []
    for what, hints, pattern in rx.TOKENS:
        if any(hint in text for hint in hints):
            spans.extend(Span(m.start(), m.end(), what) for m in pattern.finditer(text))
    if "://" in text:  # the URL rules need a URL
        spans.extend(_userinfo(text))
        spans.extend(
            Span(m.start("value"), m.end("value"), "a webhook URL")
            for m in rx.WEBHOOK.finditer(text)
            if not is_reference(m.group("value"))
        )
        if "hooks/" in text or "HOOKS/" in text or "Hooks/" in text:
            spans.extend(
                Span(m.start("value"), m.end("value"), "a webhook URL")
                for m in rx.HOOK_PATH.finditer(text)
                if looks_like_credential(m.group("value"))
            )
    spans.extend(_named(text))
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if span.end <= span.start:
            continue
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Span(last.start, max(last.end, span.end), last.what)
        else:
            merged.append(span)
    return merged


def classify(name: str, value: str) -> Secret | None:
    """Whether ``value``, held under ``name``, is or holds a credential; None when not.
    ``by_name`` says the whole value is the secret (its name says so)."""
    if not value:
        return None
    by_name = _names_credential(name, value)
    spans = find(value)
    if spans:
        return Secret(spans[0].what, by_name=by_name)
    return Secret(f"a credential (its key is '{name}')", by_name=True) if by_name else None


def redact_text(text: str) -> str:
    """``text`` with every secret part replaced by ``***``: for anything shown or logged."""
    # Masking can join what was around a secret into a new match ('<token>TOKEN=x');
    # repeat until nothing is left (each round removes characters that are not '*').
    for _ in range(8):
        spans = find(text)
        if not spans:
            break
        out, at = [], 0
        for span in spans:
            out.append(text[at : span.start])
            out.append(MASK)
            at = span.end
        out.append(text[at:])
        text = "".join(out)
    return text


# -- the keyed digest ----------------------------------------------------------------


def check_key(key: bytes) -> bytes:
    """``key`` if it is a valid 32-byte secret key (ValueError otherwise)."""
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError(f"secret_key must be {KEY_BYTES} bytes")
    return key


def digest(name: str, value: str, key: bytes | None) -> dict[str, str]:
    """What is written instead of a secret: a keyed digest, bound to the name so equal
    values under two names do not show as equal; ``unkeyed`` without a key."""
    if key is None:
        # Without the repository's key no digest is safe to write; a change then goes unseen.
        return {"redacted": "unkeyed"}
    check_key(key)
    keyed = hashing.keyed_hex(key, name.encode() + b"\0" + value.encode(errors="surrogateescape"))
    return {"redacted": f"blake3-keyed:{keyed}"}


def is_secret_variable(name: str, value: str) -> bool:
    """Whether an environment variable is recorded as a digest: its name says secret, or
    its value holds one. Values are opaque here, so the name alone is enough."""
    return is_secret_name(name) or classify(name, value) is not None


# -- command lines -------------------------------------------------------------------


def _argv_secrets(words: Sequence[str]) -> Iterator[tuple[int, Secret, str]]:
    """(index, what, the text to mask): a whole word secret by its flag (``--api-key X``),
    a value inside a shell snippet (``sh -c '... --token X'``), or a word holding a secret
    part (masked by :func:`redact_text`; the text is then empty)."""
    for i, word in enumerate(words):
        spans = find(word)
        if spans:
            yield i, Secret(spans[0].what), ""
        flag = rx.FLAG.fullmatch(words[i - 1]) if i else None
        if flag and not word.startswith("-") and _names_credential(flag.group("name"), word):
            yield i, Secret(f"a credential (the value of {words[i - 1]})", by_name=True), word
        elif any(c.isspace() for c in word.strip()):
            # A shell snippet: its own words, same rules; each value masked where it is.
            for _, secret, text in _argv_secrets(_split(word)):
                if text and text in word:
                    yield i, secret, text
                elif text or secret.by_name:
                    yield i, secret, word


def _split(text: str) -> list[str]:
    if len(text) > 8192:  # shlex is slow on huge words: whitespace is close enough there
        return text.split()
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def command_secrets(argv: Sequence[str]) -> list[tuple[int, Secret]]:
    """Arguments of ``argv`` that are or hold a credential: (index, what it looks like)."""
    first: dict[int, Secret] = {}
    for i, secret, _ in _argv_secrets(argv):
        first.setdefault(i, secret)
    return sorted(first.items(), key=lambda item: item[0])


# -- documents -----------------------------------------------------------------------

# Mappings whose keys are names of things (distributions, lock files), not settings.
_NAMES_NOT_KEYS = ("packages", "lockfiles")


def _is_variables(path: str) -> bool:
    """A mapping of environment variables: values are opaque, the name alone can decide."""
    return path == "variables" or path.endswith("environment.variables")


@dataclass(frozen=True)
class Finding:
    """A value in a document that looks like a secret: where (dotted key) and what."""

    key: str
    what: str


def _visit(doc: Any, key: bytes | None, found: list[Finding] | None, path: str = "") -> Any:
    """``doc`` redacted; each change is also reported in ``found`` (when given)."""
    if isinstance(doc, Mapping):
        variables = _is_variables(path)
        names = path.rpartition(".")[2] in _NAMES_NOT_KEYS
        out: dict[Any, Any] = {}
        for k, value in doc.items():
            where = f"{path}.{k}" if path else str(k)
            if not isinstance(value, str):
                out[k] = _visit(value, key, found, where)
                continue
            name = str(k)
            secret = None if names else classify(name.rsplit(".", 1)[-1], value)
            if variables and (secret is not None or is_secret_name(name)):
                if found is not None:
                    spans = find(value)
                    what = spans[0].what if spans else "a secret environment variable in clear"
                    found.append(Finding(where, what))
                out[k] = digest(name, value, key)
            elif secret is not None and secret.by_name:
                if found is not None:
                    found.append(Finding(where, secret.what))
                out[k] = digest(name, value, key)
            else:
                out[k] = _text(value, where, found)
        return out
    if isinstance(doc, (list, tuple)):
        # A list of words may be a command line: '--api-key X' masks X.
        masks: dict[int, list[tuple[Secret, str]]] = {}
        if all(isinstance(v, str) for v in doc):
            for i, secret, text in _argv_secrets(doc):
                if text:
                    masks.setdefault(i, []).append((secret, text))
        items = []
        for i, value in enumerate(doc):
            where = f"{path}.{i}" if path else str(i)
            if not isinstance(value, str):
                items.append(_visit(value, key, found, where))
                continue
            if i in masks and found is not None:
                found.append(Finding(where, masks[i][0][0].what))
            redacted = _text(value, where, found)  # secret parts first, then whole words
            for _, text in masks.get(i, ()):
                if text == value:
                    redacted = MASK
                    break
                # The word as it was, or as its own secret parts were masked just now.
                for word in {text, redact_text(text)}:
                    redacted = _mask_word(redacted, word)
            items.append(redacted)
        return items
    if isinstance(doc, str):
        return _text(doc, path, found)
    return doc


def _mask_word(snippet: str, word: str) -> str:
    """``snippet`` with ``word`` masked where it stands as a word of its own (not inside
    another word: '--api-key password' must not touch '?password=')."""
    pattern = r"(?<![^\s'\"=])" + re.escape(word) + r"(?![^\s'\"])"
    return re.sub(pattern, MASK, snippet)


def _text(value: str, where: str, found: list[Finding] | None) -> str:
    spans = find(value)
    if spans and found is not None:
        found.append(Finding(where, spans[0].what))
    return redact_text(value) if spans else value


def redact(doc: Any, key: bytes | None) -> Any:
    """``doc`` (plain data: mappings, lists, scalars) as it may be written or exported.

    A value that is a credential as a whole (an environment variable or key whose name
    says so, or an environment variable whose value holds one) becomes the mapping
    ``{redacted: "blake3-keyed:<hex>"}`` keyed with ``key`` (see :func:`digest`); the
    secret parts of every other text (URL user info, tokens, webhook paths, query
    passwords, a command's ``--password X``) become ``***``. Idempotent.
    """
    return _visit(doc, key, None)


def scan(doc: Any) -> list[Finding]:
    """What :func:`redact` would change in ``doc``, one finding per value, sorted by key."""
    found: list[Finding] = []
    _visit(doc, None, found)
    unique = {f.key: f for f in reversed(found)}
    return sorted(unique.values(), key=lambda f: f.key)
