"""``git relstate list`` and ``show``: the recorded states and one of them in full."""

from __future__ import annotations

import json
from pathlib import Path

from gitrelstate import recorded, runner, ui
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio


def list_states(cwd: Path, *, as_json: bool) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    records = runner.all_records(repo)
    rows = [
        {
            "kind": "run",
            "name": r.name,
            "finished": r.finished,
            "commit": r.code.get("commit"),
            "dirty": bool(r.code.get("dirty")),
            "outputs": [o.path for o in r.outs],
            "record": f"{runner.RUNS_DIR}/{r.name}.yaml",
        }
        for r in sorted(records, key=lambda r: r.finished, reverse=True)
    ]
    if as_json:
        ui.result(json.dumps({"runs": rows}, indent=2))
        return 0
    if not rows:
        ui.result("No runs recorded (git relstate run -n NAME -- CMD...).")
        return 0
    for r in sorted(records, key=lambda r: r.finished, reverse=True):
        commit = str(r.code.get("commit") or "-")[:12] + ("+dirty" if r.code.get("dirty") else "")
        outs = [o.path for o in r.outs]
        shown = ", ".join(outs[:4]) + (" ..." if len(outs) > 4 else "")
        ui.result(f"run  {r.name:<20} {r.finished}  {commit:<18} {shown}")
    return 0


def show_state(cwd: Path, ref: str, *, as_json: bool) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    found = recorded.find_run(repo, ref)
    document = found.record.to_dict()
    if as_json:
        ui.result(json.dumps(document, indent=2, default=str))
    else:
        ui.result(f"# {found.label}")
        ui.result(yamlio.dumps(document).rstrip())
    return 0
