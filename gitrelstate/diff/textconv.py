"""``git diff`` for state files: a textconv driver that shows them normalised.

``init`` marks state files with ``diff=relstate`` in ``.gitattributes``
(committed, so every clone agrees) and points ``diff.relstate.textconv`` in the
clone's own git config at ``git relstate textconv``. Git then diffs the
normalised text: keys in canonical order, one package per line as
``name==version``, secrets never shown.

Git runs the driver from the work tree for ``git diff`` and ``git log -p``, which
any clone of a hostile repository does: the driver names this interpreter by its
absolute path and imports nothing from the current folder
(:func:`gitrelstate.guard.executables.cli_argv`), so neither a committed
``gitrelstate/`` package nor a missing ``git-relstate`` on PATH changes what runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitrelstate import fsutil, git
from gitrelstate.guard import executables
from gitrelstate.repo import Repo

ATTRIBUTES = (
    "*.relstate.yaml diff=relstate",
    ".relstate/runs/*.yaml diff=relstate",
    ".relstate/releases/*.yaml diff=relstate",
)
_HEADER = "# Written by gitrelstate: show state files normalised in git diff / git log -p."


def textconv_command() -> str:
    """The command git runs: this interpreter, by absolute path, with an isolated import path."""
    return executables.cli_shell_command("textconv")


def register(repo: Repo) -> bool:
    """Add the attributes and the driver; True when anything was changed.

    A driver of an older gitrelstate (``git-relstate textconv``, found through PATH;
    ``PYTHON -m gitrelstate textconv``, which imports from the work tree) is rewritten.
    """
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
    return refresh_driver(repo) or changed


def refresh_driver(repo: Repo) -> bool:
    """Point ``diff.relstate.textconv`` at this installation; True when it changed."""
    wanted = textconv_command()
    current = git.run(repo.root, ["config", "--local", "diff.relstate.textconv"], check=False)
    if current.rstrip("\n") == wanted:
        return False
    git.run(repo.root, ["config", "--local", "diff.relstate.textconv", wanted])
    return True


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
    """What ``git diff`` shows for a state file: normalised, within the state-file cap,
    and with nothing that could drive the terminal."""
    from gitrelstate.errors import StateFileError
    from gitrelstate.guard import limits, text

    try:
        raw = limits.read_capped(path, limits.STATE_FILE, path.name)
    except StateFileError as exc:
        return f"# not shown: {exc.message}\n"
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return text.term(raw.decode("utf-8", "replace"))
    return text.term(normalised(decoded, path.name))
