"""The environment of every commit, kept as a git note on ``refs/notes/relstate``.

A note is attached to one commit and lives outside the commit's tree, so
recording the environment never changes a tracked file: two collaborators on
different machines never edit the same file, and their notes never conflict
(each commit has its own). The post-commit hook writes the note; pre-push sends
``refs/notes/relstate`` along to the same git remote; :func:`fetch_notes` brings
other people's notes in, merging them (a note both sides hold keeps the local one).

Notes leave the machine on every push, unreviewed, so what goes into one passes
:func:`gitrelstate.guard.secrets.redact` when it is written, and before a push every
note the push would send is scanned with the same rules (``notescan``).

A note is a state file (``kind: environment``) in canonical YAML::

    relstate: 1
    kind: environment
    commit: <the commit's id>
    captured: 2026-11-26T10:00:00Z
    host: build-01
    environment: {interpreter: ..., platform: ..., packages: ..., ...}
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from gitrelstate import git
from gitrelstate.errors import RelstateError, StateFileError
from gitrelstate.guard import secrets
from gitrelstate.repo import Repo
from gitrelstate.state import FORMAT_VERSION, model, yamlio

NOTES_REF = "refs/notes/relstate"
# Where fetch_notes puts the remote's notes before merging them in (then deletes it).
FETCHED_REF = "refs/notes/relstate-fetched"
KIND = "environment"
KEYS = ("relstate", "kind", "commit", "captured", "host", "environment")
MAX_NOTE_BYTES = 16 * 1024 * 1024


def capture(repo: Repo) -> dict[str, Any]:
    """The environment a commit is made in: the Python on PATH (the project's, when a
    virtualenv is active) and everything else ``capture_environment`` records."""
    from gitrelstate.environment import capture_environment, find_python, load_or_create_secret_key
    from gitrelstate.environment.variables import configured_patterns

    key = load_or_create_secret_key(repo.private_dir)
    doc = capture_environment(
        python=find_python((), repo.root),
        repo_root=repo.root,
        variables=tuple(configured_patterns(repo)),
        secret_key=key,
    )
    return dict(secrets.redact(doc, key))


def note_document(commit: str, environment: Mapping[str, Any]) -> dict[str, Any]:
    return model.ordered(
        {
            "relstate": FORMAT_VERSION,
            "kind": KIND,
            "commit": commit,
            "captured": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": socket.gethostname(),
            "environment": dict(environment),
        },
        KEYS,
    )


def resolve_commit(repo: Repo, rev: str) -> str | None:
    """The full id of the commit ``rev`` names, or None when it names none."""
    out = git.run(repo.root, ["rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], check=False)
    return out.strip() or None


def write_note(repo: Repo, commit: str, doc: Mapping[str, Any]) -> str:
    """Attach ``doc``, redacted, to ``commit`` (replacing an older note of ours); return
    the note's blob id."""
    from gitrelstate.environment.variables import load_or_create_secret_key

    clean = secrets.redact(doc, load_or_create_secret_key(repo.private_dir))
    # Through a blob and -C, so git stores the bytes as they are (-m/-F would
    # clean them up like a commit message).
    blob = git.run(
        repo.root, ["hash-object", "-w", "--stdin"], input=yamlio.dumps(clean).encode("utf-8")
    ).strip()
    git.run(repo.root, ["notes", f"--ref={NOTES_REF}", "add", "-f", "-C", blob, commit])
    return blob


def record(repo: Repo, rev: str = "HEAD") -> str:
    """Capture the environment and attach it to ``rev``; return the commit id."""
    commit = resolve_commit(repo, rev)
    if commit is None:
        raise RelstateError(f"'{rev}' is not a commit")
    write_note(repo, commit, note_document(commit, capture(repo)))
    return commit


def read_document(repo: Repo, rev: str) -> dict[str, Any] | None:
    """The whole note attached to the commit ``rev`` names, or None when there is none.

    Raises :class:`StateFileError` for a note that is not a valid environment note
    (notes arrive from other people through git, so they are read defensively).
    """
    commit = resolve_commit(repo, rev)
    if commit is None:
        return None
    blob = git.run(repo.root, ["notes", f"--ref={NOTES_REF}", "list", commit], check=False)
    blob = blob.strip()
    if not blob:
        return None
    raw = git.read_blobs(repo.root, [blob]).get(blob)
    if raw is None:
        return None
    return parse_note(raw, commit)


