"""``git relstate list`` and ``show``: the recorded states (releases, aliases, runs) and
one of them in full."""

from __future__ import annotations

import json
from typing import Any

from gitrelstate import refs, ui
from gitrelstate.errors import RelstateError
from gitrelstate.releases import aliases, registry
from gitrelstate.repo import RUNS_DIR, Repo
from gitrelstate.runs import codestate
from gitrelstate.runs.records import all_records, records_at
from gitrelstate.state import yamlio
from gitrelstate.state.aliases import ALIASES_FILE
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
    # A run on code then committed as it was shows that commit, not "+dirty".
    code_at = {r.name: codestate.ran_at(repo, r.code) for r in records}
    run_rows: list[dict[str, Any]] = [
        {
            "kind": "run",
            "name": r.name,
            "finished": r.finished,
            "commit": code_at[r.name][0],
            "dirty": code_at[r.name][1],
            "outputs": [o.path for o in r.outs],
            "record": f"{RUNS_DIR}/{r.name}.yaml",
        }
        for r in records
    ]
    alias_rows = _alias_rows(repo)
    if as_json:
        ui.result(
            json.dumps(
                {"releases": release_rows, "aliases": alias_rows, "runs": run_rows}, indent=2
            )
        )
        return 0
    if not release_rows and not run_rows and not alias_rows:
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
    for row in alias_rows:
        problem = f"  ({row['problem']})" if row["problem"] else ""
        ui.result(
            f"alias   {row['name']:<18} -> release {row['release']}  "
            f"promoted {row['promoted'] or '-'}{problem}"
        )
    for r in records:
        commit = str(code_at[r.name][0] or "-")[:12] + ("+dirty" if code_at[r.name][1] else "")
        outs = [o.path for o in r.outs]
        shown = ", ".join(outs[:4]) + (" ..." if len(outs) > 4 else "")
        ui.result(f"run     {r.name:<18} {r.finished}  {commit:<18} {'':12}  {shown}")
    return 0


def _alias_rows(repo: Repo) -> list[dict[str, Any]]:
    """Every alias of the work tree, and why it cannot be followed (None when it can)."""
    rows = []
    for alias in aliases.read(repo).aliases.values():
        try:
            aliases.release_for(repo, f"alias:{alias.name}")
            problem = None
        except RelstateError as exc:
            problem = exc.message
        rows.append(
            {
                "name": alias.name,
                "release": alias.release,
                "state_id": alias.state_id,
                "promoted": alias.promoted or None,
                "file": ALIASES_FILE,
                "problem": problem,
            }
        )
    return rows


def show_state(repo: Repo, ref: str, *, as_json: bool) -> int:
    """A release (also through an alias), a run, or the latest run at a git revision."""
    found = refs.resolve(repo, ref, work_tree=False)
    if found.release is not None:
        document = found.release.to_dict()
        label = f"release '{found.release.name}'" + (
            f" (alias '{found.alias}')" if found.alias else ""
        )
    elif found.run is not None:
        document = found.run.to_dict()
        label = f"run '{found.run.name}'"
    else:
        latest = max(
            records_at(repo, found.commit or "HEAD"), key=lambda r: r.finished, default=None
        )
        if latest is None:
            raise RelstateError(
                f"no run is recorded at {found.label}",
                hint="show takes a release, an alias, a run, or a revision whose commit "
                "holds run records ('git relstate list')",
            )
        document = latest.to_dict()
        label = f"run '{latest.name}' at {found.label}"
    if as_json:
        ui.result(json.dumps(document, indent=2, default=str))
    else:
        ui.result(f"# {label}")
        ui.result(yamlio.dumps(document).rstrip())
    return 0
