"""Finding values in state files that look like credentials (the pre-commit check).

The rules are :mod:`gitrelstate.guard.secrets`' (the ones every sink redacts with): a
value shaped like a well-known credential, URL user info, a webhook's secret path or a
query password wherever it is; a clear-text value under a key whose name says it holds
a secret (``api_key``, ``GITHUB_TOKEN``, ``--password X`` in a command); an environment
variable with a secret name written in clear. The committed config adds one rule: no
secret remote option at all, by name or by value. Findings name the file and the key,
and what the value looks like -- never the value itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitrelstate.guard.secrets import Finding
from gitrelstate.guard.secrets import scan as scan_values
from gitrelstate.state.config import secret_option_names

__all__ = ["Finding", "doc_kind", "scan"]


def scan(doc: Any) -> list[Finding]:
    """Values in a parsed state file that look like secrets (one finding per value)."""
    found = {f.key: f for f in scan_values(doc)}
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
