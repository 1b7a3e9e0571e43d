"""``git relstate env show|check``: the recorded environment, and the live one against it."""

from __future__ import annotations

import json
from pathlib import Path

from gitrelstate import recorded, runner, ui
from gitrelstate.errors import ComparisonTrouble, RelstateError
from gitrelstate.repo import Repo
from gitrelstate.state import yamlio


def env_show(cwd: Path, ref: str | None, *, as_json: bool) -> int:
    repo = Repo.discover(cwd)
    repo.require_initialised()
    found = recorded.find_run(repo, ref)
    environment = dict(found.record.environment)
    if as_json:
        ui.result(json.dumps(environment, indent=2, default=str))
    else:
        ui.result(f"# environment recorded by {found.label} ({found.record.finished})")
        ui.result(yamlio.dumps(environment).rstrip())
    return 0


def env_check(cwd: Path, ref: str | None, *, as_json: bool) -> int:
    """Exit 0 when the live environment matches the recorded one, 1 when not, 2 on trouble."""
    from gitrelstate.envdiff import compare_environments
    from gitrelstate.environment import capture_environment, load_or_create_secret_key

    try:
        repo = Repo.discover(cwd)
        repo.require_initialised()
        found = recorded.find_run(repo, ref)
        record = found.record
        live = capture_environment(
            python=runner.interpreter_for(record.command, repo.abspath(record.wdir)),
            repo_root=repo.root,
            variables=tuple(repo.environment_variables()) + tuple(record.extra.get("env_vars", [])),
            secret_key=load_or_create_secret_key(repo.private_dir),
        )
    except RelstateError as exc:
        raise ComparisonTrouble(exc.message, exc.hint) from None
    diff = compare_environments(record.environment, live)
    if as_json:
        ui.result(
            json.dumps(
                {"matches": not diff, "against": found.label, "differences": diff.to_dict()},
                indent=2,
                default=str,
            )
        )
    elif diff:
        ui.result(f"the live environment differs from the one recorded by {found.label}:")
        for line in diff.lines():
            ui.result(f"  {line}")
    else:
        ui.result(f"the live environment matches the one recorded by {found.label}")
    return 1 if diff else 0