def parse_note(raw: bytes, commit: str) -> dict[str, Any]:
    """A note's document, checked (StateFileError when it is not a valid note)."""
    source = f"environment note of commit {commit[:12]} ({NOTES_REF})"
    if len(raw) > MAX_NOTE_BYTES:
        raise StateFileError(f"{source}: larger than {MAX_NOTE_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StateFileError(f"{source}: not UTF-8 text") from None
    doc = model.check_header(yamlio.loads(text, source), source, KIND)
    model.require(doc, "environment", dict, source)
    return doc


def read_note(repo: Repo, rev: str) -> dict[str, Any] | None:
    """The environment recorded for the commit ``rev`` names (the ``environment``
    mapping of its note, as ``gitrelstate.envdiff`` compares), or None."""
    doc = read_document(repo, rev)
    return dict(doc["environment"]) if doc is not None else None


def has_notes(repo: Repo) -> bool:
    return bool(git.run(repo.root, ["rev-parse", "--verify", "-q", NOTES_REF], check=False))


def push_notes(repo: Repo, git_remote: str) -> None:
    """Send the notes to ``git_remote`` (a remote name or URL); when the remote has
    notes this clone lacks, fetch and merge them first. Whatever the push would send is
    checked for secrets first (:func:`gitrelstate.environment.notescan.clean_notes`).
    Raises RelstateError."""
    from gitrelstate.environment import notescan

    if not has_notes(repo):
        return
    notescan.clean_before_push(repo, git_remote)
    args = ["push", "--quiet", "--no-verify", git_remote, f"{NOTES_REF}:{NOTES_REF}"]
    try:
        git.run(repo.root, args)
        notescan.remember_pushed(repo, git_remote, NOTES_REF)
        return
    except RelstateError:
        pass  # most likely someone else pushed notes first: merge theirs, then retry
    fetch_notes(repo, git_remote)
    notescan.clean_before_push(repo, git_remote)
    try:
        git.run(repo.root, args)
        notescan.remember_pushed(repo, git_remote, NOTES_REF)
    except RelstateError as exc:
        raise RelstateError(
            f"could not push the environment notes ({NOTES_REF}) to {git_remote}: {exc.message}",
            hint=f"push them later with: git push {git_remote} {NOTES_REF}",
        ) from None


def fetch_notes(repo: Repo, git_remote: str) -> bool:
    """Fetch ``git_remote``'s environment notes and merge them into ours.

    Safe to run any time: a note only one side has is kept, and for a commit
    both sides annotated the local note wins. Returns False when the remote has
    no notes. Raises RelstateError when it cannot be reached.
    """
    try:
        git.run(
            repo.root,
            [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                git_remote,
                f"+{NOTES_REF}:{FETCHED_REF}",
            ],
        )
    except RelstateError as exc:
        if "couldn't find remote ref" in exc.message:
            return False
        raise RelstateError(
            f"could not fetch the environment notes from {git_remote}: {exc.message}"
        ) from None
    from gitrelstate.environment import notescan

    try:
        # What the remote has is public there already: the notes scan skips it.
        notescan.remember_pushed(repo, git_remote, FETCHED_REF)
        if has_notes(repo):
            git.run(
                repo.root,
                ["notes", f"--ref={NOTES_REF}", "merge", "--quiet", "-s", "ours", FETCHED_REF],
            )
        else:
            git.run(repo.root, ["update-ref", NOTES_REF, FETCHED_REF])
    finally:
        git.run(repo.root, ["update-ref", "-d", FETCHED_REF], check=False)
    return True


def default_git_remote(repo: Repo) -> str | None:
    """The git remote notes go to and come from: the current branch's upstream
    remote, else ``origin``, else the only remote there is."""
    branch = git.run(repo.root, ["symbolic-ref", "-q", "--short", "HEAD"], check=False).strip()
    if branch:
        upstream = git.run(
            repo.root, ["config", "--get", f"branch.{branch}.remote"], check=False
        ).strip()
        if upstream and upstream != ".":
            return upstream
    remotes = git.run(repo.root, ["remote"], check=False).split()
    if "origin" in remotes:
        return "origin"
    return remotes[0] if len(remotes) == 1 else None
