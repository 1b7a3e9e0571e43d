"""``git relstate reproduce REF``: re-run a recorded state in an isolated worktree and verify it."""

from __future__ import annotations

import json
import sys

from gitrelstate import ui
from gitrelstate.errors import ComparisonTrouble, RelstateError
from gitrelstate.repo import Repo
from gitrelstate.reproduce.engine import Request, reproduce
from gitrelstate.reproduce.report import render_text


def reproduce_command(repo: Repo, request: Request, *, as_json: bool) -> int:
    """Exit 0 identical, 1 differs (or stopped by --strict-env), 2 failed or trouble."""
    try:
        report = reproduce(repo, request, say=_progress)
    except RelstateError as exc:
        raise ComparisonTrouble(exc.message, exc.hint) from None
    if as_json:
        ui.result(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        ui.result(render_text(report))
    return report.exit_code


def _progress(message: str) -> None:
    # On stderr, beside the commands' own output: stdout carries only the report.
    ui.echo(message, stream=sys.stderr)
