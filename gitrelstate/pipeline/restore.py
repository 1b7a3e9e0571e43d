"""Restoring a stage's outputs from the run cache instead of running it.

When a stale stage's inputs have the key of a run seen before (a local run-cache entry,
or a record committed anywhere in history), the outputs that run made are checked out
from the cache (fetched from the default remote first when they are only there), their
pointers written, and that run's record written as the stage's record, marked
``restored``. Nothing is executed. Whatever cannot be restored without losing unsaved
work (an output edited by hand whose content the cache does not hold) is left alone,
and the stage runs instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gitrelstate import git, ui
from gitrelstate.errors import RelstateError
from gitrelstate.repo import Repo
from gitrelstate.runs import executor, records, runcache
from gitrelstate.runs.spec import StageSpec
from gitrelstate.state.record import RunRecord
from gitrelstate.workspace.pointers import Tracked

DEFINITION_KEYS = (
    "env_vars",
    "param_keys",
    "tolerance",
    "git_outs",
    "plots",
    "frozen",
    "always_changed",
    "imported",
    "pending",
    "restored",
)


@dataclass(frozen=True)
class Candidate:
    """A run with the same inputs: its record and where it was found."""

    record: RunRecord
    where: str  # "the run cache" or "commit abc123456789"


def find(repo: Repo, key: str, *, history: bool = True) -> Candidate | None:
    """A run whose inputs have ``key``: a local entry first, then the history."""
    found = runcache.lookup(repo, key)
    if found is not None:
        return Candidate(found, "the run cache")
    if not history or not git.has_commits(repo.root):
        return None
    from gitrelstate.runs.traceindex import TraceIndex

    index = TraceIndex(repo)
    try:
        index.update()
        hits = index.runs_with_inputs(key)
    finally:
        index.close()
    for hit in hits:
        if hit.blob is None or hit.commit is None:
            continue
        raw = git.read_blobs(repo.root, [hit.blob]).get(hit.blob)
        if raw is None:
            continue
        try:
            record = records.parse(repo, raw, f"{hit.commit[:12]}:{hit.path}")
        except RelstateError:
            continue
        if runcache.key_of_record(record) == key:
            return Candidate(record, f"commit {hit.commit[:12]}")
    return None


def restore(repo: Repo, spec: StageSpec, candidate: Candidate) -> RunRecord | None:
    """Check out ``candidate``'s outputs and write its record as ``spec``'s; None when
    the outputs cannot be had (not in the cache nor on the default remote) or would
    overwrite unsaved work."""
    from gitrelstate.errors import CheckoutConflict
    from gitrelstate.sync.recorded import recorded_tracked, save_pointer
    from gitrelstate.workspace.checkout import checkout_tracked

    label = f"run '{spec.name}' ({candidate.where})"
    tracked = [recorded_tracked(repo, o, label) for o in candidate.record.outs]
    if not _available(repo, tracked):
        return None
    try:
        with repo.locked():
            checkout_tracked(repo, tracked, force=False)
            for t in tracked:
                if t.data_rel not in spec.git_outs:
                    save_pointer(repo, t)
            kept = {k: v for k, v in candidate.record.extra.items() if k not in DEFINITION_KEYS}
            record = replace(
                candidate.record,
                name=spec.name,
                extra={
                    **kept,
                    **executor.definition_extra(spec),
                    "restored": {"from": candidate.where, "at": executor.now_utc()},
                },
            )
            executor.write_record(repo, record)
    except CheckoutConflict as exc:
        ui.warn(f"'{spec.name}' is not restored from the run cache: {exc.message}")
        return None
    except RelstateError as exc:
        ui.debug(f"'{spec.name}' not restored from the run cache: {exc.message}")
        return None
    runcache.remember(repo, record)
    return record


def _available(repo: Repo, tracked: list[Tracked]) -> bool:
    """Every object the outputs need is in the cache (fetched from the default remote
    when it is only there)."""
    from gitrelstate.remotes import transfer

    refs = transfer.referenced(repo, tracked)
    missing = [h for h in refs.all if not repo.cache.exists(h)]
    if not missing and not refs.unknown_manifests:
        return True
    try:
        from gitrelstate.remotes.remote import resolve

        remote = resolve(repo, None)
        with repo.locked():
            transfer.fetch(repo, remote, tracked, transfer.default_jobs(remote))
    except RelstateError as exc:
        ui.debug(f"run cache: outputs not fetched ({exc.message})")
        return False
    refs = transfer.referenced(repo, tracked)
    return not refs.unknown_manifests and all(repo.cache.exists(h) for h in refs.all)
