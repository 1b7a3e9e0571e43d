"""The stage graph and staleness: which stages feed which, and which no longer match."""

from __future__ import annotations

from collections.abc import Sequence

from gitrelstate.repo import Repo
from gitrelstate.state.record import RunRecord
from gitrelstate.workspace import tracking


def stale_reasons(repo: Repo, record: RunRecord) -> list[str]:
    """Why ``record`` no longer describes the work tree (empty when it does)."""
    reasons = []
    for kind, items in (("dependency", record.deps), ("output", record.outs)):
        for item in items:
            path = repo.abspath(item.path)
            if not path.exists():
                reasons.append(f"{kind} {item.path} is missing")
                continue
            if tracking.snapshot(repo, path, store=False).hash != item.hash:
                reasons.append(f"{kind} {item.path} changed")
    return reasons


def upstream_of(records: Sequence[RunRecord], record: RunRecord) -> list[RunRecord]:
    """The stages whose outputs ``record`` depends on."""
    wanted = {d.path for d in record.deps}
    return [r for r in records if r.name != record.name and wanted & {o.path for o in r.outs}]
