"""The state files as staged in the index: what a commit will hold, read fast.

Used by the pre-commit check. A staged file is read from the work tree when its
git blob id is the staged one (the usual case), else from the index; pointers
in canonical form skip the YAML reader; run records are parsed once per version
and remembered by blob id (:class:`RecordIndex`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gitrelstate import fsutil, git
from gitrelstate.errors import RelstateError, StateFileError
from gitrelstate.repo import RUNS_DIR, STATE_DIR, Repo
from gitrelstate.state import model, yamlio
from gitrelstate.state.aliases import ALIASES_FILE
from gitrelstate.state.paths import check_relpath
from gitrelstate.state.pointer import SUFFIX, parse_canonical
from gitrelstate.state.record import RunRecord
from gitrelstate.state.release import RELEASES_DIR, release_path

CONFIG_FILE = f"{STATE_DIR}/config.yaml"
LOCAL_CONFIG_FILE = f"{STATE_DIR}/config.local.yaml"
PATHSPECS = (f"*{SUFFIX}", f"{STATE_DIR}/")


def kind_of(path: str) -> str | None:
    """Which state file ``path`` is (by where it sits), or None."""
    if path.endswith(SUFFIX):
        return "data"
    folder, _, name = path.rpartition("/")
    if not name.endswith(".yaml"):
        return None
    if folder == RUNS_DIR:
        return "run"
    if folder == RELEASES_DIR:
        return "release"
    if path == ALIASES_FILE:
        return "aliases"
    if path == CONFIG_FILE:
        return "config"
    if path == LOCAL_CONFIG_FILE:
        return "local-config"
    return None


@dataclass
class Staged:
    """The state files in the index: blob ids, and which changed since HEAD."""

    blobs: dict[str, str]
    changes: dict[str, str]  # path -> A, M, D or T (renames split into D + A)

    @classmethod
    def read(cls, repo: Repo) -> Staged:
        listing = git.run(repo.root, ["ls-files", "-s", "-z", "--", *PATHSPECS])
        blobs: dict[str, str] = {}
        for entry in listing.split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            # Stage 0 only: a commit with unmerged entries never reaches the hook.
            if len(fields) == 3 and fields[2] == "0" and kind_of(path):
                blobs[path] = fields[1]
        head = git.head_commit(repo.root)
        if head is None:
            return cls(blobs, {p: "A" for p in blobs})
        out = git.run(
            repo.root,
            ["diff", "--cached", "--name-status", "--no-renames", "-z", head, "--", *PATHSPECS],
        )
        tokens = out.split("\0")
        changes = {
            path: status[:1]
            for status, path in zip(tokens[::2], tokens[1::2], strict=False)
            if status and kind_of(path)
        }
        return cls(blobs, changes)


class RecordIndex:
    """Run records by git blob id (without their environment, which the check does not
    read), kept between commits in ``<git common dir>/relstate/hook-records.json``.

    A blob never changes, so each record version is parsed once (the YAML reader
    costs ~50 ms for a typical record; the pre-commit check runs on every commit).
    """

    VERSION = 2

    def __init__(self, repo: Repo) -> None:
        self.path = repo.private_dir / "hook-records.json"
        self.entries: dict[str, Any] = {}
        self.dirty = False
        try:
            doc = json.loads(self.path.read_bytes())
            if isinstance(doc, dict) and doc.get("version") == self.VERSION:
                entries = doc.get("records")
                self.entries = entries if isinstance(entries, dict) else {}
        except (OSError, ValueError):
            pass  # only a cache: rebuilt by parsing the records again

    def get(self, sha: str) -> RunRecord | None:
        entry = self.entries.get(sha)
        if not isinstance(entry, dict):
            return None
        try:
            return RunRecord.from_dict(entry, "cache")
        except (TypeError, KeyError, RelstateError):
            return None

    def put(self, sha: str, record: RunRecord) -> RunRecord:
        doc = record.to_dict()
        doc.pop("environment", None)
        self.entries[sha] = doc
        self.dirty = True
        return record

    def save(self, keep: set[str]) -> None:
        """Write the entries of the records in use now (if anything changed)."""
        if not self.dirty and set(self.entries) <= keep:
            return
        entries = {sha: e for sha, e in self.entries.items() if sha in keep}
        data = json.dumps({"version": self.VERSION, "records": entries}).encode()
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fsutil.write_atomic(self.path, data)


# -- reading and validating --------------------------------------------------


def contents(repo: Repo, staged: Staged, paths: Iterable[str]) -> dict[str, bytes]:
    """Staged bytes of ``paths``: the work-tree copy when it is what is staged."""
    found: dict[str, bytes] = {}
    from_index: dict[str, str] = {}
    for path in paths:
        sha = staged.blobs[path]
        full = repo.abspath(path)
        try:
            if os.lstat(full).st_size <= yamlio.MAX_FILE_BYTES:
                data = full.read_bytes()
                if git.blob_id(data) == sha:
                    found[path] = data
                    continue
        except OSError:
            pass
        from_index[path] = sha
    blobs = git.read_blobs(repo.root, sorted(set(from_index.values())))
    for path, sha in from_index.items():
        found[path] = blobs.get(sha, b"")
    return found


def parse(raw: bytes, source: str, kind: str | None) -> Any:
    if len(raw) > yamlio.MAX_FILE_BYTES:
        raise StateFileError(f"{source}: larger than {yamlio.MAX_FILE_BYTES // 2**20} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StateFileError(f"{source}: not UTF-8 text") from None
    if kind == "data" and len(text) < 4096:
        fast = parse_canonical(text)
        if fast is not None:
            return fast
    return yamlio.loads(text, source)


def record_from(path: str, doc: Any) -> RunRecord:
    record = RunRecord.from_dict(doc, path)
    stem = path.rpartition("/")[2][: -len(".yaml")]
    if record.name != stem:
        raise StateFileError(
            f"{path}: 'name' is {record.name!r}, but a run record is named after its file",
            hint=f"rename the file to {RUNS_DIR}/{record.name}.yaml, or fix 'name'",
        )
    return record


def check_release(path: str, doc: Any) -> None:
    """The header, and every stored path (any key named ``path``) stays in the tree."""
    checked = model.check_header(doc, path, "release")

    def walk(value: Any, key: str) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if k == "path" and isinstance(v, str):
                    check_relpath(v, path, f"{key}.path" if key else "path")
                else:
                    walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{key}.{i}")

    walk(checked, "")
    from gitrelstate.errors import StateFileError
    from gitrelstate.state.release import Release, compute_state_id

    release = Release.from_dict(checked, path)
    if compute_state_id(checked) != release.state_id:
        raise StateFileError(
            f"{path}: content does not match its state_id (the file was edited after "
            "'git relstate release' wrote it)",
            hint="releases are immutable: restore the file, or make a new release",
        )


def check_aliases(repo: Repo, staged: Staged, path: str, raw: bytes) -> None:
    """The staged aliases file: valid (bounded, strict), and every alias names a release
    the commit holds, with the ``state_id`` it was promoted to."""
    from gitrelstate.releases import registry
    from gitrelstate.state import aliases

    found = aliases.parse(raw, path)
    for alias in found.aliases.values():
        rel = release_path(alias.release)
        if rel not in staged.blobs:
            raise StateFileError(
                f"{path}: alias '{alias.name}' points at release '{alias.release}', which "
                "this commit does not hold",
                hint=f"stage the release too (git add {rel}), or promote a committed "
                f"release: git relstate promote RELEASE {alias.name}",
            )
        release = registry.parse(contents(repo, staged, [rel])[rel], rel, file_name=alias.release)
        if release.state_id != alias.state_id:
            raise StateFileError(
                f"{path}: alias '{alias.name}' records state_id {alias.state_id[:19]}… for "
                f"release '{alias.release}', whose staged file has {release.state_id[:19]}…",
                hint=f"promote it again: git relstate promote {alias.release} {alias.name}",
            )
