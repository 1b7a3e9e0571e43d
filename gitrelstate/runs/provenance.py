"""Who recorded a run, and where: said before gitrelstate runs a recorded command.

``reproduce`` and ``run NAME`` execute the command a record holds, and a record
arrives through Git from other people: a merged pull request can hold any command.
Before anything of it runs, the record's host and the author of the last commit
that changed its file are compared with this machine and this user; when either
differs, the command is shown with who wrote it. Both can be forged (a commit's
author is whatever its maker typed), so this is a reminder to read the command,
not a proof that the record is one's own.
"""

from __future__ import annotations

import shlex
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitrelstate import git
from gitrelstate.state.record import RunRecord


@dataclass(frozen=True)
class Provenance:
    """Where a record comes from, against where it is about to run."""

    stage: str
    command: tuple[str, ...]
    host: str  # as the record says; "" when it says nothing
    author: str | None  # "Name <email>" of the last commit that changed its file
    author_email: str | None
    this_host: str
    this_user: str | None  # user.email here; None when git has no identity

    @property
    def other_host(self) -> bool:
        return self.host != self.this_host

    @property
    def other_author(self) -> bool:
        if self.author_email is None:  # not committed: written in this clone
            return False
        return self.this_user is None or self.author_email.lower() != self.this_user.lower()

    @property
    def foreign(self) -> bool:
        return self.other_host or self.other_author

    def notice(self) -> str:
        """One line: who recorded it, where, and the command about to run."""
        who = f"by {self.author} " if self.other_author and self.author else ""
        where = f"on host {self.host}" if self.host else "on an unknown host"
        you = f"you are {self.this_user or 'a user without a git identity'} on {self.this_host}"
        return (
            f"run '{self.stage}' was recorded {who}{where} ({you}); "
            f"about to run its command: {shlex.join(self.command)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "host": self.host,
            "author": self.author,
            "this_host": self.this_host,
            "this_user": self.this_user,
            "foreign": self.foreign,
            "command": list(self.command),
        }


HINT = (
    "a recorded command is only as trustworthy as whoever wrote the record: read it "
    "(git relstate show NAME; git log -p -- FILE) before letting it run"
)


def provenance(
    root: Path, records: Sequence[RunRecord], files: Sequence[str], rev: str | None = None
) -> list[Provenance]:
    """The provenance of each record in ``records``, kept in ``files[i]`` (repo-relative)
    as of ``rev`` (default HEAD)."""
    this_host = socket.gethostname()
    email = git.run(root, ["config", "user.email"], check=False).strip() or None
    authors: dict[str, tuple[str, str] | None] = {}
    found = []
    for record, file in zip(records, files, strict=True):
        if file not in authors:
            authors[file] = _last_author(root, file, rev)
        author = authors[file]
        found.append(
            Provenance(
                stage=record.name,
                command=tuple(record.command),
                host=record.host,
                author=f"{author[0]} <{author[1]}>" if author else None,
                author_email=author[1] if author else None,
                this_host=this_host,
                this_user=email,
            )
        )
    return found


def _last_author(root: Path, file: str, rev: str | None) -> tuple[str, str] | None:
    out = git.run(
        root,
        ["log", "-1", "--format=%an%x00%ae", *([rev] if rev else []), "--", file],
        check=False,
    ).strip()
    name, sep, email = out.partition("\0")
    return (name, email) if sep else None
