"""An index of which run (or release) produced which content, over all of history.

``trace`` must answer "where did this model come from?" instantly on long
histories, so the records committed in every branch and tag are read once,
incrementally: each update looks only at commits it has not seen.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from gitrelstate import git
from gitrelstate.errors import RelstateError
from gitrelstate.guard import limits
from gitrelstate.repo import STATE_DIR, Repo
from gitrelstate.state import yamlio
from gitrelstate.state.record import RunRecord

WATCHED = (f"{STATE_DIR}/runs", f"{STATE_DIR}/releases")


@dataclass(frozen=True)
class Production:
    """One record that produced the content: where and when it was committed."""

    hash: str
    kind: str
    name: str
    path: str
    commit: str | None  # None: in the work tree, not committed
    date: str | None
    blob: str | None


class TraceIndex:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        path = repo.private_dir / "trace.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=60.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS tips (sha TEXT PRIMARY KEY)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS produced (hash TEXT, kind TEXT, name TEXT, path TEXT,"
            " commit_sha TEXT, date TEXT, blob TEXT,"
            " UNIQUE (hash, kind, name, commit_sha, path))"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS produced_hash ON produced (hash)")
        # The input key of every run record (run cache: gitrelstate.runs.runcache). An
        # index made before this table existed is read again from the start.
        fresh = not self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='inputs'"
        ).fetchone()
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS inputs (key TEXT, name TEXT, path TEXT,"
            " commit_sha TEXT, date TEXT, blob TEXT, UNIQUE (key, commit_sha, path))"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS inputs_key ON inputs (key)")
        if fresh:
            self.db.execute("DELETE FROM tips")

    def close(self) -> None:
        self.db.close()

    def update(self) -> int:
        """Read the records of commits not indexed yet; return how many commits."""
        if not git.has_commits(self.repo.root):
            return 0
        seen = [r[0] for r in self.db.execute("SELECT sha FROM tips")]
        tips = sorted(set(git.ref_tips(self.repo.root)))
        if sorted(seen) == tips:
            return 0
        changes = list(git.log_file_changes(self.repo.root, ["--all", "--not", *seen], WATCHED))
        blobs = git.read_blobs(self.repo.root, _small_blobs(self.repo, {c.blob for c in changes}))
        rows = []
        keys = []
        for change in changes:
            raw = blobs.get(change.blob)
            if raw is None:
                continue
            outputs, key = _read(raw, change.path)
            for hash_, kind, name in outputs:
                rows.append(
                    (hash_, kind, name, change.path, change.commit, change.date, change.blob)
                )
            if key is not None:
                keys.append((key[0], key[1], change.path, change.commit, change.date, change.blob))
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT OR IGNORE INTO produced VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self.db.executemany("INSERT OR IGNORE INTO inputs VALUES (?, ?, ?, ?, ?, ?)", keys)
        self.db.execute("DELETE FROM tips")
        self.db.executemany("INSERT INTO tips VALUES (?)", [(t,) for t in tips])
        self.db.execute("COMMIT")
        return len({c.commit for c in changes})

    def lookup(self, hash_: str) -> list[Production]:
        rows = self.db.execute(
            "SELECT hash, kind, name, path, commit_sha, date, blob FROM produced WHERE hash=?"
            " ORDER BY date",
            (hash_,),
        )
        found = [Production(*r) for r in rows]
        found.extend(self._work_tree(hash_))
        return found

    def runs_with_inputs(self, key: str) -> list[Production]:
        """Committed run records whose inputs have this key (newest first)."""
        rows = self.db.execute(
            "SELECT key, 'run', name, path, commit_sha, date, blob FROM inputs WHERE key=?"
            " ORDER BY date DESC",
            (key,),
        )
        return [Production(*r) for r in rows]

    def matching(self, hex_prefix: str) -> list[str]:
        """The content ids produced (committed or in the work tree) whose hex digits
        start with ``hex_prefix`` (lower-case hex), sorted."""
        low = f"blake3:{hex_prefix}"
        rows = self.db.execute(
            "SELECT DISTINCT hash FROM produced WHERE hash >= ? AND hash < ?", (low, low + "g")
        )
        found = {r[0] for r in rows}
        found.update(h for h in self._work_tree_hashes() if h.startswith(low))
        return sorted(found)

    def _work_tree_hashes(self) -> set[str]:
        return {p.hash for p in self._work_tree(None)}

    def _work_tree(self, hash_: str | None) -> Iterator[Production]:
        """Records written but not committed yet (producing ``hash_``, or anything)."""
        committed = {(r[0], r[1]) for r in self.db.execute("SELECT path, blob FROM produced")}
        for folder in WATCHED:
            base = self.repo.root / folder
            if not base.is_dir():
                continue
            for path in sorted(base.glob("*.yaml")):
                rel = path.relative_to(self.repo.root).as_posix()
                try:
                    raw = limits.read_capped(path, limits.STATE_FILE, rel)
                except RelstateError:
                    continue
                blob = git.blob_id(raw)
                if (rel, blob) in committed:
                    continue
                for out_hash, kind, name in _outputs_of(raw, rel):
                    if hash_ is None or out_hash == hash_:
                        yield Production(out_hash, kind, name, rel, None, None, blob)


def _small_blobs(repo: Repo, shas: set[str]) -> list[str]:
    """The blobs small enough to be state files, asked of git before any is read."""
    if not shas:
        return []
    out = git.run(
        repo.root, ["cat-file", "--batch-check"], input="".join(f"{s}\n" for s in shas).encode()
    )
    fields = (line.split() for line in out.splitlines())
    return sorted(
        f[0]
        for f in fields
        if len(f) == 3 and f[1] == "blob" and int(f[2]) <= limits.STATE_FILE.max_bytes
    )


def _read(raw: bytes, path: str) -> tuple[list[tuple[str, str, str]], tuple[str, str] | None]:
    """What a state file says it produced, and for a run record (name, input key)."""
    try:
        doc = yamlio.loads(raw, path)
    except RelstateError:
        return [], None
    if isinstance(doc, dict) and doc.get("kind") == "run":
        from gitrelstate.runs.runcache import key_of_record

        try:
            record = RunRecord.from_dict(doc, path)
            key = None if record.extra.get("pending") else key_of_record(record)
        except RelstateError:
            return [], None
        return [(o.hash, "run", record.name) for o in record.outs], (
            (key, record.name) if key else None
        )
    return _outputs_of_doc(doc, path), None


def _outputs_of(raw: bytes, path: str) -> list[tuple[str, str, str]]:
    """(content id, kind, name) of everything a record says it produced."""
    return _read(raw, path)[0]


def _outputs_of_doc(doc: object, path: str) -> list[tuple[str, str, str]]:
    if not isinstance(doc, dict):
        return []
    if doc.get("kind") == "release":
        from gitrelstate.state.release import Release, compute_state_id

        try:
            release = Release.from_dict(doc, path)
            if compute_state_id(doc) != release.state_id:
                return []  # an edited release vouches for nothing
        except RelstateError:
            return []
        model = release.model
        if model is not None and model.hash is not None:
            return [(model.hash, "release", release.name)]
    return []
