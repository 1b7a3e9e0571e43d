"""``git relstate release NAME``: fix the current state as an immutable, named baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitrelstate import ui
from gitrelstate.releases import create, registry
from gitrelstate.repo import Repo
from gitrelstate.state.release import release_path


def release(
    repo: Repo,
    cwd: Path,
    name: str,
    *,
    runs: Sequence[str],
    model: str | None,
    message: str,
    allow_dirty: bool,
    tag: bool,
    sign: bool,
) -> int:
    request = create.ReleaseRequest(
        name=name,
        runs=runs,
        model=model,
        message=message,
        allow_dirty=allow_dirty,
        tag=tag or sign,
        sign=sign,
    )
    with repo.locked(shared=True):
        made = create.create(repo, cwd, request)
    bound = ", ".join(made.run_names) or "no runs"
    model_shown = ""
    if made.model is not None:
        model_shown = f", model {made.model.path or made.model.reference}"
    ui.echo(
        f"released '{made.name}' ({made.state_id[:19]}…): {bound}, "
        f"{len(made.data)} tracked path(s){model_shown}, code {str(made.code.get('commit'))[:12]}"
    )
    if made.dirty:
        ui.warn(f"recorded as dirty: {'; '.join(made.dirty[:3])}")
    if request.tag:
        ui.echo(f"tagged {'(signed) ' if sign else ''}{registry.tag_name(made.name)}")
    ui.echo(f"hint: commit it: git add {release_path(made.name)} && git commit")
    return 0
