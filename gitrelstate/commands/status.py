"""``git relstate status``: how the work tree's data differs from its pointers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitrelstate import ui
from gitrelstate.compare import Comparison, compare
from gitrelstate.repo import Repo
from gitrelstate.selection import select_tracked

SHOW_AT_MOST = 50


def status(cwd: Path, paths: Sequence[str], *, as_json: bool, exit_code: bool) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    try:
        results = [compare(repo, t) for t in select_tracked(repo, cwd, paths)]
        repo.statcache.flush()
    finally:
        repo.close()
    clean = all(c.clean for c in results)
    if as_json:
        ui.result(json.dumps(to_json(results, clean), indent=2, ensure_ascii=False))
    else:
        render_text(results, clean)
    return 1 if exit_code and not clean else 0


def to_json(results: Sequence[Comparison], clean: bool) -> dict[str, Any]:
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
            }
            for c in results
        ],
    }


def render_text(results: Sequence[Comparison], clean: bool) -> None:
    if not results:
        ui.result("No tracked data (track some with 'git relstate track PATH').")
        return
    if clean:
        ui.result(f"Data is up to date ({len(results)} tracked path(s)).")
        return
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
