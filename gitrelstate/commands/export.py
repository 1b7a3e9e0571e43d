"""``git relstate export REF --format F [-o FILE] [--emit URL]``: a release (or a run) in
a standard format (docs/provenance.md)."""

from __future__ import annotations

from pathlib import Path

from gitrelstate import fsutil, ui
from gitrelstate.errors import RelstateError
from gitrelstate.exports import FORMATS, common, source
from gitrelstate.exports.digests import Digests
from gitrelstate.repo import Repo


def render(repo: Repo, ref: str, fmt: str) -> str:
    """The export of ``ref`` in format ``fmt``: the same bytes for the same state."""
    state = source.resolve(repo, ref)
    digests = Digests(repo, state)
    if fmt == "slsa":
        from gitrelstate.exports import slsa

        return slsa.render(state, digests)
    if fmt == "cyclonedx":
        from gitrelstate.exports import cyclonedx

        return cyclonedx.render(state, digests)
    if fmt == "openlineage":
        from gitrelstate.exports import openlineage

        return openlineage.render(state)
    if fmt == "model-card":
        from gitrelstate.exports import modelcard

        return modelcard.render(state, digests, source.previous_release(repo, state))
    raise RelstateError(f"unknown export format '{fmt}'", hint=f"one of: {', '.join(FORMATS)}")


def export(
    repo: Repo,
    cwd: Path,
    ref: str,
    fmt: str,
    *,
    output: str | None = None,
    emit: str | None = None,
) -> int:
    """Print the export, write it to ``output`` (atomically), or post it to ``emit``."""
    target = None
    if output is not None and output != "-":
        target = cwd / output
        if not target.parent.is_dir() or target.is_dir():
            problem = "is a folder" if target.is_dir() else f"folder {target.parent} does not exist"
            raise RelstateError(
                f"cannot write {output}: {problem}", hint="give -o the path of a file to write"
            )
    if emit is not None:
        from gitrelstate.exports import openlineage

        state = source.resolve(repo, ref)
        events = openlineage.events(state)
        text = openlineage.to_lines(events)
        sent = openlineage.emit(events, emit)
        ui.echo(f"posted {sent} OpenLineage events to {common.redact_text(emit)}")
    else:
        text = render(repo, ref, fmt)
    if target is not None:
        try:
            fsutil.write_text_atomic(target, text)
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            raise RelstateError(
                f"cannot write {output}: {exc.strerror}", hint="give -o a file you can write"
            ) from None
        ui.echo(f"wrote {output} ({len(text.encode('utf-8'))} bytes)")
    elif emit is None or output == "-":
        ui.result(text.removesuffix("\n"))
    return 0
