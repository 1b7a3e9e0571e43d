"""Judging an output that is not byte-identical under a tolerance: which of its files
(the output itself, or the files inside an output folder) are JSON, YAML or CSV and
within the tolerance of what was recorded.

The recorded bytes come from the cache (a run stores its outputs there), fetched from
the remote when missing and allowed; a metrics file whose object is nowhere is compared
with the values its record holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from gitrelstate import hashing, values
from gitrelstate.errors import RelstateError
from gitrelstate.guard import limits
from gitrelstate.repo import Repo
from gitrelstate.reproduce.numeric import CAP, Comparison, comparable, compare_bytes
from gitrelstate.runs.tolerance import Tolerance
from gitrelstate.state.manifest import Entry
from gitrelstate.state.record import Artifact, RunRecord

# Asked for a recorded object the cache lacks: try to bring it (True when it is here now).
Fetch = Callable[[Artifact], bool]


def judge(
    repo: Repo,
    out: Artifact,
    path: Path,
    now: Mapping[str, Entry] | None,
    record: RunRecord,
    tolerance: Tolerance,
    fetch: Fetch,
) -> dict[str, Comparison]:
    """Per file of the output ``out`` (reproduced at ``path``; ``now`` its listing when
    it is a folder) that differs: how it compares within ``tolerance``."""
    if now is None:
        return {out.path: _file(repo, out, path, record, tolerance, fetch)}
    return _folder(repo, out, path, now, tolerance, fetch)


def _file(
    repo: Repo, out: Artifact, path: Path, record: RunRecord, tolerance: Tolerance, fetch: Fetch
) -> Comparison:
    if not comparable(out.path):
        return Comparison(False, beyond="compared byte for byte (not JSON, YAML or CSV)")
    if out.nfiles is not None or not path.is_file():
        return Comparison(False, beyond="a file was recorded, a folder is here (or the reverse)")
    try:
        actual = limits.read_capped(path, CAP, out.path)
    except RelstateError as exc:
        return Comparison(False, beyond=f"not compared numerically: {exc.message}")
    expected = _recorded(repo, out, fetch)
    if expected is not None:
        return compare_bytes(expected, actual, out.path, tolerance)
    if out.path in record.metrics:  # the values the record holds stand in for the file
        from gitrelstate.reproduce.numeric import compare_values

        try:
            flat = values.flatten(values.load_structured(path, out.path))
        except RelstateError as exc:
            return Comparison(False, beyond=f"not compared numerically: {exc.message}")
        return compare_values(dict(record.metrics[out.path]), flat, tolerance)
    return Comparison(False, beyond=_absent(out))


def _folder(
    repo: Repo,
    out: Artifact,
    path: Path,
    now: Mapping[str, Entry],
    tolerance: Tolerance,
    fetch: Fetch,
) -> dict[str, Comparison]:
    from gitrelstate.workspace import pointers

    if not repo.cache.exists(hashing.hex_of(out.hash)):
        fetch(out)
    try:
        before = pointers.load_manifest(repo, out.hash, out.path).entries
    except RelstateError:
        return {out.path: Comparison(False, beyond=_absent(out, "listing"))}
    found: dict[str, Comparison] = {}
    for name in sorted(set(before) | set(now)):
        old, new = before.get(name), now.get(name)
        shown = f"{out.path}/{name}"
        if old is not None and new is not None and old.hex == new.hex:
            continue
        if old is None or new is None:
            found[shown] = Comparison(False, beyond="new file" if old is None else "file gone")
            continue
        inner = Artifact(shown, hashing.content_id(old.hex), old.size)
        if not comparable(name):
            found[shown] = Comparison(
                False, beyond="compared byte for byte (not JSON, YAML or CSV)"
            )
            continue
        expected = _recorded(repo, inner, fetch)
        if expected is None:
            found[shown] = Comparison(False, beyond=_absent(inner))
            continue
        try:
            actual = limits.read_capped(path / name, CAP, shown)
        except RelstateError as exc:
            found[shown] = Comparison(False, beyond=f"not compared numerically: {exc.message}")
            continue
        found[shown] = compare_bytes(expected, actual, shown, tolerance)
    return found


def _recorded(repo: Repo, art: Artifact, fetch: Fetch) -> bytes | None:
    """The recorded bytes of ``art`` from the cache (fetched when allowed), verified."""
    hex_ = hashing.hex_of(art.hash)
    if art.size > CAP.max_bytes:
        return None
    if not repo.cache.exists(hex_) and not fetch(art):
        return None
    try:
        raw = repo.cache.read_bytes(hex_)
    except (FileNotFoundError, KeyError):
        return None
    return raw if hashing.hash_bytes(raw) == hex_ else None


def _absent(art: Artifact, what: str = "content") -> str:
    return (
        f"the recorded {what} of {art.path} is neither in the cache nor on the remote: "
        "it cannot be compared numerically"
    )
