"""``git relstate list`` and ``show``: the recorded states and one of them in full."""

from __future__ import annotations

import json
from typing import Any

from gitrelstate import ui
from gitrelstate.releases import registry
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs.records import all_records, find_run
from gitrelstate.state import yamlio
from gitrelstate.state.release import release_path


def list_states(repo: Repo, *, as_json: bool) -> int:
    records = sorted(all_records(repo), key=lambda r: r.finished, reverse=True)
    made = sorted(registry.all_releases(repo), key=lambda r: r.created, reverse=True)
    release_rows: list[dict[str, Any]] = [
        {
            "kind": "release",
            "name": r.name,
            "created": r.created,
            "commit": r.code.get("commit"),
            "dirty": bool(r.dirty),
            "state_id": r.state_id,
            "runs": r.run_names,
            "model": r.model.to_dict() if r.model else None,
            "message": r.message,
            "file": release_path(r.name),
        }
        for r in made
    ]
    run_rows: list[dict[str, Any]] = [
        {
            "kind": "run",
            "name": r.name,
            "finished": r.finished,
            "commit": r.code.get("commit"),
            "dirty": bool(r.code.get("dirty")),
            "outputs": [o.path for o in r.outs],
            "record": f"{RUNS_DIR}/{r.name}.yaml",
        }
        for r in records
    ]
    if as_json:
        ui.result(json.dumps({"releases": release_rows, "runs": run_rows}, indent=2))
        return 0
    if not release_rows and not run_rows:
        ui.result("Nothing recorded yet (git relstate run -n NAME -- CMD..., then release NAME).")
        return 0
    for row in release_rows:
        commit = str(row["commit"] or "-")[:12] + ("+dirty" if row["dirty"] else "")
        model = row["model"] or {}
        shown = model.get("path") or model.get("reference") or ", ".join(row["runs"][:4])
        ui.result(
            f"release {row['name']:<18} {row['created']}  {commit:<18} "
            f"{row['state_id'][7:19]}  {shown}"
        )
    for r in records:
        commit = str(r.code.get("commit") or "-")[:12] + ("+dirty" if r.code.get("dirty") else "")
        outs = [o.path for o in r.outs]
        shown = ", ".join(outs[:4]) + (" ..." if len(outs) > 4 else "")
        ui.result(f"run     {r.name:<18} {r.finished}  {commit:<18} {'':12}  {shown}")
    return 0


def show_state(repo: Repo, ref: str, *, as_json: bool) -> int:
    kind, _, name = ref.partition(":")
    if kind == "release" and name:
        ref = name
    if (kind == "release" and name) or (kind != "run" and registry.exists(repo, ref)):
        release = registry.load(repo, ref)
        document = release.to_dict()
        label = f"release '{release.name}'"
    else:
        found = find_run(repo, name if kind == "run" and name else ref)
        document = found.record.to_dict()
        label = found.label
    if as_json:
        ui.result(json.dumps(document, indent=2, default=str))
    else:
        ui.result(f"# {label}")
        ui.result(yamlio.dumps(document).rstrip())
    return 0
