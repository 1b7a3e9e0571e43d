"""Environment notes are checked for secrets before a push sends them.

Notes are pushed to whatever git remote a branch goes to, unreviewed. New notes are
redacted when written (``envnotes.write_note``), but a clone also holds notes written by
older versions, fetched from other people, or added by hand. Before a push, every note
blob the push would send -- the notes commits the remote does not have, history
included -- is scanned with :func:`gitrelstate.guard.secrets.scan`, the rule set every
sink redacts with. When one holds a secret:

- the current note of that commit is rewritten redacted (a damaged one is removed);
- because the old blob stays in the notes ref's history, which a push sends whole, the
  notes ref is then rewritten as one commit holding the clean notes, on top of what the
  remote already has (it is public there), so the secret is not pushed at all.

Blobs found clean are remembered by id (``<git common dir>/relstate/notes-scanned``), so a
push scans only notes it has not seen; what a remote already has is known from
``refs/relstate/notes-on/<remote>``, updated after each notes push and fetch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from gitrelstate import fsutil, git, hashing, ui
from gitrelstate.environment import envnotes
from gitrelstate.errors import RelstateError
from gitrelstate.guard import secrets
from gitrelstate.repo import Repo

# The first line names the rule set: notes are scanned again when the rules change.
SCANNED_FILE = "notes-scanned"
SCAN_RULES = "secrets-1"
PUBLIC_PREFIX = "refs/relstate/notes-on/"
_BATCH = 256
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def public_ref(git_remote: str) -> str:
    """The ref remembering what ``git_remote`` (a name or a URL) has of our notes."""
    return PUBLIC_PREFIX + hashing.hash_bytes(git_remote.encode("utf-8", "surrogateescape"))[:16]


def remember_pushed(repo: Repo, git_remote: str, rev: str) -> None:
    """Note that ``git_remote`` now has the notes commit ``rev`` (pushed or fetched)."""
    sha = git.run(repo.root, ["rev-parse", "--verify", "-q", rev], check=False).strip()
    if sha:
        git.run(repo.root, ["update-ref", public_ref(git_remote), sha], check=False)


def clean_before_push(repo: Repo, git_remote: str) -> None:
    """Make the notes ref safe to push to ``git_remote``; warn about what was redacted."""
    for line in clean_notes(repo, envnotes.NOTES_REF, public=[public_ref(git_remote)]):
        ui.warn(f"redacted what looked like secrets in the environment notes: {line}")


def clean_notes(
    repo: Repo, rev: str, *, public: Sequence[str] = (), dry_run: bool = False
) -> list[str]:
    """Scan every note blob reachable from ``rev`` but not from ``public`` (commits the
    remote has) that was not found clean before; when one holds a secret, redact the notes
    ref (see the module's docstring; ``dry_run``: only say so). Returns what was done, one
    line per note, naming commits and keys but never values; empty when all was clean."""
    public = [p for p in public if _commit(repo, p)]
    scanned_path = repo.private_dir / SCANNED_FILE
    scanned = _read_scanned(scanned_path)
    todo = [b for b in _history_blobs(repo, rev, public) if b not in scanned]
    dirty: set[str] = set()
    for start in range(0, len(todo), _BATCH):
        batch = todo[start : start + _BATCH]
        contents = git.read_blobs(repo.root, batch)
        for blob in batch:
            if _holds_secret(contents.get(blob, b"")):
                dirty.add(blob)
            else:
                scanned.add(blob)
    repo.private_dir.mkdir(parents=True, exist_ok=True)
    fsutil.write_text_atomic(scanned_path, "\n".join([SCAN_RULES, *sorted(scanned)]) + "\n")
    if not dirty:
        return []
    if dry_run:
        return [f"{len(dirty)} note(s) hold what looks like secrets"]
    done = _redact_current(repo, dirty)
    old = len(dirty) - len(done)
    if old:
        done.append(f"{old} older version(s) of notes dropped from the notes history")
    _squash(repo, public)
    return done


def _commit(repo: Repo, rev: str) -> str | None:
    out = git.run(repo.root, ["rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], check=False)
    return out.strip() or None


def _history_blobs(repo: Repo, rev: str, public: Sequence[str]) -> list[str]:
    """Note blobs reachable from ``rev`` and not from ``public``."""
    if _commit(repo, rev) is None:
        return []
    listing = git.run(repo.root, ["rev-list", "--objects", rev, "--not", *public, "--"])
    blobs = []
    for line in listing.splitlines():
        sha, _, path = line.partition(" ")
        # A note's path is the annotated commit's id (fan-out folders aside); trees and
        # commits have short or no paths.
        if _HEX.fullmatch(path.replace("/", "")):
            blobs.append(sha)
    return blobs


def _holds_secret(raw: bytes) -> bool:
    text = raw.decode("utf-8", "replace")
    if not _suspect(text):
        return False
    try:
        doc = envnotes.parse_note(raw, "?")
    except RelstateError:
        return bool(secrets.find(text))
    return bool(secrets.scan(doc))


def _suspect(text: str) -> bool:
    """Whether a note's text may hold a secret (the rules run on the text itself, "NAME:
    value" lines included); parsing costs more, and most notes never need it. Notes were
    always written with secret-named variables redacted, so the text rules suffice to
    find what older versions let through (secrets in values)."""
    return bool(secrets.find(text))


def _redact_current(repo: Repo, dirty: set[str]) -> list[str]:
    """Rewrite (or remove, when damaged) each current note whose blob is dirty."""
    done = []
    current = _current_notes(repo)
    contents = git.read_blobs(repo.root, [b for b in current if b in dirty])
    for blob, raw in contents.items():
        commit = current[blob]
        try:
            doc = envnotes.parse_note(raw, commit)
        except RelstateError:
            git.run(repo.root, ["notes", f"--ref={envnotes.NOTES_REF}", "remove", commit])
            done.append(f"commit {commit[:12]}: a damaged note removed")
            continue
        findings = secrets.scan(doc)
        envnotes.write_note(repo, commit, doc)
        keys = ", ".join(f"{f.key} ({f.what})" for f in findings[:5])
        more = f" and {len(findings) - 5} more" if len(findings) > 5 else ""
        done.append(f"commit {commit[:12]}: {keys}{more}")
    return done


def _current_notes(repo: Repo) -> dict[str, str]:
    """The notes of the notes ref now: blob id -> the commit it annotates."""
    found: dict[str, str] = {}
    listing = git.run(repo.root, ["notes", f"--ref={envnotes.NOTES_REF}", "list"], check=False)
    for line in listing.splitlines():
        blob, _, commit = line.partition(" ")
        if blob and commit:
            found[blob] = commit
    return found


def _squash(repo: Repo, public: Sequence[str]) -> None:
    """Replace the notes ref's history by one commit of its current notes, whose parents
    are the remote's commits it already contains (so a push still fast-forwards)."""
    ref = envnotes.NOTES_REF
    tip = _commit(repo, ref)
    if tip is None:
        return
    parents: list[str] = []
    for p in public:
        sha = _commit(repo, p)
        if sha and _is_ancestor(repo, sha, tip):
            parents += ["-p", sha]
    message = "Notes redacted by gitrelstate (secrets removed before a push)\n"
    new = git.run(
        repo.root, ["commit-tree", f"{tip}^{{tree}}", *parents], input=message.encode()
    ).strip()
    git.run(repo.root, ["update-ref", ref, new, tip])


def _is_ancestor(repo: Repo, older: str, newer: str) -> bool:
    try:
        git.run(repo.root, ["merge-base", "--is-ancestor", older, newer])
    except RelstateError:
        return False
    return True


def _read_scanned(path: Path) -> set[str]:
    try:
        lines = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return set()
    return set(lines[1:]) if lines and lines[0] == SCAN_RULES else set()
