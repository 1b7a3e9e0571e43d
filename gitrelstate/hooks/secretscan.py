"""Finding values in state files that look like credentials (for the pre-commit hook).

Two signals: a value shaped like a well-known credential (an AWS access key id,
a private key block, a GitHub token, a password inside a URL, ...) wherever it
is, and a clear-text value under a key whose name says it holds a secret
(``api_key``, ``GITHUB_TOKEN``, ``password``). Findings name the file and the
key, and what the value looks like -- never the value itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gitrelstate.environment.variables import is_secret, is_secret_name
from gitrelstate.state.config import secret_option_names

_CREDENTIALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    (
        "a GitHub token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    (
        "an API secret key",
        re.compile(r"\bsk-(?:ant-|proj-)?(?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{32,}"),
    ),
    ("a Stripe key", re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    (
        "a JSON web token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    ("a password inside a URL", re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s@:]*:[^/\s@]+@")),
)
# A value under a secret-looking key is only suspicious if it could be a credential:
# one word of 8+ characters with a digit, mixed case or punctuation (not 'utf-8',
# 'timestamp_column' or a '${VAR}' reference).
_CREDENTIAL_SHAPE = re.compile(r"\S{8,}")
_PLAIN_WORD = re.compile(r"[a-z_.-]+|[A-Z_.-]+|[A-Za-z][a-z]+(?:[-_.][A-Za-z][a-z]+)*")
_REFERENCE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^<>]*>|\*+|x+|X+")

# Keys that are names of things (distributions, lock files), not of settings.
_NAMES_NOT_KEYS = re.compile(r"\.environment\.(packages|lockfiles)\.")


@dataclass(frozen=True)
class Finding:
    key: str  # dotted path to the value inside the document
    what: str  # what the value looks like, e.g. "a GitHub token"


def _walk(value: Any, key: str) -> Iterator[tuple[str, Any]]:
    yield key, value
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{key}.{i}" if key else str(i))


def _last(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _could_be_credential(text: str) -> bool:
    text = text.strip()
    return bool(
        _CREDENTIAL_SHAPE.fullmatch(text)
        and not _PLAIN_WORD.fullmatch(text)
        and not _REFERENCE.fullmatch(text)
        and not text.startswith(("blake3:", "blake3-keyed:"))
    )


def scan(doc: Any) -> list[Finding]:
    """Values in a parsed state file that look like secrets (one finding per value)."""
    found: dict[str, Finding] = {}
    for key, value in _walk(doc, ""):
        if not isinstance(value, str) or not value:
            continue
        for what, pattern in _CREDENTIALS:
            if pattern.search(value):
                found.setdefault(key, Finding(key, what))
                break
        else:
            name = _last(key)
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            if parent.endswith("environment.variables") and is_secret(name, value):
                # Captured variables with secret names are written redacted ({redacted: ...}).
                found.setdefault(key, Finding(key, "a secret environment variable in clear"))
            elif (
                is_secret_name(name)
                and not _NAMES_NOT_KEYS.search(f".{key}")
                and _could_be_credential(value)
            ):
                found.setdefault(key, Finding(key, f"a credential (its key is '{name}')"))
    remotes = doc.get("remotes") if isinstance(doc, Mapping) else None
    if doc_kind(doc) == "config" and isinstance(remotes, Mapping):
        # The committed config must hold no secret option at all (docs/spec.md 6.3).
        for name, spec in remotes.items():
            options = spec.get("options") if isinstance(spec, Mapping) else None
            if isinstance(options, Mapping):
                for dotted in secret_option_names(options):
                    key = f"remotes.{name}.options.{dotted}"
                    found.setdefault(key, Finding(key, "a secret option of a remote"))
    return sorted(found.values(), key=lambda f: f.key)


def doc_kind(doc: Any) -> str | None:
    kind = doc.get("kind") if isinstance(doc, Mapping) else None
    return kind if isinstance(kind, str) else None
