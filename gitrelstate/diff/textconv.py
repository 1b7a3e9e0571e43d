"""``git diff`` for state files: a textconv driver that shows them normalised.

``init`` marks state files with ``diff=relstate`` in ``.gitattributes``
(committed, so every clone agrees) and points ``diff.relstate.textconv`` in the
clone's own git config at ``git relstate textconv``. Git then diffs the
normalised text: keys in canonical order, one package per line as
``name==version``, secrets never shown.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from gitrelstate import fsutil, git
from gitrelstate.repo import Repo

ATTRIBUTES = (
    "*.relstate.yaml diff=relstate",
    ".relstate/runs/*.yaml diff=relstate",
    ".relstate/releases/*.yaml diff=relstate",
)
_HEADER = "# Written by gitrelstate: show state files normalised in git diff / git log -p."


def textconv_command() -> str:
    """The command git runs: the installed entry point, else this interpreter."""
    if shutil.which("git-relstate"):
        return "git-relstate textconv"
    return f"{shlex.quote(sys.executable)} -m gitrelstate textconv"


def register(repo: Repo) -> bool:
    """Add the attributes and the driver; True when anything was changed."""
    changed = False
    path = repo.root / ".gitattributes"
    existing = path.read_text("utf-8") if path.exists() else ""
    missing = [line for line in ATTRIBUTES if line not in existing.splitlines()]
    if missing:
        text = existing
        if text and not text.endswith("\n"):
            text += "\n"
        if _HEADER not in text:
            text += _HEADER + "\n"
        text += "\n".join(missing) + "\n"
        fsutil.write_text_atomic(path, text)
        changed = True
    current = git.run(repo.root, ["config", "--local", "diff.relstate.textconv"], check=False)
    if current.strip() != textconv_command():
        git.run(repo.root, ["config", "--local", "diff.relstate.textconv", textconv_command()])
        changed = True
    return changed


def normalised(text: str, source: str) -> str:
    """The readable, canonical view of a state file (the text itself if it is not one)."""
    from gitrelstate.errors import RelstateError
    from gitrelstate.state import yamlio

    try:
        doc = yamlio.loads(text, source)
    except RelstateError:
        return text
    if not isinstance(doc, dict):
        return text
    kind = doc.get("kind")
    try:
        doc = _canonical(kind, doc, source)
    except RelstateError:
        return text
    body = yamlio.dumps(_readable(doc))
    return f"# gitrelstate {kind} (normalised by git relstate textconv)\n{body}"


def _canonical(kind: object, doc: dict[str, Any], source: str) -> dict[str, Any]:
    if kind == "run":
        from gitrelstate.state.record import RunRecord

        return RunRecord.from_dict(doc, source).to_dict()
    if kind == "release":
        from gitrelstate.state.release import Release

        return Release.from_dict(doc, source).to_dict()
    if kind == "data":
        from gitrelstate.state.pointer import DataPointer

        return DataPointer.from_dict(doc, source).to_dict()
    return doc


def _readable(value: Any) -> Any:
    """Package tables become ``name==version`` lines: one line changes per bump."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            if key == "packages" and isinstance(sub, dict):
                out[key] = [f"{name}=={_version(v)}" for name, v in sorted(sub.items())]
            else:
                out[key] = _readable(sub)
        return out
    if isinstance(value, list):
        return [_readable(v) for v in value]
    return value


def _version(value: Any) -> str:
    if isinstance(value, dict):
        extra = value.get("commit") or value.get("url")
        return f"{value.get('version')}" + (f" ({extra})" if extra else "")
    return str(value)


def textconv(path: Path) -> str:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return path.read_bytes().decode("utf-8", "replace")
    return normalised(text, path.name)
