"""``git relstate status``: how the work tree's data differs from its pointers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitrelstate import ui
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.workspace.compare import Comparison, compare
from gitrelstate.workspace.pointers import Tracked
from gitrelstate.workspace.selection import select_tracked

SHOW_AT_MOST = 50


def status(
    repo: Repo,
    cwd: Path,
    paths: Sequence[str],
    *,
    as_json: bool,
    exit_code: bool,
    remote_name: str | None = None,
) -> int:
    unpushed: dict[str, int] | None = None
    tracked = select_tracked(repo, cwd, paths)
    results = [compare(repo, t) for t in tracked]
    runs = [] if paths else _run_states(repo)
    repo.statcache.flush()
    if remote_name is not None:
        unpushed = _not_pushed(repo, tracked, remote_name)
    clean = (
        all(c.clean for c in results)
        and not any((unpushed or {}).values())
        and not any(reasons for _, reasons in runs)
    )
    if as_json:
        doc = to_json(results, clean, unpushed)
        doc["runs"] = [
            {"name": name, "stale": bool(reasons), "reasons": reasons} for name, reasons in runs
        ]
        if remote_name is not None:
            doc["remote"] = remote_name
        ui.result(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        render_text(results, clean, unpushed, remote_name)
        for name, reasons in runs:
            if reasons:
                ui.result(f"run '{name}' is stale: {'; '.join(reasons[:5])}")
        if any(reasons for _, reasons in runs):
            ui.result("hint: bring the stale stages up to date with 'git relstate repro'")
    return 1 if exit_code and not clean else 0


def _run_states(repo: Repo) -> list[tuple[str, list[str]]]:
    """Each recorded run and why it no longer matches the work tree (if it does not)."""
    if not (repo.root / RUNS_DIR).is_dir():
        return []  # and 'status' need not import the run machinery
    from gitrelstate.runs import records, staleness

    view = staleness.WorkTree(repo)  # each path hashed once for all records
    return [(r.name, staleness.stale_reasons(r, view)) for r in records.all_records(repo)]


def _not_pushed(repo: Repo, tracked: Sequence[Tracked], remote_name: str) -> dict[str, int]:
    """Per tracked path, how many of the objects it needs the remote lacks."""
    from gitrelstate.remotes import transfer
    from gitrelstate.remotes.remote import resolve as resolve_remote

    remote = resolve_remote(repo, remote_name)
    per_path = {t.data_rel: transfer.referenced(repo, [t]) for t in tracked}
    wanted = set().union(*(r.all for r in per_path.values()))
    present = transfer.existing(remote, wanted)  # loose or packed; errors name the remote
    return {path: len((r.all) - present) for path, r in per_path.items()}


def to_json(
    results: Sequence[Comparison], clean: bool, unpushed: dict[str, int] | None = None
) -> dict[str, Any]:
    return {
        "clean": clean,
        "data": [
            {
                "path": c.tracked.data_rel,
                "pointer": c.tracked.pointer_rel,
                "type": "directory" if c.tracked.pointer.is_dir else "file",
                "state": c.state,
                "added": [c.display(k) for k in c.added],
                "modified": [c.display(k) for k in c.modified],
                "deleted": [c.display(k) for k in c.deleted],
                **({"message": c.problem} if c.problem else {}),
                **(
                    {"not_pushed": unpushed.get(c.tracked.data_rel, 0)}
                    if unpushed is not None
                    else {}
                ),
            }
            for c in results
        ],
    }


def render_text(
    results: Sequence[Comparison],
    clean: bool,
    unpushed: dict[str, int] | None = None,
    remote_name: str | None = None,
) -> None:
    if not results:
        ui.result("No tracked data (track some with 'git relstate track PATH').")
        return
    if all(c.clean for c in results) and not any((unpushed or {}).values()):
        pushed = f", all on remote '{remote_name}'" if remote_name else ""
        ui.result(f"Data is up to date ({len(results)} tracked path(s){pushed}).")
        return
    for path, count in (unpushed or {}).items():
        if count:
            ui.result(f"{path}: {count} object(s) not pushed to '{remote_name}'")
    if unpushed and any(unpushed.values()):
        ui.result(f"hint: upload them with 'git relstate push -r {remote_name}'")
    for c in results:
        if c.clean:
            continue
        if c.state == "unknown":
            ui.result(f"{c.tracked.data_rel}: not in the cache ({c.problem})")
            continue
        if c.state == "missing":
            ui.result(f"{c.tracked.data_rel}: missing from the work tree")
            continue
        ui.result(f"{c.tracked.data_rel}: modified")
        for label, keys in (("added", c.added), ("modified", c.modified), ("deleted", c.deleted)):
            for key in keys[:SHOW_AT_MOST]:
                ui.result(f"    {label + ':':<10}{c.display(key)}")
            if len(keys) > SHOW_AT_MOST:
                ui.result(f"    ... and {len(keys) - SHOW_AT_MOST} more {label}")
    states = {c.state for c in results}
    if states & {"missing", "unknown"}:
        ui.result(
            "hint: restore data with 'git relstate checkout' "
            "(or 'git relstate pull' when it is not in the cache)"
        )
    if "modified" in states:
        ui.result(
            "hint: record changes with 'git relstate track PATH', "
            "or discard them with 'git relstate checkout PATH'"
        )
