"""Run records: where they live, loading one by name, all of them, and at a git revision."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitrelstate import fsutil, git
from gitrelstate.errors import RelstateError
from gitrelstate.guard import limits
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.state.record import RunRecord, check_run_name
from gitrelstate.store import parsed


def record_path(repo: Repo, name: str) -> Path:
    return repo.root / RUNS_DIR / f"{name}.yaml"


def parse(repo: Repo, raw: bytes, source: str) -> RunRecord:
    """A run record from its file's bytes: bounded, strict (its code section too: its
    commit is passed to git), parsed once per content (:mod:`gitrelstate.store.parsed`)."""
    doc = parsed.loads(parsed.folder_of(repo.private_dir), raw, source, cap=limits.RECORD)
    return RunRecord.from_dict(doc, source)


def load_record(repo: Repo, name: str) -> RunRecord:
    check_run_name(name)
    path = record_path(repo, name)
    source = f"{RUNS_DIR}/{name}.yaml"
    if not os.path.lexists(path):
        raise RelstateError(
            f"no run named '{name}'", hint="record one with: git relstate run -n NAME -- CMD..."
        )
    # A committed symlink must not make gitrelstate read (and quote) a file elsewhere.
    real = repo.resolve_inside(source, source, "run record", allow_state=True)
    return parse(repo, limits.read_capped(real, limits.RECORD, source), source)


def all_records(repo: Repo) -> list[RunRecord]:
    folder = repo.root / RUNS_DIR
    if not folder.is_dir():
        return []
    return [
        load_record(repo, p.stem)
        for p in sorted(folder.glob("*.yaml"))
        if not fsutil.is_tmp_name(p.name)
    ]


@dataclass(frozen=True)
class Found:
    label: str
    record: RunRecord


def _latest(records: list[RunRecord]) -> RunRecord | None:
    return max(records, key=lambda r: r.finished, default=None)


def records_at(repo: Repo, rev: str) -> list[RunRecord]:
    """The run records committed in ``rev``'s tree."""
    listing = git.run(repo.root, ["ls-tree", "-l", "-z", rev, f"{RUNS_DIR}/"], check=False)
    blobs = {}
    for entry in listing.split("\0"):
        meta, _, path = entry.partition("\t")
        fields = meta.split()
        if len(fields) == 4 and fields[1] == "blob" and path.endswith(".yaml"):
            # Refused before git hands over the bytes.
            limits.RECORD.check(int(fields[3]) if fields[3].isdigit() else 0, f"{rev}:{path}")
            blobs[fields[2]] = path
    contents = git.read_blobs(repo.root, list(blobs))
    return [parse(repo, raw, f"{rev}:{blobs[sha]}") for sha, raw in contents.items()]


def find_run(repo: Repo, ref: str | None) -> Found:
    """A run by name, the latest run recorded at a git revision, or (no ref) the
    latest run in the work tree."""
    if ref is None:
        latest = _latest(all_records(repo))
        if latest is None:
            raise RelstateError(
                "no run is recorded in this work tree",
                hint="record one with: git relstate run -n NAME -- CMD...",
            )
        return Found(f"run '{latest.name}'", latest)
    if (repo.root / RUNS_DIR / f"{ref}.yaml").exists():
        return Found(f"run '{ref}'", load_record(repo, ref))
    commit = git.run(repo.root, ["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], check=False)
    if commit.strip():
        latest = _latest(records_at(repo, commit.strip()))
        if latest is None:
            raise RelstateError(f"no run is recorded at {ref}")
        return Found(f"run '{latest.name}' at {ref}", latest)
    raise RelstateError(
        f"'{ref}' is neither a recorded run nor a git revision",
        hint="see 'git relstate list' for the recorded runs",
    )
